//! Retention of the journal and the backup store (SPEC.md section 10, "Pruning"): which
//! transactions may go (always a prefix of the journal), which backup objects are still
//! needed, and the write order that keeps the journal verifiable at every instant — the
//! prune transaction with its `checkpoint` is committed and durable before any file is
//! removed. Never touches a state file; never removes an object a remaining transaction's
//! rollback needs. Callers hold the lock and have run recovery.

use crate::config::Layout;
use crate::error::Result;
use crate::fsx::{Entry, Kind, Root};
use crate::journal::{Journal, TxnFile};
use crate::paths::RelPath;
use crate::stats::{self, Totals};
use crate::store::Store;
use journal_format::{self as jf, Body, Checkpoint, Commit, Digest, Node, TxnState};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// What may be pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The newest `keep` transactions other than prunes always stay (prune transactions,
    /// and transactions that never began, are bookkeeping: they go with the prefix they
    /// fall in).
    pub keep: u64,
    /// Only transactions that began at least this long ago may go.
    pub older_than: Duration,
}

impl Policy {
    /// The configured retention (`retention.keep`, `retention.older_than`).
    pub fn of(layout: &Layout) -> Policy {
        Policy {
            keep: layout.config.retention.keep,
            older_than: layout.retention_older_than,
        }
    }
}

/// Who asked for retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `selfheal prune`: prunes whatever the policy allows, and also sweeps backup objects
    /// no transaction names.
    Command,
    /// The end of a heal (`retention.auto`): prunes only a batch of at least
    /// max(1, keep / 10) transactions, so prune transactions stay few; costs no I/O when
    /// there is nothing to do.
    AfterHeal,
}

/// The transactions a prune removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    /// The oldest.
    pub from_txn: u64,
    /// The newest (the checkpoint's `through_txn`).
    pub through_txn: u64,
    /// How many.
    pub transactions: usize,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The prune transaction, when transactions were pruned.
    pub transaction: Option<u64>,
    /// The transactions pruned by this run.
    pub pruned: Option<Range>,
    /// Journal files removed (this run's and leftovers of an interrupted prune).
    pub files_removed: usize,
    /// Backup objects removed.
    pub objects_removed: usize,
    /// Bytes those files and objects held.
    pub bytes_freed: u64,
    /// Transactions remaining.
    pub remaining: usize,
    /// A transaction retention stopped at because it must stay (an unacknowledged lossy
    /// salvage), when that is what kept older-than-policy transactions.
    pub pinned: Option<u64>,
}

/// The transactions selected, oldest first, and the pinned one that stopped selection.
struct Selection<'j> {
    txns: Vec<&'j TxnFile>,
    pinned: Option<u64>,
}

/// Runs retention (SPEC.md section 10).
///
/// # Errors
/// A journal problem; I/O errors (after the commit the journal still verifies, and the
/// next prune finishes the removal).
pub fn run(
    root: &Root,
    journal: &mut Journal,
    policy: &Policy,
    now: chrono::DateTime<chrono::Utc>,
    trigger: Trigger,
) -> Result<PruneReport> {
    if let Some(p) = &journal.problem {
        return Err(p.to_error(root));
    }
    let plan = plan(journal, policy, now, trigger);
    let leftovers = journal.txns.iter().any(|t| journal.is_leftover(t.txn));
    let mut report = PruneReport {
        pinned: plan.pinned,
        ..PruneReport::default()
    };
    if plan.pruned.is_empty() && !leftovers && trigger == Trigger::AfterHeal {
        report.remaining = journal.kept().count();
        return Ok(report);
    }
    let files = files_to_remove(journal, &plan.pruned);
    let objects = objects_to_remove(root, journal, &plan.pruned)?;
    let bytes = sizes(root, &files, &objects)?;
    if let (Some(c), Some(range)) = (plan.checkpoint, range(&plan.pruned)) {
        let summary = json!({
            "pruned": range,
            "files_removed": files.len(),
            "objects_removed": objects.len(),
            "bytes_freed": bytes,
            "policy": {"keep": policy.keep, "older_than_s": policy.older_than.as_secs()},
            "carried": plan.carried,
        });
        // ORDER: the checkpoint is committed and durable before any file is removed.
        report.transaction = Some(commit_prune(root, journal, c, summary)?);
        report.pruned = Some(range);
    }
    remove_files(root, &files)?;
    remove_objects(root, &objects)?;
    if let Some(anchor) = journal.anchor {
        journal.forget_pruned(anchor);
    }
    report.files_removed = files.len();
    report.objects_removed = objects.len();
    report.bytes_freed = bytes;
    report.remaining = journal.kept().count();
    Ok(report)
}

