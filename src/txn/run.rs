//! One transaction in the write-ahead order: `begin` journals the whole plan, each
//! operation is backed up, re-checked, journaled as an intent, applied atomically and marked
//! done, then `commit`; an I/O error undoes what was applied and closes the transaction
//! with `abort`. Terminations come before every other operation.

use super::undo::{undo_intents, Undo};
use crate::error::error_chain;
use crate::error::{Error, Result};
use crate::fsx::{current_owner, Attrs, HeldLock, Replace, Root, TryLock};
use crate::journal::{Journal, Writer};
use crate::paths::RelPath;
use crate::plan::OpResult;
use crate::plan::{unchanged, Effect, Observed, Op};
use crate::store::Store;
use journal_format::{
    self as jf, Abort, Body, Commit, Digest, Done, Intent, Node, PlanEntry, RollbackOf, Xattrs,
};
use std::collections::BTreeMap;

/// An open transaction.
pub struct Txn<'r> {
    root: &'r Root,
    writer: Writer,
    intents: Vec<Intent>,
    cap: u64,
    /// The bot's lock file held for each path, for the whole transaction.
    bot_locks: BTreeMap<RelPath, RelPath>,
    /// Extended attributes a written file gets exactly, by path (a rollback's recorded
    /// ones); a file not named here keeps those of the file it replaces.
    xattrs: BTreeMap<RelPath, Xattrs>,
    /// The store object whose content a written file gets, by path (a rollback's): the
    /// file it replaces is backed up as a delta against it.
    bases: BTreeMap<RelPath, Digest>,
}

/// How a transaction is described in its `begin` record.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// The command (`heal`, `rollback`, ...).
    pub command: &'static str,
    /// `paper` / `real`, when the command has a mode.
    pub mode: Option<String>,
    /// For a rollback: the transaction undone.
    pub rollback_of: Option<RollbackOf>,
}

/// Starts a transaction for `ops`: the header, `begin` and (for a rollback) `rollback_of`
/// are durable when this returns.
///
/// # Errors
/// I/O errors, or a journal problem that forbids appending.
pub fn begin<'r>(
    root: &'r Root,
    journal: &mut Journal,
    meta: TxnMeta,
    ops: &[Op],
    cap: u64,
) -> Result<Txn<'r>> {
    signals_first(ops)?;
    let plan = ops
        .iter()
        .enumerate()
        .map(|(i, op)| PlanEntry {
            op: op_index(i),
            kind: op.kind(),
            heal: op.heal.to_string(),
            path: op.path.as_ref().map(|p| p.as_str().to_string()),
            reason: op.reason.clone(),
        })
        .collect();
    let mut writer = journal.begin(
        root,
        jf::Begin {
            command: meta.command.to_string(),
            mode: meta.mode,
            pid: std::process::id(),
            plan,
        },
    )?;
    if let Some(ro) = meta.rollback_of {
        writer.append(Body::RollbackOf(ro), true)?;
    }
    Ok(Txn {
        root,
        writer,
        intents: Vec::new(),
        cap,
        bot_locks: BTreeMap::new(),
        xattrs: BTreeMap::new(),
        bases: BTreeMap::new(),
    })
}

/// ORDER: every termination comes before every other operation, so a bot is gone before
/// any of its files is touched (and a failed termination stops the run before them).
fn signals_first(ops: &[Op]) -> Result<()> {
    let is_signal = |op: &Op| matches!(op.action, Effect::Signal { .. });
    match ops.iter().position(|op| !is_signal(op)) {
        Some(first) if ops[first..].iter().any(is_signal) => Err(Error::Refused(
            "a plan signals a process after changing a file; nothing was done".into(),
        )),
        _ => Ok(()),
    }
}

