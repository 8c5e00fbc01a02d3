//! The model of the engine fuzz target: what each path of the state held after every step,
//! who put it there, the state each transaction started from (its pre-image), and every
//! version of a file that must stay recoverable. It is fed the trees before and after each
//! step and the journal as read after it, and says what broke.
//!
//! # The rules
//!
//! - **Journaled**: a command changes a path only if an intent of a transaction it wrote,
//!   or of the interrupted one its recovery closed, names the path; besides that, it may
//!   only create `logs/` and `logs/backups/` (its own directories), empty lock files (the
//!   bot's lock protocol) and the alert log.
//! - **Pre-images**: a transaction starts from the tree before its command, with the paths
//!   of the interrupted transaction that the command's recovery restored (or found
//!   unchanged) put back to that transaction's own pre-image. Where a recovery closes an
//!   interrupted transaction, every path it restored or found unchanged, and that nothing
//!   later in the command touched, is exactly (bytes, mode, existence) its pre-image again.
//! - **Nothing lost**: a version (SHA-256 of a file's bytes) is *published* when the bot or
//!   an operator (the fuzzer's own steps) wrote it, or when it is the `after` of an
//!   operation of a committed transaction. A published, non-empty version that a command
//!   displaced from a path (the path held it before the command and not after) is
//!   *required* from then on: the journal must name it when it is displaced (the `before`,
//!   `after` or `object` of an intent), and after every later step it must be on disk at
//!   some path of the state, or in the backup store (verified by digest), or every
//!   transaction whose intent names it must have been pruned (`Journal::anchor`). What the
//!   bot or an operator overwrites or removes itself is theirs to lose; what an interrupted
//!   transaction wrote and recovery took back was never published.
//! - **Recovery**: a writing command that ran without a fault, after an interrupted one
//!   and with nothing changed by the bot or an operator since (and no bot lock held), leaves
//!   no unfinished transaction.
//! - **Retention**: a transaction is pruned only when at least `keep` transactions that
//!   are not bookkeeping (prunes, and transactions that never began) are newer than it,
//!   and it vanishes from the journal only when pruned.

use super::disk::{journal_node, same, Node, Tree, ALERT_LOG};
use crate::journal::{Journal, TxnFile};
use crate::store::Store;
use journal_format::{
    Body, Decision, Digest, Intent, Node as JNode, OpOutcome, TxnState, UndoOutcome,
};
use std::collections::{BTreeMap, BTreeSet};

/// Who put the current content of a path there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The bot or an operator.
    Outside,
    /// A selfheal command.
    Selfheal,
}

/// A transaction as last read from the journal.
#[derive(Debug, Clone)]
pub struct TxnView {
    /// Committed, aborted or unfinished.
    pub state: TxnState,
    /// The `begin` record's command.
    pub command: Option<String>,
    /// Its intents.
    pub intents: Vec<Intent>,
    /// The operations done.
    pub done: BTreeSet<u32>,
    /// The outcomes of its `abort`.
    pub outcomes: Vec<OpOutcome>,
}

impl TxnView {
    fn of(t: &TxnFile) -> TxnView {
        let mut v = TxnView {
            state: t.state(),
            command: t.command().map(str::to_string),
            intents: Vec::new(),
            done: BTreeSet::new(),
            outcomes: Vec::new(),
        };
        for e in &t.entries {
            match &e.record.body {
                Body::Intent(i) => v.intents.push(i.clone()),
                Body::Done(d) => {
                    v.done.insert(d.op);
                }
                Body::Abort(a) => v.outcomes.clone_from(&a.ops),
                _ => {}
            }
        }
        v
    }

    /// The paths of its operations that were done (what a rollback puts back).
    pub fn done_paths(&self) -> Vec<String> {
        self.intents
            .iter()
            .filter(|i| self.done.contains(&i.op))
            .filter_map(|i| i.path.clone())
            .collect()
    }

    fn is_bookkeeping(&self) -> bool {
        matches!(self.command.as_deref(), None | Some("prune"))
    }
}

/// A version that must stay recoverable.
#[derive(Debug, Clone)]
struct Required {
    size: u64,
    path: String,
    step: usize,
}

/// What a command step saw.
pub struct Seen<'a> {
    /// The step's number (1-based).
    pub step: usize,
    /// The tree before the command.
    pub before: &'a Tree,
    /// The tree after it (and after a power cut dropped what it could).
    pub after: &'a Tree,
    /// The journal after it.
    pub journal: &'a Journal,
    /// The root, to look into the store.
    pub root: &'a crate::fsx::Root,
    /// Whether a fault was injected and fired (or the power was cut after the command).
    pub faulted: bool,
    /// Whether the bot held a lock during the command.
    pub locks_held: bool,
    /// The `keep` the command's retention ran with, if it pruned.
    pub keep: Option<u64>,
}

