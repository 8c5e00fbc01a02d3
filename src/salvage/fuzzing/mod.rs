//! Fuzz and property checks, kept in the library so that the fuzz targets, the property
//! tests and `tests/fuzz_replay.rs` (on stable, in CI) run exactly the same code. Each
//! check returns `Err(description)` instead of panicking, so a caller can print the input.
//!
//! Not part of the stable API.

mod check;
mod gen;

pub use check::{
    check_bytes, check_one_pass, check_spec, corrupted_bytes, interleave, is_document_of_shape,
};
pub use gen::{garbage_byte, render, Bytes, Corruption, Doc, Layout, Placed, Rec, Second, Spec};

use super::{Salvaged, Schema};

/// The salvage as it is done without any hand-over: every value scanned for its end and
/// validated, the document built in one buffer. The faster paths (`rebuild` with the
/// ranges a strict scan completed, the document as pieces of the input) are checked
/// against it.
pub fn reference_salvage(input: &[u8], shape: &Schema) -> Salvaged {
    super::api::reference(input, shape)
}

/// Target `salvage`: any bytes, read as a positions file and as a portfolio file. No
/// panic; the output is a valid document of the shape; salvaging it again changes
/// nothing; every output record is verbatim input; a valid document is returned as is.
pub fn check_salvage(data: &[u8]) -> Result<(), String> {
    check_bytes(data, &Schema::positions())?;
    check_bytes(data, &Schema::portfolio())?;
    Ok(())
}

/// Target `salvage_structured`: decodes a positions file, a layout and a corruption from
/// `data` and checks, beyond `check_salvage`: every kept record is an original record of
/// the same array (in some version), every record whose bytes lie outside the damage
/// survives (kept, or reported unplaced if it follows the damage), and the outcome fits
/// the corruption.
pub fn check_structured(data: &[u8]) -> Result<(), String> {
    check_spec(&Spec::decode(data))
}
