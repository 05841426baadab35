//! Streamable HTTP transport: `/mcp` (rmcp's `StreamableHttpService`) and
//! `/health`, bound to 127.0.0.1 by default, with foreign `Host` and
//! `Origin` headers refused (DNS-rebinding protection) and a request-size cap.

use super::EaselServer;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest JSON-RPC POST body accepted, bytes (inputs come by id, not inline).
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Serve until ctrl-c. `allowed_hosts` extends the loopback names accepted
/// in `Host` (for deployments behind a name).
pub async fn serve(server: EaselServer, addr: SocketAddr, allowed_hosts: Vec<String>) -> anyhow::Result<()> {
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
    let service = StreamableHttpService::new(move || Ok(server.clone()), Arc::new(LocalSessionManager::default()), config);
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .nest_service("/mcp", service);
    // One line on stderr that scripts can wait for.
    eprintln!("easel: MCP over streamable HTTP at http://{local}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
