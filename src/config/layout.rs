//! The checked configuration every command works from ([`Layout`]): loaded from the root's
//! `config/selfheal.json`, an explicit file, or the embedded default, and checked by
//! `rules` before any command sees it.

use super::parse::{parse_config, read_config};
use super::schema::{Config, FileRole};
use super::{rules, DEFAULT_CONFIG_PATH};
use crate::error::Result;
use crate::paths::RelPath;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration with every value checked and converted.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The configuration as read (what `selfheal config` prints).
    pub config: Config,
    /// Where it came from (`None`: the embedded default).
    pub source: Option<PathBuf>,
    /// Directories and their modes.
    pub directories: Vec<(RelPath, u32)>,
    /// Managed files.
    pub files: Vec<File>,
    /// Heartbeat directory.
    pub heartbeat_dir: RelPath,
    /// Plain heartbeat files.
    pub heartbeat_plain: Vec<RelPath>,
    /// Heartbeat staleness.
    pub heartbeat_stale: Duration,
    /// How far in the future a heartbeat may be dated.
    pub heartbeat_max_skew: Duration,
    /// Lock directories.
    pub lock_dirs: Vec<RelPath>,
    /// Lock staleness.
    pub lock_stale: Duration,
    /// The bot's own lock timeout.
    pub lock_bot_timeout: Duration,
    /// Process min age.
    pub process_min_age: Duration,
    /// SIGTERM to SIGKILL grace.
    pub process_grace: Duration,
    /// Retention window.
    pub retention_older_than: Duration,
    /// Backup size warning threshold.
    pub retention_warn_size: u64,
    /// Maximum file size read.
    pub max_file_size: u64,
    /// Alert log path.
    pub alerts_file: RelPath,
    /// Alert dedupe window.
    pub alerts_dedupe: Duration,
    /// Trusted symlinks, with canonical targets.
    pub trusted: Vec<(RelPath, PathBuf)>,
    /// The journal key file, a relative `journal_key_file` resolved against the directory
    /// of the configuration file.
    pub journal_key: Option<PathBuf>,
}

/// A managed file, checked.
#[derive(Debug, Clone)]
pub struct File {
    /// Relative path.
    pub path: RelPath,
    /// Role.
    pub role: FileRole,
    /// Required keys with the exact text they are restored with.
    pub required: Vec<(String, String)>,
    /// Default document bytes.
    pub default_bytes: Vec<u8>,
    /// Record arrays.
    pub record_arrays: Vec<String>,
    /// Creation mode.
    pub mode: u32,
}

impl Layout {
    /// Loads the configuration: `explicit` if given (it must exist), else
    /// `config/selfheal.json` under `root` if present, else the embedded default.
    ///
    /// # Errors
    /// [`Error::Config`](crate::error::Error::Config) naming the file and the key at fault.
    pub fn load(root: &Path, explicit: Option<&Path>) -> Result<Layout> {
        let (path, text) = match explicit {
            Some(p) => (Some(p.to_path_buf()), Some(read_config(p)?)),
            None => {
                let p = root.join(DEFAULT_CONFIG_PATH);
                match std::fs::symlink_metadata(&p) {
                    Ok(_) => (Some(p.clone()), Some(read_config(&p)?)),
                    Err(_) => (None, None),
                }
            }
        };
        let config = match (&path, text) {
            (Some(p), Some(t)) => parse_config(p, &t)?,
            _ => Config::default(),
        };
        let inside = path.as_deref().and_then(|p| inside_root(root, p));
        rules::layout(config, path, inside)
    }

    /// Checks and converts a configuration.
    ///
    /// # Errors
    /// [`Error::Config`](crate::error::Error::Config) naming the key at fault.
    pub fn from_config(config: Config, source: Option<PathBuf>) -> Result<Layout> {
        rules::layout(config, source, None)
    }

    /// The managed file with `role`, if configured.
    pub fn file(&self, role: FileRole) -> Option<&File> {
        self.files.iter().find(|f| f.role == role)
    }

    /// Whether `path` is a managed file.
    pub fn is_managed(&self, path: &RelPath) -> bool {
        self.files.iter().any(|f| &f.path == path)
    }
}

/// `path` relative to `root` when it lies inside it (both resolved), else `None`.
pub fn inside_root(root: &Path, path: &Path) -> Option<RelPath> {
    let root = std::fs::canonicalize(root).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    let rest = path.strip_prefix(&root).ok()?;
    RelPath::new(rest.to_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_is_valid() {
        let l = Layout::from_config(Config::default(), None);
        assert!(l.is_ok(), "{:?}", l.err());
    }
}
