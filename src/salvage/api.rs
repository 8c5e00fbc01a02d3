//! The public entry points: [`salvage`] takes bytes and a [`Schema`] and returns a valid
//! document plus its [`SalvageReport`]; [`rebuild`] returns the same document as pieces of
//! the input ([`Output`]), for a caller that writes or hashes it as it goes instead of
//! holding a second copy of the file. It owns the decision "intact or not": an intact
//! input is returned byte for byte, everything else is rebuilt by `emit.rs`.

use std::ops::Range;

use super::emit::{emit, sanitize_array_default, sanitize_default, Member, Sink};
use super::output::Output;
use super::report::{build, SalvageReport};
use super::scan::{scan, ScanOut};

/// What a document of this kind looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// Top-level keys whose values are arrays of records, e.g. `open_positions`.
    pub record_arrays: Vec<String>,
    /// `(key, raw JSON default)` restored when the key is missing, e.g.
    /// `("open_positions", "[]")`. A default that is not valid JSON is written as `null`;
    /// a record array's default that is not an array is written as `[]`.
    pub required: Vec<(String, String)>,
}

impl Schema {
    /// `logs/positions_futures.json`: `open_positions` and `closed_positions`, both required.
    pub fn positions() -> Self {
        let arrays = ["open_positions", "closed_positions"];
        Schema {
            record_arrays: arrays.iter().map(|s| (*s).to_owned()).collect(),
            required: arrays
                .iter()
                .map(|s| ((*s).to_owned(), "[]".to_owned()))
                .collect(),
        }
    }

    /// `logs/portfolio_futures.json`: `snapshots` is the record array; every key of the
    /// embedded default is required.
    pub fn portfolio() -> Self {
        let zero = [
            "total_margin_allocated",
            "available_margin",
            "used_margin",
            "unrealized_pnl",
            "realized_pnl",
            "total_funding_fees",
            "total_trading_fees",
        ];
        let mut required: Vec<(String, String)> = zero
            .iter()
            .map(|k| ((*k).to_owned(), "0.0".to_owned()))
            .collect();
        required.push(("open_positions_count".to_owned(), "0".to_owned()));
        required.push(("total_notional_exposure".to_owned(), "0.0".to_owned()));
        required.push(("effective_leverage".to_owned(), "0.0".to_owned()));
        required.push(("snapshots".to_owned(), "[]".to_owned()));
        Schema {
            record_arrays: vec!["snapshots".to_owned()],
            required,
        }
    }

    fn sanitized_required(&self) -> Vec<(String, String)> {
        self.required
            .iter()
            .map(|(k, v)| {
                let value = if self.record_arrays.contains(k) {
                    sanitize_array_default(v)
                } else {
                    sanitize_default(v)
                };
                (k.clone(), value)
            })
            .collect()
    }
}

/// What a strict scan of the input proved, handed to [`rebuild`] so that the salvage does
/// not scan those bytes again: values it completed, and which of them follow one another
/// as elements of one array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skeleton {
    /// Byte ranges of the input, each exactly one valid JSON value (UTF-8, RFC 8259
    /// grammar plus Python's non-finite numbers), sorted by start, not overlapping.
    values: Vec<Range<usize>>,
    /// `sibling[i]`: `values[i + 1]` is the next element of the array holding
    /// `values[i]` (only whitespace and one comma lie between them).
    sibling: Vec<bool>,
    /// [`block_rewinds`] of the input, when the caller computed it.
    rewinds: Option<bool>,
}

/// Whether the text of `input` rewinds at a 4 KiB boundary (two writers' blocks
/// interleaved, see the module documentation): the salvage's first question, which reads
/// the whole input. A caller may ask it beside its own scan of the input and hand the
/// answer over ([`Skeleton::with_block_rewinds`]).
pub fn block_rewinds(input: &[u8]) -> bool {
    super::evidence::any_block_rewinds(input)
}

impl Skeleton {
    /// Values, nothing claimed about the bytes between them.
    pub fn values(mut values: Vec<Range<usize>>) -> Skeleton {
        values.sort_unstable_by_key(|r| r.start);
        let sibling = vec![false; values.len()];
        Skeleton {
            values,
            sibling,
            rewinds: None,
        }
    }

    /// Runs of consecutive elements of one array each: the elements in order, only
    /// whitespace and one comma between two elements of a run.
    pub fn runs(runs: impl IntoIterator<Item = Vec<Range<usize>>>) -> Skeleton {
        let mut tagged: Vec<(Range<usize>, bool)> = Vec::new();
        for run in runs {
            let n = run.len();
            tagged.extend(run.into_iter().enumerate().map(|(i, r)| (r, i + 1 < n)));
        }
        tagged.sort_by_key(|(r, _)| r.start);
        let (values, sibling) = tagged.into_iter().unzip();
        Skeleton {
            values,
            sibling,
            rewinds: None,
        }
    }

