//! The account of a salvage: what was kept, lost, restored and dropped, as plain
//! serialisable data plus a one-line human summary. It is built from the scan and the
//! emitted document and never looks at the input again except through byte offsets.
//!
//! Invariant: `records_lost` counts every record whose start was seen but which is not in
//! the output (cut or invalid records of a known array, plus unplaced records); records
//! repeated across versions and kept once are `records_merged`, not lost; bytes of garbage
//! or padding are counted in `bytes_lost` only. Records nobody can see are not counted:
//! those past the end of a truncated input and those whose bytes damage overwrote inside a
//! document. Whenever such records may exist, `records_lost_is_lower_bound` is set and the
//! summary says "at least".

use serde::Serialize;

use super::emit::Emitted;
use super::scan::{DamageKind, ScanOut, VersionReason};

/// How the output relates to the input, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The input is already a valid document of the shape; the output is the input.
    Intact,
    /// A new document was written. `lossless`: every byte of content was kept and only
    /// form was fixed (a BOM, trailing commas, restored missing keys). Not lossless: in
    /// addition, bytes that follow a complete document and hold no record (NUL padding,
    /// junk) were dropped.
    Repaired {
        /// Nothing but form changed.
        lossless: bool,
    },
    /// Something that may have been content is gone: a record or key was lost, the
    /// document was truncated, or bytes inside it were damaged.
    Lossy,
    /// More than one version of the document was found; the output merges them and a
    /// record may be open in one version and closed in another.
    Ambiguous,
}

/// What happened to one record array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArrayReport {
    /// The record array's top-level key.
    pub key: String,
    /// Records in the output.
    pub kept: u64,
    /// Records of this array that were cut or invalid.
    pub lost: u64,
}

/// A byte range of the input, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What a damaged range looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// Bytes that break the document (garbage, a cut record, a splice).
    Invalid,
    /// The input ends inside a document.
    Truncated,
    /// Only NUL bytes and whitespace (a file extended but never written).
    Padding,
}

/// One damaged range of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DamagedRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// What the bytes look like.
    pub kind: Damage,
    /// True if the range follows a complete document (nothing inside a document was hit).
    pub after_document: bool,
}

/// Why the scanner decided that a new version of the document starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionEvidence {
    /// The first version.
    First,
    /// A second top-level `{` after a document, or a document header after damage.
    SecondDocument,
    /// A top-level key seen twice in one object.
    RepeatedKey,
    /// A damaged region holding records identical to records already kept.
    RepeatedRecords,
    /// Text after a 4 KiB boundary that repeats text just before it (interleaved writers).
    RepeatedText,
}

/// One version of the document found in the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionReport {
    /// Byte offset where the version starts.
    pub start: u64,
    /// True if its closing `}` is in the input.
    pub complete: bool,
    /// Why it counts as a version.
    pub evidence: VersionEvidence,
}

/// Form repairs that lose nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FormRepairs {
    /// A UTF-8 byte order mark before the document was dropped.
    pub bom_removed: bool,
    /// Commas before `]` or `}` that were dropped.
    pub trailing_commas_removed: u64,
}

