//! cargo-fuzz target `templates`; the logic is in `keyrotor_fuzz::harness::templates`.
#![no_main]

use libfuzzer_sys::fuzz_target;

keyrotor_fuzz::asan_default_options!();

fuzz_target!(|data: &[u8]| {
    keyrotor_fuzz::harness::templates::run(data);
});
