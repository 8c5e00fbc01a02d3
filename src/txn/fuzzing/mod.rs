//! The engine fuzz target, kept in the library so that `cargo fuzz` and
//! `tests/fuzz_replay.rs` (on stable, in CI) run exactly the same code: a small state root
//! and a script of `heal`, `check`, `rollback` (forced or not), `recover`, `prune`,
//! `watch` cycles and `ack`, each run as a library call with an optional fault (a crash, a
//! power cut, an I/O error at its k-th fault point; see `crate::fault`, "In-process
//! injection"), between steps where the bot or an operator damages the state (truncation,
//! garbage, deleted files and directories, stale locks and heartbeats, loose permissions),
//! rewrites a file the way the bot does, or holds the bot's locks. A crash is followed by
//! whatever command comes next, whose recovery runs first, as after a restart.
//!
//! After every command step, beyond the model's rules (`model`, "The rules"):
//!
//! - `journal verify` passes (`audit::verify`) and no journal tail is torn;
//! - a command that ran without a fault returned no operational error, left no temp file,
//!   and (`check`) changed nothing at all, not even an mtime;
//! - a lock the bot holds is never removed;
//! - every committed transaction still in the journal rolls back bit-exactly: the root is
//!   copied, `rollback --force` of it runs on the copy, and each path the transaction
//!   changed must then be exactly (bytes, mode, existence) its pre-image in the model, and
//!   every other path as it was (a created directory no longer empty is kept, as the
//!   report says); a transaction rolled back already is refused.
//!
//! Each check returns `Err(description)` instead of panicking, naming the step. With
//! `SELFHEAL_ENGINE_FUZZ_TRACE` set, each command step prints what it ran, how many fault
//! points it passed and whether the fault fired; with `SELFHEAL_ENGINE_FUZZ_KEEP` set, the
//! scratch directory (root, configuration) is kept and its path printed.
//!
//! Not part of the stable API.

mod disk;
mod model;
mod powercut;
pub mod script;

use crate::commands;
use crate::commands::watch::{self, CycleOutcome, WatchOptions};
use crate::error::Error;
use crate::fault::{self, Injection};
use crate::fsx::Root;
use crate::journal::Journal;
use crate::mode::{Environment, Mode};
use crate::run::Options;
use disk::{Held, Scratch, Tree};
use journal_format::{Mac, TxnState};
use model::{Model, Seen};
use script::{Command, Config, Fault, Script, Step, LOCKS};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Target `engine`: decodes a script from `data`, runs it on a fresh root, and checks the
/// rules after every step.
///
/// # Errors
/// The first rule broken, naming the step and the script.
pub fn check_engine(data: &[u8]) -> Result<(), String> {
    let script = Script::decode(data);
    let mut run = Run::new(&script)?;
    for (i, step) in script.steps.iter().enumerate() {
        run.step(i + 1, step)
            .map_err(|e| format!("step {} ({step:?}): {e}\nscript: {script:?}", i + 1))?;
    }
    Ok(())
}

/// A script being run.
struct Run {
    scratch: Scratch,
    root: PathBuf,
    config_file: PathBuf,
    stash: PathBuf,
    config: Config,
    model: Model,
    held: Vec<Held>,
    clones: u64,
}

impl Run {
    fn new(script: &Script) -> Result<Run, String> {
        let scratch = Scratch::new()?;
        let root = scratch.join("root");
        let config_file = scratch.join("selfheal.json");
        let config = serde_json::json!({
            "retention": {
                "keep": script.config.keep,
                "older_than": "0s",
                "auto": script.config.auto,
            }
        });
        disk::write_file(&config_file, config.to_string().as_bytes())?;
        disk::seed(&root, &script.seed)?;
        let (tree, _) = disk::snapshot(&root);
        Ok(Run {
            stash: scratch.join("stash"),
            scratch,
            root,
            config_file,
            config: script.config,
            model: Model::new(tree),
            held: Vec::new(),
            clones: 0,
        })
    }

    fn opts(&self, root: &Path, real: bool, accept_loss: bool) -> Options {
        Options {
            root: root.to_path_buf(),
            config: Some(self.config_file.clone()),
            mode: Some(if real { Mode::Real } else { Mode::Paper }),
            env: Environment::default(),
            init: false,
            lock_timeout: Duration::from_secs(10),
            accept_loss,
            dry_run: false,
        }
    }

    fn step(&mut self, n: usize, step: &Step) -> Result<(), String> {
        match step {
            Step::Damage(d) => {
                let locked = self.held.iter().any(|h| h.rel == LOCKS[0]);
                if disk::damage(&self.root, d, locked)? {
                    self.model.outside(disk::snapshot(&self.root).0);
                }
                Ok(())
            }
            Step::Hold(lock) => {
                if self
                    .held
                    .iter()
                    .all(|h| h.rel != LOCKS[*lock % LOCKS.len()])
                {
                    self.held.extend(disk::hold(&self.root, *lock));
                    self.model.outside(disk::snapshot(&self.root).0);
                }
                Ok(())
            }
            Step::Release => {
                self.held.clear();
                Ok(())
            }
            Step::Run(Command::Check { real }, _) => self.check(*real),
            Step::Run(cmd, fault) => self.command(n, cmd, *fault),
        }
    }

