//! SLOT_DIVERGENCE: the root is a deployment slot whose positions file is missing or empty
//! (no open and no closed position, including one this run created or reset) while another
//! slot of the deployment holds open positions. State is never copied between slots, so a
//! switch to a fresh slot starts the bot with no knowledge of positions still open on the
//! exchange. A CRITICAL finding (paper mode makes it HIGH, see `for_mode`) until an operator
//! acknowledges it with `selfheal ack <id>` ([`crate::journal::acks`]); its evidence names the other
//! slot and the SHA-256 of its positions file, so any change there brings it back.
//!
//! Reading another slot is read-only and bounded: only that slot's positions file (the same
//! relative path), opened under the slot's directory without following any symlink, at most
//! `limits.max_file_size` bytes. A file there that cannot be read or parsed counts as one
//! that may hold open positions.

use super::post::{PostFile, Presence};
use super::slots::{shown, SlotLayout};
use crate::checks::layout::inspect_file;
use crate::checks::Ctx;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Read_, Root};
use crate::journal::acks::{self, Recorded};
use crate::jsondoc::Shape;
use serde_json::json;
use std::path::Path;

/// What another slot's positions file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Other {
    /// No positions file there (a slot never deployed): nothing to lose.
    Absent,
    /// It holds this many open positions; the file's SHA-256.
    Open(usize, String),
    /// It cannot be read or parsed: it may hold open positions.
    Unknown(String),
}

/// The SLOT_DIVERGENCE findings for the slot `layout` (already acknowledged ones dropped).
pub fn detect(ctx: &Ctx<'_>, layout: &SlotLayout, pos: Option<&PostFile<'_>>) -> Vec<Finding> {
    let Some(pos) = pos.filter(|p| empty(p)) else {
        return Vec::new();
    };
    let identity = &ctx.layout.config.positions.identity;
    layout
        .known
        .iter()
        .filter(|k| **k != layout.root && k.is_dir())
        .filter_map(|k| {
            let other = read_other(k, pos, identity, ctx.layout.max_file_size);
            finding(layout, pos, k, &other)
        })
        .filter(
            |f| match acks::acknowledged_by(ctx.journal, &Recorded::of(f)) {
                Some(by) => {
                    tracing::info!("{} acknowledged by transaction {by}", f.line());
                    false
                }
                None => true,
            },
        )
        .map(|f| with_hint(ctx, f))
        .collect()
}

/// The positions file is missing, or holds no position at all.
fn empty(pos: &PostFile<'_>) -> bool {
    if pos.was_absent || pos.presence == Presence::Absent {
        return true;
    }
    pos.document().is_some_and(|d| {
        let n = |k| d.records(k).map_or(0, <[_]>::len);
        n("open_positions") == 0 && n("closed_positions") == 0
    })
}

fn read_other(slot: &Path, pos: &PostFile<'_>, identity: &[String], cap: u64) -> Other {
    let root = match Root::open(slot) {
        Ok(r) => r,
        Err(e) => return Other::Unknown(format!("the slot cannot be opened ({e})")),
    };
    let rel = &pos.spec.path;
    match root.read(rel, cap) {
        Ok(Read_::Absent) => Other::Absent,
        Ok(Read_::File(bytes, _)) => match inspect_file(pos.spec, &bytes, identity) {
            Shape::Object(doc) => Other::Open(
                doc.records("open_positions").map_or(0, <[_]>::len),
                crate::store::sha256(&bytes).to_hex(),
            ),
            _ => Other::Unknown(format!("{rel} there is not a usable positions file")),
        },
        Ok(Read_::TooLarge(size)) => Other::Unknown(format!(
            "{rel} there is {size} bytes, over limits.max_file_size"
        )),
        Ok(_) => Other::Unknown(format!("{rel} there is not a regular file (not followed)")),
        Err(e) => Other::Unknown(format!("{rel} there cannot be read ({e})")),
    }
}

fn finding(layout: &SlotLayout, pos: &PostFile<'_>, other: &Path, o: &Other) -> Option<Finding> {
    let path = pos.spec.path.as_str();
    let (root, sibling) = (shown(&layout.root), shown(other));
    let (what, evidence) = match o {
        Other::Absent | Other::Open(0, _) => return None,
        Other::Open(n, sha) => (
            format!("holds {n} open position(s)"),
            format!("empty {root} beside {sibling} holding {n} open, sha256 {sha}"),
        ),
        Other::Unknown(why) => (
            format!("may hold open positions: {why}"),
            format!("empty {root} beside {sibling}: {why}"),
        ),
    };
    let message = format!(
        "the deployment slot {root} starts with no positions ({path} is missing or empty) while the slot {sibling} {what}: state is not copied between slots, so those positions would be unknown to the bot; copy the state over, or acknowledge"
    );
    Some(
        Finding::new(
            code::SLOT_DIVERGENCE,
            Level::Critical,
            Some(path),
            crate::text::clean(&message),
            crate::text::clean(&evidence),
        )
        .with_details(json!({
            "file": path,
            "slot": root,
            "other_slot": sibling,
            "other_open_positions": match o { Other::Open(n, _) => json!(n), _ => json!(null) },
        })),
    )
}

/// Adds how to acknowledge: the transaction recording it, when there is one.
fn with_hint(ctx: &Ctx<'_>, mut f: Finding) -> Finding {
    let hint = match ctx.txn {
        Some(t) => format!(" with `{}`", ctx.hints.command(&["ack", &t.to_string()])),
        None => format!(
            " once `{}` has recorded it (that run prints the command)",
            ctx.hints.command(&["heal", "--mode", "real"])
        ),
    };
    f.message.push_str(&hint);
    f
}
