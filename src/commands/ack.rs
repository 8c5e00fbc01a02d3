//! `ack`: an operator's acknowledgement of the criticals a transaction recorded, as its own
//! transaction. Invariant: only a transaction with an unacknowledged critical can be
//! acknowledged, and each acknowledgement names its codes and findings.

use crate::error::{Error, Result};
use crate::findings::code;
use crate::run::{locked_and_recovered, Options, Session};
use crate::txn::{self, TxnMeta};
use serde_json::json;

/// What `ack` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AckReport {
    /// The transaction acknowledged.
    pub acknowledged: u64,
    /// The critical codes acknowledged.
    pub codes: Vec<String>,
    /// The recorded findings acknowledged (code, path, evidence), besides a salvage loss.
    pub findings: Vec<crate::journal::acks::Recorded>,
    /// The transaction that recorded the acknowledgement.
    pub transaction: u64,
}

/// Runs `ack <txn>`: records, as its own transaction, that an operator acknowledged the
/// criticals transaction `txn` recorded (a lossy salvage applied in paper mode, a
/// SLOT_DIVERGENCE), so real mode may start again. The `ack` records name each code; the
/// commit summary names each finding.
///
/// # Errors
/// [`Error::NoSuchTransaction`] or [`Error::Usage`] (nothing to acknowledge), journal
/// problems, operational errors, lock timeout.
pub fn ack(opts: &Options, txn: u64) -> Result<AckReport> {
    let s = Session::open(opts, false)?;
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let target = journal.find(txn).ok_or(Error::NoSuchTransaction(txn))?;
    let salvage = crate::journal::acks::pending(&journal)
        .iter()
        .any(|p| p.txn == txn);
    let findings: Vec<crate::journal::acks::Recorded> = crate::journal::acks::recorded(target)
        .into_iter()
        .filter(|r| crate::journal::acks::acknowledged_by(&journal, r).is_none())
        .collect();
    let mut codes: Vec<String> = Vec::new();
    if salvage {
        codes.push(code::DATA_INTEGRITY.to_string());
    }
    for f in &findings {
        if !codes.contains(&f.code.to_string()) {
            codes.push(f.code.to_string());
        }
    }
    if codes.is_empty() {
        return Err(Error::Usage(format!(
            "transaction {txn} has no unacknowledged critical (nothing to acknowledge)"
        )));
    }
    let meta = TxnMeta {
        command: "ack",
        mode: None,
        rollback_of: None,
    };
    let mut t = txn::begin(&s.root, &mut journal, meta, &[], s.layout.max_file_size)?;
    for c in &codes {
        t.note(journal_format::Body::Ack(journal_format::Ack {
            txn,
            code: c.clone(),
        }))?;
    }
    let id = t.commit(
        &mut journal,
        json!({"acknowledged": txn, "code": codes[0], "codes": codes, "findings": findings}),
    )?;
    Ok(AckReport {
        acknowledged: txn,
        codes,
        findings,
        transaction: id,
    })
}
