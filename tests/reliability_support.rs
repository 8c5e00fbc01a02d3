//! Shared support of the reliability suite (the `reliability_*` modules). Every test works
//! in an [`Arena`]: a temp dir holding the state root, a sentinel tree beside it (a
//! look-alike state tree that symlinks in the tests point into) and `aux/` for the test's
//! own files. The arena lives on tmpfs when one is available: fsync is cheap there, and no
//! test here depends on the device (crashes and power cuts are modelled, not performed).
//! Every run of the binary goes through [`Arena::run`] or [`Arena::output`], which count it
//! and fail the test on a panic. Dropping an arena checks that the sentinel tree and the
//! parent listing are exactly as they were: nothing was written outside the root. Totals
//! go to [`summary`], which writes `target/reliability-summary.txt` once every part of the
//! suite has reported.

#![cfg_attr(not(feature = "fault-injection"), allow(dead_code))]

use crate::util::{self, Fixture, Node, Snapshot};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether the long variants run (`SELFHEAL_LONG_TESTS=1`).
pub fn long() -> bool {
    std::env::var("SELFHEAL_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// Where arenas are made: `$SELFHEAL_TEST_TMPDIR`, else `/dev/shm` when it is a writable
/// directory, else the system temp dir.
pub fn fast_tmp() -> PathBuf {
    if let Some(dir) = std::env::var_os("SELFHEAL_TEST_TMPDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let usable = shm.is_dir()
        && tempfile::Builder::new()
            .prefix("selfheal-probe.")
            .tempfile_in(shm)
            .is_ok();
    if usable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A test's whole world: `<tmp>/root`, `<tmp>/sentinel`, `<tmp>/aux`.
pub struct Arena {
    pub fx: Fixture,
    sentinel: Snapshot,
    listing: BTreeSet<String>,
}

impl Arena {
    /// An arena whose root exists and is empty.
    pub fn new() -> Arena {
        let a = Arena::without_root();
        std::fs::create_dir(a.root()).expect("mkdir root");
        a
    }

    /// An arena with no root directory (`<tmp>/root` is free).
    pub fn without_root() -> Arena {
        let dir = tempfile::Builder::new()
            .prefix("selfheal-rel.")
            .tempdir_in(fast_tmp())
            .expect("tempdir");
        let fx = Fixture { dir };
        std::fs::create_dir(fx.dir.path().join("aux")).expect("mkdir aux");
        plant_sentinel(&fx.dir.path().join("sentinel"));
        let mut a = Arena {
            fx,
            sentinel: Snapshot::new(),
            listing: BTreeSet::new(),
        };
        a.seal();
        a
    }

    /// An arena holding an exact copy of `template`'s root.
    pub fn copy_of(template: &Arena) -> Arena {
        let a = Arena::without_root();
        util::copy_tree(&template.root(), &a.root());
        a
    }

    /// Records the sentinel tree and the parent listing as they must stay from now on
    /// (again, after the test itself added files beside the root). Whether `root` exists
    /// is the test's business and not compared.
    pub fn seal(&mut self) {
        self.sentinel = exact_tree(&self.sentinel_dir());
        self.listing = listing(self.fx.dir.path());
    }

    pub fn root(&self) -> PathBuf {
        self.fx.root()
    }

    pub fn sentinel_dir(&self) -> PathBuf {
        self.fx.dir.path().join("sentinel")
    }

    /// A path in `aux/` (the test's own files, outside the root).
    pub fn aux(&self, name: &str) -> PathBuf {
        self.fx.dir.path().join("aux").join(name)
    }

    /// Writes `text` as `aux/selfheal.json` and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.aux("selfheal.json");
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// `selfheal --root <root> args...`, with no fault injection unless the caller adds it.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.fx.cmd(args);
        c.env_remove("SELFHEAL_FAULT_TRACE")
            .env_remove("SELFHEAL_POWERCUT_LOG")
            .env_remove("RUST_LOG");
        c
    }

    /// Runs `args`, counting the run and failing on a panic.
    pub fn run(&self, args: &[&str]) -> Output {
        self.output(&mut self.cmd(args))
    }

    /// Runs a prepared command, counting the run and failing on a panic or on a run
    /// that has not finished after [`RUN_LIMIT`] (a hang, killed).
    pub fn output(&self, cmd: &mut Command) -> Output {
        let out = output_within(cmd, RUN_LIMIT);
        observe_run(&out);
        out
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        util::json_of(&self.run(&all))
    }

    pub fn snapshot(&self) -> Snapshot {
        self.fx.snapshot()
    }

    /// Asserts nothing outside the root changed; returns the number of differences (0).
    pub fn check_outside(&self) -> usize {
        let now = exact_tree(&self.sentinel_dir());
        let mut names = listing(self.fx.dir.path());
        names.remove("root");
        let mut want = self.listing.clone();
        want.remove("root");
        let diffs = util::diff(&self.sentinel, &now);
        let bad = usize::from(!diffs.is_empty()) + usize::from(names != want);
        summary::add(|t| {
            t.sentinel_checks += 1;
            t.outside_writes += bad as u64;
        });
        assert!(
            diffs.is_empty(),
            "something was written outside the root (sentinel tree):\n{diffs}"
        );
        assert_eq!(
            names, want,
            "something was created or removed beside the root"
        );
        bad
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check_outside();
        }
    }
}

/// A look-alike state tree: what a symlink out of the root would lead a writer into.
fn plant_sentinel(dir: &Path) {
    for d in ["logs", "state/heartbeats", "config", "data"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir sentinel");
    }
    let files: [(&str, &[u8]); 5] = [
        ("logs/positions_futures.json", b""),
        ("logs/portfolio_futures.json", b"{}"),
        ("logs/positions_futures.json.lock", b""),
        ("state/heartbeats/bot.json", b"{\"last_heartbeat_ts\": 1}"),
        ("notes.txt", b"outside the root: never written\n"),
    ];
    for (rel, bytes) in files {
        let p = dir.join(rel);
        std::fs::write(&p, bytes).expect("write sentinel");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        let f = std::fs::File::options()
            .write(true)
            .open(&p)
            .expect("open sentinel");
        f.set_modified(old).expect("age sentinel");
    }
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("list arena")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every path under `dir`, nothing excluded, symlinks not followed.
pub fn exact_tree(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            let mode = md.mode() & 0o7777;
            let node = if md.file_type().is_symlink() {
                Node::Symlink {
                    target: std::fs::read_link(&p).expect("readlink"),
                }
            } else if md.is_dir() {
                stack.push(p.clone());
                Node::Dir { mode }
            } else if md.is_file() {
                Node::File {
                    mode,
                    mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                    bytes: std::fs::read(&p).expect("read"),
                }
            } else {
                Node::Other
            };
            out.insert(rel, node);
        }
    }
    out
}

/// How long one run may take before it counts as hung: far beyond any run of this suite
/// (a fraction of a second each), so only a real hang reaches it.
pub const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `cmd` to completion, collecting its output; kills it and fails the test if it is
/// still running after `limit`.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn selfheal");
    collect(child, limit)
}

