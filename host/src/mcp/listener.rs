//! The HTTP/1.1 accept loop (hyper, not `axum::serve`, for its timeouts):
//! a client gets [`HEADER_READ_TIMEOUT`] to send a request's headers, which
//! also closes a keep-alive connection idle that long between requests,
//! and a request body that stops arriving for [`BODY_IDLE_TIMEOUT`] fails.
//! So slow or silent clients (slowloris) cannot hold connections open.

use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tower::ServiceExt as _;

/// Most time to send a request's headers, and most idle time on a
/// keep-alive connection between two requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most time between two pieces of a request body.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections get to finish after `shutdown` resolves.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serve `router` on `listener` until `shutdown` resolves, then give open
/// connections [`SHUTDOWN_GRACE`] to finish. Accept errors (e.g. out of file
/// descriptors) are logged and retried after a pause; the loop goes on.
pub async fn run(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    tracing::warn!("accepting an HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(|request: axum::http::Request<hyper::body::Incoming>| {
            request.map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(BODY_IDLE_TIMEOUT, body)))
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("closing HTTP connections still open after {} s", SHUTDOWN_GRACE.as_secs());
    }
}
