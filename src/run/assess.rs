//! The assess stage: the detectors on the state after the plan, the predictive warnings,
//! and the health score, assembled into the run's [`Report`]. Invariant: assessment only
//! reads (the detectors never repair); the report's start decision is
//! `health::start_allowed` of what it holds and nothing else.

use super::commit::applied_salvages;
use super::session::Session;
use super::Applied;
use crate::alerts::Batch;
use crate::checks::{Ctx, Planned};
use crate::detect::{self, Detection, PostState};
use crate::error::Result;
use crate::findings::{code, Failed, Finding};
use crate::fsx::{Entry, Root};
use crate::health::{self, Health};
use crate::journal::history::{Healed, History, Measured};
use crate::journal::{self, Journal};
use crate::mode::ModeChoice;
use crate::paths::RelPath;
use crate::paths::BACKUPS_DIR;
use crate::plan::OpResult;
use crate::predict;
use crate::report::{planned_message, Action, HealCounts, RecoverySummary, Report};
use crate::txn::Txn;
use std::time::Instant;

/// What the predictions measure now: free bytes where the backups live and their size
/// (each `None` when it cannot be measured, e.g. before the first heal).
pub(crate) fn measure(root: &Root, journal: &Journal) -> Measured {
    let backups = RelPath::new(BACKUPS_DIR).ok();
    let present = backups
        .as_ref()
        .is_some_and(|b| matches!(root.entry(b), Ok(Entry::Present(_))));
    if !present {
        return Measured::default();
    }
    Measured {
        disk_free: root.available_space(backups.as_ref()).ok(),
        backups_bytes: journal.backups_size(root).ok(),
    }
}

/// The history the predictions read besides what the run itself healed.
pub(crate) enum Past<'a> {
    /// The journal's history plus these samples (kept in memory by a running watch).
    Plus(&'a History),
    /// This history, whole (a watch cycle's, already merged).
    Whole(History),
}

/// The predictive warnings (`predict`) for the state `ctx` and `planned` describe, the
/// history `past`, and the paths transaction `current.0` just healed (`current.1`: what
/// became of each planned operation).
fn predictions(
    ctx: &Ctx<'_>,
    planned: &Planned,
    measured: Measured,
    current: Option<(u64, &[OpResult])>,
    past: Past<'_>,
) -> Vec<Finding> {
    let mut history = match past {
        Past::Plus(extra) => {
            let mut h = History::from_journal(ctx.journal);
            h.merge(extra);
            h
        }
        Past::Whole(h) => h,
    };
    if let Some((txn, results)) = current {
        let applied = planned
            .ops
            .iter()
            .zip(results)
            .filter(|(_, r)| **r == OpResult::Applied);
        history.heals.extend(applied.filter_map(|(op, _)| {
            Some(Healed {
                txn,
                at: ctx.now,
                path: op.path.as_ref()?.to_string(),
            })
        }));
    }
    predict_from(ctx, planned, measured, &history)
}

/// The predictive warnings for the state `ctx` and `planned` describe, given the history.
fn predict_from(
    ctx: &Ctx<'_>,
    planned: &Planned,
    measured: Measured,
    history: &History,
) -> Vec<Finding> {
    predict::run(&predict::Inputs {
        now: ctx.now,
        history,
        measured,
        heartbeats: &planned.heartbeat_ages,
        stale_after_s: i64::try_from(ctx.layout.heartbeat_stale.as_secs()).unwrap_or(i64::MAX),
        warn_size: ctx.layout.retention_warn_size,
        prune_command: &ctx.hints.command(&["prune"]),
    })
}

/// Runs the detectors on the state after the plan (`results`: what was applied; `None`:
/// the plan as `check` predicts it) and adds their findings to `planned`.
pub(crate) fn detect_after(
    ctx: &Ctx<'_>,
    planned: &mut Planned,
    results: Option<&[OpResult]>,
) -> Detection {
    let mut detection = {
        let post = PostState::build(planned, results, &ctx.layout.config.positions.identity);
        detect::run(ctx, &post)
    };
    planned.findings.append(&mut detection.findings);
    detect::for_mode(&mut planned.findings, ctx.mode.mode);
    detection
}

