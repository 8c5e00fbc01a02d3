//! Helpers for the `watch` tests: a `selfheal watch --json` child whose JSON lines (one per
//! cycle) are read on a thread and waited for by cycle number, never by time; the child is
//! killed and reaped when dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails (generous: CI machines are slow).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `selfheal --root ROOT --json watch ARGS`.
pub struct Watch {
    child: Child,
    lines: Receiver<Value>,
    /// Every cycle line read so far, in order.
    pub cycles: Vec<Value>,
    /// Where its stderr goes (shown when an assertion fails).
    pub stderr_file: std::path::PathBuf,
    ended: bool,
}

impl Watch {
    /// Starts watch on `root` with `args` after `watch`, and `env`.
    pub fn spawn(root: &Path, args: &[&str], env: &[(&str, &str)], stderr_file: &Path) -> Watch {
        let mut cmd = super::bin_on(root);
        cmd.arg("--json").arg("watch").args(args);
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let err = std::fs::File::create(stderr_file).expect("stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        let mut child = cmd.spawn().expect("spawn watch");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("watch printed a non-JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines: rx,
            cycles: Vec::new(),
            stderr_file: stderr_file.to_path_buf(),
            ended: false,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// The newest cycle number read (0 before the first).
    pub fn last(&self) -> u64 {
        self.cycles.last().map_or(0, cycle_of)
    }

    /// Reads the next cycle line; `None` once the child closed stdout.
    pub fn next(&mut self) -> Option<&Value> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(v) => {
                self.cycles.push(v);
                self.cycles.last()
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "no cycle line within {PATIENCE:?}; stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }

    /// Reads every line already printed, without waiting; returns the newest cycle number.
    pub fn drain(&mut self) -> u64 {
        while let Ok(v) = self.lines.try_recv() {
            self.cycles.push(v);
        }
        self.last()
    }

    /// Waits until a cycle that began after this call has finished. With `k` the newest
    /// line read, cycle `k + 1` may have finished with its line still in the pipe and
    /// `k + 2` may be running; `k + 3` cannot have begun before.
    pub fn wait_fresh_cycle(&mut self) {
        let k = self.drain();
        self.wait_cycle(k + 3);
    }

    /// Reads lines until cycle `n` has been read.
    pub fn wait_cycle(&mut self, n: u64) {
        while self.last() < n {
            assert!(
                self.next().is_some(),
                "watch ended before cycle {n}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// Reads lines until one satisfies `found` (returning its cycle number) or cycle `limit`
    /// has passed without one (returning `None`). Lines already read count.
    pub fn find_by(&mut self, limit: u64, found: impl Fn(&Value) -> bool) -> Option<u64> {
        let mut i = 0;
        loop {
            while i < self.cycles.len() {
                let c = &self.cycles[i];
                if found(c) {
                    return Some(cycle_of(c));
                }
                if cycle_of(c) >= limit {
                    return None;
                }
                i += 1;
            }
            self.next()?;
        }
    }

    /// Waits for the child to exit (up to [`PATIENCE`]), reading every line it printed.
    pub fn wait_exit(&mut self) -> ExitStatus {
        while self.next().is_some() {}
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.ended = true;
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "watch did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.pid()).expect("pid"))
            .expect("nonzero pid");
        rustix::process::kill_process(pid, signal).expect("kill");
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The cycle number of a cycle line.
pub fn cycle_of(c: &Value) -> u64 {
    c["cycle"].as_u64().expect("cycle number")
}

/// The actions of a cycle line on `path` with `result`.
pub fn actions_on<'a>(c: &'a Value, path: &str, result: &str) -> Vec<&'a Value> {
    c["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["path"] == path && x["result"] == result)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a cycle line skipped `path` because its lock was held.
pub fn skipped_locked(c: &Value, path: &str) -> bool {
    c["skipped"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s["path"] == path && s["locked"] == true))
}

/// The findings of a cycle line with `code`.
pub fn findings_of<'a>(c: &'a Value, code: &str) -> Vec<&'a Value> {
    c["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["code"] == code).collect())
        .unwrap_or_default()
}

/// The lines of the operator alert log with `category`.
pub fn alerts(root: &Path, category: &str) -> Vec<Value> {
    std::fs::read_to_string(root.join("logs/operator_alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["category"] == category)
        .collect()
}
