//! The reliability suite's totals, computed by its tests and written to
//! `target/reliability-summary.txt`. Every test of the suite (a test whose path starts with
//! `reliability_`) holds a [`Part`]; the summary is complete, and printed, once every such
//! test the binary holds has finished.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub faults_injected: u64,
    pub fault_points: u64,
    pub crash_points: u64,
    pub dropped_effects: u64,
    pub bad_inputs: u64,
    pub input_kinds: u64,
    pub concurrent_runs: u64,
    pub rounds: u64,
    pub checks_beside_writer: u64,
    pub writer_writes: u64,
    pub watch_cycles_in_rounds: u64,
    pub watch_rounds: u64,
    pub watch_cycles_beside_writer: u64,
    pub writes_beside_watch: u64,
    pub watch_writer_secs: u64,
    pub runs: u64,
    pub bytes_lost: u64,
    pub panics: u64,
    pub outside_writes: u64,
    pub sentinel_checks: u64,
    /// Further categories, each a line of its own: what was attacked -> cases run.
    pub categories: BTreeMap<String, u64>,
    pub done: BTreeSet<String>,
}

static TOTALS: Mutex<Totals> = Mutex::new(Totals {
    faults_injected: 0,
    fault_points: 0,
    crash_points: 0,
    dropped_effects: 0,
    bad_inputs: 0,
    input_kinds: 0,
    concurrent_runs: 0,
    rounds: 0,
    checks_beside_writer: 0,
    writer_writes: 0,
    watch_cycles_in_rounds: 0,
    watch_rounds: 0,
    watch_cycles_beside_writer: 0,
    writes_beside_watch: 0,
    watch_writer_secs: 0,
    runs: 0,
    bytes_lost: 0,
    panics: 0,
    outside_writes: 0,
    sentinel_checks: 0,
    categories: BTreeMap::new(),
    done: BTreeSet::new(),
});

/// Adds to the totals.
pub fn add(f: impl FnOnce(&mut Totals)) {
    let mut t = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut t);
}

/// Counts `n` cases of `category` (a short phrase, printed as its own summary line).
pub fn count(category: &str, n: u64) {
    add(|t| *t.categories.entry(category.to_string()).or_default() += n);
}

/// The suite's tests, as this binary lists them.
fn suite() -> &'static BTreeSet<String> {
    static SUITE: OnceLock<BTreeSet<String>> = OnceLock::new();
    SUITE.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args(["--list", "--format", "terse"])
            .output()
            .expect("list the tests");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .filter(|n| n.starts_with("reliability_"))
            .map(str::to_string)
            .collect()
    })
}

/// Created first in every test of the suite, so it is dropped last (after the test's
/// arenas made their sentinel checks): marks the test done unless it failed.
pub struct Part;

impl Part {
    pub fn start() -> Part {
        Part
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            done();
        }
    }
}

/// Marks the calling test (the thread libtest names after it) done and writes the
/// summary; prints it when every test of the suite is done.
fn done() {
    let name = std::thread::current().name().unwrap_or("?").to_string();
    let t = {
        let mut t = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
        if name.starts_with("reliability_inputs::") && !t.done.contains(&name) {
            t.input_kinds += 1;
        }
        t.done.insert(name);
        t.clone()
    };
    let all = suite();
    let complete = all.iter().all(|n| t.done.contains(n));
    let text = render(&t, all.len(), complete);
    let path = file();
    let _ = std::fs::write(&path, &text);
    if complete {
        // Straight to the process's stderr, so it shows without --nocapture.
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("\n{text}(written to {})\n", path.display()).as_bytes());
    }
}

/// `target/reliability-summary.txt`.
pub fn file() -> std::path::PathBuf {
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("reliability-summary.txt")
}

fn render(t: &Totals, tests: usize, complete: bool) -> String {
    let scope = if super::arena::long() {
        "long run, SELFHEAL_LONG_TESTS=1"
    } else {
        "CI run"
    };
    let status = if complete {
        format!("all {tests} tests")
    } else {
        format!("partial: {} of {tests} tests", t.done.len())
    };
    let categories: String = t
        .categories
        .iter()
        .map(|(c, n)| format!("{:<26}{n}\n", format!("{c}:")))
        .collect();
    format!(
        "selfheal reliability summary ({scope}, {status})\n\
         I/O faults injected:      {} at {} fault points (ENOSPC, EIO, EACCES, EROFS)\n\
         power-cut crash points:   {} ({} unsynced effects dropped before recovery)\n\
         bad inputs:               {} cases of {} kinds\n\
         concurrent runs:          {} heals and rollbacks in {} rounds on one root; {} checks beside {} locked writes\n\
         watch under load:         {} cycles through {} of those rounds; {} cycles beside {} locked writes in {} s\n\
         {categories}\
         selfheal runs in total:   {}\n\
         bytes lost:               {}\n\
         panics:                   {}\n\
         writes outside the root:  {} ({} sentinel checks)\n",
        t.faults_injected,
        t.fault_points,
        t.crash_points,
        t.dropped_effects,
        t.bad_inputs,
        t.input_kinds,
        t.concurrent_runs,
        t.rounds,
        t.checks_beside_writer,
        t.writer_writes,
        t.watch_cycles_in_rounds,
        t.watch_rounds,
        t.watch_cycles_beside_writer,
        t.writes_beside_watch,
        t.watch_writer_secs,
        t.runs,
        t.bytes_lost,
        t.panics,
        t.outside_writes,
        t.sentinel_checks,
    )
}
