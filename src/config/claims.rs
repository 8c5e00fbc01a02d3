//! The layout as one table of claims: every path the configuration gives a role (a managed
//! file, a heartbeat, the alert log, a directory, ...) and every name pattern it scans in a
//! directory (lock files, JSON heartbeats), each with the key that gave it. The table is
//! checked as a whole, so no path can have two roles:
//!
//! - nothing lies inside selfheal's own store (`logs/backups/journal`, `objects`, `torn`);
//! - a path claimed as a file is claimed once, and never also as a directory (directories
//!   may share a path: a lock directory is also a directory of the layout);
//! - no path matches a pattern it does not belong to: a lock directory's suffix never
//!   matches another claimed name there (it would be removed as a stale lock), and the
//!   heartbeat directory's `*.json` never matches one (it would be rewritten as a
//!   heartbeat); the heartbeat directory holds no managed file at all;
//! - every directory a created path needs is a directory of the layout: parents the
//!   configuration does not list are implied (added, mode 0755; 0700 in `logs/backups/`),
//!   up to the root or a trusted symlink.
//!
//! A new path key of the configuration is one more row in [`collect`].

use super::Layout;
use crate::paths::RelPath;
use crate::paths::OBJECTS_DIR;
use crate::paths::{BACKUPS_DIR, JOURNAL_DIR, TORN_DIR};

/// What a claimed path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A directory of the layout.
    Dir,
    /// A parent directory another claim needs, not listed in `directories`.
    Implied,
    /// A trusted symlink to a directory.
    TrustedLink,
    /// The heartbeat directory.
    HeartbeatDir,
    /// A directory scanned for lock files.
    LockDir,
    /// selfheal's own `logs/` and `logs/backups/`.
    Selfheal,
    /// A managed JSON file.
    ManagedFile,
    /// The bot's lock file of a managed file (`<file><suffix>`), which `watch` takes.
    LockOf,
    /// A plain heartbeat file.
    HeartbeatFile,
    /// The alert log.
    AlertLog,
    /// The configuration file itself (when it lies inside the root).
    ConfigFile,
}

impl Role {
    fn is_dir(self) -> bool {
        matches!(
            self,
            Role::Dir
                | Role::Implied
                | Role::TrustedLink
                | Role::HeartbeatDir
                | Role::LockDir
                | Role::Selfheal
        )
    }

