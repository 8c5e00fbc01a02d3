//! Atomic replacement of a file: write a temp file beside the target, give it the mode,
//! owner, extended attributes and (for an undo) mtime it must have, fsync it, rename it over
//! (or, for a new file, beside without clobbering) the target, fsync the directory. The
//! target's name always names either the old file whole or the new one whole; a failure
//! removes the temp file on a best-effort basis (recovery sweeps what stays).

use super::{discard, fsync_dir, owner, parent_display, sys, tmp_display, xattr, Root};
use crate::error::Result;
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::path::Path;

/// Owner, mode, (optionally) mtime and extended attributes to give a file written by
/// [`Root::write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs<'a> {
    /// Permission bits.
    pub mode: u32,
    /// Owner to set, when it differs from the writer's.
    pub owner: Option<(u32, u32)>,
    /// Modification time to set (seconds, nanoseconds); `None` keeps "now".
    pub mtime: Option<(i64, u32)>,
    /// The kept extended attributes the file gets, exactly (`None`: whatever a new file in
    /// its directory gets, such as a default ACL).
    pub xattrs: Option<&'a journal_format::Xattrs>,
}

/// Whether an atomic write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The target must exist and is replaced.
    Existing,
    /// The target must not exist (rename with RENAME_NOREPLACE).
    NoClobber,
}

impl Root {
    /// Writes `bytes` to `rel` atomically: temp file `tmp_name` beside it, mode/owner/mtime,
    /// fsync, rename over (or beside, for [`Replace::NoClobber`]) the target, fsync directory.
    ///
    /// # Errors
    /// The first failing call, naming it and the path; the temp file is removed on a
    /// best-effort basis.
    pub fn write_atomic(
        &self,
        rel: &RelPath,
        bytes: &[u8],
        attrs: &Attrs<'_>,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let mut chunks = std::iter::once(bytes);
        self.write_atomic_chunks(rel, &mut chunks, attrs, tmp_name, replace)
    }

    /// [`Self::write_atomic`] of the bytes `chunks` yields, in order (written as they come:
    /// one write of the file, however many chunks).
    ///
    /// # Errors
    /// As [`Self::write_atomic`].
    pub fn write_atomic_chunks(
        &self,
        rel: &RelPath,
        chunks: &mut dyn Iterator<Item = &[u8]>,
        attrs: &Attrs,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let tmp = self.create_temp(&dir, rel, tmp_name)?;
        let result = self.fill_and_rename(&dir, rel, tmp, chunks, attrs, tmp_name, replace);
        if result.is_err() {
            discard(&dir, &parent_display(rel), tmp_name, false);
            return result;
        }
        fsync_dir(&dir, &parent_display(rel))
    }

    fn create_temp(&self, dir: &OwnedFd, rel: &RelPath, tmp_name: &str) -> Result<OwnedFd> {
        let flags = (OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, 0o600);
        let path = tmp_display(rel, tmp_name);
        let dir_path = parent_display(rel);
        let fd = match sys::create(dir, &dir_path, tmp_name, flags, &path) {
            Err(f) if f.errno() == Some(Errno::EXIST) => {
                // A leftover of an interrupted run with the same name: not ours to keep.
                sys::unlink(dir, &dir_path, tmp_name, false, &path)?;
                sys::create(dir, &dir_path, tmp_name, flags, &path)
            }
            other => other,
        }?;
        owner::adopt(dir.as_fd(), fd.as_fd(), &path)?;
        Ok(fd)
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_and_rename(
        &self,
        dir: &OwnedFd,
        rel: &RelPath,
        tmp: OwnedFd,
        chunks: &mut dyn Iterator<Item = &[u8]>,
        attrs: &Attrs<'_>,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let path = tmp_display(rel, tmp_name);
        let file = std::fs::File::from(tmp);
        sys::write_chunks(&file, chunks, &path)?;
        set_attrs(&file, attrs, &path)?;
        sys::fsync(file.as_fd(), &path)?;
        drop(file);
        let flags = match replace {
            Replace::Existing => RenameFlags::empty(),
            Replace::NoClobber => RenameFlags::NOREPLACE,
        };
        let names = (tmp_name, rel.file_name());
        Ok(sys::rename(
            dir,
            &parent_display(rel),
            names,
            flags,
            rel.as_path(),
        )?)
    }
}

fn set_attrs(file: &std::fs::File, attrs: &Attrs<'_>, path: &Path) -> Result<()> {
    // ORDER: extended attributes first: an ACL written after the mode would set the group
    // bits from its mask; the mode set after it is exact (it sets the mask).
    if let Some(want) = attrs.xattrs {
        xattr::apply(file.as_fd(), want, path)?;
    }
    sys::fchmod(file.as_fd(), attrs.mode, path)?;
    if let Some(owner) = attrs.owner {
        sys::fchown(file.as_fd(), owner, path)?;
        // chown clears set-id bits; put the mode back exactly.
        sys::fchmod(file.as_fd(), attrs.mode, path)?;
    }
    if let Some((sec, nsec)) = attrs.mtime {
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: sec,
                tv_nsec: i64::from(nsec),
            },
        };
        sys::futimens(file.as_fd(), &times, path)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fixtures and outside files in a scratch directory
mod tests {
    use super::*;
    use crate::fsx::{current_owner, Entry, Kind, TMP_PREFIX};
    use std::os::unix::fs::{symlink, PermissionsExt};

