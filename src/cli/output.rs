//! The two output streams and what goes where. Standard output carries what a command was
//! asked for (a listing, a document, the configuration, the `--json` report); standard
//! error carries messages, progress and the human `heal`/`check` report. Every write to
//! standard output goes through [`Out`], which keeps the first write error: once one write
//! failed nothing more is written, and the command ends with it ([`Out::finish`]): a
//! closed pipe ends the output quietly, any other error is reported (exit 8). Errors
//! writing standard error are ignored: there is nowhere left to report them.
//!
//! Levels: `-q` keeps errors, criticals and a refused start; the default adds the report;
//! `-v` adds the plan detail (each operation with its path and why).

use serde::Serialize;
use std::cell::RefCell;
use std::io::{self, Write};

/// How much goes to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `-q`: errors, criticals, a refused start.
    Quiet,
    /// The report.
    Normal,
    /// `-v`: the report and the plan detail.
    Verbose,
}

/// Where and how to print.
pub struct Out {
    /// `--json`: one JSON document on standard output, no human lines.
    pub json: bool,
    level: Level,
    failed: RefCell<Option<io::Error>>,
}

/// How standard output ended.
#[derive(Debug)]
pub enum Ended {
    /// Everything was written.
    Written,
    /// The reader went away (a closed pipe): not an error of this command.
    Closed,
    /// Writing failed (a full disk, `/dev/full`, an I/O error).
    Failed(io::Error),
}

/// Replaces control characters with visible escapes.
pub fn clean(text: &str) -> String {
    selfheal::text::clean(text)
}

/// The name a value serializes to (`truncated`, `healthy`): what users read instead of a
/// Rust type name.
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Out {
    /// An output for `--json` and the level `-q`/`-v` ask for.
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Out {
        let level = match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, 0) => Level::Normal,
            (false, _) => Level::Verbose,
        };
        Out {
            json,
            level,
            failed: RefCell::new(None),
        }
    }

    fn stderr_line(&self, at: Level, line: &str) {
        if !self.json && self.level >= at {
            let _ = writeln!(io::stderr().lock(), "{}", clean(line));
        }
    }

    /// A line of the human report on standard error (not with `-q`).
    pub fn say(&self, line: &str) {
        self.stderr_line(Level::Normal, line);
    }

    /// A line that `-q` keeps: a critical, a refused start.
    pub fn alert(&self, line: &str) {
        self.stderr_line(Level::Quiet, line);
    }

    /// A line of the plan detail (`-v`).
    pub fn detail(&self, line: &str) {
        self.stderr_line(Level::Verbose, line);
    }

    /// A line of a command's human data on standard output (not with `--json`).
    pub fn data(&self, line: &str) {
        if !self.json {
            let mut text = clean(line);
            text.push('\n');
            self.stdout(text.as_bytes());
        }
    }

    /// The `--json` document (one line) on standard output.
    pub fn doc<T: Serialize>(&self, value: &T) {
        if self.json {
            self.json_line(value);
        }
    }

    /// One JSON line on standard output, whatever the flags.
    pub fn json_line<T: Serialize>(&self, value: &T) {
        match serde_json::to_vec(value) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                self.stdout(&bytes);
            }
            Err(e) => self.keep(io::Error::other(e)),
        }
    }

    /// A JSON document, indented, on standard output, whatever the flags.
    pub fn pretty<T: Serialize>(&self, value: &T) {
        match serde_json::to_vec_pretty(value) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                self.stdout(&bytes);
            }
            Err(e) => self.keep(io::Error::other(e)),
        }
    }

    /// Bytes on standard output exactly as given (the salvaged document).
    pub fn stdout(&self, bytes: &[u8]) {
        if self.failed.borrow().is_some() {
            return;
        }
        if let Err(e) = io::stdout().lock().write_all(bytes) {
            self.keep(e);
        }
    }

    /// Writes to standard output through `write` (a document written as it is produced),
    /// keeping the first error like [`Out::stdout`].
    pub fn stdout_with(&self, write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>) {
        if self.failed.borrow().is_some() {
            return;
        }
        let mut out = io::stdout().lock();
        if let Err(e) = write(&mut out) {
            self.keep(e);
        }
    }

    fn keep(&self, e: io::Error) {
        self.failed.borrow_mut().get_or_insert(e);
    }

    /// Whether standard output can no longer be written (the command may stop early).
    pub fn stdout_failed(&self) -> bool {
        self.failed.borrow().is_some()
    }

    /// Flushes standard output and says how it ended.
    pub fn finish(&self) -> Ended {
        let result = match self.failed.take() {
            Some(e) => Err(e),
            None => io::stdout().lock().flush(),
        };
        match result {
            Ok(()) => Ended::Written,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ended::Closed,
            Err(e) => Ended::Failed(e),
        }
    }

    /// Standard error, for the one message about standard output itself.
    pub fn stdout_error(&self, e: &io::Error) {
        let _ = writeln!(
            io::stderr().lock(),
            "selfheal: cannot write to standard output: {}",
            clean(&e.to_string())
        );
    }

    /// An error, printed once with its causes (and as `{"error"}` with `--json`).
    pub fn error(&self, e: &selfheal::Error, code: u8) {
        let mut text = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cur = c.source();
        }
        self.doc(&serde_json::json!({"error": text, "exit_code": code}));
        let _ = writeln!(io::stderr().lock(), "selfheal: {}", clean(&text));
    }

    /// With `--json`, the error document of a failure already described on stderr (a
    /// command line the parser refused): `{"error": <message>, "exit_code": <code>}`.
    pub fn error_text(&self, text: &str, code: u8) {
        let first = text
            .lines()
            .map(|l| l.trim_start_matches("error: ").trim())
            .find(|l| !l.is_empty())
            .unwrap_or("invalid command line");
        self.doc(&serde_json::json!({"error": clean(first), "exit_code": code}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_what_is_printed() {
        assert_eq!(Out::new(false, true, 0).level, Level::Quiet);
        assert_eq!(Out::new(false, false, 0).level, Level::Normal);
        assert_eq!(Out::new(false, false, 2).level, Level::Verbose);
        assert!(Level::Quiet < Level::Normal && Level::Normal < Level::Verbose);
    }

    #[test]
    fn names_are_the_serialized_ones() {
        assert_eq!(name(&selfheal::salvage::Damage::Truncated), "truncated");
        assert_eq!(name(&selfheal::Status::Healthy), "healthy");
    }
}
