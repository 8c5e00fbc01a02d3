//! The library's one error type. Corrupt *user* files are findings, not errors; corrupt
//! journal or store files, I/O failures and refusals are errors, each naming what failed.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The filesystem operation an I/O error interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Opening a file or directory.
    Open,
    /// Reading file content.
    Read,
    /// Reading a directory listing.
    ReadDir,
    /// Looking at a path's metadata.
    Stat,
    /// Writing file content.
    Write,
    /// Appending a journal record.
    Append,
    /// `fsync` of a file.
    Fsync,
    /// `fsync` of a directory.
    FsyncDir,
    /// Renaming a temporary file over its target.
    Rename,
    /// Removing a file or directory.
    Remove,
    /// Creating a file.
    Create,
    /// Creating a directory.
    Mkdir,
    /// Changing permission bits.
    Chmod,
    /// Changing the owner.
    Chown,
    /// Setting modification times.
    SetTimes,
    /// Setting or removing an extended attribute.
    SetXattr,
    /// Truncating a file.
    Truncate,
    /// Taking or testing a lock.
    Lock,
    /// Compressing or decompressing a backup object.
    Compress,
    /// Signalling a process.
    Signal,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::Open => "open",
            IoOp::Read => "read",
            IoOp::ReadDir => "list",
            IoOp::Stat => "stat",
            IoOp::Write => "write",
            IoOp::Append => "append to",
            IoOp::Fsync => "fsync",
            IoOp::FsyncDir => "fsync directory",
            IoOp::Rename => "rename into",
            IoOp::Remove => "remove",
            IoOp::Create => "create",
            IoOp::Mkdir => "create directory",
            IoOp::Chmod => "change mode of",
            IoOp::Chown => "change owner of",
            IoOp::SetTimes => "set times of",
            IoOp::SetXattr => "set extended attributes of",
            IoOp::Truncate => "truncate",
            IoOp::Lock => "lock",
            IoOp::Compress => "compress",
            IoOp::Signal => "signal",
        })
    }
}

/// Every way a library call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem call failed.
    #[error("cannot {op} `{}`", path.display())]
    Io {
        /// What was being done.
        op: IoOp,
        /// The path it was done to (relative to the root where it is inside it).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// selfheal's own file or directory belongs to another user (a run as root left it).
    #[error("cannot {op} `{}`: permission denied; it belongs to {owner} and this selfheal runs as uid {uid}: run `{fix}`", path.display())]
    NotOwner {
        /// What was being done.
        op: IoOp,
        /// The absolute path.
        path: PathBuf,
        /// Who owns it, in words.
        owner: String,
        /// The effective uid of this process.
        uid: u32,
        /// The command that gives selfheal's files back to this user.
        fix: String,
    },
    /// A transaction id that does not fit a journal file name.
    #[error("cannot begin transaction {txn}: transaction ids end at {max} (the journal file name holds 10 digits); nothing was written: {fix}")]
    IdsExhausted {
        /// The id that would be next.
        txn: u64,
        /// The last id a file name can hold.
        max: u64,
        /// What the operator can do.
        fix: String,
    },
    /// The state root does not exist (and `--init` was not given).
    #[error("state root `{}` does not exist (use --init to create it)", .0.display())]
    RootMissing(PathBuf),
    /// The state root is not a directory.
    #[error("state root `{}` is not a directory", .0.display())]
    RootNotDir(PathBuf),
    /// Another selfheal held the lock for longer than the timeout.
    #[error("another selfheal holds `{}`; gave up after {waited_ms} ms", path.display())]
    LockTimeout {
        /// The lock that was busy.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// SIGTERM or SIGINT arrived while waiting.
    #[error("interrupted")]
    Interrupted,
    /// The configuration is invalid.
    #[error("{key}: {why} (configuration file `{}`)", file.display())]
    Config {
        /// The file read.
        file: PathBuf,
        /// The key at fault (a dotted path).
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// The command line is invalid beyond what the parser checks.
    #[error("{0}")]
    Usage(String),
    /// The journal is damaged (not a torn tail) or breaks its own rules.
    #[error("journal integrity: `{}`: {why}", file.display())]
    JournalCorrupt {
        /// The journal file.
        file: PathBuf,
        /// What failed, naming the record.
        why: String,
    },
    /// Undoing a transaction found a path that matches neither its state before nor after
    /// the transaction: nothing was changed. Worded as a journal integrity failure.
    #[error("journal integrity: `{}`: {why}", file.display())]
    RecoveryConflict {
        /// The journal directory.
        file: PathBuf,
        /// Which transaction, operation and path, and what the path is now.
        why: String,
    },
    /// The journal was written by a newer format version; nothing may be appended.
    #[error("journal `{}` uses format version {version}, this selfheal knows only {known}", file.display())]
    JournalVersion {
        /// The journal file.
        file: PathBuf,
        /// The version found.
        version: u64,
        /// The version this binary writes.
        known: u32,
    },
    /// A backup object is missing or fails its checksum.
    #[error("backup object {sha256} is {why}")]
    ObjectCorrupt {
        /// The object's name.
        sha256: String,
        /// `missing`, `corrupt`, ...
        why: String,
    },
    /// A request was refused; nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// No transaction with that id.
    #[error("no transaction {0} in the journal")]
    NoSuchTransaction(u64),
    /// The engine saw an I/O error during a transaction and accepts no more work.
    #[error("a previous I/O error left the transaction unfinished; the next run recovers it")]
    Poisoned,
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: IoOp, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for library results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the operation and the path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: IoOp, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: IoOp, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, op: IoOp, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e.into()))
    }
}

/// The error and its causes on one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(c) = cur {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cur = c.source();
    }
    text
}
