//! Streamable HTTP transport: `/mcp` (rmcp's `StreamableHttpService`) and
//! `/health`, bound to 127.0.0.1 by default, with foreign `Host` and
//! `Origin` headers refused (DNS-rebinding protection), a request-size cap,
//! optional bearer tokens, and a cap on open sessions.

use super::EaselServer;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest JSON-RPC POST body accepted, bytes (inputs come by id, not inline).
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Default cap on MCP sessions open at once. rmcp closes a session after
/// 5 minutes without traffic (`SessionConfig::DEFAULT_KEEP_ALIVE`), so a
/// client opening sessions in a loop holds at most this many.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// How `serve` listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// Names accepted in `Host` besides the loopback ones.
    pub allowed_hosts: Vec<String>,
    /// Non-empty: `Authorization: Bearer` required on all but `/health`.
    pub tokens: Vec<String>,
    /// Most MCP sessions at once; a new one past it gets HTTP 503.
    pub max_sessions: usize,
}

/// Bearer tokens from a file: one per line, blank lines and `#` comments skipped.
pub fn read_tokens(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading tokens from {}: {e}", path.display()))?;
    let tokens: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if tokens.is_empty() {
        anyhow::bail!("{} holds no tokens (one per line)", path.display());
    }
    Ok(tokens)
}

/// Bearer tokens from `EASEL_HTTP_TOKENS` (comma- or space-separated), if set.
pub fn tokens_from_env() -> Vec<String> {
    std::env::var("EASEL_HTTP_TOKENS")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Whether `header` is `Bearer <one of tokens>`, compared in constant time
/// (over the sha256 of each, so lengths do not leak either).
fn authorized(header: Option<&str>, tokens: &[String]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else { return false };
    let given = Sha256::digest(given.trim().as_bytes());
    tokens.iter().fold(false, |found, token| found | bool::from(Sha256::digest(token.as_bytes()).ct_eq(&given)))
}

/// Serve until ctrl-c (see [`HttpOptions`]).
pub async fn serve(server: EaselServer, options: HttpOptions) -> anyhow::Result<()> {
    let HttpOptions { addr, allowed_hosts, tokens, max_sessions } = options;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let port = local.port();
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    hosts.extend(allowed_hosts.iter().cloned());
    let mut origins = vec![format!("http://localhost:{port}"), format!("http://127.0.0.1:{port}"), format!("http://[::1]:{port}")];
    origins.extend(allowed_hosts.iter().flat_map(|h| [format!("https://{h}:*"), format!("http://{h}:*")]));
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES);
    let server = server.with_base_url(format!("http://{local}"));
    let store = server.jobs().store().clone();
    let sessions = Arc::new(LocalSessionManager::default());
    let refusals = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let service = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let mcp = axum::Router::new().fallback_service(service).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let (sessions, refusals) = (sessions.clone(), refusals.clone());
            async move {
                // A POST without a session id opens a session (initialize).
                let opens = request.method() == axum::http::Method::POST && !request.headers().contains_key("mcp-session-id");
                if opens && sessions.sessions.read().await.len() >= max_sessions {
                    // Logged at the 1st, 10th, 100th… refusal: a loop must not flood the log.
                    let count = refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if count == 10u64.pow(count.ilog10()) {
                        tracing::warn!("refused a new MCP session ({count} so far): {max_sessions} are open (--max-sessions)");
                    }
                    let message = format!("too many MCP sessions are open ({max_sessions}); close one (HTTP DELETE /mcp) or retry after idle sessions expire");
                    return axum::response::IntoResponse::into_response((axum::http::StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "30")], message));
                }
                next.run(request).await
            }
        },
    ));
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/i/{file}", axum::routing::get(serve_image))
        .with_state(store)
        .nest("/mcp", mcp);
    let tokens = Arc::new(tokens);
    let router = router.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
        let tokens = tokens.clone();
        async move {
            let header = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if tokens.is_empty() || request.uri().path() == "/health" || authorized(header, &tokens) {
                return next.run(request).await;
            }
            let mut refused = axum::response::IntoResponse::into_response((axum::http::StatusCode::UNAUTHORIZED, "missing or wrong bearer token"));
            refused.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            refused
        }
    }));
    // One line on stderr that scripts can wait for.
    eprintln!("easel: MCP over streamable HTTP at http://{local}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `GET /i/{id}.{ext}[?view parameters]`: an original, or a view of it
/// (a different extension re-encodes). Ids are 64 bits of a content hash:
/// unguessable without the image itself.
async fn serve_image(
    axum::extract::State(store): axum::extract::State<crate::store::Store>,
    axum::extract::Path(file): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use crate::store::views::{ViewFormat, ViewSpec};
    let (id, ext) = file.split_once('.').unwrap_or((&file, ""));
    let Ok(stored) = store.get(id) else {
        return (StatusCode::NOT_FOUND, "no such image").into_response();
    };
    let mut spec = match ViewSpec::from_query(query.as_deref().unwrap_or("")) {
        Ok(spec) => spec,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    };
    let original_ext = crate::store::extension(&stored.sidecar.mime_type);
    if !ext.is_empty() && ext != original_ext && spec.format.is_none() {
        match ViewFormat::parse(ext) {
            Some(format) => spec.format = Some(format),
            None => return (StatusCode::NOT_FOUND, "use .png, .jpg, .webp or .gif").into_response(),
        }
    }
    let (mime, body) = if spec == ViewSpec::default() {
        match std::fs::read(&stored.path) {
            Ok(bytes) => (stored.sidecar.mime_type.clone(), bytes),
            Err(_) => return (StatusCode::NOT_FOUND, "no such image").into_response(),
        }
    } else {
        match store.view(id, &spec) {
            Ok(view) => (view.mime_type.to_string(), view.data.clone()),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
        }
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=86400".to_string())], body).into_response()
}
