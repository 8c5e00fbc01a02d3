//! Processes: reading `/proc` to identify a process beyond its pid, and terminating one
//! through a pidfd so a recycled pid can never receive the signal. The scan that decides
//! which processes are bot instances lives in `checks::processes`; this module only reads and
//! signals.

use crate::error::{Error, IoOp, Result};
use journal_format::ProcessRef;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::OwnedFd;
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::path::PathBuf;
use std::time::Duration;

/// One process as read from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid (0 for the first process).
    pub ppid: u32,
    /// Its effective uid, when readable.
    pub uid: Option<u32>,
    /// Start time in clock ticks since boot: with the pid, it names the process.
    pub start_ticks: u64,
    /// Its arguments (lossy UTF-8); empty for a kernel thread or a zombie.
    pub cmdline: Vec<String>,
    /// Its working directory, when readable (`None` for another user's process).
    pub cwd: Option<PathBuf>,
}

impl ProcInfo {
    /// The arguments joined with spaces, for matching and for messages.
    pub fn command(&self) -> String {
        self.cmdline.join(" ")
    }
}

/// Every process that can be read now, in pid order (processes that exit while being read
/// are left out), reading the owner and the working directory only of the processes `wanted`
/// says (from their pid, parent, start time and arguments); the others have neither
/// (`uid` and `cwd` are `None`). Most of the cost of a scan is those two reads.
pub fn list_where(wanted: impl Fn(&ProcInfo) -> bool) -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<ProcInfo> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| info_where(pid, &wanted))
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// Reads one process, or `None` if it is gone or unreadable.
pub fn info(pid: u32) -> Option<ProcInfo> {
    info_where(pid, |_| true)
}

/// [`info`], with the owner and working directory only when `wanted` says so.
fn info_where(pid: u32, wanted: impl Fn(&ProcInfo) -> bool) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (ppid, start_ticks) = parse_stat(&stat)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut p = ProcInfo {
        pid,
        ppid,
        uid: None,
        start_ticks,
        cmdline: args(&cmdline),
        cwd: None,
    };
    if wanted(&p) {
        p.uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .as_deref()
            .and_then(effective_uid);
        p.cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    }
    Some(p)
}

/// The arguments in `/proc/<pid>/cmdline` (NUL-terminated), empty ones kept: their
/// positions matter when deciding which argument is a script.
fn args(cmdline: &[u8]) -> Vec<String> {
    let body = cmdline.strip_suffix(&[0]).unwrap_or(cmdline);
    if body.is_empty() && cmdline.len() <= 1 {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// `(ppid, start_ticks)` from the text of `/proc/<pid>/stat`.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// The effective uid from the text of `/proc/<pid>/status`.
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// How long ago a process that started at `start_ticks` started, or `None` if unknown.
pub fn age(start_ticks: u64) -> Option<Duration> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let per_sec = rustix::param::clock_ticks_per_second();
    if per_sec == 0 || !secs.is_finite() {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let started = start_ticks as f64 / per_sec as f64;
    Some(Duration::from_secs_f64((secs - started).max(0.0)))
}

/// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), or
/// `None` if the process is gone or the file cannot be parsed.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, t)| t)
}

/// Terminates `process`: SIGTERM through a pidfd, then SIGKILL if it has not exited after
/// `grace`; returns only once the process has exited. A process that is already gone is not
/// an error; one whose pid now names another process (different start time) is refused.
///
/// # Errors
/// [`Error::Refused`] for a recycled pid or a process still there 10 s after SIGKILL; I/O
/// errors from the pidfd calls.
pub fn terminate(process: &ProcessRef, grace: Duration) -> Result<()> {
    let disp = format!("pid {}", process.pid);
    let Some(pid) = i32::try_from(process.pid).ok().and_then(Pid::from_raw) else {
        return Err(Error::Refused(format!("{disp} is not a valid pid")));
    };
    let fd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(()),
        Err(e) => return Err(Error::io(IoOp::Signal, disp, e.into())),
    };
    // The pidfd pins whatever process has the pid now; it must still be the one planned.
    match start_ticks(process.pid) {
        Some(t) if t == process.start_ticks => {}
        None => return Ok(()),
        Some(_) => {
            return Err(Error::Refused(format!("{disp} now names another process")));
        }
    }
    send(&fd, Signal::TERM, &disp)?;
    if wait_exit(&fd, grace)? {
        return Ok(());
    }
    tracing::warn!("{disp} ignored SIGTERM for {grace:?}; sending SIGKILL");
    send(&fd, Signal::KILL, &disp)?;
    if wait_exit(&fd, Duration::from_secs(10))? {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "{disp} is still running 10 s after SIGKILL; no state file was changed"
    )))
}

fn send(fd: &OwnedFd, sig: Signal, disp: &str) -> Result<()> {
    match pidfd_send_signal(fd, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::io(IoOp::Signal, disp, e.into())),
    }
}

/// Waits until the pidfd becomes readable (the process exited) or `timeout` passes.
fn wait_exit(fd: &OwnedFd, timeout: Duration) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ts = rustix::event::Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) => return Ok(false),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::io(IoOp::Signal, "pidfd", e.into())),
        }
    }
}

/// Whether a process with `pid` exists (signal 0).
pub fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .is_some_and(|p| {
            rustix::process::test_kill_process(p).is_ok()
                || std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_status_parsing() {
        let stat = "42 (a) b) c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some((7, 98765)));
        assert_eq!(parse_stat("42 (x"), None);
        let status = "Name:\tpython3\nUid:\t1000\t1001\t1000\t1000\nGid:\t5\n";
        assert_eq!(effective_uid(status), Some(1001));
        assert_eq!(effective_uid("Name: x\n"), None);
    }

    #[test]
    fn cmdline_arguments() {
        assert_eq!(args(b""), Vec::<String>::new());
        assert_eq!(args(b"python3\0run.py\0"), ["python3", "run.py"]);
        assert_eq!(args(b"python3\0\0run.py\0"), ["python3", "", "run.py"]);
        assert_eq!(
            args(b"title set by the process"),
            ["title set by the process"]
        );
    }

    #[test]
    fn this_process_is_listed() {
        let me = info(std::process::id());
        assert!(me.as_ref().is_some_and(|p| !p.cmdline.is_empty()));
        assert_eq!(me.map(|p| p.start_ticks), start_ticks(std::process::id()));
    }
}
