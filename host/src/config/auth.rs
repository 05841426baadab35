//! `[server.auth]` and `[server.auth.login]`: who may sign in over HTTP.
//! Either Easel trusts an outside authorization server (`issuer`), or it
//! is one itself and delegates the login to an OpenID provider such as
//! Google (`[server.auth.login]`, [`crate::auth::server`]).

use serde::Deserialize;
use std::path::PathBuf;

/// `[server.auth]`: Easel as an OAuth 2.1 resource server (MCP
/// authorization). Every `/mcp` request then needs a bearer JWT from the
/// issuer, for the audience `{public_url}/mcp`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// An outside authorization server's issuer identifier, exactly as its
    /// tokens carry it in `iss` (`https://kc.example.com/realms/team`);
    /// its metadata and keys are read from it. Exactly one of `issuer` and
    /// `[server.auth.login]` is set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The issuer's key set, when its metadata cannot be discovered.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values. Default: `{public_url}/mcp` and `{public_url}`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scopes every token must grant (advertised in the metadata). Default: none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Who may use the tools: addresses and `*@domain` entries, any case.
    /// Empty: every user the issuer signs in. Others may sign in, and
    /// every tool tells them they are not allowed and why.
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    /// Who sees everyone's usage; admins are always allowed.
    #[serde(default)]
    pub admin_emails: Vec<String>,
    /// `[server.auth.login]`: Easel is the authorization server.
    #[serde(default)]
    pub login: Option<LoginSettings>,
}

impl AuthSettings {
    /// Who signs users in, for messages: the issuer or the login provider.
    pub fn signs_in(&self) -> &str {
        match (&self.login, &self.issuer) {
            (Some(login), _) => &login.provider,
            (None, Some(issuer)) => issuer,
            (None, None) => "the issuer",
        }
    }
}

/// `[server.auth.login]`: Easel's own authorization server (RFC 8414
/// metadata, dynamic client registration, PKCE, refresh tokens, consent)
/// for MCP clients, with the login itself at an upstream OpenID Connect
/// provider that Easel is a registered client of.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// The OpenID provider's issuer (`https://accounts.google.com`); its
    /// endpoints come from its discovery document.
    pub provider: String,
    /// Easel's client id at the provider. Its redirect URI there is
    /// `{public_url}/oauth/callback`.
    pub client_id: String,
    /// The environment variable holding the client secret (default
    /// `EASEL_LOGIN_CLIENT_SECRET`), unless `client_secret_file` is set.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (relative to plugins.toml).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The EC P-256 private key (PKCS#8 PEM) that signs Easel's access
    /// tokens (relative to plugins.toml). Keep it: tokens and sign-ins
    /// survive restarts only with the same key.
    pub signing_key: PathBuf,
    /// Scopes asked of the provider. Default: `openid email profile`.
    #[serde(default)]
    pub provider_scopes: Vec<String>,
    /// Access token lifetime, seconds. Default 3600.
    #[serde(default)]
    pub access_token_secs: Option<u64>,
    /// Refresh token lifetime, days. Default 30.
    #[serde(default)]
    pub refresh_token_days: Option<u64>,
    /// Where Client ID Metadata Documents may be read besides public https
    /// hosts: `http://`/`https://` origins of private or loopback
    /// addresses, given literally (`http://127.0.0.1:8123`).
    #[serde(default)]
    pub client_metadata_hosts: Vec<String>,
}
