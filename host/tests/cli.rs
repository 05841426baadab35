//! The `easel` binary as an operator meets it: bad `plugins.toml` files stop
//! it with file, line and fix; `generate` prints where the images are and
//! names the argument at fault.

use std::path::Path;
use std::process::{Command, Output};

fn easel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["--store", dir.join("store").to_str().unwrap(), "--cache", dir.join("cache").to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn with_config(text: &str, args: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(&config, text).unwrap();
    let mut full = vec!["--config", config.to_str().unwrap()];
    full.extend_from_slice(args);
    let output = easel(dir.path(), &full);
    (dir, output)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn syntax_error_names_file_line_and_fix() {
    let (_dir, out) = with_config("[plugins.placeholder]\nbuiltin = placeholder\n", &["plugins", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("plugins.toml:2:"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn unknown_field_names_the_field_and_line() {
    let (_dir, out) =
        with_config("[plugins.placeholder]\nbuiltin = \"placeholder\"\ntimeout = 5\n", &["plugins", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("plugins.toml:3:1: unknown field `timeout`"), "{err}");
    assert!(err.contains("timeout_secs"), "the message lists the expected fields: {err}");
}

#[test]
fn missing_wasm_file_names_the_path_and_line() {
    let (_dir, out) = with_config("[plugins.mine]\npath = \"build/mine.wasm\"\n", &["plugins", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("plugins.toml:2:8") && err.contains("mine.wasm does not exist"), "{err}");
    assert!(err.contains("fix: build the plugin"), "{err}");
}

#[test]
fn generate_prints_id_and_path_of_a_real_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = easel(
        dir.path(),
        &["generate", "a quiet harbour", "--width", "320", "--height", "200", "--count", "2", "--seed", "5"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        let (id, path) = line.split_once('\t').unwrap();
        assert_eq!(id.len(), 16);
        let image = image::open(path).unwrap();
        assert_eq!((image.width(), image.height()), (320, 200));
    }
}

#[test]
fn generate_names_the_bad_argument() {
    let dir = tempfile::tempdir().unwrap();
    let out = easel(dir.path(), &["generate", "x", "--count", "9"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid --count"), "{}", stderr(&out));
}

#[test]
fn plugins_list_shows_an_unconfigured_plugin_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = format!("{}/easel_fixture_hostile.wasm", env!("EASEL_WASM_DIR"));
    let config = format!(
        "[plugins.placeholder]\nbuiltin = \"placeholder\"\n[plugins.keyed]\npath = \"{hostile}\"\n[plugins.keyed.secrets.EASEL_TEST_UNSET_KEY]\nenv = \"EASEL_TEST_UNSET_KEY\"\nhosts = [\"https://api.example.com\"]\n"
    );
    std::fs::write(dir.path().join("p.toml"), config).unwrap();
    let out = easel(dir.path(), &["--config", dir.path().join("p.toml").to_str().unwrap(), "plugins", "list"]);
    assert!(out.status.success(), "an unconfigured plugin does not stop easel: {}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("keyed  unconfigured"), "{stdout}");
    assert!(stdout.contains("EASEL_TEST_UNSET_KEY is not set"), "{stdout}");
    assert!(stdout.contains("placeholder  ready") || stdout.contains("placeholder (default)  ready"), "{stdout}");
}

/// `--params-json` then `--param KEY=VALUE` (JSON values, else strings)
/// reach the plugin as one object, and the sidecar records them.
#[test]
fn generate_passes_params_to_the_plugin_and_records_them() {
    let config = format!("[plugins.hostile]\npath = \"{}/easel_fixture_hostile.wasm\"\n", env!("EASEL_WASM_DIR"));
    let args = [
        "generate",
        "echo",
        "--provider",
        "hostile",
        "--params-json",
        r#"{"quality": "low", "keep": 1}"#,
        "--param",
        "quality=high",
        "--param",
        r#"modalities=["IMAGE"]"#,
        "--param",
        "label=a b",
    ];
    let (dir, out) = with_config(&config, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.split('\t').next().unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("store/images").join(format!("{id}.json"))).unwrap())
            .unwrap();
    let expected = serde_json::json!({"quality": "high", "keep": 1, "modalities": ["IMAGE"], "label": "a b"});
    let received: serde_json::Value = serde_json::from_str(sidecar["revised_prompt"].as_str().unwrap()).unwrap();
    assert_eq!(received, expected, "the plugin's extra");
    assert_eq!(sidecar["parameters"]["params"], expected, "the recipe");
    assert_eq!(sidecar["parameters"]["version"], 2);
}

#[test]
fn a_malformed_param_says_how_to_write_it() {
    let (_dir, out) =
        with_config("[plugins.placeholder]\nbuiltin = \"placeholder\"\n", &["generate", "x", "--param", "background"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--param \"background\" must be KEY=VALUE"), "{}", stderr(&out));
    let (_dir, out) =
        with_config("[plugins.placeholder]\nbuiltin = \"placeholder\"\n", &["generate", "x", "--params-json", "[1]"]);
    assert!(stderr(&out).contains("--params-json must be a JSON object"), "{}", stderr(&out));
}
