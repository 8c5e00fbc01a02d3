//! Audit of the journal: the transaction list, one transaction's operations, and full
//! verification (the chain, every transaction's grammar, and every backup object a kept
//! transaction names). Read-only: nothing here writes.

use crate::error::{Error, Result};
use crate::fsx::Root;
use crate::journal::{Journal, Problem, TxnFile};
use crate::rollback::rolled_back_by;
use crate::store::Store;
use journal_format::{Body, Node, TxnState};
use serde::Serialize;
use serde_json::Value;

/// One line of `journal list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnSummary {
    /// Transaction id.
    pub id: u64,
    /// When it began (RFC 3339).
    pub time: String,
    /// The command.
    pub command: String,
    /// The mode, if any.
    pub mode: Option<String>,
    /// Number of planned operations.
    pub operations: usize,
    /// `committed`, `aborted` or `unfinished`.
    pub outcome: &'static str,
    /// The transaction it undoes, for a rollback.
    pub rollback_of: Option<u64>,
    /// The rollback that undid it, if one stands.
    pub rolled_back_by: Option<u64>,
}

fn outcome(t: &TxnFile) -> &'static str {
    match t.state() {
        TxnState::Committed => "committed",
        TxnState::Aborted => "aborted",
        TxnState::Unfinished => "unfinished",
    }
}

/// Summarises every transaction that stands, oldest first (pruned leftovers excluded; a
/// rollback whose target was pruned still names it in `rollback_of`).
pub fn list(journal: &Journal) -> Vec<TxnSummary> {
    journal.kept().map(|t| summarize(journal, t)).collect()
}

fn summarize(journal: &Journal, t: &TxnFile) -> TxnSummary {
    let mut s = TxnSummary {
        id: t.txn,
        time: t
            .entries
            .first()
            .map(|e| e.record.ts.clone())
            .unwrap_or_default(),
        command: String::new(),
        mode: None,
        operations: 0,
        outcome: outcome(t),
        rollback_of: None,
        rolled_back_by: rolled_back_by(journal, t.txn),
    };
    for e in &t.entries {
        match &e.record.body {
            Body::Begin(b) => {
                s.command = b.command.clone();
                s.mode = b.mode.clone();
                s.operations = b.plan.len();
            }
            Body::RollbackOf(r) => s.rollback_of = Some(r.txn),
            _ => {}
        }
    }
    s
}

/// One operation in `journal show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpView {
    /// Index.
    pub op: u32,
    /// The heal kind.
    pub heal: String,
    /// The filesystem effect.
    pub kind: String,
    /// The path.
    pub path: Option<String>,
    /// Why.
    pub reason: String,
    /// Before: `{type, sha256, size, mode}`.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// The backup object.
    pub object: Option<String>,
    /// Whether it was applied (`done`).
    pub applied: bool,
}

/// `journal show`: one transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnDetail {
    /// The summary line.
    pub summary: TxnSummary,
    /// Every operation.
    pub operations: Vec<OpView>,
    /// The commit summary or abort reason.
    pub result: Option<Value>,
}

/// Describes transaction `id`.
///
/// # Errors
/// [`Error::NoSuchTransaction`].
pub fn show(journal: &Journal, id: u64) -> Result<TxnDetail> {
    let t = journal.find(id).ok_or(Error::NoSuchTransaction(id))?;
    let mut ops: Vec<OpView> = Vec::new();
    let mut result = None;
    for e in &t.entries {
        match &e.record.body {
            Body::Begin(b) => {
                ops = b
                    .plan
                    .iter()
                    .map(|p| OpView {
                        op: p.op,
                        heal: p.heal.clone(),
                        kind: json_text(&p.kind),
                        path: p.path.clone(),
                        reason: p.reason.clone(),
                        before: None,
                        after: None,
                        object: None,
                        applied: false,
                    })
                    .collect();
            }
            Body::Intent(i) => {
                if let Some(o) = ops.iter_mut().find(|o| o.op == i.op) {
                    o.before = serde_json::to_value(&i.before).ok();
                    o.after = serde_json::to_value(&i.after).ok();
                    o.object = i.object.map(|d| d.to_hex());
                }
            }
            Body::Done(d) => {
                if let Some(o) = ops.iter_mut().find(|o| o.op == d.op) {
                    o.applied = true;
                }
            }
            Body::Commit(c) => result = Some(c.summary.clone()),
            Body::Abort(a) => result = serde_json::to_value(a).ok(),
            _ => {}
        }
    }
    Ok(TxnDetail {
        summary: summarize(journal, t),
        operations: ops,
        result,
    })
}

