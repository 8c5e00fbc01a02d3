//! `watch`: periodic checks beside a running bot (README, "Watch"). Each cycle takes
//! selfheal's lock (a bounded wait; a busy lock skips the cycle), runs recovery first, plans
//! with `Phase::Watch`, and repairs a state file only while holding the bot's own flock for
//! it (`gate`): a file whose lock the bot holds is skipped this cycle. A cycle with work is
//! one transaction (command `watch`), followed by automatic retention; a cycle with nothing
//! to do writes no journal record at all, only the alerts not already in the alert log
//! within its dedupe window (stale heartbeats and long-held locks are reported and alerted,
//! never reset or removed). Predictive warnings (`predict`) run every cycle, with samples
//! kept in memory between cycles as well as those of the journal.
//!
//! Invariants: watch never signals a process, never resets a heartbeat and never removes a
//! lock — a plan asking for one of these is refused whole (it would be a bug in a check);
//! no file operation runs without the bot's lock for its file held until the commit (for
//! every file that has one, see `botlock`);
//! SIGTERM/SIGINT are honoured between steps and while sleeping, and a transaction, once
//! begun, is always finished. An operational error in a cycle (a full disk, an I/O error)
//! ends that cycle only: whatever it began is rolled back (or left to the next cycle's
//! recovery), it is reported (status line, JSON line, a WATCH_CYCLE_FAILED alert) and the
//! next cycle tries again; [`MAX_FAILURES`] failed cycles in a row, a configuration error
//! or a journal of an unknown newer format end watch. Every intent of a cycle's transaction
//! names the bot lock held for its path, so a recovery after this process was killed keeps
//! what the bot wrote under that lock since. With `NOTIFY_SOCKET`, the cycles are reported
//! to systemd (`notify`).
//!
//! # What a cycle does not read again
//!
//! A managed file whose device, inode, size, mtime and ctime (and mode, owner, link count)
//! and whose bot lock state (held by flock or a POSIX record lock, free, no lock file) are
//! those of the last complete check is not read: its classification and what planning found
//! about it are carried over (`carry`). That is safe because the kernel sets a file's ctime
//! to the current time on every change of its content or metadata (any write or truncate,
//! chmod, chown, a new link, an xattr change) and no process can set it to anything else:
//! `utimensat` (`touch -d`) puts the mtime back, never the ctime, which it moves forward
//! itself. A file replaced by a rename is another inode. So an unchanged (device, inode,
//! size, mtime, ctime) means unchanged bytes, except when the clock was set back and a
//! rewrite of the same size landed on a past ctime: the full check every
//! `watch.full_check_every` cycles (default 20; 1 reads everything every cycle) bounds how
//! long that can go unseen. A file changed less than 2 s (`carry::RACY`) before it was read is
//! read again next cycle (a write in the same timestamp tick after the read would keep its
//! metadata), and a file an operation was planned for is never carried over.
//!
//! What a finding depends on besides the file's bytes is evaluated every cycle: the time
//! (heartbeats, lock files and their holders, processes: small files, all read every
//! cycle), the other managed files (the findings comparing them, STATE_MISMATCH and the
//! position detectors, are carried over only while no managed file was read again, and are
//! otherwise computed again from every file's classification), the journal (a vanished
//! positions file, unacknowledged salvages, acknowledged slot findings, the predictions'
//! history: all computed every cycle from the journal) and other deployment slots. The
//! configuration and the mode are read once, when watch starts. After a cycle that
//! repaired, skipped, was blocked, failed or found selfheal's lock busy, the next one reads
//! everything. Besides the files (`reuse`): the journal is not reloaded while its directory
//! listing and every file's metadata are unchanged (only a selfheal holding selfheal's lock,
//! which a cycle holds throughout, writes it), the size of selfheal's part of
//! `logs/backups/` is measured again only when the journal changed, and the alert log is
//! read only when there is something to alert and it changed since it was last read; a full
//! check reloads, measures and reads all three again.

mod carry;
mod gate;
pub mod notify;
mod report;
mod reuse;

pub use gate::Skip;
pub use notify::NotifyTarget;
pub use report::{human_duration, CycleOutcome, CycleReport};

