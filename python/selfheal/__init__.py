"""selfheal for a Python trading bot: runs the installed `selfheal` binary.

The binary repairs the bot's state directory (every change backed up, applied atomically,
journaled) and decides whether the trading engine may start. This module only runs it
and turns what it prints into Python values:

* :func:`self_heal` is a drop-in replacement for the reference bot's own
  ``operator_safety.self_heal()``: same keys, same types, and ``success`` is what the bot's
  startup gate needs (see its docstring). In the bot's ``src/operator_safety.py``, replace
  the whole ``def self_heal() ...`` function with the one line::

      from selfheal import self_heal

* :func:`rollback` undoes a transaction of the journal.

The binary is ``$SELFHEAL_BIN`` when set, else the one pip installed beside this module
(the interpreter's scripts directory, also when that is not on ``PATH``), else
``selfheal`` on ``PATH``. The mode is never guessed here: without ``mode=``, the binary
resolves it as the bot does (``$TRADING_MODE``, else ``TRADING_MODE`` in the root's
``.env``, else paper).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig

__all__ = ["self_heal", "rollback", "SelfhealError", "find_binary", "STATS_KEYS"]

#: The reference bot's counters, the keys of ``stats``.
STATS_KEYS = (
    "files_created",
    "files_repaired",
    "directories_created",
    "heartbeats_reset",
    "locks_cleared",
    "orphans_killed",
)

#: Exit codes of the binary (``selfheal --help``, README "Commands and exit codes").
EXIT_OK = 0
EXIT_MUST_NOT_START = 4
EXIT_OPERATIONAL = 8
EXIT_USAGE = 16
EXIT_LOCK = 32


class SelfhealError(Exception):
    """selfheal could not do what was asked.

    ``exit_code`` is the binary's exit code (4 refused, 8 operational error, 16 usage or
    configuration error, 32 lock wait timed out or interrupted), or ``None`` when the
    binary could not be run at all. ``str(error)`` is selfheal's own message.
    """

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.exit_code = exit_code


def _scripts_dirs():
    """Where pip puts the binary of this interpreter's installs: the environment's scripts
    directory, then the user scheme's (``pip install --user``)."""
    dirs = [sysconfig.get_path("scripts")]
    user_scheme = "posix_user" if os.name == "posix" else "nt_user"
    try:
        dirs.append(sysconfig.get_path("scripts", scheme=user_scheme))
    except KeyError:
        pass
    return [d for d in dirs if d]


def find_binary():
    """The path of the selfheal binary to run; raises :class:`SelfhealError` when there is
    none."""
    explicit = os.environ.get("SELFHEAL_BIN")
    if explicit:
        return explicit
    name = "selfheal.exe" if sys.platform == "win32" else "selfheal"
    for d in _scripts_dirs():
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("selfheal")
    if found:
        return found
    raise SelfhealError(
        "the selfheal binary is not installed: `pip install selfheal` (or cargo install, "
        "see the README) or set SELFHEAL_BIN"
    )


