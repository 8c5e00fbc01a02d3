//! STATE_MISMATCH: the portfolio disagrees with the positions. Where `used_margin` is a
//! number and every open position has a numeric `margin_collateral`, `used_margin` must
//! equal their sum within `positions.margin_tolerance` (absolute): the reference bot keeps
//! the two consistent on every open and close, so a difference means positions were lost
//! or added behind its back. A non-finite `used_margin`, `margin_collateral` or sum never
//! passes: it is a mismatch. With `positions.compare_open_positions_count` the portfolio's
//! `open_positions_count` must also equal the number of open positions (off by default: the
//! reference bot writes it once and never maintains it). Both documents were classified
//! while planning; nothing is read again.

use super::fields::{self, Fields};
use crate::findings::{code, Finding, Level};
use crate::jsondoc::{Document, Record, Val};
use serde_json::json;

/// The two files compared.
pub struct Pair<'a> {
    /// The positions file's path and document.
    pub positions: (&'a str, &'a Document),
    /// The portfolio file's path and document.
    pub portfolio: (&'a str, &'a Document),
}

/// How to compare.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The identity fields (for the field lookup).
    pub identity: &'a [String],
    /// `positions.margin_tolerance`.
    pub tolerance: f64,
    /// `positions.compare_open_positions_count`.
    pub compare_count: bool,
}

/// Compares the portfolio with the open positions.
pub fn detect(pair: &Pair<'_>, rules: &Rules<'_>) -> Vec<Finding> {
    let open = pair
        .positions
        .1
        .records("open_positions")
        .unwrap_or_default();
    let mut out = Vec::new();
    if rules.compare_count {
        out.extend(count(pair, open.len()));
    }
    out.extend(margin(
        pair,
        open,
        &Fields::new(rules.identity),
        rules.tolerance,
    ));
    out
}

fn count(pair: &Pair<'_>, open: usize) -> Option<Finding> {
    let (path, doc) = pair.portfolio;
    let (pos_path, _) = pair.positions;
    match doc.top("open_positions_count") {
        Val::Missing => None,
        #[allow(clippy::cast_precision_loss)]
        Val::Num(n) if *n == open as f64 => None,
        Val::Num(n) => Some(
            Finding::new(
                code::STATE_MISMATCH,
                Level::Critical,
                Some(path),
                format!(
                    "{path} says open_positions_count {n} but {pos_path} holds {open} open position(s)"
                ),
                format!("open_positions_count {n} vs {open} open"),
            )
            .with_details(json!({
                "portfolio": path,
                "positions": pos_path,
                "open_positions_count": n,
                "open_positions": open,
            })),
        ),
        other => Some(
            Finding::new(
                code::STATE_MISMATCH,
                Level::High,
                Some(path),
                format!(
                    "{path}: open_positions_count is {} instead of a number; it cannot be compared with {pos_path}",
                    other.type_name()
                ),
                format!("open_positions_count {}", other.type_name()),
            )
            .with_details(json!({"portfolio": path, "positions": pos_path})),
        ),
    }
}

fn margin(pair: &Pair<'_>, open: &[Record], f: &Fields, tolerance: f64) -> Option<Finding> {
    let used = pair.portfolio.1.top("used_margin").as_num()?;
    let margins: Option<Vec<f64>> = open
        .iter()
        .map(|r| fields::val(r, f.margin).as_num())
        .collect();
    let (sum, finite) = disagreement(used, &margins?, tolerance)?;
    Some(mismatch(pair, used, sum, tolerance, finite))
}

/// `None` when `used` equals the sum of `margins` within `tolerance`; else the sum and
/// whether every number involved is finite. A NaN or an infinity never agrees.
fn disagreement(used: f64, margins: &[f64], tolerance: f64) -> Option<(f64, bool)> {
    let sum: f64 = margins.iter().sum();
    let finite = used.is_finite() && sum.is_finite() && margins.iter().all(|m| m.is_finite());
    // ORDER: finiteness first: a NaN compares false with everything, so the tolerance
    // test alone would let it pass.
    if finite && (used - sum).abs() <= tolerance {
        return None;
    }
    Some((sum, finite))
}

fn mismatch(pair: &Pair<'_>, used: f64, sum: f64, tolerance: f64, finite: bool) -> Finding {
    let (path, pos_path) = (pair.portfolio.0, pair.positions.0);
    let message = if finite {
        format!(
            "{path} says used_margin {used} but the open positions in {pos_path} hold margin_collateral {sum} (difference {}, tolerance {tolerance})",
            (used - sum).abs()
        )
    } else {
        format!(
            "{path} says used_margin {used} and the open positions in {pos_path} hold margin_collateral {sum}: a value that is not a finite number cannot be reconciled"
        )
    };
    Finding::new(
        code::STATE_MISMATCH,
        Level::Critical,
        Some(path),
        message,
        format!("used_margin {used} vs margin_collateral {sum}"),
    )
    .with_details(json!({
        "portfolio": path,
        "positions": pos_path,
        "used_margin": number(used),
        "margin_collateral_sum": number(sum),
        "tolerance": tolerance,
    }))
}

