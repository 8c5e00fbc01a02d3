//! Reading a journal directory by the reader rules: the listing (every entry is a
//! transaction file by its exact name, or a finding: rule 8), each file streamed through
//! the format's decoder in bounded memory (a torn tail of any length is counted, never
//! kept; holes of a sparse file are never read), its tag algorithm checked against the
//! configuration, and the rules across files (`journal_format::assess`). The records of
//! each file go to the caller as they are decoded, so a reader that needs only a part of
//! them (`journal verify`) holds a few words per file.

use super::{journal_dir, Problem, Torn, TxnFile};
use crate::error::Result;
use crate::fsx::{Flow, Kind, Piece, Read_, Root};
use crate::paths::RelPath;
use journal_format::{self as jf, Assessment, Decoder, FileDecode, FileSummary, Mac, MacKind};

/// What a scan of the journal directory found.
#[derive(Debug)]
pub struct Scanned {
    /// The files decoded, in id order, with their summaries.
    pub files: Vec<(RelPath, FileSummary)>,
    /// The rules across files, applied to them.
    pub assessment: Assessment,
    /// The first reason the journal cannot be trusted.
    pub problem: Option<Problem>,
    /// Every transaction id named in the directory.
    pub ids: Vec<u64>,
    /// How many of the decoded files can be trusted (those before the first problem; an
    /// unfinished transaction followed by another is itself read whole).
    pub trusted: usize,
}

impl Scanned {
    /// The torn tail of the newest trusted file, when the journal has no problem.
    pub(super) fn torn(&self, txns: &[TxnFile]) -> Option<Torn> {
        if self.problem.is_some() {
            return None;
        }
        let t = txns.last()?;
        match t.tail {
            jf::Tail::Torn { offset, len } => Some(Torn {
                file: t.path.clone(),
                offset,
                len,
                saved_to: None,
            }),
            jf::Tail::Clean => None,
        }
    }
}

/// One entry of the journal directory.
enum Listed {
    Txn(u64, Kind),
    Stray(String, Kind),
}

/// Reads every transaction file of the journal in id order, handing each decoded file to
/// `on_file` (before the rules across files are applied: [`Scanned::trusted`] says how many
/// of them to keep), up to the first file that cannot be decoded.
///
/// # Errors
/// I/O errors listing the directory or reading a file (permission denied names the owner).
pub fn scan(
    root: &Root,
    mac: &Mac,
    on_file: &mut dyn FnMut(RelPath, u64, FileDecode),
) -> Result<Scanned> {
    scan_dir(root, &journal_dir(), mac, on_file)
}

/// [`scan`] of the journal directory `dir` (the live one, or one moved aside).
///
/// # Errors
/// As [`scan`].
pub fn scan_dir(
    root: &Root,
    dir: &RelPath,
    mac: &Mac,
    on_file: &mut dyn FnMut(RelPath, u64, FileDecode),
) -> Result<Scanned> {
    let dir = dir.clone();
    let listed = list(root, &dir)?;
    let ids: Vec<u64> = listed
        .iter()
        .filter_map(|l| match l {
            Listed::Txn(t, _) => Some(*t),
            Listed::Stray(..) => None,
        })
        .collect();
    let mut files = Vec::new();
    let mut stop = None;
    let mut keyed = false;
    for l in &listed {
        let Listed::Txn(txn, kind) = l else { continue };
        let path = dir.join(&jf::file_name(*txn))?;
        match decode(root, &path, *txn, *kind, mac, &mut keyed)? {
            Ok(d) => {
                files.push((path.clone(), FileSummary::of(*txn, &d)));
                on_file(path, *txn, d);
            }
            Err(p) => {
                stop = Some(p);
                break;
            }
        }
    }
    let summaries: Vec<FileSummary> = files.iter().map(|(_, s)| s.clone()).collect();
    let assessment = jf::assess(&summaries);
    let (problem, trusted) = match &assessment.fault {
        Some(f) => {
            let whole = matches!(f.fault, jf::Fault::UnfinishedNotNewest);
            let p = files.get(f.file).map(|(path, _)| fault_problem(path, f));
            (p, f.file + usize::from(whole))
        }
        None => (stop.or_else(|| strays(&dir, &listed)), files.len()),
    };
    Ok(Scanned {
        files,
        assessment,
        problem,
        ids,
        trusted,
    })
}

fn fault_problem(path: &RelPath, f: &jf::FaultAt) -> Problem {
    Problem::Corrupt {
        file: path.clone(),
        line: f.line,
        seq: f.seq,
        why: f.fault.to_string(),
    }
}

/// The entries of the journal directory, transaction files in id order first.
fn list(root: &Root, dir: &RelPath) -> Result<Vec<Listed>> {
    let entries = root.list(Some(dir)).map_err(|e| root.explain_denied(e))?;
    let mut out: Vec<Listed> = entries
        .into_iter()
        .map(|e| match (e.utf8, jf::parse_file_name(&e.name)) {
            (true, Some(t)) => Listed::Txn(t, e.kind),
            _ => Listed::Stray(e.name, e.kind),
        })
        .collect();
    out.sort_by_key(|l| match l {
        Listed::Txn(t, _) => (0, *t),
        Listed::Stray(..) => (1, 0),
    });
    Ok(out)
}