/// selfheal's directories a run that writes nothing would create.
pub(crate) fn missing_bootstrap(root: &Root) -> Result<Vec<RelPath>> {
    let mut out = Vec::new();
    for dir in ["logs", BACKUPS_DIR] {
        let rel = RelPath::new(dir)?;
        if matches!(root.entry(&rel)?, Entry::Absent) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// A report for a run that must change nothing because of `finding`.
pub(crate) fn blocked(
    mode: ModeChoice,
    finding: Finding,
    recovery: Option<RecoverySummary>,
) -> Report {
    let health = health::assess(&health::Signals {
        criticals: 1,
        journal_problem: (finding.code == code::JOURNAL_INTEGRITY).then(|| finding.message.clone()),
        ..health::Signals::default()
    });
    Report {
        success: false,
        healed: Vec::new(),
        failed: Vec::new(),
        critical: vec![finding.line()],
        stats: HealCounts::default(),
        transaction: None,
        mode: mode.mode,
        mode_source: mode.source,
        start_allowed: health::start_allowed(mode.mode, &health, 1, 0),
        health,
        actions: Vec::new(),
        warnings: Vec::new(),
        findings: vec![finding],
        failures: Vec::new(),
        recovery,
        dry_run: false,
        alerts_suppressed: 0,
    }
}

/// Where `logs/` is judged (writable, free space): `logs/` itself, or the root when it
/// does not exist yet, since every run creates it there before writing anything (a
/// `check` of a fresh root scores the state its heal would leave).
fn logs_or_root(root: &Root) -> Option<RelPath> {
    let logs = RelPath::new("logs").ok()?;
    match root.entry(&logs) {
        Ok(Entry::Absent) => None,
        _ => Some(logs),
    }
}

fn disk(root: &Root, at: Option<&RelPath>) -> Option<(u64, u64)> {
    let free = root.available_space(at).ok()?;
    Some((free, root.total_space(at).ok()?))
}

pub(crate) fn assemble(
    s: &Session,
    journal: &Journal,
    mode: ModeChoice,
    planned: &Planned,
    results: Option<&[OpResult]>,
    boot: &[RelPath],
    dry: bool,
) -> Report {
    let mut stats = HealCounts::default();
    let mut healed = Vec::new();
    let mut actions = Vec::new();
    // A directory the plan creates anyway is listed once, as the plan's operation.
    let planned_path = |dir: &RelPath| planned.ops.iter().any(|op| op.path.as_ref() == Some(dir));
    for dir in boot.iter().filter(|d| !(dry && planned_path(d))) {
        let line = format!("Created directory: {dir}");
        if dry {
            healed.push(planned_message(&line));
        } else {
            stats.count(crate::plan::HealKind::BootstrapDirectory);
            healed.push(line);
        }
    }
    for (i, op) in planned.ops.iter().enumerate() {
        let r = results.and_then(|r| r.get(i));
        let a = Action::of(op, r);
        match r {
            None => healed.push(a.message.clone()),
            Some(OpResult::Applied) => {
                stats.count(op.heal);
                healed.push(op.message.clone());
            }
            Some(OpResult::Skipped(_)) => {}
        }
        actions.push(a);
    }
    let mut failed: Vec<String> = planned.failed.iter().map(Failed::line).collect();
    // What only recovery does: pending in a run that changes nothing, else not done.
    if dry {
        healed.extend(planned.pending_notes.iter().cloned());
    } else {
        failed.extend(planned.pending_notes.iter().cloned());
    }
    let findings = planned.findings.clone();
    let criticals = findings.iter().filter(|f| f.is_critical()).count();
    let failures = planned.failed.len();
    let health = score(s, journal, &findings, failures, planned.stale_heartbeats);
    let start_allowed = health::start_allowed(mode.mode, &health, criticals, failures);
    Report {
        success: criticals == 0,
        healed,
        failed,
        critical: findings
            .iter()
            .filter(|f| f.is_critical())
            .map(Finding::line)
            .collect(),
        warnings: findings
            .iter()
            .filter(|f| !f.is_critical())
            .map(|f| format!("{} {}", f.level, f.line()))
            .collect(),
        stats,
        transaction: None,
        mode: mode.mode,
        mode_source: mode.source,
        health,
        start_allowed,
        actions,
        findings,
        failures: planned.failed.clone(),
        recovery: None,
        dry_run: dry,
        alerts_suppressed: 0,
    }
}

fn score(
    s: &Session,
    journal: &Journal,
    findings: &[Finding],
    failed: usize,
    stale_heartbeats: usize,
) -> Health {
    let clock_behind = journal
        .txns
        .last()
        .and_then(|t| t.entries.last())
        .and_then(|e| {
            let ts = chrono::DateTime::parse_from_rfc3339(&e.record.ts)
                .ok()?
                .timestamp();
            let behind = ts - chrono::Utc::now().timestamp();
            (behind > 5).then_some(behind)
        });
    let logs = logs_or_root(&s.root);
    let not_writable = match s.root.writable_at(logs.as_ref()) {
        Ok(true) => Vec::new(),
        _ => vec!["logs".to_string()],
    };
    let mut inputs = health::Signals {
        failed,
        disk: disk(&s.root, logs.as_ref()),
        not_writable,
        journal_problem: journal.problem.as_ref().map(journal::Problem::describe),
        clock_behind,
        stale_heartbeats,
        ..health::Signals::default()
    };
    inputs.count_findings(findings);
    health::assess(&inputs)
}

/// The detectors a run's assessment calls on the state after its plan (`results`: what
/// was applied; `None`: the plan as it would be applied); [`detect_after`] unless a watch
/// cycle carries findings over.
pub(crate) type Detect<'a> =
    &'a mut dyn FnMut(&Ctx<'_>, &mut Planned, Option<&[OpResult]>) -> Detection;

/// What a run gives the assessment besides its applied plan.
pub(crate) struct Assess<'a> {
    /// selfheal's directories the run created (or, writing nothing, would create).
    pub boot: &'a [RelPath],
    /// What recovery did.
    pub recovery: Option<RecoverySummary>,
    /// Free space and backups size, measured before the commit.
    pub measured: Measured,
    /// The history the predictions read.
    pub past: Past<'a>,
    /// When the run started.
    pub started: Instant,
    /// The detectors, when not [`detect_after`].
    pub detect: Option<Detect<'a>>,
}