use crate::alerts::Batch;
use crate::checks::locks::Known;
use crate::checks::{self, Phase, Planned};
use crate::detect::{self, Detection, PostState};
use crate::error::{Error, Result};
use crate::findings::{code, Finding, Level};
use crate::journal::history::{History, Measured};
use crate::journal::{self, Journal};
use crate::lock;
use crate::mode::{Mode, ModeChoice};
use crate::paths::RelPath;
use crate::plan::OpResult;
use crate::report::{RecoverySummary, Report};
use crate::run::{self, Assess, CommitAs, Options, Past, Plan, RunKind, Session, Tail};
use carry::Carry;
use notify::Notifier;
use reuse::{Loaded, Reuse};
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Samples a running watch keeps in memory are at least this far apart (seconds).
const SAMPLE_GAP_S: i64 = 60;

/// Failed cycles in a row after which watch stops with the last error (exit 8).
pub const MAX_FAILURES: u32 = 5;

/// How `watch` runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The pause between the end of one cycle and the start of the next.
    pub interval: Duration,
    /// Stop after this many cycles (`None`: until a signal or the caller stops it).
    pub cycles: Option<u64>,
    /// Where to send sd_notify messages, if anywhere.
    pub notify: Option<NotifyTarget>,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            interval: Duration::from_secs(30),
            cycles: None,
            notify: None,
        }
    }
}

/// Why `watch` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
    /// The number of cycles asked for ran.
    Cycles,
    /// The callback asked to stop.
    Caller,
}

/// What a whole `watch` run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WatchSummary {
    /// Cycles completed.
    pub cycles: u64,
    /// Why it stopped.
    pub stop: Stop,
}

/// Runs `watch`: a cycle, `on_cycle` with its report, a pause of `w.interval`, and again,
/// until SIGTERM/SIGINT (see [`lock::install_signal_handlers`]), `w.cycles` cycles, or
/// `on_cycle` returning [`ControlFlow::Break`]. A signal during a cycle lets the cycle
/// finish what it began (a transaction is never left unfinished on purpose); a cycle
/// stopped before it wrote anything is not reported.
///
/// # Errors
/// The root or configuration cannot be opened (exit 16 for a bad configuration), an
/// unusable `NOTIFY_SOCKET`, an unknown journal version, or [`MAX_FAILURES`] cycles in a row
/// that failed on an operational error (the last one's error; each failed cycle was
/// reported to `on_cycle` first); a busy lock or a single failed cycle is not an error.
pub fn watch(
    opts: &Options,
    w: &WatchOptions,
    mut on_cycle: impl FnMut(&CycleReport) -> ControlFlow<()>,
) -> Result<WatchSummary> {
    if opts.dry_run {
        let hints = crate::hint::Hints::new(&opts.root, opts.config.as_deref());
        return Err(Error::Usage(format!(
            "watch has no dry run: `{}` shows what a cycle would do",
            hints.command(&["check"])
        )));
    }
    let notifier = w.notify.as_ref().map(Notifier::open).transpose()?;
    let ping = notifier.as_ref().and_then(|n| n.target().ping_every());
    let s = Session::open(opts, false)?;
    let resolved = run::mode_of(&s, opts);
    if let Some(f) = run::mode_doubt(&s, &resolved) {
        tracing::warn!("{}", f.message);
    }
    let positions = run::repeat::positions(&s.layout);
    let mut watcher = Watcher {
        positions,
        s,
        mode: resolved.choice,
        accept_loss: opts.accept_loss,
        lock_wait: ping.map_or(opts.lock_timeout, |p| opts.lock_timeout.min(p)),
        memory: History::default(),
        carry: Carry::new(),
        reuse: Reuse::default(),
    };
    let mut done = 0;
    let mut failures = 0;
    let stop = loop {
        if w.cycles.is_some_and(|max| done >= max) {
            break Stop::Cycles;
        }
        if lock::interrupted() {
            break Stop::Signal;
        }
        let (mut c, fatal) = match watcher.cycle(done + 1) {
            Ok(Some(c)) => {
                failures = 0;
                (c, None)
            }
            Ok(None) | Err(Error::Interrupted) => break Stop::Signal,
            Err(e) if ends_watch(&e) => return Err(e),
            Err(e) => {
                failures += 1;
                let c = watcher.failed(done + 1, &e, failures);
                (c, (failures >= MAX_FAILURES).then_some(e))
            }
        };
        done += 1;
        let last = w.cycles.is_some_and(|max| done >= max);
        c.next_in_ms = (!last).then(|| millis(w.interval));
        log_cycle(&c);
        if let Some(n) = &notifier {
            notify_cycle(n, &c);
        }
        if on_cycle(&c).is_break() {
            break Stop::Caller;
        }
        if let Some(e) = fatal {
            if let Some(n) = &notifier {
                n.send("STOPPING=1");
            }
            return Err(e);
        }
        if !last && sleep(w.interval, notifier.as_ref()) {
            break Stop::Signal;
        }
    };
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    Ok(WatchSummary { cycles: done, stop })
}

