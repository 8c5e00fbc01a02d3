//! The health score and the start decision. The score starts at 100 and each check below
//! subtracts its documented weight when it fails; the status is `critical` with any
//! critical finding or a score under 50, `degraded` under 80 or with a failed heal, else
//! `healthy`. Paper mode always starts; real mode starts only with score >= 50, status not
//! critical, no critical finding and no failed heal (the README, "Commands and exit codes").
//!
//! | check | weight | fails when |
//! |---|---|---|
//! | `critical_findings` | 50 each, capped at 100 | a finding is CRITICAL (after the levels by mode) |
//! | `failed_heals` | 15 each, capped at 45 | a repair was needed but refused at plan time |
//! | `disk_space` | 40, or 15 | under 1% or 64 MiB free (40); under 5% or 512 MiB (15), where `logs/` lives |
//! | `writable` | 50 | `logs/` is not writable by this process |
//! | `heartbeats` | 10 each, capped at 30 | a `STALE_HEARTBEAT` finding |
//! | `journal_integrity` | 50 | the journal fails verification, or recovery found a conflict |
//! | `clock` | 30 | the clock is more than 5 s behind the newest journal record |
//! | `salvage_losses` | 30 | a finding carries `details.salvage` (a lossy or ambiguous salvage applied, or not acknowledged) |
//!
//! The JSON report lists every check with its `penalty` and `detail`, passed or not.

use crate::findings::Finding;
use crate::mode::Mode;
use crate::text::count;
use serde::Serialize;

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its name (see the module table).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Points subtracted.
    pub penalty: u32,
    /// What was seen.
    pub detail: String,
}

/// Status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All good.
    Healthy,
    /// Running, with problems.
    Degraded,
    /// Must not trade real money.
    Critical,
}

impl Status {
    /// The word for it, as reports and commit summaries write it.
    pub fn word(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Critical => "critical",
        }
    }
}

/// The score, status and checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// 0-100.
    pub score: u32,
    /// The status.
    pub status: Status,
    /// Every check.
    pub checks: Vec<Check>,
}

/// What the health checks look at.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Critical findings.
    pub criticals: usize,
    /// Failed heals.
    pub failed: usize,
    /// Free bytes and total bytes where the backups live.
    pub disk: Option<(u64, u64)>,
    /// Paths that should be writable and are not.
    pub not_writable: Vec<String>,
    /// Heartbeats still stale after healing.
    pub stale_heartbeats: usize,
    /// A journal problem or recovery conflict, described.
    pub journal_problem: Option<String>,
    /// Seconds the clock is behind the newest journal record (if behind).
    pub clock_behind: Option<i64>,
    /// A lossy salvage applied or unacknowledged, described.
    pub salvage_loss: Option<String>,
}

impl Signals {
    /// Takes the inputs that come from findings: critical findings and the first finding
    /// carrying `details.salvage`. (Stale heartbeats are those left stale after healing,
    /// counted by the heartbeat check itself.)
    pub fn count_findings(&mut self, findings: &[Finding]) {
        self.criticals = findings.iter().filter(|f| f.is_critical()).count();
        self.salvage_loss = findings
            .iter()
            .find(|f| f.details.get("salvage").is_some())
            .map(Finding::line);
    }
}

fn check(name: &'static str, penalty: u32, ok_detail: &str, bad_detail: Option<String>) -> Check {
    match bad_detail {
        Some(detail) => Check {
            name,
            ok: false,
            penalty,
            detail,
        },
        None => Check {
            name,
            ok: true,
            penalty: 0,
            detail: ok_detail.to_string(),
        },
    }
}

fn capped(n: usize, each: u32, cap: u32) -> u32 {
    u32::try_from(n)
        .unwrap_or(u32::MAX)
        .saturating_mul(each)
        .min(cap)
}