    const TMP: &str = ".selfheal-tmp.test.0";

    fn scratch() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().expect("scratch dir");
        std::fs::create_dir(dir.path().join("root")).expect("mkdir root");
        std::fs::create_dir(dir.path().join("root/d")).expect("mkdir d");
        let root = Root::open(&dir.path().join("root")).expect("open root");
        (dir, root)
    }

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).expect("valid relative path")
    }

    fn attrs(mode: u32) -> Attrs<'static> {
        Attrs {
            mode,
            owner: None,
            mtime: None,
            xattrs: None,
        }
    }

    fn on_disk(dir: &tempfile::TempDir, p: &str) -> Vec<u8> {
        std::fs::read(dir.path().join("root").join(p)).expect("read back")
    }

    fn temps(dir: &tempfile::TempDir, sub: &str) -> Vec<String> {
        std::fs::read_dir(dir.path().join("root").join(sub))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TMP_PREFIX))
            .collect()
    }

    fn stat(root: &Root, p: &str) -> crate::fsx::Stat {
        match root.entry(&rel(p)).expect("entry") {
            Entry::Present(st) => st,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temp_file() {
        let (dir, root) = scratch();
        std::fs::write(dir.path().join("root/d/f.json"), b"{\"old\": 1}").expect("seed");
        root.write_atomic(
            &rel("d/f.json"),
            b"{\"new\": 2}",
            &attrs(0o644),
            TMP,
            Replace::Existing,
        )
        .expect("write");
        assert_eq!(on_disk(&dir, "d/f.json"), b"{\"new\": 2}");
        assert_eq!(temps(&dir, "d"), Vec::<String>::new());
    }

    #[test]
    fn chunks_are_written_in_order_as_one_file() {
        let (dir, root) = scratch();
        let parts: [&[u8]; 3] = [b"[1,", b"2,", b"3]"];
        let mut chunks = parts.into_iter();
        root.write_atomic_chunks(
            &rel("d/n.json"),
            &mut chunks,
            &attrs(0o600),
            TMP,
            Replace::NoClobber,
        )
        .expect("write");
        assert_eq!(on_disk(&dir, "d/n.json"), b"[1,2,3]");
    }

    #[test]
    fn the_mode_is_exact_whatever_the_umask() {
        let (dir, root) = scratch();
        for (name, mode) in [("a", 0o640), ("b", 0o600), ("c", 0o664), ("e", 0o2755)] {
            let r = rel(&format!("d/{name}"));
            root.write_atomic(&r, b"x", &attrs(mode), TMP, Replace::NoClobber)
                .expect("write");
            assert_eq!(
                stat(&root, &format!("d/{name}")).mode,
                mode,
                "input: {mode:o}"
            );
            let meta = std::fs::metadata(dir.path().join("root/d").join(name)).expect("stat");
            assert_eq!(meta.permissions().mode() & 0o7777, mode);
        }
    }

    #[test]
    fn the_mtime_is_set_when_given_and_now_otherwise() {
        let (_dir, root) = scratch();
        let mut a = attrs(0o644);
        a.mtime = Some((1_600_000_000, 123_456_789));
        root.write_atomic(&rel("d/old"), b"x", &a, TMP, Replace::NoClobber)
            .expect("write");
        let st = stat(&root, "d/old");
        assert_eq!((st.mtime_sec, st.mtime_nsec), (1_600_000_000, 123_456_789));

        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after the epoch")
            .as_secs();
        root.write_atomic(&rel("d/now"), b"x", &attrs(0o644), TMP, Replace::NoClobber)
            .expect("write");
        let st = stat(&root, "d/now");
        assert!(st.mtime_sec + 1 >= i64::try_from(before).expect("seconds fit"));
    }

    #[test]
    fn the_owner_is_set_and_the_mode_kept_after_it() {
        let (_dir, root) = scratch();
        let mut a = attrs(0o640);
        // Giving a file to its own owner is allowed to anyone and still clears set-id bits.
        a.owner = Some(current_owner());
        root.write_atomic(&rel("d/o"), b"x", &a, TMP, Replace::NoClobber)
            .expect("write");
        let st = stat(&root, "d/o");
        assert_eq!((st.uid, st.gid), current_owner());
        assert_eq!(st.mode, 0o640);
    }

    #[test]
    fn no_clobber_refuses_an_existing_target_and_keeps_it_whole() {
        let (dir, root) = scratch();
        std::fs::write(dir.path().join("root/d/f"), b"old bytes").expect("seed");
        let err = root
            .write_atomic(&rel("d/f"), b"new", &attrs(0o644), TMP, Replace::NoClobber)
            .expect_err("an existing target is not replaced");
        assert!(err.to_string().contains("d/f"), "{err}");
        assert_eq!(on_disk(&dir, "d/f"), b"old bytes");
        assert_eq!(temps(&dir, "d"), Vec::<String>::new());
    }

    #[test]
    fn a_leftover_temp_of_the_same_name_is_replaced() {
        let (dir, root) = scratch();
        std::fs::write(dir.path().join("root/d").join(TMP), b"stale").expect("seed");
        root.write_atomic(
            &rel("d/f"),
            b"fresh",
            &attrs(0o644),
            TMP,
            Replace::NoClobber,
        )
        .expect("write");
        assert_eq!(on_disk(&dir, "d/f"), b"fresh");
        assert_eq!(temps(&dir, "d"), Vec::<String>::new());
    }

    #[test]
    fn a_symlink_target_is_replaced_itself_never_followed() {
        let (dir, root) = scratch();
        let outside = dir.path().join("outside.json");
        std::fs::write(&outside, b"outside").expect("seed");
        symlink(&outside, dir.path().join("root/d/link")).expect("symlink");
        root.write_atomic(
            &rel("d/link"),
            b"inside",
            &attrs(0o644),
            TMP,
            Replace::Existing,
        )
        .expect("write");
        assert_eq!(std::fs::read(&outside).expect("read"), b"outside");
        assert_eq!(stat(&root, "d/link").kind, Kind::File);
        assert_eq!(on_disk(&dir, "d/link"), b"inside");
    }

    #[test]
    fn a_path_through_a_symlinked_directory_is_refused() {
        let (dir, root) = scratch();
        let outside = dir.path().join("elsewhere");
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("f"), b"outside").expect("seed");
        symlink(&outside, dir.path().join("root/via")).expect("symlink");
        for replace in [Replace::Existing, Replace::NoClobber] {
            let target = if replace == Replace::Existing {
                "via/f"
            } else {
                "via/g"
            };
            root.write_atomic(&rel(target), b"escaped", &attrs(0o644), TMP, replace)
                .expect_err("a symlinked parent is not crossed");
        }
        assert_eq!(std::fs::read(outside.join("f")).expect("read"), b"outside");
        let names: Vec<_> = std::fs::read_dir(&outside)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn a_path_outside_the_root_is_not_a_path() {
        for bad in ["../f", "/etc/passwd", "d/../../f"] {
            assert!(RelPath::new(bad).is_err(), "input: {bad}");
        }
    }

    #[cfg(feature = "fault-injection")]
    mod faults {
        use super::*;
        use crate::fault::{arm, disarm, Fault, Injection};

        /// The fault points of one write, counted with nothing failing.
        fn points_of_one_write() -> u64 {
            let (dir, root) = scratch();
            std::fs::write(dir.path().join("root/d/f"), b"old").expect("seed");
            arm(Injection {
                at: None,
                fault: Fault::Crash,
                stash: None,
            });
            let r = root.write_atomic(&rel("d/f"), b"new", &attrs(0o600), TMP, Replace::Existing);
            let passed = disarm();
            r.expect("write");
            passed.points
        }

        fn write_failing_at(k: u64, fault: Fault) -> (tempfile::TempDir, bool) {
            let (dir, root) = scratch();
            std::fs::write(dir.path().join("root/d/f"), b"old whole").expect("seed");
            arm(Injection {
                at: Some(k),
                fault,
                stash: None,
            });
            let r = root.write_atomic(
                &rel("d/f"),
                b"new whole",
                &attrs(0o600),
                TMP,
                Replace::Existing,
            );
            let injected = disarm();
            assert!(injected.fired, "point {k} passed");
            (dir, r.is_ok())
        }

        #[test]
        fn a_failure_at_any_point_leaves_the_old_file_or_the_new_one_whole() {
            let n = points_of_one_write();
            // Create, Write, Chmod, Fsync, Rename, FsyncDir.
            assert_eq!(n, 6);
            for k in 1..=n {
                let (dir, ok) = write_failing_at(k, Fault::Errno(5));
                let bytes = on_disk(&dir, "d/f");
                if k < n {
                    assert!(!ok, "point {k}");
                    assert_eq!(bytes, b"old whole", "point {k}");
                } else {
                    // The directory fsync failed after the rename: the new file is in place.
                    assert_eq!(bytes, b"new whole", "point {k}");
                }
                assert_eq!(temps(&dir, "d"), Vec::<String>::new(), "point {k}");
            }
        }

        #[test]
        fn a_crash_before_the_rename_leaves_the_old_file_whole() {
            let n = points_of_one_write();
            for k in 1..n {
                let (dir, ok) = write_failing_at(k, Fault::Crash);
                assert!(!ok, "point {k}");
                assert_eq!(on_disk(&dir, "d/f"), b"old whole", "point {k}");
            }
        }
    }
}
