//! Builds every WASI component in the workspace (the `cdylib` crates in
//! `plugins/*` and `tests/fixtures/*`) for `wasm32-wasip2` with a nested
//! cargo in its own target directory, embeds the shipped plugins (the
//! `cdylib`s in `plugins/*`) as built-ins and tells the tests where the
//! fixtures are (`EASEL_WASM_DIR`). Library crates there (such as
//! `plugins/kit`) are neither built on their own nor embedded: cargo builds
//! them as dependencies of the components that use them.
//!
//! Plugins written in Python (`plugins/NAME/app.py`) and JavaScript
//! (`plugins/NAME/provider.js`) are built with their own toolchains —
//! componentize-py and componentize-js, found through `EASEL_COMPONENTIZE_PY`
//! / `EASEL_COMPONENTIZE_JS` or on `PATH` — and embedded the same way. A
//! toolchain that is missing does not fail the build: those plugins are
//! listed in `GUEST_PLUGINS_NOT_BUILT` with the reason, and a deployment that
//! enables them reports them unavailable, saying how to build them.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Relative to the package root, so that two checkouts sharing one
    // CARGO_TARGET_DIR each watch their own files.
    for watched in ["../plugins", "../tests/fixtures", "../wit", "../Cargo.lock", "build.rs", "templates"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    for tool in GUEST_TOOLS {
        println!("cargo:rerun-if-env-changed={}", tool.env);
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
        let digest = hex(&Sha256::digest(&bytes));
        builtins
            .push_str(&format!("    ({dir_name:?}, include_bytes!({:?}), {digest:?}),\n", file.display().to_string()));
    }
    let mut not_built = String::from(
        "/// Guest-language plugins in the tree that this binary was built without:\n/// (name, why and how to build it).\npub const GUEST_PLUGINS_NOT_BUILT: &[(&str, &str)] = &[\n",
    );
    for guest in guest_plugins(&root.join("plugins")) {
        match build_guest(&guest, &root.join("wit/v0.2.0"), &out_dir.join("guest")) {
            Ok((file, digest)) => builtins.push_str(&format!(
                "    ({:?}, include_bytes!({:?}), {digest:?}),\n",
                guest.name,
                file.display().to_string()
            )),
            Err(why) => {
                println!("cargo:warning=plugin `{}` is not built into this easel: {why}", guest.name);
                not_built.push_str(&format!("    ({:?}, {why:?}),\n", guest.name));
            }
        }
    }
    builtins.push_str("];\n");
    not_built.push_str("];\n");
    builtins.push_str(&not_built);
    std::fs::write(out_dir.join("builtin_plugins.rs"), builtins).unwrap();
    std::fs::write(out_dir.join("plugin_templates.rs"), templates(&manifest_dir.join("templates/plugin"))).unwrap();
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

/// A toolchain that turns a guest-language plugin into a component.
struct GuestTool {
    /// Source file that marks a plugin directory as this language's.
    entry: &'static str,
    /// Environment variable with the tool's path; else `program` on PATH.
    env: &'static str,
    program: &'static str,
    /// How to get the tool, for the not-built reason.
    install: &'static str,
}

const GUEST_TOOLS: [GuestTool; 2] = [
    GuestTool {
        entry: "app.py",
        env: "EASEL_COMPONENTIZE_PY",
        program: "componentize-py",
        install: "pip install componentize-py==0.25.1",
    },
    GuestTool {
        entry: "provider.js",
        env: "EASEL_COMPONENTIZE_JS",
        program: "componentize-js",
        install: "npm install @bytecodealliance/componentize-js@0.23.0",
    },
];

/// One Python or JavaScript plugin directory under `plugins/`.
struct GuestPlugin {
    name: String,
    dir: PathBuf,
    tool: &'static GuestTool,
}

/// Directories under `dir` without a Cargo.toml that hold a guest tool's entry file.
fn guest_plugins(dir: &Path) -> Vec<GuestPlugin> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<GuestPlugin> = entries
        .filter_map(|entry| {
            let dir = entry.ok()?.path();
            if dir.join("Cargo.toml").exists() {
                return None;
            }
            let tool = GUEST_TOOLS.iter().find(|tool| dir.join(tool.entry).is_file())?;
            Some(GuestPlugin { name: dir.file_name()?.to_string_lossy().into_owned(), dir, tool })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Build `guest` against the WIT in `wit` into `out/NAME.wasm`, unless a
/// build of the same sources with the same tool is already there. Returns
/// the file and its sha256, or why it could not be built.
fn build_guest(guest: &GuestPlugin, wit: &Path, out: &Path) -> Result<(PathBuf, String), String> {
    let tool = guest.tool;
    let program = match std::env::var_os(tool.env) {
        Some(path) => PathBuf::from(path),
        None => find_on_path(tool.program).ok_or_else(|| {
            format!(
                "{} was not found at build time (set {} or put it on PATH; {})",
                tool.program, tool.env, tool.install
            )
        })?,
    };
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let file = out.join(format!("{}.wasm", guest.name));
    let stamp = out.join(format!("{}.inputs", guest.name));
    let inputs = inputs_digest(&[&guest.dir, wit], &program);
    let built_before = std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs) && file.is_file();
    if !built_before {
        let mut command = Command::new(&program);
        // No __pycache__ in the source tree: it would make cargo rerun this script.
        command.current_dir(&guest.dir).env("PYTHONDONTWRITEBYTECODE", "1");
        if tool.entry == "app.py" {
            command.arg("-d").arg(wit).args(["-w", "image-provider", "componentize", "--stub-wasi", "app", "-o"]);
            command.arg(&file);
        } else {
            // componentize-js resolves the source relative to the working
            // directory; `-d stdio http fetch-event` drops wasi:http and the
            // rest the sandbox refuses, and keeps clocks and random (linked,
            // so `Date.now()` and `Math.random()` are real).
            command.arg("--wit").arg(wit).args(["--world-name", "image-provider", "-d"]);
            command.args(["stdio", "http", "fetch-event", "-o"]).arg(&file).arg(tool.entry);
        }
        let output = command.output().map_err(|e| format!("running {}: {e}", program.display()))?;
        if !output.status.success() {
            panic!(
                "building plugin `{}` with {} failed:\n{}{}",
                guest.name,
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::fs::write(&stamp, &inputs).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    }
    let bytes = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let digest = hex(&Sha256::digest(&bytes));
    Ok((file, digest))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// sha256 over every file (path and bytes, in sorted order) under `dirs`,
/// and the tool's path and size: equal digests mean the same build.
fn inputs_digest(dirs: &[&Path], program: &Path) -> String {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for dir in dirs {
        collect_files(dir, &mut files);
    }
    files.sort();
    for file in files {
        // Byte-code caches and installed packages are not sources.
        if file.components().any(|c| c.as_os_str() == "__pycache__" || c.as_os_str() == "node_modules") {
            continue;
        }
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    hasher.update(program.to_string_lossy().as_bytes());
    hasher.update(std::fs::metadata(program).map(|m| m.len()).unwrap_or(0).to_le_bytes());
    hex(&hasher.finalize())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// `PLUGIN_TEMPLATES`: (language, path inside the project, contents) of
/// every file under `templates/plugin/<language>/`, for `easel plugins new`.
fn templates(dir: &Path) -> String {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort();
    let mut out = String::from(
        "/// (language, relative path, contents) of each `easel plugins new` template file.\npub const PLUGIN_TEMPLATES: &[(&str, &str, &str)] = &[\n",
    );
    for file in files {
        let Ok(relative) = file.strip_prefix(dir) else { continue };
        let mut parts = relative.components();
        let Some(lang) = parts.next() else { continue };
        let rest = parts.as_path();
        if rest.components().any(|c| matches!(c.as_os_str().to_str(), Some("node_modules" | "target" | "__pycache__")))
        {
            continue;
        }
        // Named from CARGO_MANIFEST_DIR at compile time, not as an absolute
        // path: two checkouts share one CARGO_TARGET_DIR, and this script
        // is not rerun when only the checkout moves.
        let inside_package = file.strip_prefix(dir.parent().and_then(Path::parent).unwrap_or(dir)).unwrap_or(&file);
        out.push_str(&format!(
            "    ({:?}, {:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),\n",
            lang.as_os_str().to_string_lossy(),
            rest.to_string_lossy(),
            format!("/{}", inside_package.display())
        ));
    }
    out.push_str("];\n");
    out
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
