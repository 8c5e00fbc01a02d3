//! A seeded, realistic positions file (the reference bot's `logs/positions_futures.json`,
//! written like Python's `json.dump(indent=2)`, every record with a unique `order_id`),
//! a second writer's version of it, and the damaged files of each corruption kind, each
//! with its ground truth: which records survive intact in the damaged bytes.

use std::cell::Cell;
use std::ops::Range;

/// splitmix64: small, seeded, reproducible (a `Cell`, so draws can nest in expressions).
pub struct Rng(Cell<u64>);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(Cell::new(seed))
    }

    pub fn next(&self) -> u64 {
        self.0.set(self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15));
        let mut z = self.0.get();
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn unit(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYMBOLS: &[(&str, f64)] = &[
    ("BTC-USDT", 65000.0),
    ("ETH-USDT", 3400.0),
    ("SOL-USDT", 150.0),
    ("AVAX-USDT", 35.0),
    ("DOGE-USDT", 0.16),
    ("ADA-USDT", 0.45),
    ("XRP-USDT", 0.6),
    ("LINK-USDT", 18.0),
];
const STRATEGIES: &[&str] = &[
    "Trend-Conservative",
    "Breakout-Aggressive",
    "Sentiment-Fusion",
    "Alpha-OFI",
];
const REASONS: &[&str] = &["take_profit", "stop_loss", "trailing_stop", "time_exit"];

/// A number as a Python writer prints it (shortest form), sometimes with a trailing zero
/// as a hand-edited or differently written file might have (`100.10`).
fn num(rng: &Rng, x: f64, decimals: usize) -> String {
    let mut s = format!("{x:.decimals$}");
    if rng.below(20) == 0 {
        return s;
    }
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.push('0');
        }
    }
    s
}

/// One position's fields as (key, raw JSON value).
#[derive(Clone)]
struct Position {
    id: u64,
    fields: Vec<(String, String)>,
    snapshot: Vec<(String, String)>,
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn open_position(rng: &Rng, id: u64) -> Position {
    let (symbol, base) = SYMBOLS[rng.below(SYMBOLS.len() as u64) as usize];
    let price = base * (0.9 + 0.2 * rng.unit());
    let leverage = [2, 3, 5, 10][rng.below(4) as usize];
    let size = 50.0 + 5000.0 * rng.unit();
    let long = rng.below(2) == 0;
    let ts = 1_767_000_000.0 + 3_000_000.0 * rng.unit();
    let mut f: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_owned(), v));
    put("symbol", quoted(symbol));
    put("direction", quoted(if long { "LONG" } else { "SHORT" }));
    put("strategy", quoted(STRATEGIES[rng.below(4) as usize]));
    put("entry_price", num(rng, price, 6));
    put("size", num(rng, size, 2));
    put("leverage", leverage.to_string());
    put("margin_collateral", num(rng, size / f64::from(leverage), 6));
    put(
        "liquidation_price",
        num(rng, price * (1.0 - 0.9 / f64::from(leverage)), 6),
    );
    put(
        "peak_price",
        if long {
            num(rng, price * 1.01, 6)
        } else {
            "null".into()
        },
    );
    put(
        "trough_price",
        if long {
            "null".into()
        } else {
            num(rng, price * 0.99, 6)
        },
    );
    put("scaled", "0".into());
    put(
        "opened_at",
        quoted(&format!(
            "2026-01-{:02}T{:02}:{:02}:{:02}.{:06}-07:00",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1_000_000)
        )),
    );
    put("execution_timestamp", num(rng, ts, 6));
    put(
        "signal_price",
        num(rng, price * (1.0 + 0.001 * (rng.unit() - 0.5)), 6),
    );
    put("signal_timestamp", num(rng, ts - 2.0 * rng.unit(), 6));
    put("venue", quoted("futures"));
    put("order_id", quoted(&format!("ord-{id:08}")));
    put("ofi_score", num(rng, 10.0 * (rng.unit() - 0.5), 6));
    put("ensemble_score", num(rng, rng.unit(), 4));
    put(
        "regime",
        quoted(["trending", "ranging", "volatile"][rng.below(3) as usize]),
    );
    put("hurst_exponent", num(rng, 0.3 + 0.4 * rng.unit(), 4));
    put(
        "is_true_trend",
        if rng.below(2) == 0 {
            "true".into()
        } else {
            "false".into()
        },
    );
    let snapshot = vec![
        ("atr_pct".to_owned(), num(rng, 3.0 * rng.unit(), 4)),
        ("realized_vol".to_owned(), num(rng, 0.1 * rng.unit(), 6)),
    ];
    Position {
        id,
        fields: f,
        snapshot,
    }
}

