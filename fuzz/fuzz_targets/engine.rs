//! Scripts of heal, check, rollback, recover, prune, watch and ack on a small state root,
//! with crashes, power cuts and I/O errors at any fault point and the bot's damage and
//! writes in between, checked against a model of every version ever written. The body is
//! `selfheal::fuzzing::check_engine`, replayed on stable by tests/fuzz_replay.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = selfheal::fuzzing::check_engine(data) {
        panic!("engine check failed: {e}");
    }
});
