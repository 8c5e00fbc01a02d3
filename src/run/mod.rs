//! The pipeline every repairing or checking run goes through, and the one statement of its
//! order:
//!
//! **recover -> inspect -> plan (policy) -> apply -> assess (detect, predict, score) ->
//! commit -> alert -> retention**
//!
//! 1. *recover* (`recover`): an interrupted transaction is rolled back first, under the bot's
//!    locks of its files (a read-only run only says what recovery would do).
//! 2. *inspect* (`inspect`): the checks read the state, each managed file under its bot
//!    lock, and plan repairs: an `Inspection`.
//! 3. *plan* (`plan`): the plan policy (`policy`, one table for every `RunKind`) and
//!    the bot-lock gate drop what must not run now: a `Plan`, whose operations are exactly
//!    what will be applied.
//! 4. *apply* (`apply`): one transaction begins, snapshots and applies the plan: an
//!    `Applied` (a read-only run applies nothing and assesses the plan as it would be).
//! 5. *assess* (`assess`): the detectors read the state after the plan, the predictions
//!    and the health score follow, all assembled into an `Assessment` (the report).
//! 6. *commit* (`commit`): the transaction commits with the assessment as its summary (a
//!    `heal` that applies nothing and decides what the newest run decided is added to the
//!    run record instead, `repeat`): `Committed`. The bot's locks are released after it.
//! 7. *alert* (`alert`): the findings go to the operator alert log, naming the commit.
//! 8. *retention* (`retention`): automatic pruning and the backups size warning.
//!
//! `heal` and `check` are sequenced here, and nowhere else. Stages 4 to 6 of every run that
//! writes are one function, `apply_and_commit`, used by `heal` and by a `watch` cycle with
//! work. A `watch` cycle (`commands::watch`) calls the other stage functions in the same
//! order itself, with what it carries and reuses between cycles (`carry`, `reuse`) and its
//! own bot-lock gate (`gate`); a cycle with nothing to change commits no transaction.
//! `check` (and `heal --dry-run`) runs stages 1 to 5 without writing: the same inspection
//! and the same policy as `heal`, what recovery would do added to the plan as notes, no
//! transaction, and the assessment of the plan as `heal` would apply it.
//!
//! Invariant: each stage consumes the previous stage's output and nothing earlier; only
//! `recover`, `apply` and `commit` (through the engine and the run record), `alert` and
//! `retention` write, and a read-only run calls none of them.

mod alert;
mod assess;
mod commit;
mod locked;
mod policy;
mod recover;
pub mod repeat;
mod retention;
mod session;

pub(crate) use alert::{alert, alerted, send_alerts};
pub(crate) use assess::{assemble, assess, blocked, measure, Assess, Past};
pub(crate) use commit::{commit, CommitAs, Committed};
pub(crate) use locked::{for_recovery, refused};
pub(crate) use policy::{policy, RunKind};
pub(crate) use recover::{journal_finding, locked_and_recovered, run as recover_held, Recovered};
pub(crate) use retention::retention;
pub use session::{bootstrap, Options, Session};
pub(crate) use session::{mode_doubt, mode_of};

use crate::botlock::{BotLocks, Busy};
use crate::checks::locks::Known;
use crate::checks::{self, Ctx, Phase, Planned};
use crate::error::Result;
use crate::findings::Finding;
use crate::journal::history::{History, Measured};
use crate::journal::{self, Journal};
use crate::lock;
use crate::mode::{Mode, ModeChoice};
use crate::paths::RelPath;
use crate::plan::OpResult;
use crate::report::{RecoverySummary, Report};
use crate::txn::{self, Txn, TxnMeta};
use std::time::Instant;

/// Stage 2's output: what the checks found and planned, before any policy.
pub(crate) struct Inspection {
    /// The checks' plan and findings.
    pub planned: Planned,
}

/// Stage 3's output: the plan a run may apply (its operations are exactly those applied),
/// with every refused operation as a failed heal.
pub(crate) struct Plan {
    /// The plan after policy and the bot-lock gate.
    pub planned: Planned,
}

/// Stage 4's output: the plan and what became of each operation.
pub(crate) struct Applied<'r> {
    /// The plan that was applied.
    pub planned: Planned,
    /// What became of each operation; `None` when nothing was applied on purpose (the
    /// plan as it would be applied: `check`).
    pub results: Option<Vec<OpResult>>,
    /// The open transaction, if one was begun.
    pub txn: Option<Txn<'r>>,
    /// The transaction's id (the next one when none was begun).
    pub id: u64,
}

/// The stage-1 report of a run that ends at recovery, with its alerts when it has any.
fn ended(s: &Session, report: Report, alert: bool) -> Report {
    if alert {
        alerted(s, report)
    } else {
        report
    }
}

/// Stage 2: the checks on the state `ctx` reads, plus the mode's doubt.
///
/// # Errors
/// I/O errors while reading the state.
pub(crate) fn inspect(ctx: &Ctx<'_>, doubt: Option<Finding>) -> Result<Inspection> {
    inspect_with(ctx, doubt, &mut checks::layout::plan_files)
}

