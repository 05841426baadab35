//! A `plugins.toml` from arbitrary bytes: `easel::fuzz_targets::plugins_toml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| easel::fuzz_targets::plugins_toml(data));
