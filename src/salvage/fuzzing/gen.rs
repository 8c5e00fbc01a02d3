//! Generators for the structured checks: realistic positions documents (each record with a
//! unique `order_id`, tricky numbers kept as written, Python's `NaN`/`Infinity`/`-Infinity`,
//! nested objects and arrays, escapes and raw UTF-8) and the corruptions the salvage must
//! survive. Everything is decoded from
//! plain bytes so that a fuzzer, a property test and a benchmark can drive the same code.
//!
//! A rendered document knows the byte span of every record it holds; a corruption knows
//! which byte ranges it damaged, so a check can tell which records must survive.

use std::ops::Range;

/// Numbers as a writer may print them; the salvage must keep each one's exact text.
pub const PRICES: &[&str] = &[
    "-3.519194",
    "100.10",
    "1e-7",
    "65000.5",
    "0.1",
    "3.0E+2",
    "-0.0",
    "12345678901234567890",
    "2",
    "0.000001",
    "1.7976931348623157e308",
];

/// Python's non-finite numbers, as its `json` writes them in unsanitised signal fields.
pub const NON_FINITE: &[&str] = &["NaN", "Infinity", "-Infinity"];

/// Symbols, including escapes and raw UTF-8.
pub const SYMBOLS: &[&str] = &[
    "\"BTC-USDT\"",
    "\"ETH-USDT\"",
    "\"SOL-USDT\"",
    "\"caf\\u00e9-USDT\"",
    "\"X\\\"Q\\\\-USDT\"",
    "\"\u{20ac}-USDT\"",
];

const STRATEGIES: &[&str] = &[
    "\"Trend-Conservative\"",
    "\"Breakout-Aggressive\"",
    "\"Sentiment-Fusion\"",
];

/// A decoder over fuzz bytes: every read succeeds, returning 0 once the bytes run out.
#[derive(Debug, Clone)]
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u8()) % n
        }
    }
}

/// One generated position. Field choices index the pools above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub id: u32,
    pub symbol: u8,
    pub price: u8,
    pub size: u8,
    pub leverage: u8,
    /// Bit 0: a `volatility_snapshot` object; bit 1: a `tags` array of objects; bit 2: a
    /// note with escapes; bit 3: `null` and `true` fields; bit 4: signal fields holding
    /// `NaN`, `Infinity` or `-Infinity` (top-level, nested and in an array).
    pub extras: u8,
}

impl Rec {
    /// `n` positions with ids from `from`, their fields spread over the pools.
    pub fn series(from: u32, n: u32) -> Vec<Rec> {
        (from..from + n)
            .map(|id| Rec {
                id,
                symbol: u8::try_from(id % 200).unwrap_or(0),
                price: u8::try_from(id * 7 % 251).unwrap_or(0),
                size: u8::try_from(id * 13 % 251).unwrap_or(0),
                leverage: 3,
                extras: u8::try_from(id % 16).unwrap_or(0),
            })
            .collect()
    }

    pub fn decode(b: &mut Bytes<'_>, id: u32) -> Self {
        Rec {
            id,
            symbol: b.u8(),
            price: b.u8(),
            size: b.u8(),
            leverage: b.u8(),
            extras: b.u8(),
        }
    }
}

/// The text layout of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    pub pretty: bool,
    pub crlf: bool,
    pub trailing_commas: bool,
    pub bom: bool,
    pub created_first: bool,
}

impl Layout {
    pub fn decode(b: &mut Bytes<'_>) -> Self {
        let bits = b.u8();
        Layout {
            pretty: bits & 1 == 0,
            crlf: bits & 2 != 0,
            trailing_commas: bits & 4 != 0,
            bom: bits & 8 != 0,
            created_first: bits & 16 != 0,
        }
    }
}

/// A record of a rendered document and where its text lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// 0 = open_positions, 1 = closed_positions.
    pub array: usize,
    pub id: u32,
    pub span: Range<usize>,
}

/// A rendered document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Doc {
    pub bytes: Vec<u8>,
    pub records: Vec<Placed>,
}

