//! What the startup checks read from the journal's history, folded one transaction at a
//! time in id order: the pending acknowledgements (`acks`), what the journal last said
//! about each positions file (`detect::gone`), the samples and recent heals of the
//! predictions (`predict`), the decision of the newest run (a run deciding the same again
//! writes no transaction) and the counters automatic retention looks at. The fold of a
//! journal's kept transactions is the same whether they are read in full or the facts of
//! an index are extended with the transactions after it (SPEC.md section 11), so `heal`
//! need not read every transaction file to know them.

use super::acks::{self, Pending};
use super::history::History;
use super::known as gone;
use super::totals::{self, RUN_COMMANDS};
use super::TxnFile;
use journal_format::{self as jf, Body, Record};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// What the journal last said about one positions file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// The committed transaction that said it.
    pub txn: u64,
    /// Present (true) or gone.
    pub present: bool,
}

/// The decision of the newest run: a committed `heal` with nothing after it but prunes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Its transaction.
    pub txn: u64,
    /// [`decision_key`] of its mode and commit summary.
    pub key: String,
}

/// The facts of a journal's kept transactions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    /// Transactions kept.
    pub kept: u64,
    /// Of them, those that count towards `retention.keep` (not prunes, not never-begun).
    pub counting: u64,
    /// When the oldest kept transaction began (RFC 3339).
    pub oldest_began: Option<String>,
    /// The time of the newest record.
    pub newest_ts: Option<String>,
    /// Lossy salvages awaiting `selfheal ack`.
    pub pending: Vec<Pending>,
    /// What the journal last said about each positions file.
    pub known: BTreeMap<String, Known>,
    /// The predictions' samples and recent heals.
    pub history: History,
    /// The newest run's decision, when nothing but prunes followed it.
    pub last_run: Option<Decision>,
    /// For each rolled-back transaction, the newest committed rollback of it.
    pub rollbacks: BTreeMap<u64, u64>,
    /// The recorded criticals `ack` transactions acknowledged, with the acknowledging one.
    pub acked: Vec<(acks::Recorded, u64)>,
}

impl Facts {
    /// The facts of `txns` (kept transactions, in id order); `positions` are the positions
    /// files of the layout.
    pub fn of<'a>(txns: impl IntoIterator<Item = &'a TxnFile>, positions: &[String]) -> Facts {
        let mut f = Facts::default();
        for t in txns {
            f.add(t, positions);
        }
        f
    }

    /// Takes in the next kept transaction.
    pub fn add(&mut self, t: &TxnFile, positions: &[String]) {
        self.kept += 1;
        let command = t.command();
        if !matches!(command, None | Some("prune")) {
            self.counting += 1;
        }
        if self.oldest_began.is_none() {
            self.oldest_began = totals::began(t);
        }
        let mut one = totals::Totals::default();
        one.add(t);
        if let Some(at) = one.first_run_at() {
            let since = self.history.since.map_or(at, |s| s.min(at));
            self.history.since = Some(since);
        }
        if let Some(e) = t.entries.last() {
            self.newest_ts = Some(e.record.ts.clone());
        }
        if !gone::committed(t) {
            if !matches!(command, None | Some("prune")) {
                self.last_run = None;
            }
            return;
        }
        self.add_committed(t, positions);
    }

    /// The rollback that undid `txn` and stands (is not itself rolled back), if any.
    pub fn rolled_back_by(&self, txn: u64) -> Option<u64> {
        let mut by = *self.rollbacks.get(&txn)?;
        // A chain of rollbacks of rollbacks: the one of `txn` stands when the chain above it
        // has an even length. Ids grow along it, so it ends.
        let mut standing = true;
        while let Some(next) = self.rollbacks.get(&by) {
            standing = !standing;
            by = *next;
        }
        standing
            .then(|| self.rollbacks.get(&txn).copied())
            .flatten()
    }

    fn add_committed(&mut self, t: &TxnFile, positions: &[String]) {
        for e in &t.entries {
            if let Body::RollbackOf(r) = &e.record.body {
                self.rollbacks.insert(r.txn, t.txn);
            }
        }
        self.acked
            .extend(acks::findings_acked_in(t).into_iter().map(|r| (r, t.txn)));
        let acked = acks::acks_in(t);
        self.pending.retain(|p| !acked.contains(&p.txn));
        let pending = acks::pending_of(t);
        // A run whose summary cannot be read is taken to have known every positions file:
        // one that is gone is then not re-created in real mode (SPEC.md, "Run summary").
        let unreadable = pending.as_ref().is_some_and(|p| p.unreadable.is_some());
        self.pending.extend(pending);
        for path in positions {
            let said = if unreadable {
                Some(true)
            } else {
                gone::statement(t, path)
            };
            if let Some(present) = said {
                let k = Known {
                    txn: t.txn,
                    present,
                };
                self.known.insert(path.clone(), k);
            }
        }
        let records = t.records();
        let Ok(v) = jf::view(&records) else { return };
        let (Some(begin), Some(commit)) = (v.begin, v.commit) else {
            return;
        };
        if RUN_COMMANDS.contains(&begin.command.as_str()) {
            if let Some(at) = committed_at(&records) {
                let healed = begin
                    .plan
                    .iter()
                    .filter(|p| v.done.contains(&p.op))
                    .filter_map(|p| p.path.clone())
                    .collect();
                self.history.add_run(t.txn, at, &commit.summary, healed);
            }
        }
        self.last_run = match begin.command.as_str() {
            "heal" => Some(Decision {
                txn: t.txn,
                key: decision_key(begin.mode.as_deref(), &commit.summary),
            }),
            "prune" => self.last_run.take(),
            _ => None,
        };
    }
}

/// The time of a transaction's `commit` record, epoch seconds.
fn committed_at(records: &[Record]) -> Option<i64> {
    let commit = records.iter().find(|r| matches!(r.body, Body::Commit(_)))?;
    Some(
        chrono::DateTime::parse_from_rfc3339(&commit.ts)
            .ok()?
            .timestamp(),
    )
}

/// What a run decided, as one digest: its mode, whether the engine may start and the
/// health status, the criticals (code, path, evidence), the failed heals, what it healed
/// (only created directories, for a run that applied nothing), the salvages and the
/// positions files it knows. Two runs with equal keys decided the same; the figures that
/// drift between identical runs (score, duration, disk samples) are left out.
pub fn decision_key(mode: Option<&str>, summary: &Value) -> String {
    let get = |k: &str| summary.get(k).cloned().unwrap_or(Value::Null);
    let criticals: Vec<Value> = get("critical")
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| json!([c.get("code"), c.get("path"), c.get("evidence")]))
                .collect()
        })
        .unwrap_or_default();
    let canonical = json!([
        mode,
        get("start_allowed"),
        get("status"),
        criticals,
        get("failed"),
        get("healed"),
        get("salvage"),
        get(gone::KNOWN_FILES),
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    jf::Digest(digest.into()).to_hex()
}
