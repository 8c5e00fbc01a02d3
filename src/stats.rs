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

use crate::journal::totals::epoch_seconds;
use crate::journal::totals::Totals;
use crate::journal::Journal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
    use crate::journal::totals::LastRun;

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
