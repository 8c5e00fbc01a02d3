//! The tolerant scan on hand-made inputs: version evidence, damage kinds, and records
//! kept or reported unplaced around damage.

use super::out::{DamageKind, EntryValue, VersionReason};
use crate::salvage::api::Skeleton;

use super::*;

fn keys() -> Vec<String> {
    vec!["open_positions".into(), "closed_positions".into()]
}

fn reasons(input: &str) -> Vec<VersionReason> {
    scan(input.as_bytes(), &keys(), &Skeleton::default())
        .versions
        .iter()
        .map(|v| v.reason)
        .collect()
}

#[test]
fn version_evidence() {
    use VersionReason::*;
    let cases: &[(&str, &[VersionReason])] = &[
        (r#"{"open_positions": []}"#, &[First]),
        (
            r#"{"open_positions": []}{"open_positions": []}"#,
            &[First, SecondDocument],
        ),
        (
            "{\"open_positions\": []}\n{\"a\": 1}",
            &[First, SecondDocument],
        ),
        (
            r#"{"open_positions": [{"a": 1}, {"b{"open_positions": []}"#,
            &[First, SecondDocument],
        ),
        (
            r#"{"open_positions": [], "open_positions": []}"#,
            &[First, RepeatedKey],
        ),
        (
            r#"{"open_positions": [{"a": 1}], "x": "y" garbage, "open_positions": [] }"#,
            &[First, RepeatedKey],
        ),
        // garbage before the first document is not a version
        ("\u{1}\u{1}{\"open_positions\": []}", &[First]),
    ];
    for (input, want) in cases {
        assert_eq!(reasons(input), *want, "input: {input}");
    }
}

#[test]
fn damage_kinds() {
    let cases: &[(&[u8], &[DamageKind])] = &[
        (
            b"{\"open_positions\": [{\"a\": 1}, {\"b\"",
            &[DamageKind::Truncated],
        ),
        (b"{\"open_positions\": []}\0\0\0", &[DamageKind::Padding]),
        (b"{\"open_positions\": []} junk", &[DamageKind::Invalid]),
        (
            b"{\"open_positions\": [{\"a\": \xff}, {\"b\": 2}]}",
            &[DamageKind::Invalid],
        ),
    ];
    for (input, want) in cases {
        let kinds: Vec<DamageKind> = scan(input, &keys(), &Skeleton::default())
            .damage
            .iter()
            .map(|d| d.kind)
            .collect();
        assert_eq!(kinds, *want, "input: {input:?}");
    }
}

fn kept_and_unplaced(input: &[u8]) -> (Vec<&[u8]>, Vec<&[u8]>) {
    kept_and_unplaced_with(input, &Skeleton::default())
}

fn kept_and_unplaced_with<'a>(
    input: &'a [u8],
    skeleton: &Skeleton,
) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
    let out = scan(input, &keys(), skeleton);
    let kept = out
        .entries
        .iter()
        .filter_map(|e| match &e.value {
            EntryValue::Records(l) => Some(l.records.iter().map(|s| s.of(input))),
            EntryValue::Raw(_) => None,
        })
        .flatten()
        .collect();
    let unplaced = out.unplaced.iter().map(|s| s.of(input)).collect();
    (kept, unplaced)
}

/// A skeleton of runs gives the scan without one: a run is taken whole up to a record
/// holding an anchor-like key (which the scan takes for damage), and a record that does
/// not end cleanly is checked where the run ends.
#[test]
fn proven_runs_give_the_same_scan() {
    let inputs: &[&[u8]] = &[
        b"{\"open_positions\": [{\"a\": 1}, {\"x\": {\"closed_positions\": [1]}}, {\"b\": 2}, {\"c\": 3",
        b"{\"open_positions\": [{\"a\": 1}, {\"b\": 2}, {\"c\": 3} x, {\"d\": 4}]}",
        b"{\"open_positions\": [{\"a\": 1}, {\"b\": 2}], \"closed_positions\": [{\"c\": 3}, {\"d\": 4}]} {",
    ];
    for input in inputs {
        let runs = crate::jsondoc::record_runs(
            input,
            &crate::jsondoc::Spec {
                record_arrays: &keys(),
                ..crate::jsondoc::Spec::default()
            },
        );
        assert!(runs.iter().any(|r| r.len() > 1), "{runs:?}");
        let plain = kept_and_unplaced(input);
        let with = kept_and_unplaced_with(input, &Skeleton::runs(runs));
        assert_eq!(with, plain, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn records_after_damage_are_placed_only_when_proven() {
    let a: &[u8] = b"{\"a\": 1}";
    let b: &[u8] = b"{\"b\": 2}";
    let c: &[u8] = b"{\"c\": 3}";
    let d: &[u8] = b"{\"a\": 4}";
    type Case<'c> = (&'c [u8], Vec<&'c [u8]>, Vec<&'c [u8]>);
    let cases: Vec<Case> = vec![
        // the next header follows: b is proven to be in open_positions
        (
            b"{\"open_positions\": [{\"a\": 1}, \xff\xff, {\"b\": 2}], \"closed_positions\": [{\"c\": 3}]}",
            vec![a, b, c],
            vec![],
        ),
        // the closed header may be in the garbage: b's array is unknown
        (
            b"{\"open_positions\": [{\"a\": 1}, \xff\xff, {\"b\": 2}]}",
            vec![a],
            vec![b],
        ),
        // the end of the last array and of the document follow, and d looks like the
        // records kept before: d is proven
        (
            b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"a\": 4}], \"t\": 1}",
            vec![a, d],
            vec![],
        ),
        // the same, but c does not look like the records kept: it may be nested
        (
            b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"c\": 3}], \"t\": 1}",
            vec![a],
            vec![c],
        ),
        // a record repeated from before the damage: maybe another version, not placed
        (
            b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"a\": 1}]}",
            vec![a],
            vec![],
        ),
    ];
    for (input, kept, unplaced) in cases {
        let got = kept_and_unplaced(input);
        assert_eq!(
            got,
            (kept, unplaced),
            "input: {}",
            String::from_utf8_lossy(input)
        );
    }
}
