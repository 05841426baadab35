//! A plugin cannot get a secret back out of its bound host in disguise:
//! not gzipped (the host owns content coding and redacts decoded bytes),
//! not in pieces (`Range` is refused toward secret-bound hosts), not by its
//! length (`Content-Length` is the redacted body's), and not by routing the
//! request elsewhere with its own `Host` header (refused, with the other
//! framing headers). Each attack runs through the `hostile` fixture's raw
//! request mode against a loopback upstream that would oblige.

mod common;

use common::{SECRET, harness};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// What the upstream saw of each request: (path, header name → value).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A loopback upstream that reflects the Authorization header it got:
/// `/gzip` gzipped whatever the request asked for, `/plain` honouring
/// `Range: bytes=A-B`, `/host` naming the `Host` it was sent.
async fn reflector() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
        let recorder = recorder.clone();
        async move {
            use axum::response::IntoResponse;
            let pairs = headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            recorder.lock().unwrap().push((uri.path().to_string(), pairs));
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let reflected = format!("you sent: {}", header("authorization"));
            match uri.path() {
                "/gzip" => {
                    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    gz.write_all(reflected.as_bytes()).unwrap();
                    ([("content-encoding", "gzip")], gz.finish().unwrap()).into_response()
                }
                "/plain" => match header("range").strip_prefix("bytes=").and_then(|r| r.split_once('-')) {
                    Some((from, to)) => {
                        let from: usize = from.parse().unwrap_or(0);
                        let to: usize = to.parse().unwrap_or(reflected.len() - 1).min(reflected.len() - 1);
                        (axum::http::StatusCode::PARTIAL_CONTENT, reflected[from..=to].to_string()).into_response()
                    }
                    None => reflected.into_response(),
                },
                "/host" => format!("host was {}", header("host")).into_response(),
                _ => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// The harness with secret KEY (from `env`) bound to `base`.
async fn bound_to(base: &str, env: &str) -> common::Harness {
    // SAFETY: each test in this binary uses its own variable name.
    unsafe { std::env::set_var(env, SECRET) };
    harness(&format!(
        r#"allowed_hosts = ["{base}"]
[plugins.hostile.secrets.KEY]
env = "{env}"
hosts = ["{base}"]"#
    ))
    .await
}

const AUTH: &str = "Authorization: Bearer {{secret:KEY}}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reflected_gzipped_reaches_the_plugin_decoded_and_redacted() {
    let (base, seen) = reflector().await;
    let h = bound_to(&base, "EASEL_TEST_SECRET_GZIP").await;
    let err = h.hostile(&format!("req:GET|{base}/gzip|{AUTH}|Accept-Encoding: gzip")).await;
    assert!(err.message.contains("status 200"), "{}", err.message);
    assert!(
        err.message.contains("body you sent: Bearer [redacted:KEY]"),
        "the plugin gets the decoded, redacted body: {}",
        err.message
    );
    assert!(!err.message.contains("content-encoding"), "no body reaches the plugin still encoded: {}", err.message);
    assert!(!err.message.contains(SECRET));
    let requests = seen.lock().unwrap().clone();
    let asked: Vec<&str> =
        requests[0].1.iter().filter(|(k, _)| k == "accept-encoding").map(|(_, v)| v.as_str()).collect();
    assert_eq!(asked, ["identity"], "the host, not the plugin, chooses the content coding");
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_cannot_be_read_back_in_ranges_and_content_length_is_the_redacted_length() {
    let (base, seen) = reflector().await;
    let h = bound_to(&base, "EASEL_TEST_SECRET_RANGE").await;
    for range in ["bytes=0-0", "bytes=18-"] {
        let err = h.hostile(&format!("req:GET|{base}/plain|{AUTH}|Range: {range}")).await;
        assert!(
            err.message.contains("may not send `Range` to a host that one of their secrets is bound to"),
            "{}",
            err.message
        );
    }
    assert!(seen.lock().unwrap().is_empty(), "no range request left the host");
    // A whole read: the length the plugin is told is that of what it gets.
    let err = h.hostile(&format!("req:GET|{base}/plain|{AUTH}")).await;
    let body = "you sent: Bearer [redacted:KEY]";
    assert!(err.message.contains(&format!("(\"content-length\", \"{}\")", body.len())), "{}", err.message);
    assert!(!err.message.contains(&format!("\"{}\"", format!("you sent: Bearer {SECRET}").len())), "{}", err.message);
    h.placeholder_still_works().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_set_host_or_framing_header_is_refused_and_never_sent() {
    let (base, seen) = reflector().await;
    let h = bound_to(&base, "EASEL_TEST_SECRET_HOST").await;
    for header in [
        "Host: other-tenant.example",
        "host: a|Host: b",
        "Transfer-Encoding: chunked",
        "Content-Length: 5",
        "Connection: upgrade",
        "Upgrade: h2c",
        "TE: trailers",
        "Proxy-Authorization: x",
    ] {
        let err = h.hostile(&format!("req:GET|{base}/host|{AUTH}|{header}")).await;
        let name = header.split(':').next().unwrap();
        assert!(err.message.contains(&format!("plugins may not set the `{name}` header")), "{header}: {}", err.message);
    }
    assert!(seen.lock().unwrap().is_empty(), "none of those requests was sent");
    let err = h.hostile(&format!("req:GET|{base}/host")).await;
    let port = base.rsplit(':').next().unwrap();
    assert!(
        err.message.contains(&format!("host was 127.0.0.1:{port}")),
        "the host sets Host from the URL: {}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_request_headers_are_refused_with_a_clear_error_not_a_panic() {
    let (base, seen) = reflector().await;
    let h = harness(&format!(r#"allowed_hosts = ["{base}"]"#)).await;
    let err = h.hostile(&format!("headers:24576:{base}/host")).await;
    assert!(err.message.contains("24576 request headers, over the limit of 100"), "{}", err.message);
    assert!(seen.lock().unwrap().is_empty());
    h.placeholder_still_works().await;
}