/// What a prune will remove from the journal, decided before anything is written.
struct Plan {
    /// The transactions selected, oldest first.
    pruned: Vec<u64>,
    /// The anchor the remaining chain will hang from.
    checkpoint: Option<Checkpoint>,
    /// The totals of the selected transactions, carried by the prune.
    carried: Totals,
    /// The pinned transaction that stopped the selection.
    pinned: Option<u64>,
}

fn plan(
    journal: &Journal,
    policy: &Policy,
    now: chrono::DateTime<chrono::Utc>,
    trigger: Trigger,
) -> Plan {
    let mut sel = select(journal, policy, now);
    let batch = usize::try_from(policy.keep / 10)
        .unwrap_or(usize::MAX)
        .max(1);
    let small = trigger == Trigger::AfterHeal && sel.txns.len() < batch;
    // Pruning nothing but bookkeeping would only replace one prune with another.
    if small || sel.txns.iter().all(|t| is_bookkeeping(t)) {
        sel.txns.clear();
    }
    Plan {
        pruned: sel.txns.iter().map(|t| t.txn).collect(),
        checkpoint: sel.txns.last().and_then(|t| checkpoint_of(t)),
        carried: Totals::of(sel.txns.iter().copied()),
        pinned: sel.pinned,
    }
}

/// The prefix of remaining transactions the policy lets go.
fn select<'j>(
    journal: &'j Journal,
    policy: &Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> Selection<'j> {
    let kept: Vec<&TxnFile> = journal.kept().collect();
    let limit = keep_boundary(&kept, policy.keep);
    let cutoff = chrono::Duration::from_std(policy.older_than)
        .ok()
        .and_then(|d| now.checked_sub_signed(d));
    let mut sel = Selection {
        txns: Vec::new(),
        pinned: None,
    };
    for t in kept.into_iter().take(limit) {
        let old_enough = match (began_at(t), cutoff) {
            (Some(b), Some(c)) => b <= c,
            _ => false,
        };
        if t.state() == TxnState::Unfinished || !old_enough {
            break;
        }
        if is_pinned(journal, t) {
            sel.pinned = Some(t.txn);
            break;
        }
        sel.txns.push(t);
    }
    sel
}

/// The index of the oldest of the `keep` newest transactions that count (0 when there are
/// fewer): only transactions before it may be pruned. Prunes and transactions that never
/// began (closed by recovery before their `begin` was durable) do not count.
fn keep_boundary(kept: &[&TxnFile], keep: u64) -> usize {
    if keep == 0 {
        return kept.len();
    }
    let mut seen = 0u64;
    for (i, t) in kept.iter().enumerate().rev() {
        if !is_bookkeeping(t) {
            seen += 1;
            if seen == keep {
                return i;
            }
        }
    }
    0
}

/// A prune, or a transaction closed by recovery before its `begin` was durable.
fn is_bookkeeping(t: &TxnFile) -> bool {
    matches!(t.command(), None | Some("prune"))
}

