//! Files and processes around a state root: write and age files with explicit mtimes,
//! spawn child processes (a bot stand-in) that are always killed and reaped, and wait for
//! events instead of sleeping. Runs of the binary go through [`selfheal`] (the one
//! clean-environment builder).

pub use super::{selfheal, selfheal_env, snapshot, Run};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
