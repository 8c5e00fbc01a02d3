//! Seeded generators of state roots: a positions file of realistic records (the reference
//! bot's fields, tricky numbers), a portfolio consistent with it, heartbeats and lock files.
//! The same seed gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [lo, hi) with `decimals` digits after the point, as text.
    pub fn num(&mut self, lo: f64, hi: f64, decimals: usize) -> String {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        format!("{:.*}", decimals, lo + unit * (hi - lo))
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const SYMBOLS: &[&str] = &[
    "BTC-USDT",
    "ETH-USDT",
    "SOL-USDT",
    "XRP-USDT",
    "DOGE-USDT",
    "AVAX-USDT",
];

/// Strategies of closed positions: a bot runs a handful, so closed records repeat them.
const STRATEGIES: &[&str] = &[
    "momentum_v2",
    "mean_reversion",
    "breakout",
    "funding_arb",
    "grid_scalper",
];

/// One position record, in the reference bot's `json.dump` style (`", "` and `": "`), about
/// 500 bytes. An open position's identity (symbol, strategy, direction) is unique: its
/// strategy names its slot; a closed one uses one of a few [`STRATEGIES`]. `margin` is
/// returned so the portfolio can be made consistent.
pub fn position(rng: &mut Rng, i: usize, closed: bool) -> (String, f64) {
    let symbol = rng.pick(SYMBOLS);
    let direction = rng.pick(&["LONG", "SHORT"]);
    let strategy = if closed {
        rng.pick(STRATEGIES).to_string()
    } else {
        format!("slot_{i}")
    };
    let entry = rng.num(0.5, 60_000.0, 6);
    let leverage = rng.pick(&["2", "5", "10"]);
    let size = rng.num(20.0, 5_000.0, 4);
    let margin_f: f64 = size.parse::<f64>().unwrap_or(0.0) / leverage.parse::<f64>().unwrap_or(1.0);
    let margin = format!("{margin_f:.6}");
    let mut r = String::with_capacity(560);
    let _ = write!(
        r,
        "{{\"symbol\": \"{symbol}\", \"direction\": \"{direction}\", \"strategy\": \"{strategy}\", \"entry_price\": {entry}, \"size\": {size}, \"leverage\": {leverage}, \"margin_collateral\": {margin}, \"peak_price\": {}, \"opened_at\": \"2025-12-01T10:{:02}:00-07:00\", \"execution_timestamp\": 1764600000.{:03}, \"order_id\": \"ord-{i}\", \"ofi_score\": {}, \"volatility_snapshot\": {{\"atr\": {}}}",
        rng.num(0.5, 60_000.0, 2),
        i % 60,
        i % 1000,
        rng.num(-1.0, 1.0, 6),
        rng.num(0.0, 3.0, 6),
    );
    if closed {
        let _ = write!(
            r,
            ", \"exit_price\": {}, \"closed_at\": \"2025-12-02T11:{:02}:00-07:00\", \"close_reason\": \"{}\", \"pnl\": {}, \"fees\": {}",
            rng.num(0.5, 60_000.0, 6),
            i % 60,
            rng.pick(&["take_profit", "stop_loss", "trailing_stop", "signal_exit"]),
            rng.num(-500.0, 500.0, 6),
            rng.num(0.0, 5.0, 6),
        );
    }
    r.push('}');
    (r, margin_f)
}

/// The positions document and the sum of open margin.
pub fn positions(seed: u64, open: usize, closed: usize) -> (Vec<u8>, f64) {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity((open + closed) * 560);
    out.push_str("{\"open_positions\": [");
    let mut margin = 0.0;
    for i in 0..open {
        if i > 0 {
            out.push_str(", ");
        }
        let (rec, m) = position(&mut rng, i, false);
        margin += m;
        out.push_str(&rec);
    }
    out.push_str("], \"closed_positions\": [");
    for i in 0..closed {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&position(&mut rng, open + i, true).0);
    }
    out.push_str("], \"created_at\": \"2025-01-01T00:00:00\"}");
    (out.into_bytes(), margin)
}

/// A portfolio consistent with `open` positions whose margins sum to `margin`.
pub fn portfolio(open: usize, margin: f64) -> Vec<u8> {
    format!(
        "{{\"total_margin_allocated\": 10000.0, \"available_margin\": {:.6}, \"used_margin\": {margin:.6}, \"unrealized_pnl\": 0.0, \"realized_pnl\": 0.0, \"total_funding_fees\": 0.0, \"total_trading_fees\": 0.0, \"open_positions_count\": {open}, \"total_notional_exposure\": 0.0, \"effective_leverage\": 0.0, \"snapshots\": []}}",
        10000.0 - margin
    )
    .into_bytes()
}

/// Writes a healthy root with `open`/`closed` positions (directories made, files fresh).
pub fn healthy_root(root: &Path, seed: u64, open: usize, closed: usize) -> std::io::Result<()> {
    for d in [
        "logs",
        "config",
        "configs",
        "data",
        "feature_store",
        "state/heartbeats",
    ] {
        std::fs::create_dir_all(root.join(d))?;
    }
    let (pos, margin) = positions(seed, open, closed);
    std::fs::write(root.join("logs/positions_futures.json"), pos)?;
    std::fs::write(
        root.join("logs/portfolio_futures.json"),
        portfolio(open, margin),
    )?;
    Ok(())
}

/// Adds `n` JSON heartbeats and `n` lock files, aged `age_s` seconds.
pub fn heartbeats_and_locks(root: &Path, n: usize, now: i64, age_s: i64) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("state/heartbeats"))?;
    let ts = now - age_s;
    for i in 0..n {
        let hb = format!(
            "{{\"component\": \"worker_{i}\", \"last_heartbeat_ts\": {ts}, \"last_heartbeat_dt\": \"2026-01-01 00:00:00 UTC\", \"metadata\": {{\"open_positions\": {i}}}}}"
        );
        let hb_path = root.join(format!("state/heartbeats/worker_{i}.json"));
        std::fs::write(&hb_path, hb)?;
        let lock = root.join(format!("state/worker_{i}.json.lock"));
        std::fs::write(&lock, b"")?;
        for p in [hb_path, lock] {
            let f = std::fs::File::options().write(true).open(&p)?;
            let t = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(ts).unwrap_or(0));
            f.set_modified(t)?;
        }
    }
    Ok(())
}
