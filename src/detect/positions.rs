//! The position detectors: DATA_INTEGRITY (invalid open positions; the same defects in
//! closed positions are a HIGH warning), POSITION_CONFLICT (two open positions with the same
//! identity, or the exact same record twice) and PARTIAL_FILL (an open position marked
//! filled whose size is not its order's). They read the records `jsondoc` extracted while
//! planning and never parse a file again. Findings are bounded: at most [`MAX_EACH`] per
//! kind, then one summary, so a broken file cannot flood the operator.

use super::fields::{self, Defect, Fields};
use crate::findings::{code, Code, Finding, Level};
use crate::jsondoc::{Document, Record};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// At most this many findings of one kind per file (then one summary finding).
pub const MAX_EACH: usize = 10;
/// At most this many items listed in a finding's details.
const MAX_LISTED: usize = 20;

/// Runs every position detector on the positions document of `path`.
pub fn detect(path: &str, doc: &Document, identity: &[String]) -> Vec<Finding> {
    let f = Fields::new(identity);
    let open = doc.records("open_positions").unwrap_or_default();
    let closed = doc.records("closed_positions").unwrap_or_default();
    let mut out = Vec::new();
    out.extend(integrity(path, "open_positions", open, &f, Level::Critical));
    out.extend(integrity(path, "closed_positions", closed, &f, Level::High));
    out.extend(conflicts(path, open, &f));
    out.extend(partial_fills(path, open, &f));
    out
}

/// One invalid record: its index, symbol and defects.
struct Invalid {
    index: usize,
    symbol: String,
    defects: Vec<Defect>,
}

fn integrity(
    path: &str,
    array: &str,
    records: &[Record],
    f: &Fields,
    level: Level,
) -> Option<Finding> {
    let invalid: Vec<Invalid> = records
        .iter()
        .enumerate()
        .filter_map(|(index, rec)| {
            let defects = fields::defects(rec, f);
            (!defects.is_empty()).then(|| Invalid {
                index,
                symbol: fields::symbol(rec, f),
                defects,
            })
        })
        .collect();
    let first = invalid.first()?;
    let problems: Vec<&str> = first.defects.iter().map(|d| d.problem.as_str()).collect();
    let message = format!(
        "{} invalid position(s) in {array} of {path}; first: {array}[{}] ({}): {}",
        invalid.len(),
        first.index,
        first.symbol,
        problems.join(", ")
    );
    Some(
        Finding::new(
            code::DATA_INTEGRITY,
            level,
            Some(path),
            message,
            evidence(array, &invalid),
        )
        .with_details(json!({
            "file": path,
            "array": array,
            "invalid": invalid.len(),
            "defects": listed(&invalid),
        })),
    )
}

fn evidence(array: &str, invalid: &[Invalid]) -> String {
    let mut tags: Vec<String> = Vec::new();
    for inv in invalid.iter().take(MAX_LISTED) {
        for d in &inv.defects {
            tags.push(format!("{}.{}:{}", inv.index, d.field, d.kind));
        }
    }
    let more = invalid.len().saturating_sub(MAX_LISTED);
    let tail = if more > 0 {
        format!(" +{more}")
    } else {
        String::new()
    };
    format!("{array}: {}{tail}", tags.join(" "))
}

fn listed(invalid: &[Invalid]) -> serde_json::Value {
    invalid
        .iter()
        .take(MAX_LISTED)
        .flat_map(|inv| {
            inv.defects.iter().map(|d| {
                json!({"index": inv.index, "symbol": inv.symbol, "field": d.field, "problem": d.problem})
            })
        })
        .collect()
}

