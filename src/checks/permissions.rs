//! Insecure permissions: a state file or directory that is group- or world-writable gets
//! those write bits removed (`mode & !0o022`), as a journaled `set_mode` that rollback
//! undoes. State paths are the configured directories, the managed files, the heartbeat
//! files and the alert log. selfheal's own subdirectories of `logs/backups/` (journal,
//! objects, torn tails) and what they hold are held to owner-only (`mode & !0o077`: 0700
//! directories, 0600 files). `logs/backups/` itself is shared with the bot, which keeps its
//! own rolling backups there: neither the directory nor the bot's files in it are ever
//! changed; a group- or world-writable `logs/backups/` is only reported (anyone who can
//! write there can rename selfheal's directories away). A file another operation of the
//! plan already rewrites gets the tightened mode in that operation instead (a transaction
//! holds at most one operation per path). Symlinks, and the trusted symlinks themselves,
//! are never touched. The reason of each change says which bits were loose. A state path
//! carrying a POSIX access ACL loses only the world-write bit: its group bits are the ACL's
//! mask, which bounds the users and groups the operator named in it (a bot writing through
//! such an entry), not the owning group's permissions.
//! The files below selfheal's subdirectories (one per transaction and per backup object:
//! their number grows with the journal) are looked at when the journal was read in full,
//! not on a run its index served (a start must not cost more with a longer journal; the
//! index holds at most an hour, and selfheal creates them owner-only).

use super::{listable_dir, Ctx, Planned};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Entry, Kind, TMP_PREFIX};
use crate::paths::RelPath;
use crate::paths::{BACKUPS_DIR, OWN_DIRS};
use crate::plan::{observe, Effect, HealKind, Op};
use journal_format::Node;
use std::collections::BTreeSet;

/// Bits a state path must not have.
const STATE_STRIP: u32 = 0o022;
/// Bits a state path with a POSIX access ACL must not have (its group bits are the mask).
const ACL_STRIP: u32 = 0o002;
/// Bits selfheal's own backups and journal must not have.
const OWN_STRIP: u32 = 0o077;
/// How deep selfheal's own directories are walked (`objects/ab/<object>`).
const OWN_DEPTH: usize = 2;

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
    shared_backups(ctx, p)
}

/// Reports a group- or world-writable `logs/backups/` (the bot's directory: not changed).
fn shared_backups(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let rel = RelPath::new(BACKUPS_DIR)?;
    let mode = match ctx.root.entry(&rel)? {
        Entry::Present(st) if st.kind == Kind::Dir && st.mode & STATE_STRIP != 0 => st.mode,
        _ => return Ok(()),
    };
    let shown = ctx.root.display(&rel);
    let loose = loose(mode, STATE_STRIP, true);
    p.findings.push(
        Finding::new(
            code::INSECURE_PERMISSIONS,
            Level::High,
            Some(BACKUPS_DIR),
            format!(
                "{BACKUPS_DIR} is {mode:04o}: it {loose}, so anyone who can write there can rename selfheal's journal away; selfheal leaves the directory to the bot: run `chmod go-w {}`",
                crate::text::clean(&shown.display().to_string())
            ),
            format!("mode {mode:04o}"),
        )
        .with_details(serde_json::json!({"file": BACKUPS_DIR, "mode": format!("{mode:04o}")})),
    );
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

/// selfheal's own subdirectories of `logs/backups/` and everything below them, parents
/// first; nothing else of `logs/backups/`.
fn own_paths(ctx: &Ctx<'_>) -> Result<Vec<RelPath>> {
    let mut out = Vec::new();
    let mut level = Vec::new();
    for dir in OWN_DIRS {
        let rel = RelPath::new(dir)?;
        if listable_dir(ctx.root, &rel)? {
            out.push(rel.clone());
            level.push(rel);
        }
    }
    let depth = match ctx.journal.source {
        crate::journal::Source::Full => OWN_DEPTH,
        crate::journal::Source::Index => 0,
    };
    for _ in 0..depth {
        let mut next = Vec::new();
        for dir in &level {
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
    let group_write = mode_now & 0o020 != 0;
    let strip = if strip == STATE_STRIP && group_write && ctx.root.has_acl(rel)? {
        ACL_STRIP
    } else {
        strip
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
    let dir = matches!(before.node(), Some(Node::Dir { .. }));
    let why = match strip {
        OWN_STRIP => format!(
            "mode {mode:04o} {} (selfheal's own backups and journal are owner-only)",
            loose(mode, strip, dir)
        ),
        _ => format!("mode {mode:04o} {}", loose(mode, strip, dir)),
    };
    p.push(Op {
        heal: HealKind::InsecurePermissions,
        message: format!("Tightened permissions: {rel} {mode:04o} -> {new:04o}"),
        reason: why,
        path: Some(rel.clone()),
        action: Effect::SetMode { mode: new },
        before,
    });
    Ok(())
}

/// What the bits of `mode` in `strip` allow, in words: `lets the group and others write`,
/// `lets the group read and enter and others read`.
fn loose(mode: u32, strip: u32, dir: bool) -> String {
    let bits = mode & strip;
    let (group, others) = ((bits >> 3) & 7, bits & 7);
    let can = |b: u32| {
        let words: Vec<&str> = [
            (4, "read"),
            (2, "write"),
            (1, if dir { "enter" } else { "execute" }),
        ]
        .iter()
        .filter(|(m, _)| b & m != 0)
        .map(|(_, w)| *w)
        .collect();
        match words.as_slice() {
            [.., last] if words.len() > 1 => {
                format!("{} and {last}", words[..words.len() - 1].join(", "))
            }
            _ => words.join(""),
        }
    };
    match (group, others) {
        (0, 0) => "has no loose bits".to_string(),
        (g, o) if g == o => format!("lets the group and others {}", can(g)),
        (g, 0) => format!("lets the group {}", can(g)),
        (0, o) => format!("lets others {}", can(o)),
        (g, o) => format!("lets the group {} and others {}", can(g), can(o)),
    }
}

/// A path another operation already rewrites gets the tightened mode in that operation:
/// one transaction never holds two operations on the same path, so each undoes alone.
fn fold_into(op: &mut Op, strip: u32) {
    let Effect::WriteFile { mode, .. } = &mut op.action else {
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

    #[test]
    fn reasons_name_the_loose_bits() {
        let cases = [
            (0o666, STATE_STRIP, false, "lets the group and others write"),
            (0o620, STATE_STRIP, false, "lets the group write"),
            (0o646, STATE_STRIP, false, "lets others write"),
            (0o644, OWN_STRIP, false, "lets the group and others read"),
            (
                0o755,
                OWN_STRIP,
                true,
                "lets the group and others read and enter",
            ),
            (0o750, OWN_STRIP, true, "lets the group read and enter"),
            (
                0o777,
                OWN_STRIP,
                false,
                "lets the group and others read, write and execute",
            ),
            (
                0o764,
                OWN_STRIP,
                false,
                "lets the group read and write and others read",
            ),
        ];
        for (mode, strip, dir, want) in cases {
            assert_eq!(loose(mode, strip, dir), want, "mode {mode:o}");
        }
    }
}