/// Waits for a started run (stdout and stderr piped), collecting its output; kills it and
/// fails the test if it is still running after `limit`.
pub fn collect(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "run {} did not finish within {limit:?} (killed)",
                child.id()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// Counts a finished run; a panic (exit 101 or a panic message) fails the test.
pub fn observe_run(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    let panicked = util::code(out) == 101 || err.contains("panicked at");
    summary::add(|t| {
        t.runs += 1;
        t.panics += u64::from(panicked);
    });
    assert!(!panicked, "selfheal panicked:\n{err}");
}

/// No character of `bytes` is a control character other than a newline: a raw ESC, BEL,
/// C1, ... from file content must never reach a terminal or a log line.
pub fn no_raw_control(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "raw control characters {bad:?} in {what}:\n{text}"
    );
}

/// One fault point from `SELFHEAL_FAULT_TRACE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// 1-based, over the whole process.
    pub n: usize,
    /// `Create`, `Write`, `Fsync`, `FsyncDir`, `Rename`, ...
    pub kind: String,
    /// The path the point names, relative to the root.
    pub path: String,
}

impl Point {
    /// The operation as the error message words it (`cannot <op> \`<path>\``).
    pub fn op_words(&self) -> &'static str {
        match self.kind.as_str() {
            "Create" => "create",
            "Write" => "write",
            "Fsync" => "fsync",
            "FsyncDir" => "fsync directory",
            "Rename" => "rename into",
            "Remove" => "remove",
            "Mkdir" => "create directory",
            "Chmod" => "change mode of",
            "Chown" => "change owner of",
            "SetTimes" => "set times of",
            "Append" => "append to",
            "Truncate" => "truncate",
            other => panic!("unknown fault point kind {other}"),
        }
    }
}

/// The fault points `selfheal args...` passes in `arena`, in order (it must succeed).
pub fn trace(arena: &Arena, args: &[&str]) -> Vec<Point> {
    let out = arena.output(arena.cmd(args).env("SELFHEAL_FAULT_TRACE", "1"));
    assert_eq!(util::code(&out), 0, "trace run: {}", util::stderr(&out));
    util::stderr(&out)
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("fault-point ")?.splitn(3, ' ');
            Some(Point {
                n: parts.next()?.parse().ok()?,
                kind: parts.next()?.to_string(),
                path: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// Temp files selfheal left anywhere under `root`.
pub fn temps_left(root: &Path) -> Vec<String> {
    exact_tree(root)
        .into_keys()
        .filter(|k| {
            k.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".selfheal-tmp."))
        })
        .collect()
}

/// Which side of a change a state is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Before,
    After,
}

