//! Undo of journaled operations, newest first, by the recovery decision table
//! (`journal_format::decide`) refined by what only the engine knows (who undoes, what a
//! created directory holds now, whether a parent is there). Every decision is made before
//! anything changes: one conflict and nothing is touched.

use super::restore::{restore_node, Restore};
use crate::error::{Error, Result};
use crate::fsx::Root;
use crate::paths::RelPath;
use crate::plan::{observe, Observed};
use crate::store::Store;
use journal_format::{self as jf, Digest, Intent, Node, OpOutcome, UndoOutcome, Xattrs};

/// Who undoes a transaction, which decides whether a bot's newer version can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// The writer itself, after an error, still holding any bot lock it took.
    InProcess,
    /// Recovery, after the writer ended (its bot locks were released with it).
    WriterEnded,
}

/// Undoes `intents` (newest first) by the recovery decision table. Every decision is made
/// before anything changes: if any path matches neither side, nothing is changed and the
/// conflict is returned. With [`Undo::WriterEnded`], a regular file an operation wrote
/// under the bot's lock and the bot rewrote since is the bot's newer version: it is kept,
/// and saved to the store first (its object named in the outcome).
///
/// # Errors
/// [`Error::RecoveryConflict`] for a conflict; I/O errors while restoring.
pub fn undo_intents(
    root: &Root,
    txn: u64,
    intents: &[Intent],
    cap: u64,
    who: Undo,
) -> Result<Vec<OpOutcome>> {
    let planned = decide_all(root, txn, intents, cap, who)?;
    let mut out = Vec::new();
    for (it, target, decision) in planned {
        let mut object = None;
        let outcome = match (decision, target) {
            (jf::Decision::Restore, Some((rel, now))) => {
                restore_node(
                    root,
                    &rel,
                    &now,
                    &Restore {
                        node: &it.before,
                        meta: it.meta,
                        object: it.object,
                        xattrs: Some(it.xattrs.as_deref().unwrap_or(&EMPTY)),
                    },
                    &undo_tmp(txn, it.op),
                )?;
                UndoOutcome::Restored
            }
            (jf::Decision::KeepNewer, Some((_, now))) => {
                // ORDER: the kept bytes are durable in the store before the abort names them.
                object = keep_newer(root, &now)?;
                UndoOutcome::KeptCurrent
            }
            (jf::Decision::Irreversible, _) => UndoOutcome::Irreversible,
            _ => UndoOutcome::Unchanged,
        };
        out.push(OpOutcome {
            op: it.op,
            outcome,
            object,
        });
    }
    out.reverse();
    Ok(out)
}

static EMPTY: Xattrs = Xattrs::new();

/// Saves the bot's newer version of a file to the store; its digest.
fn keep_newer(root: &Root, now: &Observed) -> Result<Option<Digest>> {
    match (now.node(), &now.bytes) {
        (Some(Node::File { sha256, .. }), Some(bytes)) => {
            Store::new(root).put(bytes, sha256)?;
            Ok(Some(*sha256))
        }
        _ => Ok(None),
    }
}

/// The size cap for looking at an intent's path: the configured cap, or more when the
/// transaction itself wrote (or found) a larger file there, so an undo can always see it.
fn cap_for(it: &Intent, cap: u64) -> u64 {
    let size = |n: &Node| match n {
        Node::File { size, .. } => *size,
        _ => 0,
    };
    cap.max(size(&it.before)).max(size(&it.after))
}

/// Every undo decision, newest operation first, made before anything changes.
fn decide_all<'a>(
    root: &Root,
    txn: u64,
    intents: &'a [Intent],
    cap: u64,
    who: Undo,
) -> Result<Vec<Step<'a>>> {
    let mut planned: Vec<Step<'_>> = Vec::new();
    for it in intents.iter().rev() {
        let Some(path) = &it.path else {
            planned.push((it, None, jf::Decision::Irreversible));
            continue;
        };
        let rel = RelPath::new(path.as_str())?;
        let now = observe(root, &rel, cap_for(it, cap))?;
        let mut emptied = || {
            let removed: Vec<&str> = planned
                .iter()
                .filter(|(p, _, d)| *d == jf::Decision::Restore && p.before == Node::Absent)
                .filter_map(|(p, _, _)| p.path.as_deref())
                .collect();
            dir_emptied(root, &rel, &removed)
        };
        let around = Around {
            dir_emptied: &mut emptied,
            parent_ready: &mut || parent_ready(root, &rel, &planned),
        };
        let decision = match decide_one(it, now.node(), who, around)? {
            Ok(d) => d,
            Err(Refusal::Conflict) => return Err(conflict(root, txn, it, &now)),
            Err(Refusal::ParentMissing) => {
                // Only a journal that lost records its changes kept gets here: the change
                // that removed the parent has no intent left to undo it.
                let why = "cannot be put back: its parent directory is missing";
                return Err(conflict_because(root, txn, it, why));
            }
        };
        planned.push((it, Some((rel, now)), decision));
    }
    Ok(planned)
}

