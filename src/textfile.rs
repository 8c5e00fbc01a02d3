//! The one file selfheal writes outside the state root: the Prometheus textfile the
//! operator names with `stats --prometheus FILE` (CONTRACT.md, guarantee 3). It cannot go
//! through `fsx::Root`, whose paths are relative to the root, so this module is the single,
//! documented exception to "all mutation goes through fsx". It writes the way `fsx` does:
//! a temp file beside the target (`FILE.tmp.<pid>`, created exclusively, never through a
//! symlink), fsync, rename over the target, fsync of the directory, so node_exporter's
//! textfile collector never reads half a file. It writes nothing else.

use crate::error::{Error, IoContext, IoOp, Result};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the written file: readable by a collector running as another user.
pub const MODE: u32 = 0o644;

/// Replaces `path` with `bytes` atomically and durably.
///
/// # Errors
/// [`Error::Usage`] when `path` names no file; the failing call and the path otherwise (the
/// temp file is removed when a later step fails).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = write_then_rename(&tmp, path, bytes);
    if result.is_err() {
        remove_quietly(&tmp);
    }
    result?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .ctx(IoOp::FsyncDir, &dir)
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
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let target = dir.path().join("selfheal.prom");
        for text in ["first\n", "second\n"] {
            assert!(write_atomic(&target, text.as_bytes()).is_ok());
            assert_eq!(std::fs::read_to_string(&target).ok().as_deref(), Some(text));
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 1, "{names:?}");
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(MODE));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_temp() {
        let err = write_atomic(Path::new("/nonexistent-selfheal-dir/x.prom"), b"x");
        assert!(
            matches!(
                err,
                Err(Error::Io {
                    op: IoOp::Create,
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
