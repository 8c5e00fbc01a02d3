//! The last check: what the plan cannot carry out at all. An operation that could never
//! succeed — a file it would write over `limits.max_file_size` (which no rollback could
//! read back), or a path this process cannot change (another user's file when selfheal
//! runs unprivileged, an immutable file or directory, a read-only filesystem; the probes
//! of `fsx::probe`) — is taken out of the plan as a failed heal naming the reason, with
//! every later operation that depends on it (inside a directory it would create, or on the
//! same path), so the other repairs still go ahead and no run aborts on it.

use super::{Ctx, Planned};
use crate::error::Result;
use crate::fsx::{current_owner, Capabilities, Change};
use crate::paths::RelPath;
use crate::plan::{Effect, HealKind, Op};
use journal_format::Node;

/// Takes every operation that cannot be done out of `p`, as a failed heal.
///
/// # Errors
/// I/O errors while probing a path.
pub fn refuse_infeasible(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    if p.ops.is_empty() {
        return Ok(());
    }
    let caps = Capabilities::current();
    let mut dropped: Vec<RelPath> = Vec::new();
    let mut keep = Vec::with_capacity(p.ops.len());
    let mut failed = Vec::new();
    for op in &p.ops {
        let why = match &op.path {
            Some(path) => match dependent(path, &dropped) {
                Some(why) => Some(why),
                None => obstacle(ctx, op, path, &caps)?,
            },
            None => None,
        };
        keep.push(why.is_none());
        if let (Some(why), Some(path)) = (why, &op.path) {
            dropped.push(path.clone());
            failed.push((op.heal, path.to_string(), why));
            if op.heal == HealKind::StaleHeartbeat {
                p.stale_heartbeats += 1;
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    p.retain_ops(&keep);
    for (heal, path, why) in failed {
        p.fail(heal, Some(&path), format!("cannot be done: {why}"));
    }
    Ok(())
}

/// Why `path` cannot be touched because of an operation already taken out: one on the
/// same path, or a directory it lies in that would have been created.
fn dependent(path: &RelPath, dropped: &[RelPath]) -> Option<String> {
    let gone = dropped.iter().find(|d| path.starts_with(d))?;
    Some(if gone == path {
        format!("an earlier repair of {path} cannot be done")
    } else {
        format!("its directory {gone} cannot be created")
    })
}

/// Why `op` cannot be done, if anything says so in advance.
fn obstacle(ctx: &Ctx<'_>, op: &Op, path: &RelPath, caps: &Capabilities) -> Result<Option<String>> {
    let cap = ctx.layout.max_file_size;
    if let Effect::WriteFile { bytes, .. } = &op.action {
        if bytes.len() as u64 > cap {
            return Ok(Some(format!(
                "the repaired file would be {} bytes, over limits.max_file_size ({cap} bytes): it could not be read back or rolled back",
                bytes.len()
            )));
        }
    }
    let Some(change) = change_of(op) else {
        return Ok(None);
    };
    ctx.root.obstacle(path, change, caps)
}

/// What `op` does to its path, as the probes see it.
fn change_of(op: &Op) -> Option<Change> {
    let existing = matches!(op.before.node(), Some(Node::File { .. } | Node::Dir { .. }));
    Some(match &op.action {
        Effect::CreateDir { .. } => Change::Create,
        Effect::WriteFile { owner, .. } if existing => Change::Replace {
            owner: owner.or_else(|| kept_owner(op)),
        },
        Effect::WriteFile { .. } => Change::Create,
        Effect::RemoveFile | Effect::RemoveLock | Effect::RemoveDir => Change::Remove,
        Effect::SetMode { .. } => Change::SetMode,
        Effect::Signal { .. } => return None,
    })
}

/// The owner a replaced file keeps when it is not this process's (as the engine does).
fn kept_owner(op: &Op) -> Option<(u32, u32)> {
    let st = op.before.stat?;
    ((st.uid, st.gid) != current_owner()).then_some((st.uid, st.gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn what_depends_on_an_operation_taken_out() {
        let dropped = [rel("state"), rel("logs/p.json")];
        let cases = [
            (
                "state/heartbeats",
                Some("its directory state cannot be created"),
            ),
            (
                "logs/p.json",
                Some("an earlier repair of logs/p.json cannot be done"),
            ),
            ("logs/q.json", None),
            ("statefile", None),
        ];
        for (path, want) in cases {
            assert_eq!(
                dependent(&rel(path), &dropped).as_deref(),
                want,
                "input: {path}"
            );
        }
    }
}
