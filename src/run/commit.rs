//! The commit stage: the run's transaction commits with its assessment as the summary
//! (what the run found and did, the salvages it applied). Invariant: the summary is built
//! from the assessed report, so the journal records exactly what the run reported; a
//! `heal` with nothing applied that repeats the newest run's decision writes no
//! transaction (`repeat`).

use super::assess::Assessment;
use super::repeat;
use super::session::Session;
use crate::alerts::Batch;
use crate::checks::{self, Planned};
use crate::error::Result;
use crate::journal::history::Measured;
use crate::journal::Journal;
use crate::mode::Mode;
use crate::plan::OpResult;
use crate::report::Report;
use crate::txn;
use serde_json::{json, Value};
use std::time::Instant;

/// Stage 6's output: the report naming the commit, and the alerts still to append.
pub(crate) struct Committed {
    /// The report.
    pub report: Report,
    /// The alerts, prepared before the commit (their count is in its summary).
    pub batch: Batch,
    /// The transaction committed; `None` when the run was recorded as a repeat instead.
    pub txn: Option<u64>,
}

/// How a run commits.
pub(crate) struct CommitAs {
    /// The command its `begin` record names.
    pub command: &'static str,
    /// The run's mode.
    pub mode: Mode,
    /// Whether a run that applied nothing and repeats the newest decision is only added
    /// to the run record (`heal`).
    pub repeatable: bool,
    /// Keys the summary holds besides (a watch cycle's number and skips).
    pub extra: Vec<(&'static str, Value)>,
}

/// Stage 6: commits the assessed run (beginning an empty transaction when none was begun
/// and the run is not a repeat).
///
/// # Errors
/// Operational errors of the engine or the run record.
pub(crate) fn commit(
    s: &Session,
    journal: &mut Journal,
    a: Assessment<'_>,
    batch: Batch,
    how: CommitAs,
) -> Result<Committed> {
    let mut summary = summary(
        &a.report,
        &a.known_files,
        &a.salvaged,
        a.started,
        a.measured,
    );
    if let Some(obj) = summary.as_object_mut() {
        obj.extend(how.extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    let mut report = a.report;
    let txn = match a.txn {
        Some(t) => t,
        None => {
            let (m, r) = (how.mode, &mut report);
            if how.repeatable && repeat::record(s, journal, m, &summary, a.measured, a.started, r)?
            {
                return Ok(Committed {
                    report,
                    batch,
                    txn: None,
                });
            }
            let meta = super::meta(how.command, how.mode);
            txn::begin(&s.root, journal, meta, &[], s.layout.max_file_size)?
        }
    };
    let id = txn.commit(journal, summary)?;
    report.transaction = Some(id);
    Ok(Committed {
        report,
        batch,
        txn: Some(id),
    })
}

/// The `commit` summary: what the run found and did, for audit and metrics, the
/// positions files known to exist (read back by `detect::gone`), the salvages applied and
/// the samples the predictions read back (`disk_free`, `backups_bytes`).
fn summary(
    r: &Report,
    known_files: &[String],
    salvaged: &[journal_format::SalvageEntry],
    started: Instant,
    measured: Measured,
) -> Value {
    let mut other = serde_json::Map::new();
    for (k, v) in [
        ("stats", json!(r.stats)),
        ("health_score", json!(r.health.score)),
        ("alerts_suppressed", json!(r.alerts_suppressed)),
        (
            "duration_ms",
            json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        ),
    ] {
        other.insert(k.into(), v);
    }
    journal_format::RunSummary {
        salvage: salvaged.to_vec(),
        healed: r.healed.clone(),
        failed: r.failed.clone(),
        critical: r
            .findings
            .iter()
            .filter(|f| f.is_critical())
            .map(|f| journal_format::Critical {
                code: f.code.to_string(),
                path: f.path.clone(),
                evidence: f.evidence.clone(),
            })
            .collect(),
        status: r.health.status.word().to_string(),
        start_allowed: r.start_allowed,
        known_files: known_files.to_vec(),
        disk_free: measured.disk_free,
        backups_bytes: measured.backups_bytes,
        other,
    }
    .to_value()
}

/// The commit summary entries of the salvages that were applied.
pub(crate) fn applied_salvages(
    planned: &Planned,
    results: &[OpResult],
) -> Vec<journal_format::SalvageEntry> {
    planned
        .salvages
        .iter()
        .filter(|n| results.get(n.op) == Some(&OpResult::Applied))
        .map(checks::corrupt::Note::summary)
        .collect()
}
