//! Helpers for the runtime-heal tests: run the real binary on a temporary root, age files
//! with explicit mtimes, spawn child processes that are always killed and reaped, and wait
//! for events instead of sleeping.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// The `--json` document (`Null` when stdout was not JSON).
    pub json: Value,
    /// stderr, for messages.
    pub stderr: String,
}

impl Run {
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

/// Runs `selfheal --root ROOT --json ARGS` with a clean environment for the mode.
pub fn selfheal(root: &Path, args: &[&str]) -> Run {
    selfheal_env(root, args, &[])
}

/// Like [`selfheal`], with extra environment variables.
pub fn selfheal_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_selfheal"));
    cmd.arg("--root").arg(root).arg("--json").args(args);
    cmd.env_remove("TRADING_MODE").env_remove("SELFHEAL_ROOT");
    cmd.env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run selfheal");
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::TempDir::new().expect("tempdir")
}

/// Writes `bytes` to `root/rel`, creating parents.
pub fn put(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, bytes).expect("write");
    p
}

/// The bytes of `root/rel`, or `None` when absent.
pub fn get(root: &Path, rel: &str) -> Option<Vec<u8>> {
    std::fs::read(root.join(rel)).ok()
}

/// Sets the mtime of `path` to `age` seconds ago.
pub fn age(path: &Path, secs: u64) {
    let when = SystemTime::now() - Duration::from_secs(secs);
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to age");
    f.set_modified(when).expect("set mtime");
}

/// Mode bits of `path` (no symlink following).
pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// Sets the mode bits of `path`.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The mtime of `path`, nanoseconds since the epoch.
pub fn mtime_ns(path: &Path) -> u128 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .modified()
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_nanos()
}

/// Now, seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// A child process that is killed and reaped when dropped.
pub struct Guard {
    /// The child.
    pub child: Child,
}

impl Guard {
    /// Spawns `cmd` with null stdio, then waits (up to 30 s) for `ready` to exist.
    pub fn spawn(mut cmd: Command, ready: &Path) -> Guard {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let g = Guard {
            child: cmd.spawn().expect("spawn child"),
        };
        assert!(
            wait_until(Duration::from_secs(30), || ready.exists()),
            "child {} never became ready",
            g.pid()
        );
        g
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running (not exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The signal that ended it, waiting up to 30 s for it to end.
    pub fn ended_by(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = None;
        wait_until(Duration::from_secs(30), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.and_then(|s| s.signal())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bot stand-in: `python3 DIR/run.py READY [ignore-term]` writes its pid to READY
/// (atomically, after installing its signal handler) and sleeps.
pub const RUN_PY: &str = r#"import os, signal, sys, time
if len(sys.argv) > 2 and sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(1)
"#;

/// Starts the bot stand-in at `script` (written if missing) with working directory `cwd`.
pub fn bot(script: &Path, cwd: &Path, ready: &Path, ignore_term: bool) -> Guard {
    if !script.exists() {
        if let Some(parent) = script.parent() {
            std::fs::create_dir_all(parent).expect("mkdir script dir");
        }
        std::fs::write(script, RUN_PY).expect("write script");
    }
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(ready).current_dir(cwd);
    if ignore_term {
        cmd.arg("ignore-term");
    }
    Guard::spawn(cmd, ready)
}

/// Starts the bot stand-in at `script` (written if missing) with working directory `cwd`
/// and its first argument (what `/proc/<pid>/cmdline` shows as the interpreter) set to
/// `argv0`: the same process, seen as another program.
pub fn bot_as(argv0: &str, script: &Path, cwd: &Path, ready: &Path) -> Guard {
    use std::os::unix::process::CommandExt;
    if !script.exists() {
        if let Some(parent) = script.parent() {
            std::fs::create_dir_all(parent).expect("mkdir script dir");
        }
        std::fs::write(script, RUN_PY).expect("write script");
    }
    let mut cmd = Command::new(python_exe());
    cmd.arg0(argv0).arg(script).arg(ready).current_dir(cwd);
    Guard::spawn(cmd, ready)
}

/// The Python interpreter itself (`sys.executable`): `python3` on the PATH may be a wrapper
/// script that starts it with its own first argument, which would undo an `arg0`.
pub fn python_exe() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("run python3");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// Every path under `root` (outside `logs/backups` and the operator alert log, which
/// selfheal appends to by design) with its bytes and mode, and for files their mtime: a
/// snapshot to prove that no state file was written.
pub fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>, u32, u128)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if rel == "logs/backups" || rel == "logs/operator_alerts.jsonl" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let bytes = meta.is_file().then(|| std::fs::read(&p).expect("read"));
            let mtime = if meta.is_dir() { 0 } else { mtime_ns(&p) };
            if meta.is_dir() {
                stack.push(p.clone());
            }
            out.push((rel, bytes, mode(&p), mtime));
        }
    }
    out.sort();
    out
}