/// The model.
#[derive(Debug, Default)]
pub struct Model {
    /// The state after the last step.
    pub tree: Tree,
    origin: BTreeMap<String, Origin>,
    required: BTreeMap<Digest, Required>,
    /// Every transaction ever read, as last read.
    pub txns: BTreeMap<u64, TxnView>,
    /// The pre-image of each transaction.
    pub pre: BTreeMap<u64, Tree>,
    /// Transactions up to this one were pruned.
    anchor: Option<u64>,
    /// The unfinished transaction after the last step.
    pending: Option<u64>,
    /// The state was changed from outside since `pending` was interrupted.
    interfered: bool,
}

fn file_sha(n: Option<&Node>) -> Option<(Digest, u64)> {
    match n {
        Some(Node::File { sha, size, .. }) => Some((*sha, *size)),
        _ => None,
    }
}

fn jsha(n: &JNode) -> Option<Digest> {
    match n {
        JNode::File { sha256, .. } => Some(*sha256),
        _ => None,
    }
}

impl Model {
    /// The model of the seed state.
    pub fn new(tree: Tree) -> Model {
        let origin = tree.keys().map(|k| (k.clone(), Origin::Outside)).collect();
        Model {
            tree,
            origin,
            ..Model::default()
        }
    }

    /// After the bot or an operator changed the state: `tree` is the state now.
    pub fn outside(&mut self, tree: Tree) {
        let named: BTreeSet<String> = self
            .pending
            .and_then(|u| self.txns.get(&u))
            .map(|v| v.intents.iter().filter_map(|i| i.path.clone()).collect())
            .unwrap_or_default();
        let paths: BTreeSet<&String> = self.tree.keys().chain(tree.keys()).collect();
        for path in paths {
            if self.tree.get(path) == tree.get(path) {
                continue;
            }
            self.origin.insert(path.clone(), Origin::Outside);
            if named.contains(path) {
                self.interfered = true;
            }
        }
        self.origin.retain(|p, _| tree.contains_key(p));
        self.tree = tree;
    }

    /// Takes in a writing command's step and checks every rule.
    ///
    /// # Errors
    /// The first rule broken, in words.
    pub fn command(&mut self, s: &Seen<'_>) -> Result<(), String> {
        let known: BTreeSet<u64> = self.txns.keys().copied().collect();
        let vanished = self.read_journal(s)?;
        let new: Vec<u64> = self
            .txns
            .keys()
            .copied()
            .filter(|t| !known.contains(t))
            .collect();
        // A transaction pruned in the step it was recovered in is seen only as it was left.
        let recovered = self.pending.filter(|u| {
            vanished.contains(u)
                || self
                    .txns
                    .get(u)
                    .is_some_and(|v| v.state != TxnState::Unfinished)
        });
        let base = self.recovered_tree(s, recovered, &new)?;
        for t in &new {
            self.pre.insert(*t, base.clone());
        }
        self.journaled(s, recovered, &new)?;
        self.displaced(s)?;
        self.settle(s, recovered)?;
        self.nothing_lost(s)
    }

    /// Reads the transactions of the journal, checking that none vanished unpruned and
    /// that retention kept what it must.
    fn read_journal(&mut self, s: &Seen<'_>) -> Result<BTreeSet<u64>, String> {
        let anchor = s.journal.anchor.map(|c| c.through_txn);
        let present: BTreeSet<u64> = s.journal.txns.iter().map(|t| t.txn).collect();
        let mut vanished = BTreeSet::new();
        for t in self.txns.keys() {
            if present.contains(t) || self.anchor.is_some_and(|a| *t <= a) {
                continue;
            }
            if anchor.is_none_or(|a| *t > a) {
                return Err(format!(
                    "transaction {t} vanished from the journal without being pruned"
                ));
            }
            vanished.insert(*t);
        }
        for t in &s.journal.txns {
            self.txns.insert(t.txn, TxnView::of(t));
        }
        match (s.keep, anchor) {
            (Some(keep), Some(a)) => self.retention_kept(keep, self.anchor, a)?,
            (None, a) if a != self.anchor => {
                return Err(format!(
                    "the command pruned (through {a:?}, before {:?}) though it does not prune",
                    self.anchor
                ))
            }
            _ => {}
        }
        self.anchor = anchor;
        Ok(vanished)
    }

    /// Transactions pruned through `now` (after `before`) had `keep` transactions newer.
    fn retention_kept(&self, keep: u64, before: Option<u64>, now: u64) -> Result<(), String> {
        let from = before.map_or(0, |b| b + 1);
        if from > now {
            return Ok(());
        }
        for (t, _) in self.txns.range(from..=now) {
            let newer = self
                .txns
                .range(t + 1..)
                .filter(|(_, v)| !v.is_bookkeeping())
                .count() as u64;
            if newer < keep {
                return Err(format!(
                    "transaction {t} was pruned with only {newer} counted transactions newer (keep {keep})"
                ));
            }
        }
        Ok(())
    }

