//! Any bytes, salvaged as a positions and as a portfolio file: no panic, valid output,
//! idempotent, every output record verbatim input. The body is
//! `selfheal::salvage::fuzzing::check_salvage`, replayed on stable by tests/fuzz_replay.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = selfheal::salvage::fuzzing::check_salvage(data) {
        panic!("salvage check failed: {e}");
    }
});
