//! Streamable HTTP transport: `/mcp` (rmcp's `StreamableHttpService`),
//! `/i/{id}.{ext}` (originals and views), `/health` and the dashboard
//! (`/ui`, [`crate::ui`], which checks its own session cookie), bound to 127.0.0.1
//! by default, and the OAuth protected-resource metadata
//! (`/.well-known/oauth-protected-resource`, RFC 9728). Every route checks
//! `Host`/`Origin` and bearer tokens (`access`; OAuth access tokens through
//! [`crate::auth`]), and hands the [`Caller`] to the tools; `/mcp` caps request bodies and open legacy sessions
//! (`sessions`); the connections have header, body and idle timeouts
//! (`listener`).

use super::EaselServer;
use super::access::Access;
use super::sessions::{CappedSessions, RETRY_AFTER_SECS};
use crate::auth::server::AuthorizationServer;
use crate::auth::{Authenticator, Caller, METADATA_PATH, Refusal};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

pub use super::access::{read_tokens, tokens_from_env};

/// Largest JSON-RPC POST body accepted, bytes (inputs come by id, not inline).
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Default cap on MCP sessions open at once. rmcp closes a session after
/// 5 minutes without traffic (`SessionConfig::DEFAULT_KEEP_ALIVE`), so a
/// client opening sessions in a loop holds at most this many.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// How `serve` listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to listen (port 0: any free port; the bound address is printed).
    pub addr: SocketAddr,
    /// Names accepted in `Host` besides the loopback ones.
    pub allowed_hosts: Vec<String>,
    /// Non-empty: `Authorization: Bearer` required on all but `/health`.
    pub tokens: Vec<String>,
    /// Most legacy MCP sessions at once; an `initialize` past it gets HTTP
    /// 503. Stateless (2026-07-28) requests open no session and are not counted.
    pub max_sessions: usize,
    /// `[server.auth]`: OAuth bearer tokens from its issuer are accepted
    /// (beside any static `tokens`), and required when there are none.
    pub auth: Option<crate::config::AuthSettings>,
    /// `[server] public_url`; `None`: the bound address.
    pub public_url: Option<String>,
    /// Where relative paths in `[server.auth.login]` start: plugins.toml's directory.
    pub base_dir: std::path::PathBuf,
}

