//! Corrupted managed JSON files: the bytes are salvaged (`salvage`), keeping every intact
//! record verbatim. A salvage that loses nothing of content (a BOM, trailing commas, padding
//! after a complete document) is applied in any mode. A lossy or ambiguous salvage is
//! applied only in paper mode (with a HIGH warning, and a critical for real mode until an
//! operator acknowledges it with `selfheal ack`) or with `heal --accept-loss`; in real mode
//! otherwise the file is left exactly as it is and the DATA_INTEGRITY critical blocks the
//! engine. The original bytes always go to the backup store first (the engine's job).

use super::{Ctx, FileView, Planned};
use crate::config::{File, FileRole};
use crate::findings::{code, Finding, Level};
use crate::mode::Mode;
use crate::plan::{Action, Op};
use crate::salvage::{salvage, Outcome, SalvageReport, Salvaged, Shape};
use serde_json::json;
use std::sync::Arc;

/// A salvage planned by this run, kept for the commit summary and the report.
#[derive(Debug, Clone)]
pub struct Note {
    /// The operation that applies it.
    pub op: usize,
    /// The file.
    pub path: String,
    /// What the salvage kept and lost.
    pub report: SalvageReport,
    /// Applied on the operator's `--accept-loss`.
    pub accepted: bool,
}

impl Note {
    /// The commit summary entry (`salvage[]`, SPEC.md section 10).
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "path": self.path,
            "outcome": self.report.outcome,
            "records_kept": self.report.records_kept,
            "records_lost": self.report.records_lost,
            "bytes_lost": self.report.bytes_lost,
            "ambiguous": self.report.outcome == Outcome::Ambiguous,
            "versions": self.report.versions.len(),
            "accepted": self.accepted,
        })
    }
}

/// The salvage shape of a managed file.
pub fn shape_of(spec: &File) -> Shape {
    Shape {
        record_arrays: spec.record_arrays.clone(),
        required: spec.required.clone(),
    }
}

fn noun(role: FileRole) -> &'static str {
    match role {
        FileRole::Positions => "positions file",
        FileRole::Portfolio => "portfolio file",
        FileRole::Json => "file",
    }
}

/// Plans the salvage of a corrupted managed file (`why` is the parser's complaint).
pub fn plan(
    ctx: &Ctx<'_>,
    p: &mut Planned,
    view: &mut FileView,
    bytes: &[u8],
    mode: u32,
    why: &str,
) {
    let spec = view.spec.clone();
    let path = spec.path.as_str();
    let Salvaged {
        document, report, ..
    } = salvage(bytes, &shape_of(&spec));
    let r = &report;
    let lossy = matches!(r.outcome, Outcome::Lossy | Outcome::Ambiguous);
    let details = json!({"file": path, "problem": why, "salvage": r});
    if matches!(r.outcome, Outcome::Intact) {
        p.findings
            .push(corrupt(path, why, details, "not valid JSON".into()));
        return;
    }
    if lossy && ctx.mode.mode == Mode::Real && !ctx.accept_loss {
        let msg = format!(
            "{path} is damaged ({why}): {}; not applied in real mode — inspect with `selfheal salvage {path}`, apply with `selfheal heal --accept-loss` or restore a backup",
            r.summary()
        );
        p.findings
            .push(corrupt(path, &msg, details, evidence(bytes.len(), r)));
        return;
    }
    let op = p.push(Op {
        heal: "corrupted_json",
        message: format!(
            "Repaired corrupted {}: {path} ({})",
            noun(spec.role),
            r.summary()
        ),
        reason: format!("not valid JSON ({why}); {}", r.summary()),
        path: Some(spec.path.clone()),
        action: Action::WriteFile {
            bytes: Arc::new(document),
            mode,
            owner: None,
            mtime: None,
        },
        before: view.observed.clone(),
    });
    view.op = Some(op);
    if lossy {
        let how = if ctx.accept_loss {
            "accepted by the operator (--accept-loss)"
        } else {
            "applied in paper mode"
        };
        p.findings.push(
            Finding::new(
                code::DATA_INTEGRITY,
                Level::High,
                Some(path),
                format!(
                    "lossy salvage of {path} {how}: {}; the original bytes are in the backup store",
                    r.summary()
                ),
                evidence(bytes.len(), r),
            )
            .with_details(details),
        );
    }
    p.salvages.push(Note {
        op,
        path: path.to_string(),
        report,
        accepted: ctx.accept_loss,
    });
}

fn corrupt(path: &str, msg: &str, details: serde_json::Value, evidence: String) -> Finding {
    let message = if msg.starts_with(path) {
        msg.to_string()
    } else {
        format!("{path} is not valid JSON ({msg})")
    };
    Finding::new(
        code::DATA_INTEGRITY,
        Level::Critical,
        Some(path),
        message,
        evidence,
    )
    .with_details(details)
}

/// A stable description of a damaged file for alert deduplication.
fn evidence(len: usize, r: &SalvageReport) -> String {
    format!(
        "damaged: {len} bytes, {} kept, {} lost",
        r.records_kept, r.records_lost
    )
}
