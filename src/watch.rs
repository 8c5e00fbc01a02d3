//! `watch`: periodic checks beside a running bot (CONTRACT.md, `watch`). Each cycle takes
//! selfheal's lock (a bounded wait; a busy lock skips the cycle), runs recovery first, plans
//! with [`Phase::Watch`], and repairs a state file only while holding the bot's own flock for
//! it (`gate`): a file whose lock the bot holds is skipped this cycle. A cycle with work is
//! one transaction (command `watch`), followed by automatic retention; a cycle with nothing
//! to do writes no journal record at all, only the alerts not already in the alert log
//! within its dedupe window (stale heartbeats and long-held locks are reported and alerted,
//! never reset or removed). Predictive warnings (`predict`) run every cycle, with samples
//! kept in memory between cycles as well as those of the journal.
//!
//! Invariants: watch never signals a process, never resets a heartbeat and never removes a
//! lock — a plan asking for one of these is refused whole (it would be a bug in a check);
//! no file operation runs without the bot's lock for its file held until the commit;
//! SIGTERM/SIGINT are honoured between steps and while sleeping, and a transaction, once
//! begun, is always finished. With `NOTIFY_SOCKET`, the cycles are reported to systemd
//! (`notify`).

mod gate;
pub mod notify;
mod report;

pub use gate::Skip;
pub use notify::NotifyTarget;
pub use report::{human_duration, CycleReport, Outcome};

