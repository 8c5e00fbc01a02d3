//! `journal quarantine`: under selfheal's lock, moves a damaged journal aside and starts a
//! new chain anchored to its last verified record (`quarantine` owns how).

use crate::error::Result;
use crate::quarantine::QuarantineReport;
use crate::run::{bootstrap, repeat, Options, Session};

/// Runs `journal quarantine`.
///
/// # Errors
/// [`crate::Error::Refused`] when there is nothing to quarantine (the journal verifies),
/// when the journal is of an unknown version, or when an interrupted transaction would be
/// abandoned; I/O errors; lock timeout.
pub fn quarantine(opts: &Options) -> Result<QuarantineReport> {
    let s = Session::open(opts, false)?;
    bootstrap(&s.root)?;
    let _lock = crate::lock::acquire(&s.root, opts.lock_timeout)?;
    let positions = repeat::positions(&s.layout);
    crate::quarantine::quarantine(&s.root, &s.mac, &positions)
}
