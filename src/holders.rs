//! Who holds a lock file: the `FLOCK` and `POSIX` (`fcntl`, `lockf`) lines of `/proc/locks` whose device and inode are a lock
//! file's, each with its process's command line. Read-only; used to name the holders of a
//! lock that stayed held (LOCK_HELD, a long-held lock), whatever those processes are. A
//! waiter (a `->` line) is not a holder. The pid `/proc/locks` gives is the process that
//! took the lock; when it has exited since (the descriptor lives on in a child) its command
//! line is unknown, and the finding says so.

use crate::procs;
use serde::Serialize;

/// One process holding a flock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Its pid, as `/proc/locks` gives it.
    pub pid: i64,
    /// Its command line (control characters escaped), when it can be read.
    pub command: Option<String>,
}

impl Holder {
    /// `1234 (python3 run.py)`, or `1234 (command line unknown)`.
    pub fn describe(&self) -> String {
        match &self.command {
            Some(c) => format!("{} ({c})", self.pid),
            None => format!("{} (command line unknown)", self.pid),
        }
    }
}

/// The holders of flocks on the file with device `dev` and inode `ino`, in the order
/// `/proc/locks` lists them (each pid once).
pub fn of(dev: u64, ino: u64) -> Vec<Holder> {
    let text = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let mut pids: Vec<i64> = Vec::new();
    for pid in parse(&text, rustix::fs::major(dev), rustix::fs::minor(dev), ino) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids.into_iter()
        .map(|pid| Holder {
            pid,
            command: command_of(pid),
        })
        .collect()
}

/// `1234 (cmd), 5678 (cmd)`, or a sentence for nobody found.
pub fn describe_all(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return "a process not listed in /proc/locks".to_string();
    }
    let all: Vec<String> = holders.iter().map(Holder::describe).collect();
    all.join(", ")
}

fn command_of(pid: i64) -> Option<String> {
    let pid = u32::try_from(pid).ok().filter(|p| *p > 0)?;
    let cmd = procs::info(pid)?.command();
    (!cmd.is_empty()).then(|| crate::text::excerpt(&cmd, 200))
}

/// The pids of the `FLOCK` and `POSIX` holders (not waiters; an open file description lock
/// names no process) on `major:minor:ino` in `/proc/locks` text.
fn parse(text: &str, major: u32, minor: u32, ino: u64) -> Vec<i64> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip(1).peekable();
            if words.peek() == Some(&"->") {
                return None;
            }
            let fields: Vec<&str> = words.take(5).collect();
            let [kind, _, _, pid, id] = fields.as_slice() else {
                return None;
            };
            let known = matches!(*kind, "FLOCK" | "POSIX");
            let pid: i64 = pid.parse().ok()?;
            (known && pid > 0 && same_file(id, major, minor, ino)).then_some(pid)
        })
        .collect()
}

/// Whether `MAJOR:MINOR:INODE` (major and minor in hex) names the file.
fn same_file(id: &str, major: u32, minor: u32, ino: u64) -> bool {
    let mut parts = id.split(':');
    let (Some(ma), Some(mi), Some(i), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    u32::from_str_radix(ma, 16) == Ok(major)
        && u32::from_str_radix(mi, 16) == Ok(minor)
        && i.parse::<u64>() == Ok(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_the_flock_and_posix_lines_of_the_file() {
        let text = "1: FLOCK  ADVISORY  WRITE 3107 fe:00:10011666 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 3200 fe:00:10011666 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 77 fe:00:10011666 0 EOF\n\
                    3: FLOCK  ADVISORY  READ 41 fe:00:10011666 0 EOF\n\
                    4: FLOCK  ADVISORY  WRITE 42 fe:01:10011666 0 EOF\n\
                    5: FLOCK  ADVISORY  WRITE 43 fe:00:1001166 0 EOF\n\
                    6: OFDLCK ADVISORY  READ  -1 fe:00:10011666 0 EOF\n\
                    garbage\n\
                    7: FLOCK\n";
        assert_eq!(parse(text, 0xfe, 0, 10_011_666), vec![3107, 77, 41]);
        assert!(parse(text, 0xfe, 0, 1).is_empty());
        assert!(parse("", 0xfe, 0, 10_011_666).is_empty());
    }

    #[test]
    fn descriptions() {
        let h = |pid, command: Option<&str>| Holder {
            pid,
            command: command.map(str::to_string),
        };
        assert_eq!(
            describe_all(&[h(12, Some("python3 run.py")), h(13, None)]),
            "12 (python3 run.py), 13 (command line unknown)"
        );
        assert_eq!(describe_all(&[]), "a process not listed in /proc/locks");
    }

    #[test]
    fn a_lock_held_here_is_found_with_this_process() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("x.lock");
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        file.lock().unwrap_or_else(|e| panic!("{e}"));
        let st = rustix::fs::stat(&path).unwrap_or_else(|e| panic!("{e}"));
        let found = of(st.st_dev, st.st_ino);
        let me = i64::from(std::process::id());
        assert!(found.iter().any(|h| h.pid == me), "{found:?}");
    }
}
