//! A positions file decoded from the input, corrupted in one of the ways state files get
//! damaged; checks that intact records survive, verbatim and in their own array. The body
//! is `selfheal::salvage::fuzzing::check_structured`, replayed on stable by
//! tests/fuzz_replay.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = selfheal::salvage::fuzzing::check_structured(data) {
        panic!("structured salvage check failed: {e}");
    }
});
