//! Read-only validations a bot can call at startup, the library counterparts of the
//! reference bot's `validate_startup_state()` and `validate_systemd_slot()`. Neither plans,
//! writes, locks nor alerts: they look (through `fsx`, never following a symlink inside the
//! root) and describe. `heal` remains the one call that decides whether the engine may start.

use crate::checks::layout::inspect_file;
use crate::config::File;
pub use crate::detect::slots::LinkState;
use crate::detect::slots::{self, SlotLayout};
use crate::error::Result;
use crate::fsx::{Entry, Kind};
use crate::jsondoc::Shape;
use crate::paths::RelPath;
use crate::plan::observe;
use crate::run::{Options, Session};
use journal_format::Node;
use serde::Serialize;

/// The result of [`validate_startup_state`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StartupValidation {
    /// No issue was found (missing files and directories are not issues: heal creates them).
    pub valid: bool,
    /// Every issue, one sentence each.
    pub issues: Vec<String>,
    /// Each managed file.
    pub files: Vec<FileCheck>,
    /// Configured directories that do not exist yet.
    pub missing_directories: Vec<String>,
}

/// One managed file as [`validate_startup_state`] saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Its path, relative to the root.
    pub path: String,
    /// `ok`, `missing`, `empty`, `missing_keys`, `corrupt`, `unusable` or `not_a_file`.
    pub state: &'static str,
    /// Its permission bits (octal), when it is a file.
    pub mode: Option<String>,
    /// Open positions, for a usable positions file.
    pub open_positions: Option<usize>,
    /// Closed positions, for a usable positions file.
    pub closed_positions: Option<usize>,
}

/// Checks the state's structure and permissions without changing anything: each managed
/// file is present or missing, a usable JSON object with its required keys, and not
/// group/world-writable; `logs/` is writable.
///
/// # Errors
/// A missing root, an invalid config, I/O errors while reading.
pub fn validate_startup_state(opts: &Options) -> Result<StartupValidation> {
    let s = Session::open(opts, false)?;
    let mut v = StartupValidation::default();
    for (dir, _) in &s.layout.directories {
        if matches!(s.root.entry(dir)?, Entry::Absent) {
            v.missing_directories.push(dir.to_string());
        }
    }
    for spec in &s.layout.files {
        let (check, issue) = file_check(&s, spec)?;
        v.files.push(check);
        v.issues.extend(issue);
    }
    let logs = RelPath::new("logs")?;
    if matches!(s.root.entry(&logs)?, Entry::Present(st) if st.kind == Kind::Dir)
        && !s.root.writable(&logs)?
    {
        v.issues.push("logs/ is not writable".into());
    }
    v.valid = v.issues.is_empty();
    Ok(v)
}

fn file_check(s: &Session, spec: &File) -> Result<(FileCheck, Option<String>)> {
    let path = spec.path.to_string();
    let observed = observe(&s.root, &spec.path, s.layout.max_file_size)?;
    let mut check = FileCheck {
        path: path.clone(),
        state: "not_a_file",
        mode: None,
        open_positions: None,
        closed_positions: None,
    };
    let (mode, bytes) = match (observed.node(), &observed.bytes) {
        (Some(Node::Absent), _) => {
            check.state = "missing";
            return Ok((check, None));
        }
        (Some(Node::File { mode, .. }), Some(bytes)) => (mode.0, bytes),
        _ => {
            let why = observed
                .untouchable
                .unwrap_or_else(|| "is not a regular file".into());
            return Ok((check, Some(format!("{path} {why}"))));
        }
    };
    check.mode = Some(format!("{mode:04o}"));
    let shape = inspect_file(spec, bytes, &s.layout.config.positions.identity);
    let mut issue = shape_issue(spec, &shape, &mut check);
    if mode & 0o022 != 0 && issue.is_none() {
        issue = Some(format!("{path} is group- or world-writable ({mode:04o})"));
    }
    Ok((check, issue))
}

fn shape_issue(spec: &File, shape: &Shape, check: &mut FileCheck) -> Option<String> {
    let path = &check.path;
    let (state, issue) = match shape {
        Shape::Empty(kind) => ("empty", format!("{path} is empty ({kind})")),
        Shape::Corrupt(why) => ("corrupt", format!("{path} is not valid JSON ({why})")),
        Shape::Unusable(why) => ("unusable", format!("{path} cannot be used: {why}")),
        Shape::Object(doc) => {
            check.open_positions = doc.records("open_positions").map(<[_]>::len);
            check.closed_positions = doc.records("closed_positions").map(<[_]>::len);
            let missing: Vec<&str> = spec
                .required
                .iter()
                .filter(|(k, _)| !doc.keys.contains(k))
                .map(|(k, _)| k.as_str())
                .collect();
            if missing.is_empty() {
                check.state = "ok";
                return None;
            }
            (
                "missing_keys",
                format!("{path} lacks {}", missing.join(", ")),
            )
        }
    };
    check.state = state;
    Some(crate::text::clean(&issue))
}

/// The result of [`validate_systemd_slot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotValidation {
    /// The root is not a slot, or it is a valid one.
    pub valid: bool,
    /// The slot layout, when the root is a deployment slot.
    pub slot: Option<SlotLayout>,
    /// What the `...-current` link names, when there is one.
    pub link: Option<LinkState>,
    /// Whether the `...-current` link names this root.
    pub active: bool,
    /// Every issue (each one is SLOT_INVALID for `heal`).
    pub issues: Vec<String>,
}

/// Checks the root's deployment slot (see `detect::slots` for the inference): the
/// `...-current` link resolves to a known slot, the root is a known slot, and the slot holds
/// its positions file.
///
/// # Errors
/// A missing root, an invalid config, I/O errors while looking.
pub fn validate_systemd_slot(opts: &Options) -> Result<SlotValidation> {
    let s = Session::open(opts, false)?;
    let Some(layout) = slots::locate(s.root.path(), &s.layout.config.slots) else {
        return Ok(SlotValidation {
            valid: true,
            slot: None,
            link: None,
            active: false,
            issues: Vec::new(),
        });
    };
    let link = slots::resolve(&layout);
    let mut issues: Vec<String> = slots::problems(&layout, link.as_ref())
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    if let Some(spec) = s.layout.file(crate::config::FileRole::Positions) {
        if !matches!(s.root.entry(&spec.path)?, Entry::Present(st) if st.kind == Kind::File) {
            issues.push(format!(
                "the slot lacks its state: {} is missing",
                spec.path
            ));
        }
    }
    let active = matches!(&link, Some(LinkState::Active(t)) if *t == layout.root);
    Ok(SlotValidation {
        valid: issues.is_empty(),
        slot: Some(layout),
        link,
        active,
        issues,
    })
}
