//! The commands selfheal suggests in its messages, written so that they run as printed from
//! any directory: `selfheal --root <absolute root> [--config <absolute file>] <command>`,
//! with absolute paths and every word a POSIX shell would split or expand single-quoted.

use std::path::{Path, PathBuf};

/// Builds runnable command lines for one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hints {
    root: PathBuf,
    config: Option<PathBuf>,
}

impl Hints {
    /// Hints for `root` (made absolute, symlinks resolved when it exists) and the
    /// configuration file given with `--config`, if any.
    pub fn new(root: &Path, config: Option<&Path>) -> Hints {
        Hints {
            root: absolute(root),
            config: config.map(absolute),
        }
    }

    /// The root the commands name.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `selfheal --root <root> [--config <file>] <args…>`, quoted for a POSIX shell.
    pub fn command(&self, args: &[&str]) -> String {
        let mut words = vec![
            "selfheal".to_string(),
            "--root".into(),
            quote(&self.root.to_string_lossy()),
        ];
        if let Some(c) = &self.config {
            words.push("--config".into());
            words.push(quote(&c.to_string_lossy()));
        }
        words.extend(args.iter().map(|a| quote(a)));
        words.join(" ")
    }

    /// The absolute path of `rel` (relative to the root), quoted for a POSIX shell.
    pub fn path(&self, rel: &str) -> String {
        quote(&self.root.join(rel).to_string_lossy())
    }

    /// The absolute path of `rel`, unquoted (to pass as one argument of [`Hints::command`]).
    pub fn abs(&self, rel: &str) -> String {
        self.root.join(rel).to_string_lossy().into_owned()
    }
}

/// `path` made absolute: canonical when it can be resolved, else joined to the current
/// directory.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// `word` as one POSIX shell word: as is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside written as `'\''`).
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/srv/bot-A"), "/srv/bot-A");
        assert_eq!(quote("/srv/my bot"), "'/srv/my bot'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn commands_name_the_root_and_config() {
        let h = Hints {
            root: PathBuf::from("/srv/my bot"),
            config: Some(PathBuf::from("/etc/selfheal.json")),
        };
        assert_eq!(
            h.command(&["ack", "7"]),
            "selfheal --root '/srv/my bot' --config /etc/selfheal.json ack 7"
        );
        assert_eq!(h.path("logs/p.json"), "'/srv/my bot/logs/p.json'");
    }
}
