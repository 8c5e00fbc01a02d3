//! Corrupted managed JSON files: the bytes are salvaged (`salvage`), keeping every intact
//! record verbatim. A salvage that loses nothing of content (a BOM, trailing commas, padding
//! after a complete document) is applied in any mode. A lossy or ambiguous salvage is
//! applied only in paper mode (with a HIGH warning, and a critical for real mode until an
//! operator acknowledges it with `selfheal ack`) or with `heal --accept-loss`; in real mode
//! otherwise the file is left exactly as it is and the DATA_INTEGRITY critical blocks the
//! engine. The original bytes always go to the backup store first (the engine's job).

use super::{Ctx, FileView, Planned};
use crate::checks::layout::{inspect_file, inspect_file_reusing};
use crate::config::{File, FileRole};
use crate::findings::{code, Finding, Level};
use crate::jsondoc::{Known, Record, Scanned, Spanned};
use crate::mode::Mode;
use crate::plan::{Action, Op};
use crate::salvage::{salvage_validated, KeptRecord, Outcome, SalvageReport, Salvaged, Shape};
use serde_json::json;
use std::collections::VecDeque;
use std::ops::Range;
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
    pub fn summary(&self) -> journal_format::SalvageEntry {
        let mut other = serde_json::Map::new();
        for (k, v) in [
            ("outcome", json!(self.report.outcome)),
            ("records_kept", json!(self.report.records_kept)),
            ("bytes_lost", json!(self.report.bytes_lost)),
            ("versions", json!(self.report.versions.len())),
        ] {
            other.insert(k.into(), v);
        }
        journal_format::SalvageEntry {
            path: self.path.to_string(),
            records_lost: self.report.records_lost,
            records_lost_is_lower_bound: self.report.records_lost_is_lower_bound,
            ambiguous: self.report.outcome == Outcome::Ambiguous,
            accepted: self.accepted,
            other,
        }
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
        FileRole::Trades => "trades file",
        FileRole::Json => "file",
    }
}

/// Plans the salvage of a corrupted managed file (`why` is the parser's complaint).
/// `scanned`: the records the classification of `bytes` scanned before their break.
pub fn plan(
    ctx: &Ctx<'_>,
    p: &mut Planned,
    view: &mut FileView,
    (bytes, scanned): (&[u8], Option<Scanned>),
    mode: u32,
    why: &str,
) {
    let spec = view.spec.clone();
    let path = spec.path.as_str();
    // Records the classification completed before the break need no second validation.
    let valid: Vec<Range<usize>> = scanned
        .iter()
        .flat_map(|s| s.arrays.iter())
        .flat_map(|(_, recs)| recs.iter().map(|(r, _)| r.clone()))
        .collect();
    let Salvaged {
        document,
        report,
        records,
    } = salvage_validated(bytes, &shape_of(&spec), &sorted(valid));
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
            "{path} is damaged ({why}): {}; not applied in real mode — inspect with `{}`, apply with `{}` or restore a backup",
            r.summary(),
            ctx.hints.command(&["salvage", &ctx.hints.abs(path)]),
            ctx.hints.command(&["heal", "--mode", "real", "--accept-loss"])
        );
        p.findings
            .push(corrupt(path, &msg, details, evidence(bytes.len(), r)));
        return;
    }
    let document = Arc::new(document);
    let known = known(bytes, &spec.record_arrays, &records, scanned);
    let identity = &ctx.layout.config.positions.identity;
    let mut written = inspect_file_reusing(&spec, &document, identity, known);
    // A salvage that kept no key is `{}`, which the next run would take for an empty file
    // and replace with the default: the default is written now, so one heal settles it.
    let document = if matches!(written, crate::jsondoc::Shape::Empty(_)) {
        written = inspect_file(&spec, &spec.default_bytes, identity);
        Arc::new(spec.default_bytes.clone())
    } else {
        document
    };
    view.written = Some((Arc::clone(&document), written));
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
            bytes: document,
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

/// The records of a salvage's output that the scan of the damaged `input` already went
/// through: each kept record, per array in output order, with its text's range in `input`
/// and, when the scan completed that very text in the same array, its scanned fields.
fn known<'a>(
    input: &'a [u8],
    arrays: &[String],
    kept: &[KeptRecord],
    scanned: Option<Scanned>,
) -> Known<'a> {
    let mut scanned: Vec<(String, Vec<Spanned<Option<Record>>>)> = scanned
        .unwrap_or_default()
        .arrays
        .into_iter()
        .map(|(key, recs)| {
            (
                key,
                recs.into_iter().map(|(r, rec)| (r, Some(rec))).collect(),
            )
        })
        .collect();
    let mut out: Vec<(String, VecDeque<_>)> = arrays
        .iter()
        .map(|a| (a.clone(), VecDeque::new()))
        .collect();
    for k in kept {
        let Some((name, queue)) = out.get_mut(k.array) else {
            continue;
        };
        let record = scanned
            .iter_mut()
            .filter(|(key, _)| key == name)
            .find_map(|(_, recs)| take_record(recs, &k.span));
        queue.push_back((k.span.clone(), record));
    }
    Known {
        source: input,
        arrays: out,
    }
}

fn sorted(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_unstable_by_key(|r| r.start);
    ranges
}