/// Serve until ctrl-c (see [`HttpOptions`]).
///
/// Errors: the address cannot be bound.
pub async fn serve(server: EaselServer, options: HttpOptions) -> anyhow::Result<()> {
    let HttpOptions { addr, allowed_hosts, tokens, max_sessions, auth, public_url, base_dir } = options;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let port = local.port();
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    hosts.extend(allowed_hosts.iter().cloned());
    let mut origins =
        vec![format!("http://localhost:{port}"), format!("http://127.0.0.1:{port}"), format!("http://[::1]:{port}")];
    origins.extend(allowed_hosts.iter().flat_map(|h| [format!("https://{h}:*"), format!("http://{h}:*")]));
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES);
    let public_url = public_url.unwrap_or_else(|| format!("http://{local}"));
    let store = server.app().store().clone();
    // `[server.auth.login]`: Easel is the authorization server too.
    let own_issuer = match auth.as_ref().and_then(|a| a.login.as_ref().map(|login| (a, login))) {
        Some((settings, login)) => {
            let own = AuthorizationServer::new(settings, login, &public_url, store.root(), &base_dir)?;
            eprintln!(
                "easel: signing users in at {} (register {} and, for the dashboard, {} as redirect URIs of its OAuth client)",
                login.provider,
                own.upstream_redirect_uri(),
                own.upstream().redirect_uri_at(crate::ui::CALLBACK_PATH)
            );
            Some(Arc::new(own))
        }
        None => None,
    };
    let auth = match (&auth, &own_issuer) {
        (Some(settings), Some(own)) => Some(Arc::new(Authenticator::with_own_issuer(settings, &public_url, own)?)),
        (Some(settings), None) => Some(Arc::new(Authenticator::new(settings, &public_url)?)),
        (None, _) => None,
    };
    let https = public_url.starts_with("https://");
    let mut server = server.with_base_url(public_url);
    // Behind authentication, result links are signed so a client can fetch
    // them without its token ([`crate::auth::links`]).
    let links = if tokens.is_empty() && auth.is_none() {
        None
    } else {
        let lifetime = server
            .app()
            .deployment
            .server
            .link_lifetime_secs
            .map_or(crate::auth::links::DEFAULT_LIFETIME, std::time::Duration::from_secs);
        let signer = Arc::new(crate::auth::links::LinkSigner::load_or_create(store.root(), lifetime)?);
        server = server.with_links(signer.clone());
        Some(signer)
    };
    let sign_in = match (&own_issuer, &auth) {
        (Some(own), Some(policy)) => crate::ui::SignIn::Login { server: own.clone(), policy: policy.clone() },
        _ if tokens.is_empty() && auth.is_none() => crate::ui::SignIn::Open,
        _ => crate::ui::SignIn::Unavailable(
            "the dashboard signs people in through Easel's own sign-in ([server.auth.login]), which this server does not have: it takes bearer tokens or an outside issuer's tokens only. On your own machine, `easel serve --transport http --no-auth` shows the dashboard without signing in.".into(),
        ),
    };
    let dashboard = crate::ui::Dashboard::new(server.app().clone(), sign_in, links.clone(), https)?;
    let sessions = Arc::new(CappedSessions::new(max_sessions));
    let service = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let mcp = axum::Router::new().fallback_service(service).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let sessions = sessions.clone();
            async move {
                let candidate =
                    request.method() == axum::http::Method::POST && !request.headers().contains_key("mcp-session-id");
                if !candidate || !sessions.is_full().await {
                    return next.run(request).await;
                }
                // Full: only an `initialize` opens a session; a stateless
                // (2026-07-28) request carries none and is served as usual.
                let (parts, body) = request.into_parts();
                let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
                    Ok(bytes) => bytes,
                    Err(e) if format!("{e:#}").contains("length limit") => {
                        return (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("request body exceeds {MAX_REQUEST_BYTES} bytes"),
                        )
                            .into_response();
                    }
                    Err(e) => {
                        return (StatusCode::BAD_REQUEST, format!("reading the request body: {e:#}")).into_response();
                    }
                };
                if !is_initialize(&bytes) {
                    return next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await;
                }
                // Answered here rather than by `CappedSessions::create_session`,
                // which rmcp would turn into a 500 logged on every refusal.
                let refused = sessions.refusal();
                (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", RETRY_AFTER_SECS.to_string())], refused.to_string())
                    .into_response()
            }
        },
    ));
    let metadata = auth.as_ref().map(|a| a.metadata()).unwrap_or(serde_json::Value::Null);
    let metadata_route = move || {
        let metadata = metadata.clone();
        async move {
            if metadata.is_null() {
                (StatusCode::NOT_FOUND, "this server takes no OAuth tokens ([server.auth] is not set)").into_response()
            } else {
                axum::Json(metadata).into_response()
            }
        }
    };
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        // RFC 9728 §3.1: the resource's path after the well-known segment, and the root form.
        .route(METADATA_PATH, axum::routing::get(metadata_route.clone()))
        .route(&format!("{METADATA_PATH}/mcp"), axum::routing::get(metadata_route))
        .route("/i/{file}", axum::routing::get(serve_image))
        .with_state(store)
        .nest("/mcp", mcp)
        .merge(Arc::new(dashboard).router());
    let router = match own_issuer {
        Some(own) => router.merge(own.router()),
        None => router,
    };
    let access = Arc::new(Access::new(port, &allowed_hosts, tokens));
    let router = router.layer(axum::middleware::from_fn(
        move |mut request: axum::extract::Request, next: axum::middleware::Next| {
            let (access, auth, links) = (access.clone(), auth.clone(), links.clone());
            async move {
                if let Err(refused) = access.check_origin(request.headers()) {
                    return refused.into_response();
                }
                let path = request.uri().path();
                // The OAuth metadata and the authorization server's own
                // endpoints are how a caller gets a token.
                // The dashboard checks its own session cookie.
                if path == "/health"
                    || path.starts_with("/.well-known/")
                    || path.starts_with("/oauth/")
                    || path == "/ui"
                    || path.starts_with("/ui/")
                {
                    return next.run(request).await;
                }
                if let Some(links) = links.as_deref()
                    && path.starts_with("/i/")
                {
                    match signed_link(links, request) {
                        Ok(request) => return next.run(request).await,
                        Err(Ok(unsigned)) => request = unsigned,
                        Err(Err(refused)) => return refused,
                    }
                }
                let header = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                match caller_of(&access, auth.as_deref(), header).await {
                    Ok(caller) => {
                        request.extensions_mut().insert(caller);
                        next.run(request).await
                    }
                    Err(refused) => refused,
                }
            }
        },
    ));
    // One line on stderr that scripts can wait for.
    eprintln!("easel: MCP over streamable HTTP at http://{local}/mcp");
    eprintln!("easel: dashboard at http://{local}/ui");
    super::listener::run(listener, router, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// An `/i/` request carrying a signed link: `Ok` with the signature taken
/// off the query (what `serve_image` reads as the view) when it verifies;
/// `Err(Ok(request))` when it is not a signed link (the token is checked as
/// for any route); `Err(Err(403))` when it is expired or forged.
#[allow(clippy::result_large_err)]
fn signed_link(
    links: &crate::auth::links::LinkSigner,
    request: axum::extract::Request,
) -> Result<axum::extract::Request, Result<axum::extract::Request, axum::response::Response>> {
    use crate::auth::links::LinkRefusal;
    let (path, query) = (request.uri().path().to_string(), request.uri().query().unwrap_or("").to_string());
    match links.verify(&path, &query, crate::auth::links::now()) {
        Ok(view) => {
            let (mut parts, body) = request.into_parts();
            let uri = if view.is_empty() { path } else { format!("{path}?{view}") };
            match uri.parse() {
                Ok(uri) => parts.uri = uri,
                Err(_) => return Err(Err((StatusCode::BAD_REQUEST, "bad image link").into_response())),
            }
            Ok(axum::extract::Request::from_parts(parts, body))
        }
        Err(LinkRefusal::Unsigned) => Err(Ok(request)),
        Err(LinkRefusal::Expired) => Err(Err((
            StatusCode::FORBIDDEN,
            "this image link has expired; ask for the image again (show_image or list_images) for a fresh link",
        )
            .into_response())),
        Err(LinkRefusal::Forged) => {
            Err(Err((StatusCode::FORBIDDEN, "this image link's signature does not match its image, view or expiry")
                .into_response()))
        }
    }
}

/// Who sends a request with this `Authorization` header: one of the static
/// tokens, a valid OAuth access token, or (neither configured) the local
/// user.
///
/// Errors: the response to send instead: 401 with a challenge naming the
/// resource metadata (OAuth) or plain `Bearer`, 403 for missing scopes.
async fn caller_of(
    access: &Access,
    auth: Option<&Authenticator>,
    header: Option<&str>,
) -> Result<Caller, axum::response::Response> {
    use axum::http::header::WWW_AUTHENTICATE;
    let challenge = |status: StatusCode, value: String, body: String| {
        let mut response = (status, body).into_response();
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    };
    if access.needs_token() && access.authorized(header) {
        return Ok(Caller::static_token());
    }
    let Some(auth) = auth else {
        if !access.needs_token() {
            return Ok(Caller::local());
        }
        return Err(challenge(StatusCode::UNAUTHORIZED, "Bearer".into(), "missing or wrong bearer token".into()));
    };
    let token = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    let Some((_, token)) = token else {
        return Err(challenge(
            StatusCode::UNAUTHORIZED,
            auth.bare_challenge(),
            "sign in: this server needs an OAuth access token (see WWW-Authenticate)".into(),
        ));
    };
    auth.authenticate(token.trim()).await.map_err(|refusal| {
        let (status, body) = match &refusal {
            Refusal::Unauthenticated(why) => (StatusCode::UNAUTHORIZED, why.clone()),
            Refusal::InsufficientScope { needed } => {
                (StatusCode::FORBIDDEN, format!("the access token lacks the scope(s) {}", needed.join(" ")))
            }
        };
        challenge(status, auth.challenge(&refusal), body)
    })
}

/// Whether a JSON-RPC body is an `initialize` request (the only one that
/// opens a legacy session).
fn is_initialize(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Method<'_>>(body).is_ok_and(|m| m.method.as_deref() == Some("initialize"))
}

/// `GET /i/{id}.{ext}[?view parameters]`: an original, or a view of it
/// (a different extension re-encodes). Ids are 64 bits of a content hash:
/// unguessable without the image itself. Reading and rendering run on the
/// image pool; originals come through `Store::read` (which checks them).
async fn serve_image(
    axum::extract::State(store): axum::extract::State<crate::store::Store>,
    axum::extract::Path(file): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use crate::store::views::{ViewFormat, ViewSpec};
    use axum::http::header;
    let (id, ext) = file.split_once('.').unwrap_or((&file, ""));
    let Ok(stored) = store.get(id) else {
        return (StatusCode::NOT_FOUND, "no such image").into_response();
    };
    let mut spec = match ViewSpec::from_query(query.as_deref().unwrap_or("")) {
        Ok(spec) => spec,
        Err(e) => return (StatusCode::BAD_REQUEST, super::results::bounded_text(&format!("{e:#}"))).into_response(),
    };
    let original_ext = crate::store::extension(&stored.sidecar.mime_type);
    if !ext.is_empty() && ext != original_ext && spec.format.is_none() {
        match ViewFormat::parse(ext) {
            Some(format) => spec.format = Some(format),
            None => return (StatusCode::NOT_FOUND, "use .png, .jpg, .webp or .gif").into_response(),
        }
    }
    let id = stored.sidecar.id.clone();
    let made = crate::blocking::image_work(move || {
        if spec == ViewSpec::default() {
            match store.read(&id) {
                Ok((sidecar, bytes)) => Ok((sidecar.mime_type, bytes)),
                Err(e) => {
                    tracing::warn!("serving image {id}: {e:#}");
                    Err((StatusCode::NOT_FOUND, "no such image".to_string()))
                }
            }
        } else {
            match store.view(&id, &spec) {
                Ok(view) => Ok((view.mime_type.to_string(), view.data.clone())),
                Err(e) => Err((StatusCode::BAD_REQUEST, super::results::bounded_text(&format!("{e:#}")))),
            }
        }
    })
    .await;
    match made {
        Ok(Ok((mime, body))) => {
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=86400".to_string())], body)
                .into_response()
        }
        Ok(Err(refused)) => refused.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_an_initialize_body_opens_a_session() {
        assert!(super::is_initialize(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#));
        for other in
            [&br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{}}}"#[..], b"{}", b"not json", b"[]"]
        {
            assert!(!super::is_initialize(other), "{}", String::from_utf8_lossy(other));
        }
    }
}
