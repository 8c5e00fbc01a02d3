//! Exit codes (CONTRACT.md, "Command line"; the README's table): the one place outcomes and
//! errors become numbers. When several apply, the highest wins (16 > 32 > 8 > 4 > 1 > 0).

use selfheal::error::Error;
use selfheal::report::Report;

/// The engine may start / nothing to report.
pub const OK: u8 = 0;
/// `check`: repairs pending; `salvage`: something lost.
pub const PENDING: u8 = 1;
/// Must not start / refused / verification failed / conflict left.
pub const MUST_NOT_START: u8 = 4;
/// Operational error.
pub const OPERATIONAL: u8 = 8;
/// Usage or configuration error.
pub const USAGE: u8 = 16;
/// The lock wait timed out, or the run was interrupted.
pub const LOCK: u8 = 32;

/// `heal`: 0 when the engine may start, else 4.
pub fn of_heal(r: &Report) -> u8 {
    if r.start_allowed {
        OK
    } else {
        MUST_NOT_START
    }
}

/// `check`: 4 critical (or must not start), 1 repairs pending, 0 clean.
pub fn of_check(r: &Report) -> u8 {
    if !r.success || !r.start_allowed {
        MUST_NOT_START
    } else if r.pending() > 0 || !r.failed.is_empty() {
        PENDING
    } else {
        OK
    }
}

/// The code of a library error.
pub fn of_error(e: &Error) -> u8 {
    match e {
        Error::Usage(_) | Error::Config { .. } | Error::NoSuchTransaction(_) => USAGE,
        Error::LockTimeout { .. } | Error::Interrupted => LOCK,
        Error::Refused(_) | Error::ObjectCorrupt { .. } | Error::JournalCorrupt { .. } => {
            MUST_NOT_START
        }
        _ => OPERATIONAL,
    }
}

/// `salvage`: 1 when something was lost or the input held several versions, else 0.
pub fn of_salvage(r: &selfheal::salvage::SalvageReport) -> u8 {
    use selfheal::salvage::Outcome;
    match r.outcome {
        Outcome::Lossy | Outcome::Ambiguous => PENDING,
        Outcome::Intact | Outcome::Repaired { .. } => OK,
    }
}
