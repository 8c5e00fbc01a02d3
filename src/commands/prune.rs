//! `prune`: retention of the journal and the backup store on demand. Invariant: it runs
//! under selfheal's lock, after recovery, and never removes what a kept transaction needs
//! (`prune`).

use crate::error::Result;
use crate::prune;
use crate::run::{locked_and_recovered, Options, Session};
use std::time::Duration;

/// Runs `prune [--keep N] [--older-than DUR]`: retention of the journal and the backup
/// store, under the lock and after recovery; `None` takes the configured value.
///
/// # Errors
/// A journal problem or a recovery conflict ([`crate::Error::Refused`]), operational errors, lock
/// timeout, invalid config.
pub fn prune(
    opts: &Options,
    keep: Option<u64>,
    older_than: Option<Duration>,
) -> Result<prune::PruneReport> {
    let s = Session::open(opts, false)?;
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let configured = prune::Policy::of(&s.layout);
    let keep = keep.unwrap_or(configured.keep);
    let policy = prune::Policy {
        keep,
        older_than: older_than.unwrap_or(configured.older_than),
        max_transactions: configured.max_transactions.max(keep),
    };
    prune::run(
        &s.root,
        &mut journal,
        &policy,
        chrono::Utc::now(),
        prune::Trigger::Command,
    )
}
