//! Builds every WASI component in the workspace (the `cdylib` crates in
//! `plugins/*` and `tests/fixtures/*`) for `wasm32-wasip2` with a nested
//! cargo in its own target directory, embeds the shipped plugins (the
//! `cdylib`s in `plugins/*`) as built-ins and tells the tests where the
//! fixtures are (`EASEL_WASM_DIR`). Library crates there (such as
//! `plugins/kit`) are neither built on their own nor embedded: cargo builds
//! them as dependencies of the components that use them.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Relative to the package root, so that two checkouts sharing one
    // CARGO_TARGET_DIR each watch their own files.
    for watched in ["../plugins", "../tests/fixtures", "../wit", "../Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }

    let plugins = crates_in(&root.join("plugins"));
    let fixtures = crates_in(&root.join("tests/fixtures"));
    let target_dir = out_dir.join("wasm-target");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        // Under `cargo clippy` the host's lints must not apply to the nested
        // build: tests/run.sh lints the plugins on their own target.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (_, package) in plugins.iter().chain(&fixtures) {
        cargo.args(["-p", package]);
    }
    let status = cargo.status().expect("running cargo to build the WASI plugins");
    if !status.success() {
        panic!(
            "building the WASI plugins failed (see above). If the error mentions wasm32-wasip2, install the target: `rustup target add wasm32-wasip2`"
        );
    }

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let mut builtins = String::from(
        "/// Plugins compiled into this binary: (name, component bytes, sha256 of\n/// the bytes as hex — computed here, so a start never reads the bytes to\n/// find their compiled copy in the cache).\npub const BUILTIN_PLUGINS: &[(&str, &[u8], &str)] = &[\n",
    );
    for (dir_name, package) in &plugins {
        let file = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        builtins
            .push_str(&format!("    ({dir_name:?}, include_bytes!({:?}), {digest:?}),\n", file.display().to_string()));
    }
    builtins.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), builtins).unwrap();
    println!("cargo:rustc-env=EASEL_WASM_DIR={}", wasm_dir.display());
}

/// (directory name, package name) of each component crate directly under
/// `dir`: those whose manifest says `crate-type = ["cdylib"]`.
fn crates_in(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut crates: Vec<(String, String)> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let manifest = std::fs::read_to_string(path.join("Cargo.toml")).ok()?;
            if !is_cdylib(&manifest) {
                return None;
            }
            let name = manifest
                .lines()
                .find_map(|line| line.trim().strip_prefix("name = ").map(|v| v.trim_matches('"').to_string()))?;
            Some((path.file_name()?.to_string_lossy().into_owned(), name))
        })
        .collect();
    crates.sort();
    crates
}

/// Whether a manifest declares a `cdylib` (a WASI component), not a library.
fn is_cdylib(manifest: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.trim();
        line.starts_with("crate-type") && line.contains("\"cdylib\"")
    })
}
