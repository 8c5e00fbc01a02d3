//! Exit codes (the README's table): the one place outcomes and
//! errors become numbers. When several apply, the highest wins (16 > 32 > 8 > 4 > 1 > 0).

use selfheal::Error;
use selfheal::Report;

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

/// What `check` concluded; the printed verdict and the exit code both come from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    /// Nothing to do; the engine may start (exit 0).
    Clean,
    /// The engine may start; repairs are pending or cannot be applied (exit 1).
    Pending,
    /// The engine must not start in the chosen mode, decided on the state the plan would
    /// leave (exit 4). A critical does not stop a paper-mode start, so it is not 4 there.
    MustNotStart,
}

/// `check`'s verdict: the start decision first, then whether anything is to be done.
pub fn check_verdict(r: &Report) -> CheckVerdict {
    if !r.start_allowed {
        CheckVerdict::MustNotStart
    } else if !r.healed.is_empty() || !r.failed.is_empty() {
        CheckVerdict::Pending
    } else {
        CheckVerdict::Clean
    }
}

/// `check`: 4 must not start, 1 repairs pending, 0 clean.
pub fn of_check(v: &CheckVerdict) -> u8 {
    match v {
        CheckVerdict::Clean => OK,
        CheckVerdict::Pending => PENDING,
        CheckVerdict::MustNotStart => MUST_NOT_START,
    }
}

/// Of two codes, the one that wins (16 > 32 > 8 > 4 > 1 > 0).
pub fn highest(a: u8, b: u8) -> u8 {
    let rank = |c: u8| {
        [OK, PENDING, MUST_NOT_START, OPERATIONAL, LOCK, USAGE]
            .iter()
            .position(|x| *x == c)
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// The code of a library error.
pub fn of_error(e: &Error) -> u8 {
    match e {
        Error::Usage(_) | Error::Config { .. } | Error::NoSuchTransaction(_) => USAGE,
        Error::LockTimeout { .. } | Error::Interrupted => LOCK,
        Error::Refused(_)
        | Error::ObjectCorrupt { .. }
        | Error::JournalCorrupt { .. }
        | Error::RecoveryConflict { .. } => MUST_NOT_START,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_code_wins() {
        let cases: &[(u8, u8, u8)] = &[
            (OK, OPERATIONAL, OPERATIONAL),
            (PENDING, OPERATIONAL, OPERATIONAL),
            (MUST_NOT_START, OPERATIONAL, OPERATIONAL),
            (LOCK, OPERATIONAL, LOCK),
            (USAGE, OPERATIONAL, USAGE),
            (OPERATIONAL, OPERATIONAL, OPERATIONAL),
        ];
        for (a, b, want) in cases {
            assert_eq!(highest(*a, *b), *want, "input: {a} {b}");
            assert_eq!(highest(*b, *a), *want, "input: {b} {a}");
        }
    }

    /// A recovery conflict exits like the journal integrity failure it is worded as.
    #[test]
    fn a_recovery_conflict_must_not_start() {
        let conflict = Error::RecoveryConflict {
            file: "/r/logs/selfheal/journal".into(),
            why: "transaction 3 op 0: a matches neither".into(),
        };
        let corrupt = Error::JournalCorrupt {
            file: "/r/logs/selfheal/journal".into(),
            why: "transaction 3 op 0: a matches neither".into(),
        };
        assert_eq!(of_error(&conflict), MUST_NOT_START);
        assert_eq!(conflict.to_string(), corrupt.to_string());
    }
}
