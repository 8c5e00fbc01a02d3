//! Retention of the journal and the backup store (SPEC.md section 10, "Pruning"): which
//! transactions may go (always a prefix of the journal), which backup objects are still
//! needed, and the write order that keeps the journal verifiable at every instant — the
//! prune transaction with its `checkpoint` is committed and durable before any file is
//! removed. Never touches a state file; never removes an object a remaining transaction's
//! rollback needs. Callers hold the lock and have run recovery.

use crate::config::Layout;
use crate::error::Result;
use crate::fsx::{Entry, Kind, Root};
use crate::journal::totals::{self, Totals};
use crate::journal::{Journal, Source, TxnFile};
use crate::paths::RelPath;
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
    /// Only transactions that began at least this long ago may go — unless the journal
    /// holds more than `max_transactions`: then the oldest go down to that bound, however
    /// young.
    pub older_than: Duration,
    /// The most transactions the journal keeps.
    pub max_transactions: u64,
}

impl Policy {
    /// The configured retention (`retention.keep`, `retention.older_than`,
    /// `retention.max_transactions`).
    pub fn of(layout: &Layout) -> Policy {
        Policy {
            keep: layout.config.retention.keep,
            older_than: layout.retention_older_than,
            max_transactions: layout.config.retention.max_transactions,
        }
    }

