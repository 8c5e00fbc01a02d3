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

pub use super::summary;
use super::{exact_tree, Fixture, Node, Snapshot};
use sha2::Digest as _;
use std::collections::BTreeSet;
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
        super::copy_tree(&template.root(), &a.root());
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
        self.fx.cmd(args)
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
        super::json_of(&self.run(&all))
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
        let diffs = super::diff(&self.sentinel, &now);
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
    let panicked = super::code(out) == 101 || err.contains("panicked at");
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
            "SetXattr" => "set extended attributes of",
            "Append" => "append to",
            "Truncate" => "truncate",
            other => panic!("unknown fault point kind {other}"),
        }
    }
}

/// The fault points `selfheal args...` passes in `arena`, in order (it must succeed).
pub fn trace(arena: &Arena, args: &[&str]) -> Vec<Point> {
    let out = arena.output(arena.cmd(args).env("SELFHEAL_FAULT_TRACE", "1"));
    assert_eq!(super::code(&out), 0, "trace run: {}", super::stderr(&out));
    super::stderr(&out)
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
        super::without_mtimes(now) == super::without_mtimes(post) && untouched_kept(now, pre, post)
    };
    if after {
        return Ok(Side::After);
    }
    Err(format!(
        "neither before nor after.\nvs before:\n{}\nvs after:\n{}",
        super::diff(pre, now),
        super::diff(post, now)
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

/// A damaged root (the crash matrix's: ten operations) and its config path.
pub fn damaged_arena() -> (Arena, String) {
    let mut a = Arena::new();
    let config = crate::support::states::damaged(&a.fx);
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
            super::code(&out),
            0,
            "the next rollback: {}",
            super::stderr(&out)
        );
    }
}