/// [`inspect`] with the managed files planned by `files` (see [`checks::plan_with`]).
///
/// # Errors
/// I/O errors while reading the state.
pub(crate) fn inspect_with(
    ctx: &Ctx<'_>,
    doubt: Option<Finding>,
    files: &mut dyn FnMut(&Ctx<'_>, &mut Planned) -> Result<()>,
) -> Result<Inspection> {
    let mut planned = checks::plan_with(ctx, files)?;
    planned.findings.extend(doubt);
    Ok(Inspection { planned })
}

/// The bot locks a startup run holds and waits for while it plans.
pub(crate) struct Gate<'a> {
    /// Where the locks taken are kept (until the commit).
    pub locks: &'a mut BotLocks,
    /// Managed files whose lock stayed held before the checks ran.
    pub busy: Vec<Busy>,
    /// When the wait for a bot lock ends.
    pub deadline: Instant,
    /// Whether to take the locks the plan's operations need (`check` takes none).
    pub take: bool,
}

/// Stage 3: the plan policy of a `kind` run, then (for a startup run, `gate`) the bot
/// locks the plan needs: an operation on a file whose lock stays held becomes a failed
/// heal, with LOCK_HELD.
///
/// # Errors
/// I/O errors; [`crate::Error::Interrupted`] on a signal while waiting for a lock.
pub(crate) fn plan(
    s: &Session,
    kind: RunKind,
    inspection: Inspection,
    gate: Option<Gate<'_>>,
    mode: Mode,
) -> Result<Plan> {
    let mut planned = inspection.planned;
    policy(kind, &s.root, &mut planned)?;
    // ORDER: after the operations that will not run are dropped, so no lock file is
    // created for a file that is not written.
    if let Some(g) = gate {
        let busy = (g.busy, g.deadline);
        locked::after_plan(s, &mut planned, g.locks, busy, mode, g.take)?;
    }
    Ok(Plan { planned })
}

/// Stage 4: begins a transaction for `plan` (none for an empty plan), holding the bot
/// locks `guarded` names for its paths, and applies it.
///
/// # Errors
/// Operational errors of the engine.
pub(crate) fn apply<'r>(
    s: &'r Session,
    journal: &mut Journal,
    meta: TxnMeta,
    plan: Plan,
    guarded: Vec<(RelPath, RelPath)>,
) -> Result<Applied<'r>> {
    let planned = plan.planned;
    if planned.ops.is_empty() {
        let id = journal.next_txn();
        let results = Some(Vec::new());
        return Ok(Applied {
            planned,
            results,
            txn: None,
            id,
        });
    }
    let cap = s.layout.max_file_size;
    let mut txn = txn::begin(&s.root, journal, meta, &planned.ops, cap)?;
    txn.under_bot_locks(guarded);
    let results = Some(txn.apply(&planned.ops)?);
    let id = txn.id();
    Ok(Applied {
        planned,
        results,
        txn: Some(txn),
        id,
    })
}

/// Stage 4 of a run that writes nothing: the plan, as it would be applied.
pub(crate) fn nothing_applied<'r>(plan: Plan, journal: &Journal) -> Applied<'r> {
    Applied {
        planned: plan.planned,
        results: None,
        txn: None,
        id: journal.next_txn(),
    }
}

/// How the writing stages of a run go: the mode and phase its checks ran in, the bot
/// locks its transaction holds, and how to assess and commit it.
pub(crate) struct Tail<'a> {
    /// The run's mode.
    pub mode: ModeChoice,
    /// The phase and `--accept-loss`.
    pub phase: (Phase, bool),
    /// What the checks knew of the bot's locks.
    pub known: &'a Known,
    /// The bot locks held for the plan's paths (lock file, file).
    pub guarded: Vec<(RelPath, RelPath)>,
    /// selfheal's directories the run created.
    pub boot: &'a [RelPath],
    /// What recovery did.
    pub recovery: Option<RecoverySummary>,
    /// Free space and backups size as the run measured them; `None`: measured once the
    /// plan is applied, before the commit.
    pub measured: Option<Measured>,
    /// The history the predictions read.
    pub past: Past<'a>,
    /// When the run started.
    pub started: Instant,
    /// How stage 6 commits.
    pub commit: CommitAs,
}