/// Scores the inputs.
pub fn assess(i: &Signals) -> Health {
    let disk_penalty = match i.disk {
        Some((free, total)) if free < 64 << 20 || free.saturating_mul(100) < total => 40,
        Some((free, total)) if free < 512 << 20 || free.saturating_mul(20) < total => 15,
        _ => 0,
    };
    let disk_detail = i
        .disk
        .map(|(f, t)| format!("{} MiB free of {} MiB", f >> 20, t >> 20));
    let checks = vec![
        check(
            "critical_findings",
            capped(i.criticals, 50, 100),
            "none",
            (i.criticals > 0).then(|| count(i.criticals, "critical finding", "critical findings")),
        ),
        check(
            "failed_heals",
            capped(i.failed, 15, 45),
            "none",
            (i.failed > 0).then(|| count(i.failed, "failed heal", "failed heals")),
        ),
        check(
            "disk_space",
            disk_penalty,
            disk_detail.as_deref().unwrap_or("unknown"),
            (disk_penalty > 0).then(|| disk_detail.clone().unwrap_or_default()),
        ),
        check(
            "writable",
            50,
            "logs/ writable",
            (!i.not_writable.is_empty())
                .then(|| format!("not writable: {}", i.not_writable.join(", "))),
        ),
        check(
            "heartbeats",
            capped(i.stale_heartbeats, 10, 30),
            "fresh",
            (i.stale_heartbeats > 0)
                .then(|| count(i.stale_heartbeats, "stale heartbeat", "stale heartbeats")),
        ),
        check(
            "journal_integrity",
            50,
            "verified",
            i.journal_problem.clone(),
        ),
        check(
            "clock",
            30,
            "not behind the journal",
            i.clock_behind
                .map(|s| format!("clock is {s} s behind the newest journal record")),
        ),
        check("salvage_losses", 30, "none", i.salvage_loss.clone()),
    ];
    let penalty: u32 = checks.iter().map(|c| c.penalty).sum();
    let score = 100u32.saturating_sub(penalty);
    let status = if i.criticals > 0 || score < 50 {
        Status::Critical
    } else if score < 80 || i.failed > 0 {
        Status::Degraded
    } else {
        Status::Healthy
    };
    Health {
        score,
        status,
        checks,
    }
}

/// The start decision: paper always; real only healthy, without a critical or a failed heal.
pub fn start_allowed(mode: Mode, health: &Health, criticals: usize, failed: usize) -> bool {
    match mode {
        Mode::Paper => true,
        Mode::Real => {
            health.score >= 50 && health.status != Status::Critical && criticals == 0 && failed == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_moves_the_score_by_its_weight() {
        let base = assess(&Signals::default());
        assert_eq!((base.score, base.status), (100, Status::Healthy));
        let cases: Vec<(Signals, u32)> = vec![
            (
                Signals {
                    criticals: 1,
                    ..Signals::default()
                },
                50,
            ),
            (
                Signals {
                    failed: 2,
                    ..Signals::default()
                },
                70,
            ),
            (
                Signals {
                    disk: Some((10 << 20, 100 << 30)),
                    ..Signals::default()
                },
                60,
            ),
            (
                Signals {
                    disk: Some((300 << 20, 1 << 30)),
                    ..Signals::default()
                },
                85,
            ),
            (
                Signals {
                    not_writable: vec!["logs".into()],
                    ..Signals::default()
                },
                50,
            ),
            (
                Signals {
                    stale_heartbeats: 5,
                    ..Signals::default()
                },
                70,
            ),
            (
                Signals {
                    journal_problem: Some("x".into()),
                    ..Signals::default()
                },
                50,
            ),
            (
                Signals {
                    clock_behind: Some(60),
                    ..Signals::default()
                },
                70,
            ),
            (
                Signals {
                    salvage_loss: Some("x".into()),
                    ..Signals::default()
                },
                70,
            ),
        ];
        for (inputs, want) in cases {
            assert_eq!(assess(&inputs).score, want, "inputs: {inputs:?}");
        }
    }

    #[test]
    fn findings_feed_their_checks() {
        use crate::findings::{code, Code, Level};
        let f =
            |c: Code, level, details| Finding::new(c, level, None, "m", "e").with_details(details);
        let findings = vec![
            f(code::STALE_HEARTBEAT, Level::High, serde_json::json!({})),
            f(code::STALE_HEARTBEAT, Level::High, serde_json::json!({})),
            f(
                code::POSITION_CONFLICT,
                Level::Critical,
                serde_json::json!({}),
            ),
            f(
                code::DATA_INTEGRITY,
                Level::High,
                serde_json::json!({"salvage": {"lost": 2}}),
            ),
        ];
        let mut inputs = Signals::default();
        inputs.count_findings(&findings);
        let h = assess(&inputs);
        let penalty = |n: &str| h.checks.iter().find(|c| c.name == n).map(|c| c.penalty);
        assert_eq!(penalty("critical_findings"), Some(50));
        assert_eq!(
            penalty("heartbeats"),
            Some(0),
            "heartbeat findings are reports; the check counts those left stale"
        );
        assert_eq!(penalty("salvage_losses"), Some(30));
        assert_eq!(h.score, 20);
        assert_eq!(h.status, Status::Critical);
    }

    #[test]
    fn below_fifty_blocks_real_mode() {
        let h = assess(&Signals {
            journal_problem: Some("x".into()),
            clock_behind: Some(5),
            ..Signals::default()
        });
        assert!(h.score < 50);
        assert!(!start_allowed(Mode::Real, &h, 0, 0));
        assert!(start_allowed(Mode::Paper, &h, 0, 0));
        let ok = assess(&Signals::default());
        assert!(start_allowed(Mode::Real, &ok, 0, 0));
        assert!(!start_allowed(Mode::Real, &ok, 0, 1));
    }
}
