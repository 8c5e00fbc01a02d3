//! Reading a journal directory by the reader rules: the listing (every entry is a
//! transaction file by its exact name, or a finding: rule 9), each file streamed through
//! the format's decoder in bounded memory (a torn tail of any length is counted, never
//! kept; holes of a sparse file are never read), its tag algorithm checked against the
//! configuration and its key picked from the key ring (the configured key, then earlier
//! ones; a file none verifies is read without its tags), and the rules across files
//! (`journal_format::assess`, and `check_keys` for key rotations). The records of
//! each file go to the caller as they are decoded, so a reader that needs only a part of
//! them (`journal verify`) holds a few words per file.

use super::{journal_dir, Problem, Torn, TxnFile};
use crate::error::Result;
use crate::fsx::{Flow, Kind, Piece, Read_, Root};
use crate::paths::RelPath;
use journal_format::{
    self as jf, Assessment, Body, Decoder, Entry, FileDecode, FileSummary, Mac, MacKind,
};

/// The keys a journal is read with: the configured one, then earlier ones (from before a
/// key rotation) that verify older files.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// The configured key (or the unkeyed algorithm).
    pub own: &'a Mac,
    /// Earlier keys, newest first.
    pub old: &'a [Mac],
}

impl<'a> Keys<'a> {
    /// Only the configured key: files under an earlier key are read without their tags.
    pub fn own(mac: &'a Mac) -> Keys<'a> {
        Keys { own: mac, old: &[] }
    }
}

/// One decoded file as the key rule sees it: the key that verified it (`None`: read
/// without its tags) and its `rekey` and `commit` records.
struct Keyed {
    mac: Option<Mac>,
    entries: Vec<Entry>,
}

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
    /// The trusted files read without their tags (tagged with an earlier key not given),
    /// by index in `files`, with the key id the rotation after them names.
    pub unverified: Vec<usize>,
    /// The key id of the unverified files, as the rotation after them records it.
    pub unverified_key_id: Option<String>,
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

/// The callback a scan hands each decoded file to: its path, transaction id, records, and
/// whether its tags were verified.
pub type OnFile<'f> = dyn FnMut(RelPath, u64, FileDecode, bool) + 'f;

/// Reads every transaction file of the journal in id order, handing each decoded file to
/// `on_file` (before the rules across files are applied: [`Scanned::trusted`] says how many
/// of them to keep), up to the first file that cannot be decoded.
///
/// # Errors
/// I/O errors listing the directory or reading a file (permission denied names the owner).
pub fn scan(root: &Root, keys: Keys<'_>, on_file: &mut OnFile<'_>) -> Result<Scanned> {
    scan_dir(root, &journal_dir(), keys, on_file)
}

/// [`scan`] of the journal directory `dir` (the live one, or one moved aside).
///
/// # Errors
/// As [`scan`].
pub fn scan_dir(
    root: &Root,
    dir: &RelPath,
    keys: Keys<'_>,
    on_file: &mut OnFile<'_>,
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
    let mut key_of = Vec::new();
    let mut stop = None;
    let mut keyed = false;
    for l in &listed {
        let Listed::Txn(txn, kind) = l else { continue };
        let path = dir.join(&jf::file_name(*txn))?;
        match decode(root, &path, *txn, *kind, keys, &mut keyed)? {
            Ok((d, mac)) => {
                files.push((path.clone(), FileSummary::of(*txn, &d)));
                key_of.push(Keyed {
                    entries: d
                        .entries
                        .iter()
                        .filter(|e| matches!(e.record.body, Body::Rekey(_) | Body::Commit(_)))
                        .cloned()
                        .collect(),
                    mac: mac.clone(),
                });
                on_file(path, *txn, d, mac.is_some());
            }
            Err(p) => {
                stop = Some(p);
                break;
            }
        }
    }
    let summaries: Vec<FileSummary> = files.iter().map(|(_, s)| s.clone()).collect();
    let assessment = jf::assess(&summaries);
    let (mut problem, mut trusted) = match &assessment.fault {
        Some(f) => {
            let whole = matches!(f.fault, jf::Fault::UnfinishedNotNewest);
            let p = files.get(f.file).map(|(path, _)| fault_problem(path, f));
            (p, f.file + usize::from(whole))
        }
        None => (stop.or_else(|| strays(&dir, &listed)), files.len()),
    };
    if let Some((index, p)) = key_problem(&files, &key_of, keys.own) {
        if index < trusted || problem.is_none() {
            (problem, trusted) = (Some(p), index.min(trusted));
        }
    }
    let unverified: Vec<usize> = (0..trusted)
        .filter(|&i| key_of.get(i).is_some_and(|k| k.mac.is_none()))
        .collect();
    let unverified_key_id = unverified.last().and_then(|&last| {
        key_of
            .iter()
            .take(trusted)
            .skip(last + 1)
            .filter(|k| k.mac.is_some())
            .find_map(|k| jf::committed_rekey(&k.entries))
            .map(|r| r.previous.clone())
    });
    Ok(Scanned {
        files,
        assessment,
        problem,
        ids,
        trusted,
        unverified,
        unverified_key_id,
    })
}

/// Rule 7 of SPEC.md: files read without their tags must come before a rotation to a key
/// that verifies. The first file breaking it, and the problem.
fn key_problem(
    files: &[(RelPath, FileSummary)],
    key_of: &[Keyed],
    own: &Mac,
) -> Option<(usize, Problem)> {
    let view: Vec<(Option<&Mac>, &[Entry])> = key_of
        .iter()
        .map(|k| (k.mac.as_ref(), k.entries.as_slice()))
        .collect();
    let (index, line, why) = match jf::check_keys(&view) {
        Ok(()) => return None,
        Err(jf::KeyError::Unverified { index }) => {
            let why = match key_of.get(index).and_then(|k| jf::committed_rekey(&k.entries)) {
                Some(k) => format!(
                    "checksum mismatch: transaction {} rotated the journal key to key id {}, but journal_key_file holds key id {} (set journal_key_file to the key selfheal journal rekey was given)",
                    files.get(index).map_or(0, |(_, f)| f.txn),
                    k.key_id,
                    own.key_id()
                ),
                None => "checksum mismatch".into(),
            };
            (index, Some(1), why)
        }
        Err(e @ jf::KeyError::WrongKeyId { index, .. }) => {
            let line = key_of.get(index).and_then(|k| {
                k.entries.iter().find_map(|x| match x.record.body {
                    Body::Rekey(_) => Some(x.line),
                    _ => None,
                })
            });
            (index, line, e.to_string())
        }
    };
    let (path, _) = files.get(index)?;
    Some((
        index,
        Problem::Corrupt {
            file: path.clone(),
            line,
            seq: None,
            why,
        },
    ))
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
    // A writer's temp file (a key rotation's, before its rename) is never a transaction.
    let temp = |e: &crate::fsx::DirEntry| {
        e.kind == Kind::File && e.utf8 && e.name.starts_with(crate::fsx::TMP_PREFIX)
    };
    let mut out: Vec<Listed> = entries
        .into_iter()
        .filter(|e| !temp(e))
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

/// A decoded file and the key that verified it (`None`: read without its tags).
type Decoded = (FileDecode, Option<Mac>);

/// Decodes one transaction file, streamed; `Err` is the problem that stops the scan.
fn decode(
    root: &Root,
    path: &RelPath,
    txn: u64,
    kind: Kind,
    keys: Keys<'_>,
    keyed: &mut bool,
) -> Result<std::result::Result<Decoded, Problem>> {
    let (d, mac) = match decode_raw(root, path, txn, kind, keys, keyed)? {
        Ok(d) => d,
        Err(p) => return Ok(Err(p)),
    };
    match &d.error {
        None => Ok(Ok((d, mac))),
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
        match decode_raw(root, path, txn, Kind::File, Keys::own(mac), &mut keyed)? {
            Ok((d, _)) => d.entries,
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
    keys: Keys<'_>,
    keyed: &mut bool,
) -> Result<std::result::Result<Decoded, Problem>> {
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
    let mut decoder: Option<std::result::Result<(Decoder, Option<Mac>), &'static str>> = None;
    let read = root
        .read_stream(path, 0, &mut |piece| {
            let d = decoder.get_or_insert_with(|| {
                let head = match piece {
                    Piece::Data(b) => b,
                    Piece::Zeros(_) => &[],
                };
                file_mac(jf::declared_mac(head), keys.own, keyed)
                    .map(|m| keyed_decoder(head, m, keys, txn))
            });
            let Ok((d, _)) = d else { return Flow::Stop };
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
    let (d, mac) = match decoder {
        None => (
            Decoder::new(keys.own.clone(), Some(txn)),
            Some(keys.own.clone()),
        ),
        Some(Ok(d)) => d,
        Some(Err(why)) => return Ok(fail(why, Some(1))),
    };
    Ok(Ok((d.finish(), mac)))
}

/// The decoder of a file whose tag algorithm is `mac`: a keyed file is checked with the
/// first key of the ring its first line (in `head`) verifies with, else read without its
/// tags.
fn keyed_decoder(head: &[u8], mac: Mac, keys: Keys<'_>, txn: u64) -> (Decoder, Option<Mac>) {
    if mac.kind() != MacKind::HmacSha256 {
        return (Decoder::new(mac.clone(), Some(txn)), Some(mac));
    }
    let mut ring = vec![mac];
    ring.extend(keys.old.iter().cloned());
    match jf::key_for(head, &ring).and_then(|i| ring.get(i).cloned()) {
        Some(m) => (Decoder::new(m.clone(), Some(txn)), Some(m)),
        None => (Decoder::unverified(Some(txn)), None),
    }
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
    if let Ok((d, Some(_))) = decode(root, path, txn, Kind::File, Keys::own(mac), &mut keyed)? {
        on(d);
    }
    Ok(())
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