/// Open positions sharing an identity, or (for records whose identity is incomplete,
/// already DATA_INTEGRITY) sharing a 64-bit hash of their exact bytes.
fn conflicts(path: &str, open: &[Record], f: &Fields) -> Vec<Finding> {
    let groups = group(open, f);
    let dup: Vec<&(Group, Vec<usize>)> = groups.iter().filter(|(_, m)| m.len() > 1).collect();
    bounded(
        dup.iter().map(|(g, m)| conflict(path, open, f, *g, m)),
        dup.len(),
        || {
            summary(
                path,
                code::POSITION_CONFLICT,
                dup.len(),
                "conflicting identities",
            )
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Records sharing an identity.
    Identity,
    /// Records with the same bytes (incomplete identity).
    Bytes,
}

/// Groups in order of first appearance.
fn group(open: &[Record], f: &Fields) -> Vec<(Group, Vec<usize>)> {
    let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
    let mut by_identity: HashMap<Vec<String>, usize> = HashMap::new();
    let mut by_bytes: HashMap<u64, usize> = HashMap::new();
    let mut new_group = |kind: Group| {
        groups.push((kind, Vec::new()));
        groups.len() - 1
    };
    let mut slots = Vec::new();
    for (i, rec) in open.iter().enumerate().filter(|(_, r)| r.is_object) {
        let slot = match (fields::identity_key(rec, f), rec.raw_hash) {
            (Some(key), _) => *by_identity
                .entry(key)
                .or_insert_with(|| new_group(Group::Identity)),
            (None, Some(h)) => *by_bytes.entry(h).or_insert_with(|| new_group(Group::Bytes)),
            (None, None) => continue,
        };
        slots.push((slot, i));
    }
    for (slot, i) in slots {
        if let Some((_, members)) = groups.get_mut(slot) {
            members.push(i);
        }
    }
    groups
}

fn conflict(path: &str, open: &[Record], f: &Fields, g: Group, members: &[usize]) -> Finding {
    let rec = members.first().and_then(|&i| open.get(i));
    let identity = rec.map(|r| fields::identity_text(r, f)).unwrap_or_default();
    let hashes: HashSet<Option<u64>> = members
        .iter()
        .filter_map(|&i| open.get(i).map(|r| r.raw_hash))
        .collect();
    let exact = g == Group::Bytes || hashes.len() < members.len();
    let where_ = members
        .iter()
        .take(MAX_LISTED)
        .map(|i| format!("[{i}]"))
        .collect::<Vec<_>>()
        .join(", ");
    let (message, evidence) = match g {
        Group::Identity => (
            format!(
                "{} open positions in {path} share the identity {identity}: open_positions{where_}{}",
                members.len(),
                if exact { " (the exact same record appears more than once)" } else { "" }
            ),
            format!("identity {identity}"),
        ),
        Group::Bytes => (
            format!(
                "the exact same open position appears {} times in {path}: open_positions{where_}",
                members.len()
            ),
            format!("exact duplicate {:016x}", rec.and_then(|r| r.raw_hash).unwrap_or(0)),
        ),
    };
    Finding::new(
        code::POSITION_CONFLICT,
        Level::Critical,
        Some(path),
        message,
        evidence,
    )
    .with_details(json!({
        "file": path,
        "identity": identity,
        "count": members.len(),
        "indices": members.iter().take(MAX_LISTED).collect::<Vec<_>>(),
        "exact_duplicate": exact,
    }))
}

/// Open positions marked filled whose size is not their order's.
fn partial_fills(path: &str, open: &[Record], f: &Fields) -> Vec<Finding> {
    let hits: Vec<(usize, f64, &str, f64)> = open
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_object && fields::marked_filled(r, f))
        .filter_map(|(i, r)| {
            let size = fields::val(r, f.size).as_num()?;
            let (source, ordered) = fields::order_size(r, f)?;
            differs(size, ordered).then_some((i, size, source, ordered))
        })
        .collect();
    bounded(
        hits.iter().map(|&(i, size, source, ordered)| {
            let rec = open.get(i);
            let who = rec.map(|r| fields::identity_text(r, f)).unwrap_or_default();
            Finding::new(
                code::PARTIAL_FILL,
                Level::Critical,
                Some(path),
                format!(
                    "open position open_positions[{i}] ({who}) in {path} is marked filled but its size {size} is not its order's size {ordered} ({source})"
                ),
                format!("{who}: size {size} vs {source} {ordered}"),
            )
            .with_details(json!({
                "file": path,
                "index": i,
                "identity": who,
                "size": size,
                "order_size": ordered,
                "order_size_field": source,
            }))
        }),
        hits.len(),
        || summary(path, code::PARTIAL_FILL, hits.len(), "partially filled positions"),
    )
}

/// Whether two sizes differ beyond a tiny relative epsilon.
fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > 1e-9 * a.abs().max(b.abs())
}

/// The first [`MAX_EACH`] findings, then one summary when there are more.
fn bounded(
    items: impl Iterator<Item = Finding>,
    total: usize,
    summary: impl FnOnce() -> Finding,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = items.take(MAX_EACH).collect();
    if total > MAX_EACH {
        out.push(summary());
    }
    out
}

