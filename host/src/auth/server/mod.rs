//! Easel's own OAuth 2.1 authorization server (`[server.auth.login]`), for
//! identity providers that MCP clients cannot register with themselves
//! (Google has no dynamic client registration). MCP clients register here
//! (RFC 7591, or a Client ID Metadata Document), sign in through
//! `/oauth/authorize` with PKCE S256, and get Easel's own ES256 access
//! tokens and rotating refresh tokens from `/oauth/token`; the person signs
//! in at the upstream OpenID provider ([`login`]) and then allows the
//! client on a consent page that names it ([`pages`]). The metadata is at
//! `/.well-known/oauth-authorization-server` (RFC 8414). Who may then use
//! the tools is the resource server's policy, as with an outside issuer.

pub mod clients;
pub mod grants;
pub mod keys;
pub mod login;
pub mod pages;
mod routes;

use crate::config::{AuthSettings, LoginSettings};
use crate::egress::{EgressPolicy, SourceLimits};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

/// Default access token lifetime.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Default refresh token lifetime.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 86400);
/// Where the client secret is read from unless configured.
pub const DEFAULT_SECRET_ENV: &str = "EASEL_LOGIN_CLIENT_SECRET";

/// The authorization server of one `easel serve`.
pub struct AuthorizationServer {
    /// The issuer identifier: the public URL.
    issuer: String,
    /// The resource its access tokens are for: `{public_url}/mcp`.
    resource: String,
    /// Scopes it grants (`[server.auth] scopes`).
    scopes: Vec<String>,
    key: keys::SigningKey,
    grants: grants::Grants,
    upstream: login::Upstream,
    client_metadata: EgressPolicy,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
    /// Behind https: cookies are `Secure` and `__Host-` prefixed.
    https: bool,
}

impl AuthorizationServer {
    /// The server for `public_url` described by `auth` and its `login`,
    /// keeping clients and grants in the store at `store_root`; relative
    /// paths are resolved against `base_dir` (plugins.toml's directory).
    ///
    /// Errors: the signing key or client secret cannot be read, a host in
    /// `client_metadata_hosts` does not parse, or the database cannot be
    /// opened; each names the setting and the fix.
    pub fn new(
        auth: &AuthSettings,
        login: &LoginSettings,
        public_url: &str,
        store_root: &Path,
        base_dir: &Path,
    ) -> Result<AuthorizationServer> {
        let public_url = public_url.trim_end_matches('/');
        let key = keys::SigningKey::load(&base_dir.join(&login.signing_key))?;
        let secret = client_secret(login, base_dir)?;
        let upstream =
            login::Upstream::new(&login.provider, &login.client_id, secret, &login.provider_scopes, public_url)?;
        let allow = login
            .client_metadata_hosts
            .iter()
            .map(|host| {
                host.parse()
                    .map_err(|e| anyhow::anyhow!("[server.auth.login] client_metadata_hosts entry `{host}`: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let limits = SourceLimits { max_bytes: clients::MAX_METADATA_BYTES, timeout: Duration::from_secs(10) };
        Ok(AuthorizationServer {
            issuer: public_url.to_string(),
            resource: format!("{public_url}/mcp"),
            scopes: auth.scopes.clone(),
            key,
            grants: grants::Grants::open(store_root)?,
            upstream,
            client_metadata: EgressPolicy::client_metadata(allow, limits),
            access_lifetime: login.access_token_secs.map_or(ACCESS_TOKEN_LIFETIME, Duration::from_secs),
            refresh_lifetime: login
                .refresh_token_days
                .map_or(REFRESH_TOKEN_LIFETIME, |d| Duration::from_secs(d * 86400)),
            https: public_url.starts_with("https://"),
        })
    }

    /// The issuer identifier (the public URL), as tokens carry it in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key access tokens are checked against.
    pub fn jwk(&self) -> &jsonwebtoken::jwk::Jwk {
        self.key.jwk()
    }

    /// The redirect URI to register at the upstream provider.
    pub fn upstream_redirect_uri(&self) -> &str {
        self.upstream.redirect_uri()
    }

    /// The upstream provider people sign in at (the dashboard signs in there too).
    pub fn upstream(&self) -> &login::Upstream {
        &self.upstream
    }

    /// Whether the public URL is https (cookies are then `Secure`).
    pub fn https(&self) -> bool {
        self.https
    }

    /// The authorization server metadata (RFC 8414 §2).
    pub fn metadata(&self) -> serde_json::Value {
        let at = |path: &str| format!("{}{path}", self.issuer);
        serde_json::json!({
            "issuer": self.issuer,
            "authorization_endpoint": at("/oauth/authorize"),
            "token_endpoint": at("/oauth/token"),
            "registration_endpoint": at("/oauth/register"),
            "jwks_uri": at("/oauth/jwks"),
            "scopes_supported": self.scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// The routes: the metadata, `/oauth/{authorize,callback,consent,token,register,jwks}`.
    pub fn router(self: std::sync::Arc<Self>) -> axum::Router {
        routes::router(self)
    }
}

/// The client secret Easel holds at the provider.
fn client_secret(login: &LoginSettings, base_dir: &Path) -> Result<String> {
    if let Some(file) = &login.client_secret_file {
        let path = base_dir.join(file);
        let secret = std::fs::read_to_string(&path)
            .with_context(|| format!("[server.auth.login] client_secret_file {}: cannot read it", path.display()))?;
        return Ok(secret.trim().to_string());
    }
    let var = login.client_secret_env.as_deref().unwrap_or(DEFAULT_SECRET_ENV);
    match std::env::var(var) {
        Ok(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_string()),
        _ => anyhow::bail!(
            "[server.auth.login]: the client secret for {} is not set; fix: export {var}=… (the secret of OAuth client {}), or set client_secret_file",
            login.provider,
            login.client_id
        ),
    }
}
