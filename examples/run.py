#!/usr/bin/env python3
"""Minimal start script of a trading bot gated by selfheal.

It does what the reference bot's run.py does before trading: heal the state directory,
then start the trading engine only if that is allowed.

  1. run `selfheal --root ROOT --json heal`
     (binary: $SELFHEAL_BIN, else `selfheal` on PATH; ROOT: $SELFHEAL_ROOT, else the
     current directory; selfheal resolves the mode as the bot does: TRADING_MODE from the
     environment, else from ROOT/.env, else paper; paper iff it lowercases to `paper`);
  2. print the critical issues and the health line;
  3. start the engine if the report says `start_allowed`, else refuse and exit 4.

If selfheal itself cannot run or gives no report, paper mode still starts (with a warning)
and real mode does not; without a report, an unset TRADING_MODE counts as paper only when
ROOT has no .env (which could set it). The engine here is a dummy: it writes `engine.started` in the root
and returns.
"""

import json
import os
import shutil
import subprocess
import sys
import time

REFUSED = 4


def selfheal_bin():
    return os.environ.get("SELFHEAL_BIN") or shutil.which("selfheal") or "selfheal"


def is_paper(root):
    """The bot's rule, for when selfheal gave no report: no stripping, any case."""
    mode = os.environ.get("TRADING_MODE")
    if mode is None:
        return not os.path.lexists(os.path.join(root, ".env"))
    return mode.lower() == "paper"


def run_selfheal(root):
    """Returns (report, None) or (None, why)."""
    cmd = [selfheal_bin(), "--root", root, "--json", "heal"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot run selfheal: {e}"
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return None, f"selfheal exited {proc.returncode} without a report"
    if not isinstance(report, dict) or "start_allowed" not in report:
        why = report.get("error") if isinstance(report, dict) else None
        return None, f"selfheal failed (exit {proc.returncode}): {why or 'no decision'}"
    return report, None


def start_engine(root):
    """The dummy trading engine: records that it started."""
    with open(os.path.join(root, "engine.started"), "w") as f:
        f.write(f"{int(time.time())}\n")


def refusal_reason(report):
    if report.get("critical"):
        return "; ".join(report["critical"])
    if report.get("failed"):
        return "failed heals: " + "; ".join(report["failed"])
    health = report.get("health", {})
    return f"health {health.get('score')}/100 ({health.get('status')})"


def main():
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    root = os.environ.get("SELFHEAL_ROOT") or os.getcwd()
    report, error = run_selfheal(root)
    if report is None:
        if is_paper(root):
            print(f"⚠️ [SELF-HEAL] {error}; paper mode starts anyway")
            print("🚀 Starting trading engine")
            start_engine(root)
            return 0
        print(f"⛔ Trading engine NOT started: {error}")
        return REFUSED
    for line in report.get("critical", []):
        print(f"🚨 [CRITICAL] {line}")
    health = report.get("health", {})
    print(
        f"[SELF-HEAL] health {health.get('score')}/100 ({health.get('status')}), "
        f"mode {report.get('mode')}, transaction {report.get('transaction')}"
    )
    if report.get("start_allowed") is True:
        print("🚀 Starting trading engine")
        start_engine(root)
        return 0
    print(f"⛔ Trading engine NOT started: {refusal_reason(report)}")
    return REFUSED


if __name__ == "__main__":
    sys.exit(main())