/// Stages 4 to 6 of a run that writes (`heal`, a `watch` cycle with work): applies the
/// plan in one transaction, assesses the state after it and commits; returns what was
/// measured for the assessment (retention reads the backups size). The caller releases
/// the bot's locks after this returns, then alerts (stage 7) and runs retention (stage 8).
///
/// # Errors
/// Operational errors of the engine.
pub(crate) fn apply_and_commit(
    s: &Session,
    journal: &mut Journal,
    plan: Plan,
    tail: Tail<'_>,
) -> Result<(Committed, Measured)> {
    let meta = meta(tail.commit.command, tail.mode.mode);
    let applied = apply(s, journal, meta, plan, tail.guarded)?;
    let measured = tail.measured.unwrap_or_else(|| measure(&s.root, journal));
    let mut ctx = s.ctx(journal, tail.mode, tail.phase, tail.known);
    ctx.txn = Some(applied.id);
    let how = Assess {
        boot: tail.boot,
        recovery: tail.recovery,
        measured,
        past: tail.past,
        started: tail.started,
        detect: None,
    };
    let mut assessment = assess(&ctx, s, tail.mode, applied, how);
    let batch = assessment.alerts(s);
    let committed = commit(s, journal, assessment, batch, tail.commit)?;
    Ok((committed, measured))
}

/// The `begin` record of a run of `command` in `mode`.
pub(crate) fn meta(command: &'static str, mode: Mode) -> TxnMeta {
    TxnMeta {
        command,
        mode: Some(mode.to_string()),
        rollback_of: None,
    }
}

/// Runs `heal`, the whole pipeline (`heal --dry-run` is [`check`]).
///
/// # Errors
/// Operational errors (exit 8), lock timeout or a signal while waiting (32), invalid config
/// (16).
pub(crate) fn heal(opts: &Options) -> Result<Report> {
    let started = Instant::now();
    let s = Session::open(opts, opts.init)?;
    let resolved = mode_of(&s, opts);
    let mode = resolved.choice;
    let boot = bootstrap(&s.root)?;
    let _lock = lock::acquire(&s.root, opts.lock_timeout)?;
    let positions = repeat::positions(&s.layout);
    let mut journal = Journal::load_for_run(&s.root, s.mac.clone(), &positions)?;
    let deadline = s.bot_lock_deadline();
    let mut locks = BotLocks::default();
    let lock_wait = (&mut locks, deadline);
    let rec = match recover::startup(&s, &mut journal, mode, lock_wait, &boot)? {
        Recovered::Ready(rec) => rec,
        Recovered::Blocked { report, alert } => return Ok(ended(&s, *report, alert)),
    };
    // ORDER: before any bot lock file is created, so a journal out of ids writes nothing.
    journal.check_room(&s.root)?;
    let before = locked::before_plan(&s, &mut locks, deadline)?;
    let known = before.known;
    let phase = (Phase::Startup, opts.accept_loss);
    let inspection = inspect(
        &s.ctx(&journal, mode, phase, &known),
        mode_doubt(&s, &resolved),
    )?;
    let gate = Gate {
        locks: &mut locks,
        busy: before.busy,
        deadline,
        take: true,
    };
    let plan = plan(&s, RunKind::Heal, inspection, Some(gate), mode.mode)?;
    let guarded = locks.guarding(&s.layout, &plan.planned.ops);
    let extra = History::default();
    let tail = Tail {
        mode,
        phase,
        known: &known,
        guarded,
        boot: &boot,
        recovery: rec,
        measured: None,
        past: Past::Plus(&extra),
        started,
        commit: CommitAs {
            command: "heal",
            mode: mode.mode,
            repeatable: true,
            extra: Vec::new(),
        },
    };
    let (committed, measured) = apply_and_commit(&s, &mut journal, plan, tail)?;
    // ORDER: the bot's locks are released only once the transaction has committed.
    drop(locks);
    let committed = alert(&s, committed);
    let mut report = committed.report;
    if committed.txn.is_some() {
        retention(&s, &mut journal, &mut report, measured.backups_bytes);
    }
    Ok(report)
}

/// Runs `check` (and `heal --dry-run`): stages 1 to 5 of [`heal`], writing nothing at all
/// (selfheal's lock is taken shared, no bot lock file is created, no alert appended).
///
/// # Errors
/// Operational errors (exit 8), invalid config (16).
pub(crate) fn check(opts: &Options) -> Result<Report> {
    let s = Session::open(opts, false)?;
    let resolved = mode_of(&s, opts);
    let mode = resolved.choice;
    let _shared = lock::acquire_shared(&s.root, opts.lock_timeout)?;
    let positions = repeat::positions(&s.layout);
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
    let phase = (Phase::Startup, opts.accept_loss);
    let ctx = s.ctx(&journal, mode, phase, &before.known);
    let inspection = inspect(&ctx, mode_doubt(&s, &resolved))?;
    let gate = Gate {
        locks: &mut locks,
        busy: before.busy,
        deadline,
        take: false,
    };
    let mut plan = plan(&s, RunKind::Check, inspection, Some(gate), mode.mode)?;
    recover::pending(&s, &journal, &mut plan.planned)?;
    let boot = assess::missing_bootstrap(&s.root)?;
    let extra = History::default();
    let how = Assess {
        boot: &boot,
        recovery: None,
        measured: measure(&s.root, &journal),
        past: Past::Plus(&extra),
        started: Instant::now(),
        detect: None,
    };
    let applied = nothing_applied(plan, &journal);
    Ok(assess(&ctx, &s, mode, applied, how).report)
}
