//! `salvage [FILE|-]`: what the salvage of a damaged JSON file would keep, read-only.
//! Invariant: it reads at most `limits.max_file_size` bytes and writes nothing.

use crate::checks;
use crate::config::Layout;
use crate::error::{Error, Result};
use crate::fsx::Root;
use crate::run::Options;

/// What `salvage` produced.
pub struct SalvageOutput {
    /// The file read (`-` for standard input).
    pub source: String,
    /// The bytes read.
    pub input: Vec<u8>,
    /// The salvage; its document is pieces of `input` ([`Self::write_document`]).
    pub salvaged: crate::salvage::Rebuilt,
}

impl SalvageOutput {
    /// Writes the salvaged document to `w` as it is made: piece by piece, straight from
    /// the bytes read (no second copy of the file).
    ///
    /// # Errors
    /// The writer's errors.
    pub fn write_document(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.salvaged.output.write_to(&self.input, w)
    }

    /// The salvaged document in one buffer.
    pub fn document(&self) -> Vec<u8> {
        self.salvaged.output.to_vec(&self.input)
    }
}

/// Runs `salvage [FILE|-]`, read-only: the managed positions file of the root when no file
/// is given; the shape of the managed file a given path names, else the positions shape.
///
/// # Errors
/// I/O errors reading the input, an input over `limits.max_file_size`, invalid config.
pub fn salvage_file(opts: &Options, file: Option<&std::path::Path>) -> Result<SalvageOutput> {
    let layout = match Root::open(&opts.root) {
        Ok(_) => Layout::load(&opts.root, opts.config.as_deref())?,
        Err(_) => Layout::from_config(crate::config::Config::default(), None)?,
    };
    let positions = layout.file(crate::config::FileRole::Positions).cloned();
    let (source, bytes, spec) = match file {
        Some(p) if p.as_os_str() == "-" => {
            ("-".to_string(), read_stdin(layout.max_file_size)?, None)
        }
        Some(p) => {
            let spec = managed_spec(&opts.root, &layout, p);
            (
                p.display().to_string(),
                read_capped(p, layout.max_file_size)?,
                spec,
            )
        }
        None => {
            let spec = positions
                .clone()
                .ok_or_else(|| Error::Usage("no positions file is configured".into()))?;
            let path = opts.root.join(spec.path.as_path());
            (
                path.display().to_string(),
                read_capped(&path, layout.max_file_size)?,
                Some(spec),
            )
        }
    };
    let shape = match spec.or(positions) {
        Some(spec) => checks::corrupt::shape_of(&spec),
        None => crate::salvage::Schema::positions(),
    };
    let skeleton = salvage_skeleton(&bytes, &shape.record_arrays);
    let salvaged = crate::salvage::rebuild(&bytes, &shape, &skeleton);
    Ok(SalvageOutput {
        source,
        input: bytes,
        salvaged,
    })
}

/// One pass over the intact part: the strict scan finds where the bytes break and the
/// records it completed before, which the salvage takes instead of scanning them again.
/// Whether the text rewinds at a block boundary, the salvage's other pass over the whole
/// input, is asked beside it on a second thread for a large input (inline when a thread
/// cannot be started).
fn salvage_skeleton(bytes: &[u8], record_arrays: &[String]) -> crate::salvage::Skeleton {
    let spec = crate::jsondoc::Spec {
        record_arrays,
        ..crate::jsondoc::Spec::default()
    };
    let (runs, rewinds) = std::thread::scope(|scope| {
        let beside = (bytes.len() >= crate::store::LARGE_OBJECT)
            .then(|| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || crate::salvage::block_rewinds(bytes))
                    .ok()
            })
            .flatten();
        let runs = crate::jsondoc::record_runs(bytes, &spec);
        (runs, beside.and_then(|h| h.join().ok()))
    });
    let skeleton = crate::salvage::Skeleton::runs(runs);
    match rewinds {
        Some(r) => skeleton.with_block_rewinds(r),
        None => skeleton,
    }
}

/// The managed file `path` names, if it is one (compared after resolving both).
fn managed_spec(
    root: &std::path::Path,
    layout: &Layout,
    path: &std::path::Path,
) -> Option<crate::config::File> {
    let want = std::fs::canonicalize(path).ok()?;
    layout
        .files
        .iter()
        .find(|f| {
            std::fs::canonicalize(root.join(f.path.as_path()))
                .ok()
                .as_ref()
                == Some(&want)
        })
        .cloned()
}

fn read_capped(path: &std::path::Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(crate::error::IoOp::Open, path, e))?;
    let mut bytes = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(crate::error::IoOp::Read, path, e))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(path, cap));
    }
    Ok(bytes)
}

fn read_stdin(cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(crate::error::IoOp::Read, "-", e))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(std::path::Path::new("-"), cap));
    }
    Ok(bytes)
}

fn too_large(path: &std::path::Path, cap: u64) -> Error {
    let why = std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("larger than limits.max_file_size ({cap} bytes)"),
    );
    Error::io(crate::error::IoOp::Read, path, why)
}
