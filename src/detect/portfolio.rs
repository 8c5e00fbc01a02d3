//! STATE_MISMATCH: the portfolio disagrees with the positions. Its `open_positions_count`
//! must equal the number of open positions; and where `used_margin` is a number and every
//! open position has a numeric `margin_collateral`, `used_margin` must equal their sum within
//! `positions.margin_tolerance` (absolute). Both documents were classified while planning;
//! nothing is read again.

use super::fields::{self, Fields};
use crate::findings::{code, Finding, Level};
use crate::jsondoc::{Document, Val};
use serde_json::json;

/// The two files compared.
pub struct Pair<'a> {
    /// The positions file's path and document.
    pub positions: (&'a str, &'a Document),
    /// The portfolio file's path and document.
    pub portfolio: (&'a str, &'a Document),
}

/// Compares the portfolio with the open positions.
pub fn detect(pair: &Pair<'_>, identity: &[String], tolerance: f64) -> Vec<Finding> {
    let open = pair
        .positions
        .1
        .records("open_positions")
        .unwrap_or_default();
    let mut out = Vec::new();
    out.extend(count(pair, open.len()));
    out.extend(margin(pair, open, &Fields::new(identity), tolerance));
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

fn margin(
    pair: &Pair<'_>,
    open: &[crate::jsondoc::Record],
    f: &Fields,
    tolerance: f64,
) -> Option<Finding> {
    let (path, doc) = pair.portfolio;
    let (pos_path, _) = pair.positions;
    let used = doc.top("used_margin").as_num()?;
    let sum = open.iter().try_fold(0.0_f64, |acc, r| {
        fields::val(r, f.margin).as_num().map(|m| acc + m)
    })?;
    let diff = (used - sum).abs();
    // A non-finite side (Python's NaN/Infinity) is never equal: it is a finding.
    if used.is_finite() && sum.is_finite() && diff <= tolerance {
        return None;
    }
    Some(
        Finding::new(
            code::STATE_MISMATCH,
            Level::Critical,
            Some(path),
            format!(
                "{path} says used_margin {used} but the open positions in {pos_path} hold margin_collateral {sum} (difference {diff}, tolerance {tolerance})"
            ),
            format!("used_margin {used} vs margin_collateral {sum}"),
        )
        .with_details(json!({
            "portfolio": path,
            "positions": pos_path,
            "used_margin": used,
            "margin_collateral_sum": sum,
            "tolerance": tolerance,
        })),
    )
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
        detect(&pair, &identity(), 0.01)
            .into_iter()
            .map(|f| (f.code, f.level, f.evidence))
            .collect()
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
