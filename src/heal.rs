//! The commands as library calls: `heal` (recover -> validate -> plan -> snapshot -> apply ->
//! commit -> retention -> detect -> alert -> decide), `check` (the same findings and plan,
//! writing nothing at all), `rollback`, `recover` and `prune`. Each opens the root, loads the
//! layout, and for a writing command takes the lock and runs recovery before anything else.
//!
//! A live second bot instance in real mode (DUPLICATE_INSTANCE) means no state file is
//! written: recovery of an interrupted transaction waits, and every planned operation
//! becomes a failed heal. `rollback` refuses while a bot instance runs, unless forced.
//!
//! Every state file is read and rewritten under the bot's own lock for it, waited for up to
//! the bot's lock timeout and held until the transaction has committed (`locked`); a
//! managed file whose lock stays held is LOCK_HELD and is not written.

mod locked;

use crate::alerts::Batch;
use crate::botlock::BotLocks;
use crate::checks::locks::Known;
use crate::checks::{self, Ctx, Phase, Planned};
use crate::config::Layout;
use crate::detect::{self, Detection, PostState};
use crate::engine::{self, OpResult, TxnMeta};
use crate::error::{Error, Result};
use crate::findings::{code, Failed, Finding, Level};
use crate::fsx::{Entry, Root, TrustedLink};
use crate::health::{self, Health};
use crate::hint::Hints;
use crate::journal::{self, Journal, BACKUPS_DIR, JOURNAL_DIR};
use crate::lock;
use crate::mode::{self, Environment, Mode, ModeChoice, Resolution};
use crate::paths::RelPath;
use crate::paths::OBJECTS_DIR;
use crate::plan::{observe, Op};
use crate::predict::{self, History, Measured};
use crate::prune;
use crate::recovery::{self, intents_of, RecoveryOutcome};
use crate::report::{planned_message, Action, RecoveryReport, Report, Stats};
use crate::rollback;
use journal_format::{Mac, RollbackOf};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How a command is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The state root.
    pub root: PathBuf,
    /// An explicit config file.
    pub config: Option<PathBuf>,
    /// `--mode`.
    pub mode: Option<Mode>,
    /// The environment the mode is resolved with (`TRADING_MODE`, and what a `.env` may
    /// interpolate): the CLI passes its own; a library caller passes what the bot runs with.
    pub env: Environment,
    /// Create the root if it is missing.
    pub init: bool,
    /// How long to wait for another selfheal.
    pub lock_timeout: Duration,
    /// Apply a lossy salvage even in real mode.
    pub accept_loss: bool,
    /// Plan and report, change nothing.
    pub dry_run: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            root: PathBuf::from("."),
            config: None,
            mode: None,
            env: Environment::default(),
            init: false,
            lock_timeout: Duration::from_secs(30),
            accept_loss: false,
            dry_run: false,
        }
    }
}

/// An opened root with its layout.
pub struct Session {
    /// The root.
    pub root: Root,
    /// The layout.
    pub layout: Layout,
    /// The journal's tag algorithm.
    pub mac: Mac,
    /// Runnable commands for messages.
    pub hints: Hints,
}

impl Session {
    /// Opens the root (creating it with `init`) and loads the layout.
    ///
    /// # Errors
    /// A missing root, an invalid config, an unreadable key file.
    pub fn open(opts: &Options, init: bool) -> Result<Session> {
        let mut root = if init {
            Root::create(&opts.root)?
        } else {
            Root::open(&opts.root)?
        };
        let canonical = root.canonical_path()?;
        crate::paths::refuse_system_root(&canonical)?;
        let hints = Hints::new(&canonical, opts.config.as_deref());
        let layout = Layout::load(&opts.root, opts.config.as_deref())?;
        root.set_trusted(
            layout
                .trusted
                .iter()
                .map(|(link, target)| TrustedLink {
                    link: link.clone(),
                    target: target.clone(),
                })
                .collect(),
        );
        let mac = crate::keyfile::journal_mac(&layout, &opts.root)?;
        Ok(Session {
            root,
            layout,
            mac,
            hints,
        })
    }

    pub(crate) fn ctx<'a>(
        &'a self,
        journal: &'a Journal,
        mode: ModeChoice,
        (phase, accept_loss): (Phase, bool),
        locks: &'a Known,
    ) -> Ctx<'a> {
        Ctx {
            root: &self.root,
            layout: &self.layout,
            hints: &self.hints,
            txn: None,
            mode,
            now: chrono::Utc::now().timestamp(),
            journal,
            phase,
            accept_loss,
            locks,
        }
    }

    /// When a wait for the bot's locks that starts now must end.
    pub(crate) fn bot_lock_deadline(&self) -> Instant {
        Instant::now() + self.layout.lock_bot_timeout
    }
}

