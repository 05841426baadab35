//! The authorization server's HTTP endpoints. `/oauth/authorize` checks the
//! client and its redirect URI (errors before that are shown, never sent
//! to an unchecked URI), requires PKCE S256, and sends the browser to the
//! provider with a sign-in cookie (`HttpOnly`, `SameSite=Lax`, `Secure`
//! behind https) that `/oauth/callback` and `/oauth/consent` must see
//! again; the consent form carries an anti-forgery token. `/oauth/token`
//! redeems a code once (PKCE verifier, redirect URI and client checked)
//! or a refresh token (rotated), answering as RFC 6749 §5 says.

use super::AuthorizationServer;
use super::clients::{self, ClientMetadata};
use super::grants::{Client, Code, Grant, Pending, RefreshRefusal, random_token, sha256_hex};
use super::pages;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

type Server = Arc<AuthorizationServer>;
type Params = HashMap<String, String>;

pub fn router(server: Server) -> axum::Router {
    axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/register", post(register))
        .route("/oauth/authorize", get(authorize))
        .route(super::login::CALLBACK_PATH, get(callback))
        .route("/oauth/consent", post(consent))
        .route("/oauth/token", post(token))
        .with_state(server)
}

async fn metadata(State(server): State<Server>) -> Response {
    axum::Json(server.metadata()).into_response()
}

async fn jwks(State(server): State<Server>) -> Response {
    axum::Json(server.key.jwks()).into_response()
}

/// An OAuth error answer (RFC 6749 §5.2, RFC 7591 §3.2.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn register(State(server): State<Server>, body: axum::body::Bytes) -> Response {
    let metadata: ClientMetadata = match serde_json::from_slice(&body) {
        Ok(metadata) => metadata,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                &format!("not client metadata JSON: {e}"),
            );
        }
    };
    let (client, secret) = match clients::from_registration(&metadata) {
        Ok(made) => made,
        Err(invalid) => return oauth_error(StatusCode::BAD_REQUEST, invalid.error, &invalid.description),
    };
    match server.grants.register(client.clone()).await {
        Ok(Ok(())) => {}
        Ok(Err(full)) => return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &full),
        Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &format!("{e:#}")),
    }
    let mut answer = serde_json::json!({
        "client_id": client.client_id,
        "client_id_issued_at": chrono::Utc::now().timestamp(),
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.auth_method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    if let Some(name) = &client.client_name {
        answer["client_name"] = name.clone().into();
    }
    if let Some(secret) = secret {
        answer["client_secret"] = secret.into();
        answer["client_secret_expires_at"] = 0.into();
    }
    (StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], axum::Json(answer)).into_response()
}

/// The client `client_id`: registered, or described by its metadata URL.
async fn find_client(server: &AuthorizationServer, client_id: &str) -> Result<Client, String> {
    if clients::is_metadata_url(client_id) {
        return clients::from_metadata_document(&server.client_metadata, client_id).await.map_err(|e| e.description);
    }
    match server.grants.client(client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(format!(
            "no client `{client_id}` is registered here; remove the server from your client and add it again so it registers anew"
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// `redirect_uri` with `params` added to its query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return pages::error(StatusCode::BAD_REQUEST, "the client's redirect URI is not a URL"),
    };
    url.query_pairs_mut().extend_pairs(params);
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string()), (header::CACHE_CONTROL, "no-store".into())])
        .into_response()
}

