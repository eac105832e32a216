//! cargo-fuzz target `store_records`; the logic is in `keyrotor_fuzz::harness::store_records`.
#![no_main]

use libfuzzer_sys::fuzz_target;

keyrotor_fuzz::asan_default_options!();

fuzz_target!(|data: &[u8]| {
    keyrotor_fuzz::harness::store_records::run(data);
});
