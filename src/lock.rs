//! The exclusive lock that serialises heals, rollbacks, recoveries, prunes and watch
//! cycles: `flock(LOCK_EX)` on the `logs/backups/` directory itself, so there is no lock
//! file to go stale or to be mistaken for a bot lock. A waiter polls for a bounded time and
//! gives up with [`Error::LockTimeout`]; SIGTERM/SIGINT end the wait with
//! [`Error::Interrupted`].

use crate::error::{Error, IoOp, Result};
use crate::fsx::Root;
use crate::journal::BACKUPS_DIR;
use crate::paths::RelPath;
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

/// Registers SIGTERM and SIGINT to set the interrupt flag (the CLI calls this once).
///
/// # Errors
/// If the handlers cannot be installed.
pub fn install_signal_handlers() -> std::io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(flag()))?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(flag()))?;
    Ok(())
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
    let file = std::fs::File::from(root.open_dir(&rel)?);
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(IoOp::Lock, root.display(&rel), e))
            }
        }
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(Error::LockTimeout {
                path: root.display(&rel),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
