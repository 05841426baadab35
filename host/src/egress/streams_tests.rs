//! Tests of `egress::streams` against real loopback peers: an axum SSE
//! server and a tungstenite websocket server on a thread.

use super::*;
use crate::egress::allowed_hosts::AllowedHost;
use crate::egress::secrets::SecretSet;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::io::ErrorKind;

const SECRET: &str = "sk-stream-canary-5e1f";

fn policy(base: &str) -> EgressPolicy {
    let allow: Vec<AllowedHost> = vec![base.parse().unwrap()];
    let secrets = SecretSet::literal("p", [("KEY".to_string(), SECRET.to_string())], &allow);
    EgressPolicy::new("p", allow, secrets, 1 << 20, Duration::from_secs(5))
}

fn get(url: String) -> EgressRequest {
    EgressRequest { method: "GET".into(), url, ..Default::default() }
}

fn sse(chunks: Vec<String>, then_hang: bool) -> Response {
    let items = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(c.into_bytes())));
    let body =
        if then_hang { Body::from_stream(items.chain(futures::stream::pending())) } else { Body::from_stream(items) };
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn serve_sse() -> String {
    let app = axum::Router::new()
        .route(
            "/events",
            axum::routing::get(|| async {
                sse(
                    vec![
                        format!("event: status\ndata: {{\"echo\":\"{SECRET}\"}}\n\n"),
                        ": keep-alive\n\ndata: line one\ndata: line two\nid: 7\n\n".into(),
                    ],
                    false,
                )
            }),
        )
        .route("/slow", axum::routing::get(|| async { sse(vec!["data: first\n\n".into()], true) }))
        .route(
            "/flood",
            axum::routing::get(|| async {
                let line = format!("data: {}\n", "x".repeat(4096));
                sse(std::iter::repeat_n(line, 1024).collect(), false)
            }),
        )
        .route("/denied", axum::routing::get(|| async { (StatusCode::UNAUTHORIZED, "{\"detail\":\"bad key\"}") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn events_arrive_redacted_in_order_then_the_stream_ends() {
    let base = serve_sse().await;
    let policy = policy(&base);
    let Opened::Open(mut stream) = policy.open_events(get(format!("{base}/events"))).await.unwrap() else {
        panic!("a text/event-stream answer opens a stream")
    };
    assert_eq!(stream.head().status, 200);
    let first = policy.next_event(&mut stream, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(first.event, "status");
    assert_eq!(first.data, "{\"echo\":\"[redacted:KEY]\"}", "a reflected secret is redacted");
    let second = policy.next_event(&mut stream, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(
        (second.event.as_str(), second.data.as_str(), second.id.as_deref()),
        ("message", "line one\nline two", Some("7"))
    );
    assert_eq!(policy.next_event(&mut stream, Duration::from_secs(5)).await.unwrap(), None, "the server ended it");
}

#[tokio::test]
async fn a_quiet_stream_times_out_and_stays_open_and_errors_come_back_whole() {
    let base = serve_sse().await;
    let policy = policy(&base);
    let Opened::Open(mut stream) = policy.open_events(get(format!("{base}/slow"))).await.unwrap() else { panic!() };
    assert_eq!(policy.next_event(&mut stream, Duration::from_secs(5)).await.unwrap().unwrap().data, "first");
    let quiet = policy.next_event(&mut stream, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(&quiet, EgressError::Timeout(m) if m.contains("sent no event")), "{quiet}");
    let Opened::Response(denied) = policy.open_events(get(format!("{base}/denied"))).await.unwrap() else {
        panic!("a 401 is an ordinary response")
    };
    assert_eq!((denied.status, denied.body.as_slice()), (401, b"{\"detail\":\"bad key\"}".as_slice()));
}

#[tokio::test]
async fn a_stream_past_the_cap_is_cut_and_unlisted_hosts_are_refused() {
    let base = serve_sse().await;
    let policy = policy(&base);
    let Opened::Open(mut stream) = policy.open_events(get(format!("{base}/flood"))).await.unwrap() else { panic!() };
    let error = policy.next_event(&mut stream, Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(&error, EgressError::TooLarge(m) if m.contains("raise max_response_mib")), "{error}");
    let other = policy.open_events(get("http://127.0.0.1:1/events".into())).await.err().unwrap();
    assert!(matches!(&other, EgressError::Denied(m) if m.contains("add \"http://127.0.0.1:1\"")), "{other}");
    let host =
        EgressRequest { headers: vec![("Host".into(), "other.example".into())], ..get(format!("{base}/events")) };
    assert!(matches!(policy.open_events(host).await.err().unwrap(), EgressError::InvalidRequest(_)));
}

/// A websocket server on a thread: echoes text back with the request's
/// `authorization` header appended; `"big"` gets a 2 MiB reply; `"bye"` closes.
fn serve_websocket() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut auth = String::new();
                // tungstenite's callback signature fixes the error type (an HTTP response).
                #[allow(clippy::result_large_err)]
                let callback = |request: &tungstenite::handshake::server::Request, response| {
                    if request.uri().path() == "/refuse" {
                        let mut refusal = tungstenite::handshake::server::ErrorResponse::new(Some("no".into()));
                        *refusal.status_mut() = StatusCode::FORBIDDEN;
                        return Err(refusal);
                    }
                    auth = request
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    Ok(response)
                };
                let Ok(mut socket) = tungstenite::accept_hdr(stream, callback) else { return };
                loop {
                    match socket.read() {
                        Ok(tungstenite::Message::Text(text)) if text.as_str() == "bye" => {
                            let _ = socket.close(None);
                            let _ = socket.flush();
                        }
                        Ok(tungstenite::Message::Text(text)) if text.as_str() == "big" => {
                            let _ = socket.send(tungstenite::Message::Binary(vec![0u8; 2 << 20].into()));
                        }
                        Ok(tungstenite::Message::Text(text)) => {
                            let _ = socket.send(tungstenite::Message::Text(format!("{text} {auth}").into()));
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn ws(base: &str, path: &str, headers: Vec<(String, String)>) -> EgressRequest {
    EgressRequest { headers, ..get(format!("{}{path}", base.replacen("http", "ws", 1))) }
}

#[tokio::test]
async fn a_websocket_carries_messages_both_ways_with_secrets_filled_in_and_redacted() {
    let base = serve_websocket();
    let policy = policy(&base);
    let auth = vec![("authorization".to_string(), "Bearer {{secret:KEY}}".to_string())];
    let Opened::Open(mut socket) = policy.connect_websocket(ws(&base, "/ws", auth)).await.unwrap() else {
        panic!("the server switches protocols")
    };
    let wait = Duration::from_secs(5);
    policy.ws_send(&mut socket, WsMessage::Text("hello".into()), wait).await.unwrap();
    let echo = policy.ws_receive(&mut socket, wait).await.unwrap();
    assert_eq!(
        echo,
        Some(WsMessage::Text("hello Bearer [redacted:KEY]".into())),
        "sent with the secret, shown without"
    );
    let quiet = policy.ws_receive(&mut socket, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(quiet, EgressError::Timeout(_)));
    policy.ws_send(&mut socket, WsMessage::Text("big".into()), wait).await.unwrap();
    let big = policy.ws_receive(&mut socket, wait).await.unwrap_err();
    assert!(matches!(&big, EgressError::TooLarge(m) if m.contains("1 MiB")), "{big}");

    let Opened::Open(mut socket) = policy.connect_websocket(ws(&base, "/ws", vec![])).await.unwrap() else { panic!() };
    policy.ws_send(&mut socket, WsMessage::Text("bye".into()), wait).await.unwrap();
    assert_eq!(policy.ws_receive(&mut socket, wait).await.unwrap(), None, "the server closed it");
}

#[tokio::test]
async fn websocket_refusals_name_the_rule() {
    let base = serve_websocket();
    let policy = policy(&base);
    let Opened::Response(refused) = policy.connect_websocket(ws(&base, "/refuse", vec![])).await.unwrap() else {
        panic!("a 403 is an ordinary response")
    };
    assert_eq!(refused.status, 403);
    for (request, words) in [
        (ws(&base, "/ws", vec![("Sec-WebSocket-Key".into(), "x".into())]), "the host performs the websocket handshake"),
        (ws(&base, "/ws", vec![("Host".into(), "other".into())]), "may not set the `Host` header"),
        (get(format!("{base}/ws")), "ws:// or wss://"),
        (EgressRequest { method: "POST".into(), ..ws(&base, "/ws", vec![]) }, "GET and no body"),
    ] {
        let error = policy.connect_websocket(request).await.err().unwrap();
        assert!(matches!(&error, EgressError::InvalidRequest(m) if m.contains(words)), "{words}: {error}");
    }
    let unlisted = policy.connect_websocket(get("ws://127.0.0.1:1/ws".into())).await.err().unwrap();
    assert!(matches!(&unlisted, EgressError::Denied(m) if m.contains("\"http://127.0.0.1:1\"")), "{unlisted}");
}