fn json_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The record `journal verify` found at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// The journal file, relative to the root.
    pub file: String,
    /// Its 1-based line, when one record is at fault.
    pub line: Option<u64>,
    /// Its `seq`, when known.
    pub seq: Option<u64>,
}

/// The result of `journal verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Transactions read (pruned leftovers included).
    pub transactions: usize,
    /// Records read.
    pub records: usize,
    /// Backup objects verified.
    pub objects: usize,
    /// The first problem, naming the file and record; `None` when everything verifies.
    pub problem: Option<String>,
    /// Where the first problem is.
    pub bad_record: Option<BadRecord>,
    /// A torn tail (tolerated, reported).
    pub torn_tail: Option<String>,
    /// Transactions up to this id were pruned (the newest committed checkpoint).
    pub pruned_through: Option<u64>,
    /// Files of pruned transactions still present (an interrupted prune; the next prune
    /// removes them). Outside the chain; their objects are not checked.
    pub leftovers: Vec<u64>,
}

/// Verifies the chain and every backup object a remaining transaction names.
///
/// # Errors
/// I/O errors while reading the store.
pub fn verify(root: &Root, journal: &Journal) -> Result<Verification> {
    let mut v = Verification {
        transactions: journal.txns.len(),
        records: journal.txns.iter().map(|t| t.entries.len()).sum(),
        objects: 0,
        problem: journal.problem.as_ref().map(Problem::describe),
        bad_record: journal.problem.as_ref().map(bad_record),
        torn_tail: journal
            .torn
            .as_ref()
            .map(|t| format!("{}: {} torn byte(s) at offset {}", t.file, t.len, t.offset)),
        pruned_through: journal.anchor.map(|c| c.through_txn),
        leftovers: journal
            .txns
            .iter()
            .filter(|t| journal.is_leftover(t.txn))
            .map(|t| t.txn)
            .collect(),
    };
    if v.problem.is_some() {
        return Ok(v);
    }
    let store = Store::new(root);
    let mut seen = std::collections::BTreeSet::new();
    for t in journal.kept() {
        for e in &t.entries {
            let Body::Intent(i) = &e.record.body else {
                continue;
            };
            let (Some(obj), Node::File { size, .. }) = (i.object, &i.before) else {
                continue;
            };
            if !seen.insert(obj) {
                continue;
            }
            match store.get(&obj, *size) {
                Ok(_) => v.objects += 1,
                Err(Error::ObjectCorrupt { sha256, why }) => {
                    v.problem = Some(format!(
                        "{} line {} (seq {}): backup object {sha256} is {why}",
                        t.path, e.line, e.record.seq
                    ));
                    v.bad_record = Some(BadRecord {
                        file: t.path.to_string(),
                        line: Some(e.line),
                        seq: Some(e.record.seq),
                    });
                    return Ok(v);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(v)
}

fn bad_record(p: &Problem) -> BadRecord {
    match p {
        Problem::Corrupt {
            file, line, seq, ..
        } => BadRecord {
            file: file.to_string(),
            line: *line,
            seq: *seq,
        },
        Problem::Version { file, .. } => BadRecord {
            file: file.to_string(),
            line: None,
            seq: None,
        },
    }
}
