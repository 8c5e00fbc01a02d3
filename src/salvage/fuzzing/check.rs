//! The checks themselves. `check_bytes` holds for any input; `check_spec` adds what a
//! known corruption of a known document implies: which records must survive, which texts
//! may appear in which array, and which outcomes are possible.

use std::collections::HashSet;
use std::ops::Range;

use super::gen::{garbage_byte, Corruption, Doc, Placed, Spec};
use crate::checks::corrupt::{known, parts, skeleton};
use crate::jsondoc;
use crate::salvage::lex::is_valid_json;
use crate::salvage::{rebuild, salvage, Outcome, Salvaged, Schema, Skeleton};

/// Invariants of one salvage of `input`, for any bytes.
pub fn check_bytes(input: &[u8], shape: &Schema) -> Result<Salvaged, String> {
    let s = salvage(input, shape);
    check_one_pass(input, shape).map_err(|e| format!("input: {e}"))?;
    check_one_pass(&s.document, shape).map_err(|e| format!("output: {e}"))?;
    let members = top_members(&s.document).ok_or("output is not one JSON object")?;
    if !is_valid_json(&s.document) {
        return Err("output is not valid JSON".into());
    }
    check_output_shape(&members, shape)?;
    let again = salvage(&s.document, shape);
    if again.document != s.document || again.report.outcome != Outcome::Intact {
        return Err(format!(
            "not idempotent: second outcome {:?}",
            again.report.outcome
        ));
    }
    check_verbatim(input, &s, &again)?;
    check_intact(input, shape, &s)?;
    check_report(input, &s)?;
    Ok(s)
}

/// The output's keys are unique, record arrays are arrays, required keys are present.
fn check_output_shape(members: &[(String, &str)], shape: &Schema) -> Result<(), String> {
    let mut seen = HashSet::new();
    for (k, v) in members {
        if !seen.insert(k.as_str()) {
            return Err(format!("duplicate key {k:?} in output"));
        }
        if shape.record_arrays.contains(k) && !v.starts_with('[') {
            return Err(format!("record array {k:?} is not an array"));
        }
    }
    for (k, _) in &shape.required {
        if !seen.contains(k.as_str()) {
            return Err(format!("required key {k:?} missing"));
        }
    }
    Ok(())
}

/// The salvage a heal runs equals the reference salvage ([`super::reference_salvage`]):
/// handed the ranges of the records a strict scan of `input` completed, it neither scans
/// those records nor validates them again, and it keeps its document as pieces of `input`;
/// the version, rewind and placement evidence, the report and the document must come out
/// the same. And the classification of that document assembled from its pieces (the
/// records the strict scan completed taken as they are) equals the classification of the
/// document itself.
pub fn check_one_pass(input: &[u8], shape: &Schema) -> Result<(), String> {
    let reference = super::reference_salvage(input, shape);
    let identity = ["symbol", "direction", "strategy", "order_id"].map(String::from);
    let extract = crate::checks::layout::position_extract(&identity);
    let first: Vec<String> = shape.record_arrays.iter().take(1).cloned().collect();
    let spec = jsondoc::Spec {
        record_arrays: &shape.record_arrays,
        extract: Some(&extract),
        hash_records: &first,
        full_records: &first,
    };
    let runs = jsondoc::record_runs(input, &spec);
    let flat: Vec<Range<usize>> = runs.iter().flatten().cloned().collect();
    let rewinds = crate::salvage::block_rewinds(input);
    let one_pass = rebuild(
        input,
        shape,
        &Skeleton::runs(runs).with_block_rewinds(rewinds),
    );
    let document = same_as_reference(input, &one_pass, &reference)?;
    // the values alone, without the runs
    same_as_reference(
        input,
        &rebuild(input, shape, &Skeleton::values(flat)),
        &reference,
    )?;
    let (_, scanned) = jsondoc::inspect_keeping(input, &spec);
    if scanned.is_some() {
        // what a heal hands over: the records its classification completed
        let handed = rebuild(input, shape, &skeleton(scanned.as_ref()));
        same_as_reference(input, &handed, &reference)?;
    }
    let spans: Vec<Range<usize>> = one_pass.records.iter().map(|k| k.span.clone()).collect();
    let parts = parts(&one_pass.members, &spans);
    let known = known(input, &shape.record_arrays, &one_pass.records, scanned);
    let assembled = jsondoc::inspect_assembled(input, &parts, &spec, known);
    let direct = jsondoc::inspect(&document, &spec);
    match assembled {
        Some(a) if a == direct => Ok(()),
        None if !matches!(direct, jsondoc::Shape::Object(_) | jsondoc::Shape::Empty(_)) => Ok(()),
        other => Err(format!(
            "assembled classification {other:?} differs from the document's {direct:?}"
        )),
    }
}

