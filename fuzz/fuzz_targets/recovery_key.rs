//! Fuzz target: see `keylink_tests::fuzz::recovery_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink_tests::fuzz::recovery_key(data));
