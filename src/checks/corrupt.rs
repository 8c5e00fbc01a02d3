//! Corrupted managed JSON files: the bytes are salvaged (`salvage`), keeping every intact
//! record verbatim. A salvage that loses nothing of content (a BOM, trailing commas, padding
//! after a complete document) is applied in any mode. A lossy or ambiguous salvage is
//! applied only in paper mode (with a HIGH warning, and a critical for real mode until an
//! operator acknowledges it with `selfheal ack`) or with `heal --accept-loss`; in real mode
//! otherwise the file is left exactly as it is and the DATA_INTEGRITY critical blocks the
//! engine. The original bytes always go to the backup store first (the engine's job).

use super::{Ctx, FileView, Planned};
use crate::checks::layout::{inspect_file, inspect_file_assembled};
use crate::config::File;
use crate::content::Content;
use crate::findings::{code, Finding, Level};
use crate::jsondoc::{Known, Part, Record, Scanned, Spanned};
use crate::mode::Mode;
use crate::plan::{Effect, HealKind, Observed, Op};
use crate::salvage::{
    rebuild, KeptRecord, Member, Outcome, Rebuilt, SalvageReport, Schema, Skeleton,
};
use serde_json::json;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, Weak};

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
pub fn shape_of(spec: &File) -> Schema {
    Schema {
        record_arrays: spec.record_arrays.clone(),
        required: spec.required.clone(),
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
    // The records the classification completed before the break are the salvage's
    // skeleton: it scans only from there.
    let skeleton = skeleton(scanned.as_ref());
    let rebuilt = match prepared(&view.observed) {
        Some(rewinds) => {
            let answer = *rewinds.get_or_init(|| crate::salvage::block_rewinds(bytes));
            rebuild(
                bytes,
                &shape_of(&spec),
                &skeleton.with_block_rewinds(answer),
            )
        }
        None => {
            // A salvage is written over the damaged bytes, whose backup needs their digest.
            view.observed.hash_beside();
            rebuild_beside(bytes, &shape_of(&spec), skeleton)
        }
    };
    let r = &rebuilt.report;
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
    let report = rebuilt.report.clone();
    let r = &report;
    let identity = &ctx.layout.config.positions.identity;
    let (document, written) = written(&spec, identity, (bytes, &view.observed), rebuilt, scanned);
    view.written = Some((document.clone(), written));
    let op = p.push(Op {
        heal: HealKind::CorruptedJson,
        message: format!(
            "Repaired corrupted {}: {path} ({})",
            spec.role.noun(),
            r.summary()
        ),
        reason: format!("not valid JSON ({why}); {}", r.summary()),
        path: Some(spec.path.clone()),
        action: Effect::WriteFile {
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

/// The bytes a salvage writes, as pieces of the damaged `input` (the bytes `observed`
/// read; other bytes are copied), and their classification: assembled from the salvage's
/// parts, the records the scan of `input` completed taken as they are, so that the
/// document is never in one buffer nor scanned again. A salvage that kept no key is `{}`,
/// which the next run would take for an empty file and replace with the default: the
/// default is written instead, so one heal settles it.
fn written(
    spec: &File,
    identity: &[String],
    (input, observed): (&[u8], &Observed),
    rebuilt: Rebuilt,
    scanned: Option<Scanned>,
) -> (Content, crate::jsondoc::Shape) {
    let known = known(input, &spec.record_arrays, &rebuilt.records, scanned);
    let spans: Vec<Range<usize>> = rebuilt.records.iter().map(|k| k.span.clone()).collect();
    let parts = parts(&rebuilt.members, &spans);
    let assembled = inspect_file_assembled(spec, input, &parts, identity, known);
    let content = observed
        .salvaged(input, rebuilt.output)
        .unwrap_or_else(|output| Content::new(output.to_vec(input)));
    let shape = assembled.unwrap_or_else(|| inspect_file(spec, &content.contiguous(), identity));
    if matches!(shape, crate::jsondoc::Shape::Empty(_)) {
        let default = spec.default_bytes.clone();
        let shape = inspect_file(spec, &default, identity);
        return (Content::new(default), shape);
    }
    (content, shape)
}

/// The top-level members of a salvage's output as parts of the document for
/// [`inspect_file_assembled`]; `spans` holds the ranges of its records, in output order.
pub(crate) fn parts<'a>(members: &'a [Member], spans: &'a [Range<usize>]) -> Vec<Part<'a>> {
    let mut rest = spans;
    members
        .iter()
        .map(|m| match m {
            Member::Copied { key, value } => Part::Copied {
                key: key.clone(),
                value: value.clone(),
            },
            Member::Records { key, count, .. } => {
                let (elements, after) = rest.split_at((*count).min(rest.len()));
                rest = after;
                Part::Records {
                    key: key.clone(),
                    elements,
                }
            }
            Member::Restored { name, value } => Part::Written { name, value },
        })
        .collect()
}

/// The records of a salvage's output that the scan of the damaged `input` already went
/// through: each kept record, per array in output order, with its text's range in `input`
/// and, when the scan completed that very text in the same array, its scanned fields.
pub(crate) fn known<'a>(
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
        .enumerate()
        .map(|(i, a)| {
            let n = kept.iter().filter(|k| k.array == i).count();
            (a.clone(), VecDeque::with_capacity(n))
        })
        .collect();
    // where the last record was taken, per scanned array: kept records come in order
    let mut next = vec![0usize; scanned.len()];
    for k in kept {
        let Some((name, queue)) = out.get_mut(k.array) else {
            continue;
        };
        let record = scanned
            .iter_mut()
            .zip(next.iter_mut())
            .filter(|((key, _), _)| key == name)
            .find_map(|((_, recs), at)| take_record(recs, &k.span, at));
        queue.push_back((k.span.clone(), record));
    }
    Known {
        source: input,
        arrays: out,
    }
}

/// Answers to "does the text rewind at a block boundary", being computed by [`prepare`],
/// by the bytes they are about (while those live).
type Prepared = Vec<(Weak<Vec<u8>>, Arc<OnceLock<bool>>)>;
static PREPARED: Mutex<Prepared> = Mutex::new(Vec::new());

/// Starts, on a thread of its own, the work only a salvage of a managed file needs, while
/// the classification scans it: whether its text rewinds at a block boundary, then the
/// digest its backup needs. Only for a large file that cannot be a document as it stands
/// (its last non-blank byte is not `}`: cut short, or padded), which the classification
/// will find broken; the salvage takes the answer ([`plan`]), or works it out itself if
/// the thread has not. Nothing happens when no thread can be started.
pub fn prepare(observed: &Observed) {
    let Some(bytes) = observed.bytes.as_ref() else {
        return;
    };
    let last = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    let may_be_a_document = last.and_then(|i| bytes.get(i)) == Some(&b'}');
    if bytes.len() < crate::store::LARGE_OBJECT || may_be_a_document {
        return;
    }
    let rewinds: Arc<OnceLock<bool>> = Arc::default();
    let (answer, file) = (Arc::clone(&rewinds), observed.clone());
    let spawned = std::thread::Builder::new().spawn(move || {
        if let Some(bytes) = &file.bytes {
            answer.get_or_init(|| crate::salvage::block_rewinds(bytes));
        }
        // the digest of the bytes read, kept where the backup looks for it
        let _ = file.node();
    });
    if spawned.is_ok() {
        let mut prepared = PREPARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prepared.retain(|(w, _)| w.strong_count() > 0);
        prepared.push((Arc::downgrade(bytes), rewinds));
    }
}

/// The answer [`prepare`] is working out for the bytes `observed` read, if it started.
fn prepared(observed: &Observed) -> Option<Arc<OnceLock<bool>>> {
    let bytes = observed.bytes.as_ref()?;
    let prepared = PREPARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    prepared
        .iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(bytes)))
        .map(|(_, answer)| Arc::clone(answer))
}

/// [`rebuild`] with `skeleton`, asking whether the text rewinds at a block boundary (the
/// salvage's one pass over all of a large input) on a second thread, while the salvage
/// goes on as if it does not; only when it does (two writers' blocks interleaved) is the
/// salvage done again with that answer. The same result as [`rebuild`] either way.
fn rebuild_beside(bytes: &[u8], shape: &Schema, mut skeleton: Skeleton) -> Rebuilt {
    if bytes.len() < crate::store::LARGE_OBJECT {
        return rebuild(bytes, shape, &skeleton);
    }
    let (guess, rewinds) = std::thread::scope(|scope| {
        let beside = std::thread::Builder::new()
            .spawn_scoped(scope, || crate::salvage::block_rewinds(bytes))
            .ok();
        let Some(beside) = beside else {
            return (None, crate::salvage::block_rewinds(bytes));
        };
        skeleton.set_block_rewinds(Some(false));
        let guess = rebuild(bytes, shape, &skeleton);
        let rewinds = beside
            .join()
            .unwrap_or_else(|_| crate::salvage::block_rewinds(bytes));
        (Some(guess), rewinds)
    });
    match guess {
        Some(guess) if !rewinds => guess,
        _ => {
            skeleton.set_block_rewinds(Some(rewinds));
            rebuild(bytes, shape, &skeleton)
        }
    }
}

/// The runs of elements a strict scan completed, per record array.
pub(crate) fn skeleton(scanned: Option<&Scanned>) -> Skeleton {
    Skeleton::runs(
        scanned
            .iter()
            .flat_map(|s| s.arrays.iter())
            .map(|(_, recs)| recs.iter().map(|(r, _)| r.clone()).collect()),
    )
}

/// Takes the scanned record whose text is exactly `span` (once: it is moved out), looking
/// at index `next` first and leaving it after the record taken.
fn take_record(
    recs: &mut [(Range<usize>, Option<Record>)],
    span: &Range<usize>,
    next: &mut usize,
) -> Option<Record> {
    let at = match recs.get(*next) {
        Some((r, _)) if r.start == span.start => *next,
        _ => recs
            .binary_search_by_key(&span.start, |(r, _)| r.start)
            .ok()?,
    };
    *next = at + 1;
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

    /// Large inputs, where the interleaving question is asked on a second thread: the
    /// salvage is the reference salvage whether the text rewinds (two writers' blocks) or
    /// not (a cut).
    #[test]
    fn asking_beside_gives_the_same_salvage() {
        use crate::salvage::fuzzing::{interleave, reference_salvage, render, Layout, Rec};
        let recs = Rec::series;
        let layout = Layout {
            pretty: true,
            ..Layout::default()
        };
        let v1 = render(&recs(1, 40), &recs(41, 4000), layout).bytes;
        let v2 = render(&recs(1, 41), &recs(42, 3999), layout).bytes;
        assert!(v1.len() > crate::store::LARGE_OBJECT);
        let cut = v1.get(..v1.len() * 9 / 10).unwrap_or_default().to_vec();
        let mixed = interleave(&v1, &v2, 4096);
        let shape = Schema::positions();
        let identity = ["symbol", "direction", "strategy"].map(String::from);
        let extract = crate::checks::layout::position_extract(&identity);
        let spec = crate::jsondoc::Spec {
            record_arrays: &shape.record_arrays,
            extract: Some(&extract),
            ..crate::jsondoc::Spec::default()
        };
        let mut padded = v1.clone();
        padded.resize(v1.len() + 10_000, 0);
        let mixed_cut = mixed
            .get(..mixed.len() * 9 / 10)
            .unwrap_or_default()
            .to_vec();
        let cases = [
            (cut, false),
            (mixed, true),
            (padded, false),
            (mixed_cut, true),
        ];
        for (input, rewinds) in cases {
            assert_eq!(crate::salvage::block_rewinds(&input), rewinds);
            let (_, scanned) = crate::jsondoc::inspect_keeping(&input, &spec);
            let beside = rebuild_beside(&input, &shape, skeleton(scanned.as_ref()));
            assert_eq!(
                beside.into_salvaged(&input),
                reference_salvage(&input, &shape)
            );
            // asked while the classification scans: the same answer, and the digest
            let observed = Observed::from_file(std::sync::Arc::new(input.clone()), stat(&input));
            prepare(&observed);
            let answer = prepared(&observed).map(|a| *a.wait());
            let last = input.iter().rposition(|b| !b.is_ascii_whitespace());
            let broken = last.and_then(|i| input.get(i)) != Some(&b'}');
            assert_eq!(answer, broken.then_some(rewinds));
            let digest = match observed.node() {
                Some(journal_format::Node::File { sha256, .. }) => Some(*sha256),
                _ => None,
            };
            assert_eq!(digest, Some(crate::store::sha256(&input)));
        }
        // a file that may be a document is left to the classification alone
        let whole = Observed::from_file(std::sync::Arc::new(v1.clone()), stat(&v1));
        prepare(&whole);
        assert!(prepared(&whole).is_none());
    }

    fn stat(bytes: &[u8]) -> crate::fsx::Stat {
        crate::fsx::Stat {
            kind: crate::fsx::Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: bytes.len() as u64,
            mtime_sec: 0,
            mtime_nsec: 0,
            ctime_sec: 0,
            ctime_nsec: 0,
            nlink: 1,
            ino: 1,
            dev: 1,
        }
    }

    /// What planning hands over (the validated records, the scanned fields) changes
    /// nothing: the salvage is the reference salvage, and the classification of its output,
    /// assembled from its pieces, is what a scan of the output itself gives.
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
                let handed = skeleton(scanned.as_ref());
                reused += handed.len();
                let reference = crate::salvage::fuzzing::reference_salvage(input, &shape_of(spec));
                let rebuilt = rebuild(input, &shape_of(spec), &handed);
                assert_eq!(rebuilt.clone().into_salvaged(input), reference, "input {n}");
                let source = std::sync::Arc::new(input.clone());
                let observed = Observed::from_file(std::sync::Arc::clone(&source), stat(input));
                let pair = (source.as_slice(), &observed);
                let (content, written) = written(spec, identity, pair, rebuilt, scanned);
                let direct = inspect_file(spec, &content.to_vec(), identity);
                assert_eq!(written, direct, "input {n}");
                assert_eq!(content.sha256(), crate::store::sha256(&content.to_vec()));
                if content.to_vec() != spec.default_bytes {
                    assert_eq!(content.to_vec(), reference.document, "input {n}");
                }
                let node = observed.node().cloned();
                assert!(
                    matches!(node, Some(journal_format::Node::File { sha256, .. }) if sha256 == crate::store::sha256(input)),
                    "input {n}"
                );
            }
        }
        assert!(reused > 1000, "the inputs exercise the hand-over: {reused}");
    }
}
