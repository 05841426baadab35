//! SECURITY.md cannot drift from the tests: every `path::test_name` it cites
//! must be a test in that file, and every test in the security test files
//! must be cited.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files whose every test is a security claim and must appear in SECURITY.md.
const SECURITY_TEST_FILES: [&str; 12] = [
    "host/tests/sandbox.rs",
    "host/tests/sandbox_streams.rs",
    "host/tests/sandbox_egress.rs",
    "host/tests/sandbox_secrets.rs",
    "host/tests/sandbox_floods.rs",
    "host/tests/sandbox_cancel.rs",
    "host/tests/fuzz_smoke.rs",
    "tests/python/test_crash_recovery.py",
    "tests/python/test_faulty_upstream.py",
    "tests/python/test_http_sessions.py",
    "tests/python/test_transport_limits.py",
    "tests/python/test_store_integrity.py",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `(path, name)` for every `` `path::name` `` span in the document.
fn cited(document: &str) -> BTreeSet<(String, String)> {
    document
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.split_once("::"))
        .filter(|(path, _)| path.ends_with(".rs") || path.ends_with(".py"))
        .map(|(path, name)| (path.to_string(), name.to_string()))
        .collect()
}

/// Names of the tests defined in a Rust or Python source file: a Rust `fn`
/// under a `#[test]`/`#[tokio::test]` attribute, or a top-level Python
/// `def test_…` / `async def test_…`.
fn tests_in(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut names = BTreeSet::new();
    for (index, line) in lines.iter().enumerate() {
        let name = if path.extension().is_some_and(|e| e == "py") {
            line.strip_prefix("async def ")
                .or_else(|| line.strip_prefix("def "))
                .filter(|rest| rest.starts_with("test_"))
        } else {
            let attributed = lines[index.saturating_sub(3)..index]
                .iter()
                .any(|l| l.trim().starts_with("#[test]") || l.trim().starts_with("#[tokio::test"));
            line.trim().strip_prefix("fn ").or_else(|| line.trim().strip_prefix("async fn ")).filter(|_| attributed)
        };
        if let Some(rest) = name {
            names.insert(rest.split('(').next().unwrap().to_string());
        }
    }
    names
}

#[test]
fn every_test_security_md_cites_exists() {
    let document = std::fs::read_to_string(repo().join("SECURITY.md")).unwrap();
    let cited = cited(&document);
    assert!(cited.len() > 40, "SECURITY.md cites only {} tests", cited.len());
    let missing: Vec<String> = cited
        .iter()
        .filter(|(path, name)| !tests_in(&repo().join(path)).contains(name))
        .map(|(path, name)| format!("{path}::{name}"))
        .collect();
    assert!(missing.is_empty(), "SECURITY.md cites tests that do not exist: {missing:#?}");
}

#[test]
fn every_security_test_is_cited_in_security_md() {
    let document = std::fs::read_to_string(repo().join("SECURITY.md")).unwrap();
    let cited = cited(&document);
    let mut uncited = Vec::new();
    for file in SECURITY_TEST_FILES {
        let names = tests_in(&repo().join(file));
        assert!(!names.is_empty(), "{file} has no tests");
        uncited.extend(
            names
                .into_iter()
                .filter(|name| !cited.contains(&(file.to_string(), name.clone())))
                .map(|name| format!("{file}::{name}")),
        );
    }
    assert!(uncited.is_empty(), "security tests missing from SECURITY.md (add a row for each): {uncited:#?}");
}