/// A number for the details: JSON has no NaN or infinity, so those are written as text.
fn number(n: f64) -> serde_json::Value {
    if n.is_finite() {
        json!(n)
    } else {
        json!(n.to_string())
    }
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

    fn doc(text: &str, arrays: &[&str]) -> Document {
        let ex = position_extract(&identity());
        let arrays: Vec<String> = arrays.iter().map(|s| s.to_string()).collect();
        let spec = Spec {
            record_arrays: &arrays,
            extract: Some(&ex),
            hash_records: &[],
            full_records: &arrays,
        };
        match inspect(text.as_bytes(), &spec) {
            Shape::Object(d) => d,
            other => panic!("{other:?}"),
        }
    }

    fn run(open: &str, portfolio: &str) -> Vec<(String, Level, String)> {
        let pos = doc(
            &format!("{{\"open_positions\":[{open}],\"closed_positions\":[]}}"),
            &["open_positions", "closed_positions"],
        );
        let pf = doc(portfolio, &["snapshots"]);
        let pair = Pair {
            positions: ("pos", &pos),
            portfolio: ("pf", &pf),
        };
        let identity = identity();
        let rules = Rules {
            identity: &identity,
            tolerance: 0.01,
            compare_count: true,
        };
        detect(&pair, &rules)
            .into_iter()
            .map(|f| (f.code.into(), f.level, f.evidence))
            .collect()
    }

    #[test]
    fn the_count_is_compared_only_when_switched_on() {
        let pos = doc(
            r#"{"open_positions":[{"margin_collateral":5}],"closed_positions":[]}"#,
            &["open_positions", "closed_positions"],
        );
        let pf = doc(
            r#"{"open_positions_count":0,"used_margin":5}"#,
            &["snapshots"],
        );
        let pair = Pair {
            positions: ("pos", &pos),
            portfolio: ("pf", &pf),
        };
        let identity = identity();
        let mut rules = Rules {
            identity: &identity,
            tolerance: 0.01,
            compare_count: false,
        };
        assert!(detect(&pair, &rules).is_empty());
        rules.compare_count = true;
        assert_eq!(detect(&pair, &rules).len(), 1);
    }

    #[test]
    fn non_finite_numbers_never_agree() {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        assert_eq!(disagreement(15.0, &[10.5, 4.5], 0.01), None);
        assert_eq!(disagreement(0.0, &[], 0.01), None);
        for (used, margins) in [
            (nan, vec![10.5, 4.5]),
            (inf, vec![10.5, 4.5]),
            (15.0, vec![nan, 4.5]),
            (15.0, vec![inf, -inf]),
            (nan, vec![nan]),
            (inf, vec![inf]),
            (f64::MAX, vec![f64::MAX, f64::MAX]),
        ] {
            let d = disagreement(used, &margins, 0.01);
            assert!(d.is_some_and(|(_, finite)| !finite), "{used} {margins:?}");
        }
        assert_eq!(disagreement(16.0, &[10.5, 4.5], 0.01), Some((15.0, true)));
        assert!(disagreement(15.0, &[10.5, 4.5], f64::NAN).is_some());
    }

    #[test]
    fn table() {
        let two = r#"{"margin_collateral":10.5},{"margin_collateral":4.5}"#;
        let crit = |e: &str| {
            (
                code::STATE_MISMATCH.to_string(),
                Level::Critical,
                e.to_string(),
            )
        };
        type Want = Vec<(String, Level, String)>;
        let cases: Vec<(&str, String, Want)> = vec![
            (
                two,
                r#"{"open_positions_count":2,"used_margin":15.0}"#.into(),
                vec![],
            ),
            (
                two,
                r#"{"open_positions_count":2,"used_margin":15.005}"#.into(),
                vec![],
            ),
            (two, r#"{"used_margin":15}"#.into(), vec![]),
            (
                "",
                r#"{"open_positions_count":0,"used_margin":0.0}"#.into(),
                vec![],
            ),
            (
                r#"{"margin_collateral":1},{}"#,
                r#"{"open_positions_count":2,"used_margin":99}"#.into(),
                vec![],
            ),
            (
                two,
                r#"{"open_positions_count":3}"#.into(),
                vec![crit("open_positions_count 3 vs 2 open")],
            ),
            (
                two,
                r#"{"open_positions_count":2,"used_margin":16}"#.into(),
                vec![crit("used_margin 16 vs margin_collateral 15")],
            ),
            (
                two,
                r#"{"open_positions_count":2,"used_margin":NaN}"#.into(),
                vec![crit("used_margin NaN vs margin_collateral 15")],
            ),
            (
                r#"{"margin_collateral":Infinity},{"margin_collateral":-Infinity}"#,
                r#"{"open_positions_count":2,"used_margin":0.0}"#.into(),
                vec![crit("used_margin 0 vs margin_collateral NaN")],
            ),
            (
                r#"{"margin_collateral":Infinity}"#,
                r#"{"open_positions_count":1,"used_margin":Infinity}"#.into(),
                vec![crit("used_margin inf vs margin_collateral inf")],
            ),
            (
                two,
                r#"{"open_positions_count":"2"}"#.into(),
                vec![(
                    code::STATE_MISMATCH.into(),
                    Level::High,
                    "open_positions_count string".into(),
                )],
            ),
        ];
        for (open, pf, want) in cases {
            assert_eq!(run(open, &pf), want, "open: {open} portfolio: {pf}");
        }
    }
}
