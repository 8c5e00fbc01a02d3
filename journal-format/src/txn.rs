//! Transaction grammar and the recovery decision table (SPEC.md, "Transactions", "Recovery").
//!
//! A transaction file reads `header begin [rollback_of | rekey] (intent | done | ack |
//! checkpoint)* (commit | abort)?`; `abort` may also follow the header alone. [`view`] checks that grammar
//! and [`decide`] is the whole recovery rule for one operation.

use crate::record::{
    Abort, Begin, Body, Checkpoint, Commit, Intent, MacKind, Node, Quarantine, Record, RollbackOf,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Started (or not even begun) and neither committed nor aborted: recovery must run.
    Unfinished,
    /// Committed: its changes stand.
    Committed,
    /// Aborted: its changes were undone (or accepted by an operator).
    Aborted,
}

/// A transaction's records, checked and indexed.
#[derive(Debug, Clone)]
pub struct TxnView<'a> {
    /// The transaction id.
    pub txn: u64,
    /// The `begin` record, if written.
    pub begin: Option<&'a Begin>,
    /// The transaction it undoes, if it is a rollback.
    pub rollback_of: Option<&'a RollbackOf>,
    /// Intents by operation index.
    pub intents: BTreeMap<u32, &'a Intent>,
    /// Operations with a `done` record.
    pub done: BTreeSet<u32>,
    /// The commit, if any.
    pub commit: Option<&'a Commit>,
    /// The abort, if any.
    pub abort: Option<&'a Abort>,
    /// The quarantine record, in a transaction that starts a new chain.
    pub quarantine: Option<&'a Quarantine>,
    /// Every record, in order.
    pub records: &'a [Record],
}

impl TxnView<'_> {
    /// Committed, aborted or unfinished.
    pub fn state(&self) -> TxnState {
        match (self.commit, self.abort) {
            (Some(_), _) => TxnState::Committed,
            (_, Some(_)) => TxnState::Aborted,
            _ => TxnState::Unfinished,
        }
    }
}

/// A transaction's records break the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    /// The seq of the offending record.
    pub seq: u64,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record seq {}: {}", self.seq, self.why)
    }
}

impl std::error::Error for GrammarError {}

/// Checks the grammar of one transaction's records and indexes them.
///
/// # Errors
/// [`GrammarError`] naming the first record out of place.
pub fn view(records: &[Record]) -> Result<TxnView<'_>, GrammarError> {
    let mut v = TxnView {
        txn: records.first().map_or(0, |r| r.txn),
        begin: None,
        rollback_of: None,
        intents: BTreeMap::new(),
        done: BTreeSet::new(),
        commit: None,
        abort: None,
        quarantine: None,
        records,
    };
    for (i, r) in records.iter().enumerate() {
        let fail = |why: &str| GrammarError {
            seq: r.seq,
            why: why.to_string(),
        };
        if v.commit.is_some() || v.abort.is_some() {
            return Err(fail("record after the end of the transaction"));
        }
        match (&r.body, i) {
            (Body::Header(_), 0) => {}
            (_, 0) | (Body::Header(_), _) => return Err(fail("header out of place")),
            (Body::Begin(b), 1) => v.begin = Some(b),
            (Body::Abort(a), 1) => v.abort = Some(a),
            (_, 1) => return Err(fail("expected begin or abort after the header")),
            (Body::Begin(_), _) => return Err(fail("a second begin")),
            (Body::RollbackOf(ro), 2) => v.rollback_of = Some(ro),
            (Body::RollbackOf(_), _) => return Err(fail("rollback_of must follow begin")),
            (Body::Intent(it), _) => add_intent(&mut v, it).map_err(|w| fail(&w))?,
            (Body::Done(d), _) if v.intents.contains_key(&d.op) => {
                if !v.done.insert(d.op) {
                    return Err(fail("a second done for one operation"));
                }
            }
            (Body::Done(_), _) => return Err(fail("done without an intent")),
            (Body::Ack(_), _) => {}
            (Body::Checkpoint(c), _) => check_checkpoint(&v, r, c).map_err(fail)?,
            (Body::Rekey(_), _) => check_rekey(&v, i).map_err(fail)?,
            (Body::Quarantine(q), 2) => {
                check_quarantine(&v, r, q).map_err(fail)?;
                v.quarantine = Some(q);
            }
            (Body::Quarantine(_), _) => return Err(fail("quarantine must follow begin")),
            (Body::Commit(c), _) => v.commit = Some(c),
            (Body::Abort(a), _) => {
                if let Some(op) = a.ops.iter().find(|o| !v.intents.contains_key(&o.op)) {
                    return Err(fail(&format!("abort names op {} without an intent", op.op)));
                }
                v.abort = Some(a);
            }
        }
    }
    Ok(v)
}