    /// `check` writes nothing at all and reports without an error.
    fn check(&mut self, real: bool) -> Result<(), String> {
        let before = disk::exact(&self.root);
        commands::check(&self.opts(&self.root, real, false)).map_err(|e| format!("check: {e}"))?;
        if disk::exact(&self.root) != before {
            return Err("check changed the root".into());
        }
        Ok(())
    }

    fn command(&mut self, n: usize, cmd: &Command, f: Fault) -> Result<(), String> {
        let (before, _) = disk::snapshot(&self.root);
        let ids = self
            .journal()?
            .txns
            .iter()
            .map(|t| t.txn)
            .collect::<Vec<_>>();
        let (at, kind) = match f {
            Fault::None => (None, fault::Fault::Crash),
            Fault::Crash(k) => (Some(k), fault::Fault::Crash),
            Fault::PowerCut(k) => (k, fault::Fault::PowerCut),
            Fault::Errno(k, e) => (Some(k), fault::Fault::Errno(e)),
        };
        let power = matches!(f, Fault::PowerCut(_));
        if power {
            disk::fresh_dir(&self.stash)?;
        }
        fault::arm(Injection {
            at,
            fault: kind,
            stash: power.then(|| self.stash.clone()),
        });
        let result = self.run(cmd, &ids);
        let injected = fault::disarm();
        if power {
            powercut::drop_unsynced(&self.root, &self.stash, &injected.effects)?;
            disk::remove_tree(&self.stash);
        }
        let faulted = injected.fired || matches!(f, Fault::PowerCut(None));
        if std::env::var_os("SELFHEAL_ENGINE_FUZZ_TRACE").is_some() {
            eprintln!(
                "engine fuzz: step {n}: {cmd:?} {f:?}: {} fault points, fired: {}, {} effects: {result:?}",
                injected.points,
                injected.fired,
                injected.effects.len()
            );
        }
        if !faulted {
            acceptable(cmd, &result)?;
        }
        self.after_command(n, cmd, &before, faulted)
    }

    fn after_command(
        &mut self,
        n: usize,
        cmd: &Command,
        before: &Tree,
        faulted: bool,
    ) -> Result<(), String> {
        let (after, temps) = disk::snapshot(&self.root);
        if !faulted && !temps.is_empty() {
            return Err(format!("temp files left: {temps:?}"));
        }
        let journal = self.journal()?;
        verify(&self.root, &journal)?;
        let root = Root::open(&self.root).map_err(|e| e.to_string())?;
        let keep = match cmd {
            Command::Prune { keep } => Some(*keep),
            Command::Heal { .. } | Command::Watch { .. } if self.config.auto => {
                Some(self.config.keep)
            }
            _ => None,
        };
        self.model.command(&Seen {
            step: n,
            before,
            after: &after,
            journal: &journal,
            root: &root,
            faulted,
            locks_held: !self.held.is_empty(),
            keep,
        })?;
        for h in &self.held {
            if !disk::still_there(&self.root, h) {
                return Err(format!("{} was removed while the bot held it", h.rel));
            }
        }
        if journal.unfinished().is_none() {
            self.rollbacks(&journal)?;
        }
        Ok(())
    }

    fn journal(&self) -> Result<Journal, String> {
        let root = Root::open(&self.root).map_err(|e| e.to_string())?;
        Journal::load(&root, Mac::Sha256).map_err(|e| format!("loading the journal: {e}"))
    }

    /// Runs `cmd`; a watch cycle that failed is an error.
    fn run(&self, cmd: &Command, ids: &[u64]) -> Result<(), Error> {
        let paper = |accept| self.opts(&self.root, false, accept);
        let pick = |p: u8| {
            let i = usize::from(p) % (ids.len() + 1);
            ids.get(i)
                .copied()
                .unwrap_or_else(|| ids.last().map_or(1, |l| l + 1))
        };
        match *cmd {
            Command::Heal { real, accept_loss } => {
                commands::heal(&self.opts(&self.root, real, accept_loss)).map(drop)
            }
            Command::Check { real } => {
                commands::check(&self.opts(&self.root, real, false)).map(drop)
            }
            Command::Rollback { pick: p, force } => {
                commands::rollback(&paper(false), pick(p), force).map(drop)
            }
            Command::Recover { keep_current } => {
                commands::recover(&paper(false), keep_current).map(drop)
            }
            Command::Prune { keep } => {
                commands::prune(&paper(false), Some(keep), Some(Duration::ZERO)).map(drop)
            }
            Command::Watch { real } => self.watch(real),
            Command::Ack { pick: p } => commands::ack(&paper(false), pick(p)).map(drop),
        }
    }