/// Why an undo step cannot be taken (nothing at all is changed then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The path matches neither the intent's state before nor after (or is a newer
    /// version no bot can have written, or a created directory that holds more).
    Conflict,
    /// The path is to be put back, but its parent directory is missing.
    ParentMissing,
}

/// What an undo decision may need to know around the path, asked only when it does.
struct Around<'c> {
    /// Whether the directory the operation created holds nothing but what the undo
    /// removes before it.
    dir_emptied: &'c mut dyn FnMut() -> Result<bool>,
    /// Whether the path's parent is a directory, or is put back as one before it.
    parent_ready: &'c mut dyn FnMut() -> Result<bool>,
}

/// The undo decision for one intent given what its path is now (`None`: it cannot be
/// read): the recovery table (`journal_format::decide`), then what the engine adds. A
/// newer version of a file written under the bot's lock is kept only once the writer
/// ended (in process, the bot was waiting on that lock and cannot have written it); a
/// directory the operation created is removed only when emptied by the undo itself; a
/// path is put back only into a parent that is there.
fn decide_one(
    it: &Intent,
    now: Option<&Node>,
    who: Undo,
    around: Around<'_>,
) -> Result<std::result::Result<jf::Decision, Refusal>> {
    let mut decision = now.map_or(jf::Decision::Conflict, |n| jf::decide(it, n));
    if decision == jf::Decision::KeepNewer && who == Undo::InProcess {
        decision = jf::Decision::Conflict;
    }
    if decision == jf::Decision::Restore
        && it.before == Node::Absent
        && matches!(now, Some(Node::Dir { .. }))
        && !(around.dir_emptied)()?
    {
        decision = jf::Decision::Conflict;
    }
    if decision == jf::Decision::Conflict {
        return Ok(Err(Refusal::Conflict));
    }
    if decision == jf::Decision::Restore && it.before != Node::Absent && !(around.parent_ready)()? {
        return Ok(Err(Refusal::ParentMissing));
    }
    Ok(Ok(decision))
}

/// An undo step decided: the intent, the path and what it is now, the decision.
type Step<'a> = (&'a Intent, Option<(RelPath, Observed)>, jf::Decision);