/// The document of `rebuilt`, after checking that it, its report and its records are the
/// reference's.
fn same_as_reference(
    input: &[u8],
    rebuilt: &crate::salvage::Rebuilt,
    reference: &Salvaged,
) -> Result<Vec<u8>, String> {
    let document = rebuilt.output.to_vec(input);
    if document != reference.document {
        return Err(format!(
            "one pass: document differs: {:?} vs the reference's {:?}",
            String::from_utf8_lossy(&document),
            String::from_utf8_lossy(&reference.document)
        ));
    }
    if rebuilt.report != reference.report || rebuilt.records != reference.records {
        return Err(format!(
            "one pass: report or records differ: {:?} vs the reference's {:?}",
            rebuilt.report, reference.report
        ));
    }
    Ok(document)
}

/// Every output record is the exact input text of the record it claims to be.
fn check_verbatim(input: &[u8], first: &Salvaged, again: &Salvaged) -> Result<(), String> {
    if first.records.len() != again.records.len() {
        return Err("record count changed on re-salvage".into());
    }
    for (a, b) in first.records.iter().zip(&again.records) {
        let from_input = input
            .get(a.span.clone())
            .ok_or("record span outside input")?;
        let in_output = again
            .document
            .get(b.span.clone())
            .ok_or("span outside output")?;
        if from_input != in_output || a.array != b.array {
            return Err(format!("record at {:?} is not verbatim", a.span));
        }
    }
    Ok(())
}

/// Intact means unchanged; a valid document of the shape must be intact.
fn check_intact(input: &[u8], shape: &Schema, s: &Salvaged) -> Result<(), String> {
    if s.report.outcome == Outcome::Intact && s.document != input {
        return Err("intact but the document differs from the input".into());
    }
    if is_document_of_shape(input, shape) && s.report.outcome != Outcome::Intact {
        return Err(format!("valid document reported {:?}", s.report.outcome));
    }
    Ok(())
}

fn check_report(input: &[u8], s: &Salvaged) -> Result<(), String> {
    let r = &s.report;
    let kept: u64 = r.arrays.iter().map(|a| a.kept).sum();
    if kept != r.records_kept || u64::try_from(s.records.len()).ok() != Some(kept) {
        return Err("records_kept disagrees with the records".into());
    }
    if r.records_unplaced > r.records_lost {
        return Err("unplaced records not counted as lost".into());
    }
    for u in &r.unplaced {
        let span = usize::try_from(u.start)
            .ok()
            .zip(usize::try_from(u.end).ok());
        let bytes = span
            .and_then(|(a, b)| input.get(a..b))
            .ok_or("bad unplaced span")?;
        if !is_valid_json(bytes) {
            return Err("unplaced record is not valid JSON".into());
        }
    }
    Ok(())
}

/// The top-level members of a JSON object of the state files' dialect, in order,
/// duplicates included: each key and its value's text.
fn top_members(bytes: &[u8]) -> Option<Vec<(String, &str)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let members = crate::pyjson::members(text).ok()?;
    Some(
        members
            .into_iter()
            .map(|(k, r)| (k, text.get(r).unwrap_or_default()))
            .collect(),
    )
}