    fn watch(&self, real: bool) -> Result<(), Error> {
        let w = WatchOptions {
            interval: Duration::ZERO,
            cycles: Some(1),
            notify: None,
        };
        let mut failed = None;
        watch::watch(&self.opts(&self.root, real, false), &w, |c| {
            if c.outcome == CycleOutcome::Failed {
                failed.clone_from(&c.error);
            }
            ControlFlow::Continue(())
        })?;
        match failed {
            Some(why) => Err(Error::Refused(format!("watch cycle failed: {why}"))),
            None => Ok(()),
        }
    }

    /// Every committed transaction still in the journal rolls back bit-exactly on a copy.
    fn rollbacks(&mut self, journal: &Journal) -> Result<(), String> {
        for t in journal.kept() {
            if t.state() != TxnState::Committed {
                continue;
            }
            let Some(view) = self.model.txns.get(&t.txn) else {
                continue;
            };
            let scope = view.done_paths();
            if scope.is_empty() {
                continue;
            }
            let standing = crate::rollback::rolled_back_by(journal, t.txn);
            self.rollback_on_copy(t.txn, &scope, standing)?;
        }
        Ok(())
    }

    fn rollback_on_copy(
        &mut self,
        txn: u64,
        scope: &[String],
        standing: Option<u64>,
    ) -> Result<(), String> {
        self.clones += 1;
        let copy = self.scratch.join(&format!("copy.{}", self.clones));
        disk::copy_tree(&self.root, &copy)?;
        let result = commands::rollback(&self.opts(&copy, false, false), txn, true);
        let outcome = match (standing, result) {
            (Some(_), Err(Error::Refused(_))) => Ok(()),
            (Some(by), other) => Err(format!(
                "rollback of {txn}, rolled back by {by} already, was not refused: {other:?}"
            )),
            (None, Err(e)) => Err(format!("rollback --force of {txn} failed: {e}")),
            (None, Ok(report)) => self.compare(txn, scope, &report.kept_dirs, &copy),
        };
        disk::remove_tree(&copy);
        outcome
    }

    /// The copy after the rollback of `txn` against the model.
    fn compare(
        &self,
        txn: u64,
        scope: &[String],
        kept: &[String],
        copy: &Path,
    ) -> Result<(), String> {
        let Some(pre) = self.model.pre.get(&txn) else {
            return Err(format!("transaction {txn} has no pre-image in the model"));
        };
        let mut want = self.model.tree.clone();
        for p in scope.iter().filter(|p| !kept.contains(p)) {
            match pre.get(p) {
                Some(n) => want.insert(p.clone(), n.clone()),
                None => want.remove(p),
            };
        }
        let (mut got, temps) = disk::snapshot(copy);
        if !temps.is_empty() {
            return Err(format!("rollback of {txn} left temp files: {temps:?}"));
        }
        // A rollback that rewrites a file in place creates its missing bot lock file, as a
        // heal does (not journaled).
        got.retain(|p, n| !model::created_lock(p, want.get(p), Some(&*n)));
        if got == want {
            return Ok(());
        }
        let diffs: Vec<String> = want
            .keys()
            .chain(got.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| want.get(*k) != got.get(*k))
            .map(|k| format!("{k}: want {:?}, got {:?}", want.get(k), got.get(k)))
            .collect();
        Err(format!(
            "rollback of {txn} is not its pre-image (scope {scope:?}): {}",
            diffs.join("; ")
        ))
    }
}

/// `journal verify` passes and no tail is torn.
fn verify(root: &Path, journal: &Journal) -> Result<(), String> {
    let root = Root::open(root).map_err(|e| e.to_string())?;
    let v = crate::audit::verify(&root, journal.mac(), &[])
        .map_err(|e| format!("journal verify: {e}"))?;
    if let Some(p) = v.problem {
        return Err(format!("journal verify: {p}"));
    }
    if let Some(t) = v.torn_tail {
        return Err(format!("journal verify: torn tail {t}"));
    }
    Ok(())
}

/// What a command may return when no fault was injected: a refusal or "nothing to do"
/// for rollback, prune and ack; nothing but success otherwise.
fn acceptable(cmd: &Command, result: &Result<(), Error>) -> Result<(), String> {
    let e = match result {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let allowed = match cmd {
        Command::Rollback { .. } | Command::Prune { .. } => {
            matches!(e, Error::Refused(_) | Error::NoSuchTransaction(_))
        }
        Command::Ack { .. } => matches!(
            e,
            Error::Refused(_) | Error::NoSuchTransaction(_) | Error::Usage(_)
        ),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed without a fault: {}",
            crate::error::error_chain(e)
        ))
    }
}