/// Stage 5's output: the run's report, and what its commit records besides.
pub(crate) struct Assessment<'r> {
    /// The report, as the commit summary records it.
    pub report: Report,
    /// Positions files known to exist.
    pub known_files: Vec<String>,
    /// The salvages applied.
    pub salvaged: Vec<journal_format::SalvageEntry>,
    /// The open transaction, if one was begun.
    pub txn: Option<Txn<'r>>,
    /// When the run started.
    pub started: Instant,
    /// What the predictions measured.
    pub measured: Measured,
}

/// Stage 5: detect, predict and score what `applied` left (nothing applied: the plan as
/// it would be applied, reported as a dry run).
pub(crate) fn assess<'r>(
    ctx: &Ctx<'_>,
    s: &Session,
    mode: ModeChoice,
    applied: Applied<'r>,
    how: Assess<'_>,
) -> Assessment<'r> {
    let Applied {
        mut planned,
        results,
        txn,
        id,
    } = applied;
    let results = results.as_deref();
    let detection = match how.detect {
        Some(detect) => detect(ctx, &mut planned, results),
        None => detect_after(ctx, &mut planned, results),
    };
    let current = results.map(|r| (id, r));
    let predicted = predictions(ctx, &planned, how.measured, current, how.past);
    planned.findings.extend(predicted);
    let dry = results.is_none();
    let mut report = assemble(s, ctx.journal, mode, &planned, results, how.boot, dry);
    report.recovery = how.recovery;
    let salvaged = results.map_or_else(Vec::new, |r| applied_salvages(&planned, r));
    Assessment {
        report,
        known_files: detection.known_files,
        salvaged,
        txn,
        started: how.started,
        measured: how.measured,
    }
}

impl Assessment<'_> {
    /// The alerts of this assessment, not yet appended: its report counts those the
    /// alert log suppresses.
    pub(crate) fn alerts(&mut self, s: &Session) -> Batch {
        let r = &mut self.report;
        let batch = Batch::prepare(&s.root, &s.layout, &r.findings, r.mode);
        r.alerts_suppressed = batch.suppressed;
        batch
    }
}
