//! Rollback of a committed transaction as a new transaction: every path the transaction
//! changed is put back into its recorded `before` state (bytes, mode, owner, mtime). It is
//! refused, with nothing changed, when the journal is damaged, when a backup object fails
//! its checksum (all are verified before anything is touched), or when a path changed since
//! the transaction (unless forced: the current content is then backed up first, like any
//! other change). A rollback is itself a transaction, so it can be rolled back.

use crate::content::Content;
use crate::error::{Error, Result};
use crate::fsx::Root;
use crate::journal::Journal;
use crate::paths::RelPath;
use crate::plan::{observe, Action, Observed, Op};
use crate::recovery::intents_of;
use crate::store::Store;
use journal_format::{Body, Intent, Node, OpKind, TxnState};
use std::collections::BTreeSet;

/// A rollback, planned and checked.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    /// The transaction undone.
    pub target: u64,
    /// The operations that undo it, newest change first.
    pub ops: Vec<Op>,
    /// Operations that cannot be undone (signals), described.
    pub irreversible: Vec<String>,
    /// Paths that changed since the transaction (allowed only with force).
    pub changed: Vec<String>,
    /// Created directories left in place because they are no longer empty (force only).
    pub kept_dirs: Vec<String>,
}

/// The committed rollback that currently stands for `txn`, if any (a rollback that was
/// itself rolled back does not count).
pub fn rolled_back_by(journal: &Journal, txn: u64) -> Option<u64> {
    let by = journal.txns.iter().rev().find(|t| {
        t.state() == TxnState::Committed
            && t.entries
                .iter()
                .any(|e| matches!(&e.record.body, Body::RollbackOf(r) if r.txn == txn))
    })?;
    match rolled_back_by(journal, by.txn) {
        Some(_) => None,
        None => Some(by.txn),
    }
}

/// Plans the rollback of `txn`.
///
/// # Errors
/// [`Error::NoSuchTransaction`]; [`Error::Refused`] for a transaction that is not committed,
/// already rolled back, or whose paths changed (without `force`); [`Error::ObjectCorrupt`]
/// for a backup that fails verification; journal problems.
pub fn plan(
    root: &Root,
    journal: &Journal,
    txn: u64,
    force: bool,
    cap: u64,
) -> Result<RollbackPlan> {
    if let Some(p) = &journal.problem {
        return Err(p.to_error(root));
    }
    let t = journal.find(txn).ok_or(Error::NoSuchTransaction(txn))?;
    if t.state() != TxnState::Committed {
        return Err(Error::Refused(format!(
            "transaction {txn} was not committed"
        )));
    }
    if let Some(by) = rolled_back_by(journal, txn) {
        return Err(Error::Refused(format!(
            "transaction {txn} was already rolled back by {by}"
        )));
    }
    let done: BTreeSet<u32> = t
        .entries
        .iter()
        .filter_map(|e| match &e.record.body {
            Body::Done(d) => Some(d.op),
            _ => None,
        })
        .collect();
    let mut plan = RollbackPlan {
        target: txn,
        ops: Vec::new(),
        irreversible: Vec::new(),
        changed: Vec::new(),
        kept_dirs: Vec::new(),
    };
    for it in intents_of(t).iter().rev().filter(|i| done.contains(&i.op)) {
        plan_one(root, it, force, cap, &mut plan)?;
    }
    if !plan.changed.is_empty() && !force {
        return Err(Error::Refused(format!(
            "changed since transaction {txn}: {} (use --force to roll back anyway; the current content is backed up first)",
            plan.changed.join(", ")
        )));
    }
    Ok(plan)
}

fn plan_one(
    root: &Root,
    it: &Intent,
    force: bool,
    cap: u64,
    plan: &mut RollbackPlan,
) -> Result<()> {
    let Some(path) = &it.path else {
        let what = it.process.as_ref().map_or_else(
            || "a process".to_string(),
            |p| format!("pid {} ({})", p.pid, p.cmdline),
        );
        plan.irreversible
            .push(format!("op {}: signal to {what} cannot be undone", it.op));
        return Ok(());
    };
    let rel = RelPath::new(path.as_str())?;
    let now = observe(root, &rel, cap)?;
    let Some(node) = now.node().cloned() else {
        let why = now.untouchable.clone().unwrap_or_default();
        return Err(Error::Refused(format!("{rel} {why}")));
    };
    if node != it.after {
        plan.changed.push(rel.to_string());
    }
    if node == it.before {
        return Ok(());
    }
    if it.kind == OpKind::CreateDir && !dir_emptied(root, &rel, &plan.ops)? {
        if !force {
            plan.changed
                .push(format!("{rel} (directory no longer empty)"));
        } else {
            plan.kept_dirs.push(rel.to_string());
        }
        return Ok(());
    }
    let action = inverse(root, it, &node)?;
    plan.ops.push(Op {
        heal: "rollback",
        message: message(&rel, &action, &it.before),
        reason: format!(
            "undo op {} ({:?}) of the rolled-back transaction",
            it.op, it.kind
        ),
        path: Some(rel),
        action,
        before: now,
    });
    Ok(())
}

/// Whether directory `rel` holds nothing but paths this rollback removes before it.
fn dir_emptied(root: &Root, rel: &RelPath, earlier: &[Op]) -> Result<bool> {
    for e in root.list(Some(rel))? {
        // A child whose name the journal cannot hold was not created by the transaction.
        let Ok(child) = rel.join(&e.name) else {
            return Ok(false);
        };
        let removed = earlier.iter().any(|op| {
            op.path.as_ref() == Some(&child)
                && matches!(op.action, Action::RemoveFile | Action::RemoveDir)
        });
        if !removed {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The action that turns `now` back into the intent's `before` state, with the backup
/// bytes already fetched and verified.
fn inverse(root: &Root, it: &Intent, now: &Node) -> Result<Action> {
    Ok(match (&it.before, now) {
        (Node::Absent, Node::Dir { .. }) => Action::RemoveDir,
        (Node::Absent, _) => Action::RemoveFile,
        (Node::File { sha256, mode, .. }, Node::File { sha256: cur, .. }) if sha256 == cur => {
            Action::SetMode { mode: mode.0 }
        }
        (Node::File { sha256, size, mode }, _) => {
            let object = it.object.unwrap_or(*sha256);
            // `get` proved these bytes hash to the object's name: the intent's `after`
            // need not hash them again.
            let bytes = Content::with_sha256(Store::new(root).get(&object, *size)?, object);
            Action::WriteFile {
                bytes,
                mode: mode.0,
                owner: it.meta.map(|m| (m.uid, m.gid)),
                mtime: it.meta.map(|m| (m.mtime_sec, m.mtime_nsec)),
            }
        }
        (Node::Dir { mode }, Node::Absent) => Action::CreateDir { mode: mode.0 },
        (Node::Dir { mode }, _) => Action::SetMode { mode: mode.0 },
    })
}

fn message(rel: &RelPath, action: &Action, before: &Node) -> String {
    match (action, before) {
        (Action::RemoveDir, _) => format!("Removed directory: {rel}"),
        (Action::RemoveFile, _) => format!("Removed file: {rel}"),
        (Action::SetMode { mode }, _) => format!("Restored mode {mode:04o}: {rel}"),
        (Action::CreateDir { .. }, _) => format!("Recreated directory: {rel}"),
        _ => format!("Restored file: {rel}"),
    }
}

impl RollbackPlan {
    /// The observations of the rollback's targets (what the engine re-checks).
    pub fn targets(&self) -> Vec<&Observed> {
        self.ops.iter().map(|o| &o.before).collect()
    }
}