/// Whether the parent of `rel` is a directory now, or is one the undo puts back before it
/// (`planned` holds the decisions for the newer operations, undone first).
fn parent_ready(root: &Root, rel: &RelPath, planned: &[Step<'_>]) -> Result<bool> {
    let Some(parent) = rel.parent() else {
        return Ok(true);
    };
    if matches!(root.entry(&parent)?, crate::fsx::Entry::Present(st) if st.kind == crate::fsx::Kind::Dir)
    {
        return Ok(true);
    }
    Ok(planned.iter().any(|(p, _, d)| {
        *d == jf::Decision::Restore
            && p.path.as_deref() == Some(parent.as_str())
            && matches!(p.before, Node::Dir { .. })
    }))
}

/// Whether directory `rel` holds nothing but paths the undo removes before it.
fn dir_emptied(root: &Root, rel: &RelPath, removed: &[&str]) -> Result<bool> {
    for e in root.list(Some(rel))? {
        // A child whose name the journal cannot hold was not created by the transaction.
        let Ok(child) = rel.join(&e.name) else {
            return Ok(false);
        };
        if !removed.contains(&child.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn undo_tmp(txn: u64, op: u32) -> String {
    format!("{}{}.u{}", crate::fsx::TMP_PREFIX, txn, op)
}

fn conflict(root: &Root, txn: u64, it: &Intent, now: &Observed) -> Error {
    let what = match (now.node(), &now.untouchable) {
        (_, Some(why)) => why.clone(),
        (Some(Node::File { sha256, .. }), _) => format!("has content {}", short(sha256)),
        (Some(Node::Dir { .. }), _) => "is a directory".into(),
        (Some(Node::Absent), _) => "is absent".into(),
        (None, None) => "is unreadable".into(),
    };
    let why = format!("matches neither its state before nor after ({what})");
    conflict_because(root, txn, it, &why)
}

fn conflict_because(root: &Root, txn: u64, it: &Intent, what: &str) -> Error {
    Error::RecoveryConflict {
        file: root.display(
            &RelPath::new(crate::paths::JOURNAL_DIR).unwrap_or_else(|_| std::process::abort()),
        ),
        why: format!(
            "transaction {txn} op {}: {} {what}",
            it.op,
            it.path.as_deref().unwrap_or("?")
        ),
    }
}

fn short(d: &Digest) -> String {
    d.to_hex().chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jf::Decision::{Irreversible, KeepNewer, Nothing, Restore};
    use jf::{OpKind, Perms};

    fn file(byte: u8) -> Node {
        Node::File {
            sha256: Digest([byte; 32]),
            size: 1,
            mode: Perms(0o644),
        }
    }

    fn dir() -> Node {
        Node::Dir { mode: Perms(0o755) }
    }

    fn intent(kind: OpKind, before: Node, after: Node, locked: bool) -> Intent {
        Intent {
            op: 0,
            kind,
            path: Some("logs/p.json".into()),
            before,
            after,
            object: None,
            meta: None,
            process: None,
            bot_lock: locked.then(|| "logs/p.json.lock".to_string()),
            xattrs: None,
        }
    }

    /// What is around the path in one row: whether a created directory is emptied by the
    /// undo, whether the parent is ready.
    #[derive(Debug, Clone, Copy)]
    struct World {
        emptied: bool,
        parent: bool,
    }

    const PLAIN: World = World {
        emptied: true,
        parent: true,
    };

    type Want = std::result::Result<jf::Decision, Refusal>;

    fn run(it: &Intent, now: Option<&Node>, who: Undo, w: World) -> (Want, [bool; 2]) {
        let mut asked = [false; 2];
        let (mut e, mut p) = (
            || {
                asked[0] = true;
                Ok(w.emptied)
            },
            || Ok(w.parent),
        );
        let got = decide_one(
            it,
            now,
            who,
            Around {
                dir_emptied: &mut e,
                parent_ready: &mut p,
            },
        )
        .expect("no I/O in the table");
        (got, asked)
    }

    #[test]
    fn the_undo_decision_table() {
        use OpKind::{CreateDir, CreateFile, RemoveDir, RemoveFile, ReplaceFile, SetMode, Signal};
        use Refusal::{Conflict, ParentMissing};
        use Undo::{InProcess, WriterEnded};
        let (a, b, c) = (file(1), file(2), file(3));
        let gone = Node::Absent;
        let chmod_after = Node::File {
            sha256: Digest([1; 32]),
            size: 1,
            mode: Perms(0o600),
        };
        let broken = World {
            emptied: true,
            parent: false,
        };
        let full = World {
            emptied: false,
            parent: true,
        };
        #[rustfmt::skip]
        let cases: Vec<(Intent, Option<Node>, Undo, World, Want)> = vec![
            // Replacing a file: before, after, a third version.
            (intent(ReplaceFile, a.clone(), b.clone(), false), Some(a.clone()), WriterEnded, PLAIN, Ok(Nothing)),
            (intent(ReplaceFile, a.clone(), b.clone(), false), Some(b.clone()), WriterEnded, PLAIN, Ok(Restore)),
            (intent(ReplaceFile, a.clone(), b.clone(), false), Some(c.clone()), WriterEnded, PLAIN, Err(Conflict)),
            (intent(ReplaceFile, a.clone(), b.clone(), false), Some(gone.clone()), WriterEnded, PLAIN, Err(Conflict)),
            (intent(ReplaceFile, a.clone(), b.clone(), false), None, WriterEnded, PLAIN, Err(Conflict)),
            // Under the bot's lock: a third version is the bot's, once the writer ended.
            (intent(ReplaceFile, a.clone(), b.clone(), true), Some(c.clone()), WriterEnded, PLAIN, Ok(KeepNewer)),
            (intent(ReplaceFile, a.clone(), b.clone(), true), Some(c.clone()), InProcess, PLAIN, Err(Conflict)),
            (intent(ReplaceFile, a.clone(), b.clone(), true), Some(dir()), WriterEnded, PLAIN, Err(Conflict)),
            (intent(ReplaceFile, a.clone(), b.clone(), true), Some(gone.clone()), WriterEnded, PLAIN, Err(Conflict)),
            (intent(ReplaceFile, a.clone(), b.clone(), true), Some(b.clone()), InProcess, PLAIN, Ok(Restore)),
            // Putting a file back needs its parent.
            (intent(ReplaceFile, a.clone(), b.clone(), false), Some(b.clone()), WriterEnded, broken, Err(ParentMissing)),
            (intent(RemoveFile, a.clone(), gone.clone(), false), Some(gone.clone()), InProcess, broken, Err(ParentMissing)),
            (intent(RemoveFile, a.clone(), gone.clone(), false), Some(gone.clone()), InProcess, PLAIN, Ok(Restore)),
            (intent(RemoveFile, a.clone(), gone.clone(), false), Some(a.clone()), InProcess, broken, Ok(Nothing)),
            (intent(RemoveFile, a.clone(), gone.clone(), true), Some(c.clone()), WriterEnded, PLAIN, Ok(KeepNewer)),
            // Creating a file: removed again (no parent needed to remove).
            (intent(CreateFile, gone.clone(), b.clone(), false), Some(b.clone()), InProcess, broken, Ok(Restore)),
            (intent(CreateFile, gone.clone(), b.clone(), false), Some(gone.clone()), InProcess, PLAIN, Ok(Nothing)),
            (intent(CreateFile, gone.clone(), b.clone(), true), Some(c.clone()), WriterEnded, PLAIN, Ok(KeepNewer)),
            (intent(CreateFile, gone.clone(), b.clone(), false), Some(c.clone()), WriterEnded, PLAIN, Err(Conflict)),
            // Creating a directory: removed only when the undo empties it.
            (intent(CreateDir, gone.clone(), dir(), false), Some(dir()), InProcess, PLAIN, Ok(Restore)),
            (intent(CreateDir, gone.clone(), dir(), false), Some(dir()), WriterEnded, full, Err(Conflict)),
            (intent(CreateDir, gone.clone(), dir(), false), Some(gone.clone()), WriterEnded, full, Ok(Nothing)),
            (intent(CreateDir, gone.clone(), dir(), true), Some(a.clone()), WriterEnded, PLAIN, Err(Conflict)),
            // Removing a directory: put back into its parent.
            (intent(RemoveDir, dir(), gone.clone(), false), Some(gone.clone()), InProcess, PLAIN, Ok(Restore)),
            (intent(RemoveDir, dir(), gone.clone(), false), Some(gone.clone()), InProcess, broken, Err(ParentMissing)),
            // A mode change.
            (intent(SetMode, a.clone(), chmod_after.clone(), false), Some(chmod_after.clone()), WriterEnded, PLAIN, Ok(Restore)),
            (intent(SetMode, a.clone(), chmod_after.clone(), false), Some(a.clone()), WriterEnded, PLAIN, Ok(Nothing)),
            // A signal is never undone, whatever the path is.
            (intent(Signal, gone.clone(), gone.clone(), false), Some(c.clone()), InProcess, broken, Ok(Irreversible)),
            (intent(Signal, gone.clone(), gone.clone(), false), Some(gone.clone()), WriterEnded, full, Ok(Irreversible)),
        ];
        for (it, now, who, world, want) in cases {
            let (got, _) = run(&it, now.as_ref(), who, world);
            assert_eq!(
                got, want,
                "input: {:?} {:?} -> {:?}, now {now:?}, {who:?}, {world:?}",
                it.kind, it.before, it.after
            );
        }
    }

    #[test]
    fn what_a_created_directory_holds_is_asked_only_for_its_removal() {
        let created = intent(OpKind::CreateDir, Node::Absent, dir(), false);
        let (_, asked) = run(&created, Some(&dir()), Undo::InProcess, PLAIN);
        assert!(asked[0]);
        let replaced = intent(OpKind::ReplaceFile, file(1), file(2), false);
        let (_, asked) = run(&replaced, Some(&file(2)), Undo::InProcess, PLAIN);
        assert!(!asked[0]);
    }
}
