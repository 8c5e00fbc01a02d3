//! What the journal says a transaction adds to the healing metrics, and the additive
//! totals `stats` reports and a prune carries forward. Nothing else is read, so the numbers
//! are as trustworthy as the journal. Definitions of each count: see `stats`.

use super::TxnFile;
use journal_format::{self as jf, TxnState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The commands whose transactions are runs.
pub use journal_format::RUN_COMMANDS;

/// The newest run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// Its transaction.
    pub txn: u64,
    /// `heal` or `watch`.
    pub command: String,
    /// When it began (RFC 3339, from its `begin` record).
    pub time: String,
    /// `committed` or `aborted`.
    pub outcome: String,
    /// How long it took, from its commit summary (none when aborted).
    pub duration_ms: Option<u64>,
}

/// Additive totals: what a prune carries forward and what `stats` adds up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Finished heal and watch transactions.
    pub runs: u64,
    /// Committed runs without a critical.
    pub successes: u64,
    /// Runs that ended in `abort` (an error while applying, or recovered after a crash).
    pub aborted_runs: u64,
    /// Applied operations of committed runs, by heal kind.
    pub heals: BTreeMap<String, u64>,
    /// Failed heals of committed runs.
    pub failures: u64,
    /// Critical findings of committed runs, by code.
    pub criticals: BTreeMap<String, u64>,
    /// Committed rollbacks.
    pub rollbacks: u64,
    /// Records lost by applied salvages.
    pub salvage_records_lost: u64,
    /// Bytes lost by applied salvages.
    pub salvage_bytes_lost: u64,
    /// The newest run.
    pub last_run: Option<LastRun>,
    /// When the oldest run began (RFC 3339).
    pub first_run: Option<String>,
}

impl Totals {
    /// The totals of `txns`, each counted once (a prune counts what it carries).
    pub fn of<'a>(txns: impl IntoIterator<Item = &'a TxnFile>) -> Totals {
        let mut t = Totals::default();
        for txn in txns {
            t.add(txn);
        }
        t
    }

    /// Adds one transaction.
    pub fn add(&mut self, t: &TxnFile) {
        let records = t.records();
        let Ok(v) = jf::view(&records) else { return };
        let (Some(begin), state) = (v.begin, v.state()) else {
            return;
        };
        let summary = v.commit.map(|c| &c.summary);
        if let (Some(s), "prune" | "quarantine") = (summary, begin.command.as_str()) {
            self.merge(&carried(s));
        }
        if summary.is_some() && v.rollback_of.is_some() {
            self.rollbacks += 1;
        }
        if state == TxnState::Unfinished || !RUN_COMMANDS.contains(&begin.command.as_str()) {
            return;
        }
        self.runs += 1;
        if let Some(time) = began(t) {
            self.note_first_run(time);
        }
        match summary {
            Some(s) => self.add_committed_run(&v, s),
            None => self.aborted_runs += 1,
        }
        self.last_run = Some(LastRun {
            txn: t.txn,
            command: begin.command.clone(),
            time: began(t).unwrap_or_default(),
            outcome: if summary.is_some() {
                "committed"
            } else {
                "aborted"
            }
            .into(),
            duration_ms: summary
                .and_then(|s| s.get("duration_ms"))
                .and_then(Value::as_u64),
        });
    }

    fn add_committed_run(&mut self, v: &jf::TxnView<'_>, summary: &Value) {
        let plan = v.begin.map(|b| b.plan.as_slice()).unwrap_or_default();
        for entry in plan.iter().filter(|p| v.done.contains(&p.op)) {
            *self.heals.entry(entry.heal.clone()).or_default() += 1;
        }
        self.failures += list(summary, "failed").len() as u64;
        let criticals = list(summary, "critical");
        for c in criticals {
            let code = c.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN");
            *self.criticals.entry(code.to_string()).or_default() += 1;
        }
        if criticals.is_empty() {
            self.successes += 1;
        }
        let (records, bytes) = salvage_losses(summary);
        self.salvage_records_lost += records;
        self.salvage_bytes_lost += bytes;
    }

    /// Adds `other` (totals carried by a prune, which are always older than what is kept).
    pub fn merge(&mut self, other: &Totals) {
        self.runs += other.runs;
        self.successes += other.successes;
        self.aborted_runs += other.aborted_runs;
        self.failures += other.failures;
        self.rollbacks += other.rollbacks;
        self.salvage_records_lost += other.salvage_records_lost;
        self.salvage_bytes_lost += other.salvage_bytes_lost;
        for (k, n) in &other.heals {
            *self.heals.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.criticals {
            *self.criticals.entry(k.clone()).or_default() += n;
        }
        let newer = match (&self.last_run, &other.last_run) {
            (Some(a), Some(b)) => b.txn > a.txn || (b.txn == a.txn && b.time > a.time),
            (None, Some(_)) => true,
            _ => false,
        };
        if newer {
            self.last_run.clone_from(&other.last_run);
        }
        if let Some(time) = &other.first_run {
            self.note_first_run(time.clone());
        }
    }

    /// Keeps `time` as the first run when it is older than the one known (or none is).
    fn note_first_run(&mut self, time: String) {
        let older = match (&self.first_run, epoch_seconds(&time)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(known), Some(t)) => epoch_seconds(known).is_none_or(|k| t < k),
        };
        if older {
            self.first_run = Some(time);
        }
    }

    /// When the oldest run began, epoch seconds.
    pub fn first_run_at(&self) -> Option<i64> {
        self.first_run
            .as_deref()
            .and_then(epoch_seconds)
            .map(|t| t.floor() as i64)
    }
}

fn list<'a>(summary: &'a Value, key: &str) -> &'a [Value] {
    summary
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The totals a prune's commit summary carries (empty if it carries none or they do not
/// read as totals).
fn carried(summary: &Value) -> Totals {
    summary
        .get("carried")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

/// Records and bytes lost by the salvages a commit summary records
/// (`salvage: [{path, records_lost, bytes_lost}]`).
pub fn salvage_losses(summary: &Value) -> (u64, u64) {
    list(summary, "salvage").iter().fold((0, 0), |(r, b), s| {
        let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        (r + n("records_lost"), b + n("bytes_lost"))
    })
}

/// When a transaction began: its `begin` record's time, else its first record's.
pub fn began(t: &TxnFile) -> Option<String> {
    let begin = t
        .entries
        .iter()
        .find(|e| matches!(e.record.body, jf::Body::Begin(_)));
    begin.or(t.entries.first()).map(|e| e.record.ts.clone())
}

pub(crate) fn epoch_seconds(ts: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(t.timestamp_millis() as f64 / 1000.0)
}