    /// The same, with [`block_rewinds`] of the input already answered.
    pub fn with_block_rewinds(mut self, rewinds: bool) -> Skeleton {
        self.rewinds = Some(rewinds);
        self
    }

    /// [`block_rewinds`] of the input, when the caller answered it.
    pub(crate) fn block_rewinds(&self) -> Option<bool> {
        self.rewinds
    }

    /// Sets (or forgets) the answer to [`block_rewinds`].
    pub(crate) fn set_block_rewinds(&mut self, rewinds: Option<bool>) {
        self.rewinds = rewinds;
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if it holds none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The index of the value starting at `start`, trying `hint` first.
    pub(crate) fn find(&self, start: usize, hint: usize) -> Option<usize> {
        match self.values.get(hint) {
            Some(r) if r.start == start => Some(hint),
            _ => self.values.binary_search_by_key(&start, |r| r.start).ok(),
        }
    }

    /// Value `i`.
    pub(crate) fn value(&self, i: usize) -> Option<&Range<usize>> {
        self.values.get(i)
    }

    /// Whether value `i + 1` is the next element of the array holding value `i`.
    pub(crate) fn sibling(&self, i: usize) -> bool {
        self.sibling.get(i).copied().unwrap_or(false)
    }
}

/// One record of the output and where its text lies in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRecord {
    /// Index into [`Schema::record_arrays`].
    pub array: usize,
    /// The record's bytes in the input: the output holds exactly `input[span]`.
    pub span: Range<usize>,
}

/// The result of [`salvage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    /// A valid JSON document of the shape (equal to the input when it was intact).
    pub document: Vec<u8>,
    /// What was kept, lost, restored and dropped.
    pub report: SalvageReport,
    /// Every record of `document`, in output order.
    pub records: Vec<KeptRecord>,
}

/// A salvage whose document is kept as pieces of the input it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The document: write it with [`Output::write_to`] or walk [`Output::chunks`],
    /// giving both the salvaged bytes.
    pub output: Output,
    /// What was kept, lost, restored and dropped.
    pub report: SalvageReport,
    /// Every record of the document, in output order.
    pub records: Vec<KeptRecord>,
    /// The document's top-level members, in order; each [`Member::Records`] holds the
    /// next records of `records`.
    pub members: Vec<Member>,
}

impl Rebuilt {
    /// The salvage with its document in one buffer; `input` is the salvaged bytes.
    pub fn into_salvaged(self, input: &[u8]) -> Salvaged {
        Salvaged {
            document: self.output.to_vec(input),
            report: self.report,
            records: self.records,
        }
    }
}

/// Salvages `input` as a document of `shape`. Never fails and never panics: the worst
/// case is the shape's empty document with a report that says what was lost.
pub fn salvage(input: &[u8], shape: &Schema) -> Salvaged {
    rebuild(input, shape, &Skeleton::default()).into_salvaged(input)
}

/// [`salvage`] when the caller already knows that each range of `valid` (sorted by start)
/// is exactly one valid JSON value (UTF-8, RFC 8259 grammar plus Python's non-finite
/// numbers), e.g. the records a strict parser completed before the damage: a record with
/// exactly such a range is neither scanned for its end nor validated again. The result is
/// [`salvage`]'s whenever that claim holds.
pub fn salvage_validated(input: &[u8], shape: &Schema, valid: &[Range<usize>]) -> Salvaged {
    rebuild(input, shape, &Skeleton::values(valid.to_vec())).into_salvaged(input)
}

/// [`salvage`] of `input` with what a strict scan proved about it (`skeleton`): the
/// values it completed are neither scanned for their end nor validated again, and runs of
/// elements it completed are taken whole, without reading their bytes. The document is
/// returned as pieces of `input` (nothing copied). The result is [`salvage`]'s whenever
/// the skeleton's claims hold.
pub fn rebuild(input: &[u8], shape: &Schema, skeleton: &Skeleton) -> Rebuilt {
    let scanned = scan(input, &shape.record_arrays, skeleton);
    let (emitted, report) = finish::<Output>(input, shape, &scanned);
    Rebuilt {
        output: emitted.document,
        report,
        records: kept(&emitted.records),
        members: emitted.members,
    }
}