    /// The tree a transaction begun in this step started from. The recovery of
    /// `recovered` is predicted by the decision table (`journal_format::decide`) on the tree
    /// before the step; its `abort`, when still in the journal, must agree; and each path
    /// it restored (or found unchanged) that nothing later touched is its pre-image again.
    fn recovered_tree(
        &self,
        s: &Seen<'_>,
        recovered: Option<u64>,
        new: &[u64],
    ) -> Result<Tree, String> {
        let mut base = s.before.clone();
        let Some(u) = recovered else {
            return Ok(base);
        };
        let (Some(view), Some(pre)) = (self.txns.get(&u), self.pre.get(&u)) else {
            return Err(format!("transaction {u} has no pre-image in the model"));
        };
        let touched: BTreeSet<String> = new
            .iter()
            .filter_map(|t| self.txns.get(t))
            .flat_map(|v| v.intents.iter().filter_map(|i| i.path.clone()))
            .collect();
        for i in &view.intents {
            let Some(path) = i.path.as_deref() else {
                continue;
            };
            let decision = journal_node(s.before.get(path))
                .map_or(Decision::Conflict, |now| journal_format::decide(i, &now));
            let observed = view.outcomes.iter().find(|o| o.op == i.op);
            if let Some(o) = observed {
                agrees(u, path, decision, o)?;
                self.kept_in_store(s, u, path, o)?;
            }
            let restored = match observed {
                Some(o) => matches!(o.outcome, UndoOutcome::Restored | UndoOutcome::Unchanged),
                None => matches!(decision, Decision::Restore | Decision::Nothing),
            };
            if !restored {
                continue;
            }
            let want = pre.get(path);
            match want {
                Some(n) => base.insert(path.to_string(), n.clone()),
                None => base.remove(path),
            };
            if !touched.contains(path) && !same(s.after.get(path), want) {
                return Err(format!(
                    "recovery of transaction {u} left {path} as {:?}, not its pre-image {want:?}",
                    s.after.get(path)
                ));
            }
        }
        Ok(base)
    }

    /// A newer version recovery kept is in the store under the object its abort names.
    fn kept_in_store(&self, s: &Seen<'_>, u: u64, path: &str, o: &OpOutcome) -> Result<(), String> {
        let (UndoOutcome::KeptCurrent, Some(obj)) = (o.outcome, o.object) else {
            return Ok(());
        };
        let size = file_sha(s.before.get(path)).map_or(0, |(_, n)| n);
        if Store::new(s.root).get(&obj, size).is_err() {
            return Err(format!(
                "recovery of {u} kept a newer version of {path} as object {} that the store does not hold",
                obj.to_hex()
            ));
        }
        Ok(())
    }

    /// Every change of the step is named by an intent (or is one of the few unjournaled
    /// creations a command may make).
    fn journaled(&self, s: &Seen<'_>, recovered: Option<u64>, new: &[u64]) -> Result<(), String> {
        let named: BTreeSet<String> = new
            .iter()
            .chain(recovered.iter())
            .chain(self.pending.iter())
            .filter_map(|t| self.txns.get(t))
            .flat_map(|v| v.intents.iter().filter_map(|i| i.path.clone()))
            .collect();
        let paths: BTreeSet<&String> = s.before.keys().chain(s.after.keys()).collect();
        for p in paths {
            let (b, a) = (s.before.get(p), s.after.get(p));
            if same(b, a) || named.contains(p.as_str()) {
                continue;
            }
            let bootstrap = matches!(p.as_str(), "logs" | "logs/backups")
                && b.is_none()
                && matches!(a, Some(Node::Dir { .. }));
            let lock = created_lock(p, b, a);
            let log = p == ALERT_LOG && b.is_none();
            if !(bootstrap || lock || log) {
                return Err(format!(
                    "{p} changed from {b:?} to {a:?} with no journal intent naming it"
                ));
            }
        }
        Ok(())
    }

    /// Versions displaced by the step become required; the journal must name each.
    fn displaced(&mut self, s: &Seen<'_>) -> Result<(), String> {
        let refs = self.references();
        for (path, node) in s.before {
            let Some((sha, size)) = file_sha(Some(node)) else {
                continue;
            };
            if size == 0 || file_sha(s.after.get(path)).is_some_and(|(now, _)| now == sha) {
                continue;
            }
            let outside = self.origin.get(path) == Some(&Origin::Outside);
            if !outside && !self.published_by_selfheal(path, &sha) {
                continue;
            }
            if !refs.contains_key(&sha) {
                return Err(format!(
                    "{path}: version {} ({size} bytes) was displaced and no journal intent names it",
                    sha.to_hex()
                ));
            }
            self.required.entry(sha).or_insert(Required {
                size,
                path: path.clone(),
                step: s.step,
            });
        }
        Ok(())
    }

