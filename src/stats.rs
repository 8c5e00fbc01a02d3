//! Healing metrics computed from the journal alone: runs, heals by kind, failures,
//! criticals by code, rollbacks, success ratio, the last run, salvage losses. Nothing else is
//! read, so the numbers are as trustworthy as the journal (a damaged journal is reported
//! with them). Counters never go backwards: a prune carries the totals of what it removes
//! in its commit summary (`carried`, SPEC.md section 10), and they are added back here;
//! leftover files of an interrupted prune are skipped because their totals are carried.
//!
//! Definitions (what `stats` prints and the Prometheus metrics mean):
//! - a *run* is a finished (committed or aborted) transaction of command `heal` or
//!   `watch`; an unfinished one is counted once it finishes; a `heal` that applied nothing
//!   and decided what the newest run decided wrote no transaction and is counted from the
//!   run record (`logs/backups/meta/runs.jsonl`) with that run's criticals and failures;
//! - *heals by kind*: operations of committed runs that were applied (have `done`), by the
//!   plan entry's `heal`;
//! - *failures*: entries of the commit summary's `failed` list of committed runs;
//! - *criticals by code*: the commit summary's `critical[].code` of committed runs;
//! - a *success* is a committed run without any critical; the *success ratio* is
//!   successes / runs (none without runs);
//! - *rollbacks*: committed transactions with `rollback_of`;
//! - the *last run* is the newest run: its `begin` time and, when committed, its summary's
//!   `duration_ms`;
//! - the *first run* is the `begin` time of the oldest run, carried across prunes: how far
//!   back the root's history goes (the predictive warnings wait for enough of it);
//! - *salvage losses*: the commit summary's `salvage[].records_lost` and `bytes_lost`.

use crate::journal::{Journal, TxnFile};
use journal_format::{self as jf, TxnState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// The metrics `selfheal stats` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The totals.
    #[serde(flatten)]
    pub totals: Totals,
    /// successes / runs, none without runs.
    pub success_ratio: Option<f64>,
    /// The last run's begin time, seconds since the epoch.
    pub last_run_timestamp: Option<f64>,
    /// Transactions in the journal (pruned leftovers excluded).
    pub transactions: usize,
    /// Transactions up to this id were pruned; their totals are carried.
    pub pruned_through: Option<u64>,
    /// Why the journal cannot be trusted, if it cannot: the totals cover only what could
    /// be read before the problem.
    pub journal_problem: Option<String>,
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

fn epoch_seconds(ts: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(t.timestamp_millis() as f64 / 1000.0)
}

/// Computes the metrics of a journal.
pub fn compute(journal: &Journal) -> Stats {
    let mut totals = Totals::of(journal.kept());
    totals.merge(&journal.runs.totals);
    Stats {
        success_ratio: (totals.runs > 0).then(|| totals.successes as f64 / totals.runs as f64),
        last_run_timestamp: totals
            .last_run
            .as_ref()
            .and_then(|r| epoch_seconds(&r.time)),
        transactions: journal.kept().count(),
        pruned_through: journal.anchor.map(|c| c.through_txn),
        journal_problem: journal
            .problem
            .as_ref()
            .map(crate::journal::Problem::describe)
            .or_else(|| {
                let why = journal.runs_damaged.as_ref()?;
                Some(format!("{}: {why}", crate::journal::RUNS_FILE))
            }),
        totals,
    }
}

/// One metric family of the text exposition format.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
}

fn family(out: &mut String, f: &Family<'_>, samples: &[(Option<(&str, &str)>, f64)]) {
    let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
    let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
    for (label, value) in samples {
        match label {
            Some((k, v)) => {
                let _ = writeln!(out, "{}{{{k}=\"{}\"}} {value}", f.name, escape_label(v));
            }
            None => {
                let _ = writeln!(out, "{} {value}", f.name);
            }
        }
    }
}

/// Escapes a label value for the text exposition format (`\`, `"`, newline).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let f = Family {
        name,
        kind: "counter",
        help,
    };
    family(out, &f, &[(None, value as f64)]);
}

fn gauge(out: &mut String, name: &str, help: &str, value: Option<f64>) {
    let f = Family {
        name,
        kind: "gauge",
        help,
    };
    family(
        out,
        &f,
        &value.map(|v| (None, v)).into_iter().collect::<Vec<_>>(),
    );
}

fn labelled(out: &mut String, name: &str, help: &str, label: &str, map: &BTreeMap<String, u64>) {
    let f = Family {
        name,
        kind: "counter",
        help,
    };
    let samples: Vec<_> = map
        .iter()
        .map(|(k, n)| (Some((label, k.as_str())), *n as f64))
        .collect();
    family(out, &f, &samples);
}