/// The salvage as it is done without a hand-over: every value scanned and validated, the
/// document built in one buffer. The reference the faster paths are checked against.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn reference(input: &[u8], shape: &Schema) -> Salvaged {
    let scanned = scan(input, &shape.record_arrays, &Skeleton::default());
    let (emitted, report) = finish::<Vec<u8>>(input, shape, &scanned);
    Salvaged {
        records: kept(&emitted.records),
        document: emitted.document,
        report,
    }
}

fn finish<S: Sink>(
    input: &[u8],
    shape: &Schema,
    scanned: &ScanOut,
) -> (super::emit::Emitted<S>, SalvageReport) {
    let required = shape.sanitized_required();
    let scan_intact = is_intact(scanned);
    let (emitted, intact) = emit::<S>(input, scanned, &shape.record_arrays, &required, scan_intact);
    let report = build(
        input.len(),
        emitted.document.size(),
        scanned,
        &emitted,
        &shape.record_arrays,
        intact,
    );
    (emitted, report)
}

fn kept(records: &[(usize, super::lex::Span)]) -> Vec<KeptRecord> {
    records
        .iter()
        .map(|&(array, s)| KeptRecord {
            array,
            span: s.start..s.end,
        })
        .collect()
}

/// The spans of the records [`salvage`] keeps, for verbatim checks.
pub fn record_spans(input: &[u8], shape: &Schema) -> Vec<KeptRecord> {
    salvage(input, shape).records
}

