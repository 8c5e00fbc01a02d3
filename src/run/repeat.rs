//! A `heal` that applies nothing and decides what the newest run decided writes no
//! transaction (SPEC.md section 11, "Run record"): a bot restarting every few seconds must
//! not grow the journal by one transaction per start. The run is added to the run record
//! instead (counted by `stats`, its samples kept for the predictions), and its alerts are
//! appended as usual (deduplicated by the alert log). Any difference in the decision —
//! mode, start, status, criticals, failed heals, created directories, known positions
//! files — or a newest transaction that is not a committed `heal` makes it a transaction.

use crate::error::Result;
use crate::journal::history::Measured;
use crate::journal::totals::LastRun;
use crate::journal::{decision_key, Journal};
use crate::mode::Mode;
use crate::report::Report;
use crate::run::Session;
use serde_json::Value;
use std::time::Instant;

/// The positions files of the layout, as the journal's facts track them.
pub fn positions(layout: &crate::config::Layout) -> Vec<String> {
    layout
        .files
        .iter()
        .filter(|f| f.role == crate::config::FileRole::Positions)
        .map(|f| f.path.as_str().to_string())
        .collect()
}

/// Records the run in the run record when it repeats the newest run's decision; returns
/// whether it did (then no transaction is written).
///
/// # Errors
/// I/O errors writing the run record.
pub(crate) fn record(
    s: &Session,
    journal: &mut Journal,
    mode: Mode,
    summary: &Value,
    measured: Measured,
    started: Instant,
    report: &mut Report,
) -> Result<bool> {
    let Some(last) = journal.facts.last_run.clone() else {
        return Ok(false);
    };
    let mode = mode.to_string();
    if decision_key(Some(&mode), summary) != last.key {
        return Ok(false);
    }
    if let Some(why) = &journal.runs_damaged {
        report.warnings.push(format!(
            "HIGH the run record {} is damaged ({why}): runs are journaled as transactions until it is removed",
            s.root.display(&crate::paths::RelPath::new(crate::journal::RUNS_FILE)?).display()
        ));
        return Ok(false);
    }
    let codes: Vec<String> = list(summary, "critical")
        .iter()
        .map(|c| {
            c.get("code")
                .and_then(Value::as_str)
                .unwrap_or("UNKNOWN")
                .to_string()
        })
        .collect();
    let run = LastRun {
        txn: last.txn,
        command: "heal".into(),
        time: crate::journal::now_rfc3339(),
        outcome: "repeated".into(),
        duration_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
    };
    let failed = list(summary, "failed").len() as u64;
    let now = chrono::Utc::now().timestamp();
    journal.runs.add(run, &codes, failed, now, measured);
    journal.runs.save(&s.root, journal.mac())?;
    journal.settle_index(&s.root);
    Ok(true)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
