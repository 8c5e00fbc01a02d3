//! The one file selfheal writes outside the state root: the Prometheus textfile the
//! operator names with `stats --prometheus FILE` (README, guarantee 3). It cannot go
//! through `fsx::Root`, whose paths are relative to the root, so this module is the single,
//! documented exception to "all mutation goes through fsx".
//!
//! What it writes is always a regular file, never anything else a path may name: a symlink
//! is resolved first (its target is written, the link itself is kept), and a path that
//! names (or resolves to) anything but a regular file or nothing — a device such as
//! `/dev/stdout`, a FIFO, a directory — is refused, as is any path whose real location is
//! inside the state root (state or journal files are only ever changed by the engine). It
//! writes the way `fsx` does: a temp file beside the real target (`FILE.tmp.<pid>`, created
//! exclusively, never through a symlink), fsync, rename over the target, fsync of the
//! directory, so node_exporter's textfile collector never reads half a file.

use crate::error::{Error, IoContext, IoOp, Result};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the written file: readable by a collector running as another user.
pub const MODE: u32 = 0o644;

/// How many symlinks a path may cross before it is refused (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Replaces the regular file `path` names (after symlinks) with `bytes`, atomically and
/// durably; `root` is the state root, inside which nothing may be written this way.
///
/// # Errors
/// [`Error::Usage`] when `path` names no file, resolves to something that is not a regular
/// file, or lies inside `root`; the failing call and the path otherwise (the temp file is
/// removed when a later step fails).
pub fn write_atomic(path: &Path, root: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve(path)?;
    refuse_inside(path, &target, root)?;
    let (dir, name) = split(&target)?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = write_then_rename(&tmp, &target, bytes);
    if result.is_err() {
        remove_quietly(&tmp);
    }
    result?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .ctx(IoOp::FsyncDir, &dir)
}

/// The real location `path` names: symlinks followed (a dangling one to where it points),
/// the directory canonical. Refused when that is not a regular file or nothing.
fn resolve(path: &Path) -> Result<PathBuf> {
    // The kernel's own resolution first: it also follows `/proc` magic links such as
    // `/dev/stdout`, whose text names no path.
    match std::fs::metadata(path) {
        Ok(md) if !md.is_file() => return Err(not_regular(path, path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(IoOp::Stat, path, e)),
    }
    let mut cur = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                let link = std::fs::read_link(&cur).ctx(IoOp::Stat, &cur)?;
                cur = match cur.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(md) if md.is_file() => return canonical_beside(&cur),
            Ok(_) => return Err(not_regular(path, &cur)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return canonical_beside(&cur),
            Err(e) => return Err(Error::io(IoOp::Stat, &cur, e)),
        }
    }
    Err(Error::Usage(format!(
        "`{}` crosses more than {MAX_LINKS} symlinks",
        path.display()
    )))
}

fn not_regular(path: &Path, real: &Path) -> Error {
    let shown = if real == path {
        format!("`{}`", path.display())
    } else {
        format!("`{}` (which leads to `{}`)", path.display(), real.display())
    };
    Error::Usage(format!(
        "{shown} is not a regular file: the metrics are written only to a regular file (use `-` for standard output)"
    ))
}

/// `file` with its directory made canonical (the directory must exist).
fn canonical_beside(file: &Path) -> Result<PathBuf> {
    let (dir, name) = split(file)?;
    let dir = std::fs::canonicalize(&dir).ctx(IoOp::Open, &dir)?;
    Ok(dir.join(name))
}

/// A file path's directory (`.` when it has none) and name.
fn split(path: &Path) -> Result<(PathBuf, &std::ffi::OsStr)> {
    let Some(name) = path.file_name() else {
        return Err(Error::Usage(format!(
            "`{}` does not name a file",
            path.display()
        )));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// Refuses a real target inside the state root.
fn refuse_inside(path: &Path, target: &Path, root: &Path) -> Result<()> {
    let root = std::fs::canonicalize(root).ctx(IoOp::Open, root)?;
    if target.starts_with(&root) {
        return Err(Error::Usage(format!(
            "`{}` is inside the state root `{}`: the metrics file must be outside it",
            path.display(),
            root.display()
        )));
    }
    Ok(())
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(tmp)
        .ctx(IoOp::Create, tmp)?;
    file.write_all(bytes).ctx(IoOp::Write, tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(MODE))
        .ctx(IoOp::Chmod, tmp)?;
    file.sync_all().ctx(IoOp::Fsync, tmp)?;
    drop(file);
    rename(tmp, path)
}

#[allow(clippy::disallowed_methods)] // the documented exception: a file outside the root
fn rename(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).ctx(IoOp::Rename, path)
}

#[allow(clippy::disallowed_methods)] // the documented exception: our own temp file
fn remove_quietly(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // scratch directories of the tests, not a state root
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path().join("root");
        let _ = std::fs::create_dir(&root);
        let target = dir.path().join("selfheal.prom");
        for text in ["first\n", "second\n"] {
            assert!(write_atomic(&target, &root, text.as_bytes()).is_ok());
            assert_eq!(std::fs::read_to_string(&target).ok().as_deref(), Some(text));
        }
        assert_eq!(names(dir.path()).len(), 2, "{:?}", names(dir.path()));
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(MODE));
    }

    #[test]
    fn a_symlink_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path().join("root");
        let _ = std::fs::create_dir(&root);
        let real = dir.path().join("real.prom");
        let link = dir.path().join("link.prom");
        let _ = std::os::unix::fs::symlink("real.prom", &link);
        assert!(write_atomic(&link, &root, b"x 1\n").is_ok());
        assert!(std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()));
        assert_eq!(std::fs::read(&real).ok().as_deref(), Some(&b"x 1\n"[..]));
    }

    #[test]
    fn anything_but_a_regular_file_or_a_path_inside_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path().join("root");
        let _ = std::fs::create_dir(&root);
        let to_null = dir.path().join("null.prom");
        let _ = std::os::unix::fs::symlink("/dev/null", &to_null);
        let into_root = dir.path().join("in.prom");
        let _ = std::os::unix::fs::symlink("root/x.prom", &into_root);
        for bad in [
            to_null,
            into_root,
            root.join("y.prom"),
            dir.path().to_path_buf(),
        ] {
            let err = write_atomic(&bad, &root, b"x");
            assert!(matches!(err, Err(Error::Usage(_))), "{bad:?}: {err:?}");
        }
        assert!(names(&root).is_empty());
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let err = write_atomic(
            Path::new("/nonexistent-selfheal-dir/x.prom"),
            dir.path(),
            b"x",
        );
        assert!(
            matches!(err, Err(Error::Io { op: IoOp::Open, .. })),
            "{err:?}"
        );
    }
}