/// The full account of one salvage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalvageReport {
    /// How the output relates to the input.
    pub outcome: Outcome,
    /// Length of the input.
    pub input_bytes: u64,
    /// Length of the output document.
    pub output_bytes: u64,
    /// One entry per record array of the shape, in shape order.
    pub arrays: Vec<ArrayReport>,
    /// Records in the output.
    pub records_kept: u64,
    /// Records seen but not kept, including `records_unplaced`.
    pub records_lost: u64,
    /// True when more records may be lost than `records_lost` counts: the input is cut
    /// (records past the cut are not seen) or bytes inside a document are damaged (records
    /// they overwrote are not seen).
    pub records_lost_is_lower_bound: bool,
    /// Intact records found where their array could not be known; not in the output.
    pub records_unplaced: u64,
    /// Records identical across versions, kept once.
    pub records_merged: u64,
    /// Bytes of the input in damaged ranges.
    pub bytes_lost: u64,
    /// Top-level keys copied from the input, in output order.
    pub keys_kept: Vec<String>,
    /// Top-level keys whose value was damaged (or of the wrong type) and not kept.
    pub keys_lost: Vec<String>,
    /// Required keys that were missing and written with their default.
    pub keys_restored: Vec<String>,
    /// The versions of the document found, in input order.
    pub versions: Vec<VersionReport>,
    /// Damaged byte ranges, in input order.
    pub damaged: Vec<DamagedRange>,
    /// Byte ranges of the unplaced records.
    pub unplaced: Vec<ByteRange>,
    /// Repairs of form that lose nothing.
    pub repairs: FormRepairs,
    /// The input ends inside a document.
    pub truncated: bool,
    /// Text repeats across a 4 KiB boundary (two writers' blocks interleaved): only records
    /// inside one block were kept, placed by the headers of the writer of that block.
    pub interleaved: bool,
}

impl SalvageReport {
    /// `salvaged N records, lost M records and K bytes`; `lost at least M records and K
    /// bytes, not counting records past the cut` when the count is a lower bound; plus
    /// ` (ambiguous: V versions)` when more than one version was found.
    pub fn summary(&self) -> String {
        let at_least = if self.records_lost_is_lower_bound {
            "at least "
        } else {
            ""
        };
        use crate::text::count;
        let mut line = format!(
            "salvaged {}, lost {at_least}{} and {}",
            count(self.records_kept, "record", "records"),
            count(self.records_lost, "record", "records"),
            count(self.bytes_lost, "byte", "bytes")
        );
        if let Some(why) = self.uncounted() {
            line.push_str(&format!(", not counting records {why}"));
        }
        if self.outcome == Outcome::Ambiguous {
            let versions = count(self.versions.len(), "version", "versions");
            line.push_str(&format!(" (ambiguous: {versions})"));
        }
        line
    }

    /// Where records may be lost uncounted, in words.
    fn uncounted(&self) -> Option<&'static str> {
        let overwritten = self
            .damaged
            .iter()
            .any(|d| !d.after_document && d.kind != Damage::Truncated);
        match (self.truncated, overwritten) {
            (true, true) => Some("past the cut or inside damaged bytes"),
            (true, false) => Some("past the cut"),
            (false, true) => Some("inside damaged bytes"),
            (false, false) => None,
        }
    }

    /// True if nothing of content was lost and only one version exists.
    pub fn is_lossless(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Intact | Outcome::Repaired { lossless: true }
        )
    }
}

