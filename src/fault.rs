//! Fault injection for tests: every mutating filesystem call in `fsx` passes a numbered
//! point here first. Built only with the `fault-injection` feature; otherwise every point is
//! a no-op the compiler removes.
//!
//! `SELFHEAL_FAULT=N:ACTION` makes point N (1-based, counted over the whole process) fail:
//! `crash` aborts the process on the spot (no cleanup runs, like kill -9), `eio`, `enospc`,
//! `eacces` and `erofs` return that error instead of doing the call. `SELFHEAL_FAULT_TRACE=1`
//! prints `fault-point N KIND PATH` to stderr for every point, so a test can enumerate them.

use std::io;
use std::path::Path;

/// The kind of mutating call a point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    Create,
    Write,
    Fsync,
    FsyncDir,
    Rename,
    Remove,
    Mkdir,
    Chmod,
    Chown,
    SetTimes,
    Append,
    Truncate,
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn hit(_point: Point, _path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(feature = "fault-injection")]
pub(crate) fn hit(point: Point, path: &Path) -> io::Result<()> {
    imp::hit(point, path)
}

#[cfg(feature = "fault-injection")]
mod imp {
    use super::Point;
    use std::io;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static COUNTER: AtomicU64 = AtomicU64::new(0);

    struct Plan {
        at: Option<(u64, String)>,
        trace: bool,
    }

    fn plan() -> &'static Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        PLAN.get_or_init(|| {
            let at = std::env::var("SELFHEAL_FAULT").ok().and_then(|v| {
                let (n, action) = v.split_once(':')?;
                Some((n.parse().ok()?, action.to_string()))
            });
            let trace = std::env::var_os("SELFHEAL_FAULT_TRACE").is_some();
            Plan { at, trace }
        })
    }

    pub(super) fn hit(point: Point, path: &Path) -> io::Result<()> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        let plan = plan();
        if plan.trace {
            eprintln!("fault-point {n} {point:?} {}", path.display());
        }
        match &plan.at {
            Some((at, action)) if *at == n => fire(action),
            _ => Ok(()),
        }
    }

    fn fire(action: &str) -> io::Result<()> {
        let errno = match action {
            "crash" => std::process::abort(),
            "eio" => 5,
            "eacces" => 13,
            "enospc" => 28,
            "erofs" => 30,
            _ => return Ok(()),
        };
        Err(io::Error::from_raw_os_error(errno))
    }
}
