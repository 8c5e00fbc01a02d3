//! Cold-start heals: missing directories, missing managed files (created with their default
//! document), empty files (0 bytes, whitespace, `{}`, `null`: replaced by the default) and
//! missing required keys (inserted as text; every other byte is kept). A managed path that
//! is a symlink, a FIFO or too large is a failed heal, never a target. Damaged JSON is
//! reported here and salvaged by `checks::corrupt`.

use super::{Ctx, FileView, Planned};
use crate::config::{File, FileRole};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Entry, Kind};
use crate::jsondoc::{self, Extract, Known, Scanned, Shape, Spec};
use crate::paths::RelPath;
use crate::plan::{observe, Effect, HealKind, Observed, Op};
use std::sync::Arc;

/// Plans the creation of every missing configured directory, parents first.
///
/// # Errors
/// I/O errors while looking.
pub fn plan_dirs(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let mut dirs = ctx.layout.directories.clone();
    dirs.sort_by_key(|(d, _)| d.components().count());
    let mut planned: Vec<RelPath> = Vec::new();
    for (dir, mode) in dirs {
        match ctx.root.entry(&dir)? {
            Entry::Present(st) if st.kind == Kind::Dir => {}
            Entry::Present(st)
                if st.kind == Kind::Symlink
                    && ctx.layout.trusted.iter().any(|(l, _)| *l == dir) => {}
            Entry::Present(st) => {
                let what = if st.kind == Kind::Symlink {
                    "is a symlink (not followed)"
                } else {
                    "exists but is not a directory"
                };
                p.fail(HealKind::MissingDirectory, Some(dir.as_str()), what);
            }
            Entry::Unreachable => {
                p.fail(
                    HealKind::MissingDirectory,
                    Some(dir.as_str()),
                    "lies behind a symlink or a non-directory (not followed)",
                );
            }
            Entry::Absent => {
                let parent_ok = dir.parent().is_none_or(|par| planned.contains(&par) || matches!(ctx.root.entry(&par), Ok(Entry::Present(s)) if s.kind == Kind::Dir));
                if !parent_ok {
                    p.fail(
                        HealKind::MissingDirectory,
                        Some(dir.as_str()),
                        "its parent cannot be created",
                    );
                    continue;
                }
                p.push(Op {
                    heal: HealKind::MissingDirectory,
                    message: format!("Created directory: {dir}"),
                    reason: "directory is missing".into(),
                    path: Some(dir.clone()),
                    action: Effect::CreateDir { mode },
                    before: absent(),
                });
                planned.push(dir);
            }
        }
    }
    Ok(())
}

fn absent() -> Observed {
    Observed::absent()
}