/// A checkpoint belongs to a prune and names only what lies before it.
fn check_checkpoint(v: &TxnView<'_>, r: &Record, c: &Checkpoint) -> Result<(), &'static str> {
    if v.begin.map(|b| b.command.as_str()) != Some("prune") {
        return Err("a checkpoint outside a prune transaction");
    }
    if c.through_txn >= r.txn || c.seq >= r.seq {
        return Err("a checkpoint names a transaction or record not older than itself");
    }
    Ok(())
}

/// A rekey belongs to a `rekey` transaction whose file is keyed, once, right after `begin`.
fn check_rekey(v: &TxnView<'_>, index: usize) -> Result<(), &'static str> {
    if v.begin.map(|b| b.command.as_str()) != Some("rekey") {
        return Err("a rekey outside a rekey transaction");
    }
    if index != 2 {
        return Err("a rekey must follow begin");
    }
    match v.records.first().map(|r| &r.body) {
        Some(Body::Header(h)) if h.mac == MacKind::HmacSha256 => Ok(()),
        _ => Err("a rekey in a file that is not keyed"),
    }
}

/// A quarantine record belongs to a `quarantine` transaction and names only what lies
/// before it.
fn check_quarantine(v: &TxnView<'_>, r: &Record, q: &Quarantine) -> Result<(), &'static str> {
    if v.begin.map(|b| b.command.as_str()) != Some("quarantine") {
        return Err("a quarantine record outside a quarantine transaction");
    }
    if q.through_txn >= r.txn || q.seq >= r.seq {
        return Err("a quarantine record names a transaction or record not older than itself");
    }
    Ok(())
}

fn add_intent<'a>(v: &mut TxnView<'a>, it: &'a Intent) -> Result<(), String> {
    let plan = v.begin.map(|b| b.plan.as_slice()).unwrap_or_default();
    let entry = plan
        .get(usize::try_from(it.op).map_err(|e| e.to_string())?)
        .ok_or_else(|| format!("intent for op {} not in the plan", it.op))?;
    if entry.kind != it.kind || entry.path != it.path {
        return Err(format!("intent for op {} differs from the plan", it.op));
    }
    if v.intents.insert(it.op, it).is_some() {
        return Err(format!("a second intent for op {}", it.op));
    }
    Ok(())
}

/// What recovery does with one operation of an unfinished transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The path is in the `after` state: put the `before` state back.
    Restore,
    /// The path is in the `before` state (the operation never landed): nothing to do.
    Nothing,
    /// The path is in neither state: change nothing, raise JOURNAL_INTEGRITY.
    Conflict,
    /// The path is a regular file in neither state, and the operation ran under the bot's
    /// lock (`bot_lock`): the bot rewrote it after the writer ended, so it is the bot's
    /// newer version. Keep it (saved to the store first), recorded as `kept_current`.
    KeepNewer,
    /// The operation cannot be undone (a signal): nothing to do, recorded as irreversible.
    Irreversible,
}

/// The recovery decision table for one operation given what the path is now, for the
/// recovery of a transaction whose writer has ended (SPEC.md, "Recovery").
///
/// | current                                              | decision  |
/// |------------------------------------------------------|-----------|
/// | == `before`                                          | Nothing   |
/// | == `after`                                           | Restore   |
/// | another regular file, a file operation with `bot_lock` | KeepNewer |
/// | anything else                                        | Conflict  |
pub fn decide(intent: &Intent, current: &Node) -> Decision {
    let file = |n: &Node| matches!(n, Node::File { .. });
    if !intent.kind.is_reversible() {
        Decision::Irreversible
    } else if *current == intent.before {
        Decision::Nothing
    } else if *current == intent.after {
        Decision::Restore
    } else if intent.bot_lock.is_some()
        && file(current)
        && (file(&intent.before) || file(&intent.after))
    {
        Decision::KeepNewer
    } else {
        Decision::Conflict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{OpKind, Perms};
    use crate::Digest;

    fn file(byte: u8) -> Node {
        Node::File {
            sha256: Digest([byte; 32]),
            size: 1,
            mode: Perms(0o644),
        }
    }

    fn intent(bot_lock: Option<&str>) -> Intent {
        Intent {
            op: 0,
            kind: OpKind::ReplaceFile,
            path: Some("logs/p.json".into()),
            before: file(1),
            after: file(2),
            object: Some(Digest([1; 32])),
            meta: None,
            process: None,
            bot_lock: bot_lock.map(str::to_string),
            xattrs: None,
        }
    }

    #[test]
    fn the_decision_table() {
        let dir = Node::Dir { mode: Perms(0o755) };
        let locked = Some("logs/p.json.lock");
        let cases = [
            (None, file(1), Decision::Nothing),
            (None, file(2), Decision::Restore),
            (None, file(3), Decision::Conflict),
            (locked, file(1), Decision::Nothing),
            (locked, file(2), Decision::Restore),
            (locked, file(3), Decision::KeepNewer),
            (locked, Node::Absent, Decision::Conflict),
            (locked, dir.clone(), Decision::Conflict),
            (None, dir, Decision::Conflict),
        ];
        for (lock, current, want) in cases {
            assert_eq!(
                decide(&intent(lock), &current),
                want,
                "input: {lock:?} {current:?}"
            );
        }
    }
}
