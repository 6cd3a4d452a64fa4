#![no_main]
//! The `file_bundle` target of `strata_tests::fuzz` (its doc says what it feeds).

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_tests::fuzz::run("file_bundle", data));