/// Errors that end watch at once: retrying cannot help (the configuration, a journal of a
/// newer format) or the operator asked for something watch cannot do.
fn ends_watch(e: &Error) -> bool {
    matches!(
        e,
        Error::Usage(_) | Error::Config { .. } | Error::JournalVersion { .. }
    )
}

/// `STATUS=<status line>` and `WATCHDOG=1` after a cycle, with `READY=1` after the first.
fn notify_cycle(n: &Notifier, c: &CycleReport) {
    let mut extra = vec!["WATCHDOG=1"];
    if c.cycle == 1 {
        extra.insert(0, "READY=1");
    }
    n.status(&c.status_line(), &extra);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sleeps `d`, pinging the watchdog every half period if it is on; returns whether a
/// signal ended the sleep.
fn sleep(d: Duration, notifier: Option<&Notifier>) -> bool {
    let ping = notifier.and_then(|n| n.target().ping_every());
    let deadline = Instant::now() + d;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let slice = ping.map_or(left, |p| left.min(p));
        if lock::pause(slice) {
            return true;
        }
        if left <= slice {
            return false;
        }
        if let Some(n) = notifier {
            n.send("WATCHDOG=1");
        }
    }
}

/// The details behind a status line, for `-v`.
fn log_cycle(c: &CycleReport) {
    let Some(r) = &c.report else { return };
    for line in &r.healed {
        tracing::info!("cycle {}: healed: {line}", c.cycle);
    }
    for s in &c.skipped {
        tracing::info!("cycle {}: skipped: {}", c.cycle, s.reason);
    }
    for line in r.critical.iter().chain(&r.warnings).chain(&r.failed) {
        tracing::info!("cycle {}: {line}", c.cycle);
    }
}

/// What a running watch keeps between cycles.
struct Watcher {
    s: Session,
    mode: ModeChoice,
    accept_loss: bool,
    lock_wait: Duration,
    memory: History,
    /// The managed files not read again while unchanged.
    carry: Carry,
    /// The journal, backups size and alert log lines not read again while unchanged.
    reuse: Reuse,
    /// The layout's positions files (what the journal's facts track).
    positions: Vec<String>,
}

/// What recovery left for the rest of the cycle.
enum Recovered {
    /// Go on (with what recovery did, if anything).
    Ready(Option<RecoverySummary>),
    /// Write nothing more this cycle.
    Blocked(Box<Report>, Vec<Skip>),
}

impl Watcher {
    /// The report of cycle `n`, which `err` stopped (the `in_a_row`th failure in a row),
    /// after its alert (best effort: the error may be a full disk).
    fn failed(&self, n: u64, err: &Error, in_a_row: u32) -> CycleReport {
        let why = crate::error::error_chain(err);
        tracing::error!("cycle {n} failed: {why}");
        let finding = Finding::new(
            code::WATCH_CYCLE_FAILED,
            Level::High,
            None,
            format!(
                "watch cycle {n} failed: {why}; the next cycle tries again (watch stops after {MAX_FAILURES} failed cycles in a row)"
            ),
            why.clone(),
        );
        let s = &self.s;
        let batch = Batch::prepare(&s.root, &s.layout, &[finding], self.mode.mode);
        if let Err(e) = batch.append(&s.root, &s.layout, None) {
            tracing::error!("cannot append the alert: {}", crate::error::error_chain(&e));
        }
        let mut c = CycleReport::new(n, journal::now_rfc3339(), CycleOutcome::Failed);
        c.error = Some(why);
        c.failures_in_a_row = Some(in_a_row);
        c
    }

