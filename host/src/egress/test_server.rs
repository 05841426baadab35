//! A loopback upstream for unit tests of the egress policies and their
//! callers (`inputs`, `providers::source`): fixed bytes, redirects, big
//! and stalling bodies, a server that never answers, and a record of the
//! paths requested.

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// A running test upstream.
pub(crate) struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every path requested, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

/// Serve on 127.0.0.1 (a fresh port):
/// `/file` → `file` with a `Content-Length`; `/redirect?to=URL` → 302 to
/// URL; `/loop` → 302 to itself; `/big` → 2 MiB streamed in 64 KiB chunks, no `Content-Length`;
/// `/stall` → headers and 1 KiB, then nothing, forever; `/hang` → no
/// answer at all; anything else → 404.
pub(crate) async fn serve(file: Vec<u8>) -> TestServer {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let file = Arc::new(file);
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (recorder, file) = (recorder.clone(), file.clone());
        async move {
            recorder.lock().unwrap().push(uri.path().to_string());
            respond(&uri, &file).await
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer { base: format!("http://{addr}"), seen }
}

async fn respond(uri: &Uri, file: &[u8]) -> Response {
    match uri.path() {
        "/file" => file.to_vec().into_response(),
        "/redirect" => {
            let to = uri.query().and_then(|q| q.strip_prefix("to=")).unwrap_or("/").to_string();
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        "/loop" => (StatusCode::FOUND, [("location", "/loop")]).into_response(),
        "/big" => {
            let chunks = futures::stream::iter((0..32).map(|_| Ok::<_, std::io::Error>(vec![0u8; 64 << 10])));
            Body::from_stream(chunks).into_response()
        }
        "/stall" => {
            let first = futures::stream::iter([Ok::<_, std::io::Error>(vec![0u8; 1024])]);
            let never = futures::stream::pending::<Result<Vec<u8>, std::io::Error>>();
            Body::from_stream(futures::StreamExt::chain(first, never)).into_response()
        }
        "/hang" => {
            futures::future::pending::<()>().await;
            unreachable!()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
