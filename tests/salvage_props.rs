//! Property tests of the JSON salvage: generated positions files (unique `order_id`s,
//! tricky numbers, Python's `NaN`/`Infinity`/`-Infinity`, nested objects, escapes) under
//! every corruption kind, checked with the
//! same functions the fuzz targets use (`selfheal::salvage::fuzzing`).

#![cfg(feature = "fuzzing")]

use proptest::prelude::*;
use selfheal::salvage::fuzzing::{
    check_bytes, check_salvage, check_spec, Corruption, Layout, Rec, Second, Spec,
};
use selfheal::salvage::{salvage, Outcome, Schema};

fn rec() -> impl Strategy<Value = Rec> {
    any::<[u8; 5]>().prop_map(|b| Rec {
        id: 0,
        symbol: b[0],
        price: b[1],
        size: b[2],
        leverage: b[3],
        extras: b[4],
    })
}

fn layout() -> impl Strategy<Value = Layout> {
    any::<u8>().prop_map(|bits| Layout {
        pretty: bits & 1 == 0,
        crlf: bits & 2 != 0,
        trailing_commas: bits & 4 != 0,
        bom: bits & 8 != 0,
        created_first: bits & 16 != 0,
    })
}

fn second() -> impl Strategy<Value = Second> {
    (any::<bool>(), any::<bool>(), any::<u8>(), any::<u8>()).prop_map(
        |(close_first, open_one, layout_bits, edits)| Second {
            close_first,
            open_one,
            layout_bits,
            edits,
        },
    )
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        Just(Corruption::None),
        any::<u32>().prop_map(|at| Corruption::Truncate { at }),
        (any::<u32>(), 0u16..5000).prop_map(|(at, extend)| Corruption::NulTail { at, extend }),
        (any::<u32>(), 1u16..600, any::<u8>()).prop_map(|(at, len, seed)| Corruption::Garbage {
            at,
            len,
            seed
        }),
        (prop::collection::vec(any::<u32>(), 1..4), any::<u8>())
            .prop_map(|(at, seed)| Corruption::Flip { at, seed }),
        (prop::option::of(any::<u32>()), any::<bool>(), second()).prop_map(
            |(cut, newline, second)| Corruption::Append {
                cut,
                newline,
                second
            }
        ),
        (16u16..4112, second())
            .prop_map(|(block, second)| Corruption::Interleave { block, second }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(rec(), 0..6),
        prop::collection::vec(rec(), 0..6),
        layout(),
        corruption(),
    )
        .prop_map(|(mut open, mut closed, layout, corruption)| {
            for (i, r) in open.iter_mut().chain(closed.iter_mut()).enumerate() {
                r.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
            Spec {
                open,
                closed,
                layout,
                corruption,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Every corruption of a valid positions file: output records are verbatim originals
    /// in their own array; every record outside the damage survives (kept, or unplaced
    /// after the damage); idempotence; the outcome fits the corruption.
    #[test]
    fn corrupted_positions_files(spec in spec()) {
        if let Err(e) = check_spec(&spec) {
            return Err(TestCaseError::fail(format!("{e}\nspec: {spec:?}")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Arbitrary bytes: no panic, valid output, idempotence, verbatim records.
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = check_salvage(&data) {
            return Err(TestCaseError::fail(format!("{e}\ninput: {data:?}")));
        }
    }

    /// JSON-ish text (structural bytes, quotes, the record-array keys): the same invariants
    /// where the scanner's grammar is exercised far more than by random bytes.
    #[test]
    fn json_like_text(parts in prop::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\""),
        Just("\"open_positions\": ["), Just("\"closed_positions\":["), Just("{\"a\": 1}"),
        Just("\\"), Just("1.50"), Just("\u{0}"), Just("\u{ff}"), Just(" "), Just("\n"),
        Just("NaN"), Just("Infinity"), Just("-Infinity"), Just("Na"), Just("-Inf"),
        Just("{\"s\": NaN}"), Just("{\"s\": [-Infinity]}"),
    ], 0..60)) {
        let text = parts.concat();
        if let Err(e) = check_bytes(text.as_bytes(), &Schema::positions()) {
            return Err(TestCaseError::fail(format!("{e}\ninput: {text:?}")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A valid document of the shape is returned byte for byte.
    #[test]
    fn valid_documents_are_intact(spec in spec()) {
        let doc = spec.first();
        let mut bytes = doc.bytes.clone();
        if spec.layout.bom || spec.layout.trailing_commas {
            return Ok(());
        }
        bytes.extend_from_slice(b"\n");
        let s = salvage(&bytes, &Schema::positions());
        prop_assert_eq!(s.report.outcome, Outcome::Intact);
        prop_assert_eq!(s.document, bytes);
    }
}

/// Positions files of several 4 KiB blocks, two writers' versions interleaved block by
/// block: the second version has records inserted, removed or moved before and after
/// the closed header.
fn interleaved_spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(rec(), 1..40),
        prop::collection::vec(rec(), 1..140),
        layout(),
        second(),
    )
        .prop_map(|(mut open, mut closed, mut layout, second)| {
            for (i, r) in open.iter_mut().chain(closed.iter_mut()).enumerate() {
                r.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
            // mostly pretty-printed, as the bot writes it
            layout.pretty = layout.pretty || !layout.crlf;
            Spec {
                open,
                closed,
                layout,
                corruption: Corruption::Interleave {
                    block: 4096,
                    second,
                },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Two versions interleaved in 4 KiB blocks: every kept record lies inside one block,
    /// in bytes of one version, which has exactly that record in exactly that array;
    /// idempotence and verbatim records as always.
    #[test]
    fn interleaved_positions_files(spec in interleaved_spec()) {
        if let Err(e) = check_spec(&spec) {
            return Err(TestCaseError::fail(format!("{e}\nspec: {spec:?}")));
        }
    }
}
