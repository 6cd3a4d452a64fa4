#![no_main]
//! The `grpc_messages` target of `strata_tests::fuzz` (its doc says what it feeds).

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_tests::fuzz::run("grpc_messages", data));