fn began_at(t: &TxnFile) -> Option<chrono::DateTime<chrono::Utc>> {
    let ts = stats::began(t)?;
    chrono::DateTime::parse_from_rfc3339(&ts)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Whether `t` records a lossy salvage that no `ack` names: its critical must outlive
/// retention until an operator acknowledges it.
fn is_pinned(journal: &Journal, t: &TxnFile) -> bool {
    crate::acks::needs_ack(t) && !crate::acks::acknowledged(journal, t.txn)
}

fn checkpoint_of(t: &TxnFile) -> Option<Checkpoint> {
    t.entries.last().map(|e| Checkpoint {
        through_txn: t.txn,
        seq: e.record.seq,
        hash: e.tag,
    })
}

fn range(pruned: &[u64]) -> Option<Range> {
    Some(Range {
        from_txn: *pruned.first()?,
        through_txn: *pruned.last()?,
        transactions: pruned.len(),
    })
}

/// Journal files that go: this run's selection and leftovers of an earlier prune.
fn files_to_remove(journal: &Journal, pruned: &[u64]) -> Vec<RelPath> {
    journal
        .txns
        .iter()
        .filter(|t| journal.is_leftover(t.txn) || pruned.contains(&t.txn))
        .map(|t| t.path.clone())
        .collect()
}

/// Every object in the store that no transaction remaining after the prune needs.
fn objects_to_remove(root: &Root, journal: &Journal, pruned: &[u64]) -> Result<Vec<Digest>> {
    let remaining = journal.kept().filter(|t| !pruned.contains(&t.txn));
    let needed = needed_objects(remaining);
    Ok(Store::new(root)
        .list()?
        .into_iter()
        .filter(|d| !needed.contains(d))
        .collect())
}

/// The objects `txns` need: named by an intent (what a rollback restores), or the digest
/// of an intent's `before` or `after` file (what `journal show` diffs).
pub fn needed_objects<'a>(txns: impl Iterator<Item = &'a TxnFile>) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    for t in txns {
        for e in &t.entries {
            let Body::Intent(i) = &e.record.body else {
                continue;
            };
            out.extend(i.object);
            for node in [&i.before, &i.after] {
                if let Node::File { sha256, .. } = node {
                    out.insert(*sha256);
                }
            }
        }
    }
    out
}

fn sizes(root: &Root, files: &[RelPath], objects: &[Digest]) -> Result<u64> {
    let mut total = 0u64;
    let paths = files
        .iter()
        .cloned()
        .chain(objects.iter().map(Store::object_path));
    for p in paths {
        if let Entry::Present(st) = root.entry(&p)? {
            total = total.saturating_add(st.size);
        }
    }
    Ok(total)
}

/// Appends the prune transaction: `begin` (empty plan), `checkpoint`, `commit`, durable.
fn commit_prune(
    root: &Root,
    journal: &mut Journal,
    checkpoint: Checkpoint,
    summary: serde_json::Value,
) -> Result<u64> {
    let mut w = journal.begin(
        root,
        jf::Begin {
            command: "prune".into(),
            mode: None,
            pid: std::process::id(),
            plan: Vec::new(),
        },
    )?;
    w.append_many(
        vec![
            Body::Checkpoint(checkpoint),
            Body::Commit(Commit { summary }),
        ],
        true,
    )?;
    let id = w.txn();
    journal.absorb(w);
    journal.anchor = Some(checkpoint);
    Ok(id)
}

fn remove_files(root: &Root, files: &[RelPath]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    for f in files {
        root.unlink(f)?;
    }
    root.sync_dir(&RelPath::new(crate::journal::JOURNAL_DIR)?)
}

fn remove_objects(root: &Root, objects: &[Digest]) -> Result<()> {
    let mut dirs = BTreeSet::new();
    for d in objects {
        let path = Store::object_path(d);
        root.unlink(&path)?;
        dirs.extend(path.parent());
    }
    for dir in dirs {
        root.sync_dir(&dir)?;
    }
    Ok(())
}

/// Total size in bytes of the regular files in selfheal's own subdirectories of
/// `logs/backups/` (journal, objects, torn tails), for the size warning; the bot's own
/// backups beside them are not counted.
///
/// # Errors
/// I/O errors listing or reading metadata.
pub fn backups_size(root: &Root) -> Result<u64> {
    let mut total = 0u64;
    let mut stack = Vec::new();
    for dir in crate::journal::OWN_DIRS {
        let rel = RelPath::new(dir)?;
        if matches!(root.entry(&rel)?, Entry::Present(st) if st.kind == Kind::Dir) {
            stack.push(rel);
        }
    }
    while let Some(dir) = stack.pop() {
        for e in root.list(Some(&dir))? {
            let Ok(child) = dir.join(&e.name) else {
                continue;
            };
            match e.kind {
                Kind::Dir => stack.push(child),
                Kind::File => {
                    if let Entry::Present(st) = root.entry(&child)? {
                        total = total.saturating_add(st.size);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(total)
}