fn u(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Builds the report; `intact` is decided by the caller from the scan.
pub(crate) fn build<S>(
    input_len: usize,
    output_len: usize,
    scan: &ScanOut,
    emitted: &Emitted<S>,
    record_keys: &[String],
    intact: bool,
) -> SalvageReport {
    let arrays = array_reports(scan, emitted, record_keys);
    let array_lost: u64 = arrays.iter().map(|a| a.lost).sum();
    let unplaced = u(scan.unplaced.len());
    let keys_lost: Vec<String> = scan
        .keys_lost
        .iter()
        .filter(|k| !emitted.keys_kept.contains(k))
        .fold(Vec::new(), |mut acc, k| {
            if !acc.contains(k) {
                acc.push(k.clone());
            }
            acc
        });
    let versions = version_reports(scan);
    let mut report = SalvageReport {
        outcome: Outcome::Intact,
        input_bytes: u(input_len),
        output_bytes: u(output_len),
        records_kept: u(emitted.records.len()),
        records_lost: array_lost + unplaced,
        records_lost_is_lower_bound: false,
        records_unplaced: unplaced,
        records_merged: emitted.merged + u(scan.repeated.len()),
        bytes_lost: bytes_lost(scan, emitted),
        arrays,
        keys_kept: emitted.keys_kept.clone(),
        keys_lost,
        keys_restored: emitted.keys_restored.clone(),
        versions,
        damaged: damaged_ranges(scan),
        unplaced: scan
            .unplaced
            .iter()
            .map(|s| ByteRange {
                start: u(s.start),
                end: u(s.end),
            })
            .collect(),
        repairs: FormRepairs {
            bom_removed: scan.bom,
            trailing_commas_removed: scan.trailing_commas,
        },
        truncated: scan.truncated,
        interleaved: scan.interleaved,
    };
    report.outcome = outcome(&report, intact);
    report.records_lost_is_lower_bound = report.uncounted().is_some();
    report
}

/// The bytes of the damaged ranges that are not part of a kept record: with interleaved
/// blocks a damaged range may hold records placed and kept, which are not lost.
fn bytes_lost<S>(scan: &ScanOut, emitted: &Emitted<S>) -> u64 {
    let mut kept: Vec<(usize, usize)> = emitted
        .records
        .iter()
        .map(|(_, s)| (s.start, s.end))
        .collect();
    kept.sort_unstable();
    // merge overlapping spans so no kept byte is subtracted twice
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(kept.len());
    for (start, end) in kept {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    scan.damage
        .iter()
        .map(|d| {
            let (lo, hi) = (d.span.start, d.span.end);
            let first = merged.partition_point(|&(_, end)| end <= lo);
            let inside: usize = merged
                .iter()
                .skip(first)
                .take_while(|&&(start, _)| start < hi)
                .map(|&(start, end)| end.min(hi).saturating_sub(start.max(lo)))
                .sum();
            u(d.span.len().saturating_sub(inside))
        })
        .sum()
}

fn outcome(r: &SalvageReport, intact: bool) -> Outcome {
    if r.versions.len() > 1 || r.interleaved {
        return Outcome::Ambiguous;
    }
    let inside_damage = r.damaged.iter().any(|d| !d.after_document);
    if r.records_lost > 0 || !r.keys_lost.is_empty() || r.truncated || inside_damage {
        return Outcome::Lossy;
    }
    if intact {
        return Outcome::Intact;
    }
    Outcome::Repaired {
        lossless: r.damaged.is_empty(),
    }
}

fn array_reports<S>(
    scan: &ScanOut,
    emitted: &Emitted<S>,
    record_keys: &[String],
) -> Vec<ArrayReport> {
    record_keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let lost = scan
                .entries
                .iter()
                .filter_map(|e| match &e.value {
                    super::scan::EntryValue::Records(list) if list.array == i => Some(list.lost),
                    _ => None,
                })
                .sum();
            let kept = u(emitted.records.iter().filter(|(a, _)| *a == i).count());
            ArrayReport {
                key: key.clone(),
                kept,
                lost,
            }
        })
        .collect()
}

/// Versions that hold something: a key, a complete (possibly empty) object, or repeated records.
fn version_reports(scan: &ScanOut) -> Vec<VersionReport> {
    scan.versions
        .iter()
        .filter(|v| {
            v.complete
                || !v.keys.is_empty()
                || matches!(
                    v.reason,
                    VersionReason::RepeatedRecords | VersionReason::RepeatedText
                )
        })
        .map(|v| VersionReport {
            start: u(v.start),
            complete: v.complete,
            evidence: match v.reason {
                VersionReason::First => VersionEvidence::First,
                VersionReason::SecondDocument => VersionEvidence::SecondDocument,
                VersionReason::RepeatedKey => VersionEvidence::RepeatedKey,
                VersionReason::RepeatedRecords => VersionEvidence::RepeatedRecords,
                VersionReason::RepeatedText => VersionEvidence::RepeatedText,
            },
        })
        .collect()
}

