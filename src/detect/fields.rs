//! Reading the fields `jsondoc` extracted from each position record. The extraction list is
//! `checks::layout::position_extract`; this module looks each field up by name once, so the
//! detectors never depend on its order, and classifies values the way the README defines a
//! valid position.

use crate::checks::layout::position_extract;
use crate::jsondoc::{Record, Val};

static MISSING: Val = Val::Missing;

/// The sub-fields of `order` that `position_extract` asks for, in its order.
const ORDER_SIZE: usize = 0;
const ORDER_FILLED: usize = 1;
const ORDER_AMOUNT: usize = 2;
const ORDER_STATUS: usize = 3;

/// Where each field sits in a record's values.
#[derive(Debug, Clone)]
pub struct Fields {
    pub symbol: usize,
    pub direction: usize,
    pub strategy: usize,
    pub entry_price: usize,
    pub size: usize,
    pub leverage: usize,
    pub margin: usize,
    pub status: usize,
    pub order_status: usize,
    pub order_size: usize,
    pub filled_size: usize,
    pub order: usize,
    /// The identity fields, by name and index.
    pub identity: Vec<(String, usize)>,
}

impl Fields {
    /// Looks every field up in the extraction list for `identity`.
    pub fn new(identity: &[String]) -> Fields {
        let names = position_extract(identity).fields;
        let at = |n: &str| names.iter().position(|f| f == n).unwrap_or(usize::MAX);
        Fields {
            symbol: at("symbol"),
            direction: at("direction"),
            strategy: at("strategy"),
            entry_price: at("entry_price"),
            size: at("size"),
            leverage: at("leverage"),
            margin: at("margin_collateral"),
            status: at("status"),
            order_status: at("order_status"),
            order_size: at("order_size"),
            filled_size: at("filled_size"),
            order: at("order"),
            identity: identity.iter().map(|n| (n.clone(), at(n))).collect(),
        }
    }
}

/// The value at `i` (missing when the record is not an object or lacks it).
pub fn val(rec: &Record, i: usize) -> &Val {
    rec.values.get(i).unwrap_or(&MISSING)
}

/// A sub-field of `order`, when `order` is an object.
fn order_val<'a>(rec: &'a Record, f: &Fields, sub: usize) -> &'a Val {
    match val(rec, f.order) {
        Val::Object(subs) => subs.get(sub).unwrap_or(&MISSING),
        _ => &MISSING,
    }
}

/// What is wrong with one field of one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Defect {
    /// The field.
    pub field: &'static str,
    /// A short stable tag (`missing`, `mistyped`, `not_positive`, ...).
    pub kind: &'static str,
    /// Words for the operator (file content already cleaned).
    pub problem: String,
}

fn defect(field: &'static str, kind: &'static str, problem: String) -> Defect {
    Defect {
        field,
        kind,
        problem,
    }
}

/// A required string field.
fn text_defect(field: &'static str, v: &Val) -> Option<Defect> {
    match v {
        Val::Str(s) if s.trim().is_empty() => {
            Some(defect(field, "empty", format!("{field} is empty")))
        }
        Val::Str(_) => None,
        Val::Missing => Some(defect(field, "missing", format!("{field} is missing"))),
        other => Some(defect(
            field,
            "mistyped",
            format!("{field} is {} instead of a string", other.type_name()),
        )),
    }
}

/// A required number > 0.
fn number_defect(field: &'static str, v: &Val) -> Option<Defect> {
    match v {
        Val::Num(n) if n.is_finite() && *n > 0.0 => None,
        Val::Num(n) if !n.is_finite() => Some(defect(
            field,
            "not_finite",
            format!("{field} is not finite ({})", crate::pyjson::number_text(*n)),
        )),
        Val::Num(n) => Some(defect(
            field,
            "not_positive",
            format!("{field} must be > 0 (is {n})"),
        )),
        Val::Missing => Some(defect(field, "missing", format!("{field} is missing"))),
        other => Some(defect(
            field,
            "mistyped",
            format!("{field} is {} instead of a number", other.type_name()),
        )),
    }
}

