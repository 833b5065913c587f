//! Fuzz target: see `keylink_tests::fuzz::link_code`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink_tests::fuzz::link_code(data));
