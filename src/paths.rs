//! Paths relative to the state root. A [`RelPath`] is always journal-safe (see
//! `journal_format::validate_rel_path`): it cannot be absolute, contain `..`, or leave the
//! root by its spelling. Leaving the root through a symlink is stopped where paths are opened
//! (`fsx`), never here.

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

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
