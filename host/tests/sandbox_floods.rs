//! One plugin cannot exhaust or stall the host through the channels it is
//! given: progress floods are coalesced and cut, log floods are
//! rate-limited and escaped, extra outputs and huge job tokens are refused,
//! and a `describe` that is huge, slow or built to make pattern matching
//! backtrack costs only its own provider. Uses the `hostile` fixture.

mod common;

use common::harness;
use easel::jobs::{GenerateSpec, JobProgress};
use easel::providers::Status;
use easel::request::Settings;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Everything `tracing` writes in this test process.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || Sink(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_flood_is_coalesced_and_cut_and_memory_stays_flat() {
    let h = common::harness_with_limits("timeout_secs = 20\nmemory_mib = 64", "").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobProgress>();
    // 20,000 reports of 64 KiB each: 1.25 GiB if queued.
    let spec = GenerateSpec {
        prompt: "progress:20000:65536".into(),
        settings: Settings { provider: Some("hostile".into()), ..Settings::default() },
        ..GenerateSpec::default()
    };
    let started = Instant::now();
    let err = h
        .jobs
        .generate(spec, easel::jobs::Requester::cli(), Some(tx), Duration::from_secs(60))
        .await
        .err()
        .expect("the hostile call fails on purpose");
    assert!(err.message.contains("reported 20000 progress messages"), "{}", err.message);
    let mut forwarded = Vec::new();
    while let Ok(report) = rx.try_recv() {
        forwarded.push(report);
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(!forwarded.is_empty(), "some progress still gets through");
    assert!(
        forwarded.len() as f64 <= 10.0 * seconds + 5.0,
        "{} reports in {seconds:.1} s: at most ten a second are forwarded",
        forwarded.len()
    );
    let longest = forwarded.iter().map(|r| r.message.chars().count()).max().unwrap();
    assert!(longest < 400, "messages are cut (longest {longest} characters)");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_flood_is_rate_limited_with_a_suppressed_count_and_cannot_forge_lines() {
    let logs = captured_logs();
    let h = common::harness_with_limits("timeout_secs = 20\nmemory_mib = 64", "").await;
    let err = h.hostile("log:100000:1000").await;
    assert!(err.message.contains("logged 100000 messages"), "{}", err.message);
    let err = h.hostile("denied:5000").await;
    assert!(err.message.contains("made 5000 refused calls"), "{}", err.message);
    let err = h.hostile("forge").await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() < 200, "105,000 plugin log lines became {} lines", lines.len());
    assert!(text.contains("log messages suppressed (plugins may write 20 per second)"), "{text}");
    assert!(lines.iter().all(|l| l.len() < 3000), "long lines are cut");
    assert!(
        !lines.iter().any(|l| l.starts_with("2026-12-01T00:00:00.000000Z ERROR easel: FORGED")),
        "a newline in a plugin message cannot start a line"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "terminal escapes are escaped");
    // The error text users and the CLI see is escaped too.
    assert!(err.message.contains("innocent\\n2026-12-01") && !err.message.contains('\u{1b}'), "{:?}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_outputs_than_requested_are_refused_and_nothing_is_stored() {
    let h = harness("").await;
    let err = h.hostile("many:20000").await;
    assert!(err.message.contains("returned 20000 images for a request of 1; nothing was stored"), "{}", err.message);
    assert!(h.jobs.store().list().unwrap().is_empty(), "no image entered the store");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_token_over_64_kib_is_refused() {
    let h = harness("").await;
    let err = h.hostile("token:1024").await;
    assert!(err.message.contains("job token of 1024 KiB; tokens may be at most 64 KiB"), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_with_100000_models_makes_only_its_provider_unavailable_saying_why() {
    let h = common::harness_with_limits(
        "timeout_secs = 20\nmemory_mib = 512",
        "[plugins.hostile.config]\ndescribe = \"many\"",
    )
    .await;
    let provider = h.jobs.registry().get("hostile").cloned().unwrap();
    let Status::Unavailable(reason) = provider.status().await else {
        panic!("a 100,000-model describe must not be ready")
    };
    assert!(reason.contains("it lists 100002 models, over the limit of 2000"), "{reason}");
    let summaries = h.jobs.registry().summaries().await;
    let answer = serde_json::to_vec(&summaries).unwrap();
    assert!(answer.len() < 64 << 10, "list_providers stays small ({} bytes)", answer.len());
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtracking_model_pattern_is_matched_at_once_and_other_providers_keep_answering() {
    let h = harness("[plugins.hostile.config]\ndescribe = \"glob\"").await;
    let started = Instant::now();
    let spec = GenerateSpec {
        prompt: "x".into(),
        settings: Settings { model: Some(format!("{}c", "a".repeat(60))), ..Settings::default() },
        ..GenerateSpec::default()
    };
    let err = h
        .jobs
        .generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(30))
        .await
        .err()
        .expect("no provider has that model");
    assert!(err.message.contains("no ready provider offers model"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(20), "routing past the pattern took {:?}", started.elapsed());
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_failing_describe_never_delays_list_providers_once_it_has_answered() {
    // The describe sleeps 3 s under a 2 s timeout: it fails, slowly, every time.
    let h = harness("[plugins.hostile.config]\ndescribe = \"slow\"").await;
    let registry = h.jobs.registry();
    let first = registry.summaries().await;
    let hostile = first.iter().find(|s| s.id == "hostile").unwrap();
    assert!(
        matches!(&hostile.status, Status::Unavailable(reason) if reason.contains("did not finish within 2 s")),
        "{:?}",
        hostile.status
    );
    // Past the retry interval the failure is stale; lists answer from it at
    // once while the retry runs in the background (they used to wait for it).
    tokio::time::sleep(Duration::from_secs(16)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let again = registry.summaries().await;
        assert_eq!(again.len(), first.len());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "a list took {:?} behind the slow describe",
            started.elapsed()
        );
    }
    h.placeholder_still_works().await;
}
