#![no_main]
//! The `certificate_der` target of `strata_tests::fuzz` (its doc says what it feeds).

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_tests::fuzz::run("certificate_der", data));
