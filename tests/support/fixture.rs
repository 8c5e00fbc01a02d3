//! A state root in a temp dir (`<tmp>/root`, so siblings can be made beside it), the files
//! in it, and the binary run on it through the one clean-environment builder.

use super::{bin_on, json_of, snapshot, Snapshot};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

/// The directories of the embedded default layout besides `logs/backups` (README,
/// "Configuration").
pub const DEFAULT_DIRS: [&str; 7] = [
    "logs",
    "config",
    "configs",
    "data",
    "feature_store",
    "state",
    "state/heartbeats",
];

/// A temp dir holding a state root at `<tmp>/root` (so siblings can be made).
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A fixture whose root exists and is empty.
    pub fn with_root() -> Fixture {
        let f = Fixture::new();
        std::fs::create_dir(f.root()).expect("mkdir root");
        f
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The fault points a command passes (`SELFHEAL_FAULT_TRACE`, fault-injection
    /// build), as `fault-point N KIND PATH` lines; the traced run must succeed.
    #[cfg(feature = "fault-injection")]
    pub fn fault_points(&self, args: &[&str]) -> Vec<String> {
        let out = self
            .cmd(args)
            .env("SELFHEAL_FAULT_TRACE", "1")
            .output()
            .expect("run");
        assert_eq!(
            super::code(&out),
            0,
            "trace run failed: {}",
            super::stderr(&out)
        );
        super::stderr(&out)
            .lines()
            .filter(|l| l.starts_with("fault-point "))
            .map(str::to_string)
            .collect()
    }

    /// Runs a command that crashes (aborts) at its fault point `k`.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, args: &[&str], k: usize) -> Output {
        self.cmd(args)
            .env("SELFHEAL_FAULT", format!("{k}:crash"))
            .output()
            .expect("run")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir -p");
        }
        std::fs::write(&p, bytes).expect("write");
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path(rel)).expect("mkdir");
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    /// Sets a file's mtime to `secs_ago` seconds in the past.
    pub fn age(&self, rel: &str, secs_ago: u64) {
        let f = std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .expect("open for age");
        f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
            .expect("set mtime");
    }

    /// `selfheal --root <root> args...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin_on(&self.root());
        c.args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run selfheal")
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json_of(&self.run(&all))
    }

    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.root())
    }
}
