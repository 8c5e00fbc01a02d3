//! Files that only grow: the journal and torn-tail files (created new, appended with one
//! write per record, fdatasynced), the alert log (appended without fsync, refused when it is
//! not a plain file with one name), and the cut of a torn journal tail.

use super::{owner, parent_display, sys, Entry, Kind, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, OFlags};

impl Root {
    /// Creates a new file for appending (a journal or torn-tail file); it must not exist.
    /// The directory is fsynced by [`Root::sync_dir`] once the first bytes are durable.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn create_append(&self, rel: &RelPath, mode: u32) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = sys::create(
            &dir,
            &parent_display(rel),
            rel.file_name(),
            (flags, mode),
            disp,
        )?;
        owner::adopt(dir.as_fd(), fd.as_fd(), disp)?;
        sys::fchmod(fd.as_fd(), mode, disp)?;
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Opens an existing file for appending.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_append(&self, rel: &RelPath) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = sys::open(&dir, rel.file_name(), flags).ctx(IoOp::Open, rel.as_path())?;
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Opens (creating with exactly `mode`, whatever the umask, if needed) a file for
    /// appending without fsync, for the alert log, whose lines are appended with one `write`
    /// each. An existing file keeps its mode. Anything but a regular file with one name is
    /// refused (a symlink, a FIFO, a file with further hard links), and the open never
    /// waits (a FIFO there must not hang the run).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_log(&self, rel: &RelPath, mode: u32) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let not_file = |what: &str| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
            Error::io(IoOp::Open, disp, e)
        };
        match self.entry(rel)? {
            Entry::Present(st) if st.kind == Kind::Symlink => {
                return Err(not_file("it is a symlink (not followed)"))
            }
            Entry::Present(st) if st.kind != Kind::File => {
                return Err(not_file("it is not a regular file"))
            }
            _ => {}
        }
        let flags =
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = self.open_or_create_log(&dir, rel, flags, mode)?;
        let st = rustix::fs::fstat(&fd).ctx(IoOp::Stat, disp)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(not_file("it is not a regular file"));
        }
        // A second name may lie anywhere on the filesystem, outside the root too: what is
        // appended here must not land there.
        if st.st_nlink > 1 {
            return Err(not_file(&format!(
                "it has {} hard links (appended lines would also reach the other names)",
                st.st_nlink
            )));
        }
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Truncates the regular file `rel` to `len` bytes and makes it durable (used only to cut
    /// a torn journal tail after the torn bytes were saved elsewhere).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn truncate(&self, rel: &RelPath, len: u64) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = sys::open(&dir, rel.file_name(), flags).ctx(IoOp::Open, disp)?;
        sys::ftruncate(&dir, rel.file_name(), fd.as_fd(), len, disp)?;
        Ok(sys::fsync(fd.as_fd(), disp)?)
    }

    /// Opens the log `rel` in `dir`, or creates it with exactly `mode`.
    fn open_or_create_log(
        &self,
        dir: &OwnedFd,
        rel: &RelPath,
        flags: OFlags,
        mode: u32,
    ) -> Result<OwnedFd> {
        let disp = rel.as_path();
        let how = (flags, mode);
        let (fd, created) =
            sys::open_or_create(dir, &parent_display(rel), rel.file_name(), how, disp)?;
        if created {
            owner::adopt(dir.as_fd(), fd.as_fd(), disp)?;
            sys::fchmod(fd.as_fd(), mode, disp)?;
        }
        Ok(fd)
    }
}

/// A file opened for appending.
#[derive(Debug)]
pub struct AppendFile {
    file: std::fs::File,
    path: RelPath,
}

impl AppendFile {
    /// Appends `bytes` with one `write` call per attempt and fsyncs the file.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn append_sync(&mut self, bytes: &[u8]) -> Result<()> {
        self.append(bytes)?;
        let disp = self.path.as_path();
        Ok(sys::fdatasync(self.file.as_fd(), disp)?)
    }

    /// Appends `bytes` without fsync.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let disp = self.path.as_path();
        Ok(sys::append(&self.file, bytes, disp)?)
    }

    /// The file's path.
    pub fn path(&self) -> &RelPath {
        &self.path
    }

    /// Takes or tests an exclusive lock on the file (used by the alert log writer only to
    /// avoid interleaving with nothing: kept for completeness of the handle API).
    pub fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}
