//! Criticals that outlive the run that caused them: a lossy or ambiguous salvage applied in
//! paper mode stays a DATA_INTEGRITY critical for real mode until an operator acknowledges
//! it with `selfheal ack <id>` (an `ack` record naming the transaction). A salvage applied
//! on the operator's `heal --accept-loss` needs no acknowledgement. Read-only: the `ack`
//! command itself is in `heal`.

use crate::journal::{Journal, TxnFile};
use journal_format::{Body, TxnState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A transaction whose salvage loss awaits acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The transaction.
    pub txn: u64,
    /// The files salvaged with a loss.
    pub paths: Vec<String>,
    /// Records lost in all of them.
    pub records_lost: u64,
    /// Whether any was ambiguous (more than one version).
    pub ambiguous: bool,
}

/// Whether one `salvage[]` summary entry needs an acknowledgement.
pub fn entry_needs_ack(e: &Value) -> bool {
    let accepted = e.get("accepted").and_then(Value::as_bool).unwrap_or(false);
    let lost = e.get("records_lost").and_then(Value::as_u64).unwrap_or(0);
    let ambiguous = e.get("ambiguous").and_then(Value::as_bool).unwrap_or(false);
    !accepted && (lost > 0 || ambiguous)
}

/// The salvage entries of `t`'s commit summary that need an acknowledgement.
fn entries(t: &TxnFile) -> Vec<Value> {
    if t.state() != TxnState::Committed {
        return Vec::new();
    }
    t.entries
        .iter()
        .filter_map(|e| match &e.record.body {
            Body::Commit(c) => c.summary.get("salvage").and_then(Value::as_array).cloned(),
            _ => None,
        })
        .flatten()
        .filter(entry_needs_ack)
        .collect()
}

/// Whether `t` recorded a salvage loss that needs an acknowledgement (acknowledged or not).
pub fn needs_ack(t: &TxnFile) -> bool {
    !entries(t).is_empty()
}

/// Whether an `ack` record names `txn`.
pub fn acknowledged(journal: &Journal, txn: u64) -> bool {
    journal.txns.iter().any(|t| {
        t.state() == TxnState::Committed
            && t.entries
                .iter()
                .any(|e| matches!(&e.record.body, Body::Ack(a) if a.txn == txn))
    })
}

/// Every transaction whose salvage loss is not acknowledged yet (kept by the journal's
/// facts, `journal::facts`, as transactions are read).
pub fn pending(journal: &Journal) -> Vec<Pending> {
    journal.facts.pending.clone()
}

/// The pending acknowledgement `t` records, if it records one.
pub fn pending_of(t: &TxnFile) -> Option<Pending> {
    let list = entries(t);
    if list.is_empty() {
        return None;
    }
    Some(Pending {
        txn: t.txn,
        paths: list
            .iter()
            .filter_map(|e| e.get("path").and_then(Value::as_str).map(str::to_string))
            .collect(),
        records_lost: list
            .iter()
            .filter_map(|e| e.get("records_lost").and_then(Value::as_u64))
            .sum(),
        ambiguous: list
            .iter()
            .any(|e| e.get("ambiguous").and_then(Value::as_bool).unwrap_or(false)),
    })
}

/// The transactions `t` acknowledges, when it is committed.
pub fn acks_in(t: &TxnFile) -> Vec<u64> {
    if t.state() != TxnState::Committed {
        return Vec::new();
    }
    t.entries
        .iter()
        .filter_map(|e| match &e.record.body {
            Body::Ack(a) => Some(a.txn),
            _ => None,
        })
        .collect()
}