/// The first entry that is not a transaction file: a finding (an entry the reader cannot
/// account for could be a transaction it would not see).
fn strays(dir: &RelPath, listed: &[Listed]) -> Option<Problem> {
    listed.iter().find_map(|l| match l {
        Listed::Stray(name, kind) => Some(Problem::Corrupt {
            file: dir.join(name).unwrap_or_else(|_| dir.clone()),
            line: None,
            seq: None,
            why: format!(
                "{} {name:?} is not a journal file (names are txn-<10 digits>.jsonl); an entry the reader cannot account for could hide a transaction",
                match kind {
                    Kind::Dir => "the directory",
                    Kind::File => "the file",
                    _ => "the entry",
                }
            ),
        }),
        Listed::Txn(..) => None,
    })
}

/// Decodes one transaction file, streamed; `Err` is the problem that stops the scan.
fn decode(
    root: &Root,
    path: &RelPath,
    txn: u64,
    kind: Kind,
    want: &Mac,
    keyed: &mut bool,
) -> Result<std::result::Result<FileDecode, Problem>> {
    let d = match decode_raw(root, path, txn, kind, want, keyed)? {
        Ok(d) => d,
        Err(p) => return Ok(Err(p)),
    };
    match &d.error {
        None => Ok(Ok(d)),
        Some(err) => Ok(Err(match err.kind {
            jf::ErrorKind::UnknownVersion(version) => Problem::Version {
                file: path.clone(),
                version,
            },
            _ => Problem::Corrupt {
                file: path.clone(),
                line: Some(err.line),
                seq: err.seq,
                why: err.kind.to_string(),
            },
        })),
    }
}

/// The records of one file up to its first bad line, whatever comes after (the files of a
/// journal moved aside, read only for the backup objects they name).
///
/// # Errors
/// I/O errors reading it.
pub fn entries_up_to_damage(
    root: &Root,
    path: &RelPath,
    txn: u64,
    mac: &Mac,
) -> Result<Vec<jf::Entry>> {
    let mut keyed = false;
    Ok(
        match decode_raw(root, path, txn, Kind::File, mac, &mut keyed)? {
            Ok(d) => d.entries,
            Err(_) => Vec::new(),
        },
    )
}

/// [`decode`], with the decoder's own error left in the result; `Err` only for a file that
/// cannot be decoded at all.
fn decode_raw(
    root: &Root,
    path: &RelPath,
    txn: u64,
    kind: Kind,
    want: &Mac,
    keyed: &mut bool,
) -> Result<std::result::Result<FileDecode, Problem>> {
    let fail = |why: &str, line| {
        Err(Problem::Corrupt {
            file: path.clone(),
            line,
            seq: None,
            why: why.to_string(),
        })
    };
    if kind != Kind::File {
        // Not ours: selfheal only ever creates regular files there, and could neither read
        // nor replace it (the next transaction would need its name).
        return Ok(fail(
            "not a regular file (a directory, FIFO or symlink has its name)",
            None,
        ));
    }
    let mut decoder: Option<std::result::Result<Decoder, &'static str>> = None;
    let read = root
        .read_stream(path, 0, &mut |piece| {
            let d = decoder.get_or_insert_with(|| {
                let first = match piece {
                    Piece::Data(b) => jf::declared_mac(b),
                    Piece::Zeros(_) => None,
                };
                file_mac(first, want, keyed).map(|m| Decoder::new(m, Some(txn)))
            });
            let Ok(d) = d else { return Flow::Stop };
            match piece {
                Piece::Data(b) => d.feed(b),
                Piece::Zeros(n) => d.feed_zeros(n),
            }
            if d.done() {
                Flow::Stop
            } else {
                Flow::More
            }
        })
        .map_err(|e| root.explain_denied(e))?;
    if !matches!(read, Read_::File(..)) {
        return Ok(fail(
            "changed while it was read (no longer a regular file)",
            None,
        ));
    }
    let d = match decoder {
        None => Decoder::new(want.clone(), Some(txn)),
        Some(Ok(d)) => d,
        Some(Err(why)) => return Ok(fail(why, Some(1))),
    };
    Ok(Ok(d.finish()))
}

/// The tag algorithm of one file by what its first line declares, or why the declaration
/// is not acceptable.
fn file_mac(
    declared: Option<MacKind>,
    want: &Mac,
    keyed: &mut bool,
) -> std::result::Result<Mac, &'static str> {
    match (declared, want) {
        (Some(MacKind::Sha256), Mac::HmacSha256(_)) if *keyed => {
            Err("an unkeyed file follows keyed ones (downgrade)")
        }
        (Some(MacKind::Sha256), _) => Ok(Mac::Sha256),
        (Some(MacKind::HmacSha256), Mac::Sha256) => {
            Err("the journal is keyed but no journal_key_file is configured")
        }
        (Some(MacKind::HmacSha256), m) => {
            *keyed = true;
            Ok(m.clone())
        }
        (None, m) => Ok(m.clone()),
    }
}

/// Decodes the one file `path` of transaction `txn`, handing it to `on` when it decodes
/// without error (nothing when it is absent, not a regular file, or damaged).
///
/// # Errors
/// I/O errors reading it.
pub(super) fn scan_one(
    root: &Root,
    path: &RelPath,
    txn: u64,
    mac: &Mac,
    on: &mut dyn FnMut(FileDecode),
) -> Result<()> {
    let mut keyed = false;
    if let Ok(d) = decode(root, path, txn, Kind::File, mac, &mut keyed)? {
        on(d);
    }
    Ok(())
}
