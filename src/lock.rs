//! The exclusive lock that serialises heals, rollbacks, recoveries, prunes and watch
//! cycles: `flock(LOCK_EX)` on the `logs/backups/` directory itself, so there is no lock
//! file to go stale or to be mistaken for a bot lock. Readers of the journal (`check`,
//! `journal list|show|verify`, `stats`, a dry-run rollback) take it shared
//! (`flock(LOCK_SH)`), so no prune removes a file while they read it; opening a directory
//! creates nothing, so `check` still writes nothing at all. A waiter polls for a bounded time and
//! gives up with [`Error::LockTimeout`]; SIGTERM/SIGINT end the wait with
//! [`Error::Interrupted`].
//!
//! Also the SIGTERM/SIGINT flag itself and [`pause`], the interruptible wait of `watch`: the
//! signal handlers set the flag and write a byte to a socket pair that [`pause`] polls, so a
//! signal ends the wait at once without any polling loop.

use crate::error::{Error, IoOp, Result};
use crate::fsx::Root;
use crate::paths::RelPath;
use crate::paths::BACKUPS_DIR;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// The read end of the socket pair the signal handlers write to, once installed.
fn waker() -> &'static OnceLock<UnixStream> {
    static WAKER: OnceLock<UnixStream> = OnceLock::new();
    &WAKER
}

/// Registers SIGTERM and SIGINT to set the interrupt flag and wake `pause` (the CLI calls
/// this once).
///
/// # Errors
/// If the handlers cannot be installed.
pub fn install_signal_handlers() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // ORDER: the flag is registered before the wake-up, so a woken waiter sees it set.
    signal_hook::flag::register(SIGTERM, Arc::clone(flag()))?;
    signal_hook::flag::register(SIGINT, Arc::clone(flag()))?;
    if waker().get().is_some() {
        return Ok(());
    }
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(SIGTERM, write.try_clone()?)?;
    signal_hook::low_level::pipe::register(SIGINT, write)?;
    let _ = waker().set(read);
    Ok(())
}

/// Waits up to `d`, returning early when SIGTERM or SIGINT arrives; returns whether one has
/// arrived (now or before). Without installed handlers it simply sleeps, in slices short
/// enough to notice the flag.
pub fn pause(d: Duration) -> bool {
    let deadline = Instant::now() + d;
    while !interrupted() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match waker().get() {
            Some(read) => wait_readable(read, left),
            None => std::thread::sleep(left.min(Duration::from_millis(100))),
        }
    }
    interrupted()
}

/// Polls `read` for up to `left`, then drains what the handlers wrote.
fn wait_readable(read: &UnixStream, left: Duration) {
    let ts = Timespec {
        tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    let mut fds = [PollFd::new(read, PollFlags::IN)];
    match poll(&mut fds, Some(&ts)) {
        Ok(0) | Err(rustix::io::Errno::INTR) => {}
        Ok(_) => {
            let mut buf = [0u8; 64];
            let mut r = read;
            while matches!(r.read(&mut buf), Ok(n) if n > 0) {}
        }
        Err(_) => std::thread::sleep(left.min(Duration::from_millis(100))),
    }
}

/// Whether SIGTERM or SIGINT arrived.
pub fn interrupted() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Takes the lock, waiting up to `timeout`.
///
/// # Errors
/// [`Error::LockTimeout`], [`Error::Interrupted`], or I/O errors opening the directory.
pub fn acquire(root: &Root, timeout: Duration) -> Result<DirLock> {
    let rel = RelPath::new(BACKUPS_DIR)?;
    let file = std::fs::File::from(root.open_dir(&rel).map_err(|e| root.explain_denied(e))?);
    wait(root, &rel, file, timeout, std::fs::File::try_lock)
}

/// Takes the lock shared (a reader), waiting up to `timeout` while a writer holds it;
/// `None` when `logs/backups/` does not exist (there is no journal to read).
///
/// # Errors
/// [`Error::LockTimeout`], [`Error::Interrupted`], or I/O errors opening the directory.
pub fn acquire_shared(root: &Root, timeout: Duration) -> Result<Option<DirLock>> {
    let rel = RelPath::new(BACKUPS_DIR)?;
    if !matches!(root.entry(&rel)?, crate::fsx::Entry::Present(st) if st.kind == crate::fsx::Kind::Dir)
    {
        return Ok(None);
    }
    let file = std::fs::File::from(root.open_dir(&rel).map_err(|e| root.explain_denied(e))?);
    wait(root, &rel, file, timeout, std::fs::File::try_lock_shared).map(Some)
}

type TryLockFn = fn(&std::fs::File) -> std::result::Result<(), std::fs::TryLockError>;

fn wait(
    root: &Root,
    rel: &RelPath,
    file: std::fs::File,
    timeout: Duration,
    try_lock: TryLockFn,
) -> Result<DirLock> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match try_lock(&file) {
            Ok(()) => return Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(IoOp::Lock, root.display(rel), e))
            }
        }
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(Error::LockTimeout {
                path: root.display(rel),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
