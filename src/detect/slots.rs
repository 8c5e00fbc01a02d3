//! Blue/green deployment slots. The slots of a deployment `<name>` are the sibling
//! directories `<name>-<suffix>` for each suffix of `slots.suffixes` (default `A`, `B`,
//! `blue`, `green`), and `<name>-current` is the link naming the active one. A root is a slot
//! when it was reached through `<name>-current`, or when its canonical path is
//! `<name>-<suffix>` and its parent also holds `<name>-current` or another slot;
//! `slots.current_link` / `slots.known` in the config replace that inference, and
//! `slots.infer = false` turns it off. SLOT_INVALID: the `-current` link is missing,
//! dangling, not a link, or names no known slot; the root is not a known slot; or the slot
//! lacks its state (no readable positions file after healing). SLOT_INACTIVE_NEWER (HIGH):
//! an inactive slot's positions file is newer than the active slot's, the mark of a slot
//! flip that may have lost positions. SLOT_DIVERGENCE, which reads the other slots'
//! positions, is in `divergence`.
//!
//! Only metadata outside the root is looked at here (links, directories, one `stat` of each
//! other slot's positions file); nothing outside the root is read or written.

use super::post::{PostFile, Presence};
use crate::config::Slots;
use crate::findings::{code, Finding, Level};
use serde::Serialize;
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the slots are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotLayout {
    /// The root, canonical.
    pub root: PathBuf,
    /// The `...-current` link, when there is one to check.
    pub link: Option<PathBuf>,
    /// The known slot directories (canonical where they exist).
    pub known: Vec<PathBuf>,
    /// `inferred` or `config`.
    pub source: &'static str,
}

/// What the `-current` link names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "target", rename_all = "snake_case")]
pub enum LinkState {
    /// It names this known slot.
    Active(PathBuf),
    /// There is no link at that path.
    Missing,
    /// The path is not a symlink.
    NotALink,
    /// It does not resolve.
    Dangling,
    /// It resolves to a directory that is not a known slot.
    Unknown(PathBuf),
}

/// Finds the slot layout of the root given as `given`, if it is a slot.
pub fn locate(given: &Path, cfg: &Slots) -> Option<SlotLayout> {
    let root = std::fs::canonicalize(given).ok()?;
    if cfg.current_link.is_some() || !cfg.known.is_empty() {
        return Some(configured(root, cfg));
    }
    if !cfg.infer {
        return None;
    }
    infer(given, root, &cfg.suffixes)
}

fn configured(root: PathBuf, cfg: &Slots) -> SlotLayout {
    let mut known: Vec<PathBuf> = cfg.known.iter().map(|k| canonical(k)).collect();
    if known.is_empty() {
        if let Some((parent, base)) = cfg.current_link.as_deref().and_then(link_base) {
            known = siblings(&parent, &base, &cfg.suffixes);
        }
    }
    SlotLayout {
        root,
        link: cfg.current_link.clone(),
        known,
        source: "config",
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `<parent>/<base>-current` split into the parent (canonical) and `<base>`.
fn link_base(link: &Path) -> Option<(PathBuf, String)> {
    let name = link.file_name()?.to_str()?;
    let base = name.strip_suffix("-current")?;
    let parent = match link.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some((canonical(parent), base.to_string()))
}

fn siblings(parent: &Path, base: &str, suffixes: &[String]) -> Vec<PathBuf> {
    suffixes
        .iter()
        .map(|s| canonical(&parent.join(format!("{base}-{s}"))))
        .collect()
}

/// `<base>-<suffix>` split at the longest configured suffix it ends with.
fn split_slot<'n>(name: &'n str, suffixes: &[String]) -> Option<&'n str> {
    suffixes
        .iter()
        .filter_map(|s| name.strip_suffix(s.as_str())?.strip_suffix('-'))
        .filter(|base| !base.is_empty())
        .min_by_key(|base| base.len())
}

fn infer(given: &Path, root: PathBuf, suffixes: &[String]) -> Option<SlotLayout> {
    let slot = |link: PathBuf, known: Vec<PathBuf>, root: PathBuf| SlotLayout {
        root,
        link: Some(link),
        known,
        source: "inferred",
    };
    if let Some((parent, base)) = link_base(given) {
        let link = parent.join(format!("{base}-current"));
        return Some(slot(link, siblings(&parent, &base, suffixes), root));
    }
    let name = root.file_name()?.to_str()?;
    let base = split_slot(name, suffixes)?;
    let parent = root.parent()?;
    let link = parent.join(format!("{base}-current"));
    let known = siblings(parent, base, suffixes);
    let deployed =
        link.symlink_metadata().is_ok() || known.iter().any(|k| *k != root && k.is_dir());
    deployed.then(|| slot(link, known, root.clone()))
}

/// What the layout's link names.
pub fn resolve(layout: &SlotLayout) -> Option<LinkState> {
    let link = layout.link.as_ref()?;
    let state = match link.symlink_metadata() {
        Err(_) => LinkState::Missing,
        Ok(m) if !m.file_type().is_symlink() => LinkState::NotALink,
        Ok(_) => match std::fs::canonicalize(link) {
            Err(_) => LinkState::Dangling,
            Ok(t) if layout.known.is_empty() && t.is_dir() => LinkState::Active(t),
            Ok(t) if layout.known.contains(&t) => LinkState::Active(t),
            Ok(t) => LinkState::Unknown(t),
        },
    };
    Some(state)
}