    /// One cycle; `None` when a signal stopped it before it wrote anything. Only a cycle
    /// that completed its check and changed, skipped and failed nothing lets the next one
    /// carry over what did not change.
    fn cycle(&mut self, n: u64) -> Result<Option<CycleReport>> {
        let r = self.run_cycle(n);
        self.carry.end(matches!(&r, Ok(Some(c)) if clean(c)));
        r
    }

    fn run_cycle(&mut self, n: u64) -> Result<Option<CycleReport>> {
        let started = Instant::now();
        let ts = journal::now_rfc3339();
        let boot = run::bootstrap(&self.s.root)?;
        let _lock = match lock::acquire(&self.s.root, self.lock_wait) {
            Ok(l) => l,
            Err(Error::LockTimeout { waited_ms, .. }) => {
                let mut c = CycleReport::new(n, ts, CycleOutcome::LockBusy);
                c.lock_waited_ms = Some(waited_ms);
                return Ok(Some(c));
            }
            Err(Error::Interrupted) => return Ok(None),
            Err(e) => return Err(e),
        };
        let full = self
            .carry
            .begin(n, self.s.layout.config.watch.full_check_every);
        let mut loaded =
            self.reuse
                .journal(&self.s.root, &self.s.mac, &self.positions, (n, full))?;
        let rec = match self.recover(&mut loaded.journal)? {
            Recovered::Ready(rec) => rec,
            Recovered::Blocked(report, skipped) => {
                let mut c = CycleReport::new(n, ts, CycleOutcome::Blocked);
                c.report = Some(*report);
                c.skipped = skipped;
                return Ok(Some(c));
            }
        };
        if lock::interrupted() {
            return Ok(None);
        }
        let run = Run {
            boot,
            rec,
            cycle: n,
            started,
            full,
        };
        let Some((outcome, report, skipped)) = self.work(&mut loaded, run)? else {
            return Ok(None);
        };
        let mut c = CycleReport::new(n, ts, outcome);
        c.report = Some(report);
        c.skipped = skipped;
        if clean(&c) {
            self.reuse.keep_journal(loaded);
        }
        Ok(Some(c))
    }

    /// Plans, gates on the bot's locks, and either commits one transaction (then retention)
    /// or only reports; `None` when a signal arrived before anything was written.
    fn work(
        &mut self,
        loaded: &mut Loaded,
        run: Run,
    ) -> Result<Option<(CycleOutcome, Report, Vec<Skip>)>> {
        let (mut plan, mut skipped) = self.plan(&loaded.journal)?;
        let measured = self.measure(&loaded.key, run.full || run.rec.is_some());
        let now = chrono::Utc::now().timestamp();
        self.memory.remember(now, measured, SAMPLE_GAP_S);
        let (held, locked) = gate::take(&self.s.root, &self.s.layout, &mut plan.planned)?;
        skipped.extend(locked);
        if lock::interrupted() {
            return Ok(None);
        }
        let (outcome, report) = if plan.planned.ops.is_empty() {
            let report = self.quiet(loaded, plan, run, measured)?;
            loaded.journal.settle_index(&self.s.root);
            (CycleOutcome::Checked, report)
        } else {
            let locked = held.guarding(&self.s.layout, &plan.planned.ops);
            let journal = &mut loaded.journal;
            let mut r = self.commit(journal, plan, run, measured, (&skipped, locked))?;
            // ORDER: the bot's locks are released only once the transaction is committed.
            drop(held);
            run::retention(&self.s, journal, &mut r, measured.backups_bytes);
            (CycleOutcome::Committed, r)
        };
        skipped.extend(changed_since(&report));
        Ok(Some((outcome, report, skipped)))
    }

    /// What the predictions measure now (see `run::measure`): free space at once, the
    /// size of the backups as last measured unless `fresh` or the journal changed.
    fn measure(&mut self, journal: &reuse::DirState, fresh: bool) -> Measured {
        let s = &self.s;
        let backups = RelPath::new(crate::paths::BACKUPS_DIR).ok();
        let present = backups
            .as_ref()
            .is_some_and(|b| matches!(s.root.entry(b), Ok(crate::fsx::Entry::Present(_))));
        if !present {
            return Measured::default();
        }
        Measured {
            disk_free: s.root.available_space(backups.as_ref()).ok(),
            backups_bytes: self.reuse.backups_size(&s.root, journal, fresh),
        }
    }

