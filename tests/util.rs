//! Shared test support: a state root in a temp dir, the real `selfheal` binary, and exact
//! snapshots of a directory tree (bytes, modes, file mtimes) to compare states.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_selfheal"))
}

/// A temp dir holding a state root at `<tmp>/root` (so siblings can be made).
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A fixture whose root exists and is empty.
    pub fn with_root() -> Fixture {
        let f = Fixture::new();
        std::fs::create_dir(f.root()).expect("mkdir root");
        f
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The fault points a command passes (`SELFHEAL_FAULT_TRACE`, fault-injection
    /// build), as `fault-point N KIND PATH` lines; the traced run must succeed.
    #[cfg(feature = "fault-injection")]
    pub fn fault_points(&self, args: &[&str]) -> Vec<String> {
        let out = self
            .cmd(args)
            .env("SELFHEAL_FAULT_TRACE", "1")
            .output()
            .expect("run");
        assert_eq!(code(&out), 0, "trace run failed: {}", stderr(&out));
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("fault-point "))
            .map(str::to_string)
            .collect()
    }

    /// Runs a command that crashes (aborts) at its fault point `k`.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, args: &[&str], k: usize) -> Output {
        self.cmd(args)
            .env("SELFHEAL_FAULT", format!("{k}:crash"))
            .output()
            .expect("run")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir -p");
        }
        std::fs::write(&p, bytes).expect("write");
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path(rel)).expect("mkdir");
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    /// Sets a file's mtime to `secs_ago` seconds in the past.
    pub fn age(&self, rel: &str, secs_ago: u64) {
        let f = std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .expect("open for age");
        f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
            .expect("set mtime");
    }

    /// `selfheal --root <root> args...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("TRADING_MODE")
            .env_remove("SELFHEAL_ROOT")
            .env_remove("SELFHEAL_FAULT")
            .env_remove("RUST_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run selfheal")
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json_of(&self.run(&all))
    }

    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.root())
    }
}

/// Exit code, or -signal.
pub fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .unwrap_or_else(|| -out.status.signal().unwrap_or(0))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The human data of a data command (`journal`, `stats`, `config`): it is on stdout and
/// nothing at all is on stderr.
pub fn data_of(out: &Output) -> String {
    assert_eq!(stderr(out), "", "a data command printed on stderr");
    stdout(out)
}

/// One path in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        mtime_ns: i128,
        bytes: Vec<u8>,
    },
    Symlink {
        target: PathBuf,
    },
    Other,
}

pub type Snapshot = BTreeMap<String, Node>;

/// Every path under `root` except selfheal's own `logs/backups/` and the operator alert
/// log (appended to by design), without following symlinks. Directory mtimes are left out: creating anything inside a directory changes
/// its mtime, and no tool can keep that.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        if rel == "logs/backups" || rel == "logs/operator_alerts.jsonl" {
            continue;
        }
        let md = std::fs::symlink_metadata(&p).expect("lstat");
        let mode = md.mode() & 0o7777;
        let node = if md.file_type().is_symlink() {
            Node::Symlink {
                target: std::fs::read_link(&p).expect("readlink"),
            }
        } else if md.is_dir() {
            walk(root, &p, out);
            Node::Dir { mode }
        } else if md.is_file() {
            let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
            Node::File {
                mode,
                mtime_ns,
                bytes: std::fs::read(&p).expect("read"),
            }
        } else {
            Node::Other
        };
        out.insert(rel, node);
    }
}

/// The snapshot without file mtimes (for states whose files were freshly written).
pub fn without_mtimes(s: &Snapshot) -> Snapshot {
    s.iter()
        .map(|(k, v)| {
            let v = match v {
                Node::File { mode, bytes, .. } => Node::File {
                    mode: *mode,
                    mtime_ns: 0,
                    bytes: bytes.clone(),
                },
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Describes how two snapshots differ (for assertion messages).
pub fn diff(a: &Snapshot, b: &Snapshot) -> String {
    let mut lines = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => lines.push(format!("- {k}")),
            Some(w) if w != v => lines.push(format!("~ {k}: {} vs {}", brief(v), brief(w))),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        lines.push(format!("+ {k}"));
    }
    lines.join("\n")
}

fn brief(n: &Node) -> String {
    match n {
        Node::Dir { mode } => format!("dir {mode:o}"),
        Node::File {
            mode,
            mtime_ns,
            bytes,
        } => format!("file {mode:o} mtime {mtime_ns} {} bytes", bytes.len()),
        Node::Symlink { target } => format!("symlink -> {}", target.display()),
        Node::Other => "other".into(),
    }
}

/// Copies a directory tree exactly (content, modes, file mtimes, symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let md = std::fs::symlink_metadata(from).expect("lstat");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = std::fs::symlink_metadata(&src).expect("lstat");
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).expect("readlink"), &dst)
                .expect("symlink");
        } else if m.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
            for (name, value) in xattrs_of(&src) {
                set_xattr(&dst, &name, &value).expect("copy an extended attribute");
            }
            let f = std::fs::File::options()
                .write(true)
                .open(&dst)
                .expect("open");
            f.set_modified(m.modified().expect("mtime"))
                .expect("set mtime");
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .expect("chmod");
        }
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(md.mode() & 0o7777))
        .expect("chmod dir");
}