/// Takes the scanned record whose text is exactly `span` (once: it is moved out).
fn take_record(recs: &mut [(Range<usize>, Option<Record>)], span: &Range<usize>) -> Option<Record> {
    let at = recs
        .binary_search_by_key(&span.start, |(r, _)| r.start)
        .ok()?;
    match recs.get_mut(at)? {
        (r, rec) if r == span => rec.take(),
        _ => None,
    }
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
    let at_least = if r.records_lost_is_lower_bound {
        "at least "
    } else {
        ""
    };
    format!(
        "damaged: {len} bytes, {} kept, {at_least}{} lost",
        r.records_kept, r.records_lost
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::layout::inspect_file_keeping;
    use crate::config::{Config, Layout};

    fn record(i: usize, open: bool) -> String {
        let exit = if open {
            String::new()
        } else {
            format!(r#", "exit_price": {i}.25"#)
        };
        format!(
            r#"{{"symbol": "S{}-USDT", "direction": "LONG", "strategy": "grid", "entry_price": {i}.5, "size": 1.{i}, "leverage": 3, "order_id": "o{i}"{exit}}}"#,
            i % 7
        )
    }

    fn doc(open: usize, closed: usize) -> String {
        let o: Vec<String> = (0..open).map(|i| record(i, true)).collect();
        let c: Vec<String> = (0..closed).map(|i| record(i + 1000, false)).collect();
        format!(
            "{{\n  \"open_positions\": [\n    {}\n  ],\n  \"closed_positions\": [\n    {}\n  ],\n  \"created_at\": \"2026-01-01\"\n}}\n",
            o.join(",\n    "),
            c.join(",\n    ")
        )
    }

    /// Damaged inputs: cuts, garbage, two versions, interleaved 4 KiB blocks, bad records.
    fn inputs() -> Vec<Vec<u8>> {
        let full = doc(40, 400);
        let b = full.as_bytes();
        let mut out: Vec<Vec<u8>> = Vec::new();
        for cut in [b.len() * 9 / 10, b.len() / 2, 3000, 100, 20] {
            out.push(b.get(..cut).unwrap_or_default().to_vec());
        }
        let mut garbage = b.to_vec();
        for x in garbage.iter_mut().skip(b.len() / 3).take(200) {
            *x = b'#';
        }
        out.push(garbage);
        let mut two = b.get(..b.len() / 2).unwrap_or_default().to_vec();
        two.extend_from_slice(doc(30, 300).as_bytes());
        out.push(two);
        let other = doc(41, 380);
        let mut inter = Vec::new();
        for (k, block) in b.chunks(4096).enumerate() {
            let theirs = other.as_bytes().get(k * 4096..(k + 1) * 4096);
            match (k % 2, theirs) {
                (1, Some(t)) => inter.extend_from_slice(t),
                _ => inter.extend_from_slice(block),
            }
        }
        out.push(inter);
        let bad = full.replacen("\"leverage\": 3", "\"leverage\": 3, \"leverage\": 4", 1);
        out.push(
            bad.as_bytes()
                .get(..bad.len() - 50)
                .unwrap_or_default()
                .to_vec(),
        );
        let big = full.replacen("\"size\": 1.5", "\"size\": 1e999", 1);
        out.push(
            big.as_bytes()
                .get(..big.len() - 50)
                .unwrap_or_default()
                .to_vec(),
        );
        out.push(format!("\u{feff}{full}").into_bytes());
        out.push(full.replacen("}\n  ],", "},\n  ],", 1).into_bytes());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for sub in ["salvage", "salvage_structured"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                out.extend(std::fs::read(e.path()));
            }
        }
        out
    }

    /// What planning hands over (the validated records, the scanned fields) changes
    /// nothing: the salvage and the classification of its output are what they are
    /// without it.
    #[test]
    fn handed_over_scan_gives_the_same_salvage_and_classification() {
        let layout = Layout::from_config(Config::default(), None).unwrap_or_else(|e| panic!("{e}"));
        let identity = &layout.config.positions.identity;
        let mut reused = 0;
        for spec in &layout.files {
            for (n, input) in inputs().iter().enumerate() {
                let (shape, scanned) = inspect_file_keeping(spec, input, identity);
                assert_eq!(shape, inspect_file(spec, input, identity), "input {n}");
                if !matches!(shape, crate::jsondoc::Shape::Corrupt(_)) {
                    continue;
                }
                let valid: Vec<Range<usize>> = scanned
                    .iter()
                    .flat_map(|s| s.arrays.iter())
                    .flat_map(|(_, recs)| recs.iter().map(|(r, _)| r.clone()))
                    .collect();
                reused += valid.len();
                let plain = crate::salvage::salvage(input, &shape_of(spec));
                let handed = salvage_validated(input, &shape_of(spec), &sorted(valid));
                assert_eq!(plain, handed, "input {n}");
                let k = known(input, &spec.record_arrays, &plain.records, scanned);
                let direct = inspect_file(spec, &plain.document, identity);
                let again = inspect_file_reusing(spec, &plain.document, identity, k);
                assert_eq!(direct, again, "input {n}");
            }
        }
        assert!(reused > 1000, "the inputs exercise the hand-over: {reused}");
    }
}
