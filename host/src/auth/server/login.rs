//! The login itself, at the OpenID Connect provider Easel is a client of
//! (`[server.auth.login] provider`, e.g. Google): the authorization code
//! flow with PKCE S256 and a nonce, the code exchanged at the provider's
//! token endpoint (the `oauth2` crate; the secret in the body,
//! `client_secret_post`), and the ID token checked as OpenID Connect Core
//! §3.1.3.7 asks: signed by a key from the provider's JWKS, `iss` the
//! provider, `aud` Easel's client id, not expired, `nonce` the one sent.
//! Every request goes through the provider's egress policy.

use super::grants::Identity;
use crate::auth::issuer::Issuer;
use anyhow::{Context, Result, bail};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

/// The path of Easel's redirect URI at the provider.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Scopes asked of the provider unless configured.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// The ID token in the provider's token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}
impl oauth2::ExtraTokenFields for IdTokenField {}

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The claims read from a checked ID token.
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    nonce: Option<String>,
}

/// A transport failure, as the `oauth2` crate wants one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transport(String);

/// The provider's egress policy as the `oauth2` crate's HTTP client.
struct Egress<'a>(&'a Issuer);

impl<'c> oauth2::AsyncHttpClient<'c> for Egress<'_> {
    type Error = Transport;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, Transport>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let headers = request
                .headers()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
                .collect();
            let (status, body) = self
                .0
                .post(&request.uri().to_string(), headers, request.body().clone())
                .await
                .map_err(|e| Transport(format!("{e:#}")))?;
            http::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body)
                .map_err(|e| Transport(e.to_string()))
        })
    }
}

/// The upstream provider and Easel's registration there.
pub struct Upstream {
    issuer: Issuer,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    scopes: Vec<String>,
}

impl Upstream {
    /// The provider `provider` with Easel registered as `client_id` /
    /// `client_secret`, redirecting to `{public_url}/oauth/callback`.
    ///
    /// Errors: `provider` is not a URL.
    pub fn new(
        provider: &str,
        client_id: &str,
        client_secret: String,
        scopes: &[String],
        public_url: &str,
    ) -> Result<Upstream> {
        let issuer = Issuer::new(provider, None).context("[server.auth.login] provider")?;
        let scopes =
            if scopes.is_empty() { DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect() } else { scopes.to_vec() };
        Ok(Upstream {
            issuer,
            client_id: client_id.to_string(),
            client_secret,
            redirect_uri: format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')),
            scopes,
        })
    }

    /// The provider's issuer URL.
    pub fn provider(&self) -> &str {
        &self.issuer.id
    }

    /// Easel's redirect URI for MCP clients' sign-ins, as it must be
    /// registered at the provider.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The redirect URI at `path` of the same public URL (the dashboard's
    /// own, `/ui/callback`, registered at the provider beside the first).
    pub fn redirect_uri_at(&self, path: &str) -> String {
        let base = self.redirect_uri.strip_suffix(CALLBACK_PATH).unwrap_or(&self.redirect_uri);
        format!("{base}{path}")
    }

    async fn client(&self, redirect_uri: &str) -> Result<OidcClient> {
        let auth = self.issuer.endpoint("authorization_endpoint").await?;
        let token = self.issuer.endpoint("token_endpoint").await?;
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_uri(AuthUrl::from_url(auth))
            .set_token_uri(TokenUrl::from_url(token))
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string())?)
            .set_auth_type(AuthType::RequestBody))
    }

    /// Where to send the browser to sign in, coming back to `redirect_uri`
    /// with `state`; the ID token will carry `nonce`. `login_hint` (OpenID
    /// Connect Core §3.1.2.1) pre-fills the account. Also the PKCE verifier
    /// to keep for [`Upstream::identity`].
    ///
    /// Errors: the provider's metadata cannot be read.
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        login_hint: Option<&str>,
    ) -> Result<(String, String)> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let client = self.client(redirect_uri).await?;
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("nonce", nonce)
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint);
        }
        let (url, _) = request.url();
        Ok((url.to_string(), verifier.secret().clone()))
    }

    /// Who signed in: `code` from the callback at `redirect_uri` exchanged
    /// with `verifier`, and the ID token checked for `nonce`.
    ///
    /// Errors: the exchange fails (the provider's error said), or the ID
    /// token is missing or does not verify.
    pub async fn identity(&self, redirect_uri: &str, code: &str, verifier: &str, nonce: &str) -> Result<Identity> {
        let http = Egress(&self.issuer);
        let answer = self
            .client(redirect_uri)
            .await?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(refused) => anyhow::anyhow!(
                    "{} refused the sign-in code: {}{}",
                    self.issuer.id,
                    refused.error(),
                    refused.error_description().map(|d| format!(" ({d})")).unwrap_or_default()
                ),
                other => anyhow::anyhow!("exchanging the sign-in code at {}: {other:#}", self.issuer.id),
            })?;
        let Some(id_token) = answer.extra_fields().id_token.as_deref() else {
            bail!("{} answered without an ID token; fix: include `openid` in provider_scopes", self.issuer.id);
        };
        let header = jsonwebtoken::decode_header(id_token).context("the provider's ID token is not a JWT")?;
        let key = self.issuer.key(header.kid.as_deref()).await?;
        let claims: IdClaims = check_id_token(id_token, header.alg, &key, &self.issuer.id, &self.client_id)?;
        if claims.nonce.as_deref() != Some(nonce) {
            bail!("the provider's ID token carries another nonce; sign in again");
        }
        // Google wrote `email_verified` as a string for years.
        let email_verified = match claims.email_verified {
            Some(serde_json::Value::Bool(b)) => Some(b),
            Some(serde_json::Value::String(s)) => Some(s == "true"),
            _ => None,
        };
        Ok(Identity { subject: claims.sub, email: claims.email, email_verified })
    }
}

fn check_id_token(
    token: &str,
    alg: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::jwk::Jwk,
    issuer: &str,
    client_id: &str,
) -> Result<IdClaims> {
    if !crate::auth::token::asymmetric(alg) {
        bail!("the provider's ID token is signed with {alg:?}; only public-key signatures are accepted");
    }
    let decoding = jsonwebtoken::DecodingKey::from_jwk(key).context("the provider's key cannot be used")?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.leeway = crate::auth::token::LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let mut issuers = vec![issuer.trim_end_matches('/').to_string(), format!("{}/", issuer.trim_end_matches('/'))];
    // Google's ID tokens may carry its issuer without the scheme ("Validate
    // an ID token", Google Identity docs).
    if issuers[0] == "https://accounts.google.com" {
        issuers.push("accounts.google.com".into());
    }
    validation.set_issuer(&issuers);
    validation.set_audience(&[client_id]);
    jsonwebtoken::decode::<IdClaims>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| anyhow::anyhow!("the provider's ID token does not verify ({e})"))
}