fn op_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<'r> Txn<'r> {
    /// The transaction id.
    pub fn id(&self) -> u64 {
        self.writer.txn()
    }

    /// Declares that the caller holds the bot's flock on `lock` for path `path`, taken
    /// before the operations are applied and released only after the transaction ends
    /// (commit or abort) or the process: each intent on such a path names the lock
    /// (`bot_lock`), which lets a later recovery keep a version the bot wrote once this
    /// process had ended (SPEC.md, "Recovery").
    pub fn under_bot_locks(&mut self, locks: impl IntoIterator<Item = (RelPath, RelPath)>) {
        self.bot_locks.extend(locks);
    }

    /// The extended attributes each named path gets when it is written (a rollback restores
    /// the recorded ones instead of keeping the current file's).
    pub fn with_xattrs(&mut self, xattrs: BTreeMap<RelPath, Xattrs>) {
        self.xattrs = xattrs;
    }

    /// The store object each named path's new bytes are the content of (a rollback puts
    /// back stored bytes): the file such a write replaces is backed up as a delta against
    /// that object (SPEC.md section 2), when the store finds it worth it.
    pub fn with_delta_bases(&mut self, bases: BTreeMap<RelPath, Digest>) {
        self.bases = bases;
    }

    /// Applies every operation in order. On an I/O error the operations applied so far are
    /// undone, the transaction is aborted, and the error is returned.
    ///
    /// # Errors
    /// The first I/O error, naming the file and the call.
    pub fn apply(&mut self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.apply_one(op_index(i), op) {
                Ok(r) => results.push(r),
                Err(e) => {
                    self.abort_after_error(&e);
                    return Err(e);
                }
            }
        }
        Ok(results)
    }

    fn apply_one(&mut self, index: u32, op: &Op) -> Result<OpResult> {
        let object = std::thread::scope(|scope| {
            // The digest of large new bytes (the intent's `after`, kept by their `Content`)
            // is computed beside the backup's compression; a thread that cannot be started
            // leaves it to the intent.
            if let Effect::WriteFile { bytes, .. } = &op.action {
                if bytes.len() >= crate::store::LARGE_OBJECT && op.backup().is_some() {
                    let hash = || bytes.sha256();
                    let _ = std::thread::Builder::new().spawn_scoped(scope, hash);
                }
            }
            self.backup(op)
        })?;
        let before = match op.before.node().cloned() {
            Some(n) => n,
            None => return Ok(OpResult::Skipped("the path cannot be touched".into())),
        };
        let guard = match self.precheck(op, &before)? {
            Ok(guard) => guard,
            Err(why) => return Ok(OpResult::Skipped(why)),
        };
        let kept = self.kept_xattrs(op)?;
        let intent = self.intent_of(index, op, (before, object), kept.as_ref());
        // ORDER: the intent (naming the durable backup) is durable before the change.
        self.writer.append(Body::Intent(intent.clone()), true)?;
        self.intents.push(intent);
        self.perform(index, op, guard, kept.as_ref())?;
        self.writer.append(Body::Done(Done { op: index }), false)?;
        Ok(OpResult::Applied)
    }

    /// The intent of operation `index`: `op` on a path now `before`, whose bytes the store
    /// holds as `object`, with the extended attributes `kept` the new file gets.
    fn intent_of(
        &self,
        index: u32,
        op: &Op,
        (before, object): (Node, Option<Digest>),
        kept: Option<&Xattrs>,
    ) -> Intent {
        Intent {
            op: index,
            kind: op.kind(),
            path: op.path.as_ref().map(|p| p.as_str().to_string()),
            before,
            after: op.after(),
            object,
            meta: op.before.meta(),
            process: match &op.action {
                Effect::Signal { process, .. } => Some(process.clone()),
                _ => None,
            },
            bot_lock: op
                .path
                .as_ref()
                .and_then(|p| self.bot_locks.get(p))
                .map(ToString::to_string),
            xattrs: kept.filter(|x| !x.is_empty()).map(|x| Box::new(x.clone())),
        }
    }

    /// The extended attributes of the file `op` replaces, removes or changes the mode of
    /// (read after the re-check, so they belong to the bytes the intent names); `None` for
    /// anything else.
    fn kept_xattrs(&self, op: &Op) -> Result<Option<Xattrs>> {
        let replaces = matches!(
            op.action,
            Effect::WriteFile { .. }
                | Effect::RemoveFile
                | Effect::RemoveLock
                | Effect::SetMode { .. }
        );
        match (&op.path, op.before.node()) {
            (Some(path), Some(Node::File { .. })) if replaces => {
                Ok(Some(self.root.xattrs(path)?.unwrap_or_default()))
            }
            _ => Ok(None),
        }
    }

    /// Puts the bytes `op` replaces or removes into the store (durably) and names them.
    fn backup(&self, op: &Op) -> Result<Option<Digest>> {
        let Some(bytes) = op.backup() else {
            return Ok(None);
        };
        // The plan's node already names these bytes: no second pass over them.
        let sha = match op.before.node() {
            Some(Node::File { sha256, .. }) => *sha256,
            _ => crate::store::sha256(bytes),
        };
        let store = Store::new(self.root);
        let base = op.path.as_ref().and_then(|p| self.bases.get(p));
        match (&op.action, base) {
            (Effect::WriteFile { bytes: new, .. }, Some(base)) => {
                store.put_delta(bytes, &sha, &new.contiguous(), base)?
            }
            _ => store.put(bytes, &sha)?,
        };
        Ok(Some(sha))
    }

    /// Re-checks the target against the plan just before the intent: `Err(why)` skips the
    /// operation. For a lock removal the flock is taken first and stays held (the guard)
    /// until the unlink; for a signal the pid must still name the planned process.
    fn precheck(&self, op: &Op, before: &Node) -> Result<Result<Option<HeldLock>, String>> {
        let guard = match (&op.action, &op.path) {
            (Effect::RemoveLock, Some(path)) => match self.root.try_lock_file(path)? {
                TryLock::Taken(g) if g.same_inode()? => Some(g),
                TryLock::Taken(_) => return Ok(Err(format!("{path} was replaced since"))),
                TryLock::Held => return Ok(Err(format!("{path} is now held by a process"))),
                TryLock::NotLockable => return Ok(Err(format!("{path} changed since"))),
            },
            (Effect::Signal { process, .. }, _) => {
                if crate::procs::start_ticks(process.pid) != Some(process.start_ticks) {
                    return Ok(Err(format!("process {} has exited", process.pid)));
                }
                None
            }
            _ => None,
        };
        if let Some(path) = &op.path {
            debug_assert_eq!(op.before.node(), Some(before));
            if !unchanged(self.root, path, self.cap, &op.before)? {
                return Ok(Err(format!("{path} changed since it was planned")));
            }
        }
        Ok(Ok(guard))
    }

    fn perform(
        &self,
        index: u32,
        op: &Op,
        guard: Option<HeldLock>,
        kept: Option<&Xattrs>,
    ) -> Result<()> {
        let tmp = format!("{}{}.{}", crate::fsx::TMP_PREFIX, self.id(), index);
        let path = op.path.as_ref();
        let need = || path.ok_or_else(|| Error::Refused("operation without a path".into()));
        match &op.action {
            Effect::CreateDir { mode } => self.root.mkdir(need()?, *mode, &tmp),
            Effect::WriteFile {
                bytes,
                mode,
                owner,
                mtime,
            } => {
                let replace = match op.before.node() {
                    Some(Node::Absent) => Replace::NoClobber,
                    _ => Replace::Existing,
                };
                let owner = owner.or_else(|| kept_owner(&op.before));
                let given = path.and_then(|p| self.xattrs.get(p));
                let attrs = Attrs {
                    mode: *mode,
                    owner,
                    mtime: *mtime,
                    xattrs: given.or(kept),
                };
                self.root
                    .write_atomic_chunks(need()?, &mut bytes.chunks(), &attrs, &tmp, replace)
            }
            Effect::RemoveFile => self.root.remove_file(need()?),
            Effect::RemoveLock => match guard {
                Some(g) => g.remove(),
                None => Err(Error::Refused(format!(
                    "{} is not locked by selfheal",
                    need()?
                ))),
            },
            Effect::RemoveDir => self.root.rmdir(need()?),
            Effect::SetMode { mode } => self.root.set_mode(need()?, *mode),
            Effect::Signal { process, grace } => crate::procs::terminate(process, *grace),
        }
    }

    fn abort_after_error(&mut self, err: &Error) {
        // The writer is alive and still holds every bot lock: no version is the bot's.
        let outcomes = undo_intents(
            self.root,
            self.id(),
            &self.intents,
            self.cap,
            Undo::InProcess,
        );
        match outcomes {
            Ok(_) if self.writer.is_poisoned() => tracing::error!(
                "the journal cannot be appended to after that error; the next run's recovery closes transaction {}",
                self.id()
            ),
            Ok(ops) => {
                let abort = Abort {
                    reason: format!("error while applying: {}", error_chain(err)),
                    ops,
                };
                if let Err(e) = self.writer.append(Body::Abort(abort), true) {
                    tracing::error!("cannot record the abort ({e}); the next run recovers");
                }
            }
            Err(e) => tracing::error!("cannot undo after an error ({e}); the next run recovers"),
        }
    }

    /// Appends a record that is neither an intent nor a done (an `ack`), durably.
    ///
    /// # Errors
    /// I/O errors naming the journal file.
    pub fn note(&mut self, body: journal_format::Body) -> Result<()> {
        self.writer.append(body, true)
    }

    /// Commits with `summary` (an object) and hands the records to the in-memory journal.
    ///
    /// # Errors
    /// I/O errors; the transaction is then unfinished and the next run recovers it.
    pub fn commit(mut self, journal: &mut Journal, summary: serde_json::Value) -> Result<u64> {
        let id = self.id();
        self.writer.append(Body::Commit(Commit { summary }), true)?;
        journal.absorb(self.writer);
        Ok(id)
    }
}

