//! Fuzz target: see `keylink_tests::fuzz::sealed_box`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink_tests::fuzz::sealed_box(data));
