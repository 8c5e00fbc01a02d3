//! `check` (and `heal --dry-run`): what `heal` would find and do, writing nothing at all.
//! Invariant: its plan is `heal`'s plan (the same inspection and the same policy, `run`).

use crate::error::Result;
use crate::report::Report;
use crate::run::{self, Options};

/// Runs `check`: the same findings and plan as `heal`, nothing written.
///
/// # Errors
/// Operational errors (exit 8), invalid config (16).
pub fn check(opts: &Options) -> Result<Report> {
    run::check(opts)
}
