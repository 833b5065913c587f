//! Fuzz target: see `keylink_tests::fuzz::server_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink_tests::fuzz::server_message(data));