fn close(rng: &Rng, mut p: Position) -> Position {
    let entry: f64 = p.fields[3].1.parse().unwrap_or(1.0);
    let exit = entry * (0.95 + 0.1 * rng.unit());
    let pnl = 200.0 * (rng.unit() - 0.5);
    let mut put = |k: &str, v: String| p.fields.push((k.to_owned(), v));
    put("exit_price", num(rng, exit, 6));
    put(
        "closed_at",
        quoted(&format!(
            "2026-02-{:02}T{:02}:{:02}:{:02}-07:00",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        )),
    );
    put("close_reason", quoted(REASONS[rng.below(4) as usize]));
    put("funding_fees", num(rng, rng.unit(), 6));
    put("slippage_bps", num(rng, 5.0 * rng.unit(), 2));
    put("execution_latency_ms", num(rng, 300.0 * rng.unit(), 1));
    put("price_roi", num(rng, (exit - entry) / entry, 6));
    put("pnl", num(rng, pnl, 6));
    put("net_pnl", num(rng, pnl - 1.5, 6));
    put("gross_pnl", num(rng, pnl + 0.5, 6));
    put("trading_fees", num(rng, 2.0 * rng.unit(), 6));
    p.snapshot
        .push(("mfe_pct".to_owned(), num(rng, 5.0 * rng.unit(), 4)));
    p.snapshot
        .push(("mae_pct".to_owned(), num(rng, -5.0 * rng.unit(), 4)));
    p
}

/// The text of a position at depth 2 of an `indent=2` document.
fn render_position(p: &Position, out: &mut String) {
    out.push_str("{\n");
    for (k, v) in &p.fields {
        out.push_str(&format!("      \"{k}\": {v},\n"));
    }
    out.push_str("      \"volatility_snapshot\": {\n");
    let n = p.snapshot.len();
    for (i, (k, v)) in p.snapshot.iter().enumerate() {
        let comma = if i + 1 < n { "," } else { "" };
        out.push_str(&format!("        \"{k}\": {v}{comma}\n"));
    }
    out.push_str("      }\n    }");
}

/// A rendered document and the span of every record in it.
pub struct Doc {
    pub text: Vec<u8>,
    /// (array: 0 open / 1 closed, order_id number, span)
    pub records: Vec<(usize, u64, Range<usize>)>,
}

fn render(open: &[Position], closed: &[Position]) -> Doc {
    let mut out = String::from("{\n");
    let mut records = Vec::new();
    for (array, (name, list)) in [("open_positions", open), ("closed_positions", closed)]
        .into_iter()
        .enumerate()
    {
        out.push_str(&format!("  \"{name}\": ["));
        for (i, p) in list.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            let start = out.len();
            render_position(p, &mut out);
            records.push((array, p.id, start..out.len()));
        }
        out.push_str(if list.is_empty() { "],\n" } else { "\n  ],\n" });
    }
    out.push_str("  \"created_at\": \"2025-12-01T09:00:00.000000-07:00\"\n}");
    Doc {
        text: out.into_bytes(),
        records,
    }
}

/// The first writer's document (about `bytes` long) and the second writer's: the same
/// positions, except that the first open one was closed and one new one was opened.
pub fn versions(seed: u64, bytes: usize) -> (Doc, Doc) {
    let rng = Rng::new(seed);
    let n = (bytes / 1220).max(4) as u64;
    let n_open = (n / 20).max(2);
    let open: Vec<Position> = (0..n_open).map(|i| open_position(&rng, i)).collect();
    let closed: Vec<Position> = (n_open..n)
        .map(|i| {
            let p = open_position(&rng, i);
            close(&rng, p)
        })
        .collect();
    let v1 = render(&open, &closed);
    let rng2 = Rng::new(seed ^ 0xA5A5);
    let mut open2 = open;
    let mut closed2 = closed;
    let first = open2.remove(0);
    closed2.push(close(&rng2, first));
    open2.push(open_position(&rng2, n));
    let v2 = render(&open2, &closed2);
    (v1, v2)
}

