//! Fuzz target: see `keylink_tests::fuzz::key_wrap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink_tests::fuzz::key_wrap(data));
