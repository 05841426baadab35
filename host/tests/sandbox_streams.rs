//! The `streams` import (WIT 0.2.0) through a real component, the
//! `streamer` fixture: event streams and websockets obey the plugin's
//! allow-list and secret binding, come back redacted, are limited to four
//! per call, cannot wait past the call's time, and close when the call
//! returns, whatever the plugin leaves open.

mod common;

use common::{SECRET, harness_with_limits, streamer_wasm};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts event-stream bodies dropped by the server (the connection closed).
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A loopback SSE upstream: `/events` sends three events (the second
/// reflects the Authorization header) and ends; `/quiet` sends headers and
/// then nothing. Returns `http://ADDR` and how many `/quiet` bodies closed.
async fn sse_upstream() -> (String, Arc<AtomicUsize>) {
    use axum::response::IntoResponse;
    let closed = Arc::new(AtomicUsize::new(0));
    let counter = closed.clone();
    let app = axum::Router::new()
        .route(
            "/events",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let body = format!("event: queued\ndata: 2\n\ndata: you sent {auth}\n\nevent: done\ndata: {{}}\n\n");
                ([("content-type", "text/event-stream")], body).into_response()
            }),
        )
        .route(
            "/quiet",
            axum::routing::get(move || {
                let guard = DropCounter(counter.clone());
                async move {
                    let never = futures::stream::unfold(guard, |guard| async move {
                        futures::future::pending::<()>().await;
                        Some((Ok::<_, std::io::Error>(Vec::<u8>::new()), guard))
                    });
                    ([("content-type", "text/event-stream")], axum::body::Body::from_stream(never)).into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), closed)
}

/// A websocket server on a thread that answers each text message with
/// `echo: TEXT`.
fn websocket_upstream() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut socket) = tungstenite::accept(stream) else { return };
                while let Ok(message) = socket.read() {
                    if let tungstenite::Message::Text(text) = message {
                        let _ = socket.send(tungstenite::Message::Text(format!("echo: {text}").into()));
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A deployment with the streamer allowed to reach `bases`, secret KEY
/// (from `env`) bound to the first, and `limits`.
async fn streamer(bases: &[&str], env: &str, limits: &str) -> common::Harness {
    // SAFETY: each test in this binary uses its own variable name.
    unsafe { std::env::set_var(env, SECRET) };
    let allowed = bases.iter().map(|b| format!("\"{b}\"")).collect::<Vec<_>>().join(", ");
    let extra = format!(
        r#"[plugins.streamer]
path = "{wasm}"
{limits}
allowed_hosts = [{allowed}]
[plugins.streamer.secrets.KEY]
env = "{env}"
hosts = ["{first}"]"#,
        wasm = streamer_wasm(),
        first = bases[0],
    );
    harness_with_limits("", &extra).await
}

#[tokio::test]
async fn events_arrive_in_order_with_the_secret_sent_but_never_shown() {
    let (base, _) = sse_upstream().await;
    let h = streamer(&[&base], "EASEL_STREAMS_T1", "").await;
    let error = h.failing("streamer", &format!("secret:KEY:{base}/events")).await;
    assert!(
        error
            .message
            .contains(r#"streamed: ["queued=2", "message=you sent Bearer [redacted:KEY]", "done={}"] then the end"#),
        "{}",
        error.message
    );
    assert!(!error.message.contains(SECRET));
}

#[tokio::test]
async fn a_stream_to_a_host_off_the_allow_list_is_denied_naming_the_entry() {
    let (base, _) = sse_upstream().await;
    let (other, _) = sse_upstream().await;
    let h = streamer(&[&base], "EASEL_STREAMS_T2", "").await;
    let error = h.failing("streamer", &format!("events:{other}/events")).await;
    assert!(error.message.contains("stream failed: EgressError::Denied"), "{}", error.message);
    assert!(error.message.contains(&format!("add \\\"{other}\\\" to allowed_hosts")), "{}", error.message);
}

#[tokio::test]
async fn a_call_holds_at_most_four_streams_and_they_close_when_it_returns() {
    let (base, closed) = sse_upstream().await;
    let h = streamer(&[&base], "EASEL_STREAMS_T3", "").await;
    let error = h.failing("streamer", &format!("hoard:{base}/quiet")).await;
    assert!(error.message.contains("held 4 streams; then: EgressError::InvalidRequest"), "{}", error.message);
    assert!(error.message.contains("at most 4 streams"), "{}", error.message);
    let error = h.failing("streamer", &format!("leave:{base}/quiet")).await;
    assert!(error.message.contains("left the stream open"), "{}", error.message);
    let started = Instant::now();
    while closed.load(Ordering::SeqCst) < 5 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed.load(Ordering::SeqCst), 5, "the four hoarded streams and the one left open were all closed");
    h.placeholder_still_works().await;
}

#[tokio::test]
async fn a_wait_cannot_outlast_the_call() {
    let (base, _) = sse_upstream().await;
    let h = streamer(&[&base], "EASEL_STREAMS_T4", "timeout_secs = 3").await;
    let started = Instant::now();
    let error = h.failing("streamer", &format!("wait:{base}/quiet")).await;
    assert!(
        error.message.contains("stream failed: [] then EgressError::Timeout")
            && error.message.contains("sent no event"),
        "the plugin got its own timeout back before the call's: {}",
        error.message
    );
    assert!(started.elapsed() < Duration::from_secs(15), "a wait of u32::MAX ms was cut to the call's time");
}

#[tokio::test]
async fn a_websocket_sends_and_receives_under_the_allow_list() {
    let ws = websocket_upstream();
    let (base, _) = sse_upstream().await;
    let h = streamer(&[&base, &ws], "EASEL_STREAMS_T5", "").await;
    let url = ws.replacen("http", "ws", 1);
    let error = h.failing("streamer", &format!("ws:{url}/ws|hi there")).await;
    assert!(error.message.contains(r#"streamed: Some(WsMessage::Text("echo: hi there"))"#), "{}", error.message);
    let (unlisted, _) = sse_upstream().await;
    let error = h.failing("streamer", &format!("ws:{}/ws|x", unlisted.replacen("http", "ws", 1))).await;
    assert!(error.message.contains("stream failed: EgressError::Denied"), "{}", error.message);
}
