//! What one `watch` cycle reports: the heal report of the cycle (when it ran) plus the
//! cycle's number, outcome and skipped operations, as one JSON object (`--json` prints one
//! per line), and the one status line a human (and systemd's `STATUS=`) sees per cycle.

use super::gate::Skip;
use crate::report::Report;
use serde::Serialize;
use std::time::Duration;

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleOutcome {
    /// It ran and had nothing to change: no transaction, nothing written but new alerts.
    Checked,
    /// It ran and committed one transaction.
    Committed,
    /// It wrote nothing because of what it found first: a journal problem, a recovery
    /// conflict, or an interrupted transaction whose files the bot has locked.
    Blocked,
    /// Another selfheal held the lock for the whole wait: the cycle was skipped.
    LockBusy,
    /// An operational error (I/O, a full disk) stopped it; anything it began was rolled
    /// back (or is left to the next cycle's recovery), and the next cycle tries again.
    Failed,
}

/// One cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// 1 for the first cycle.
    pub cycle: u64,
    /// When it started (RFC 3339 UTC).
    pub ts: String,
    /// How it ended.
    pub outcome: CycleOutcome,
    /// Operations left out of this cycle (the bot held their lock, or the path changed).
    pub skipped: Vec<Skip>,
    /// How long the lock was waited for, when it was busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_waited_ms: Option<u64>,
    /// What stopped a failed cycle, with its causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed cycles in a row, this one included (a failed cycle only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_in_a_row: Option<u32>,
    /// The pause before the next cycle (none after the last).
    pub next_in_ms: Option<u64>,
    /// The heal report of the cycle (absent when the lock was busy).
    #[serde(flatten)]
    pub report: Option<Report>,
}

impl CycleReport {
    /// A cycle that started at `ts`, before anything is known.
    pub(crate) fn new(cycle: u64, ts: String, outcome: CycleOutcome) -> CycleReport {
        CycleReport {
            cycle,
            ts,
            outcome,
            skipped: Vec::new(),
            lock_waited_ms: None,
            error: None,
            failures_in_a_row: None,
            next_in_ms: None,
            report: None,
        }
    }

    /// Operations applied by this cycle.
    pub fn healed(&self) -> usize {
        self.report.as_ref().map_or(0, |r| {
            r.actions
                .iter()
                .filter(|a| a.result == crate::report::ActionResult::Applied)
                .count()
        })
    }

    /// Operations skipped because the bot held their lock.
    pub fn skipped_locked(&self) -> usize {
        self.skipped.iter().filter(|s| s.locked).count()
    }

    /// The status line: `[watch] cycle 12: 1 healed, 0 skipped (locked), 2 warnings,
    /// 0 critical; next in 30s`.
    pub fn status_line(&self) -> String {
        let head = format!("[watch] cycle {}", self.cycle);
        let body = match (self.outcome, &self.report) {
            (CycleOutcome::Failed, _) => format!(
                "failed ({} in a row): {}",
                self.failures_in_a_row.unwrap_or(1),
                self.error.as_deref().unwrap_or("an operational error")
            ),
            (CycleOutcome::LockBusy, _) | (_, None) => format!(
                "skipped, another selfheal held the lock (waited {})",
                human_duration(Duration::from_millis(self.lock_waited_ms.unwrap_or(0)))
            ),
            (outcome, Some(r)) => {
                let mut text = format!(
                    "{} healed, {} skipped (locked), {}, {} critical",
                    self.healed(),
                    self.skipped_locked(),
                    crate::text::count(r.warnings.len(), "warning", "warnings"),
                    r.critical.len()
                );
                let changed = self.skipped.len() - self.skipped_locked();
                if changed > 0 {
                    text.push_str(&format!(", {changed} skipped (changed)"));
                }
                if let Some(t) = r.transaction {
                    text.push_str(&format!(", transaction {t}"));
                }
                if outcome == CycleOutcome::Blocked {
                    text.push_str(", nothing written");
                }
                text
            }
        };
        let tail = self.next_in_ms.map_or_else(
            || "last cycle".to_string(),
            |ms| format!("next in {}", human_duration(Duration::from_millis(ms))),
        );
        format!("{head}: {body}; {tail}")
    }
}

/// `200ms`, `30s`, `1.5s`, `5m`, `2h`, `1h30m`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if !ms.is_multiple_of(1000) && ms < 60_000 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let cases = [
            (200, "200ms"),
            (1500, "1.5s"),
            (30_000, "30s"),
            (90_000, "1m30s"),
            (300_000, "5m"),
            (7_200_000, "2h"),
            (5_400_000, "1h30m"),
        ];
        for (ms, want) in cases {
            assert_eq!(human_duration(Duration::from_millis(ms)), want, "{ms} ms");
        }
    }

    #[test]
    fn a_busy_cycle_says_so() {
        let mut c = CycleReport::new(3, String::new(), CycleOutcome::LockBusy);
        c.lock_waited_ms = Some(30_000);
        c.next_in_ms = Some(30_000);
        assert_eq!(
            c.status_line(),
            "[watch] cycle 3: skipped, another selfheal held the lock (waited 30s); next in 30s"
        );
    }

    #[test]
    fn a_failed_cycle_says_why_and_how_many_in_a_row() {
        let mut c = CycleReport::new(4, String::new(), CycleOutcome::Failed);
        c.error = Some("cannot create `logs/x`: No space left on device (os error 28)".into());
        c.failures_in_a_row = Some(2);
        c.next_in_ms = Some(30_000);
        assert_eq!(
            c.status_line(),
            "[watch] cycle 4: failed (2 in a row): cannot create `logs/x`: No space left on device (os error 28); next in 30s"
        );
    }
}
