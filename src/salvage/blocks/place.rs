//! The entry points: place the records of two alternating writers' blocks (nothing unless
//! the model holds), and regroup the scanner's output per version with them.

use super::judge::Judge;
use super::layout::{alternates, indent_unit, key_spans, keys_off_layout, layouts, lines, order};
use super::owners::Owners;
use super::{Line, Placement};
use crate::salvage::evidence::BLOCK;
use crate::salvage::lex::Span;
use crate::salvage::scan::{Entry, EntryValue, RecordList, ScanOut};
use std::collections::{BTreeMap, HashSet};

/// Places the records of two alternating writers' blocks; empty unless the model holds.
pub(crate) fn place(buf: &[u8], body: usize, keys: &[String]) -> Placement {
    let none = Placement::default();
    let Some(unit) = indent_unit(buf, body) else {
        return none;
    };
    if keys.is_empty() || !alternates(buf) {
        return none;
    }
    let lines = lines(buf, unit, keys);
    if keys_off_layout(buf, &lines, keys) {
        return none;
    }
    let ends: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::End(p) => Some(*p),
            _ => None,
        })
        .collect();
    let owners = match ends.as_slice() {
        [a, _] => Owners::Cut {
            short: (a / BLOCK) % 2,
            end: *a,
        },
        [] | [_] => Owners::ByBlock,
        _ => return none,
    };
    let layouts = layouts(&lines, owners, keys.len());
    let Some(rank) = order(&layouts, buf, body, keys) else {
        return none;
    };
    let end = ends.last().copied().unwrap_or(buf.len());
    let judge = Judge {
        layouts: &layouts,
        rank: &rank,
        owners,
        end,
    };
    let records = lines
        .iter()
        .filter_map(|l| match l {
            Line::Record(span) => judge.place(*span),
            _ => None,
        })
        .collect();
    Placement {
        records,
        keys: key_spans(&lines, keys.len()),
        owners,
    }
}

/// Regroups the records of an interleaved input per version: those the scanner kept
/// (after a header in the same block) and those `place` proves; a record kept here
/// leaves the unplaced and repeated lists. Each (version, array) becomes one entry, so
/// that `emit.rs` keeps a record identical across versions once and every copy within
/// one version.
pub(crate) fn apply(buf: &[u8], body: usize, keys: &[String], out: &mut ScanOut) {
    let placement = place(buf, body, keys);
    if placement.records.is_empty() {
        return;
    }
    let mut key_of = placement.keys.clone();
    for e in &out.entries {
        if let EntryValue::Records(list) = &e.value {
            if let Some(slot) = key_of.get_mut(list.array) {
                *slot = Some(e.key);
            }
        }
    }
    let mut lists: BTreeMap<(usize, usize), Vec<Span>> = BTreeMap::new();
    let mut kept: HashSet<Span> = HashSet::new();
    for e in &mut out.entries {
        if let EntryValue::Records(list) = &mut e.value {
            for span in list.records.drain(..) {
                kept.insert(span);
                let version = placement.owners.of(span.start);
                lists.entry((version, list.array)).or_default().push(span);
            }
        }
    }
    for r in &placement.records {
        let renderable = key_of.get(r.array).is_some_and(Option::is_some);
        if renderable && kept.insert(r.span) {
            lists.entry((r.version, r.array)).or_default().push(r.span);
        }
    }
    for ((_, array), mut records) in lists {
        let (Some(Some(key)), Some(name)) = (key_of.get(array), keys.get(array)) else {
            continue;
        };
        records.sort_by_key(|s| s.start);
        out.entries.push(Entry {
            name: name.clone(),
            key: *key,
            value_start: key.end,
            value: EntryValue::Records(RecordList {
                array,
                records,
                lost: 0,
            }),
        });
    }
    out.unplaced.retain(|s| !kept.contains(s));
    out.repeated.retain(|s| !kept.contains(s));
}