impl Doc {
    /// The text of record `i`.
    pub fn text(&self, p: &Placed) -> &[u8] {
        self.bytes.get(p.span.clone()).unwrap_or_default()
    }
}

/// A JSON tree whose leaves are raw text, so numbers keep their exact spelling.
enum J {
    Raw(String),
    Obj(Vec<(&'static str, J)>),
    Arr(Vec<J>),
}

fn pick<'p>(pool: &[&'p str], i: u8) -> &'p str {
    let n = pool.len().max(1);
    pool.get(usize::from(i) % n).copied().unwrap_or("0")
}

fn raw(s: &str) -> J {
    J::Raw(s.to_owned())
}

fn record_tree(r: &Rec, closed: bool) -> J {
    let mut f: Vec<(&'static str, J)> = vec![
        ("symbol", raw(pick(SYMBOLS, r.symbol))),
        (
            "direction",
            raw(if r.id.is_multiple_of(2) {
                "\"LONG\""
            } else {
                "\"short\""
            }),
        ),
        ("strategy", raw(pick(STRATEGIES, r.symbol / 7))),
        ("entry_price", raw(pick(PRICES, r.price))),
        ("size", raw(pick(PRICES, r.size))),
        ("leverage", J::Raw((r.leverage % 20 + 1).to_string())),
        ("order_id", J::Raw(format!("\"ord-{}\"", r.id))),
    ];
    if r.extras & 1 != 0 {
        let snap = vec![
            ("atr", raw(pick(PRICES, r.size / 3))),
            ("regime", raw("\"trend\"")),
        ];
        f.push(("volatility_snapshot", J::Obj(snap)));
    }
    if r.extras & 2 != 0 {
        let tag = |v: &str| J::Obj(vec![("t", raw(v))]);
        f.push(("tags", J::Arr(vec![tag("1"), tag("\"b}]\"")])));
    }
    if r.extras & 4 != 0 {
        f.push((
            "note",
            raw("\"a \\\"quoted\\\" {note}, with \\\\ and \\n\""),
        ));
    }
    if r.extras & 8 != 0 {
        f.push(("liquidation_price", raw("null")));
        f.push(("is_true_trend", raw("true")));
    }
    if r.extras & 16 != 0 {
        f.push(("mtf_alignment", raw(pick(NON_FINITE, r.price))));
        let scores = vec![
            raw(pick(NON_FINITE, r.size)),
            raw("0.5"),
            raw(pick(NON_FINITE, r.leverage)),
        ];
        f.push(("signal_scores", J::Arr(scores)));
        let ctx = vec![("ofi_score", raw(pick(NON_FINITE, r.symbol)))];
        f.push(("signal_context", J::Obj(ctx)));
    }
    if closed {
        f.push(("exit_price", raw(pick(PRICES, r.price / 2))));
        f.push(("closed_at", raw("\"2026-01-02T03:04:05-07:00\"")));
        f.push(("net_pnl", raw(pick(PRICES, r.size / 2))));
    }
    J::Obj(f)
}

struct Writer {
    out: Vec<u8>,
    layout: Layout,
}

impl Writer {
    fn nl(&mut self, depth: usize) {
        if self.layout.pretty {
            let nl: &[u8] = if self.layout.crlf { b"\r\n" } else { b"\n" };
            self.out.extend_from_slice(nl);
            for _ in 0..depth {
                self.out.extend_from_slice(b"  ");
            }
        }
    }

    fn sep(&mut self) {
        self.out.extend_from_slice(b", ");
        if self.layout.pretty {
            self.out.pop();
        }
    }

    fn key(&mut self, k: &str) {
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\": ");
    }

    fn value(&mut self, j: &J, depth: usize) {
        match j {
            J::Raw(s) => self.out.extend_from_slice(s.as_bytes()),
            J::Obj(fields) => {
                self.out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.sep();
                    }
                    self.nl(depth + 1);
                    self.key(k);
                    self.value(v, depth + 1);
                }
                self.nl(depth);
                self.out.push(b'}');
            }
            J::Arr(items) => {
                self.out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        self.sep();
                    }
                    self.nl(depth + 1);
                    self.value(v, depth + 1);
                }
                self.nl(depth);
                self.out.push(b']');
            }
        }
    }
}

