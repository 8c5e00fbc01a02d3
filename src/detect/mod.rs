//! The detectors of dangerous state: they read the state as it is after healing (the
//! [`PostState`] built from what planning read, never the disk again) and return findings;
//! they never change anything, because a dangerous issue is for the operator. Each critical
//! code of CONTRACT.md that is about the state files has its detector here (STATE_MISMATCH,
//! PARTIAL_FILL, POSITION_CONFLICT, DATA_INTEGRITY, SLOT_INVALID) plus the SLOT_DIVERGENCE
//! warning; JOURNAL_INTEGRITY and DUPLICATE_INSTANCE come from recovery and the process
//! checks. [`for_mode`] applies the reference bot's levels by mode.

mod fields;
pub mod gone;
mod portfolio;
mod positions;
mod post;
pub mod salvaged;
pub mod slots;

pub use post::{PostFile, PostState, Presence};

use crate::checks::Ctx;
use crate::config::FileRole;
use crate::findings::{code, Finding, Level};
use crate::mode::Mode;

/// What detection found, and what the commit summary records for the next run.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    /// Findings, in detector order.
    pub findings: Vec<Finding>,
    /// Positions files known to exist (see [`gone`]).
    pub known_files: Vec<String>,
}

/// Runs every detector on `post`.
pub fn run(ctx: &Ctx<'_>, post: &PostState<'_>) -> Detection {
    let cfg = &ctx.layout.config;
    let identity = &cfg.positions.identity;
    let mut findings: Vec<Finding> = post
        .files
        .iter()
        .filter_map(|f| gone::detect(f, ctx.journal))
        .collect();
    let positions = post.role(FileRole::Positions);
    if let Some((file, doc)) = positions.and_then(|f| f.document().map(|d| (f, d))) {
        findings.extend(positions::detect(file.spec.path.as_str(), doc, identity));
    }
    findings.extend(state_mismatch(
        post,
        identity,
        cfg.positions.margin_tolerance,
    ));
    findings.extend(slots::detect(ctx.root.path(), &cfg.slots, positions));
    findings.extend(salvaged::detect(ctx.journal, ctx.mode.mode));
    for_mode(&mut findings, ctx.mode.mode);
    Detection {
        known_files: gone::known_files(&post.files, ctx.journal),
        findings,
    }
}

fn state_mismatch(post: &PostState<'_>, identity: &[String], tolerance: f64) -> Vec<Finding> {
    let side = |role| {
        let f = post.role(role)?;
        Some((f.spec.path.as_str(), f.document()?))
    };
    match (side(FileRole::Positions), side(FileRole::Portfolio)) {
        (Some(positions), Some(portfolio)) => portfolio::detect(
            &portfolio::Pair {
                positions,
                portfolio,
            },
            identity,
            tolerance,
        ),
        _ => Vec::new(),
    }
}

/// The reference bot's levels by mode: in paper mode SLOT_INVALID is HIGH (it does not block
/// a paper engine); every other level stays.
pub fn for_mode(findings: &mut [Finding], mode: Mode) {
    if mode != Mode::Paper {
        return;
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.code == code::SLOT_INVALID && f.level == Level::Critical)
    {
        f.level = Level::High;
    }
}