/// Every problem with the slot, as sentences (empty: valid).
pub fn problems(layout: &SlotLayout, link: Option<&LinkState>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !layout.known.is_empty() && !layout.known.contains(&layout.root) {
        out.push((
            format!(
                "the root {} is not one of the known slots",
                layout.root.display()
            ),
            "root not a known slot".to_string(),
        ));
    }
    let name = layout
        .link
        .as_ref()
        .map(|l| l.display().to_string())
        .unwrap_or_default();
    let why = match link {
        Some(LinkState::Missing) => Some("is missing".to_string()),
        Some(LinkState::NotALink) => Some("is not a symlink".to_string()),
        Some(LinkState::Dangling) => Some("does not resolve".to_string()),
        Some(LinkState::Unknown(t)) => Some(format!("points to {}, not a known slot", t.display())),
        Some(LinkState::Active(_)) | None => None,
    };
    if let Some(why) = why {
        out.push((
            format!("the slot link {name} {why}"),
            format!("link {name} {why}"),
        ));
    }
    out
}

/// SLOT_INVALID and SLOT_INACTIVE_NEWER findings for the slot `layout`.
pub fn detect(layout: &SlotLayout, positions: Option<&PostFile<'_>>) -> Vec<Finding> {
    let link = resolve(layout);
    let mut found: Vec<Finding> = problems(layout, link.as_ref())
        .into_iter()
        .map(|(msg, ev)| invalid(layout, msg, ev))
        .collect();
    found.extend(lacks_state(layout, positions));
    if let (Some(LinkState::Active(active)), Some(pos)) = (&link, positions) {
        found.extend(inactive_newer(layout, active, pos));
    }
    found
}

fn invalid(layout: &SlotLayout, message: String, evidence: String) -> Finding {
    Finding::new(
        code::SLOT_INVALID,
        Level::Critical,
        None,
        format!(
            "deployment slot {}: {}",
            layout.root.display(),
            crate::text::clean(&message)
        ),
        evidence,
    )
    .with_details(json!({
        "root": shown(&layout.root),
        "link": layout.link.as_deref().map(shown),
        "known": layout.known.iter().map(|k| shown(k)).collect::<Vec<_>>(),
        "source": layout.source,
    }))
}

fn lacks_state(layout: &SlotLayout, positions: Option<&PostFile<'_>>) -> Option<Finding> {
    let why = match positions.map(|p| &p.presence) {
        Some(Presence::Present) => return None,
        Some(Presence::Absent) => "is missing".to_string(),
        Some(Presence::Unreadable(why)) => why.clone(),
        None => "is not configured".to_string(),
    };
    let path = positions.map_or("positions file", |p| p.spec.path.as_str());
    Some(invalid(
        layout,
        format!("the slot lacks its state: {path} {why}"),
        format!("no state: {path}"),
    ))
}

fn inactive_newer(layout: &SlotLayout, active: &Path, pos: &PostFile<'_>) -> Vec<Finding> {
    let rel = pos.spec.path.as_path();
    let mtime = |slot: &Path| -> Option<(i64, u32)> {
        if slot == layout.root {
            return pos.mtime_before;
        }
        let m = slot.join(rel).symlink_metadata().ok()?;
        let nsec = u32::try_from(m.mtime_nsec()).unwrap_or(0);
        m.file_type().is_file().then_some((m.mtime(), nsec))
    };
    let active_m = mtime(active);
    layout
        .known
        .iter()
        .filter(|k| k.as_path() != active)
        .filter_map(|k| {
            let other = mtime(k)?;
            (Some(other) > active_m).then(|| newer(pos, active, k))
        })
        .collect()
}

fn newer(pos: &PostFile<'_>, active: &Path, inactive: &Path) -> Finding {
    let path = pos.spec.path.as_str();
    Finding::new(
        code::SLOT_INACTIVE_NEWER,
        Level::High,
        Some(path),
        crate::text::clean(&format!(
            "the inactive slot {} has a newer {path} than the active slot {}: a slot flip may have lost positions",
            inactive.display(),
            active.display()
        )),
        format!("inactive {} newer than active {}", inactive.display(), active.display()),
    )
    .with_details(json!({"file": path, "active": shown(active), "inactive": shown(inactive)}))
}

/// A path as text for details: `json!` cannot take a path that is not UTF-8.
pub(crate) fn shown(p: &Path) -> String {
    crate::text::clean(&p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names() {
        let suffixes: Vec<String> = ["A", "B", "blue", "green"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(split_slot("bot-A", &suffixes), Some("bot"));
        assert_eq!(
            split_slot("trading-bot-blue", &suffixes),
            Some("trading-bot")
        );
        assert_eq!(split_slot("bot-green", &suffixes), Some("bot"));
        assert_eq!(split_slot("bot-old", &suffixes), None);
        assert_eq!(split_slot("botA", &suffixes), None);
        assert_eq!(split_slot("-A", &suffixes), None);
        let nested: Vec<String> = ["B", "x-B"].iter().map(|s| s.to_string()).collect();
        assert_eq!(split_slot("bot-x-B", &nested), Some("bot"));
    }
}
