//! Paths relative to the state root. A [`RelPath`] is always journal-safe (see
//! `journal_format::validate_rel_path`): it cannot be absolute, contain `..`, or leave the
//! root by its spelling. Leaving the root through a symlink is stopped where paths are opened
//! (`fsx`), never here. Also the roots that are refused outright ([`refuse_system_root`]).

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// The directory of selfheal's own state (backups, journal, torn tails).
pub const BACKUPS_DIR: &str = "logs/backups";
/// The journal directory.
pub const JOURNAL_DIR: &str = "logs/backups/journal";
/// The backup store's objects.
pub const OBJECTS_DIR: &str = "logs/backups/objects";
/// Where torn journal tails are saved.
pub const TORN_DIR: &str = "logs/backups/torn";
/// The journal's index and run record.
pub const META_DIR: &str = "logs/backups/meta";
/// Where damaged journals are moved aside, one directory each.
pub const QUARANTINE_DIR: &str = "logs/backups/quarantine";
/// selfheal's own subdirectories of [`BACKUPS_DIR`]: everything it owns there (the bot
/// keeps its own files beside them).
pub const OWN_DIRS: [&str; 5] = [JOURNAL_DIR, OBJECTS_DIR, TORN_DIR, META_DIR, QUARANTINE_DIR];
/// The subdirectories of [`BACKUPS_DIR`] whose content changes only with the journal
/// (transactions, prunes, torn tails, quarantines): what a journal index may record the
/// size of.
pub const JOURNAL_TREES: [&str; 4] = [JOURNAL_DIR, OBJECTS_DIR, TORN_DIR, QUARANTINE_DIR];

/// Directories that are never a bot's state root (compared with the root's canonical path):
/// a heal would create its layout there, and every `python … run.py` of the user whose
/// working directory lies below would count as a bot instance. Under systemd the default
/// working directory is `/`.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/lib",
    "/usr/local/sbin",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/spool",
    "/var/tmp",
];

/// Refuses a root whose canonical path is a system directory (see [`SYSTEM_DIRS`]), lies
/// inside `/proc` or `/sys`, or is a home directory (`/home/<user>`).
///
/// # Errors
/// [`Error::Usage`] naming the directory.
pub fn refuse_system_root(canonical: &Path) -> Result<()> {
    let why = if SYSTEM_DIRS.iter().any(|d| canonical == Path::new(d)) {
        "it is a system directory"
    } else if ["/proc", "/sys"].iter().any(|d| canonical.starts_with(d)) {
        "it lies in a kernel filesystem"
    } else if canonical.parent() == Some(Path::new("/home")) {
        "it is a home directory"
    } else {
        return Ok(());
    };
    Err(Error::Usage(format!(
        "refusing {} as the state root: {why}; give --root the bot's own directory (its checkout, where run.py and logs/ are)",
        canonical.display()
    )))
}

/// A validated path relative to the state root, `/`-separated.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Validates `text` as a relative state path.
    ///
    /// # Errors
    /// [`Error::Refused`] naming the rule the path breaks.
    pub fn new(text: impl Into<String>) -> Result<RelPath> {
        let text = text.into();
        journal_format::validate_rel_path(&text)
            .map_err(|why| Error::Refused(format!("path {text:?}: {why}")))?;
        Ok(RelPath(text))
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a `Path`, for messages and joins.
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }

    /// The parent directory, or `None` for a top-level entry.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_string()))
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, n)| n)
    }

    /// `self/name`; `name` must be a single valid component.
    ///
    /// # Errors
    /// [`Error::Refused`] when `name` is not a single valid component.
    pub fn join(&self, name: &str) -> Result<RelPath> {
        if name.contains('/') {
            return Err(Error::Refused(format!(
                "{name:?} is not a single component"
            )));
        }
        RelPath::new(format!("{}/{}", self.0, name))
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl serde::Serialize for RelPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roots() {
        for bad in [
            "/",
            "/usr",
            "/etc",
            "/var",
            "/proc/1",
            "/sys/kernel",
            "/home/ann",
            "/root",
        ] {
            assert!(refuse_system_root(Path::new(bad)).is_err(), "{bad}");
        }
        for ok in [
            "/srv/bot",
            "/home/ann/bot",
            "/root/trading-bot",
            "/tmp/x",
            "/var/lib/bot",
            "/dev/shm/bot",
        ] {
            assert!(refuse_system_root(Path::new(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn parent_name_join_prefix() {
        let p = RelPath::new("logs/backups/journal").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.parent().map(|p| p.0), Some("logs/backups".to_string()));
        assert_eq!(p.file_name(), "journal");
        let top = RelPath::new("logs").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(top.parent(), None);
        assert!(p.starts_with(&top));
        let other = RelPath::new("logsx").unwrap_or_else(|e| panic!("{e}"));
        assert!(!other.starts_with(&top));
        assert!(top.join("a/b").is_err());
        assert!(top.join("..").is_err());
        assert!(RelPath::new("../x").is_err());
        assert!(RelPath::new("/abs").is_err());
    }
}
