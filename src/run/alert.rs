//! The alert stage: a run's findings appended to the operator alert log, deduplicated
//! within `alerts.dedupe_window`. Invariant: a failure to append is a warning in the
//! report, never an error of the run (what the run committed stays committed).

use super::commit::Committed;
use super::session::Session;
use crate::alerts::Batch;
use crate::report::Report;

/// Appends the alerts of a heal; a failure to write them is reported, never fatal (the heal
/// itself is committed by then).
pub(crate) fn send_alerts(s: &Session, batch: &Batch, txn: Option<u64>, report: &mut Report) {
    if let Err(e) = batch.append(&s.root, &s.layout, txn) {
        let why = crate::error::error_chain(&e);
        tracing::error!("cannot append operator alerts: {why}");
        report
            .warnings
            .push(format!("HIGH ALERTS: cannot append operator alerts: {why}"));
    }
}

/// A blocked heal's report, with its alerts appended (no transaction).
pub(crate) fn alerted(s: &Session, mut report: Report) -> Report {
    let batch = Batch::prepare(&s.root, &s.layout, &report.findings, report.mode);
    report.alerts_suppressed = batch.suppressed;
    send_alerts(s, &batch, None, &mut report);
    report
}

/// Stage 7: appends the alerts of a committed run, naming its transaction.
pub(crate) fn alert(s: &Session, mut c: Committed) -> Committed {
    send_alerts(s, &c.batch, c.txn, &mut c.report);
    c
}