    /// Recovery of an interrupted transaction, under the bot's locks of the files it
    /// touched (and, in real mode, not while a second bot instance runs).
    fn recover(&self, journal: &mut Journal) -> Result<Recovered> {
        let s = &self.s;
        let _held = match journal.unfinished() {
            None => None,
            Some(t) => {
                let txn = t.txn;
                let paths = crate::botlock::intent_needs(&s.layout, t)?;
                if let Some(blocked) = self.recovery_waits(journal, txn, &paths)? {
                    return Ok(blocked);
                }
                match gate::take_paths(&s.root, &s.layout, &paths)? {
                    Ok(held) => Some(held),
                    Err(reason) => return Ok(self.waiting(journal, txn, reason)),
                }
            }
        };
        match run::recover_held(s, journal, self.mode)? {
            run::Recovered::Ready(rec) => Ok(Recovered::Ready(rec)),
            run::Recovered::Blocked { report, .. } => {
                let report = Box::new(run::alerted(s, *report));
                Ok(Recovered::Blocked(report, Vec::new()))
            }
        }
    }

    /// In real mode, recovery waits while a second bot instance runs (DUPLICATE_INSTANCE).
    fn recovery_waits(
        &self,
        journal: &Journal,
        txn: u64,
        paths: &[crate::botlock::Need],
    ) -> Result<Option<Recovered>> {
        if self.mode.mode != Mode::Real || paths.is_empty() {
            return Ok(None);
        }
        let Some(f) = checks::processes::second_instance(&self.s.root, &self.s.layout)? else {
            return Ok(None);
        };
        let mut planned = Planned::default();
        planned.findings.push(f);
        planned.pending_notes.push(format!(
            "recovery: interrupted transaction {txn} waits until the second bot instance stops"
        ));
        let report = run::assemble(&self.s, journal, self.mode, &planned, None, &[], false);
        let report = Box::new(run::alerted(&self.s, report));
        Ok(Some(Recovered::Blocked(report, Vec::new())))
    }

    /// The report of a cycle whose recovery waits for a bot lock.
    fn waiting(&self, journal: &Journal, txn: u64, reason: String) -> Recovered {
        let mut planned = Planned::default();
        let note = format!("recovery of interrupted transaction {txn} waits: {reason}");
        planned.pending_notes.push(note.clone());
        let report = run::assemble(&self.s, journal, self.mode, &planned, None, &[], false);
        let skip = Skip {
            heal: "recovery".into(),
            path: String::new(),
            reason: note,
            locked: true,
        };
        Recovered::Blocked(Box::new(report), vec![skip])
    }

    /// What the checks know of the bot's locks in a cycle: none is held by watch while it
    /// plans, and a held lock is waited for up to the bot's lock timeout (never longer than
    /// a cycle may wait for selfheal's own lock) before it is reported as held too long.
    fn known(&self) -> Known {
        let wait = self.s.layout.lock_bot_timeout.min(self.lock_wait);
        Known::waiting_until(Instant::now() + wait)
    }

    /// The cycle's plan: what the checks plan in [`Phase::Watch`] (the managed files that
    /// did not change carried over from the last cycle, `carry`), minus what was read while
    /// the bot was writing it (or under its lock), returned as skips (`gate::verify`), and
    /// minus what the plan policy refuses to a watch cycle ([`run::policy`]).
    fn plan(&mut self, journal: &Journal) -> Result<(Plan, Vec<Skip>)> {
        let known = self.known();
        let ctx = self
            .s
            .ctx(journal, self.mode, (Phase::Watch, self.accept_loss), &known);
        let carry = &mut self.carry;
        let mut inspection = run::inspect_with(&ctx, None, &mut |ctx, p| carry.plan_files(ctx, p))?;
        let skipped = gate::verify(&self.s.root, &self.s.layout, &mut inspection.planned)?;
        let plan = run::plan(&self.s, RunKind::Watch, inspection, None, self.mode.mode)?;
        Ok((plan, skipped))
    }

