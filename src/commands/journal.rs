//! `journal list`, `journal show` and `journal verify`: read-only views of the journal
//! under selfheal's shared lock (a heal waits for them, they never wait for each other).
//! What each view holds is `audit`'s; this file opens the root and the journal for it.

use crate::audit::{self, TxnDetail, TxnSummary, Verification};
use crate::error::{Error, Result};
use crate::journal::{Journal, Problem};
use crate::run::{Options, Session};
use journal_format::Mac;
use std::path::PathBuf;

/// What `journal list` read.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The transactions read, oldest first.
    pub transactions: Vec<TxnSummary>,
    /// Transactions up to this id were pruned or moved aside by a quarantine.
    pub pruned_through: Option<u64>,
    /// Why the listing stopped early, if it did.
    pub stopped: Option<Stopped>,
}

/// A listing stopped by damage: the rest of the journal cannot be trusted.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// What is wrong, and where.
    pub problem: Problem,
    /// Transaction files after the damage, not listed.
    pub unlisted: usize,
    /// How to get out (the quarantine command).
    pub advice: String,
}

/// Runs `journal list`.
///
/// # Errors
/// A journal of an unknown version, I/O errors, lock timeout.
pub fn list(opts: &Options) -> Result<Listing> {
    let (s, journal) = open(opts)?;
    let transactions = audit::list(&journal);
    let unlisted = journal
        .ids
        .iter()
        .filter(|id| journal.find(**id).is_none())
        .count();
    let stopped = journal.problem.clone().map(|problem| Stopped {
        problem,
        unlisted,
        advice: crate::journal::quarantine_advice(&s.root),
    });
    Ok(Listing {
        transactions,
        pruned_through: journal.anchor.map(|c| c.through_txn),
        stopped,
    })
}

/// Runs `journal show <id>`.
///
/// # Errors
/// [`Error::NoSuchTransaction`], I/O errors, lock timeout.
pub fn show(opts: &Options, id: u64) -> Result<TxnDetail> {
    let (s, journal) = open(opts)?;
    audit::show(&s.root, &s.layout, &journal, id)
}

/// Runs `journal verify [--old-key-file FILE ...]`: every record and every backup object,
/// records tagged with an earlier key checked with `old_key_files`.
///
/// # Errors
/// [`Error::Usage`] for an unreadable old key file, I/O errors, lock timeout.
pub fn verify(opts: &Options, old_key_files: &[PathBuf]) -> Result<Verification> {
    let old = old_macs(opts, old_key_files)?;
    let s = Session::open(opts, false)?;
    let _shared = crate::lock::acquire_shared(&s.root, opts.lock_timeout)?;
    audit::verify(&s.root, &s.mac, &old)
}

/// The session and the journal, read under the shared lock (released on return: what was
/// read is a snapshot).
fn open(opts: &Options) -> Result<(Session, Journal)> {
    let s = Session::open(opts, false)?;
    let _shared = crate::lock::acquire_shared(&s.root, opts.lock_timeout)?;
    let journal = Journal::load(&s.root, s.mac.clone())?;
    Ok((s, journal))
}

/// The tag algorithms of `--old-key-file` keys (each checked like the configured key).
fn old_macs(opts: &Options, files: &[PathBuf]) -> Result<Vec<Mac>> {
    files
        .iter()
        .map(|f| {
            crate::keyfile::read_key(f, &opts.root)
                .map(Mac::HmacSha256)
                .map_err(|why| Error::Usage(format!("--old-key-file: {why}")))
        })
        .collect()
}
