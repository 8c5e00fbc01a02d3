// One integration test binary; each module below is one area.

// Replays fuzz/seeds/** through the checks the fuzz targets run.
mod fuzz_replay;
// Property tests of the JSON salvage under generated corruptions.
mod salvage_props;