/// `now` compared with `pre` (exact) and `post` (exact, or by content and modes when
/// `post_exact` is false: freshly written files get new mtimes, while files the change
/// did not touch must keep theirs). A mix of both is an error describing the difference.
pub fn side(
    now: &Snapshot,
    pre: &Snapshot,
    post: &Snapshot,
    post_exact: bool,
) -> Result<Side, String> {
    if now == pre {
        return Ok(Side::Before);
    }
    let after = if post_exact {
        now == post
    } else {
        util::without_mtimes(now) == util::without_mtimes(post) && untouched_kept(now, pre, post)
    };
    if after {
        return Ok(Side::After);
    }
    Err(format!(
        "neither before nor after.\nvs before:\n{}\nvs after:\n{}",
        util::diff(pre, now),
        util::diff(post, now)
    ))
}

fn untouched_kept(now: &Snapshot, pre: &Snapshot, post: &Snapshot) -> bool {
    pre.iter().all(|(k, v)| {
        let same_content = |a: &Node, b: &Node| match (a, b) {
            (
                Node::File {
                    mode: m1,
                    bytes: b1,
                    ..
                },
                Node::File {
                    mode: m2,
                    bytes: b2,
                    ..
                },
            ) => m1 == m2 && b1 == b2,
            _ => false,
        };
        match post.get(k) {
            Some(p) if same_content(v, p) => now.get(k) == Some(v),
            _ => true,
        }
    })
}

/// Bytes of `pre`'s files that are neither still in place nor in the backup store under
/// the SHA-256 of their content with a journal record naming it: what a run lost.
pub fn lost_bytes(pre: &Snapshot, root: &Path) -> u64 {
    let journal = journal_text(root);
    let mut lost = 0;
    for (rel, node) in pre {
        let Node::File { bytes, .. } = node else {
            continue;
        };
        if std::fs::read(root.join(rel)).is_ok_and(|now| &now == bytes) {
            continue;
        }
        let sha = hex(&sha2::Sha256::digest(bytes));
        if !(in_store(root, &sha, bytes) && journal.contains(&sha)) {
            lost += bytes.len() as u64;
        }
    }
    summary::add(|t| t.bytes_lost += lost);
    lost
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the store holds an object that decompresses to exactly `bytes`.
pub fn in_store(root: &Path, sha: &str, bytes: &[u8]) -> bool {
    let (fan, rest) = sha.split_at(2);
    let p = root.join(format!("logs/backups/objects/{fan}/{rest}.zst"));
    std::fs::read(p)
        .ok()
        .and_then(|z| zstd::decode_all(z.as_slice()).ok())
        .is_some_and(|b| b == bytes)
}

/// Every journal file's text, concatenated.
pub fn journal_text(root: &Path) -> String {
    let mut text = String::new();
    let dir = root.join("logs/backups/journal");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(t) = std::fs::read_to_string(e.path()) {
            text.push_str(&t);
        }
    }
    text
}

/// The suite's totals, computed by the tests and written to `target/reliability-summary.txt`.
/// Every test of the suite holds a [`summary::Part`]; the summary is complete (and printed)
/// once every `reliability_*` test the binary holds has finished.
pub mod summary {
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
        let scope = if super::long() {
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
}

/// A damaged root (the crash matrix's: ten operations) and its config path.
pub fn damaged_arena() -> (Arena, String) {
    let mut a = Arena::new();
    let config = crate::engine_rollback::damaged(&a.fx);
    a.seal();
    (a, config.to_str().expect("utf8").to_string())
}

/// Heals `template` with `cfg`: its snapshot before the heal and the heal's transaction.
pub fn heal_template(template: &Arena, cfg: &str) -> (Snapshot, String) {
    let pre_heal = template.snapshot();
    let (rc, v) = template.json(&["--config", cfg, "heal"]);
    assert_eq!(rc, 0, "{v}");
    let id = v["transaction"].as_u64().expect("txn").to_string();
    (pre_heal, id)
}

/// Finishes an interrupted rollback: unless `a` is already at `pre_heal`, the next
/// `rollback` must succeed.
pub fn rollback_unless_at(a: &Arena, rollback: &[&str], pre_heal: &Snapshot) {
    if a.snapshot() != *pre_heal {
        let out = a.run(rollback);
        assert_eq!(
            util::code(&out),
            0,
            "the next rollback: {}",
            util::stderr(&out)
        );
    }
}
