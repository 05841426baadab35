//! An input image (data: URI, probe, preview, view) from arbitrary bytes: `easel::fuzz_targets::image_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| easel::fuzz_targets::image_input(data));
