//! Any bytes as a journal file: no panic, and the good prefix decodes to the same records.
//! The body is `journal_format::fuzzing::check_decode`, replayed on stable by
//! tests/fuzz_replay.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = journal_format::fuzzing::check_decode(data) {
        panic!("journal decode check failed: {e}");
    }
});