    /// A cycle with nothing to change: findings, predictions and new alerts only (the
    /// empty plan is applied without a transaction).
    fn quiet(&mut self, loaded: &mut Loaded, plan: Plan, run: Run, m: Measured) -> Result<Report> {
        let known = self.known();
        let Loaded {
            journal, history, ..
        } = loaded;
        let mut history = history
            .get_or_insert_with(|| History::from_journal(journal))
            .clone();
        history.merge(&self.memory);
        let (s, carry) = (&self.s, &mut self.carry);
        let applied = run::apply(
            s,
            journal,
            run::meta("watch", self.mode.mode),
            plan,
            Vec::new(),
        )?;
        let ctx = s.ctx(journal, self.mode, (Phase::Watch, self.accept_loss), &known);
        let mut detect = |ctx: &checks::Ctx<'_>, p: &mut Planned, _: Option<&[OpResult]>| {
            detect_planned(carry, ctx, p)
        };
        let how = Assess {
            boot: &run.boot,
            recovery: run.rec,
            measured: m,
            past: Past::Whole(history),
            started: run.started,
            detect: Some(&mut detect),
        };
        let mut report = run::assess(&ctx, s, self.mode, applied, how).report;
        let findings = (report.findings.as_slice(), self.mode.mode);
        let when = (run.cycle, run.full);
        let batch = self.reuse.alerts(&s.root, &s.layout, findings, when);
        report.alerts_suppressed = batch.suppressed;
        run::send_alerts(s, &batch, None, &mut report);
        Ok(report)
    }

    /// A cycle with work: one transaction, then its alerts.
    fn commit(
        &self,
        journal: &mut Journal,
        plan: Plan,
        run: Run,
        m: Measured,
        (skipped, locked): (&[Skip], Vec<(RelPath, RelPath)>),
    ) -> Result<Report> {
        let s = &self.s;
        let known = self.known();
        let skipped = serde_json::to_value(skipped).unwrap_or_default();
        let tail = Tail {
            mode: self.mode,
            phase: (Phase::Watch, self.accept_loss),
            known: &known,
            guarded: locked,
            boot: &run.boot,
            recovery: run.rec,
            measured: Some(m),
            past: Past::Plus(&self.memory),
            started: run.started,
            commit: CommitAs {
                command: "watch",
                mode: self.mode.mode,
                repeatable: false,
                extra: vec![("cycle", run.cycle.into()), ("skipped", skipped)],
            },
        };
        let (committed, _) = run::apply_and_commit(s, journal, plan, tail)?;
        Ok(run::alert(s, committed).report)
    }
}

/// The detectors on the state as planned (`run`'s detection with nothing applied), the
/// findings that depend only on the managed files' contents carried over while no managed
/// file was read again.
fn detect_planned(carry: &mut Carry, ctx: &checks::Ctx<'_>, planned: &mut Planned) -> Detection {
    let mut detection = {
        let cfg = &ctx.layout.config;
        let post = PostState::build(planned, None, &cfg.positions.identity);
        let content = carry.content(|| detect::content(cfg, &post));
        detect::run_with(ctx, &post, content)
    };
    planned.findings.append(&mut detection.findings);
    detect::for_mode(&mut planned.findings, ctx.mode.mode);
    detection
}

/// What a cycle did before it planned.
struct Run {
    boot: Vec<RelPath>,
    rec: Option<RecoverySummary>,
    cycle: u64,
    started: Instant,
    /// Whether it reads everything again (nothing carried over).
    full: bool,
}

/// Whether cycle `c` completed its check and changed, skipped and failed nothing: only
/// then may the next cycle carry over what did not change since.
fn clean(c: &CycleReport) -> bool {
    c.outcome == CycleOutcome::Checked
        && c.skipped.is_empty()
        && c.report
            .as_ref()
            .is_some_and(|r| r.recovery.is_none() && r.transaction.is_none())
}

/// The operations the engine skipped because their path changed since it was planned.
fn changed_since(report: &Report) -> Vec<Skip> {
    report
        .actions
        .iter()
        .filter(|a| a.result == crate::report::ActionResult::Skipped)
        .map(|a| Skip {
            heal: a.heal.to_string(),
            path: a.path.clone().unwrap_or_default(),
            reason: a.skipped_because.clone().unwrap_or_default(),
            locked: false,
        })
        .collect()
}