/// Whether `v` is `LONG` or `SHORT` in any case.
pub fn is_direction(v: &Val) -> bool {
    v.as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("long") || s.eq_ignore_ascii_case("short"))
}

fn direction_defect(v: &Val) -> Option<Defect> {
    match v {
        _ if is_direction(v) => None,
        Val::Str(s) => Some(defect(
            "direction",
            "unknown",
            format!(
                "direction \"{}\" is neither LONG nor SHORT",
                crate::text::excerpt(s, 24)
            ),
        )),
        other => text_defect("direction", other),
    }
}

/// Every defect of one record, in field order.
pub fn defects(rec: &Record, f: &Fields) -> Vec<Defect> {
    if !rec.is_object {
        return vec![defect("record", "not_object", "is not an object".into())];
    }
    [
        text_defect("symbol", val(rec, f.symbol)),
        direction_defect(val(rec, f.direction)),
        text_defect("strategy", val(rec, f.strategy)),
        number_defect("entry_price", val(rec, f.entry_price)),
        number_defect("size", val(rec, f.size)),
        number_defect("leverage", val(rec, f.leverage)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The symbol, cleaned and bounded, for messages.
pub fn symbol(rec: &Record, f: &Fields) -> String {
    match val(rec, f.symbol) {
        Val::Str(s) => crate::text::excerpt(s, 32),
        _ => "?".into(),
    }
}

/// Whether `status`, `order_status` or `order.status` says `filled` (any case).
pub fn marked_filled(rec: &Record, f: &Fields) -> bool {
    [
        val(rec, f.status),
        val(rec, f.order_status),
        order_val(rec, f, ORDER_STATUS),
    ]
    .iter()
    .any(|v| {
        v.as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("filled"))
    })
}

/// A finite number, or a string holding one (exchanges often send sizes as strings).
fn lenient_number(v: &Val) -> Option<f64> {
    match v {
        Val::Num(n) => Some(*n).filter(|n| n.is_finite()),
        Val::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// The order's size and where it came from: `order_size`, else `filled_size`, else the
/// `order` object's `size`, `filled_size` or `amount`.
pub fn order_size(rec: &Record, f: &Fields) -> Option<(&'static str, f64)> {
    let candidates = [
        ("order_size", val(rec, f.order_size)),
        ("filled_size", val(rec, f.filled_size)),
        ("order.size", order_val(rec, f, ORDER_SIZE)),
        ("order.filled_size", order_val(rec, f, ORDER_FILLED)),
        ("order.amount", order_val(rec, f, ORDER_AMOUNT)),
    ];
    candidates
        .into_iter()
        .find_map(|(name, v)| lenient_number(v).map(|n| (name, n)))
}

/// One identity component as comparable text (`None` when absent or not a scalar).
fn identity_part(name: &str, v: &Val) -> Option<String> {
    match v {
        Val::Str(s) if name == "direction" => Some(format!("s:{}", s.to_ascii_uppercase())),
        Val::Str(s) => Some(format!("s:{s}")),
        Val::Num(n) => Some(format!("n:{n}")),
        Val::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}

/// The record's identity, when every identity field is a scalar.
pub fn identity_key(rec: &Record, f: &Fields) -> Option<Vec<String>> {
    f.identity
        .iter()
        .map(|(name, i)| identity_part(name, val(rec, *i)))
        .collect()
}

/// The identity as `name=value` pairs for messages (cleaned, bounded).
pub fn identity_text(rec: &Record, f: &Fields) -> String {
    f.identity
        .iter()
        .map(|(name, i)| {
            let v = match val(rec, *i) {
                Val::Str(s) => crate::text::excerpt(s, 32),
                Val::Num(n) => n.to_string(),
                Val::Bool(b) => b.to_string(),
                other => other.type_name().to_string(),
            };
            format!("{}={v}", crate::text::excerpt(name, 32))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsondoc::{inspect, Shape, Spec};

    fn records(json: &str) -> (Vec<Record>, Fields) {
        let identity: Vec<String> = ["symbol", "strategy", "direction"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ex = position_extract(&identity);
        let arrays = vec!["open_positions".to_string()];
        let spec = Spec {
            record_arrays: &arrays,
            extract: Some(&ex),
            hash_records: &arrays,
            full_records: &arrays,
        };
        let Shape::Object(doc) = inspect(json.as_bytes(), &spec) else {
            panic!("not an object: {json}");
        };
        let recs = doc.records("open_positions").map(<[_]>::to_vec);
        (recs.unwrap_or_default(), Fields::new(&identity))
    }

    #[test]
    fn defect_table() {
        let good = r#"{"symbol":"BTC","direction":"long","strategy":"s","entry_price":1,"size":2,"leverage":3}"#;
        let cases: &[(&str, &[(&str, &str)])] = &[
            (good, &[]),
            (
                r#"{"symbol":"","direction":"UP","strategy":1,"entry_price":0,"size":"100.0","leverage":-1}"#,
                &[
                    ("symbol", "empty"),
                    ("direction", "unknown"),
                    ("strategy", "mistyped"),
                    ("entry_price", "not_positive"),
                    ("size", "mistyped"),
                    ("leverage", "not_positive"),
                ],
            ),
            (
                r#"{"symbol":"BTC"}"#,
                &[
                    ("direction", "missing"),
                    ("strategy", "missing"),
                    ("entry_price", "missing"),
                    ("size", "missing"),
                    ("leverage", "missing"),
                ],
            ),
            ("7", &[("record", "not_object")]),
            (
                r#"{"symbol":"BTC","direction":"long","strategy":"s","entry_price":NaN,"size":Infinity,"leverage":-Infinity}"#,
                &[
                    ("entry_price", "not_finite"),
                    ("size", "not_finite"),
                    ("leverage", "not_finite"),
                ],
            ),
            (
                r#"{"symbol":"BTC","direction":"long","strategy":"s","entry_price":1,"size":2,"leverage":3,"mtf_alignment":NaN,"margin_collateral":Infinity,"order_size":-Infinity}"#,
                &[],
            ),
        ];
        for (rec, want) in cases {
            let (recs, f) = records(&format!("{{\"open_positions\":[{rec}]}}"));
            let got: Vec<(&str, &str)> = recs
                .first()
                .map(|r| defects(r, &f))
                .unwrap_or_default()
                .iter()
                .map(|d| (d.field, d.kind))
                .collect();
            assert_eq!(got, *want, "record: {rec}");
        }
    }

    #[test]
    fn order_sizes_and_fill_marks() {
        let (recs, f) = records(
            r#"{"open_positions":[
            {"status":"FILLED","size":1,"order_size":2},
            {"order_status":"filled","size":1,"filled_size":"1.5"},
            {"order":{"status":"Filled","amount":3},"size":1},
            {"status":"open","size":1},
            {"status":"filled","size":1,"order_size":NaN,"filled_size":Infinity,"order":{"size":4}}]}"#,
        );
        let got: Vec<(bool, Option<(&str, f64)>)> = recs
            .iter()
            .map(|r| (marked_filled(r, &f), order_size(r, &f)))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, Some(("order_size", 2.0))),
                (true, Some(("filled_size", 1.5))),
                (true, Some(("order.amount", 3.0))),
                (false, None),
                (true, Some(("order.size", 4.0))),
            ]
        );
    }

    #[test]
    fn identity_ignores_direction_case_only() {
        let (recs, f) = records(
            r#"{"open_positions":[
            {"symbol":"BTC","strategy":"a","direction":"long"},
            {"symbol":"BTC","strategy":"a","direction":"LONG"},
            {"symbol":"btc","strategy":"a","direction":"LONG"},
            {"symbol":"BTC","direction":"LONG"}]}"#,
        );
        let keys: Vec<Option<Vec<String>>> = recs.iter().map(|r| identity_key(r, &f)).collect();
        assert_eq!(keys.first(), keys.get(1));
        assert_ne!(keys.get(1), keys.get(2));
        assert_eq!(keys.get(3), Some(&None));
    }
}
