//! Processes: reading `/proc` to identify a process beyond its pid, and terminating one
//! through a pidfd so a recycled pid can never receive the signal. The scan that decides
//! which processes are bot instances lives in `checks::processes`; this module only reads and
//! signals.

use crate::error::{Error, IoOp, Result};
use journal_format::ProcessRef;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::OwnedFd;
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::time::Duration;

/// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), or
/// `None` if the process is gone or the file cannot be parsed.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Terminates `process`: SIGTERM through a pidfd, then SIGKILL if it has not exited after
/// `grace`. A process that is already gone is not an error; one whose pid now names another
/// process (different start time) is refused.
///
/// # Errors
/// [`Error::Refused`] for a recycled pid; I/O errors from the pidfd calls.
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
    wait_exit(&fd, Duration::from_secs(10))?;
    Ok(())
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