/// The `user.*` extended attributes and the POSIX access ACL of `path` (not followed),
/// sorted; none where the filesystem keeps none.
pub fn xattrs_of(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 1 << 16];
    let Ok(n) = rustix::fs::llistxattr(path, &mut names[..]) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names[..n]
        .split(|b| *b == 0)
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .filter(|n| n.starts_with("user.") || *n == "system.posix_acl_access")
        .filter_map(|name| {
            let mut buf = vec![0u8; 1 << 16];
            let len = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
            Some((name.to_string(), buf[..len].to_vec()))
        })
        .collect();
    out.sort();
    out
}

/// Sets the extended attribute `name` of `path`.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).map_err(Into::into)
}

/// `snap` plus one entry `<file>#<attribute>` per extended attribute of each file in it,
/// so a comparison of snapshots compares those too.
pub fn with_xattrs(root: &Path, snap: Snapshot) -> Snapshot {
    let mut out = snap.clone();
    for (rel, node) in &snap {
        if !matches!(node, Node::File { .. }) {
            continue;
        }
        for (name, value) in xattrs_of(&root.join(rel)) {
            let entry = Node::File {
                mode: 0,
                mtime_ns: 0,
                bytes: value,
            };
            out.insert(format!("{rel}#{name}"), entry);
        }
    }
    out
}

/// A POSIX access ACL granting `uid` read and write: `u::rw-,u:<uid>:rw-,g::r--,m::rw-,o::---`.
pub fn acl_for(uid: u32) -> Vec<u8> {
    let entry = |tag: u16, perm: u16, id: u32| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(perm.to_le_bytes());
        e.extend(id.to_le_bytes());
        e
    };
    let mut v = 2u32.to_le_bytes().to_vec();
    for e in [
        entry(0x01, 6, u32::MAX),
        entry(0x02, 6, uid),
        entry(0x04, 4, u32::MAX),
        entry(0x10, 6, u32::MAX),
        entry(0x20, 0, u32::MAX),
    ] {
        v.extend(e);
    }
    v
}

/// Gives `rel` under `root` a `user.origin` attribute and an ACL for a bot user; false
/// where the filesystem keeps neither.
pub fn tag_with_xattrs(root: &Path, rel: &str) -> bool {
    let p = root.join(rel);
    set_xattr(&p, "user.origin", b"bot").is_ok()
        && set_xattr(&p, "system.posix_acl_access", &acl_for(4321)).is_ok()
}

/// The exit code of a `--json` run and its stdout parsed; fails the test if stdout is not
/// JSON.
pub fn json_of(out: &Output) -> (i32, serde_json::Value) {
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    });
    (code(out), v)
}

/// The first Rust Debug rendering in `text`: `CamelCase(`/`CamelCase {`, `Some(`, `Ok(`,
/// `Err(`, `None`, `Type::Variant`, `Variant { field: …`, or a bare variant in parentheses
/// such as `(Truncated)`.
pub fn debug_name(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphabetic() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let word = &text[start..i];
        let next = text[i..].trim_start_matches(' ');
        let first = word.chars().next().unwrap_or('a');
        let camel = first.is_ascii_uppercase()
            && word.chars().skip(1).any(|c| c.is_ascii_lowercase())
            && word.chars().skip(1).any(|c| c.is_ascii_uppercase());
        let variant = first.is_ascii_uppercase()
            && word.len() > 1
            && word.chars().skip(1).any(|c| c.is_ascii_lowercase());
        let struct_like = next.strip_prefix("{ ").is_some_and(|rest| {
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            !field.is_empty() && rest[field.len()..].starts_with(':')
        });
        let path =
            next.starts_with("::") && next[2..].starts_with(|c: char| c.is_ascii_uppercase());
        let hit = (camel && (next.starts_with('(') || next.starts_with('{')))
            || (first.is_ascii_uppercase() && (struct_like || path))
            || (["Some", "Ok", "Err"].contains(&word) && text[i..].starts_with('('))
            || word == "None"
            || (variant && start > 0 && bytes[start - 1] == b'(' && text[i..].starts_with(')'));
        if hit {
            let end = (i + 20).min(text.len());
            return Some(text[start.saturating_sub(20)..end].to_string());
        }
    }
    None
}
