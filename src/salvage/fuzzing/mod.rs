//! Fuzz and property checks, kept in the library so that the fuzz targets, the property
//! tests and `tests/fuzz_replay.rs` (on stable, in CI) run exactly the same code. Each
//! check returns `Err(description)` instead of panicking, so a caller can print the input.
//!
//! Not part of the stable API.

mod check;
mod gen;

pub use check::{check_bytes, check_spec, corrupted_bytes, interleave, is_document_of_shape};
pub use gen::{garbage_byte, render, Bytes, Corruption, Doc, Layout, Placed, Rec, Second, Spec};

use super::Shape;

/// Target `salvage`: any bytes, read as a positions file and as a portfolio file. No
/// panic; the output is a valid document of the shape; salvaging it again changes
/// nothing; every output record is verbatim input; a valid document is returned as is.
pub fn check_salvage(data: &[u8]) -> Result<(), String> {
    check_bytes(data, &Shape::positions())?;
    check_bytes(data, &Shape::portfolio())?;
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
