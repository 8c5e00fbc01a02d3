//! The one directory-snapshot walker: every path under a directory, symlinks not followed,
//! each with its kind, its mode, and for files their bytes and mtime (directory mtimes are
//! left out: creating anything inside a directory changes its mtime, and no tool can keep
//! that). The views ([`snapshot`], [`exact_tree`], [`contents`], [`without_mtimes`],
//! [`with_xattrs`]) are all computed from [`walk`]; [`copy_tree`] copies what it records.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// selfheal's own files under a state root, which [`snapshot`] leaves out: the backup
/// store and journal, and the operator alert log (appended to by design).
pub const OWN_FILES: [&str; 2] = ["logs/backups", "logs/operator_alerts.jsonl"];

/// Every path under `root` except selfheal's own files ([`OWN_FILES`]).
pub fn snapshot(root: &Path) -> Snapshot {
    walk(root, &OWN_FILES)
}

/// Every path under `dir`, nothing left out.
pub fn exact_tree(dir: &Path) -> Snapshot {
    walk(dir, &[])
}

/// Every path under `dir` (relative, `/`-separated) with its content only: a file's bytes,
/// a symlink's target, `<dir>` for a directory, `<other>` for anything else.
pub fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    exact_tree(dir)
        .into_iter()
        .map(|(rel, node)| {
            let bytes = match node {
                Node::File { bytes, .. } => bytes,
                Node::Symlink { target } => target.to_string_lossy().as_bytes().to_vec(),
                Node::Dir { .. } => b"<dir>".to_vec(),
                Node::Other => b"<other>".to_vec(),
            };
            (rel, bytes)
        })
        .collect()
}

/// The walker: every path under `dir` except the relative paths in `skip` (and what is
/// under them), symlinks not followed. A directory that cannot be listed contributes its
/// own entry and nothing under it.
pub fn walk(dir: &Path, skip: &[&str]) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            if skip.contains(&rel.as_str()) {
                continue;
            }
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

/// Gives `dir` and every path the walker finds under it (symlinks themselves, not
/// followed) to `uid:uid`.
pub fn chown_tree(dir: &Path, uid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid)).expect("chown");
    for rel in walk(dir, &[]).keys() {
        std::os::unix::fs::lchown(dir.join(rel), Some(uid), Some(uid)).expect("chown");
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