    /// The smallest batch automatic retention prunes: max(1, keep / 10).
    fn batch(&self) -> usize {
        usize::try_from(self.keep / 10).unwrap_or(usize::MAX).max(1)
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
    /// Saved torn tails removed (older than `older_than`, or beyond the newest
    /// `MAX_TORN`).
    pub torn_removed: usize,
    /// Journals moved aside by a quarantine and removed (older than `older_than`).
    pub quarantines_removed: usize,
}

/// The most saved torn tails kept.
pub const MAX_TORN: usize = 100;

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
    let mut report = PruneReport::default();
    (report.torn_removed, report.quarantines_removed) = sweep_aside(root, policy, now)?;
    if journal.source == Source::Index {
        if trigger == Trigger::AfterHeal && !due(&journal.facts, policy, now) {
            report.remaining = usize::try_from(journal.facts.kept).unwrap_or(usize::MAX);
            return Ok(report);
        }
        let (mac, positions) = (journal.mac().clone(), journal.positions().to_vec());
        *journal = Journal::load_full(root, mac, &positions)?;
        if let Some(p) = &journal.problem {
            return Err(p.to_error(root));
        }
    }
    let plan = plan(journal, policy, now, trigger);
    let leftovers = journal.txns.iter().any(|t| journal.is_leftover(t.txn));
    report.pinned = plan.pinned;
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
            "policy": {"keep": policy.keep, "older_than_s": policy.older_than.as_secs(),
                       "max_transactions": policy.max_transactions},
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
    let small = trigger == Trigger::AfterHeal && sel.txns.len() < policy.batch();
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
    let cutoff = cutoff(policy, now);
    // Over the bound, the oldest go down to the bound less one batch, so that automatic
    // retention does not prune at every run once the journal is full.
    let max = usize::try_from(policy.max_transactions).unwrap_or(usize::MAX);
    let excess = match kept.len() > max {
        true => kept.len() - max.saturating_sub(policy.batch()).max(1),
        false => 0,
    };
    let mut sel = Selection {
        txns: Vec::new(),
        pinned: None,
    };
    for (i, t) in kept.into_iter().take(limit).enumerate() {
        let old_enough = i < excess
            || match (began_at(t), cutoff) {
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

fn cutoff(
    policy: &Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::Duration::from_std(policy.older_than)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
}

/// Whether automatic retention may find a batch to prune, by the journal's facts alone (a
/// run that read only the index decides without reading the journal): more transactions
/// than the bound, or a batch beyond the `keep` newest with the oldest old enough.
fn due(facts: &crate::journal::Facts, policy: &Policy, now: chrono::DateTime<chrono::Utc>) -> bool {
    if facts.kept > policy.max_transactions {
        return true;
    }
    let beyond = facts.counting.saturating_sub(policy.keep);
    let old = match (facts.oldest_began.as_deref(), cutoff(policy, now)) {
        (Some(b), Some(c)) => chrono::DateTime::parse_from_rfc3339(b).is_ok_and(|b| b <= c),
        _ => false,
    };
    beyond >= policy.batch() as u64 && old
}

/// Removes saved torn tails older than `older_than` or beyond the newest [`MAX_TORN`], and
/// journals moved aside longer than `older_than` ago (after which their transactions can
/// no longer be rolled back, and their backup objects go with the next prune).
fn sweep_aside(
    root: &Root,
    policy: &Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(usize, usize)> {
    let Some(cut) = cutoff(policy, now) else {
        return Ok((0, 0));
    };
    let torn_dir = RelPath::new(crate::paths::TORN_DIR)?;
    let mut torn: Vec<(i64, String)> = root
        .list(Some(&torn_dir))?
        .into_iter()
        .filter(|e| e.kind == Kind::File && e.name.ends_with(".torn"))
        .map(|e| (torn_nanos(&e.name), e.name))
        .collect();
    torn.sort();
    let keep_from = torn.len().saturating_sub(MAX_TORN);
    let cut_ns = cut.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let old: Vec<RelPath> = torn
        .iter()
        .enumerate()
        .filter(|(i, (ns, _))| *i < keep_from || *ns < cut_ns)
        .filter_map(|(_, (_, name))| torn_dir.join(name).ok())
        .collect();
    for p in &old {
        root.unlink(p)?;
    }
    if !old.is_empty() {
        root.sync_dir(&torn_dir)?;
    }
    let mut moved = 0;
    for dir in crate::quarantine::moved_journals(root)? {
        if crate::quarantine::moved_at(&dir).is_some_and(|t| t < cut) {
            root.remove_tree(&dir)?;
            moved += 1;
        }
    }
    Ok((old.len(), moved))
}

/// When a torn tail was saved, from its name (`<file>.<nanos>.torn`); unknown: the oldest.
fn torn_nanos(name: &str) -> i64 {
    name.trim_end_matches(".torn")
        .rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(i64::MIN)
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
    let ts = totals::began(t)?;
    chrono::DateTime::parse_from_rfc3339(&ts)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Whether `t` records a lossy salvage that no `ack` names: its critical must outlive
/// retention until an operator acknowledges it.
fn is_pinned(journal: &Journal, t: &TxnFile) -> bool {
    crate::journal::acks::needs_ack(t) && !crate::journal::acks::acknowledged(journal, t.txn)
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
    let mut needed = needed_objects(remaining);
    // The journals moved aside keep their objects while they are kept.
    needed.extend(crate::quarantine::needed_objects(root, journal.mac())?);
    unneeded(&Store::new(root), needed)
}

/// The objects in the store that are neither in `needed` nor the base of a delta in it: a
/// delta kept is never left without its base.
fn unneeded(store: &Store<'_>, mut needed: BTreeSet<Digest>) -> Result<Vec<Digest>> {
    let all = store.list()?;
    let mut bases = Vec::new();
    for d in all.iter().filter(|d| needed.contains(d)) {
        // A delta's base is always a full object (SPEC.md section 2): one level.
        bases.extend(store.delta_base(d)?);
    }
    needed.extend(bases);
    Ok(all.into_iter().filter(|d| !needed.contains(d)).collect())
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
    root.sync_dir(&RelPath::new(crate::paths::JOURNAL_DIR)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{sha256, Put};

    /// Content of `n` bytes that a delta against `base` encodes in a few bytes.
    fn similar(base: &[u8]) -> Vec<u8> {
        let mut v = base.to_vec();
        v.extend_from_slice(b"]}");
        v
    }

    #[test]
    fn a_kept_delta_keeps_its_base_and_an_unneeded_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::create(dir.path()).expect("root");
        for d in ["logs", "logs/backups", crate::paths::OBJECTS_DIR] {
            let rel = RelPath::new(d).expect("path");
            root.ensure_dir(&rel, 0o700).expect("dir");
        }
        let store = Store::new(&root);
        let base: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 251) as u8).collect();
        let (base_sha, content) = (sha256(&base), similar(&base));
        let sha = sha256(&content);
        let other = b"not needed".to_vec();
        assert!(matches!(store.put(&base, &base_sha), Ok(Put::Written(_))));
        let written = store.put_delta(&content, &sha, &base, &base_sha);
        assert!(
            matches!(written, Ok(Put::Written(n)) if n < 4096),
            "{written:?}"
        );
        assert_eq!(store.delta_base(&sha).ok(), Some(Some(base_sha)));
        assert!(store.put(&other, &sha256(&other)).is_ok());
        // Only the delta is named: its base stays, the unnamed object goes.
        let gone = unneeded(&store, BTreeSet::from([sha])).expect("unneeded");
        assert_eq!(gone, vec![sha256(&other)]);
        // Nothing named: all three go.
        let gone = unneeded(&store, BTreeSet::new()).expect("unneeded");
        assert_eq!(gone.len(), 3);
        assert_eq!(store.get(&sha, content.len() as u64).ok(), Some(content));
    }
}