fn is_pkce_value(text: &str) -> bool {
    (43..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn cookie_name(server: &AuthorizationServer) -> &'static str {
    if server.https { "__Host-easel_signin" } else { "easel_signin" }
}

/// The sign-in cookie's value in `headers`, if any.
fn cookie(server: &AuthorizationServer, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(server);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn set_cookie(server: &AuthorizationServer, value: &str, max_age: u64) -> String {
    let secure = if server.https { "; Secure" } else { "" };
    format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}", cookie_name(server))
}

/// The scopes to grant for `requested`: those of the server it names, or
/// all of them when it names none.
fn granted_scopes(server: &AuthorizationServer, requested: Option<&String>) -> Result<String, String> {
    let requested: Vec<&str> = requested.map(|s| s.split_whitespace().collect()).unwrap_or_default();
    if requested.is_empty() {
        return Ok(server.scopes.join(" "));
    }
    let granted: Vec<&str> = requested.iter().copied().filter(|s| server.scopes.iter().any(|k| k == s)).collect();
    if granted.is_empty() && !server.scopes.is_empty() {
        return Err(format!(
            "none of the scopes asked for ({}) is offered; this server offers {}",
            requested.join(" "),
            server.scopes.join(" ")
        ));
    }
    Ok(granted.join(" "))
}

async fn authorize(State(server): State<Server>, Query(params): Query<Params>) -> Response {
    let Some(client_id) = params.get("client_id") else {
        return pages::error(StatusCode::BAD_REQUEST, "the request names no client_id");
    };
    let client = match find_client(&server, client_id).await {
        Ok(client) => client,
        Err(why) => return pages::error(StatusCode::BAD_REQUEST, &why),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if clients::redirect_matches(&client, uri) => uri.clone(),
        Some(uri) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the redirect URI {uri} is not one the client registered, so Easel will not send anything there"
                ),
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return pages::error(StatusCode::BAD_REQUEST, "the request names no redirect_uri"),
    };
    // From here on, errors go back to the client (RFC 6749 §4.1.2.1).
    let state = params.get("state").cloned();
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description), ("iss", server.issuer.as_str())];
        if let Some(state) = &state {
            pairs.push(("state", state));
        }
        redirect_with(&redirect_uri, &pairs)
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return fail("unsupported_response_type", "only response_type=code is offered");
    }
    let challenge = params.get("code_challenge").filter(|c| is_pkce_value(c));
    let Some(challenge) = challenge.filter(|_| params.get("code_challenge_method").map(String::as_str) == Some("S256"))
    else {
        return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256");
    };
    if let Some(resource) = params.get("resource")
        && resource.trim_end_matches('/') != server.resource
        && resource.trim_end_matches('/') != server.issuer
    {
        return fail("invalid_target", &format!("this server issues tokens only for {}", server.resource));
    }
    let scope = match granted_scopes(&server, params.get("scope")) {
        Ok(scope) => scope,
        Err(why) => return fail("invalid_scope", &why),
    };
    let (browser, nonce) = (random_token(), random_token());
    let pending = Pending {
        client,
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        code_challenge: challenge.clone(),
        scope,
        resource: server.resource.clone(),
        browser: browser.clone(),
        upstream_verifier: String::new(),
        nonce: nonce.clone(),
        identity: None,
        csrf: random_token(),
        started: Instant::now(),
    };
    let id = match server.grants.begin(pending) {
        Ok(id) => id,
        Err(busy) => return fail("temporarily_unavailable", &busy),
    };
    let (url, verifier) = match server.upstream.authorize_url(server.upstream.redirect_uri(), &id, &nonce, None).await {
        Ok(made) => made,
        Err(e) => {
            server.grants.finish(&id);
            return pages::error(StatusCode::BAD_GATEWAY, &format!("cannot reach the sign-in provider: {e:#}"));
        }
    };
    server.grants.set_upstream_verifier(&id, verifier);
    let lifetime = super::grants::PENDING_LIFETIME.as_secs();
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url),
            (header::SET_COOKIE, set_cookie(&server, &browser, lifetime)),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

/// The sign-in `id` when this browser started it.
#[allow(clippy::result_large_err)]
fn own_pending(server: &AuthorizationServer, id: Option<&String>, headers: &HeaderMap) -> Result<Pending, Response> {
    let expired = || {
        pages::error(
            StatusCode::BAD_REQUEST,
            "this sign-in has expired or is unknown (sign-ins must finish within 10 minutes)",
        )
    };
    let pending = id.and_then(|id| server.grants.pending(id)).ok_or_else(expired)?;
    if cookie(server, headers).as_deref() != Some(pending.browser.as_str()) {
        return Err(pages::error(
            StatusCode::BAD_REQUEST,
            "this sign-in was started in another browser (or cookies are blocked for this site); start again in one browser",
        ));
    }
    Ok(pending)
}