/// An independent oracle: valid JSON, an object, unique keys, arrays where the shape wants
/// them, every required key present.
pub fn is_document_of_shape(input: &[u8], shape: &Schema) -> bool {
    let Some(members) = top_members(input) else {
        return false;
    };
    is_valid_json(input) && check_output_shape(&members, shape).is_ok()
}

// ---- structured cases -------------------------------------------------------------

/// A corrupted input and what it implies.
struct Corrupted {
    bytes: Vec<u8>,
    /// Damaged byte ranges of `bytes`.
    damaged: Vec<Range<usize>>,
    /// Records of `bytes` whose text is intact and must be kept (or, after damage, be
    /// reported unplaced): (array, span in `bytes`).
    survivors: Vec<(usize, Range<usize>)>,
    /// Every (array, text) a kept record may have; `None`: any verbatim text.
    allowed: Option<HashSet<(usize, Vec<u8>)>>,
    expect: Expect,
    /// For blocks of two versions: the second version and the block size.
    blocks: Option<(Doc, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Lossless,
    /// Lossless, but the records come from another version than the first.
    LosslessOther,
    NotLossless,
    Ambiguous,
    RepairedLossy,
    Anything,
}

/// All checks of one structured case.
pub fn check_spec(spec: &Spec) -> Result<(), String> {
    let v1 = spec.first();
    let c = corrupt(spec, &v1);
    let s = check_bytes(&c.bytes, &Schema::positions())?;
    check_allowed(&c, &s)?;
    check_survivors(&c, &s)?;
    check_blocks(&c, &s, &v1)?;
    check_expect(&c, &s, &v1)
}

/// The corrupted input of a case.
pub fn corrupted_bytes(spec: &Spec) -> Vec<u8> {
    corrupt(spec, &spec.first()).bytes
}

fn texts_of(doc: &Doc, offset: usize) -> Vec<(usize, Range<usize>)> {
    doc.records
        .iter()
        .map(|p| (p.array, p.span.start + offset..p.span.end + offset))
        .collect()
}

fn allowed_from(docs: &[&Doc]) -> HashSet<(usize, Vec<u8>)> {
    docs.iter()
        .flat_map(|d| d.records.iter().map(|p| (p.array, d.text(p).to_vec())))
        .collect()
}

fn corrupt(spec: &Spec, v1: &Doc) -> Corrupted {
    let len = v1.bytes.len();
    let single = |bytes: Vec<u8>, damaged: Vec<Range<usize>>, expect| {
        let survivors = v1
            .records
            .iter()
            .filter(|p| {
                damaged
                    .iter()
                    .all(|d| p.span.end <= d.start || p.span.start >= d.end)
            })
            .map(|p: &Placed| (p.array, p.span.clone()))
            .collect();
        Corrupted {
            bytes,
            damaged,
            survivors,
            allowed: Some(allowed_from(&[v1])),
            expect,
            blocks: None,
        }
    };
    match &spec.corruption {
        Corruption::None => single(v1.bytes.clone(), Vec::new(), Expect::Lossless),
        Corruption::Truncate { at } => {
            let n = wrap(*at, len + 1);
            let bom = if spec.layout.bom { 3 } else { 0 };
            let expect = if n == len {
                Expect::Lossless
            } else if n == 0 || n == bom {
                // nothing but a BOM is an empty file
                Expect::LosslessOther
            } else {
                Expect::NotLossless
            };
            single(
                v1.bytes.get(..n).unwrap_or_default().to_vec(),
                one(n..usize::MAX),
                expect,
            )
        }
        Corruption::NulTail { at, extend } => {
            let n = wrap(*at, len + 1);
            let mut bytes = v1.bytes.get(..n).unwrap_or_default().to_vec();
            bytes.resize(len + usize::from(*extend), 0);
            let expect = match (n == len, *extend == 0) {
                (true, true) => Expect::Lossless,
                (true, false) => Expect::RepairedLossy,
                (false, _) => Expect::NotLossless,
            };
            single(bytes, one(n..usize::MAX), expect)
        }
        Corruption::Garbage {
            at,
            len: glen,
            seed,
        } => {
            let a = wrap(*at, len.max(1));
            let end = (a + usize::from(*glen)).min(len);
            let mut bytes = v1.bytes.clone();
            for (i, b) in bytes.iter_mut().enumerate().take(end).skip(a) {
                *b = garbage_byte(*seed, i);
            }
            let expect = if end > a {
                Expect::NotLossless
            } else {
                Expect::Lossless
            };
            single(bytes, one(a..end), expect)
        }
        Corruption::Flip { at, seed } => {
            let mut bytes = v1.bytes.clone();
            let mut damaged = Vec::new();
            for (i, p) in at.iter().enumerate() {
                let p = wrap(*p, len.max(1));
                if let Some(b) = bytes.get_mut(p) {
                    *b = garbage_byte(*seed, i);
                    damaged.push(p..p + 1);
                }
            }
            let expect = if damaged.is_empty() {
                Expect::Lossless
            } else {
                Expect::NotLossless
            };
            single(bytes, damaged, expect)
        }
        Corruption::Append {
            cut,
            newline,
            second,
        } => {
            let v2 = spec.second(*second);
            let n = cut.map_or(len, |c| wrap(c, len + 1));
            let mut bytes = v1.bytes.get(..n).unwrap_or_default().to_vec();
            if *newline {
                bytes.push(b'\n');
            }
            let offset = bytes.len();
            bytes.extend_from_slice(&v2.bytes);
            let mut survivors: Vec<_> = texts_of(v1, 0)
                .into_iter()
                .filter(|(_, s)| s.end <= n)
                .collect();
            survivors.extend(texts_of(&v2, offset));
            let bom = if spec.layout.bom { 3 } else { 0 };
            let expect = if n == 0 || n == bom {
                Expect::LosslessOther
            } else if n == len {
                Expect::Ambiguous
            } else {
                Expect::NotLossless
            };
            Corrupted {
                bytes,
                damaged: one(n..offset),
                survivors,
                allowed: Some(allowed_from(&[v1, &v2])),
                expect,
                blocks: None,
            }
        }
        Corruption::Interleave { block, second } => {
            let v2 = spec.second(*second);
            let block = usize::from(*block).max(1);
            Corrupted {
                bytes: interleave(&v1.bytes, &v2.bytes, block),
                damaged: Vec::new(),
                survivors: Vec::new(),
                allowed: None,
                expect: Expect::Anything,
                blocks: Some((v2, block)),
            }
        }
    }
}

fn one(r: Range<usize>) -> Vec<Range<usize>> {
    std::iter::once(r).collect()
}

fn wrap(x: u32, n: usize) -> usize {
    usize::try_from(x).unwrap_or(0) % n.max(1)
}

/// Blocks alternate between `a` and `b`; where the chosen version is shorter, the other
/// one's bytes remain, as in a file two writers overwrote.
pub fn interleave(a: &[u8], b: &[u8], block: usize) -> Vec<u8> {
    let total = a.len().max(b.len());
    let mut out = Vec::with_capacity(total);
    let mut start = 0;
    let mut k = 0usize;
    while start < total {
        let end = (start + block).min(total);
        let (chosen, other) = if k.is_multiple_of(2) { (a, b) } else { (b, a) };
        let mid = chosen.len().clamp(start, end);
        out.extend_from_slice(chosen.get(start..mid).unwrap_or_default());
        out.extend_from_slice(other.get(mid..end).unwrap_or_default());
        start = end;
        k += 1;
    }
    out
}

/// Blocks of two versions, of a multiple of 4 KiB, recognised as interleaved: every kept
/// record lies inside one 4 KiB block, in bytes of one version, where that version has
/// exactly this record in exactly this array. (Other block sizes can splice a record
/// inside a block, and blocks never recognised read as one damaged version: limits the
/// salvage documents.)
fn check_blocks(c: &Corrupted, s: &Salvaged, v1: &Doc) -> Result<(), String> {
    let Some((v2, block)) = &c.blocks else {
        return Ok(());
    };
    if block % 4096 != 0 || !s.report.interleaved {
        return Ok(());
    }
    for r in &s.records {
        let (a, b) = (r.span.start, r.span.end);
        let owner = |x: usize| owner_of(x, *block, v1, v2);
        let inside = a / 4096 == b.saturating_sub(1) / 4096;
        let version = owner(a);
        let same = inside && std::ptr::eq(version, owner(b.saturating_sub(1)));
        let genuine = version
            .records
            .iter()
            .any(|p| p.span == r.span && p.array == r.array);
        if !(same && genuine) {
            let text = String::from_utf8_lossy(c.bytes.get(a..b).unwrap_or_default());
            return Err(format!(
                "kept record at {a}..{b} (array {}) is not a record of its block's version \
                 there: {text}",
                r.array
            ));
        }
    }
    Ok(())
}

/// The version whose byte is at `x` of `interleave(v1, v2, block)`.
fn owner_of<'d>(x: usize, block: usize, v1: &'d Doc, v2: &'d Doc) -> &'d Doc {
    let (chosen, other) = if (x / block).is_multiple_of(2) {
        (v1, v2)
    } else {
        (v2, v1)
    };
    if x < chosen.bytes.len() {
        chosen
    } else {
        other
    }
}

fn kept_texts(c: &Corrupted, s: &Salvaged) -> Vec<(usize, Vec<u8>)> {
    s.records
        .iter()
        .map(|r| {
            (
                r.array,
                c.bytes.get(r.span.clone()).unwrap_or_default().to_vec(),
            )
        })
        .collect()
}

/// Nothing invented, altered or placed in the wrong array.
fn check_allowed(c: &Corrupted, s: &Salvaged) -> Result<(), String> {
    let Some(allowed) = &c.allowed else {
        return Ok(());
    };
    for (array, text) in kept_texts(c, s) {
        if !allowed.contains(&(array, text.clone())) {
            let shown = String::from_utf8_lossy(&text);
            return Err(format!(
                "kept record not in array {array} of any version: {shown}"
            ));
        }
    }
    Ok(())
}

/// Every record outside the damage is kept, or reported unplaced if it follows damage.
fn check_survivors(c: &Corrupted, s: &Salvaged) -> Result<(), String> {
    let kept: HashSet<(usize, Vec<u8>)> = kept_texts(c, s).into_iter().collect();
    let first_damage = c
        .damaged
        .iter()
        .map(|d| d.start)
        .min()
        .unwrap_or(usize::MAX);
    let unplaced: HashSet<(u64, u64)> =
        s.report.unplaced.iter().map(|u| (u.start, u.end)).collect();
    for (array, span) in &c.survivors {
        let text = c.bytes.get(span.clone()).unwrap_or_default().to_vec();
        if kept.contains(&(*array, text)) {
            continue;
        }
        let key = (to_u64(span.start), to_u64(span.end));
        if span.end > first_damage && unplaced.contains(&key) {
            continue;
        }
        return Err(format!(
            "intact record at {span:?} (array {array}) neither kept nor unplaced"
        ));
    }
    Ok(())
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn check_expect(c: &Corrupted, s: &Salvaged, v1: &Doc) -> Result<(), String> {
    let o = s.report.outcome;
    let ok = match c.expect {
        Expect::Lossless => s.report.is_lossless() && same_records(c, s, v1),
        Expect::LosslessOther => s.report.is_lossless(),
        Expect::NotLossless => !s.report.is_lossless(),
        Expect::Ambiguous => o == Outcome::Ambiguous,
        Expect::RepairedLossy => o == Outcome::Repaired { lossless: false },
        Expect::Anything => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {o:?}", c.expect))
    }
}

/// For a lossless case: exactly the first version's records, in order, or none at all
/// for an empty input.
fn same_records(c: &Corrupted, s: &Salvaged, v1: &Doc) -> bool {
    let got = kept_texts(c, s);
    let want: Vec<(usize, Vec<u8>)> = v1
        .records
        .iter()
        .map(|p| (p.array, v1.text(p).to_vec()))
        .collect();
    got == want || (got.is_empty() && c.bytes.iter().all(|b| b.is_ascii_whitespace()))
}