/// The metrics in the Prometheus text exposition format (node_exporter's textfile
/// collector), every family with `# HELP` and `# TYPE`.
pub fn prometheus(s: &Stats) -> String {
    let t = &s.totals;
    let mut out = String::new();
    counter(
        &mut out,
        "selfheal_runs_total",
        "Finished heal and watch runs recorded in the journal.",
        t.runs,
    );
    counter(
        &mut out,
        "selfheal_successes_total",
        "Committed runs without a critical finding.",
        t.successes,
    );
    counter(
        &mut out,
        "selfheal_aborted_runs_total",
        "Runs that ended in abort (error while applying, or recovered after a crash).",
        t.aborted_runs,
    );
    labelled(
        &mut out,
        "selfheal_heals_total",
        "Operations applied by committed runs, by heal kind.",
        "kind",
        &t.heals,
    );
    counter(
        &mut out,
        "selfheal_failures_total",
        "Heals refused or failed in committed runs.",
        t.failures,
    );
    labelled(
        &mut out,
        "selfheal_criticals_total",
        "Critical findings of committed runs, by code.",
        "code",
        &t.criticals,
    );
    counter(
        &mut out,
        "selfheal_rollbacks_total",
        "Committed rollbacks.",
        t.rollbacks,
    );
    gauge(
        &mut out,
        "selfheal_success_ratio",
        "Successful runs / runs.",
        s.success_ratio,
    );
    gauge(
        &mut out,
        "selfheal_last_run_timestamp_seconds",
        "When the newest run began, seconds since the epoch.",
        s.last_run_timestamp,
    );
    let duration = t
        .last_run
        .as_ref()
        .and_then(|r| r.duration_ms)
        .map(|ms| ms as f64 / 1000.0);
    gauge(
        &mut out,
        "selfheal_last_run_duration_seconds",
        "How long the newest committed run took.",
        duration,
    );
    counter(
        &mut out,
        "selfheal_salvage_records_lost_total",
        "Records lost by applied salvages.",
        t.salvage_records_lost,
    );
    counter(
        &mut out,
        "selfheal_salvage_bytes_lost_total",
        "Bytes lost by applied salvages.",
        t.salvage_bytes_lost,
    );
    let ok = if s.journal_problem.is_none() {
        1.0
    } else {
        0.0
    };
    gauge(
        &mut out,
        "selfheal_journal_ok",
        "1 when the journal verifies, 0 when it cannot be trusted.",
        Some(ok),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        for (input, want) in [
            ("plain", "plain"),
            ("a\"b", "a\\\"b"),
            ("a\\b", "a\\\\b"),
            ("a\nb", "a\\nb"),
        ] {
            assert_eq!(escape_label(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn merge_adds_and_keeps_the_newest_last_run() {
        let run = |txn| LastRun {
            txn,
            command: "heal".into(),
            time: String::new(),
            outcome: "committed".into(),
            duration_ms: Some(txn),
        };
        let mut a = Totals {
            runs: 2,
            heals: BTreeMap::from([("empty_file".into(), 1)]),
            last_run: Some(run(7)),
            ..Totals::default()
        };
        let b = Totals {
            runs: 3,
            heals: BTreeMap::from([("empty_file".into(), 2), ("stale_lock".into(), 1)]),
            last_run: Some(run(3)),
            ..Totals::default()
        };
        a.merge(&b);
        assert_eq!(a.runs, 5);
        assert_eq!(a.first_run, None);
        assert_eq!(a.heals.get("empty_file"), Some(&3));
        assert_eq!(a.heals.get("stale_lock"), Some(&1));
        assert_eq!(a.last_run.map(|r| r.txn), Some(7));
    }

    #[test]
    fn merge_keeps_the_oldest_first_run() {
        let at = |t: &str| Totals {
            first_run: Some(t.to_string()),
            ..Totals::default()
        };
        let mut a = at("2026-11-02T00:00:00.000Z");
        a.merge(&at("2026-11-01T12:00:00.000+00:00"));
        assert_eq!(
            a.first_run.as_deref(),
            Some("2026-11-01T12:00:00.000+00:00")
        );
        a.merge(&at("2026-11-03T00:00:00Z"));
        a.merge(&at("not a time"));
        a.merge(&Totals::default());
        assert_eq!(a.first_run_at(), Some(1_793_534_400));
        let mut none = Totals::default();
        none.merge(&at("2026-11-03T00:00:00Z"));
        assert_eq!(none.first_run.as_deref(), Some("2026-11-03T00:00:00Z"));
    }

    #[test]
    fn every_family_has_help_and_type() {
        let s = Stats {
            totals: Totals::default(),
            success_ratio: None,
            last_run_timestamp: None,
            transactions: 0,
            pruned_through: None,
            journal_problem: None,
        };
        let text = prometheus(&s);
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(helps, types);
        assert!(text.contains("selfheal_runs_total 0\n"), "{text}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("selfheal_success_ratio")),
            "no ratio sample without runs: {text}"
        );
    }
}
