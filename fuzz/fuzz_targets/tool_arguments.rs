//! MCP tool arguments (generate_image, edit_image) from arbitrary bytes: `easel::fuzz_targets::tool_arguments`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| easel::fuzz_targets::tool_arguments(data));
