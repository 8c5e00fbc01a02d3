//! The detectors of dangerous state: they read the state as it is after healing (the
//! [`PostState`] built from what planning read, never the disk again; only SLOT_DIVERGENCE
//! reads one file of another deployment slot) and return findings; they never change
//! anything, because a dangerous issue is for the operator. Each critical code about the
//! state files has its detector here (STATE_MISMATCH, PARTIAL_FILL, POSITION_CONFLICT,
//! DATA_INTEGRITY, SLOT_INVALID, SLOT_DIVERGENCE) plus the SLOT_INACTIVE_NEWER warning;
//! JOURNAL_INTEGRITY and DUPLICATE_INSTANCE come from recovery and the process checks. The
//! configured `detectors` levels apply first ([`configured`]), then [`for_mode`] the
//! reference bot's levels by mode.

mod divergence;
mod fields;
pub mod gone;
mod portfolio;
mod positions;
mod post;
pub mod salvaged;
pub mod slots;

pub use post::PostState;

use crate::checks::Ctx;
use crate::config::{Detectors, FileRole, Severity};
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
    let content = content(&ctx.layout.config, post);
    run_with(ctx, post, content)
}

/// The findings that depend on nothing but the managed files' contents and the
/// configuration (the position detectors and STATE_MISMATCH), before the configured
/// levels: the same files give the same findings, so `watch` computes them again only
/// when one of the files changed.
pub fn content(cfg: &crate::config::Config, post: &PostState<'_>) -> Vec<Finding> {
    let identity = &cfg.positions.identity;
    let mut findings = Vec::new();
    let positions = post.role(FileRole::Positions);
    if let Some((file, doc)) = positions.and_then(|f| f.document().map(|d| (f, d))) {
        findings.extend(positions::detect(file.spec.path.as_str(), doc, identity));
    }
    findings.extend(state_mismatch(post, &cfg.positions));
    findings
}

/// Runs every detector on `post`, with `content` the findings of [`content`] for it.
pub fn run_with(ctx: &Ctx<'_>, post: &PostState<'_>, content: Vec<Finding>) -> Detection {
    let cfg = &ctx.layout.config;
    let mut findings: Vec<Finding> = post
        .files
        .iter()
        .filter_map(|f| gone::detect(f, ctx.journal, ctx.hints))
        .collect();
    findings.extend(content);
    let positions = post.role(FileRole::Positions);
    if let Some(layout) = slots::locate(ctx.root.path(), &cfg.slots) {
        findings.extend(slots::detect(&layout, positions));
        findings.extend(divergence::detect(ctx, &layout, positions));
    }
    findings.extend(salvaged::detect(ctx.journal, ctx.mode.mode, ctx.hints));
    configured(&mut findings, &cfg.detectors);
    for_mode(&mut findings, ctx.mode.mode);
    Detection {
        known_files: gone::known_files(&post.files, ctx.journal),
        findings,
    }
}

fn state_mismatch(post: &PostState<'_>, cfg: &crate::config::Positions) -> Vec<Finding> {
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
            &portfolio::Rules {
                identity: &cfg.identity,
                tolerance: cfg.margin_tolerance,
                compare_count: cfg.compare_open_positions_count,
            },
        ),
        _ => Vec::new(),
    }
}

/// Applies the `detectors` section: a configurable code is reported at its configured
/// level, or not at all (`off`).
pub fn configured(findings: &mut Vec<Finding>, detectors: &Detectors) {
    findings.retain_mut(|f| match detectors.severity(&f.code) {
        None => true,
        Some(Severity::Off) => false,
        Some(Severity::High) => {
            f.level = Level::High;
            true
        }
        Some(Severity::Critical) => {
            f.level = Level::Critical;
            true
        }
    });
}

/// The levels by mode: in paper mode SLOT_INVALID and SLOT_DIVERGENCE are HIGH (they do
/// not block a paper engine, and the operator still sees them); every other level stays.
pub fn for_mode(findings: &mut [Finding], mode: Mode) {
    if mode != Mode::Paper {
        return;
    }
    let by_slot =
        |f: &&mut Finding| f.code == code::SLOT_INVALID || f.code == code::SLOT_DIVERGENCE;
    for f in findings
        .iter_mut()
        .filter(by_slot)
        .filter(|f| f.level == Level::Critical)
    {
        f.level = Level::High;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Code;

    fn f(code: Code, level: Level) -> Finding {
        Finding::new(code, level, None, "m", "e")
    }

    #[test]
    fn configured_levels_then_mode() {
        let d = Detectors {
            state_mismatch: Severity::High,
            partial_fill: Severity::Off,
            slot_inactive_newer: Severity::Critical,
            ..Detectors::default()
        };
        let mut all = vec![
            f(code::STATE_MISMATCH, Level::Critical),
            f(code::PARTIAL_FILL, Level::Critical),
            f(code::SLOT_INACTIVE_NEWER, Level::High),
            f(code::SLOT_DIVERGENCE, Level::Critical),
            f(code::DATA_INTEGRITY, Level::Critical),
            f(code::POSITION_CONFLICT, Level::Critical),
        ];
        configured(&mut all, &d);
        let levels = |all: &[Finding]| -> Vec<(String, Level)> {
            all.iter().map(|f| (f.code.to_string(), f.level)).collect()
        };
        let want = vec![
            (code::STATE_MISMATCH.to_string(), Level::High),
            (code::SLOT_INACTIVE_NEWER.to_string(), Level::Critical),
            (code::SLOT_DIVERGENCE.to_string(), Level::Critical),
            (code::DATA_INTEGRITY.to_string(), Level::Critical),
            (code::POSITION_CONFLICT.to_string(), Level::Critical),
        ];
        assert_eq!(levels(&all), want);
        for_mode(&mut all, Mode::Paper);
        assert_eq!(
            all[2].level,
            Level::High,
            "SLOT_DIVERGENCE does not block paper"
        );
        assert_eq!(all[3].level, Level::Critical);
    }
}
