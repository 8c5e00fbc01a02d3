//! Reading a file of any size in bounded memory: its bytes are handed to a sink in chunks
//! of at most 1 MiB, and the holes of a sparse file as counts of zero bytes (never
//! materialised), so a 2 GiB run of NULs after a power loss costs neither its size in
//! memory nor a read of every zero.

use super::{Read_, Root};
use crate::error::{Error, IoOp, Result};
use crate::paths::RelPath;
use rustix::fs::SeekFrom;
use rustix::io::Errno;
use std::io::Read;

/// One piece of a file, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Bytes read.
    Data(&'a [u8]),
    /// A hole: this many zero bytes.
    Zeros(u64),
}

/// What the sink says after a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on reading.
    More,
    /// Stop: the rest does not matter.
    Stop,
}

const CHUNK: usize = 1 << 20;

impl Root {
    /// Hands the regular file `rel` to `sink` piece by piece from `from` (a byte offset),
    /// holes as [`Piece::Zeros`]; `Read_::File` then holds no bytes. Anything but a regular
    /// file is reported as it is, unread.
    ///
    /// # Errors
    /// I/O errors while opening or reading.
    pub fn read_stream(
        &self,
        rel: &RelPath,
        from: u64,
        sink: &mut dyn FnMut(Piece<'_>) -> Flow,
    ) -> Result<Read_> {
        let (file, stat) = match self.open_regular(rel, u64::MAX)? {
            Ok(open) => open,
            Err(other) => return Ok(other),
        };
        stream(file, from, stat.size, sink).map_err(|e| Error::io(IoOp::Read, rel.as_path(), e))?;
        Ok(Read_::File(Vec::new(), stat))
    }
}

fn stream(
    mut file: std::fs::File,
    from: u64,
    size: u64,
    sink: &mut dyn FnMut(Piece<'_>) -> Flow,
) -> std::io::Result<()> {
    // Sized by the file: a journal of many small files must not zero a MiB for each.
    let len = usize::try_from(size.saturating_sub(from)).unwrap_or(CHUNK);
    let mut buf = vec![0u8; len.clamp(1, CHUNK)];
    let mut pos = from;
    loop {
        let hole = match skip_hole(&file, pos, size, sink)? {
            Some((data, hole)) => {
                pos = data;
                hole
            }
            None => return Ok(()),
        };
        rustix::fs::seek(&file, SeekFrom::Start(pos))?;
        while pos < hole {
            let want = usize::try_from(hole - pos).unwrap_or(CHUNK).min(buf.len());
            let n = match file.read(buf.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            pos += n as u64;
            if sink(Piece::Data(buf.get(..n).unwrap_or_default())) == Flow::Stop {
                return Ok(());
            }
        }
    }
}

/// Skips the hole at `pos` (telling the sink), and returns where data starts and where the
/// next hole does (`u64::MAX` when the filesystem cannot say); `None` when nothing is
/// left or the sink stopped.
fn skip_hole(
    file: &std::fs::File,
    pos: u64,
    size: u64,
    sink: &mut dyn FnMut(Piece<'_>) -> Flow,
) -> std::io::Result<Option<(u64, u64)>> {
    let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
        Ok(d) => d,
        Err(Errno::NXIO) => {
            if size > pos {
                sink(Piece::Zeros(size - pos));
            }
            return Ok(None);
        }
        Err(_) => return Ok(Some((pos, u64::MAX))),
    };
    if data > pos && sink(Piece::Zeros(data - pos)) == Flow::Stop {
        return Ok(None);
    }
    let hole = rustix::fs::seek(file, SeekFrom::Hole(data)).unwrap_or(u64::MAX);
    Ok(Some((data, hole)))
}