/// The fields the detectors read from each position record.
pub fn position_extract(identity: &[String]) -> Extract {
    let mut fields: Vec<String> = [
        "symbol",
        "direction",
        "strategy",
        "entry_price",
        "size",
        "leverage",
        "margin_collateral",
        "status",
        "order_status",
        "order_size",
        "filled_size",
        "order",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for f in identity {
        if !fields.contains(f) {
            fields.push(f.clone());
        }
    }
    let sub_fields = fields
        .iter()
        .map(|f| match f.as_str() {
            "order" => ["size", "filled_size", "amount", "status"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    Extract {
        fields,
        sub_fields,
        // symbol, direction, strategy, entry_price, size, leverage: what
        // `detect::fields::defects` checks in every record, open or closed.
        common: 6,
    }
}

/// Classifies a managed file's bytes the way the checks and detectors need them.
pub fn inspect_file(spec: &File, bytes: &[u8], identity: &[String]) -> Shape {
    with_spec(spec, identity, |s| jsondoc::inspect(bytes, s))
}

/// [`inspect_file`], and for broken bytes the records scanned before the break (for
/// [`inspect_file_assembled`]).
pub fn inspect_file_keeping(
    spec: &File,
    bytes: &[u8],
    identity: &[String],
) -> (Shape, Option<Scanned>) {
    with_spec(spec, identity, |s| jsondoc::inspect_keeping(bytes, s))
}

/// [`inspect_file`] of the document a salvage assembles from `parts` of `source` (the
/// damaged bytes, whose records `known` holds as their scan found them): `None` when only
/// the document itself can tell.
pub fn inspect_file_assembled(
    spec: &File,
    source: &[u8],
    parts: &[jsondoc::Part<'_>],
    identity: &[String],
    known: Known<'_>,
) -> Option<Shape> {
    with_spec(spec, identity, |s| {
        jsondoc::inspect_assembled(source, parts, s, known)
    })
}

/// Calls `f` with the scan specification of a managed file.
fn with_spec<T>(spec: &File, identity: &[String], f: impl FnOnce(&Spec<'_>) -> T) -> T {
    let extract = position_extract(identity);
    let open = vec!["open_positions".to_string()];
    let positions = spec.role == FileRole::Positions;
    let s = Spec {
        record_arrays: &spec.record_arrays,
        extract: positions.then_some(&extract),
        hash_records: if positions { &open } else { &[] },
        full_records: &open,
    };
    f(&s)
}

/// Plans the heals of every managed file.
///
/// # Errors
/// I/O errors while reading.
pub fn plan_files(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    for spec in &ctx.layout.files {
        plan_managed(ctx, p, spec)?;
    }
    Ok(())
}

/// Reads one managed file, plans its heals and adds its view to `p.files`.
///
/// # Errors
/// I/O errors while reading.
pub fn plan_managed(ctx: &Ctx<'_>, p: &mut Planned, spec: &File) -> Result<()> {
    let observed = observe(ctx.root, &spec.path, ctx.layout.max_file_size)?;
    let mut view = FileView {
        spec: spec.clone(),
        observed,
        shape: None,
        op: None,
        written: None,
    };
    plan_file(ctx, p, &mut view);
    p.files.push(view);
    Ok(())
}

fn plan_file(ctx: &Ctx<'_>, p: &mut Planned, view: &mut FileView) {
    let spec = view.spec.clone();
    let path = spec.path.as_str();
    if let Some(why) = &view.observed.untouchable {
        p.fail(
            HealKind::ManagedFile,
            Some(path),
            format!("cannot be checked: it {why}"),
        );
        return;
    }
    let bytes = view.observed.bytes.clone();
    let kind = view.observed.stat.map(|s| s.kind);
    match (view.observed.is_absent(), kind, &bytes) {
        // A positions file the journal knew is not re-created empty in real mode: the
        // detectors report it (`detect::gone`).
        (true, _, _) if must_not_recreate(ctx, &spec) => {}
        (true, _, _) => {
            view.op = Some(p.push(Op {
                heal: HealKind::MissingFile,
                message: format!("Initialized {}: {path}", spec.role.noun()),
                reason: "file is missing".into(),
                path: Some(spec.path.clone()),
                action: new_file(&spec),
                before: view.observed.clone(),
            }));
        }
        (_, Some(Kind::Dir), _) => {
            p.fail(
                HealKind::ManagedFile,
                Some(path),
                "is a directory, not a file",
            );
        }
        (_, Some(Kind::File), Some(bytes)) => {
            let mode = view.observed.stat.map_or(spec.mode, |s| s.mode);
            let identity = &ctx.layout.config.positions.identity;
            super::corrupt::prepare(&view.observed);
            let (shape, scanned) = inspect_file_keeping(&spec, bytes, identity);
            plan_existing(ctx, p, view, (bytes, scanned), mode, &shape);
            view.shape = Some(Arc::new(shape));
        }
        _ => p.fail(HealKind::ManagedFile, Some(path), "could not be read"),
    }
}

fn new_file(spec: &File) -> Effect {
    Effect::WriteFile {
        bytes: crate::content::Content::new(spec.default_bytes.clone()),
        mode: spec.mode,
        owner: None,
        mtime: None,
    }
}

fn plan_existing(
    ctx: &Ctx<'_>,
    p: &mut Planned,
    view: &mut FileView,
    (bytes, scanned): (&[u8], Option<Scanned>),
    mode: u32,
    shape: &Shape,
) {
    let spec = &view.spec.clone();
    let path = spec.path.as_str();
    match shape {
        Shape::Empty(kind) => {
            let Effect::WriteFile { bytes: new, .. } = new_file(spec) else {
                return;
            };
            view.op = Some(p.push(Op {
                heal: HealKind::EmptyFile,
                message: format!("Repaired empty {}: {path} (was {kind})", spec.role.noun()),
                reason: format!("file is empty ({kind})"),
                path: Some(spec.path.clone()),
                action: Effect::WriteFile {
                    bytes: new,
                    mode,
                    owner: None,
                    mtime: None,
                },
                before: view.observed.clone(),
            }));
        }
        Shape::Object(doc) => {
            let missing: Vec<(String, String)> = spec
                .required
                .iter()
                .filter(|(k, _)| !doc.keys.contains(k))
                .cloned()
                .collect();
            if missing.is_empty() {
                return;
            }
            let names: Vec<&str> = missing.iter().map(|(k, _)| k.as_str()).collect();
            let Some(new) = jsondoc::insert_keys(bytes, &missing) else {
                p.fail(
                    HealKind::MissingKeys,
                    Some(path),
                    "the keys could not be inserted",
                );
                return;
            };
            view.op = Some(p.push(Op {
                heal: HealKind::MissingKeys,
                message: format!(
                    "Added missing keys ({}) to {}: {path}",
                    names.join(", "),
                    spec.role.noun()
                ),
                reason: format!("required keys missing: {}", names.join(", ")),
                path: Some(spec.path.clone()),
                action: Effect::WriteFile {
                    bytes: crate::content::Content::new(new),
                    mode,
                    owner: None,
                    mtime: None,
                },
                before: view.observed.clone(),
            }));
        }
        Shape::Unusable(why) => {
            p.findings.push(
                Finding::new(
                    code::DATA_INTEGRITY,
                    Level::Critical,
                    Some(path),
                    format!("{path} is valid JSON but cannot be used: {why}"),
                    format!("unusable: {why}"),
                )
                .with_details(serde_json::json!({"file": path, "problem": why})),
            );
        }
        Shape::Corrupt(why) => super::corrupt::plan(ctx, p, view, (bytes, scanned), mode, why),
    }
}

/// Whether planning must not re-create `spec` empty: a positions file the journal knew, in
/// real mode, without `--accept-loss`.
pub fn must_not_recreate(ctx: &Ctx<'_>, spec: &File) -> bool {
    spec.role == FileRole::Positions
        && ctx.mode.mode == crate::mode::Mode::Real
        && !ctx.accept_loss
        && crate::journal::known::journal_knew(ctx.journal, spec.path.as_str()).is_some()
}