fn summary(path: &str, code: Code, total: usize, what: &str) -> Finding {
    let more = total.saturating_sub(MAX_EACH);
    Finding::new(
        code,
        Level::Critical,
        Some(path),
        format!("{more} more {what} in {path} (only the first {MAX_EACH} are listed)"),
        format!("{more} more"),
    )
    .with_details(json!({"file": path, "total": total}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::layout::position_extract;
    use crate::jsondoc::{inspect, Shape, Spec};

    fn identity() -> Vec<String> {
        ["symbol", "strategy", "direction"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn run(open: &str, closed: &str) -> Vec<(String, Level)> {
        let text = format!("{{\"open_positions\":[{open}],\"closed_positions\":[{closed}]}}");
        let ex = position_extract(&identity());
        let arrays = vec!["open_positions".to_string(), "closed_positions".to_string()];
        let hashed = vec!["open_positions".to_string()];
        let spec = Spec {
            record_arrays: &arrays,
            extract: Some(&ex),
            hash_records: &hashed,
            full_records: &hashed,
        };
        let Shape::Object(doc) = inspect(text.as_bytes(), &spec) else {
            panic!("not an object");
        };
        detect("p.json", &doc, &identity())
            .into_iter()
            .map(|f| (f.code.into(), f.level))
            .collect()
    }

    fn pos(symbol: &str, strategy: &str, direction: &str, extra: &str) -> String {
        format!(
            r#"{{"symbol":"{symbol}","strategy":"{strategy}","direction":"{direction}","entry_price":100.5,"size":10,"leverage":2{extra}}}"#
        )
    }

    #[test]
    fn silent_on_a_healthy_file() {
        let open = [
            pos("BTC", "a", "LONG", ""),
            pos("BTC", "b", "LONG", ""),
            pos("BTC", "a", "SHORT", ""),
            pos(
                "ETH",
                "a",
                "LONG",
                r#","status":"filled","order_size":10.0"#,
            ),
        ]
        .join(",");
        assert_eq!(run(&open, &pos("BTC", "a", "LONG", "")), vec![]);
    }

    /// Python's non-finite numbers: in entry_price/size/leverage a defect (critical when
    /// open, HIGH when closed), anywhere else just a value.
    #[test]
    fn non_finite_numbers() {
        let plain = pos(
            "BTC",
            "a",
            "LONG",
            r#","mtf_alignment":NaN,"ofi_score":-Infinity"#,
        );
        assert_eq!(run(&plain, &plain), vec![]);
        let nan_price = pos("ETH", "a", "LONG", "").replace("100.5", "NaN");
        let inf_size = pos("SOL", "a", "LONG", "").replace("\"size\":10", "\"size\":Infinity");
        let integrity = |l: Level| (code::DATA_INTEGRITY.to_string(), l);
        assert_eq!(
            run(&nan_price, &inf_size),
            vec![integrity(Level::Critical), integrity(Level::High)]
        );
    }

    #[test]
    fn each_issue_is_found() {
        let crit = |c: Code| (c.to_string(), Level::Critical);
        let a = pos("BTC", "a", "LONG", "");
        type Want = Vec<(String, Level)>;
        let cases: Vec<(String, String, Want)> = vec![
            (
                format!("{a},{}", pos("BTC", "a", "long", r#","x":1"#)),
                String::new(),
                vec![crit(code::POSITION_CONFLICT)],
            ),
            (
                format!("{a},{a}"),
                String::new(),
                vec![crit(code::POSITION_CONFLICT)],
            ),
            (
                r#"{"symbol":"X"},{"symbol":"X"}"#.into(),
                String::new(),
                vec![crit(code::DATA_INTEGRITY), crit(code::POSITION_CONFLICT)],
            ),
            (
                pos("BTC", "a", "UP", ""),
                String::new(),
                vec![crit(code::DATA_INTEGRITY)],
            ),
            (
                String::new(),
                pos("BTC", "a", "LONG", r#","size":0"#).replace(r#""size":10,"#, ""),
                vec![(code::DATA_INTEGRITY.into(), Level::High)],
            ),
            (
                pos(
                    "BTC",
                    "a",
                    "LONG",
                    r#","status":"filled","order":{"size":12}"#,
                ),
                String::new(),
                vec![crit(code::PARTIAL_FILL)],
            ),
        ];
        for (open, closed, want) in cases {
            assert_eq!(run(&open, &closed), want, "open: {open} closed: {closed}");
        }
    }

    #[test]
    fn findings_are_bounded() {
        let open: Vec<String> = (0..30)
            .flat_map(|i| {
                let p = pos(&format!("S{i}"), "a", "LONG", "");
                [p.clone(), p]
            })
            .collect();
        let got = run(&open.join(","), "");
        assert_eq!(got.len(), MAX_EACH + 1);
    }
}
