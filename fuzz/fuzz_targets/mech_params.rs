//! cargo-fuzz target `mech_params`; the logic is in `keyrotor_fuzz::harness::mech_params`.
#![no_main]

use libfuzzer_sys::fuzz_target;

keyrotor_fuzz::asan_default_options!();

fuzz_target!(|data: &[u8]| {
    keyrotor_fuzz::harness::mech_params::run(data);
});
