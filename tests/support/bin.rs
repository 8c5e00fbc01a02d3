//! The one way to run the binary under test: [`bin`] is `selfheal` with a clean
//! environment. Every variable that changes what the binary does (`TRADING_MODE`, every
//! `SELFHEAL_*`, `RUST_LOG`, systemd's notification variables) is removed, so a run sees one
//! only when the test sets it on the returned command (`.env(..)` after [`bin`] wins).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_selfheal");

/// Variables removed from every run besides all `SELFHEAL_*` ones.
const CLEARED: [&str; 5] = [
    "TRADING_MODE",
    "RUST_LOG",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
];

/// Variables the binary reads, removed even when this process does not hold them.
const KNOWN: [&str; 7] = [
    "SELFHEAL_ROOT",
    "SELFHEAL_FAULT",
    "SELFHEAL_FAULT_TRACE",
    "SELFHEAL_FAULT_FREE",
    "SELFHEAL_FAULT_STALL_RENAME_MS",
    "SELFHEAL_POWERCUT_LOG",
    "SELFHEAL_ENGINE_FUZZ_TRACE",
];

/// `selfheal` with a clean environment.
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    clean(&mut c);
    c
}

/// `selfheal --root <root>` with a clean environment.
pub fn bin_on(root: &Path) -> Command {
    let mut c = bin();
    c.arg("--root").arg(root);
    c
}

/// `<wrapper> <wrapper_args...> <selfheal>` with the environment cleaned as for [`bin`]:
/// the binary started through `prlimit`, `setpriv`, `strace` and the like.
pub fn wrapped(wrapper: &str, wrapper_args: &[&str]) -> Command {
    let mut c = Command::new(wrapper);
    c.args(wrapper_args).arg(BIN);
    clean(&mut c);
    c
}

/// Removes from `cmd`'s environment every variable that changes what the binary does: a
/// shell or an interpreter that starts `selfheal` itself gets this too.
pub fn clean(cmd: &mut Command) -> &mut Command {
    for k in CLEARED.iter().chain(KNOWN.iter()) {
        cmd.env_remove(k);
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SELFHEAL_") {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// What one run of the binary gave, for the tests that read the `--json` report.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout parsed as JSON (`Null` when it was not JSON).
    pub json: Value,
    /// stderr, for messages.
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to completion.
    pub fn of(cmd: &mut Command) -> Run {
        let out = cmd.output().expect("run selfheal");
        Run {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The strings of a top-level array of the report.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.json[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether some `healed` line starts with `prefix`.
    pub fn healed(&self, prefix: &str) -> bool {
        self.list("healed").iter().any(|l| l.starts_with(prefix))
    }

    /// The findings with `code`.
    pub fn findings(&self, code: &str) -> Vec<Value> {
        self.json["findings"]
            .as_array()
            .map(|a| a.iter().filter(|f| f["code"] == code).cloned().collect())
            .unwrap_or_default()
    }

    /// The codes of findings at `level`.
    pub fn codes(&self, level: &str) -> Vec<String> {
        self.json["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|f| f["level"] == level)
                    .filter_map(|f| f["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A stats counter.
    pub fn stat(&self, key: &str) -> u64 {
        self.json["stats"][key].as_u64().unwrap_or(u64::MAX)
    }

    /// The transaction id.
    pub fn txn(&self) -> String {
        self.json["transaction"]
            .as_u64()
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
}

/// Runs `selfheal --root ROOT --json ARGS` with a clean environment.
pub fn selfheal(root: &Path, args: &[&str]) -> Run {
    selfheal_env(root, args, &[])
}

/// Like [`selfheal`], with `env` set on the run.
pub fn selfheal_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = bin_on(root);
    cmd.arg("--json").args(args).envs(env.iter().copied());
    Run::of(&mut cmd)
}
