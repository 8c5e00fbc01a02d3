//! Insecure permissions: a state file or directory that is group- or world-writable gets
//! those write bits removed (`mode & !0o022`), as a journaled `set_mode` that rollback
//! undoes. State paths are the configured directories, the managed files, the heartbeat
//! files and the alert log. selfheal's own `logs/backups/` tree is held to owner-only
//! (`mode & !0o077`: 0700 directories, 0600 files). A file another operation of the plan
//! already rewrites gets the tightened mode in that operation instead (a transaction holds
//! at most one operation per path). Symlinks, and the trusted symlinks themselves, are never
//! touched. The files below `logs/backups/`'s subdirectories (one per transaction and per
//! backup object: their number grows with the journal) are looked at when the journal was
//! read in full, not on a run its index served (a start must not cost more with a longer
//! journal; the index holds at most an hour, and selfheal creates them owner-only).

use super::{listable_dir, Ctx, Planned};
use crate::error::Result;
use crate::fsx::{Entry, Kind, TMP_PREFIX};
use crate::journal::BACKUPS_DIR;
use crate::paths::RelPath;
use crate::plan::{observe, Action, Op};
use journal_format::Node;
use std::collections::BTreeSet;

/// Bits a state path must not have.
const STATE_STRIP: u32 = 0o022;
/// Bits selfheal's own backups and journal must not have.
const OWN_STRIP: u32 = 0o077;
/// How deep the backups tree is walked (`logs/backups/objects/ab/<object>`).
const OWN_DEPTH: usize = 3;

/// Plans the tightening of every insecure state path.
///
/// # Errors
/// I/O errors while looking.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let mut seen = BTreeSet::new();
    for rel in state_paths(ctx)? {
        if seen.insert(rel.clone()) {
            plan_one(ctx, p, &rel, STATE_STRIP)?;
        }
    }
    for rel in own_paths(ctx)? {
        if seen.insert(rel.clone()) {
            plan_one(ctx, p, &rel, OWN_STRIP)?;
        }
    }
    Ok(())
}

fn state_paths(ctx: &Ctx<'_>) -> Result<Vec<RelPath>> {
    let l = ctx.layout;
    let backups = RelPath::new(BACKUPS_DIR)?;
    let mut out: Vec<RelPath> = l
        .directories
        .iter()
        .map(|(d, _)| d.clone())
        .filter(|d| !d.starts_with(&backups))
        .collect();
    out.push(l.heartbeat_dir.clone());
    out.extend(l.files.iter().map(|f| f.path.clone()));
    out.extend(l.heartbeat_plain.iter().cloned());
    out.push(l.alerts_file.clone());
    if listable_dir(ctx.root, &l.heartbeat_dir)? {
        for e in ctx.root.list(Some(&l.heartbeat_dir))? {
            // A name the journal cannot hold is reported by the heartbeat check.
            let named = l.heartbeat_dir.join(&e.name).ok().filter(|_| e.utf8);
            if let (Kind::File, Some(rel)) = (e.kind, named) {
                if !e.name.starts_with(TMP_PREFIX) {
                    out.push(rel);
                }
            }
        }
    }
    Ok(out)
}

/// `logs/backups/` and everything below it, parents first.
fn own_paths(ctx: &Ctx<'_>) -> Result<Vec<RelPath>> {
    let top = RelPath::new(BACKUPS_DIR)?;
    let mut out = vec![top.clone()];
    let mut level = vec![top];
    let depth = match ctx.journal.source {
        crate::journal::Source::Full => OWN_DEPTH,
        crate::journal::Source::Index => 1,
    };
    for _ in 0..depth {
        let mut next = Vec::new();
        for dir in &level {
            if !listable_dir(ctx.root, dir)? {
                continue;
            }
            for e in ctx.root.list(Some(dir))? {
                let ours = e.utf8 && !e.name.starts_with(TMP_PREFIX);
                let Some(rel) = dir.join(&e.name).ok().filter(|_| ours) else {
                    continue;
                };
                if matches!(e.kind, Kind::File | Kind::Dir) {
                    if e.kind == Kind::Dir {
                        next.push(rel.clone());
                    }
                    out.push(rel);
                }
            }
        }
        level = next;
    }
    Ok(out)
}

fn plan_one(ctx: &Ctx<'_>, p: &mut Planned, rel: &RelPath, strip: u32) -> Result<()> {
    if ctx.layout.trusted.iter().any(|(link, _)| link == rel) {
        return Ok(());
    }
    let mode_now = match ctx.root.entry(rel)? {
        Entry::Present(st) if matches!(st.kind, Kind::File | Kind::Dir) => st.mode,
        _ => return Ok(()),
    };
    if let Some(op) = p.ops.iter_mut().find(|o| o.path.as_ref() == Some(rel)) {
        fold_into(op, strip);
        return Ok(());
    }
    if mode_now & strip == 0 {
        return Ok(());
    }
    let before = observe(ctx.root, rel, ctx.layout.max_file_size)?;
    let mode = match before.node() {
        Some(Node::File { mode, .. } | Node::Dir { mode }) => mode.0,
        _ => return Ok(()),
    };
    let new = mode & !strip;
    p.push(Op {
        heal: "insecure_permissions",
        message: format!("Tightened permissions: {rel} {mode:04o} -> {new:04o}"),
        reason: format!("mode {mode:04o} lets the group or others write ({strip:03o} bits)"),
        path: Some(rel.clone()),
        action: Action::SetMode { mode: new },
        before,
    });
    Ok(())
}

/// A path another operation already rewrites gets the tightened mode in that operation:
/// one transaction never holds two operations on the same path, so each undoes alone.
fn fold_into(op: &mut Op, strip: u32) {
    let Action::WriteFile { mode, .. } = &mut op.action else {
        return;
    };
    if *mode & strip == 0 {
        return;
    }
    let new = *mode & !strip;
    op.message = format!("{} (permissions {:04o} -> {new:04o})", op.message, *mode);
    op.reason = format!("{}; mode {:04o} tightened", op.reason, *mode);
    *mode = new;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_masks() {
        assert_eq!(0o666 & !STATE_STRIP, 0o644);
        assert_eq!(0o777 & !STATE_STRIP, 0o755);
        assert_eq!(0o755 & !OWN_STRIP, 0o700);
        assert_eq!(0o644 & !OWN_STRIP, 0o600);
    }
}
