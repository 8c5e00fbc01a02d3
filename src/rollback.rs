//! Rollback of a committed transaction as a new transaction: every path the transaction
//! changed is put back into its recorded `before` state (bytes, mode, owner, mtime). It is
//! refused, with nothing changed, when the journal is damaged, when a backup object fails
//! its checksum (all are verified before anything is touched), or when a path changed since
//! the transaction (unless forced: the current content is then backed up first, like any
//! other change). A rollback is itself a transaction, so it can be rolled back.
//!
//! What a path is decides what may be done to it, at plan time: a rollback only ever acts
//! on a path that is now of the kind the transaction left it (file, directory, nothing) or
//! of the kind it puts back, or absent. A path of any other kind (a file where a directory
//! is to be put back, a directory where a file was, a symlink, a FIFO) is refused, forced or
//! not, naming the path, what it is and what was expected: a rollback never turns one kind
//! of thing into another, never chmods something that is not what it restores. A file the
//! transaction wrote over `limits.max_file_size` can still be rolled back: its size is
//! known from the journal.

use crate::content::Content;
use crate::error::{Error, Result};
use crate::fsx::Root;
use crate::journal::Journal;
use crate::paths::RelPath;
use crate::plan::{observe, Effect, Observed, Op};
use crate::recovery::intents_of;
use crate::store::Store;
use journal_format::{Body, Intent, Node, OpKind, TxnState, Xattrs};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The extended attributes each restored file gets back (as recorded).
    pub xattrs: BTreeMap<RelPath, Xattrs>,
    /// The store object each restored file's bytes come from: the base the file it
    /// replaces is backed up against (a delta, SPEC.md section 2).
    pub bases: BTreeMap<RelPath, journal_format::Digest>,
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
    hints: &crate::hint::Hints,
) -> Result<RollbackPlan> {
    if let Some(p) = &journal.problem {
        return Err(p.to_error(root));
    }
    if let Some(t) = journal.find(txn) {
        return plan_of(root, t, rolled_back_by(journal, txn), (force, cap), hints);
    }
    // A transaction of a journal moved aside: read there, verified up to its damage.
    let old =
        crate::quarantine::find(root, journal.mac(), txn)?.ok_or(Error::NoSuchTransaction(txn))?;
    let t = old.find(txn).ok_or(Error::NoSuchTransaction(txn))?;
    let by = rolled_back_by(journal, txn).or_else(|| rolled_back_by(&old, txn));
    plan_of(root, t, by, (force, cap), hints)
}