/// Creates selfheal's own directories (`logs/`, `logs/backups/` and below) if missing,
/// before the lock and journal can exist; returns the ones that were created.
/// `logs/backups/` is created 0755, as the bot creates it (it keeps its own backups there);
/// selfheal's subdirectories of it are 0700.
///
/// # Errors
/// I/O errors, or one of them existing as something other than a directory.
pub fn bootstrap(root: &Root) -> Result<Vec<RelPath>> {
    let mut created = Vec::new();
    for (dir, mode) in [
        ("logs", 0o755),
        (BACKUPS_DIR, 0o755),
        (JOURNAL_DIR, 0o700),
        (OBJECTS_DIR, 0o700),
    ] {
        let rel = RelPath::new(dir)?;
        // The journal and object directories are selfheal's internals: not reported.
        let made = root
            .ensure_dir(&rel, mode)
            .map_err(|e| root.explain_denied(e))?;
        if made && (dir == "logs" || dir == BACKUPS_DIR) {
            created.push(rel);
        }
    }
    Ok(created)
}

/// The mode of a command run on `s` (see [`mode`]).
pub(crate) fn mode_of(s: &Session, opts: &Options) -> Resolution {
    mode::resolve(
        opts.mode,
        &opts.env,
        s.hints.root(),
        &s.layout.config.trading_mode.dotenv_fallbacks,
    )
}

/// The HIGH finding that says why the mode fell to real, if it did.
pub(crate) fn mode_doubt(s: &Session, r: &Resolution) -> Option<Finding> {
    let why = r.doubt.as_ref()?;
    let path = r
        .dotenv
        .as_ref()
        .map_or_else(|| s.hints.path(mode::DOTENV), |p| p.display().to_string());
    Some(
        Finding::new(
            code::MODE_UNCERTAIN,
            Level::High,
            Some(mode::DOTENV),
            format!("{path} {why}: the mode is taken as real"),
            why.clone(),
        )
        .with_details(json!({"file": path, "mode": "real"})),
    )
}

/// Runs `heal`.
///
/// # Errors
/// Operational errors (exit 8), lock timeout or a signal while waiting (32), invalid config
/// (16).
pub fn heal(opts: &Options) -> Result<Report> {
    if opts.dry_run {
        return inspect(opts, true);
    }
    let started = Instant::now();
    let s = Session::open(opts, opts.init)?;
    let resolved = mode_of(&s, opts);
    let mode = resolved.choice;
    let boot = bootstrap(&s.root)?;
    let _lock = lock::acquire(&s.root, opts.lock_timeout)?;
    let positions = crate::repeat::positions(&s.layout);
    let mut journal = Journal::load_for_run(&s.root, s.mac.clone(), &positions)?;
    if let Some(f) = defer_recovery(&s, &journal, mode)? {
        return Ok(blocked(mode, f, None));
    }
    let deadline = s.bot_lock_deadline();
    let mut locks = BotLocks::default();
    let rec_report = match recover_first(&s, &mut journal, mode, (&mut locks, deadline), &boot)? {
        Ok(r) => r,
        Err(report) => return Ok(alerted(&s, report)),
    };
    // ORDER: before any bot lock file is created, so a journal out of ids writes nothing.
    journal.check_room(&s.root)?;
    let before = locked::before_plan(&s, &mut locks, deadline)?;
    let ctx = s.ctx(
        &journal,
        mode,
        (Phase::Startup, opts.accept_loss),
        &before.known,
    );
    let mut planned = checks::plan(&ctx)?;
    planned.findings.extend(mode_doubt(&s, &resolved));
    hold_while_duplicate(&mut planned);
    refuse_without_space(&s.root, &mut planned)?;
    // ORDER: after the operations that will not run are dropped, so no lock file is
    // created for a file that is not written.
    let busy = (before.busy, deadline);
    locked::after_plan(&s, &mut planned, &mut locks, busy, mode.mode, true)?;
    let run = HealRun {
        started,
        boot,
        rec_report,
        known: before.known,
        accept_loss: opts.accept_loss,
    };
    commit_heal(&s, &mut journal, mode, planned, run, locks)
}

/// What a heal did before its plan, for the rest of the run.
struct HealRun {
    started: Instant,
    boot: Vec<RelPath>,
    rec_report: Option<RecoveryReport>,
    known: Known,
    accept_loss: bool,
}

/// Recovery of an interrupted transaction under the bot locks of its files: `Ok(report)`
/// of what it did to go on, or `Err(report)` of a heal that ends here (a journal that
/// cannot be trusted, a conflict, a file still locked).
fn recover_first(
    s: &Session,
    journal: &mut Journal,
    mode: ModeChoice,
    (locks, deadline): (&mut BotLocks, Instant),
    boot: &[RelPath],
) -> Result<std::result::Result<Option<RecoveryReport>, Report>> {
    let busy = locked::for_recovery(s, journal, locks, deadline)?;
    if let (false, Some(t)) = (busy.is_empty(), journal.unfinished()) {
        let planned = locked::recovery_waits(s, t.txn, &busy, mode.mode);
        return Ok(Err(assemble(s, journal, mode, &planned, None, boot, false)));
    }
    let rec = match recovery::recover(&s.root, journal, s.layout.max_file_size, false) {
        Ok(r) => r,
        Err(Error::JournalCorrupt { file, why }) => {
            let f = journal_finding(&format!("{}: {why}", file.display()));
            return Ok(Err(blocked(mode, f, None)));
        }
        Err(e) => return Err(e),
    };
    let torn = rec
        .torn
        .as_ref()
        .and_then(|t| t.saved_to.as_ref())
        .map(|p| p.to_string());
    let rec_report = RecoveryReport::of(&rec.outcome, torn);
    if let RecoveryOutcome::Conflict { why, .. } = &rec.outcome {
        return Ok(Err(blocked(mode, journal_finding(why), rec_report)));
    }
    Ok(Ok(rec_report))
}

