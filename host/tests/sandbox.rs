//! The sandbox holds against a hostile plugin: every misdeed fails its own
//! call with a clear error, secrets never leak, and the placeholder keeps
//! working after each one. Uses the `hostile` fixture (tests/fixtures/hostile).

mod common;

use common::{SECRET, harness, upstream};
use easel::jobs::GenerateSpec;
use easel::request::Settings;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_by_the_deadline() {
    let h = harness("").await;
    let started = std::time::Instant::now();
    let err = h.hostile("loop").await;
    assert!(err.message.contains("did not finish within 2 s"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_hits_the_memory_limit() {
    let h = harness("").await;
    let err = h.hostile("alloc").await;
    assert!(err.message.contains("exceeded its memory limit of 32 MiB"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_overflows_the_guest_stack_only() {
    let h = harness("").await;
    let err = h.hostile("recurse").await;
    assert!(err.message.contains("crashed") && err.message.contains("stack"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_and_panics_fail_only_their_call() {
    let h = harness("").await;
    let err = h.hostile("trap").await;
    assert!(err.message.contains("crashed: wasm trap: wasm `unreachable`"), "{}", err.message);
    let err = h.hostile("panic").await;
    assert!(err.message.contains("panicked on purpose"), "the panic message reaches the user: {}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_returning_garbage_is_refused_and_nothing_is_stored() {
    let h = harness("").await;
    let before = h.jobs.store().list().unwrap().len();
    let err = h.hostile("lie").await;
    assert!(err.message.contains("cannot be stored") && err.message.contains("not an image"), "{}", err.message);
    assert_eq!(h.jobs.store().list().unwrap().len(), before);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_to_an_unlisted_host_is_denied_with_the_entry_to_add() {
    let h = harness(r#"allowed_hosts = ["https://api.example.com"]"#).await;
    let err = h.hostile("fetch:https://not-allowed.example.org/steal").await;
    assert!(err.message.contains("Denied"), "{}", err.message);
    assert!(
        err.message.contains(r#"add \"https://not-allowed.example.org\" to allowed_hosts in [plugins.hostile]"#),
        "{}",
        err.message
    );
    // Same host, other scheme or port: denied too.
    let err = h.hostile("fetch:http://api.example.com/").await;
    assert!(err.message.contains("Denied"), "{}", err.message);
    let err = h.hostile("fetch:https://api.example.com:8443/").await;
    assert!(err.message.contains("Denied"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_never_sent_to_a_host_it_is_not_bound_to() {
    let (base, seen) = upstream("127.0.0.1:0").await;
    // SAFETY: tests in this binary that read env use distinct variable names.
    unsafe { std::env::set_var("EASEL_TEST_SECRET_A", SECRET) };
    let h = harness(&format!(
        r#"allowed_hosts = ["{base}"]
[plugins.hostile.secrets.KEY]
env = "EASEL_TEST_SECRET_A"
hosts = ["https://api.example.com"]"#
    ))
    .await;
    let err = h.hostile(&format!("secret:KEY:{base}/echo")).await;
    assert!(err.message.contains("may not be sent to"), "{}", err.message);
    assert!(!err.message.contains(SECRET));
    assert!(seen.lock().unwrap().is_empty(), "the request must not leave the host");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_back_is_redacted_before_the_plugin_sees_it() {
    let (base, seen) = upstream("127.0.0.1:0").await;
    unsafe { std::env::set_var("EASEL_TEST_SECRET_B", SECRET) };
    let h = harness(&format!(
        r#"allowed_hosts = ["{base}"]
[plugins.hostile.secrets.KEY]
env = "EASEL_TEST_SECRET_B"
hosts = ["{base}"]"#
    ))
    .await;
    let err = h.hostile(&format!("secret:KEY:{base}/echo")).await;
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("/echo Bearer {SECRET}")],
        "the bound host gets the real value"
    );
    assert!(err.message.contains("you sent: Bearer [redacted:KEY]"), "{}", err.message);
    assert!(!err.message.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_plugin_does_not_block_others() {
    // The looping call holds its plugin for 8 s; the placeholder must answer
    // while it is still stuck (no lock across plugins), however busy the machine.
    let h = Arc::new(common::harness_with_limits("timeout_secs = 8\nmemory_mib = 32", "").await);
    let slow = {
        let h = h.clone();
        tokio::spawn(async move { h.hostile("loop").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.placeholder_still_works().await;
    assert!(!slow.is_finished(), "the placeholder answered only after the looping plugin was stopped");
    assert!(slow.await.unwrap().message.contains("did not finish within 8 s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_importing_filesystem_or_sockets_is_refused_at_load() {
    let escapee = format!("{}/easel_fixture_escapee.wasm", env!("EASEL_WASM_DIR"));
    let h = harness(&format!("[plugins.escapee]\npath = \"{escapee}\"")).await;
    let provider = h.jobs.registry().get("escapee").cloned().unwrap();
    let error = provider.plugin().await.err().expect("the escapee must not load");
    assert!(error.contains("plugin `escapee` is refused"), "{error}");
    assert!(error.contains("wasi:filesystem/"), "names the filesystem import: {error}");
    assert!(error.contains("wasi:sockets/"), "names the sockets import: {error}");
    let spec = GenerateSpec {
        prompt: "x".into(),
        settings: Settings { provider: Some("escapee".into()), ..Settings::default() },
        ..GenerateSpec::default()
    };
    let err = h.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(10)).await.err().unwrap();
    assert!(
        err.message.contains("cannot take requests") && err.message.contains("wasi:filesystem/"),
        "{}",
        err.message
    );
    h.placeholder_still_works().await;
}