fn plan_of(
    root: &Root,
    t: &crate::journal::TxnFile,
    rolled_back: Option<u64>,
    (force, cap): (bool, u64),
    hints: &crate::hint::Hints,
) -> Result<RollbackPlan> {
    let txn = t.txn;
    if !t.verified {
        return Err(Error::Refused(format!(
            "transaction {txn} is tagged with an earlier journal key (before a key rotation) and cannot be verified with journal_key_file: it is not rolled back"
        )));
    }
    if t.state() != TxnState::Committed {
        return Err(Error::Refused(format!(
            "transaction {txn} was not committed"
        )));
    }
    if let Some(by) = rolled_back {
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
        xattrs: BTreeMap::new(),
        bases: BTreeMap::new(),
    };
    for it in intents_of(t).iter().rev().filter(|i| done.contains(&i.op)) {
        plan_one(root, it, force, cap, &mut plan)?;
    }
    if !plan.changed.is_empty() && !force {
        return Err(Error::Refused(format!(
            "changed since transaction {txn}: {} (`{}` rolls back anyway; the current content is backed up first)",
            plan.changed.join(", "),
            hints.command(&["rollback", &txn.to_string(), "--force"])
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
    let now = observe(root, &rel, cap_for(it, cap))?;
    let fetched = prefetch(root, it, &now)?;
    let Some(node) = now.node().cloned() else {
        let why = now.untouchable.clone().unwrap_or_default();
        return Err(mismatch(plan.target, it, &rel, &why));
    };
    if node != it.after {
        plan.changed.push(rel.to_string());
    }
    if node == it.before {
        return Ok(());
    }
    if !allowed(it, &node) {
        return Err(mismatch(
            plan.target,
            it,
            &rel,
            &format!("is {}", kind(&node)),
        ));
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
    let action = inverse(root, it, &node, fetched)?;
    if let (Effect::WriteFile { .. }, Node::File { sha256, .. }) = (&action, &it.before) {
        let recorded = it.xattrs.as_deref().cloned().unwrap_or_default();
        plan.xattrs.insert(rel.clone(), recorded);
        plan.bases.insert(rel.clone(), it.object.unwrap_or(*sha256));
    }
    plan.ops.push(Op {
        heal: crate::plan::HealKind::Rollback,
        message: message(&rel, &action, &it.before),
        reason: format!(
            "undo op {} ({}) of the rolled-back transaction",
            it.op,
            it.kind.name()
        ),
        path: Some(rel),
        action,
        before: now,
    });
    Ok(())
}

/// The size cap for looking at an intent's path: the configured one, or the size of the
/// file the transaction found or wrote there when that is larger (known from the journal,
/// so reading it back is bounded all the same).
fn cap_for(it: &Intent, cap: u64) -> u64 {
    let size = |n: &Node| match n {
        Node::File { size, .. } => *size,
        _ => 0,
    };
    cap.max(size(&it.before)).max(size(&it.after))
}

/// Whether the rollback may act on a path that is now `now`: nothing there, or the kind
/// the transaction left (`after`), or the kind it puts back (`before`).
fn allowed(it: &Intent, now: &Node) -> bool {
    let same = |a: &Node, b: &Node| std::mem::discriminant(a) == std::mem::discriminant(b);
    matches!(now, Node::Absent) || same(now, &it.after) || same(now, &it.before)
}

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Absent => "absent",
        Node::File { .. } => "a file",
        Node::Dir { .. } => "a directory",
    }
}

/// The refusal for a path of the wrong kind.
fn mismatch(txn: u64, it: &Intent, rel: &RelPath, what: &str) -> Error {
    Error::Refused(format!(
        "{rel} {what}, where transaction {txn} left {} and its rollback would put back {}: refused, with or without --force (move it away first)",
        kind(&it.after),
        kind(&it.before)
    ))
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
                && matches!(op.action, Effect::RemoveFile | Effect::RemoveDir)
        });
        if !removed {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The verified bytes a large file is certain to be restored from (it is a file now, of
/// another size than the one put back), read while another thread hashes the current
/// content (`now`'s node): the two costs of planning its rollback overlap. `None` when the
/// restore is not certain or the file is small; [`inverse`] then reads the object itself.
fn prefetch(root: &Root, it: &Intent, now: &Observed) -> Result<Option<Content>> {
    let (Node::File { sha256, size, .. }, Some(st)) = (&it.before, now.stat) else {
        return Ok(None);
    };
    let large = st.size >= crate::store::LARGE_OBJECT as u64;
    if now.bytes.is_none() || st.size == *size || !large {
        return Ok(None);
    }
    std::thread::scope(|scope| {
        // A thread that cannot be started leaves the hash to the caller.
        let _ = std::thread::Builder::new().spawn_scoped(scope, || now.node().is_some());
        restored(root, it.object.unwrap_or(*sha256), *size)
    })
    .map(Some)
}

/// The bytes of `object`, verified: the store proved they hash to its name, so the
/// intent's `after` need not hash them again.
fn restored(root: &Root, object: journal_format::Digest, size: u64) -> Result<Content> {
    Ok(Content::with_sha256(
        Store::new(root).get(&object, size)?,
        object,
    ))
}

/// The action that turns `now` back into the intent's `before` state, with the backup
/// bytes already fetched and verified (`fetched`, when [`prefetch`] read them).
fn inverse(root: &Root, it: &Intent, now: &Node, fetched: Option<Content>) -> Result<Effect> {
    Ok(match (&it.before, now) {
        (Node::Absent, Node::Dir { .. }) => Effect::RemoveDir,
        (Node::Absent, _) => Effect::RemoveFile,
        (Node::File { sha256, mode, .. }, Node::File { sha256: cur, .. }) if sha256 == cur => {
            Effect::SetMode { mode: mode.0 }
        }
        (Node::File { sha256, size, mode }, _) => {
            let bytes = match fetched {
                Some(bytes) => bytes,
                None => restored(root, it.object.unwrap_or(*sha256), *size)?,
            };
            Effect::WriteFile {
                bytes,
                mode: mode.0,
                owner: it.meta.map(|m| (m.uid, m.gid)),
                mtime: it.meta.map(|m| (m.mtime_sec, m.mtime_nsec)),
            }
        }
        (Node::Dir { mode }, Node::Absent) => Effect::CreateDir { mode: mode.0 },
        (Node::Dir { mode }, _) => Effect::SetMode { mode: mode.0 },
    })
}

fn message(rel: &RelPath, action: &Effect, before: &Node) -> String {
    match (action, before) {
        (Effect::RemoveDir, _) => format!("Removed directory: {rel}"),
        (Effect::RemoveFile, _) => format!("Removed file: {rel}"),
        (Effect::SetMode { mode }, _) => format!("Restored mode {mode:04o}: {rel}"),
        (Effect::CreateDir { .. }, _) => format!("Recreated directory: {rel}"),
        _ => format!("Restored file: {rel}"),
    }
}

impl RollbackPlan {
    /// The observations of the rollback's targets (what the engine re-checks).
    pub fn targets(&self) -> Vec<&Observed> {
        self.ops.iter().map(|o| &o.before).collect()
    }
}