/// Applies and commits a heal's plan, releasing the bot's `locks` right after the commit,
/// then alerts and retention.
fn commit_heal(
    s: &Session,
    journal: &mut Journal,
    mode: ModeChoice,
    mut planned: Planned,
    run: HealRun,
    locks: BotLocks,
) -> Result<Report> {
    let cap = s.layout.max_file_size;
    let meta = || TxnMeta {
        command: "heal",
        mode: Some(mode.mode.to_string()),
        rollback_of: None,
    };
    // A run with nothing to apply begins a transaction only once it is known to decide
    // something else than the newest run (`repeat`).
    let mut txn = match planned.ops.is_empty() {
        true => None,
        false => Some(engine::begin(&s.root, journal, meta(), &planned.ops, cap)?),
    };
    if let Some(t) = &mut txn {
        t.under_bot_locks(locks.guarding(&s.layout, &planned.ops));
    }
    let results = match &mut txn {
        Some(t) => t.apply(&planned.ops)?,
        None => Vec::new(),
    };
    // ORDER: detection sees the applied state and runs before the commit, so the commit
    // summary records the criticals; alerts follow the commit to name its id.
    let id = txn
        .as_ref()
        .map_or_else(|| journal.next_txn(), engine::Txn::id);
    let mut ctx = s.ctx(journal, mode, (Phase::Startup, run.accept_loss), &run.known);
    ctx.txn = Some(id);
    let detection = detect_after(&ctx, &mut planned, Some(&results));
    let measured = measure(&s.root, journal);
    let history = History::default();
    predict_applied(&ctx, &mut planned, measured, (id, &results), &history);
    let mut report = assemble(s, journal, mode, &planned, Some(&results), &run.boot, false);
    report.recovery = run.rec_report;
    let batch = Batch::prepare(&s.root, &s.layout, &report.findings, mode.mode);
    report.alerts_suppressed = batch.suppressed;
    let salvaged = applied_salvages(&planned, &results);
    let summary = summary(&report, &detection, &salvaged, run.started, measured);
    let txn = match txn {
        Some(t) => t,
        None => {
            let (m, r) = (mode.mode, &mut report);
            if crate::repeat::record(s, journal, m, &summary, measured, run.started, r)? {
                send_alerts(s, &batch, None, &mut report);
                return Ok(report);
            }
            engine::begin(&s.root, journal, meta(), &[], cap)?
        }
    };
    let id = txn.commit(journal, summary)?;
    // ORDER: the bot's locks are released only once the transaction has committed.
    drop(locks);
    report.transaction = Some(id);
    send_alerts(s, &batch, Some(id), &mut report);
    retention(s, journal, &mut report, measured.backups_bytes);
    Ok(report)
}

/// The operations a transaction applied, for the predictions.
pub(crate) struct Applied<'a> {
    /// The transaction.
    pub txn: u64,
    /// Its plan.
    pub ops: &'a [Op],
    /// What became of each operation.
    pub results: &'a [OpResult],
}

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

/// Adds to `planned` the predictive warnings of a run whose transaction `applied.0` gave
/// `applied.1`.
pub(crate) fn predict_applied(
    ctx: &Ctx<'_>,
    planned: &mut Planned,
    measured: Measured,
    applied: (u64, &[OpResult]),
    extra: &History,
) {
    let current = Applied {
        txn: applied.0,
        ops: &planned.ops,
        results: applied.1,
    };
    let predicted = predictions(ctx, planned, measured, Some(&current), extra);
    planned.findings.extend(predicted);
}

/// The predictive warnings (`predict`) for the state `ctx` and `planned` describe, the
/// journal's history plus `extra`, and the paths `current` just healed.
pub(crate) fn predictions(
    ctx: &Ctx<'_>,
    planned: &Planned,
    measured: Measured,
    current: Option<&Applied<'_>>,
    extra: &History,
) -> Vec<Finding> {
    let mut history = History::from_journal(ctx.journal);
    history.merge(extra);
    if let Some(c) = current {
        let applied = c
            .ops
            .iter()
            .zip(c.results)
            .filter(|(_, r)| **r == OpResult::Applied);
        history.heals.extend(applied.filter_map(|(op, _)| {
            Some(predict::Healed {
                txn: c.txn,
                at: ctx.now,
                path: op.path.as_ref()?.to_string(),
            })
        }));
    }
    predict_from(ctx, planned, measured, &history)
}

