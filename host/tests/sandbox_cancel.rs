//! Money is not lost in the gaps of a job's life: a cancel that arrives
//! while the provider still holds the submit open is sent the moment the
//! job token arrives (and the caller is told so), and a submit that could
//! not reach its upstream at all is retried, naming the attempts. Uses the
//! `hostile` fixture's `hold` and `fetch` modes.

mod common;

use easel::jobs::{GenerateSpec, JobStatus, Outcome};
use easel::request::Settings;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A loopback upstream: `/slow` answers after `delay`, `/cancel` records
/// that a cancel arrived. Returns `http://ADDR` and the paths seen.
async fn provider(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let recorder = recorder.clone();
        async move {
            if uri.path() == "/slow" {
                tokio::time::sleep(delay).await;
            }
            recorder.lock().unwrap().push(uri.path().to_string());
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_submit_is_sent_the_moment_the_job_token_arrives() {
    // The submit is held open for 8 s, longer than cancel waits (5 s).
    let (base, seen) = provider(Duration::from_secs(8)).await;
    let h =
        common::harness_with_limits("timeout_secs = 30\nmemory_mib = 32", &format!(r#"allowed_hosts = ["{base}"]"#))
            .await;
    let spec = GenerateSpec {
        prompt: format!("hold:{base}"),
        settings: Settings { provider: Some("hostile".into()), ..Settings::default() },
        ..GenerateSpec::default()
    };
    let Ok(Outcome::Pending { job }) = h.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::ZERO).await
    else {
        panic!("a zero wait returns a pending job")
    };
    let answered = h.jobs.cancel(&job.id).await.unwrap();
    let message = answered.message.clone().unwrap_or_default();
    assert!(
        message.contains("the cancel will be sent the moment it answers"),
        "the caller is told what happens: {message}"
    );
    assert!(!answered.status.is_terminal(), "not canceled yet: the provider holds the submit");
    // Once the provider answers with its token, the cancel goes out at once.
    let mut waited = 0;
    let record = loop {
        let record = h.jobs.status(&job.id).unwrap();
        if record.status.is_terminal() || waited > 300 {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    };
    assert_eq!(record.status, JobStatus::Canceled, "{record:?}");
    assert!(
        record.message.as_deref().unwrap_or("").contains("was told to stop the job as soon as it accepted the job"),
        "{record:?}"
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["/slow", "/cancel"],
        "the provider got the cancel for the job it created"
    );
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_short_submit_waits_for_it_and_answers_canceled() {
    let (base, seen) = provider(Duration::from_millis(1500)).await;
    let h =
        common::harness_with_limits("timeout_secs = 30\nmemory_mib = 32", &format!(r#"allowed_hosts = ["{base}"]"#))
            .await;
    let spec = GenerateSpec {
        prompt: format!("hold:{base}"),
        settings: Settings { provider: Some("hostile".into()), ..Settings::default() },
        ..GenerateSpec::default()
    };
    let Ok(Outcome::Pending { job }) = h.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::ZERO).await
    else {
        panic!("pending")
    };
    let answered = h.jobs.cancel(&job.id).await.unwrap();
    assert_eq!(answered.status, JobStatus::Canceled, "{answered:?}");
    assert_eq!(seen.lock().unwrap().as_slice(), ["/slow", "/cancel"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_that_could_not_connect_is_retried_and_the_error_names_the_attempts() {
    // A port nothing listens on: the request provably never ran.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let h = common::harness(&format!(r#"allowed_hosts = ["http://{closed}"]"#)).await;
    let err = h.hostile(&format!("fetch:http://{closed}/create")).await;
    assert!(err.message.contains("(after 4 attempts)"), "{}", err.message);
    // One that connected and was refused by the server is not retried.
    let (base, seen) = provider(Duration::ZERO).await;
    let h = common::harness(&format!(r#"allowed_hosts = ["{base}"]"#)).await;
    let err = h.hostile(&format!("fetch:{base}/create")).await;
    assert!(!err.message.contains("attempts"), "{}", err.message);
    assert_eq!(seen.lock().unwrap().len(), 1, "a create that reached the server is sent once");
}