fn is_intact(s: &ScanOut) -> bool {
    s.versions.len() == 1
        && s.versions.iter().all(|v| v.complete)
        && s.damage.is_empty()
        && s.lost_regions == 0
        && !s.bom
        && s.trailing_commas == 0
        && s.keys_lost.is_empty()
        && s.unplaced.is_empty()
        && s.repeated.is_empty()
        && s.entries.iter().all(|e| match &e.value {
            super::scan::EntryValue::Records(list) => list.lost == 0,
            super::scan::EntryValue::Raw(_) => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::report::Outcome;

    const A: &str =
        r#"{"symbol": "BTC-USDT", "entry_price": -3.519194, "size": 100.10, "order_id": "a"}"#;
    const B: &str = r#"{"symbol": "ETH-USDT", "entry_price": 1e-7, "volatility_snapshot": {"mfe_pct": 1.5}, "order_id": "b"}"#;
    const B_CLOSED: &str =
        r#"{"symbol": "ETH-USDT", "entry_price": 1e-7, "exit_price": 2.0, "order_id": "b"}"#;
    const C: &str =
        r#"{"symbol": "SOL-USDT", "exit_price": 2.5, "tags": [{"t": "x\"y"}], "order_id": "c"}"#;
    const D: &str =
        r#"{"symbol": "ADA-USDT", "exit_price": 0.30, "note": "caf\u00e9", "order_id": "d"}"#;

    fn doc(open: &[&str], closed: &[&str]) -> String {
        format!(
            "{{\n  \"open_positions\": [\n    {}\n  ],\n  \"closed_positions\": [\n    {}\n  ],\n  \"created_at\": \"2026-01-01T00:00:00\"\n}}",
            open.join(",\n    "),
            closed.join(",\n    ")
        )
    }

    fn full() -> String {
        doc(&[A, B], &[C, D])
    }

    fn pos(hay: &str, needle: &str) -> usize {
        hay.find(needle).unwrap_or(usize::MAX)
    }

    fn texts(input: &[u8], s: &Salvaged, array: usize) -> Vec<String> {
        s.records
            .iter()
            .filter(|r| r.array == array)
            .map(|r| {
                String::from_utf8_lossy(input.get(r.span.clone()).unwrap_or_default()).into_owned()
            })
            .collect()
    }

    fn overwrite(base: &str, at: usize, len: usize, byte: u8) -> Vec<u8> {
        let mut v = base.as_bytes().to_vec();
        for b in v.iter_mut().skip(at).take(len) {
            *b = byte;
        }
        v
    }

    struct Case {
        name: &'static str,
        input: Vec<u8>,
        outcome: Outcome,
        open: Vec<&'static str>,
        closed: Vec<&'static str>,
        unplaced: u64,
    }

    fn cases() -> Vec<Case> {
        let f = full();
        let b_mid = pos(&f, "volatility_snapshot");
        let d_mid = pos(&f, "ADA-USDT");
        let header = pos(&f, "],\n  \"closed_positions\"");
        let c_start = pos(&f, C);
        let mut concat = f.clone().into_bytes();
        concat.extend_from_slice(doc(&[A], &[C, D, B_CLOSED]).as_bytes());
        let mut cut_then_full = f.as_bytes().get(..b_mid).unwrap_or_default().to_vec();
        cut_then_full.extend_from_slice(doc(&[A], &[C, D, B_CLOSED]).as_bytes());
        let mut nul_tail = f.clone().into_bytes();
        nul_tail.extend_from_slice(&[0u8; 4096]);
        let mut bom_crlf = b"\xEF\xBB\xBF".to_vec();
        bom_crlf.extend_from_slice(f.replace('\n', "\r\n").as_bytes());
        vec![
            Case {
                name: "intact",
                input: f.clone().into_bytes(),
                outcome: Outcome::Intact,
                open: vec![A, B],
                closed: vec![C, D],
                unplaced: 0,
            },
            Case {
                name: "truncated mid-record",
                input: f.as_bytes().get(..b_mid).unwrap_or_default().to_vec(),
                outcome: Outcome::Lossy,
                open: vec![A],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "truncated in the last array",
                input: f.as_bytes().get(..d_mid).unwrap_or_default().to_vec(),
                outcome: Outcome::Lossy,
                open: vec![A, B],
                closed: vec![C],
                unplaced: 0,
            },
            Case {
                name: "NUL tail after the document",
                input: nul_tail,
                outcome: Outcome::Repaired { lossless: false },
                open: vec![A, B],
                closed: vec![C, D],
                unplaced: 0,
            },
            Case {
                name: "NUL tail over the end",
                input: overwrite(&f, d_mid, usize::MAX, 0),
                outcome: Outcome::Lossy,
                open: vec![A, B],
                closed: vec![C],
                unplaced: 0,
            },
            Case {
                name: "garbage in a record",
                input: overwrite(&f, b_mid, 10, 0xFF),
                outcome: Outcome::Lossy,
                open: vec![A],
                closed: vec![C, D],
                unplaced: 0,
            },
            // D is unplaced; so is the object nested in C's `tags` array: after damage the
            // report counts generously rather than miss a record
            Case {
                name: "garbage over the closed header",
                input: overwrite(&f, header, c_start + 10 - header, 0x01),
                outcome: Outcome::Lossy,
                open: vec![A, B],
                closed: vec![],
                unplaced: 2,
            },
            Case {
                name: "second document appended",
                input: concat,
                outcome: Outcome::Ambiguous,
                open: vec![A, B],
                closed: vec![C, D, B_CLOSED],
                unplaced: 0,
            },
            Case {
                name: "truncated then full",
                input: cut_then_full,
                outcome: Outcome::Ambiguous,
                open: vec![A],
                closed: vec![C, D, B_CLOSED],
                unplaced: 0,
            },
            Case {
                name: "trailing commas",
                input: f
                    .replace("\n  ],", ",\n  ],")
                    .replace("\"\n}", "\",\n}")
                    .into_bytes(),
                outcome: Outcome::Repaired { lossless: true },
                open: vec![A, B],
                closed: vec![C, D],
                unplaced: 0,
            },
            Case {
                name: "BOM and CRLF",
                input: bom_crlf,
                outcome: Outcome::Repaired { lossless: true },
                open: vec![A, B],
                closed: vec![C, D],
                unplaced: 0,
            },
            Case {
                name: "invalid UTF-8 in a record",
                input: overwrite(&f, b_mid + 2, 1, 0xC3),
                outcome: Outcome::Lossy,
                open: vec![A],
                closed: vec![C, D],
                unplaced: 0,
            },
            Case {
                name: "duplicate key",
                input: br#"{"open_positions": [], "open_positions": [], "closed_positions": []}"#
                    .to_vec(),
                outcome: Outcome::Ambiguous,
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "record array not an array",
                input: br#"{"open_positions": null, "closed_positions": []}"#.to_vec(),
                outcome: Outcome::Lossy,
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "empty",
                input: Vec::new(),
                outcome: Outcome::Repaired { lossless: true },
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "null",
                input: b"null\n".to_vec(),
                outcome: Outcome::Repaired { lossless: true },
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "empty object",
                input: b"{}".to_vec(),
                outcome: Outcome::Repaired { lossless: true },
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
            Case {
                name: "garbage only",
                input: b"\xFF\xFE garbage".to_vec(),
                outcome: Outcome::Lossy,
                open: vec![],
                closed: vec![],
                unplaced: 0,
            },
        ]
    }

    #[test]
    fn corruption_kinds() {
        let shape = Schema::positions();
        for case in cases() {
            let s = salvage(&case.input, &shape);
            let name = case.name;
            assert_eq!(
                s.report.outcome, case.outcome,
                "case: {name}: {:#?}",
                s.report
            );
            assert_eq!(texts(&case.input, &s, 0), case.open, "case: {name}");
            assert_eq!(texts(&case.input, &s, 1), case.closed, "case: {name}");
            assert_eq!(s.report.records_unplaced, case.unplaced, "case: {name}");
            assert!(
                crate::salvage::lex::is_valid_json(&s.document),
                "case: {name}"
            );
            let again = salvage(&s.document, &shape);
            assert_eq!(again.report.outcome, Outcome::Intact, "case: {name}");
            assert_eq!(again.document, s.document, "case: {name}");
            if case.outcome == Outcome::Intact {
                assert_eq!(s.document, case.input, "case: {name}");
            }
        }
    }

    #[test]
    fn summary_line() {
        let f = full();
        let s = salvage(
            f.as_bytes()
                .get(..pos(&f, "volatility_snapshot"))
                .unwrap_or_default(),
            &Schema::positions(),
        );
        let want = format!(
            "salvaged 1 record, lost at least 1 record and {} bytes, not counting records past the cut",
            s.report.bytes_lost
        );
        assert_eq!(s.report.summary(), want);
        let dup = salvage(
            br#"{"open_positions": [], "open_positions": []}"#,
            &Schema::positions(),
        );
        assert!(
            dup.report.summary().ends_with("(ambiguous: 2 versions)"),
            "{}",
            dup.report.summary()
        );
    }

    /// Python's non-finite numbers are values: a document holding them is intact, and
    /// the records holding them survive damage verbatim like any other.
    #[test]
    fn python_non_finite_numbers_are_kept() {
        let nan =
            r#"{"symbol": "BTC-USDT", "entry_price": 2.5, "mtf_alignment": NaN, "order_id": "n"}"#;
        let inf = r#"{"symbol": "ETH-USDT", "s": [Infinity, -Infinity], "order_id": "i"}"#;
        let f = doc(&[nan, A, inf], &[C]);
        let s = salvage(f.as_bytes(), &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Intact);
        assert_eq!(s.document, f.as_bytes());
        for cut in ["ofi_score", "Infinity, -Inf", "Na"] {
            let text = f.replacen("\"order_id\": \"i\"", &format!("\"x\": {cut}"), 1);
            let at = text.rfind(cut).map_or(0, |p| p + cut.len());
            let input = text.as_bytes().get(..at).unwrap_or_default();
            let s = salvage(input, &Schema::positions());
            assert_eq!(texts(input, &s, 0), [nan, A], "cut after {cut}");
            assert_eq!(s.report.outcome, Outcome::Lossy);
        }
    }

    #[test]
    fn nested_header_inside_a_valid_document_is_content() {
        let input =
            br#"{"open_positions": [{"x": {"open_positions": [1]}}], "closed_positions": []}"#;
        let s = salvage(input, &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Intact);
        assert_eq!(s.records.len(), 1);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut deep = b"{\"open_positions\": [".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 1_000_000));
        let s = salvage(&deep, &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Lossy);
        assert_eq!(s.report.records_lost, 1);
        let bare = vec![b'['; 1_000_000];
        let s = salvage(&bare, &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Lossy);
        let mut balanced = b"{\"open_positions\": [".to_vec();
        balanced.extend(std::iter::repeat_n(b'[', 100_000));
        balanced.extend(std::iter::repeat_n(b']', 100_000));
        balanced.extend_from_slice(b"], \"closed_positions\": []}");
        let s = salvage(&balanced, &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Intact);
    }

    #[test]
    fn interleaved_blocks_are_ambiguous() {
        let recs: Vec<String> = (0..80)
            .map(|i| format!(r#"{{"symbol": "S{i}", "entry_price": {i}.10, "order_id": "o{i}"}}"#))
            .collect();
        let refs: Vec<&str> = recs.iter().map(String::as_str).collect();
        let v1 = doc(refs.get(1..).unwrap_or_default(), &[]);
        let v2 = doc(&refs, &[]);
        let (a, b) = (v1.as_bytes(), v2.as_bytes());
        let mut mixed = Vec::new();
        for (i, start) in (0..a.len().max(b.len())).step_by(4096).enumerate() {
            let src = if i % 2 == 0 { a } else { b };
            mixed.extend_from_slice(
                src.get(start..(start + 4096).min(src.len()))
                    .unwrap_or_default(),
            );
        }
        let s = salvage(&mixed, &Schema::positions());
        assert_eq!(s.report.outcome, Outcome::Ambiguous, "{:#?}", s.report);
        for t in texts(&mixed, &s, 0) {
            assert!(recs.contains(&t), "invented: {t}");
        }
    }
}