/// Renders `{"open_positions": [...], "closed_positions": [...], "created_at": ...}`.
pub fn render(open: &[Rec], closed: &[Rec], layout: Layout) -> Doc {
    let mut w = Writer {
        out: Vec::new(),
        layout,
    };
    if layout.bom {
        w.out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut records = Vec::new();
    w.out.push(b'{');
    if layout.created_first {
        w.nl(1);
        w.key("created_at");
        w.out.extend_from_slice(b"\"2026-01-01T00:00:00\"");
        w.sep();
    }
    for (array, (name, recs)) in [("open_positions", open), ("closed_positions", closed)]
        .into_iter()
        .enumerate()
    {
        if array == 1 {
            w.sep();
        }
        w.nl(1);
        w.key(name);
        w.out.push(b'[');
        for (i, r) in recs.iter().enumerate() {
            if i > 0 {
                w.sep();
            }
            w.nl(2);
            let start = w.out.len();
            w.value(&record_tree(r, array == 1), 2);
            records.push(Placed {
                array,
                id: r.id,
                span: start..w.out.len(),
            });
        }
        if layout.trailing_commas && !recs.is_empty() {
            w.out.push(b',');
        }
        w.nl(1);
        w.out.push(b']');
    }
    if !layout.created_first {
        w.sep();
        w.nl(1);
        w.key("created_at");
        w.out.extend_from_slice(b"\"2026-01-01T00:00:00\"");
        if layout.trailing_commas {
            w.out.push(b',');
        }
    }
    w.nl(0);
    w.out.push(b'}');
    Doc {
        bytes: w.out,
        records,
    }
}

/// How the second writer's version differs from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Second {
    /// Close the first open position (it moves to closed_positions with exit fields).
    pub close_first: bool,
    /// Open one more position (appended: right before the closed header).
    pub open_one: bool,
    pub layout_bits: u8,
    /// Bit 0: drop the first closed position (right after the header, as a capped
    /// history does); bit 1: a new closed position first; bit 2: a new open position
    /// first; bit 3: the last closed position moved to the front (same text).
    pub edits: u8,
}

/// A corruption of a rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    None,
    /// Keep only the first `at % (len + 1)` bytes.
    Truncate {
        at: u32,
    },
    /// Overwrite from `at % (len + 1)` to the end with NUL, then append `extend` NULs.
    NulTail {
        at: u32,
        extend: u16,
    },
    /// Overwrite `len` bytes from `at` with bytes that are never JSON text.
    Garbage {
        at: u32,
        len: u16,
        seed: u8,
    },
    /// Overwrite single bytes with bytes that are never JSON text.
    Flip {
        at: Vec<u32>,
        seed: u8,
    },
    /// The first version, cut at `cut` if given, then a newline if asked, then a second one.
    Append {
        cut: Option<u32>,
        newline: bool,
        second: Second,
    },
    /// Blocks of `block` bytes taken alternately from the first and a second version.
    Interleave {
        block: u16,
        second: Second,
    },
}

impl Corruption {
    pub fn decode(b: &mut Bytes<'_>) -> Self {
        let second = |b: &mut Bytes<'_>| {
            let bits = b.u8();
            Second {
                close_first: bits & 1 != 0,
                open_one: bits & 2 != 0,
                layout_bits: b.u8(),
                edits: bits >> 2,
            }
        };
        match b.u8() % 7 {
            0 => Corruption::None,
            1 => Corruption::Truncate { at: b.u32() },
            2 => Corruption::NulTail {
                at: b.u32(),
                extend: b.u16() % 5000,
            },
            3 => Corruption::Garbage {
                at: b.u32(),
                len: b.u16() % 600 + 1,
                seed: b.u8(),
            },
            4 => {
                let n = b.below(4) + 1;
                let at = (0..n).map(|_| b.u32()).collect();
                Corruption::Flip { at, seed: b.u8() }
            }
            5 => {
                let bits = b.u8();
                let cut = (bits & 1 != 0).then(|| b.u32());
                Corruption::Append {
                    cut,
                    newline: bits & 2 != 0,
                    second: second(b),
                }
            }
            _ => Corruption::Interleave {
                block: b.u16() % 4096 + 16,
                second: second(b),
            },
        }
    }
}

