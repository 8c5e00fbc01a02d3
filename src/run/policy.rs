//! The plan policy: the one place that decides which planned operations a run may apply,
//! for every kind of run ([`RunKind`]). `heal`, `check` (and `heal --dry-run`) and each
//! `watch` cycle plan with the same checks and then pass the plan through [`policy`], so a
//! `check` reports exactly the plan its `heal` would apply.
//!
//! | rule                                                        | heal | check | watch |
//! |-------------------------------------------------------------|------|-------|-------|
//! | an operation watch never does (signal, lock removal, heartbeat reset) refuses the whole plan | –    | –     | yes   |
//! | DUPLICATE_INSTANCE found: every operation fails              | yes  | yes   | yes   |
//! | not enough free space for the backups: every operation fails | yes  | yes   | yes   |
//!
//! Invariant: a dropped operation becomes a failed heal naming why; nothing is dropped
//! silently. The space rule only reads free space, so `check` runs it too.

use crate::checks::Planned;
use crate::error::Result;
use crate::findings::{code, Failed};
use crate::fsx::{Entry, Root};
use crate::paths::RelPath;
use crate::paths::BACKUPS_DIR;
use crate::plan::{Effect, Op};

/// Which command a run is, for what only some of them may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// `heal`: at the bot's startup, applies its plan.
    Heal,
    /// `check` (and `heal --dry-run`): plans as `heal`, writes nothing.
    Check,
    /// A `watch` cycle, beside a running bot.
    Watch,
}

/// Applies the plan policy of a `kind` run to `planned` (see the module's table).
///
/// # Errors
/// I/O errors measuring the free space for the backups.
pub(crate) fn policy(kind: RunKind, root: &Root, planned: &mut Planned) -> Result<()> {
    if kind == RunKind::Watch {
        refuse_forbidden(planned);
    }
    hold_while_duplicate(planned);
    refuse_without_space(root, planned)
}

/// Turns every planned operation into a failed heal when the filesystem of the backups has
/// not room for what the plan writes (`space::needed`: backups, new content, directories,
/// journal records).
fn refuse_without_space(root: &Root, planned: &mut Planned) -> Result<()> {
    if planned.ops.is_empty() {
        return Ok(());
    }
    let at = backups_or_parent(root)?;
    let need = crate::space::needed(&planned.ops, root.block_size(at.as_ref())?);
    let have = root.available_space(at.as_ref())?;
    if have >= need {
        return Ok(());
    }
    drop_ops(
        planned,
        &format!("not enough disk space for the backups: need {need} bytes, {have} free"),
    );
    Ok(())
}

/// Where the backups are (or, for a run that writes nothing on a root where selfheal's
/// directories do not exist yet, `logs/` or the root that will hold them): a writing run
/// creates `logs/backups/` before it plans.
fn backups_or_parent(root: &Root) -> Result<Option<RelPath>> {
    for dir in [BACKUPS_DIR, "logs"] {
        let rel = RelPath::new(dir)?;
        if !matches!(root.entry(&rel)?, Entry::Absent) {
            return Ok(Some(rel));
        }
    }
    Ok(None)
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
fn hold_while_duplicate(planned: &mut Planned) {
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

/// What watch never does, whatever a check plans: `Some(what)` for such an operation.
fn forbidden(op: &Op) -> Option<&'static str> {
    match op.action {
        Effect::Signal { .. } => Some("signal a process"),
        Effect::RemoveLock => Some("remove a lock file"),
        _ if op.heal == crate::plan::HealKind::StaleHeartbeat => Some("reset a heartbeat"),
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
    drop_ops(
        planned,
        &format!("refused: the plan asks to {what}, which watch never does"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{HealKind, Observed};
    use journal_format::ProcessRef;
    use std::time::Duration;

    fn op(heal: HealKind, action: Effect) -> Op {
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
        let signal = Effect::Signal {
            process: ProcessRef {
                pid: 1,
                start_ticks: 1,
                cmdline: String::new(),
            },
            grace: Duration::from_secs(1),
        };
        let dir = || Effect::CreateDir { mode: 0o755 };
        for bad in [
            op(HealKind::OrphanProcess, signal),
            op(HealKind::StaleLock, Effect::RemoveLock),
            op(HealKind::StaleHeartbeat, dir()),
        ] {
            let mut p = Planned::default();
            p.push(op(HealKind::MissingDirectory, dir()));
            p.push(bad);
            refuse_forbidden(&mut p);
            assert!(p.ops.is_empty());
            assert_eq!(p.failed.len(), 2);
            assert!(p.failed[0].reason.contains("which watch never does"));
        }
        let mut fine = Planned::default();
        fine.push(op(HealKind::MissingDirectory, dir()));
        refuse_forbidden(&mut fine);
        assert_eq!(fine.ops.len(), 1);
    }
}
