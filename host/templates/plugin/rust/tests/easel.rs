//! End to end: the built component, loaded by the real `easel` binary, talks
//! to the fake API in tests/fake/mod.rs. It builds nothing itself: run
//! `cargo build --release --target wasm32-wasip2` first (or point
//! PLUGIN_WASM at a .wasm). `easel` comes from EASEL_BIN, else from PATH;
//! without either the tests are skipped with a note.

mod fake;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The secret the plugin declares; the tests set it in easel's environment.
const SECRET: &str = "__ENV__";

#[test]
fn generates_an_image_through_easel() {
    let Some(easel) = easel_bin() else { return };
    let output = generate(&easel, fake::KEY, "right-key");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "easel generate failed:\n{stderr}");
    // One line per image: `ID<TAB>PATH`.
    let line = stdout.lines().next().unwrap_or_else(|| panic!("no output; stderr:\n{stderr}"));
    let (id, path) = line.split_once('\t').unwrap_or_else(|| panic!("not `ID<TAB>PATH`: {line}"));
    assert!(!id.is_empty() && path.ends_with(".png"), "{line}");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{path} is not a PNG");
}

#[test]
fn a_wrong_key_is_reported_as_unauthorized() {
    let Some(easel) = easel_bin() else { return };
    let output = generate(&easel, "wrong-key", "wrong-key");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "easel generate succeeded with a wrong key");
    assert!(stderr.contains("unauthorized") && stderr.contains(SECRET), "unexpected error:\n{stderr}");
}

/// Start a fake, write a plugins.toml for it into a fresh directory (`name`),
/// and run `easel generate "a red fox"` with `key` as the secret.
fn generate(easel: &Path, key: &str, name: &str) -> Output {
    let fake = fake::start();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("easel-e2e");
    let dir = scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("plugins.toml");
    std::fs::write(&config, plugins_toml(&wasm_path(), &fake.base_url)).unwrap();
    Command::new(easel)
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--cache") // compiled components, kept between runs
        .arg(scratch.join("cache"))
        .args(["generate", "a red fox"])
        .env(SECRET, key)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", easel.display()))
}

/// The deployment entry README.md documents, aimed at the fake.
fn plugins_toml(wasm: &Path, base_url: &str) -> String {
    let wasm = wasm.display().to_string().replace('\\', "/");
    format!(
        r#"[defaults]
provider = "__NAME__"

[plugins.__NAME__]
path = "{wasm}"
allowed_hosts = ["{base_url}"]

[plugins.__NAME__.secrets.__ENV__]
env = "__ENV__"
hosts = ["{base_url}"]

[plugins.__NAME__.config]
base_url = "{base_url}"
"#
    )
}

/// PLUGIN_WASM, else the release build in this project's target directory.
fn wasm_path() -> PathBuf {
    let wasm = std::env::var_os("PLUGIN_WASM").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        target.join("wasm32-wasip2/release/__NAME_SNAKE__.wasm")
    });
    assert!(
        wasm.is_file(),
        "{} does not exist: build the component first with `cargo build --release --target wasm32-wasip2`",
        wasm.display()
    );
    std::fs::canonicalize(wasm).unwrap()
}

/// EASEL_BIN, else `easel` on PATH; `None` (after saying so) when neither exists.
fn easel_bin() -> Option<PathBuf> {
    let found = match std::env::var_os("EASEL_BIN") {
        Some(bin) => Some(PathBuf::from(bin)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(format!("easel{}", std::env::consts::EXE_SUFFIX)))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        // Straight to stderr: libtest hides `eprintln!` of passing tests.
        let _ = writeln!(std::io::stderr(), "SKIPPED: no easel binary (set EASEL_BIN or put `easel` on PATH)");
    }
    found
}