def _run(args, timeout):
    """Runs ``selfheal ARGS``; returns ``(exit code, the JSON document on stdout or None)``.
    Human output goes to this process's stderr, as the bot's own prints would."""
    cmd = [find_binary(), *args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=timeout, check=False)
    except OSError as e:
        raise SelfhealError(f"cannot run {cmd[0]}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise SelfhealError(f"{cmd[0]} did not finish within {timeout} s") from e
    try:
        doc = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        doc = None
    return proc.returncode, doc if isinstance(doc, dict) else None


def _error_message(code, doc):
    if doc and isinstance(doc.get("error"), str):
        return doc["error"]
    return f"selfheal exited {code} without a report"


def _root_args(root):
    return [] if root is None else ["--root", os.fspath(root)]


def _failure(message, exit_code):
    """The reference shape of a run that produced no report."""
    return {
        "success": False,
        "healed": [],
        "failed": [f"Self-healing error: {message}"],
        "critical": [],
        "stats": {k: 0 for k in STATS_KEYS},
        "transaction": None,
        "mode": None,
        "start_allowed": False,
        "error": message,
        "exit_code": exit_code,
    }


def self_heal(root=None, mode=None, *, timeout=None):
    """Heals the state root and decides whether the trading engine may start:
    ``selfheal [--root ROOT] --json heal [--mode MODE]``.

    ``root``: the state root (default: ``$SELFHEAL_ROOT``, else the current directory, which
    is the reference bot's checkout). ``mode``: ``"paper"`` or ``"real"``; leave it out and
    the binary resolves it exactly as the bot does. ``timeout``: seconds to wait for the
    binary (default: no limit; it waits at most 30 s for another selfheal's lock).

    Returns the reference bot's ``self_heal()`` dict, never raises for a failed heal:

    * ``success`` (bool): no critical issue was found **and** the engine may start in the
      resolved mode. In paper mode (always allowed to start) that is the reference's
      meaning, "no critical issue"; in real mode it is false too when selfheal refuses the
      start for a failed heal or a low health score, so the bot's gate
      (``success and not critical``) starts real trading exactly when selfheal allows it.
    * ``healed``, ``failed``, ``critical`` (lists of str), ``stats`` (dict of the six int
      counters in :data:`STATS_KEYS`).
    * every other key of ``selfheal heal --json``: ``transaction`` (int or None), ``mode``,
      ``health`` (``score``, ``status``, ``checks``), ``start_allowed`` (bool), ``actions``,
      ``warnings``, ``findings``, ``failures``, ``recovery`` (when one ran), ``dry_run``,
      ``alerts_suppressed``; and ``exit_code``: 0 (may start) or 4 (must not start).

    When selfheal produces no report (exit 8: an I/O error or a missing root; 16: a usage
    or configuration error; 32: the lock wait timed out; the binary missing or timed out),
    the dict has the reference keys with ``success`` False, the message in ``failed`` as
    ``"Self-healing error: ..."`` (as the reference reports its own errors) and in
    ``error``, ``start_allowed`` False, ``transaction`` and ``mode`` None, and
    ``exit_code`` (None when the binary could not be run). Real mode then does not start;
    paper mode, which the bot always starts, goes on.
    """
    if mode not in (None, "paper", "real"):
        raise ValueError(f"mode must be 'paper', 'real' or None, not {mode!r}")
    args = [*_root_args(root), "--json", "heal"]
    if mode is not None:
        args += ["--mode", mode]
    try:
        code, doc = _run(args, timeout)
    except SelfhealError as e:
        return _failure(str(e), e.exit_code)
    if doc is None or "start_allowed" not in doc:
        return _failure(_error_message(code, doc), code)
    result = dict(doc)
    result["success"] = bool(doc.get("success")) and doc.get("start_allowed") is True
    result["exit_code"] = code
    return result


def rollback(txn, root=None, *, force=False, timeout=None):
    """Undoes transaction ``txn`` as a new transaction:
    ``selfheal [--root ROOT] --json rollback TXN [--force]``.

    Returns the report of ``rollback --json``: ``target``, ``transaction`` (the new one, or
    None when there was nothing to undo), ``actions``, ``irreversible``, ``changed``,
    ``kept_dirs``, ``dry_run``. ``force``: roll back paths changed since (their current
    content is backed up first).

    Raises :class:`SelfhealError` with selfheal's message and ``exit_code``: 4 when refused
    (a file changed since, a backup failing its checksum, a bot instance running), 16 for an
    unknown transaction, 8 on an operational error, 32 when the lock wait timed out.
    """
    if isinstance(txn, bool) or not isinstance(txn, int) or txn < 0:
        raise ValueError(f"txn must be a transaction id (int >= 0), not {txn!r}")
    args = [*_root_args(root), "--json", "rollback", str(txn)]
    if force:
        args.append("--force")
    code, doc = _run(args, timeout)
    if code != EXIT_OK or doc is None or "target" not in doc:
        raise SelfhealError(_error_message(code, doc), code)
    return doc