/// The corruption kinds of the comparison, in table order.
pub const KINDS: &[&str] = &[
    "truncated",
    "nul_tail",
    "garbage_block",
    "second_document",
    "interleaved_4k",
    "trailing_comma",
    "bom_crlf",
];

/// A damaged file and its ground truth.
pub struct Damaged {
    pub bytes: Vec<u8>,
    /// (array, order_id number, exact original text) of every record intact in `bytes`.
    pub intact: Vec<(usize, u64, Vec<u8>)>,
    /// Every record of every version written, as (array, order_id number, text).
    pub universe: Vec<(usize, u64, Vec<u8>)>,
}

fn all(doc: &Doc) -> Vec<(usize, u64, Vec<u8>)> {
    doc.records
        .iter()
        .map(|(a, id, s)| (*a, *id, doc.text[s.clone()].to_vec()))
        .collect()
}

fn outside(doc: &Doc, damaged: Range<usize>) -> Vec<(usize, u64, Vec<u8>)> {
    doc.records
        .iter()
        .filter(|(_, _, s)| s.end <= damaged.start || s.start >= damaged.end)
        .map(|(a, id, s)| (*a, *id, doc.text[s.clone()].to_vec()))
        .collect()
}

/// Byte offset of the middle of the record that contains `frac` of the document.
fn inside_record(doc: &Doc, frac: f64) -> usize {
    let target = (doc.text.len() as f64 * frac) as usize;
    let r = doc
        .records
        .iter()
        .find(|(_, _, s)| s.end > target)
        .map(|(_, _, s)| s.clone())
        .unwrap_or(0..0);
    (r.start + r.end) / 2
}

/// Builds the damaged file of `kind` from the two versions.
pub fn damage(kind: &str, v1: &Doc, v2: &Doc, seed: u64) -> Damaged {
    let mut universe = all(v1);
    match kind {
        "truncated" => {
            let cut = inside_record(v1, 0.6);
            Damaged {
                bytes: v1.text[..cut].to_vec(),
                intact: outside(v1, cut..usize::MAX),
                universe,
            }
        }
        "nul_tail" => {
            let from = inside_record(v1, 0.8);
            let mut bytes = v1.text.clone();
            bytes[from..].fill(0);
            Damaged {
                bytes,
                intact: outside(v1, from..usize::MAX),
                universe,
            }
        }
        "garbage_block" => {
            let at = v1.text.len() / 2;
            let len = 64 * 1024;
            let rng = Rng::new(seed ^ 0x6A7B);
            let mut bytes = v1.text.clone();
            for b in &mut bytes[at..at + len] {
                *b = rng.next() as u8;
            }
            Damaged {
                bytes,
                intact: outside(v1, at..at + len),
                universe,
            }
        }
        "second_document" => {
            let mut bytes = v1.text.clone();
            bytes.push(b'\n');
            bytes.extend_from_slice(&v2.text);
            universe.extend(all(v2));
            let intact = universe.clone();
            Damaged {
                bytes,
                intact,
                universe,
            }
        }
        "interleaved_4k" => {
            let bytes = selfheal::salvage::fuzzing::interleave(&v1.text, &v2.text, 4096);
            let survives = |d: &Doc| -> Vec<(usize, u64, Vec<u8>)> {
                d.records
                    .iter()
                    .filter(|(_, _, s)| bytes.get(s.clone()) == Some(&d.text[s.clone()]))
                    .map(|(a, id, s)| (*a, *id, d.text[s.clone()].to_vec()))
                    .collect()
            };
            let mut intact = survives(v1);
            intact.extend(survives(v2));
            universe.extend(all(v2));
            Damaged {
                bytes,
                intact,
                universe,
            }
        }
        "trailing_comma" => {
            let text = String::from_utf8_lossy(&v1.text)
                .replace("\n    }\n  ]", "\n    },\n  ]")
                .replace("\"\n}", "\",\n}");
            Damaged {
                bytes: text.into_bytes(),
                intact: all(v1),
                universe,
            }
        }
        _ => {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend_from_slice(
                String::from_utf8_lossy(&v1.text)
                    .replace('\n', "\r\n")
                    .as_bytes(),
            );
            // the records' own line breaks became CRLF: their values are unchanged
            Damaged {
                bytes,
                intact: all(v1),
                universe,
            }
        }
    }
}