/// The owner a replaced file keeps, when it is not the writer's own.
fn kept_owner(before: &Observed) -> Option<(u32, u32)> {
    let st = before.stat?;
    let own = current_owner();
    ((st.uid, st.gid) != own).then_some((st.uid, st.gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal_format::ProcessRef;

    fn op(action: Effect) -> Op {
        Op {
            heal: crate::plan::HealKind::MissingFile,
            path: RelPath::new("logs").ok(),
            reason: String::new(),
            message: String::new(),
            action,
            before: Observed::absent(),
        }
    }

    fn signal() -> Op {
        op(Effect::Signal {
            process: ProcessRef {
                pid: 1,
                start_ticks: 1,
                cmdline: "python3 run.py".into(),
            },
            grace: std::time::Duration::from_secs(1),
        })
    }

    #[test]
    fn terminations_must_come_first() {
        let dir = || op(Effect::CreateDir { mode: 0o755 });
        assert!(signals_first(&[]).is_ok());
        assert!(signals_first(&[signal(), signal(), dir(), dir()]).is_ok());
        assert!(signals_first(&[dir(), dir()]).is_ok());
        assert!(matches!(
            signals_first(&[signal(), dir(), signal()]),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            signals_first(&[dir(), signal()]),
            Err(Error::Refused(_))
        ));
    }
}
