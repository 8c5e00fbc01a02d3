//! `stats [--prometheus FILE|-]`: the healing metrics, computed from the journal alone
//! under selfheal's shared lock (`stats` owns what each number means), and their
//! Prometheus text, written atomically to a file outside the root (`textfile`).

use crate::error::Result;
use crate::journal::Journal;
use crate::run::{Options, Session};
pub use crate::stats::Stats;
use std::path::Path;

/// Runs `stats`.
///
/// # Errors
/// I/O errors, lock timeout.
pub fn stats(opts: &Options) -> Result<Stats> {
    let s = Session::open(opts, false)?;
    let _shared = crate::lock::acquire_shared(&s.root, opts.lock_timeout)?;
    let journal = Journal::load(&s.root, s.mac.clone())?;
    Ok(crate::stats::compute(&journal))
}

/// The metrics in the Prometheus text format.
pub fn prometheus(stats: &Stats) -> String {
    crate::stats::prometheus(stats)
}

/// Writes `text` to `path` for node_exporter's textfile collector: a regular file outside
/// the root, replaced atomically.
///
/// # Errors
/// A path inside the root or naming anything but a regular file; I/O errors.
pub fn write_prometheus(opts: &Options, path: &Path, text: &str) -> Result<()> {
    crate::textfile::write_atomic(path, &opts.root, text.as_bytes())
}
