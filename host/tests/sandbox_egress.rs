//! The sandbox holds at its edges: names that resolve to loopback,
//! redirects toward private addresses, outputs far over the cap, the
//! environment, `describe` lies and wasi:http imports. Each misdeed fails
//! its own call readably and the placeholder keeps working after it.

mod common;

use common::{harness, upstream};
use easel::jobs::GenerateSpec;
use easel::providers::Status;
use easel::request::Settings;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

/// A name other than `localhost` that this machine resolves only to
/// non-public addresses (its own hostname, usually), if there is one.
fn name_resolving_to_a_private_address() -> Option<(String, IpAddr)> {
    let hostname = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string());
    let candidates = hostname.into_iter().chain(["ip6-localhost".to_string(), "localhost.localdomain".to_string()]);
    for name in candidates.filter(|n| !n.is_empty() && n != "localhost") {
        let Ok(addrs) = (name.as_str(), 80).to_socket_addrs() else { continue };
        let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
        if !ips.is_empty() && ips.iter().all(|ip| easel::egress::allowed_hosts::is_non_public(*ip)) {
            return Some((name, ips[0]));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_is_refused_even_when_allowed() {
    let Some((name, ip)) = name_resolving_to_a_private_address() else {
        eprintln!(
            "SKIPPED: no name on this machine resolves only to a private address (the resolver's unit tests still cover the rule)"
        );
        return;
    };
    // Listen on every interface so that, were the name dialled, it would connect.
    let (base, seen) = upstream("0.0.0.0:0").await;
    let port = base.rsplit(':').next().unwrap();
    let h = harness(&format!(r#"allowed_hosts = ["http://{name}:{port}", "http://127.0.0.1:{port}"]"#)).await;
    let err = h.hostile(&format!("fetch:http://{name}:{port}/echo")).await;
    assert!(
        err.message.contains(&format!("{name} resolves to {ip}, a private or loopback address")),
        "{}",
        err.message
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the server through the name");
    // The same server by its listed address literal is reachable: the refusal was the name's.
    let err = h.hostile(&format!("fetch:http://127.0.0.1:{port}/echo")).await;
    assert!(err.message.contains("fetched: status 200"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_handed_to_the_plugin_not_followed() {
    let (allowed, allowed_seen) = upstream("127.0.0.1:0").await;
    let (private, private_seen) = upstream("127.0.0.1:0").await;
    let h = harness(&format!(r#"allowed_hosts = ["{allowed}"]"#)).await;
    let err = h.hostile(&format!("fetch:{allowed}/redirect?to={private}/echo")).await;
    assert!(err.message.contains("fetched: status 302"), "the plugin sees the 302 itself: {}", err.message);
    assert_eq!(allowed_seen.lock().unwrap().len(), 1);
    assert!(private_seen.lock().unwrap().is_empty(), "the host did not follow the redirect");
    // Following it by hand is an ordinary request, checked like any other.
    let err = h.hostile(&format!("fetch:{private}/echo")).await;
    assert!(err.message.contains("Denied") && err.message.contains("may not reach"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_url_redirecting_to_a_private_address_is_not_downloaded() {
    let (allowed, _) = upstream("127.0.0.1:0").await;
    let (private, private_seen) = upstream("127.0.0.1:0").await;
    let h = harness(&format!(r#"allowed_hosts = ["{allowed}"]"#)).await;
    for target in [format!("{private}/echo"), "http://169.254.169.254/latest/meta-data/".to_string()] {
        let err = h.hostile(&format!("url:{allowed}/redirect?to={target}")).await;
        assert!(err.message.contains("downloading image 1 from provider `hostile` failed"), "{}", err.message);
        assert!(
            err.message.contains("egress denied") && err.message.contains("may not reach"),
            "{target}: {}",
            err.message
        );
    }
    assert!(private_seen.lock().unwrap().is_empty(), "the redirect target was never contacted");
    assert!(h.jobs.store().list().unwrap().iter().all(|s| s.provider.as_deref() != Some("hostile")), "nothing stored");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gib_output_is_stopped_by_the_memory_limit() {
    let h = harness("").await; // memory_mib = 32
    let err = h.hostile("huge:1024").await;
    assert!(err.message.contains("exceeded its memory limit of 32 MiB"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gib_output_within_the_memory_limit_is_stopped_at_the_transfer_cap() {
    let h = common::harness_with_limits("timeout_secs = 30\nmemory_mib = 1200\nmax_response_mib = 16", "").await;
    let before = h.jobs.store().list().unwrap().len();
    let err = h.hostile("huge:1024").await;
    assert!(
        err.message.contains("tried to hand the host more than 128 MiB at once and was stopped"),
        "{}",
        err.message
    );
    assert_eq!(h.jobs.store().list().unwrap().len(), before, "nothing stored");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_output_over_max_response_mib_is_refused_by_the_output_cap() {
    let h = common::harness_with_limits("timeout_secs = 30\nmemory_mib = 256\nmax_response_mib = 16", "").await;
    let before = h.jobs.store().list().unwrap().len();
    let err = h.hostile("huge:40").await;
    assert!(err.message.contains("returned image 1 of 40 MiB, over its 16 MiB output cap"), "{}", err.message);
    assert_eq!(h.jobs.store().list().unwrap().len(), before, "nothing stored");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_sees_no_environment_variables_or_arguments() {
    // SAFETY: the variable name is used by this test only.
    unsafe { std::env::set_var("EASEL_TEST_SECRET_ENV", "sk-from-the-host-environment") };
    let h = harness("").await;
    let err = h.hostile("env").await;
    assert!(err.message.contains("environment: 0 variables []; arguments: []"), "{}", err.message);
    assert!(!err.message.contains("sk-from-the-host-environment"));
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_that_lies_makes_only_its_provider_unavailable_with_the_reasons() {
    let h = harness("[plugins.hostile.config]\ndescribe = \"malformed\"").await;
    let provider = h.jobs.registry().get("hostile").cloned().unwrap();
    let Status::Unavailable(reason) = provider.status().await else { panic!("a lying describe must not be ready") };
    assert!(reason.contains("plugin `hostile` describes itself inconsistently"), "{reason}");
    assert!(reason.contains("default model `not-listed` is not among its models"), "{reason}");
    assert!(reason.contains("model `hostile-1` is listed twice"), "{reason}");
    assert!(reason.contains("min_side 5000 above max_side 4096"), "{reason}");
    let err = h.hostile("fetch:http://example.com/").await;
    assert!(err.message.contains("describes itself inconsistently"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_describe_claims_but_submit_rejects_fails_readably() {
    let h = harness("").await;
    let spec = GenerateSpec {
        prompt: "anything".into(),
        settings: Settings {
            provider: Some("hostile".into()),
            model: Some("hostile-ghost".into()),
            ..Settings::default()
        },
        ..GenerateSpec::default()
    };
    let err = match h.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(10)).await {
        Ok(_) => panic!("the ghost model unexpectedly worked"),
        Err(e) => e,
    };
    assert!(err.message.contains("hostile-ghost does not exist, whatever describe said"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_importing_wasi_http_is_refused_at_load_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webby.wasm");
    let component = wat::parse_str(
        r#"(component
             (import "wasi:http/outgoing-handler@0.2.6" (instance))
             (import "wasi:cli/environment@0.2.6" (instance)))"#,
    )
    .unwrap();
    std::fs::write(&path, component).unwrap();
    let h = harness(&format!("[plugins.webby]\npath = \"{}\"", path.display())).await;
    let error = h.jobs.registry().get("webby").cloned().unwrap().plugin().await.err().expect("must not load");
    assert!(error.contains("plugin `webby` is refused"), "{error}");
    assert!(error.contains("`wasi:http/outgoing-handler@0.2.6`"), "names the import: {error}");
    assert!(
        !error.contains("wasi:cli/environment"),
        "wasi:cli is linked (as an empty environment), not refused: {error}"
    );
    h.placeholder_still_works().await;
}
