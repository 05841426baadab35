//! `easel plugins check FILE.wasm` as an author meets it: a good plugin
//! passes every step and the contract run; a plugin that reaches outside
//! the sandbox, a core module, and an inconsistent description each fail
//! with a non-zero exit and say what is wrong.

use std::process::{Command, Output};

fn check(file: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["--cache", cache.path().to_str().unwrap(), "plugins", "check", file, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output, report)
}

fn finding<'a>(report: &'a serde_json::Value, step: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["step"] == step)
        .unwrap_or_else(|| panic!("no `{step}` finding in {report:#}"))
}

fn wasm(name: &str) -> String {
    format!("{}/{name}.wasm", env!("EASEL_WASM_DIR"))
}

#[test]
fn a_well_behaved_queue_plugin_passes_the_contract() {
    let (output, report) = check(&wasm("easel_fal"), &[]);
    assert!(output.status.success(), "{report:#}\n{}", String::from_utf8_lossy(&output.stderr));
    for f in report["findings"].as_array().unwrap() {
        assert_eq!(f["verdict"], "pass", "{f:#}");
    }
    assert!(finding(&report, "submit: 401")["detail"].as_str().unwrap().starts_with("unauthorized"));
    assert!(finding(&report, "submit: 429")["detail"].as_str().unwrap().starts_with("rate-limited"));
    assert!(finding(&report, "poll: timeout")["detail"].as_str().unwrap().starts_with("timeout"));
    // The scripted upstream echoed the substituted key; the report shows it redacted.
    let echoed = finding(&report, "submit: echoed key")["detail"].as_str().unwrap();
    assert!(echoed.contains("[redacted:FAL_KEY]") && !echoed.contains("easel-check-canary"), "{echoed}");
    assert_eq!(report["facts"]["provider_id"], "fal");
}

#[test]
fn the_text_report_is_for_people_and_a_warm_check_uses_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(["--cache", cache.path().to_str().unwrap(), "plugins", "check", &wasm("easel_openai")])
            .output()
            .unwrap()
    };
    let first = String::from_utf8(run().stdout).unwrap();
    assert!(first.contains("ok    submit: 401"), "{first}");
    assert!(first.contains("compile 0.") || first.contains("compile 1.") || first.contains(" s ·"), "{first}");
    let second = String::from_utf8(run().stdout).unwrap();
    assert!(second.contains("compile cached"), "{second}");
}

#[test]
fn a_plugin_reaching_for_files_and_sockets_fails_naming_each_import() {
    let (output, report) = check(&wasm("easel_fixture_escapee"), &[]);
    assert!(!output.status.success());
    let imports = finding(&report, "imports");
    assert_eq!(imports["verdict"], "fail");
    let detail = imports["detail"].as_str().unwrap();
    assert!(detail.contains("wasi:filesystem/") && detail.contains("no filesystem"), "{detail}");
    assert!(detail.contains("wasi:sockets/") && detail.contains("egress"), "{detail}");
    assert!(detail.contains("--stub-wasi"), "the fix for Python authors is named: {detail}");
}

#[test]
fn a_core_module_is_told_to_build_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.wasm");
    std::fs::write(&file, wat::parse_str("(module (func (export \"describe\")))").unwrap()).unwrap();
    let (output, report) = check(file.to_str().unwrap(), &[]);
    assert!(!output.status.success());
    let component = finding(&report, "component");
    assert_eq!(component["verdict"], "fail");
    assert!(component["detail"].as_str().unwrap().contains("wasm32-wasip2"), "{component:#}");
}

#[test]
fn an_inconsistent_description_fails_and_settings_reach_the_plugin() {
    let (output, report) = check(&wasm("easel_fixture_hostile"), &["--set", "describe=malformed"]);
    assert!(!output.status.success());
    let describe = finding(&report, "describe");
    assert_eq!(describe["verdict"], "fail", "{describe:#}");
    assert!(describe["detail"].as_str().unwrap().contains("inconsistent"), "{describe:#}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("check(s) failed"), "{stderr}");
}

#[test]
fn an_offline_plugin_passes_with_warnings_that_say_why() {
    let (output, report) = check(&wasm("easel_placeholder"), &[]);
    assert!(output.status.success(), "{report:#}");
    let hosts = finding(&report, "hosts");
    assert_eq!(hosts["verdict"], "warn");
    let submit = finding(&report, "submit: 401");
    assert_eq!(submit["verdict"], "warn");
    assert!(submit["detail"].as_str().unwrap().contains("sent no request"), "{submit:#}");
}
