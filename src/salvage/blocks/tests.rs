//! Placement by blocks on generated interleaved files, and the rule on hand-made header
//! layouts.

use super::judge::Judge;
use super::layout::indent_unit;
use super::owners::Owners;
use super::place::place;
use crate::salvage::evidence::BLOCK;
use crate::salvage::lex::Span;

use super::*;
use crate::salvage::fuzzing::{check_spec, corrupted_bytes, Corruption, Layout};
use crate::salvage::fuzzing::{Rec, Second, Spec};
use crate::salvage::{salvage, Outcome, Schema};

fn recs(from: u32, n: u32) -> Vec<Rec> {
    Rec::series(from, n)
}

fn spec(n_open: u32, n_closed: u32, second: Second, pretty: bool) -> Spec {
    Spec {
        open: recs(1, n_open),
        closed: recs(1 + n_open, n_closed),
        layout: Layout {
            pretty,
            ..Layout::default()
        },
        corruption: Corruption::Interleave {
            block: 4096,
            second,
        },
    }
}

fn edits(close_first: bool, open_one: bool, edits: u8) -> Second {
    Second {
        close_first,
        open_one,
        layout_bits: 0,
        edits,
    }
}

/// Kept records per array, after checking every one against its block's version.
fn kept(spec: &Spec) -> [usize; 2] {
    if let Err(e) = check_spec(spec) {
        panic!("{e}\nspec: {spec:?}");
    }
    let s = salvage(&corrupted_bytes(spec), &Schema::positions());
    assert_eq!(s.report.outcome, Outcome::Ambiguous);
    assert!(s.report.interleaved);
    let n = |a: usize| s.records.iter().filter(|r| r.array == a).count();
    [n(0), n(1)]
}

#[test]
fn versions_differing_around_the_header() {
    // every kept record is checked against its block's version by `kept`; here, how
    // many there are: (what the second writer did, least kept in open and closed)
    let cases: &[(&str, Second, [usize; 2])] = &[
        ("a new open one first", edits(false, false, 4), [6, 50]),
        (
            "the first open one closed (moved)",
            edits(true, false, 0),
            [6, 50],
        ),
        (
            "one opened before the header, the first closed one dropped after it",
            edits(false, true, 1),
            [6, 1],
        ),
        (
            "a new closed one right after the header",
            edits(false, false, 2),
            [6, 50],
        ),
        (
            "the first closed one dropped",
            edits(false, false, 1),
            [6, 1],
        ),
        (
            "the last closed one moved to the front",
            edits(false, false, 8),
            [6, 1],
        ),
        (
            "new open and closed ones first, the first open one closed",
            edits(true, true, 2 | 4),
            [6, 50],
        ),
    ];
    for (name, second, least) in cases {
        let got = kept(&spec(6, 120, *second, true));
        assert!(
            got[0] >= least[0] && got[1] >= least[1],
            "case: {name}: kept {got:?}"
        );
        // more open records: the headers land in other blocks; still nothing misplaced
        kept(&spec(25, 120, *second, true));
    }
}

#[test]
fn headers_in_the_last_partial_block_are_seen() {
    // the shorter version ends in the last block, which the input does not fill: its
    // closed header there must be seen, or its last open records would be taken for
    // closed ones (the hidden-header reasoning would put the header before them)
    for n in 100..150 {
        let spec = spec(n, 0, edits(false, false, 4), true);
        kept(&spec);
    }
}

#[test]
fn a_record_array_key_off_the_layout_places_nothing() {
    let spec = spec(6, 120, edits(true, false, 4), true);
    let bytes = corrupted_bytes(&spec);
    let arrays = &Schema::positions().record_arrays;
    assert!(!place(&bytes, 0, arrays).records.is_empty());
    // the same header, the same length, off the layout: indented by one space, by a
    // tab, or on the line that closes the array before it
    let header: &[u8] = b"\n  ],\n  \"closed_positions\": [";
    let variants: [&[u8]; 3] = [
        b"\n  ],\n \"closed_positions\":  [",
        b"\n  ],\n\t\"closed_positions\":  [",
        b"\n  ], \"closed_positions\":   [",
    ];
    let Some(i) = memchr::memmem::find(&bytes, header) else {
        panic!("no closed header in the first version");
    };
    for v in variants {
        assert_eq!(v.len(), header.len());
        let mut off = bytes.clone();
        off.splice(i..i + header.len(), v.iter().copied());
        assert!(place(&off, 0, arrays).records.is_empty(), "{v:?}");
    }
}

