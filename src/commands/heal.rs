//! `heal`: the whole pipeline (`run`), at the bot's startup. Invariant: `heal --dry-run`
//! is `check` ([`Options::dry_run`]): the same run, writing nothing at all.

use crate::error::Result;
use crate::report::Report;
use crate::run::{self, Options};

/// Runs `heal` (recover -> inspect -> plan -> apply -> assess -> commit -> alert ->
/// retention, see `run`); with `opts.dry_run`, [`crate::check()`].
///
/// # Errors
/// Operational errors (exit 8), lock timeout or a signal while waiting (32), invalid config
/// (16).
pub fn heal(opts: &Options) -> Result<Report> {
    if opts.dry_run {
        return run::check(opts);
    }
    run::heal(opts)
}