fn damaged_ranges(scan: &ScanOut) -> Vec<DamagedRange> {
    scan.damage
        .iter()
        .map(|d| DamagedRange {
            start: u(d.span.start),
            end: u(d.span.end),
            kind: match d.kind {
                DamageKind::Invalid => Damage::Invalid,
                DamageKind::Truncated => Damage::Truncated,
                DamageKind::Padding => Damage::Padding,
            },
            after_document: d.trailing,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::{salvage, Schema};

    #[test]
    fn outcome_ladder() {
        let cases: &[(&[u8], Outcome)] = &[
            (
                br#"{"open_positions": [], "closed_positions": []}"#,
                Outcome::Intact,
            ),
            (
                br#"{"open_positions": [{"a": 1},], "closed_positions": []}"#,
                Outcome::Repaired { lossless: true },
            ),
            (
                br#"{"open_positions": []}"#,
                Outcome::Repaired { lossless: true },
            ),
            (
                b"{\"open_positions\": [], \"closed_positions\": []}\0\0",
                Outcome::Repaired { lossless: false },
            ),
            (
                br#"{"open_positions": [], "closed_positions": []"#,
                Outcome::Lossy,
            ),
            (
                br#"{"open_positions": [], "closed_positions": []}{}"#,
                Outcome::Ambiguous,
            ),
        ];
        for (input, want) in cases {
            let got = salvage(input, &Schema::positions()).report.outcome;
            assert_eq!(got, *want, "input: {}", String::from_utf8_lossy(input));
        }
    }

    /// A cut file loses the records past the cut too, and damage inside a document the
    /// records it overwrote: nobody can count those, so the count is "at least".
    #[test]
    fn loss_counts_say_when_they_are_a_lower_bound() {
        let rec = |i: usize| format!("{{\"symbol\": \"S{i}\", \"size\": {i}}}");
        let all: Vec<String> = (0..6).map(rec).collect();
        let full = format!(
            "{{\"open_positions\": [{}], \"closed_positions\": []}}",
            all.join(", ")
        );
        let cut = full.find("S1").unwrap_or(0);
        let r = salvage(
            full.as_bytes().get(..cut).unwrap_or_default(),
            &Schema::positions(),
        )
        .report;
        assert_eq!((r.records_kept, r.records_lost), (1, 1));
        assert!(r.records_lost_is_lower_bound && r.truncated);
        assert!(
            r.summary()
                .starts_with("salvaged 1 record, lost at least 1 record and ")
                && r.summary()
                    .ends_with(" bytes, not counting records past the cut"),
            "{}",
            r.summary()
        );
        let third = rec(2);
        let garbage = full.replace(&third, &"\u{1}".repeat(third.len()));
        let r = salvage(garbage.as_bytes(), &Schema::positions()).report;
        assert!(r.records_lost_is_lower_bound && !r.truncated);
        assert!(
            r.summary()
                .ends_with(" bytes, not counting records inside damaged bytes"),
            "{}",
            r.summary()
        );
        let junk_after = format!("{full} junk");
        let r = salvage(junk_after.as_bytes(), &Schema::positions()).report;
        assert!(!r.records_lost_is_lower_bound);
        assert!(
            r.summary() == "salvaged 6 records, lost 0 records and 4 bytes",
            "{}",
            r.summary()
        );
    }

    #[test]
    fn serialises_for_json_output() {
        let r = salvage(
            br#"{"open_positions": [{"a": 1}, {"b""#,
            &Schema::positions(),
        )
        .report;
        let json = serde_json::to_value(&r).unwrap_or_default();
        let at = |p: &str| json.pointer(p).cloned().unwrap_or_default();
        assert_eq!(at("/outcome/kind"), "lossy");
        assert_eq!(at("/records_lost"), 1);
        assert_eq!(at("/records_lost_is_lower_bound"), true);
        assert_eq!(at("/arrays/0/key"), "open_positions");
        assert_eq!(at("/damaged/0/kind"), "truncated");
    }
}