#[test]
fn compact_text_is_not_placed_by_blocks() {
    let spec = spec(6, 120, edits(true, false, 4), false);
    let bytes = corrupted_bytes(&spec);
    assert!(place(&bytes, 0, &Schema::positions().record_arrays)
        .records
        .is_empty());
    kept(&spec);
}

fn judge_of<'l>(layouts: &'l [Visible; 2], rank: &'l [usize]) -> Judge<'l> {
    Judge {
        layouts,
        rank,
        owners: Owners::ByBlock,
        end: 100_000,
    }
}

fn visible(headers: &[(usize, usize)]) -> Visible {
    Visible {
        headers: headers
            .iter()
            .map(|&(a, p)| (a, Span::new(p, p + 10)))
            .collect(),
        valid: true,
    }
}

#[test]
fn hidden_headers_leave_records_unplaced() {
    let b = BLOCK;
    // version 0 (even blocks): both headers visible; version 1: only its closed one
    let full = [
        visible(&[(0, 10), (1, 6 * b + 100)]),
        visible(&[(1, 5 * b + 100)]),
    ];
    // version 0 sees only its open header
    let partial = [visible(&[(0, 10)]), visible(&[])];
    let rank = [0, 1];
    let cases: &[(&[Visible; 2], usize, usize, Option<usize>)] = &[
        (&full, 0, 500, Some(0)),
        (&full, 0, 2 * b + 10, Some(0)),
        (&full, 0, 8 * b, Some(1)),
        // before its visible closed header: only the open header can precede
        (&full, 1, b + 100, Some(0)),
        (&full, 1, 5 * b + 500, Some(1)),
        // the closed header may hide in any odd block before the record
        (&partial, 0, 2 * b + 5, None),
        // ... but not in the same block as the open header
        (&partial, 0, 100, Some(0)),
        (&partial, 1, 3 * b, None),
    ];
    for (layouts, version, s, want) in cases {
        let got = judge_of(layouts, &rank).only(*version, *s);
        assert_eq!(got, *want, "version {version} at {s}");
    }
}

#[test]
fn owners_past_the_shorter_end() {
    let b = BLOCK;
    let cut = Owners::Cut {
        short: 1,
        end: 3 * b + 10,
    };
    assert_eq!(cut.of(3 * b + 5), 1);
    assert_eq!(cut.of(3 * b + 11), 0);
    assert_eq!(cut.of(5 * b), 0);
    // past the shorter end every byte is version 0's: inside one block nothing hides,
    // but a header across a block boundary is never read, so it may be unseen
    assert!(!cut.hidden_between(0, 4 * b + 10, 5 * b - 10));
    assert!(cut.hidden_between(0, 4 * b, 6 * b));
    assert!(cut.hidden_between(0, 2 * b, 4 * b));
    assert!(cut.hidden_between(1, b + 1, 3 * b + 100));
    assert!(!cut.hidden_between(1, b + 1, b + 100));
}

#[test]
fn indentation_unit() {
    let cases: &[(&[u8], Option<usize>)] = &[
        (b"{\n  \"a\": 1}", Some(2)),
        (b"{\r\n    \"a\": 1}", Some(4)),
        (b"{\"a\": 1}", None),
        (b"{\n\"a\": 1}", None),
        (b"[\n  1]", None),
    ];
    for (input, want) in cases {
        assert_eq!(indent_unit(input, 0), *want, "input: {input:?}");
    }
}