    /// Whether selfheal's version `sha` at `path` counts as published: it is not what an
    /// interrupted or aborted transaction wrote there, unless a committed one wrote it too.
    fn published_by_selfheal(&self, path: &str, sha: &Digest) -> bool {
        let wrote = |v: &TxnView| {
            v.intents
                .iter()
                .any(|i| i.path.as_deref() == Some(path) && jsha(&i.after) == Some(*sha))
        };
        let by_committed = self
            .txns
            .values()
            .any(|v| v.state == TxnState::Committed && wrote(v));
        let by_other = self
            .txns
            .values()
            .any(|v| v.state != TxnState::Committed && wrote(v));
        by_committed || !by_other
    }

    /// For each version, the transactions whose intents name it.
    fn references(&self) -> BTreeMap<Digest, BTreeSet<u64>> {
        let mut out: BTreeMap<Digest, BTreeSet<u64>> = BTreeMap::new();
        for (t, v) in &self.txns {
            for i in &v.intents {
                for d in [jsha(&i.before), jsha(&i.after), i.object]
                    .into_iter()
                    .flatten()
                {
                    out.entry(d).or_default().insert(*t);
                }
            }
        }
        out
    }

    /// The new tree, origins, the unfinished transaction and whether recovery closed the
    /// one it had to.
    fn settle(&mut self, s: &Seen<'_>, recovered: Option<u64>) -> Result<(), String> {
        for (path, node) in s.after {
            let before = s.before.get(path);
            let same_content = match (before, node) {
                (Some(Node::File { sha: a, .. }), Node::File { sha: b, .. }) => a == b,
                (Some(b), n) => std::mem::discriminant(b) == std::mem::discriminant(n),
                (None, _) => false,
            };
            if !same_content {
                self.origin.insert(path.clone(), Origin::Selfheal);
            }
        }
        self.origin.retain(|p, _| s.after.contains_key(p));
        self.tree = s.after.clone();
        let now = s.journal.unfinished().map(|t| t.txn);
        let stuck = self.pending.is_some() && now == self.pending && recovered.is_none();
        if stuck && !s.faulted && !self.interfered && !s.locks_held {
            return Err(format!(
                "transaction {} stayed unfinished though nothing changed since it was interrupted",
                self.pending.unwrap_or_default()
            ));
        }
        if now != self.pending {
            self.interfered = false;
        }
        self.pending = now;
        Ok(())
    }

    /// Every required version is on disk, in the store, or pruned with every transaction
    /// that named it.
    fn nothing_lost(&self, s: &Seen<'_>) -> Result<(), String> {
        let on_disk: BTreeSet<Digest> = s
            .after
            .values()
            .filter_map(|n| file_sha(Some(n)).map(|(d, _)| d))
            .collect();
        let refs = self.references();
        let store = Store::new(s.root);
        for (sha, r) in &self.required {
            if on_disk.contains(sha) || store.get(sha, r.size).is_ok() {
                continue;
            }
            let named = refs.get(sha).cloned().unwrap_or_default();
            let pruned = self
                .anchor
                .is_some_and(|a| !named.is_empty() && named.iter().all(|t| *t <= a));
            if !pruned {
                return Err(format!(
                    "version {} of {} ({} bytes, displaced at step {}) is lost: not on disk, not in the store, and transactions {named:?} naming it were not all pruned (pruned through {:?})",
                    sha.to_hex(),
                    r.path,
                    r.size,
                    r.step,
                    self.anchor
                ));
            }
        }
        Ok(())
    }
}

/// Whether recovery's recorded outcome for an operation on `path` of `u` is what the
/// decision table gives (an operator's `--keep-current` may keep anything).
fn agrees(u: u64, path: &str, d: Decision, o: &OpOutcome) -> Result<(), String> {
    let ok = match o.outcome {
        UndoOutcome::Restored => d == Decision::Restore,
        UndoOutcome::Unchanged => d == Decision::Nothing,
        UndoOutcome::KeptCurrent => o.object.is_none() || d == Decision::KeepNewer,
        UndoOutcome::Irreversible => d == Decision::Irreversible,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "recovery of transaction {u} recorded {:?} for {path}, but the decision table says {d:?}",
            o.outcome
        ))
    }
}

/// Whether `path` going from `before` to `after` is a bot lock file selfheal created empty,
/// unjournaled, before rewriting a managed file in place (as the bot's own locking does).
pub(super) fn created_lock(path: &str, before: Option<&Node>, after: Option<&Node>) -> bool {
    path.ends_with(".lock") && before.is_none() && matches!(after, Some(Node::File { size: 0, .. }))
}
