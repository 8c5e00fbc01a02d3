"""The Python API against the real binary on temporary state roots: the reference bot's
``self_heal()`` shape and what ``success`` means for its startup gate, errors as dicts,
``rollback`` restoring the bytes, and ``python -m selfheal``.

Run from an environment where ``selfheal`` is installed (the wheel test does), or with
``SELFHEAL_BIN`` naming a built binary:

    SELFHEAL_BIN=target/debug/selfheal PYTHONPATH=python python3 -m unittest discover -s python/tests

With ``SELFHEAL_EXPECT_INSTALLED=1`` the binary must be the one pip installed beside the
module (``SELFHEAL_BIN`` unset).
"""

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import unittest

import selfheal

REFERENCE_TYPES = {
    "success": bool,
    "healed": list,
    "failed": list,
    "critical": list,
    "stats": dict,
}
REPORT_KEYS = {"transaction", "mode", "health", "start_allowed", "actions", "exit_code"}


def position(symbol="BTC-USDT", strategy="trend", direction="LONG"):
    return {
        "symbol": symbol,
        "direction": direction,
        "strategy": strategy,
        "entry_price": 50000.0,
        "size": 100.0,
        "leverage": 5,
        "margin_collateral": 20.0,
    }


class Root:
    """A temporary state root, created by a first heal."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "bot")
        os.mkdir(self.path)
        first = selfheal.self_heal(self.path, mode="paper")
        assert first["exit_code"] == 0, first

    def file(self, rel):
        return os.path.join(self.path, rel)

    def write(self, rel, data):
        with open(self.file(rel), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def read(self, rel):
        with open(self.file(rel), "rb") as f:
            return f.read()

    def write_positions(self, open_positions):
        self.write(
            "logs/positions_futures.json",
            json.dumps({"open_positions": open_positions, "closed_positions": []}),
        )
        portfolio = json.loads(self.read("logs/portfolio_futures.json"))
        portfolio["used_margin"] = sum(p["margin_collateral"] for p in open_positions)
        self.write("logs/portfolio_futures.json", json.dumps(portfolio))

    def close(self):
        self.tmp.cleanup()


class Api(unittest.TestCase):
    def setUp(self):
        self.saved = {k: os.environ.pop(k, None) for k in ("TRADING_MODE", "SELFHEAL_ROOT")}
        self.root = Root()

    def tearDown(self):
        self.root.close()
        for k, v in self.saved.items():
            if v is not None:
                os.environ[k] = v

    def assert_reference_shape(self, r):
        for key, kind in REFERENCE_TYPES.items():
            self.assertIsInstance(r[key], kind, key)
        for key in ("healed", "failed", "critical"):
            self.assertTrue(all(isinstance(x, str) for x in r[key]), r[key])
        self.assertEqual(tuple(r["stats"]), selfheal.STATS_KEYS)
        for k, v in r["stats"].items():
            self.assertIs(type(v), int, k)

    def gate(self, r):
        """The reference bot's real-mode healing check (src/run.py)."""
        return r["success"] and len(r["critical"]) == 0

    def test_a_healthy_root_has_the_reference_shape_and_starts(self):
        self.root.write("logs/positions_futures.json", b"")
        r = selfheal.self_heal(self.root.path)
        self.assert_reference_shape(r)
        self.assertTrue(REPORT_KEYS <= set(r), set(r))
        self.assertEqual((r["exit_code"], r["mode"], r["success"]), (0, "paper", True))
        self.assertTrue(r["start_allowed"])
        self.assertEqual(r["stats"]["files_repaired"], 1, r)
        self.assertTrue(any("positions_futures.json" in h for h in r["healed"]), r["healed"])
        self.assertIsInstance(r["transaction"], int)
        self.assertIsInstance(r["health"]["score"], int)
        direct = subprocess.run(
            [selfheal.find_binary(), "--root", self.root.path, "--json", "heal"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        binary_keys = set(json.loads(direct.stdout))
        self.assertEqual(set(r) - {"exit_code"}, binary_keys, "every key of heal --json")

    def test_real_mode_with_a_critical_issue_is_refused_and_still_a_dict(self):
        self.root.write_positions([position(), position()])
        for how in ("argument", "environment"):
            if how == "argument":
                r = selfheal.self_heal(self.root.path, mode="real")
            else:
                os.environ["TRADING_MODE"] = "live"
                r = selfheal.self_heal(self.root.path)
                del os.environ["TRADING_MODE"]
            self.assert_reference_shape(r)
            self.assertEqual((r["exit_code"], r["mode"]), (4, "real"), how)
            self.assertFalse(r["success"] or r["start_allowed"] or self.gate(r), how)
            self.assertTrue(r["critical"][0].startswith("POSITION_CONFLICT"), r["critical"])

    def test_paper_mode_starts_but_reports_the_critical_issue(self):
        self.root.write_positions([position(), position()])
        r = selfheal.self_heal(self.root.path)
        self.assertEqual((r["exit_code"], r["mode"]), (0, "paper"))
        self.assertTrue(r["start_allowed"])
        self.assertFalse(r["success"], "a critical issue: not a success, as in the reference")
        self.assertTrue(r["critical"])

    def test_a_refused_start_without_a_critical_fails_the_gate(self):
        # A symlinked positions file is a failed heal, not a critical: real mode must not
        # start, and the reference gate (success and no critical) must say so.
        os.rename(self.root.file("logs/positions_futures.json"), self.root.file("state/p.json"))
        os.symlink("../state/p.json", self.root.file("logs/positions_futures.json"))
        r = selfheal.self_heal(self.root.path, mode="real")
        self.assertEqual(r["exit_code"], 4, r)
        self.assertEqual(r["critical"], [])
        self.assertTrue(r["failed"])
        self.assertFalse(r["success"])
        self.assertFalse(self.gate(r))

    def test_errors_are_reported_in_the_dict(self):
        missing = os.path.join(self.root.tmp.name, "no-such-root")
        r = selfheal.self_heal(missing, mode="real")
        self.assert_reference_shape(r)
        self.assertEqual((r["exit_code"], r["success"], r["start_allowed"]), (8, False, False))
        self.assertIn("does not exist", r["error"])
        self.assertEqual(r["failed"], ["Self-healing error: " + r["error"]])
        self.root.write("config/selfheal.json", "{not json")
        r = selfheal.self_heal(self.root.path)
        self.assertEqual(r["exit_code"], 16, r)
        self.assertFalse(r["success"])
        saved = os.environ.get("SELFHEAL_BIN")
        os.environ["SELFHEAL_BIN"] = os.path.join(self.root.tmp.name, "no-such-selfheal")
        try:
            r = selfheal.self_heal(self.root.path)
        finally:
            if saved is None:
                del os.environ["SELFHEAL_BIN"]
            else:
                os.environ["SELFHEAL_BIN"] = saved
        self.assertEqual((r["exit_code"], r["success"]), (None, False))
        self.assertIn("cannot run", r["error"])
        with self.assertRaises(ValueError):
            selfheal.self_heal(self.root.path, mode="live")

    def test_rollback_restores_the_bytes(self):
        damaged = b"  \n"
        self.root.write("logs/positions_futures.json", damaged)
        r = selfheal.self_heal(self.root.path)
        txn = r["transaction"]
        healed = self.root.read("logs/positions_futures.json")
        self.assertNotEqual(healed, damaged)
        back = selfheal.rollback(txn, self.root.path)
        self.assertEqual((back["target"], back["transaction"]), (txn, txn + 1))
        self.assertTrue(back["actions"])
        self.assertEqual(self.root.read("logs/positions_futures.json"), damaged)
        with self.assertRaises(selfheal.SelfhealError) as e:
            selfheal.rollback(999, self.root.path)
        self.assertEqual(e.exception.exit_code, 16)
        self.assertIn("999", str(e.exception))

    def test_a_rollback_of_a_file_changed_since_is_refused_unless_forced(self):
        self.root.write("logs/positions_futures.json", b"")
        txn = selfheal.self_heal(self.root.path)["transaction"]
        self.root.write_positions([position()])
        with self.assertRaises(selfheal.SelfhealError) as e:
            selfheal.rollback(txn, self.root.path)
        self.assertEqual(e.exception.exit_code, 4, str(e.exception))
        forced = selfheal.rollback(txn, self.root.path, force=True)
        self.assertIn("logs/positions_futures.json", forced["changed"])
        self.assertEqual(self.root.read("logs/positions_futures.json"), b"")

    def test_the_root_defaults_to_the_current_directory(self):
        cwd = os.getcwd()
        os.chdir(self.root.path)
        try:
            r = selfheal.self_heal()
        finally:
            os.chdir(cwd)
        self.assertEqual(r["exit_code"], 0, r)
        self.assertIsInstance(r["transaction"], int)

    def test_python_m_selfheal_runs_the_binary(self):
        out = subprocess.run(
            [sys.executable, "-m", "selfheal", "--version"],
            stdout=subprocess.PIPE,
            check=True,
        )
        self.assertTrue(out.stdout.startswith(b"selfheal "), out.stdout)
        self.assertIn(b"journal format", out.stdout)


@unittest.skipUnless(
    os.environ.get("SELFHEAL_EXPECT_INSTALLED") == "1", "only for an installed wheel"
)
class Installed(unittest.TestCase):
    def test_the_binary_is_the_one_installed_beside_the_module(self):
        self.assertNotIn("SELFHEAL_BIN", os.environ)
        scripts = sysconfig.get_path("scripts")
        self.assertEqual(selfheal.find_binary(), os.path.join(scripts, "selfheal"))
        libs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        self.assertTrue(any(selfheal.__file__.startswith(d) for d in libs), selfheal.__file__)


if __name__ == "__main__":
    unittest.main()