/// A byte that is never part of valid JSON text anywhere: a control other than whitespace
/// (invalid even inside strings) or a byte that never occurs in UTF-8. Garbage made of
/// these cannot forge structure or complete a record, so a check may demand that every
/// record outside it survives.
pub fn garbage_byte(seed: u8, i: usize) -> u8 {
    const POOL: &[u8] = &[0x00, 0x01, 0x07, 0x1F, 0xC0, 0xC1, 0xF8, 0xFE, 0xFF];
    let k = usize::from(seed).wrapping_add(i.wrapping_mul(7));
    POOL.get(k % POOL.len()).copied().unwrap_or(0)
}

/// A complete test case: two lists of records, a layout and a corruption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub open: Vec<Rec>,
    pub closed: Vec<Rec>,
    pub layout: Layout,
    pub corruption: Corruption,
}

impl Spec {
    /// Decodes a case from fuzz bytes (any bytes decode to some case).
    pub fn decode(data: &[u8]) -> Self {
        let mut b = Bytes::new(data);
        let layout = Layout::decode(&mut b);
        let corruption = Corruption::decode(&mut b);
        let n_open = b.below(7);
        let n_closed = b.below(7);
        let mut id = 0u32;
        let next = |id: &mut u32| {
            *id += 1;
            *id
        };
        let recs = |n: usize, b: &mut Bytes<'_>, id: &mut u32| -> Vec<Rec> {
            (0..n).map(|_| Rec::decode(b, next(id))).collect()
        };
        let mut open = recs(n_open, &mut b, &mut id);
        let mut closed = recs(n_closed, &mut b, &mut id);
        if matches!(corruption, Corruption::Interleave { .. }) {
            // enough records for several blocks: copies of the decoded ones, new ids
            let copies = b.below(24);
            let (o, c) = (open.clone(), closed.clone());
            for _ in 0..copies {
                open.extend(o.iter().map(|r| Rec {
                    id: next(&mut id),
                    ..r.clone()
                }));
                closed.extend(c.iter().map(|r| Rec {
                    id: next(&mut id),
                    ..r.clone()
                }));
            }
        }
        Spec {
            open,
            closed,
            layout,
            corruption,
        }
    }

    /// The first version.
    pub fn first(&self) -> Doc {
        render(&self.open, &self.closed, self.layout)
    }

    /// The second writer's version.
    pub fn second(&self, s: Second) -> Doc {
        let mut open = self.open.clone();
        let mut closed = self.closed.clone();
        if s.close_first && !open.is_empty() {
            closed.push(open.remove(0));
        }
        let fresh = |k: usize| Rec {
            id: u32::try_from(1 + k + self.open.len() + self.closed.len()).unwrap_or(u32::MAX),
            symbol: 1,
            price: 1,
            size: 3,
            leverage: 4,
            extras: s.layout_bits,
        };
        if s.open_one {
            open.push(fresh(0));
        }
        if s.edits & 1 != 0 && !closed.is_empty() {
            closed.remove(0);
        }
        if s.edits & 2 != 0 {
            closed.insert(0, fresh(1));
        }
        if s.edits & 4 != 0 {
            open.insert(0, fresh(2));
        }
        if s.edits & 8 != 0 {
            if let Some(last) = closed.pop() {
                closed.insert(0, last);
            }
        }
        let mut layout = self.layout;
        layout.created_first = s.layout_bits & 16 != 0;
        layout.bom = false;
        render(&open, &closed, layout)
    }
}