use crate::alerts::Batch;
use crate::checks::{self, Phase, Planned};
use crate::engine::{self, TxnMeta};
use crate::error::{Error, Result};
use crate::heal::{self, Options, Session};
use crate::journal::{self, Journal, BACKUPS_DIR};
use crate::lock;
use crate::mode::{Mode, ModeChoice};
use crate::paths::RelPath;
use crate::plan::{Action, Op};
use crate::predict::{History, Measured};
use crate::recovery::{self, RecoveryOutcome};
use crate::report::{RecoveryReport, Report};
use journal_format::Node;
use notify::Notifier;
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Samples a running watch keeps in memory are at least this far apart (seconds).
const SAMPLE_GAP_S: i64 = 60;

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
/// unusable `NOTIFY_SOCKET`, an unknown journal version, or an I/O error in a cycle (any
/// transaction it began is rolled back first); a busy lock is not an error.
pub fn watch(
    opts: &Options,
    w: &WatchOptions,
    mut on_cycle: impl FnMut(&CycleReport) -> ControlFlow<()>,
) -> Result<WatchSummary> {
    if opts.dry_run {
        return Err(Error::Usage(
            "watch has no dry run: `selfheal check` shows what a cycle would do".into(),
        ));
    }
    let notifier = w.notify.as_ref().map(Notifier::open).transpose()?;
    let ping = notifier.as_ref().and_then(|n| n.target().ping_every());
    let mut watcher = Watcher {
        s: Session::open(opts, false)?,
        mode: heal::mode_of(opts),
        accept_loss: opts.accept_loss,
        lock_wait: ping.map_or(opts.lock_timeout, |p| opts.lock_timeout.min(p)),
        memory: History::default(),
    };
    let mut done = 0;
    let stop = loop {
        if w.cycles.is_some_and(|max| done >= max) {
            break Stop::Cycles;
        }
        if lock::interrupted() {
            break Stop::Signal;
        }
        let Some(mut c) = watcher.cycle(done + 1)? else {
            break Stop::Signal;
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
        if !last && sleep(w.interval, notifier.as_ref()) {
            break Stop::Signal;
        }
    };
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    Ok(WatchSummary { cycles: done, stop })
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
}

/// What recovery left for the rest of the cycle.
enum Recovered {
    /// Go on (with what recovery did, if anything).
    Ready(Option<RecoveryReport>),
    /// Write nothing more this cycle.
    Blocked(Box<Report>, Vec<Skip>),
}

impl Watcher {
    /// One cycle; `None` when a signal stopped it before it wrote anything.
    fn cycle(&mut self, n: u64) -> Result<Option<CycleReport>> {
        let started = Instant::now();
        let ts = journal::now_rfc3339();
        let boot = heal::bootstrap(&self.s.root)?;
        let _lock = match lock::acquire(&self.s.root, self.lock_wait) {
            Ok(l) => l,
            Err(Error::LockTimeout { waited_ms, .. }) => {
                let mut c = CycleReport::new(n, ts, Outcome::LockBusy);
                c.lock_waited_ms = Some(waited_ms);
                return Ok(Some(c));
            }
            Err(Error::Interrupted) => return Ok(None),
            Err(e) => return Err(e),
        };
        let positions = crate::repeat::positions(&self.s.layout);
        let mut journal = Journal::load_for_run(&self.s.root, self.s.mac.clone(), &positions)?;
        let rec = match self.recover(&mut journal)? {
            Recovered::Ready(rec) => rec,
            Recovered::Blocked(report, skipped) => {
                let mut c = CycleReport::new(n, ts, Outcome::Blocked);
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
        };
        let Some((outcome, report, skipped)) = self.work(&mut journal, run)? else {
            return Ok(None);
        };
        let mut c = CycleReport::new(n, ts, outcome);
        c.report = Some(report);
        c.skipped = skipped;
        Ok(Some(c))
    }

    /// Plans, gates on the bot's locks, and either commits one transaction (then retention)
    /// or only reports; `None` when a signal arrived before anything was written.
    fn work(
        &mut self,
        journal: &mut Journal,
        run: Run,
    ) -> Result<Option<(Outcome, Report, Vec<Skip>)>> {
        let (mut planned, mut skipped) = self.plan(journal)?;
        let measured = heal::measure(&self.s.root, journal);
        let now = chrono::Utc::now().timestamp();
        self.memory.remember(now, measured, SAMPLE_GAP_S);
        let (held, locked) = gate::take(&self.s.root, &self.s.layout, &mut planned)?;
        skipped.extend(locked);
        if lock::interrupted() {
            return Ok(None);
        }
        let (outcome, report) = if planned.ops.is_empty() {
            let report = self.quiet(journal, planned, run, measured);
            journal.settle_index(&self.s.root);
            (Outcome::Checked, report)
        } else {
            let mut r = self.commit(journal, planned, run, measured, &skipped)?;
            // ORDER: the bot's locks are released only once the transaction is committed.
            drop(held);
            heal::retention(&self.s, journal, &mut r, measured.backups_bytes);
            (Outcome::Committed, r)
        };
        skipped.extend(changed_since(&report));
        Ok(Some((outcome, report, skipped)))
    }

    /// Recovery of an interrupted transaction, under the bot's locks of the files it
    /// touched (and, in real mode, not while a second bot instance runs).
    fn recover(&self, journal: &mut Journal) -> Result<Recovered> {
        let s = &self.s;
        let _held = match journal.unfinished() {
            None => None,
            Some(t) => {
                let txn = t.txn;
                let paths = unfinished_files(t)?;
                if let Some(blocked) = self.recovery_waits(journal, txn, &paths)? {
                    return Ok(blocked);
                }
                match gate::take_paths(&s.root, &s.layout, &paths)? {
                    Ok(held) => Some(held),
                    Err(reason) => return Ok(self.waiting(journal, txn, reason)),
                }
            }
        };
        let cap = s.layout.max_file_size;
        let rec = match recovery::recover(&s.root, journal, cap, false) {
            Ok(r) => r,
            Err(Error::JournalCorrupt { file, why }) => {
                let f = heal::journal_finding(&format!("{}: {why}", file.display()));
                let report = heal::blocked(self.mode.mode, f, None);
                return Ok(Recovered::Blocked(
                    Box::new(heal::alerted(s, report)),
                    Vec::new(),
                ));
            }
            Err(e) => return Err(e),
        };
        let torn = rec.torn.as_ref().and_then(|t| t.saved_to.as_ref());
        let rec_report = RecoveryReport::of(&rec.outcome, torn.map(ToString::to_string));
        if let RecoveryOutcome::Conflict { why, .. } = &rec.outcome {
            let report = heal::blocked(self.mode.mode, heal::journal_finding(why), rec_report);
            return Ok(Recovered::Blocked(
                Box::new(heal::alerted(s, report)),
                Vec::new(),
            ));
        }
        Ok(Recovered::Ready(rec_report))
    }

    /// In real mode, recovery waits while a second bot instance runs (DUPLICATE_INSTANCE).
    fn recovery_waits(
        &self,
        journal: &Journal,
        txn: u64,
        paths: &[RelPath],
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
        let report = heal::assemble(&self.s, journal, self.mode.mode, &planned, None, &[], false);
        let report = Box::new(heal::alerted(&self.s, report));
        Ok(Some(Recovered::Blocked(report, Vec::new())))
    }

    /// The report of a cycle whose recovery waits for a bot lock.
    fn waiting(&self, journal: &Journal, txn: u64, reason: String) -> Recovered {
        let mut planned = Planned::default();
        let note = format!("recovery of interrupted transaction {txn} waits: {reason}");
        planned.pending_notes.push(note.clone());
        let report = heal::assemble(&self.s, journal, self.mode.mode, &planned, None, &[], false);
        let skip = Skip {
            heal: "recovery".into(),
            path: String::new(),
            reason: note,
            locked: true,
        };
        Recovered::Blocked(Box::new(report), vec![skip])
    }

    /// The cycle's plan: what the checks plan in [`Phase::Watch`], minus what was read
    /// while the bot was writing it (or under its lock), returned as skips (`gate::verify`),
    /// and minus what must not run now (a plan asking for something watch never does; a
    /// duplicate instance in real mode; too little disk space for the backups).
    fn plan(&self, journal: &Journal) -> Result<(Planned, Vec<Skip>)> {
        let ctx = self
            .s
            .ctx(journal, self.mode, Phase::Watch, self.accept_loss);
        let mut planned = checks::plan(&ctx)?;
        let skipped = gate::verify(&self.s.root, &self.s.layout, &mut planned)?;
        refuse_forbidden(&mut planned);
        heal::hold_while_duplicate(&mut planned);
        heal::refuse_without_space(&self.s.root, &mut planned)?;
        Ok((planned, skipped))
    }

    /// A cycle with nothing to change: findings, predictions and new alerts only.
    fn quiet(&self, journal: &Journal, mut planned: Planned, run: Run, m: Measured) -> Report {
        let ctx = self
            .s
            .ctx(journal, self.mode, Phase::Watch, self.accept_loss);
        heal::detect_after(&ctx, &mut planned, None);
        let predicted = heal::predictions(&ctx, &planned, m, None, &self.memory);
        planned.findings.extend(predicted);
        let mut report = heal::assemble(
            &self.s,
            journal,
            self.mode.mode,
            &planned,
            None,
            &run.boot,
            false,
        );
        report.recovery = run.rec;
        heal::alerted(&self.s, report)
    }

    /// A cycle with work: one transaction, then its alerts.
    fn commit(
        &self,
        journal: &mut Journal,
        mut planned: Planned,
        run: Run,
        m: Measured,
        skipped: &[Skip],
    ) -> Result<Report> {
        let s = &self.s;
        let meta = TxnMeta {
            command: "watch",
            mode: Some(self.mode.mode.to_string()),
            rollback_of: None,
        };
        let cap = s.layout.max_file_size;
        let mut txn = engine::begin(&s.root, journal, meta, &planned.ops, cap)?;
        let results = txn.apply(&planned.ops)?;
        let ctx = s.ctx(journal, self.mode, Phase::Watch, self.accept_loss);
        let detection = heal::detect_after(&ctx, &mut planned, Some(&results));
        heal::predict_applied(&ctx, &mut planned, m, (txn.id(), &results), &self.memory);
        let mut report = heal::assemble(
            s,
            journal,
            self.mode.mode,
            &planned,
            Some(&results),
            &run.boot,
            false,
        );
        report.recovery = run.rec;
        let batch = Batch::prepare(&s.root, &s.layout, &report.findings, self.mode.mode);
        report.alerts_suppressed = batch.suppressed;
        let salvaged = heal::applied_salvages(&planned, &results);
        let summary = heal::summary(&report, &detection, &salvaged, run.started, m);
        let id = txn.commit(journal, with_cycle(summary, run.cycle, skipped))?;
        report.transaction = Some(id);
        heal::send_alerts(s, &batch, Some(id), &mut report);
        Ok(report)
    }
}

/// A heal commit summary plus the cycle number and what the cycle skipped.
fn with_cycle(mut summary: serde_json::Value, cycle: u64, skipped: &[Skip]) -> serde_json::Value {
    if let Some(obj) = summary.as_object_mut() {
        obj.insert("cycle".into(), cycle.into());
        let skipped = serde_json::to_value(skipped).unwrap_or_default();
        obj.insert("skipped".into(), skipped);
    }
    summary
}

/// What a cycle did before it planned.
struct Run {
    boot: Vec<RelPath>,
    rec: Option<RecoveryReport>,
    cycle: u64,
    started: Instant,
}

/// The operations the engine skipped because their path changed since it was planned.
fn changed_since(report: &Report) -> Vec<Skip> {
    report
        .actions
        .iter()
        .filter(|a| a.result == "skipped")
        .map(|a| Skip {
            heal: a.heal.clone(),
            path: a.path.clone().unwrap_or_default(),
            reason: a.skipped_because.clone().unwrap_or_default(),
            locked: false,
        })
        .collect()
}

/// The state files an unfinished transaction touched (regular files on either side of an
/// intent, outside selfheal's own `logs/backups/`): recovery may rewrite them.
fn unfinished_files(t: &journal::TxnFile) -> Result<Vec<RelPath>> {
    let own = RelPath::new(BACKUPS_DIR)?;
    let mut out = Vec::new();
    for it in recovery::intents_of(t) {
        let file = |n: &Node| matches!(n, Node::File { .. });
        let Some(path) = &it.path else { continue };
        let rel = RelPath::new(path.as_str())?;
        if (file(&it.before) || file(&it.after)) && !rel.starts_with(&own) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// What watch never does, whatever a check plans: `Some(what)` for such an operation.
fn forbidden(op: &Op) -> Option<&'static str> {
    match op.action {
        Action::Signal { .. } => Some("signal a process"),
        Action::RemoveLock => Some("remove a lock file"),
        _ if op.heal == "stale_heartbeat" => Some("reset a heartbeat"),
        _ => None,
    }
}

/// A watch plan holding an operation watch never does is a bug in a check: the whole
/// cycle's plan is refused (every operation becomes a failed heal), nothing is applied.
fn refuse_forbidden(planned: &mut Planned) {
    let Some(what) = planned.ops.iter().find_map(|op| {
        let what = forbidden(op)?;
        let target = op
            .path
            .as_ref()
            .map_or_else(String::new, |p| format!(" ({p})"));
        Some(format!("{what}{target}"))
    }) else {
        return;
    };
    tracing::error!("refusing a watch plan that asks to {what}");
    heal::drop_ops(
        planned,
        &format!("refused: the plan asks to {what}, which watch never does"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Observed;
    use journal_format::ProcessRef;

    fn op(heal: &'static str, action: Action) -> Op {
        Op {
            heal,
            path: RelPath::new("logs/x").ok(),
            reason: String::new(),
            message: String::new(),
            action,
            before: Observed::absent(),
        }
    }

    #[test]
    fn a_plan_asking_for_what_watch_never_does_is_refused_whole() {
        let signal = Action::Signal {
            process: ProcessRef {
                pid: 1,
                start_ticks: 1,
                cmdline: String::new(),
            },
            grace: Duration::from_secs(1),
        };
        let dir = || Action::CreateDir { mode: 0o755 };
        for bad in [
            op("orphan_process", signal),
            op("stale_lock", Action::RemoveLock),
            op("stale_heartbeat", dir()),
        ] {
            let mut p = Planned::default();
            p.push(op("missing_directory", dir()));
            p.push(bad);
            refuse_forbidden(&mut p);
            assert!(p.ops.is_empty());
            assert_eq!(p.failed.len(), 2);
            assert!(p.failed[0].reason.contains("which watch never does"));
        }
        let mut fine = Planned::default();
        fine.push(op("missing_directory", dir()));
        refuse_forbidden(&mut fine);
        assert_eq!(fine.ops.len(), 1);
    }
}