    /// Whether selfheal creates or writes the path, so its parent must exist.
    fn needs_parent(self) -> bool {
        matches!(
            self,
            Role::Dir | Role::ManagedFile | Role::HeartbeatFile | Role::AlertLog
        )
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Claim {
    /// The configuration key that makes it, as messages name it.
    key: String,
    role: Role,
    path: RelPath,
}

/// Names scanned in a directory: `<dir>/*<suffix>`.
#[derive(Debug, Clone)]
struct Pattern {
    key: String,
    dir: RelPath,
    suffix: String,
    /// What a match is taken for.
    what: &'static str,
    /// The role whose paths legitimately match it, if any claimed path may.
    owner: Option<Role>,
}

/// A violation: the key to lead the message with, and what is wrong.
pub(super) type Violation = (String, String);

/// Checks the whole layout and adds the implied parent directories to it (and to its
/// configuration, so `selfheal config` shows them). `config_file`: the configuration file,
/// when it lies inside the root.
pub(super) fn check(
    layout: &mut Layout,
    config_file: Option<RelPath>,
) -> std::result::Result<(), Violation> {
    let (mut claims, patterns) = collect(layout, config_file)?;
    inside_store(&claims)?;
    let implied = implied_parents(&claims);
    claims.extend(implied.iter().cloned());
    overlaps(&claims)?;
    matches_pattern(&claims, &patterns)?;
    heartbeat_dir_holds_no_state(layout, &claims)?;
    for c in implied {
        let mode = if c.path.starts_with(&rel(BACKUPS_DIR)?) {
            0o700
        } else {
            0o755
        };
        layout.config.directories.push(super::DirSpec {
            path: c.path.to_string(),
            mode: format!("{mode:04o}"),
        });
        layout.directories.push((c.path, mode));
    }
    Ok(())
}

fn rel(text: &str) -> std::result::Result<RelPath, Violation> {
    RelPath::new(text).map_err(|e| ("<layout>".to_string(), e.to_string()))
}

/// The table: every path key of the configuration, in the order messages lead with.
fn collect(
    l: &Layout,
    config_file: Option<RelPath>,
) -> std::result::Result<(Vec<Claim>, Vec<Pattern>), Violation> {
    let mut claims = Vec::new();
    let mut add = |key: String, role: Role, path: &RelPath| {
        claims.push(Claim {
            key,
            role,
            path: path.clone(),
        });
    };
    let suffix = &l.config.locks.suffix;
    for (i, f) in l.files.iter().enumerate() {
        add(format!("files[{i}].path"), Role::ManagedFile, &f.path);
    }
    for (i, p) in l.heartbeat_plain.iter().enumerate() {
        add(
            format!("heartbeats.plain_files[{i}]"),
            Role::HeartbeatFile,
            p,
        );
    }
    add("alerts.file".into(), Role::AlertLog, &l.alerts_file);
    add(
        "heartbeats.json_dir".into(),
        Role::HeartbeatDir,
        &l.heartbeat_dir,
    );
    for (i, d) in l.lock_dirs.iter().enumerate() {
        add(format!("locks.dirs[{i}]"), Role::LockDir, d);
    }
    for (i, (d, _)) in l.directories.iter().enumerate() {
        add(format!("directories[{i}].path"), Role::Dir, d);
    }
    for (i, (link, _)) in l.trusted.iter().enumerate() {
        add(
            format!("trusted_symlinks[{i}].link"),
            Role::TrustedLink,
            link,
        );
    }
    for (i, f) in l.files.iter().enumerate() {
        let lock = RelPath::new(format!("{}{suffix}", f.path)).map_err(|e| {
            (
                "locks.suffix".to_string(),
                format!(
                    "{suffix:?} does not make a lock file name of {}: {e}",
                    f.path
                ),
            )
        })?;
        add(
            format!("the lock file of files[{i}].path (locks.suffix {suffix:?})"),
            Role::LockOf,
            &lock,
        );
    }
    if let Some(c) = &config_file {
        add("the configuration file".into(), Role::ConfigFile, c);
    }
    add("selfheal's own logs/".into(), Role::Selfheal, &rel("logs")?);
    add(
        format!("selfheal's own {BACKUPS_DIR}/"),
        Role::Selfheal,
        &rel(BACKUPS_DIR)?,
    );
    Ok((claims, patterns(l)))
}

/// The names scanned in a directory: lock files in each lock directory, JSON heartbeats in
/// the heartbeat directory.
fn patterns(l: &Layout) -> Vec<Pattern> {
    let suffix = &l.config.locks.suffix;
    let mut patterns: Vec<Pattern> = l
        .lock_dirs
        .iter()
        .enumerate()
        .map(|(i, d)| Pattern {
            key: format!(
                "locks.dirs[{i}] {:?} with locks.suffix {suffix:?}",
                d.as_str()
            ),
            dir: d.clone(),
            suffix: suffix.clone(),
            what: "a lock file (removed when stale)",
            owner: Some(Role::LockOf),
        })
        .collect();
    patterns.push(Pattern {
        key: format!("heartbeats.json_dir {:?}", l.heartbeat_dir.as_str()),
        dir: l.heartbeat_dir.clone(),
        suffix: ".json".into(),
        what: "a JSON heartbeat (rewritten when stale)",
        owner: None,
    });
    patterns
}

/// Nothing may lie in selfheal's journal, object store or torn tails.
fn inside_store(claims: &[Claim]) -> std::result::Result<(), Violation> {
    let store = [JOURNAL_DIR, OBJECTS_DIR, TORN_DIR]
        .iter()
        .map(|d| rel(d))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for c in claims {
        if let Some(s) = store.iter().find(|s| c.path.starts_with(s)) {
            return Err((
                c.key.clone(),
                format!(
                    "{:?} is inside selfheal's own store {s}/, which only selfheal may write",
                    c.path.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The parent directories that claims needing one have but `directories` does not list,
/// each named after the first claim that needs it.
fn implied_parents(claims: &[Claim]) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    for c in claims.iter().filter(|c| c.role.needs_parent()) {
        let mut cur = c.path.parent();
        while let Some(parent) = cur {
            let provided = claims
                .iter()
                .chain(out.iter())
                .any(|o| o.path == parent && matches!(o.role, Role::Dir | Role::Implied));
            let behind_link = claims
                .iter()
                .any(|o| o.role == Role::TrustedLink && o.path == parent);
            if provided || behind_link {
                break;
            }
            out.push(Claim {
                key: format!("the parent directory of {}", c.key),
                role: Role::Implied,
                path: parent.clone(),
            });
            cur = parent.parent();
        }
    }
    out
}

/// A path claimed as a file is claimed once, and never also as a directory.
fn overlaps(claims: &[Claim]) -> std::result::Result<(), Violation> {
    for (i, a) in claims.iter().enumerate() {
        for b in claims.iter().skip(i + 1) {
            if a.path == b.path && !(a.role.is_dir() && b.role.is_dir()) {
                return Err((
                    a.key.clone(),
                    format!("{:?} is also {}", a.path.as_str(), b.key),
                ));
            }
        }
    }
    Ok(())
}

/// No claimed path is taken for a lock file or a JSON heartbeat it is not.
fn matches_pattern(claims: &[Claim], patterns: &[Pattern]) -> std::result::Result<(), Violation> {
    for p in patterns {
        let hit = claims.iter().find(|c| {
            Some(c.role) != p.owner
                && c.path.parent().as_ref() == Some(&p.dir)
                && c.path.file_name().ends_with(p.suffix.as_str())
        });
        if let Some(c) = hit {
            return Err((
                c.key.clone(),
                format!(
                    "{:?} matches {}: it would be taken for {}",
                    c.path.as_str(),
                    p.key,
                    p.what
                ),
            ));
        }
    }
    Ok(())
}

/// The heartbeat directory is the bot's heartbeats only: no managed file lives there.
fn heartbeat_dir_holds_no_state(
    l: &Layout,
    claims: &[Claim],
) -> std::result::Result<(), Violation> {
    let hit = claims.iter().find(|c| {
        matches!(
            c.role,
            Role::ManagedFile | Role::AlertLog | Role::ConfigFile
        ) && c.path.parent().as_ref() == Some(&l.heartbeat_dir)
    });
    match hit {
        Some(c) => Err((
            c.key.clone(),
            format!(
                "{:?} is inside heartbeats.json_dir {:?}, which holds only heartbeats",
                c.path.as_str(),
                l.heartbeat_dir.as_str()
            ),
        )),
        None => Ok(()),
    }
}