async fn callback(State(server): State<Server>, headers: HeaderMap, Query(params): Query<Params>) -> Response {
    let id = params.get("state");
    let pending = match own_pending(&server, id, &headers) {
        Ok(pending) => pending,
        Err(page) => return page,
    };
    let id = id.cloned().unwrap_or_default();
    if let Some(error) = params.get("error") {
        server.grants.finish(&id);
        let description =
            params.get("error_description").map(String::as_str).unwrap_or("the sign-in was not completed");
        let mut pairs =
            vec![("error", "access_denied"), ("error_description", description), ("iss", server.issuer.as_str())];
        if let Some(state) = &pending.state {
            pairs.push(("state", state));
        }
        tracing::info!("sign-in at the provider ended with {error}: {description}");
        return redirect_with(&pending.redirect_uri, &pairs);
    }
    let Some(code) = params.get("code") else {
        return pages::error(StatusCode::BAD_REQUEST, "the provider sent no code");
    };
    let identity = match server
        .upstream
        .identity(server.upstream.redirect_uri(), code, &pending.upstream_verifier, &pending.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            server.grants.finish(&id);
            return pages::error(StatusCode::BAD_GATEWAY, &format!("{e:#}"));
        }
    };
    let user = identity.email.clone().unwrap_or_else(|| identity.subject.clone());
    server.grants.signed_in(&id, identity);
    let client = pending.client.client_name.as_deref().unwrap_or(&pending.client.client_id);
    let redirect_to = url::Url::parse(&pending.redirect_uri)
        .map(|u| match u.host_str() {
            Some(_) => u.origin().ascii_serialization(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    pages::consent(&pages::Consent {
        client,
        redirect_to: &redirect_to,
        user: &user,
        scope: &pending.scope,
        request: &id,
        csrf: &pending.csrf,
    })
}

async fn consent(State(server): State<Server>, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    let pending = match own_pending(&server, form.get("request"), &headers) {
        Ok(pending) => pending,
        Err(page) => return page,
    };
    if form.get("csrf") != Some(&pending.csrf) {
        return pages::error(StatusCode::FORBIDDEN, "the consent form did not come from this sign-in");
    }
    let Some(identity) = pending.identity.clone() else {
        return pages::error(StatusCode::BAD_REQUEST, "you have not signed in at the provider yet");
    };
    // Spent whatever the answer, so a form cannot be posted twice.
    server.grants.finish(form.get("request").map(String::as_str).unwrap_or(""));
    let state = pending.state.clone();
    let mut pairs: Vec<(&str, String)> = vec![("iss", server.issuer.clone())];
    if form.get("decision").map(String::as_str) == Some("allow") {
        let code = server.grants.issue_code(Code {
            grant: Grant {
                client_id: pending.client.client_id.clone(),
                scope: pending.scope.clone(),
                resource: pending.resource.clone(),
                identity,
            },
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge.clone(),
        });
        pairs.push(("code", code));
    } else {
        pairs.push(("error", "access_denied".into()));
        pairs.push(("error_description", "the user did not allow the client".into()));
    }
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut response = redirect_with(&pending.redirect_uri, &pairs);
    if let Ok(clear) = set_cookie(&server, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

/// The client a token request authenticates as (RFC 6749 §2.3.1): its id
/// from the form or HTTP Basic, and its secret when it has one.
async fn token_client(server: &AuthorizationServer, headers: &HeaderMap, form: &Params) -> Result<String, Response> {
    let unauthorized = |why: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, secret) = match (&basic, form.get("client_id")) {
        (Some((id, secret)), _) => (id.clone(), Some(secret.clone())),
        (None, Some(id)) => (id.clone(), form.get("client_secret").cloned()),
        (None, None) => return Err(unauthorized("the request names no client_id")),
    };
    if clients::is_metadata_url(&client_id) {
        // A metadata-document client is public: PKCE binds its codes.
        return Ok(client_id);
    }
    let client = match server.grants.client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(unauthorized(&format!("no client `{client_id}` is registered here"))),
        Err(e) => return Err(oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &format!("{e:#}"))),
    };
    if let Some(expected) = &client.secret_sha256
        && secret.as_deref().map(sha256_hex).as_ref() != Some(expected)
    {
        return Err(unauthorized("the client secret is missing or wrong"));
    }
    Ok(client_id)
}

async fn token(State(server): State<Server>, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    let client_id = match token_client(&server, &headers, &form).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let invalid_grant = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let (grant, grant_id) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code").and_then(|c| server.grants.redeem_code(c)) else {
                return invalid_grant("the code is unknown, used already, or expired (codes last 60 s)");
            };
            if code.grant.client_id != client_id {
                return invalid_grant("the code was issued to another client");
            }
            if let Some(uri) = form.get("redirect_uri")
                && *uri != code.redirect_uri
            {
                return invalid_grant("redirect_uri differs from the one the code was sent to");
            }
            let Some(verifier) = form.get("code_verifier").filter(|v| is_pkce_value(v)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code_verifier is required (PKCE)");
            };
            let computed =
                oauth2::PkceCodeChallenge::from_code_verifier_sha256(&oauth2::PkceCodeVerifier::new(verifier.clone()));
            if computed.as_str() != code.code_challenge {
                return invalid_grant("code_verifier does not match the code_challenge");
            }
            (code.grant, None)
        }
        Some("refresh_token") => {
            let Some(token) = form.get("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required");
            };
            match server.grants.redeem_refresh(token, &client_id).await {
                Ok(Ok((grant, grant_id))) => (grant, Some(grant_id)),
                Ok(Err(refusal)) => {
                    return invalid_grant(match refusal {
                        RefreshRefusal::Unknown => "the refresh token is unknown or revoked; sign in again",
                        RefreshRefusal::Expired => "the refresh token has expired; sign in again",
                        RefreshRefusal::OtherClient => "the refresh token was issued to another client",
                        RefreshRefusal::Reused => {
                            "the refresh token was used before, so every token of this sign-in is revoked; sign in again"
                        }
                    });
                }
                Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &format!("{e:#}")),
            }
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant type `{other}` is not offered"),
            );
        }
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"),
    };
    if let Some(resource) = form.get("resource")
        && resource.trim_end_matches('/') != grant.resource
        && resource.trim_end_matches('/') != server.issuer
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            &format!("tokens are only for {}", grant.resource),
        );
    }
    match issue(&server, grant, grant_id).await {
        Ok(answer) => {
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], axum::Json(answer))
                .into_response()
        }
        Err(e) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &format!("{e:#}")),
    }
}

/// An access token and a new refresh token for `grant`.
async fn issue(
    server: &AuthorizationServer,
    grant: Grant,
    grant_id: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let now = chrono::Utc::now().timestamp();
    let lifetime = server.access_lifetime.as_secs();
    let mut claims = serde_json::json!({
        "iss": server.issuer,
        "sub": grant.identity.subject,
        "aud": grant.resource,
        "iat": now,
        "exp": now + lifetime as i64,
        "jti": random_token(),
        "client_id": grant.client_id,
        "scope": grant.scope,
    });
    if let Some(email) = &grant.identity.email {
        claims["email"] = email.clone().into();
    }
    if let Some(verified) = grant.identity.email_verified {
        claims["email_verified"] = verified.into();
    }
    let access_token = server.key.sign(&claims)?;
    let scope = grant.scope.clone();
    let refresh_token = server.grants.issue_refresh(grant, grant_id, server.refresh_lifetime).await?;
    Ok(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": refresh_token,
        "scope": scope,
    }))
}