/// The predictive warnings for the state `ctx` and `planned` describe, given the history.
pub(crate) fn predict_from(
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

/// Appends the alerts of a heal; a failure to write them is reported, never fatal (the heal
/// itself is committed by then).
pub(crate) fn send_alerts(s: &Session, batch: &Batch, txn: Option<u64>, report: &mut Report) {
    if let Err(e) = batch.append(&s.root, &s.layout, txn) {
        let why = engine::error_chain(&e);
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

/// After a committed heal: automatic retention (`retention.auto`), then the size warning
/// for `logs/backups/` (`measured`: its size taken before the commit, used unless retention
/// removed something). Neither can undo the heal: a failure is a warning.
pub(crate) fn retention(
    s: &Session,
    journal: &mut Journal,
    report: &mut Report,
    measured: Option<u64>,
) {
    let mut found = Vec::new();
    let mut size = measured;
    if s.layout.config.retention.auto {
        match auto_prune(s, journal) {
            AutoPrune::Removed => size = None,
            AutoPrune::Nothing => {}
            AutoPrune::Failed(f) => found.push(f),
        }
    }
    let size = size.map_or_else(|| prune::backups_size(&s.root), Ok);
    match size {
        Ok(size) if size > s.layout.retention_warn_size => found.push(
            Finding::new(
                code::BACKUPS_SIZE,
                Level::High,
                Some(BACKUPS_DIR),
                format!(
                    "{BACKUPS_DIR} holds {size} bytes, over retention.warn_size ({} bytes): run `{}` or lower retention.keep / retention.older_than",
                    s.layout.retention_warn_size,
                    s.hints.command(&["prune"])
                ),
                "backups over the configured size",
            )
            .with_details(json!({"bytes": size, "warn_size": s.layout.retention_warn_size})),
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot measure {BACKUPS_DIR}: {}", engine::error_chain(&e)),
    }
    for f in found {
        report.warnings.push(format!("{} {}", f.level, f.line()));
        report.findings.push(f);
    }
}

/// What automatic retention did.
enum AutoPrune {
    /// It removed files or objects (the backups' size changed).
    Removed,
    /// Nothing to do.
    Nothing,
    /// It failed: the finding that says so.
    Failed(Finding),
}

/// Automatic retention after a heal.
fn auto_prune(s: &Session, journal: &mut Journal) -> AutoPrune {
    let policy = prune::Policy::of(&s.layout);
    let trigger = prune::Trigger::AfterHeal;
    match prune::run(&s.root, journal, &policy, chrono::Utc::now(), trigger) {
        Ok(r) => {
            if let (Some(range), Some(t)) = (&r.pruned, r.transaction) {
                tracing::info!(
                    "retention pruned transactions {}-{} as transaction {t}",
                    range.from_txn,
                    range.through_txn
                );
            }
            if r.files_removed > 0 || r.objects_removed > 0 || r.transaction.is_some() {
                AutoPrune::Removed
            } else {
                AutoPrune::Nothing
            }
        }
        Err(e) => {
            let why = engine::error_chain(&e);
            tracing::warn!("automatic retention failed: {why}");
            AutoPrune::Failed(Finding::new(
                code::RETENTION,
                Level::Medium,
                Some(BACKUPS_DIR),
                format!("automatic retention failed: {why}"),
                "automatic retention failed",
            ))
        }
    }
}

/// Runs `check` (or `heal --dry-run`): the same findings and plan, nothing written.
///
/// # Errors
/// Operational errors (exit 8), invalid config (16).
pub fn check(opts: &Options) -> Result<Report> {
    inspect(opts, false)
}

fn inspect(opts: &Options, _as_heal: bool) -> Result<Report> {
    let s = Session::open(opts, false)?;
    let resolved = mode_of(&s, opts);
    let mode = resolved.choice;
    let _shared = lock::acquire_shared(&s.root, opts.lock_timeout)?;
    let positions = crate::repeat::positions(&s.layout);
    let journal = Journal::load_for_run(&s.root, s.mac.clone(), &positions)?;
    if let Some(p) = &journal.problem {
        if let journal::Problem::Version { .. } = p {
            return Err(p.to_error(&s.root));
        }
        let why = p.describe_with_advice(&s.root);
        return Ok(blocked(mode, journal_finding(&why), None));
    }
    let deadline = s.bot_lock_deadline();
    let mut locks = BotLocks::default();
    let before = locked::before_plan(&s, &mut locks, deadline)?;
    let ctx = s.ctx(
        &journal,
        mode,
        (Phase::Startup, opts.accept_loss),
        &before.known,
    );
    let mut planned = checks::plan(&ctx)?;
    planned.findings.extend(mode_doubt(&s, &resolved));
    hold_while_duplicate(&mut planned);
    let busy = (before.busy, deadline);
    locked::after_plan(&s, &mut planned, &mut locks, busy, mode.mode, false)?;
    pending_recovery(&s, &journal, &mut planned)?;
    detect_after(&ctx, &mut planned, None);
    let predicted = predictions(
        &ctx,
        &planned,
        measure(&s.root, &journal),
        None,
        &History::default(),
    );
    planned.findings.extend(predicted);
    let boot = missing_bootstrap(&s.root)?;
    let mut report = assemble(&s, &journal, mode, &planned, None, &boot, true);
    report.dry_run = true;
    Ok(report)
}

/// What `check` reports about an unfinished transaction: a pending rollback, or a conflict.
fn pending_recovery(s: &Session, journal: &Journal, planned: &mut Planned) -> Result<()> {
    let Some(t) = journal.unfinished() else {
        return Ok(());
    };
    for it in intents_of(t) {
        let Some(path) = &it.path else { continue };
        let now = observe(
            &s.root,
            &RelPath::new(path.as_str())?,
            s.layout.max_file_size,
        )?;
        let decision = now.node().map_or(journal_format::Decision::Conflict, |n| {
            journal_format::decide(&it, n)
        });
        if decision == journal_format::Decision::Conflict {
            planned.findings.push(journal_finding(&format!(
                "transaction {} op {}: {path} matches neither its state before nor after",
                t.txn, it.op
            )));
        }
        if decision == journal_format::Decision::KeepNewer {
            planned.pending_notes.push(format!(
                "recovery: {path} was rewritten by the bot under its lock after transaction {} was interrupted; its version will be kept",
                t.txn
            ));
        }
    }
    planned.pending_notes.push(format!(
        "Would roll back interrupted transaction {} (recovery, before any repair)",
        t.txn
    ));
    Ok(())
}

fn missing_bootstrap(root: &Root) -> Result<Vec<RelPath>> {
    let mut out = Vec::new();
    for dir in ["logs", BACKUPS_DIR] {
        let rel = RelPath::new(dir)?;
        if matches!(root.entry(&rel)?, Entry::Absent) {
            out.push(rel);
        }
    }
    Ok(out)
}

pub(crate) fn journal_finding(why: &str) -> Finding {
    Finding::new(
        code::JOURNAL_INTEGRITY,
        Level::Critical,
        Some(JOURNAL_DIR),
        format!("selfheal's journal cannot be trusted: {why}"),
        why.to_string(),
    )
    .with_details(json!({"problem": why}))
}

/// A report for a run that must change nothing because of `finding`.
pub(crate) fn blocked(
    mode: ModeChoice,
    finding: Finding,
    recovery: Option<RecoveryReport>,
) -> Report {
    let health = health::assess(&health::Inputs {
        criticals: 1,
        journal_problem: (finding.code == code::JOURNAL_INTEGRITY).then(|| finding.message.clone()),
        ..health::Inputs::default()
    });
    Report {
        success: false,
        healed: Vec::new(),
        failed: Vec::new(),
        critical: vec![finding.line()],
        stats: Stats::default(),
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

/// Turns every planned operation into a failed heal when the filesystem of the backups has
/// not room for what the plan writes (`space::needed`: backups, new content, directories,
/// journal records).
pub(crate) fn refuse_without_space(root: &Root, planned: &mut Planned) -> Result<()> {
    if planned.ops.is_empty() {
        return Ok(());
    }
    let backups = RelPath::new(BACKUPS_DIR)?;
    let need = crate::space::needed(&planned.ops, root.block_size(Some(&backups))?);
    let have = root.available_space(Some(&backups))?;
    if have >= need {
        return Ok(());
    }
    drop_ops(
        planned,
        &format!("not enough disk space for the backups: need {need} bytes, {have} free"),
    );
    Ok(())
}

/// Turns every planned operation into a failed heal with `reason`.
pub(crate) fn drop_ops(planned: &mut Planned, reason: &str) {
    for op in std::mem::take(&mut planned.ops) {
        planned.failed.push(Failed {
            heal: op.heal,
            path: op.path.map(|p| p.to_string()),
            reason: reason.to_string(),
        });
        if op.heal == crate::plan::HealKind::StaleHeartbeat {
            planned.stale_heartbeats += 1;
        }
    }
    for f in &mut planned.files {
        f.op = None;
    }
}

/// In real mode a live second bot instance (DUPLICATE_INSTANCE) means no state file is
/// written at all: every planned operation becomes a failed heal.
pub(crate) fn hold_while_duplicate(planned: &mut Planned) {
    if planned
        .findings
        .iter()
        .any(|f| f.code == code::DUPLICATE_INSTANCE)
    {
        drop_ops(
            planned,
            "not applied: another bot instance is running in this root (DUPLICATE_INSTANCE)",
        );
    }
}

/// Recovery writes state files too: in real mode, with a transaction to recover and a bot
/// instance running, nothing is done and the duplicate is reported instead.
fn defer_recovery(s: &Session, journal: &Journal, mode: ModeChoice) -> Result<Option<Finding>> {
    if mode.mode != Mode::Real || journal.unfinished().is_none() {
        return Ok(None);
    }
    let bots = checks::processes::scan(&s.root, &s.layout)?;
    if bots.is_empty() {
        return Ok(None);
    }
    let list: Vec<String> = bots
        .iter()
        .map(|b| format!("{} ({})", b.pid, b.command()))
        .collect();
    Ok(Some(
        Finding::new(
            code::DUPLICATE_INSTANCE,
            Level::Critical,
            None,
            format!(
                "another bot instance is running in this root: {}; recovery of the interrupted transaction waits until it stops",
                list.join(", ")
            ),
            "recovery deferred",
        )
        .with_details(json!({"pids": bots.iter().map(|b| b.pid).collect::<Vec<_>>()})),
    ))
}

/// `rollback` refuses while a bot instance runs in the root, unless forced.
fn refuse_while_bot_runs(s: &Session, txn: u64, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let bots = checks::processes::scan(&s.root, &s.layout)?;
    match bots.first() {
        None => Ok(()),
        Some(b) => Err(Error::Refused(format!(
            "a bot instance is running in this root (pid {}: {}); stop it first, or roll back anyway with `{}`",
            b.pid,
            b.command(),
            s.hints.command(&["rollback", &txn.to_string(), "--force"])
        ))),
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
    let mut stats = Stats::default();
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
    let mut inputs = health::Inputs {
        failed,
        disk: disk(&s.root, logs.as_ref()),
        not_writable,
        journal_problem: journal.problem.as_ref().map(journal::Problem::describe),
        clock_behind,
        stale_heartbeats,
        ..health::Inputs::default()
    };
    inputs.count_findings(findings);
    health::assess(&inputs)
}

/// The `commit` summary: what the run found and did, for audit and metrics, the
/// positions files known to exist (read back by `detect::gone`), the salvages applied and
/// the samples the predictions read back (`disk_free`, `backups_bytes`).
pub(crate) fn summary(
    r: &Report,
    d: &Detection,
    salvaged: &[journal_format::SalvageEntry],
    started: Instant,
    measured: Measured,
) -> serde_json::Value {
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
        known_files: d.known_files.clone(),
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

/// Runs `prune [--keep N] [--older-than DUR]`: retention of the journal and the backup
/// store, under the lock and after recovery; `None` takes the configured value.
///
/// # Errors
/// A journal problem or a recovery conflict ([`Error::Refused`]), operational errors, lock
/// timeout, invalid config.
pub fn prune(
    opts: &Options,
    keep: Option<u64>,
    older_than: Option<Duration>,
) -> Result<prune::PruneReport> {
    let s = Session::open(opts, false)?;
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let configured = prune::Policy::of(&s.layout);
    let keep = keep.unwrap_or(configured.keep);
    let policy = prune::Policy {
        keep,
        older_than: older_than.unwrap_or(configured.older_than),
        max_transactions: configured.max_transactions.max(keep),
    };
    prune::run(
        &s.root,
        &mut journal,
        &policy,
        chrono::Utc::now(),
        prune::Trigger::Command,
    )
}

/// What `rollback` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackReport {
    /// The transaction undone.
    pub target: u64,
    /// The new transaction that recorded the rollback (none for a dry run or no-op).
    pub transaction: Option<u64>,
    /// Each operation.
    pub actions: Vec<Action>,
    /// Operations that cannot be undone.
    pub irreversible: Vec<String>,
    /// Paths changed since the transaction (rolled back anyway: forced).
    pub changed: Vec<String>,
    /// Directories left because they are no longer empty.
    pub kept_dirs: Vec<String>,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
}

/// Runs `rollback <txn>`.
///
/// # Errors
/// [`Error::Refused`] and [`Error::ObjectCorrupt`] (exit 4), [`Error::NoSuchTransaction`],
/// operational errors, lock timeout.
pub fn rollback(opts: &Options, txn: u64, force: bool) -> Result<RollbackReport> {
    let s = Session::open(opts, false)?;
    refuse_while_bot_runs(&s, txn, force)?;
    let cap = s.layout.max_file_size;
    if opts.dry_run {
        let _shared = lock::acquire_shared(&s.root, opts.lock_timeout)?;
        let journal = Journal::load(&s.root, s.mac.clone())?;
        let plan = rollback::plan(&s.root, &journal, txn, force, cap, &s.hints)?;
        return Ok(rollback_report(&plan, None, None));
    }
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let plan = rollback::plan(&s.root, &journal, txn, force, cap, &s.hints)?;
    if plan.ops.is_empty() {
        return Ok(rollback_report(&plan, None, None));
    }
    // A file the rolled-back transaction wrote over the cap is re-checked at its own size.
    let cap = plan
        .targets()
        .iter()
        .filter_map(|o| o.stat.map(|st| st.size))
        .fold(cap, u64::max);
    let needs = crate::botlock::needs_of(&s.layout, &plan.ops);
    let mut locks = BotLocks::default();
    let deadline = s.bot_lock_deadline();
    let busy = crate::botlock::acquire(&s.root, &s.layout, &needs, deadline, &mut locks)?;
    if !busy.is_empty() {
        return Err(locked::refused("rollback refused", &busy));
    }
    let mut t = engine::begin(
        &s.root,
        &mut journal,
        TxnMeta {
            command: "rollback",
            mode: None,
            rollback_of: Some(RollbackOf { txn, force }),
        },
        &plan.ops,
        cap,
    )?;
    t.with_xattrs(plan.xattrs.clone());
    t.with_delta_bases(plan.bases.clone());
    t.under_bot_locks(locks.guarding(&s.layout, &plan.ops));
    let results = t.apply(&plan.ops)?;
    let summary = json!({
        "rollback_of": txn,
        "force": force,
        "changed": plan.changed,
        "irreversible": plan.irreversible,
        "restored": plan.ops.iter().map(|o| o.message.clone()).collect::<Vec<_>>(),
    });
    let id = t.commit(&mut journal, summary)?;
    // ORDER: the bot's locks are released only once the transaction has committed.
    drop(locks);
    Ok(rollback_report(&plan, Some(&results), Some(id)))
}

fn rollback_report(
    plan: &rollback::RollbackPlan,
    results: Option<&[OpResult]>,
    id: Option<u64>,
) -> RollbackReport {
    RollbackReport {
        target: plan.target,
        transaction: id,
        actions: plan
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| Action::of(op, results.and_then(|r| r.get(i))))
            .collect(),
        irreversible: plan.irreversible.clone(),
        changed: plan.changed.clone(),
        kept_dirs: plan.kept_dirs.clone(),
        dry_run: results.is_none(),
    }
}

/// The prologue of every command that writes besides `heal` and `recover`: the backups
/// directory, the lock, the journal, and recovery first; a recovery conflict refuses the
/// command.
pub(crate) fn locked_and_recovered(
    s: &Session,
    opts: &Options,
) -> Result<(lock::DirLock, Journal)> {
    bootstrap(&s.root)?;
    let held = lock::acquire(&s.root, opts.lock_timeout)?;
    let mut journal = Journal::load(&s.root, s.mac.clone())?;
    let mut locks = BotLocks::default();
    let busy = locked::for_recovery(s, &journal, &mut locks, s.bot_lock_deadline())?;
    if !busy.is_empty() {
        return Err(locked::refused(
            "recovery of an interrupted transaction waits",
            &busy,
        ));
    }
    let rec = recovery::recover(&s.root, &mut journal, s.layout.max_file_size, false)?;
    // ORDER: the bot's locks of the recovered files are released once recovery is done.
    drop(locks);
    if let RecoveryOutcome::Conflict { why, .. } = rec.outcome {
        return Err(Error::Refused(format!(
            "recovery found a conflict first: {why}"
        )));
    }
    Ok((held, journal))
}

/// What `recover` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecoverReport {
    /// The outcome, or none when there was nothing to do.
    pub recovery: Option<RecoveryReport>,
    /// Whether a conflict is left for the operator.
    pub conflict: bool,
    /// Temp files removed.
    pub swept: usize,
}

/// Runs `recover [--keep-current]`.
///
/// # Errors
/// Journal problems (exit 4), operational errors, lock timeout.
pub fn recover(opts: &Options, keep_current: bool) -> Result<RecoverReport> {
    let s = Session::open(opts, false)?;
    bootstrap(&s.root)?;
    let _lock = lock::acquire(&s.root, opts.lock_timeout)?;
    let mut journal = Journal::load(&s.root, s.mac.clone())?;
    let mut locks = BotLocks::default();
    let busy = locked::for_recovery(&s, &journal, &mut locks, s.bot_lock_deadline())?;
    if !busy.is_empty() {
        return Err(locked::refused(
            "recovery of the interrupted transaction waits",
            &busy,
        ));
    }
    let rec = recovery::recover(&s.root, &mut journal, s.layout.max_file_size, keep_current)?;
    drop(locks);
    let torn = rec
        .torn
        .as_ref()
        .and_then(|t| t.saved_to.as_ref())
        .map(|p| p.to_string());
    Ok(RecoverReport {
        conflict: matches!(rec.outcome, RecoveryOutcome::Conflict { .. }),
        recovery: RecoveryReport::of(&rec.outcome, torn),
        swept: rec.swept,
    })
}

/// What `ack` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AckReport {
    /// The transaction acknowledged.
    pub acknowledged: u64,
    /// The critical codes acknowledged.
    pub codes: Vec<String>,
    /// The recorded findings acknowledged (code, path, evidence), besides a salvage loss.
    pub findings: Vec<crate::journal::acks::Recorded>,
    /// The transaction that recorded the acknowledgement.
    pub transaction: u64,
}

/// Runs `ack <txn>`: records, as its own transaction, that an operator acknowledged the
/// criticals transaction `txn` recorded (a lossy salvage applied in paper mode, a
/// SLOT_DIVERGENCE), so real mode may start again. The `ack` records name each code; the
/// commit summary names each finding.
///
/// # Errors
/// [`Error::NoSuchTransaction`] or [`Error::Usage`] (nothing to acknowledge), journal
/// problems, operational errors, lock timeout.
pub fn ack(opts: &Options, txn: u64) -> Result<AckReport> {
    let s = Session::open(opts, false)?;
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let target = journal.find(txn).ok_or(Error::NoSuchTransaction(txn))?;
    let salvage = crate::journal::acks::pending(&journal)
        .iter()
        .any(|p| p.txn == txn);
    let findings: Vec<crate::journal::acks::Recorded> = crate::journal::acks::recorded(target)
        .into_iter()
        .filter(|r| crate::journal::acks::acknowledged_by(&journal, r).is_none())
        .collect();
    let mut codes: Vec<String> = Vec::new();
    if salvage {
        codes.push(code::DATA_INTEGRITY.to_string());
    }
    for f in &findings {
        if !codes.contains(&f.code.to_string()) {
            codes.push(f.code.to_string());
        }
    }
    if codes.is_empty() {
        return Err(Error::Usage(format!(
            "transaction {txn} has no unacknowledged critical (nothing to acknowledge)"
        )));
    }
    let meta = TxnMeta {
        command: "ack",
        mode: None,
        rollback_of: None,
    };
    let mut t = engine::begin(&s.root, &mut journal, meta, &[], s.layout.max_file_size)?;
    for c in &codes {
        t.note(journal_format::Body::Ack(journal_format::Ack {
            txn,
            code: c.clone(),
        }))?;
    }
    let id = t.commit(
        &mut journal,
        json!({"acknowledged": txn, "code": codes[0], "codes": codes, "findings": findings}),
    )?;
    Ok(AckReport {
        acknowledged: txn,
        codes,
        findings,
        transaction: id,
    })
}

/// What `salvage` produced.
pub struct SalvageOutput {
    /// The file read (`-` for standard input).
    pub source: String,
    /// The bytes read.
    pub input: Vec<u8>,
    /// The salvage; its document is pieces of `input` ([`Self::write_document`]).
    pub salvaged: crate::salvage::Rebuilt,
}

impl SalvageOutput {
    /// Writes the salvaged document to `w` as it is made: piece by piece, straight from
    /// the bytes read (no second copy of the file).
    ///
    /// # Errors
    /// The writer's errors.
    pub fn write_document(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.salvaged.output.write_to(&self.input, w)
    }

    /// The salvaged document in one buffer.
    pub fn document(&self) -> Vec<u8> {
        self.salvaged.output.to_vec(&self.input)
    }
}

/// Runs `salvage [FILE|-]`, read-only: the managed positions file of the root when no file
/// is given; the shape of the managed file a given path names, else the positions shape.
///
/// # Errors
/// I/O errors reading the input, an input over `limits.max_file_size`, invalid config.
pub fn salvage_file(opts: &Options, file: Option<&std::path::Path>) -> Result<SalvageOutput> {
    let layout = match Root::open(&opts.root) {
        Ok(_) => Layout::load(&opts.root, opts.config.as_deref())?,
        Err(_) => Layout::from_config(crate::config::Config::default(), None)?,
    };
    let positions = layout.file(crate::config::FileRole::Positions).cloned();
    let (source, bytes, spec) = match file {
        Some(p) if p.as_os_str() == "-" => {
            ("-".to_string(), read_stdin(layout.max_file_size)?, None)
        }
        Some(p) => {
            let spec = managed_spec(&opts.root, &layout, p);
            (
                p.display().to_string(),
                read_capped(p, layout.max_file_size)?,
                spec,
            )
        }
        None => {
            let spec = positions
                .clone()
                .ok_or_else(|| Error::Usage("no positions file is configured".into()))?;
            let path = opts.root.join(spec.path.as_path());
            (
                path.display().to_string(),
                read_capped(&path, layout.max_file_size)?,
                Some(spec),
            )
        }
    };
    let shape = match spec.or(positions) {
        Some(spec) => checks::corrupt::shape_of(&spec),
        None => crate::salvage::Shape::positions(),
    };
    let skeleton = salvage_skeleton(&bytes, &shape.record_arrays);
    let salvaged = crate::salvage::rebuild(&bytes, &shape, &skeleton);
    Ok(SalvageOutput {
        source,
        input: bytes,
        salvaged,
    })
}

/// One pass over the intact part: the strict scan finds where the bytes break and the
/// records it completed before, which the salvage takes instead of scanning them again.
/// Whether the text rewinds at a block boundary, the salvage's other pass over the whole
/// input, is asked beside it on a second thread for a large input (inline when a thread
/// cannot be started).
fn salvage_skeleton(bytes: &[u8], record_arrays: &[String]) -> crate::salvage::Skeleton {
    let spec = crate::jsondoc::Spec {
        record_arrays,
        ..crate::jsondoc::Spec::default()
    };
    let (runs, rewinds) = std::thread::scope(|scope| {
        let beside = (bytes.len() >= crate::store::LARGE_OBJECT)
            .then(|| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || crate::salvage::block_rewinds(bytes))
                    .ok()
            })
            .flatten();
        let runs = crate::jsondoc::record_runs(bytes, &spec);
        (runs, beside.and_then(|h| h.join().ok()))
    });
    let skeleton = crate::salvage::Skeleton::runs(runs);
    match rewinds {
        Some(r) => skeleton.with_block_rewinds(r),
        None => skeleton,
    }
}

/// The managed file `path` names, if it is one (compared after resolving both).
fn managed_spec(
    root: &std::path::Path,
    layout: &Layout,
    path: &std::path::Path,
) -> Option<crate::config::File> {
    let want = std::fs::canonicalize(path).ok()?;
    layout
        .files
        .iter()
        .find(|f| {
            std::fs::canonicalize(root.join(f.path.as_path()))
                .ok()
                .as_ref()
                == Some(&want)
        })
        .cloned()
}

fn read_capped(path: &std::path::Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(crate::error::IoOp::Open, path, e))?;
    let mut bytes = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(crate::error::IoOp::Read, path, e))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(path, cap));
    }
    Ok(bytes)
}

fn read_stdin(cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(crate::error::IoOp::Read, "-", e))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(std::path::Path::new("-"), cap));
    }
    Ok(bytes)
}

fn too_large(path: &std::path::Path, cap: u64) -> Error {
    let why = std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("larger than limits.max_file_size ({cap} bytes)"),
    );
    Error::io(crate::error::IoOp::Read, path, why)
}
