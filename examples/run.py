#!/usr/bin/env python3
"""Minimal start script of a trading bot gated by selfheal, for a bot started without
systemd (a container, a supervisor, by hand); under systemd, examples/tradingbot.service
gates the bot with ExecStartPre= instead. Use one gate or the other, not both.

  1. run `selfheal --root ROOT --json heal`
     (binary: $SELFHEAL_BIN, else `selfheal` on PATH; ROOT: $SELFHEAL_ROOT, else the
     current directory). No mode is passed: selfheal resolves it as the bot does
     ($TRADING_MODE, else TRADING_MODE in the root's .env, else paper);
  2. print the critical issues and the health line;
  3. start the engine if the report says `start_allowed`, else refuse and exit 4.

If selfheal itself cannot run or gives no report, the mode is not known for sure: the
engine starts (with a warning) only when $TRADING_MODE says paper, and otherwise does not.
The engine here is a dummy: it writes `engine.started` in the root and returns.
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


def surely_paper():
    """Paper as the bot reads it (`value.lower() == "paper"`), from the environment only:
    without selfheal's report, anything else may be real mode."""
    return os.environ.get("TRADING_MODE", "").lower() == "paper"


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
        if surely_paper():
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
