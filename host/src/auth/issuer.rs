//! The authorization server a deployment trusts (`[server.auth] issuer`):
//! its metadata (RFC 8414 `/.well-known/oauth-authorization-server`, else
//! OpenID Connect Discovery `/.well-known/openid-configuration`), whose
//! `issuer` must equal the configured one (RFC 8414 §3.3), and its signing
//! keys (`jwks_uri`, RFC 7517), kept in memory and fetched again when a
//! token names a key id not seen yet (at most every [`REFRESH_FLOOR`]) or
//! after [`KEYS_MAX_AGE`]. All of it through the host's egress
//! ([`EgressPolicy::issuer`]).

use crate::egress::{EgressPolicy, SourceLimits};
use anyhow::{Context, Result, bail};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use url::Url;

/// Shortest time between two JWKS fetches caused by unknown key ids, so a
/// flood of tokens with made-up `kid`s costs the issuer one request.
pub const REFRESH_FLOOR: Duration = Duration::from_secs(30);
/// Keys are fetched again after this long, so a rotated-out key stops
/// being accepted.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest metadata or JWKS document accepted.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;
/// Longest one metadata or JWKS read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The issuer and what has been read from it.
pub struct Issuer {
    /// The configured issuer identifier, as tokens carry it in `iss`.
    pub id: String,
    /// Set in config, else read from the metadata.
    jwks_uri: Option<Url>,
    /// The metadata document, read on first use (and again after a failure).
    metadata: tokio::sync::OnceCell<serde_json::Value>,
    keys: Mutex<Keys>,
    policy: EgressPolicy,
}

#[derive(Default)]
struct Keys {
    set: Vec<Jwk>,
    fetched: Option<Instant>,
}

impl Issuer {
    /// An issuer at `id` (an https URL, or http on loopback), with an
    /// optional `jwks_uri` that skips discovery.
    ///
    /// Errors: `id` or `jwks_uri` is not a URL.
    pub fn new(id: &str, jwks_uri: Option<&str>) -> Result<Issuer> {
        let url = Url::parse(id).with_context(|| format!("[server.auth] issuer `{id}` is not a URL"))?;
        let jwks_uri = jwks_uri
            .map(|u| Url::parse(u).with_context(|| format!("[server.auth] jwks_uri `{u}` is not a URL")))
            .transpose()?;
        let policy = EgressPolicy::issuer(&url, SourceLimits { max_bytes: MAX_DOCUMENT_BYTES, timeout: READ_TIMEOUT });
        Ok(Issuer {
            id: id.to_string(),
            jwks_uri,
            metadata: Default::default(),
            keys: Mutex::new(Keys::default()),
            policy,
        })
    }

    /// The metadata URLs to try, in order: RFC 8414 (path appended after
    /// the well-known segment), then OpenID Connect Discovery (appended to
    /// the issuer).
    pub fn metadata_urls(&self) -> Vec<String> {
        let trimmed = self.id.trim_end_matches('/');
        let mut urls = Vec::new();
        if let Ok(url) = Url::parse(trimmed) {
            let path = url.path().trim_end_matches('/');
            let origin = url.origin().ascii_serialization();
            urls.push(format!("{origin}/.well-known/oauth-authorization-server{path}"));
        }
        urls.push(format!("{trimmed}/.well-known/openid-configuration"));
        urls
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value> {
        let response = self.policy.download(url, vec![("accept".into(), "application/json".into())]).await?;
        if response.status != 200 {
            bail!("GET {url} answered HTTP {}", response.status);
        }
        serde_json::from_slice(&response.body).with_context(|| format!("GET {url} is not JSON"))
    }

    /// POST `body` with `headers` to `url`, one of the issuer's
    /// endpoints, through its egress policy: `(status, body)`.
    ///
    /// Errors: the policy refuses the URL or a header, or the exchange fails.
    pub async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<(u16, Vec<u8>)> {
        let request =
            crate::egress::EgressRequest { method: "POST".into(), url: url.to_string(), headers, body, timeout: None };
        let response = self.policy.fetch(request).await.with_context(|| format!("POST {url}"))?;
        Ok((response.status, response.body))
    }

    /// The issuer's metadata, read on first use.
    ///
    /// Errors: no metadata URL answers JSON, or it names another issuer.
    pub async fn metadata(&self) -> Result<&serde_json::Value> {
        self.metadata.get_or_try_init(|| self.discover()).await
    }

    /// An endpoint URL from the metadata (`authorization_endpoint`,
    /// `token_endpoint`).
    ///
    /// Errors: the metadata cannot be read or lacks it.
    pub async fn endpoint(&self, field: &str) -> Result<Url> {
        let value = self.metadata().await?[field]
            .as_str()
            .with_context(|| format!("the metadata of issuer {} has no {field}", self.id))?;
        Url::parse(value).with_context(|| format!("{field} `{value}` of issuer {} is not a URL", self.id))
    }

    async fn discover(&self) -> Result<serde_json::Value> {
        let mut failures = Vec::new();
        for url in self.metadata_urls() {
            match self.get_json(&url).await {
                Ok(metadata) => {
                    let said = metadata["issuer"].as_str().unwrap_or_default();
                    if said.trim_end_matches('/') != self.id.trim_end_matches('/') {
                        bail!(
                            "the metadata at {url} names issuer `{said}`, not `{}`; fix: set the issuer to exactly the one its tokens carry",
                            self.id
                        );
                    }
                    return Ok(metadata);
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        bail!("cannot read the metadata of issuer {}: {}", self.id, failures.join("; "))
    }

    /// The key a token's header names (`kid`; without one, the only key
    /// of the set), fetching the set when it is missing, stale, or lacks
    /// that `kid` (then at most every [`REFRESH_FLOOR`]).
    ///
    /// Errors: the issuer cannot be read, or has no such key.
    pub async fn key(&self, kid: Option<&str>) -> Result<Jwk> {
        let mut keys = self.keys.lock().await;
        let stale = keys.fetched.is_none_or(|at| at.elapsed() > KEYS_MAX_AGE);
        let found = |keys: &Keys| find(&keys.set, kid).cloned();
        if !stale && let Some(key) = found(&keys) {
            return Ok(key);
        }
        let may_refresh = stale || keys.fetched.is_none_or(|at| at.elapsed() > REFRESH_FLOOR);
        if may_refresh {
            let jwks_uri = match &self.jwks_uri {
                Some(uri) => uri.clone(),
                None => self.endpoint("jwks_uri").await?,
            };
            let document = self.get_json(jwks_uri.as_str()).await?;
            let set: JwkSet = serde_json::from_value(document)
                .with_context(|| format!("{jwks_uri} is not a JSON Web Key Set (RFC 7517)"))?;
            *keys = Keys { set: set.keys, fetched: Some(Instant::now()) };
        }
        found(&keys).with_context(|| match kid {
            Some(kid) => format!("issuer {} has no signing key `{kid}`", self.id),
            None => format!("the token names no key id and issuer {} has more than one key", self.id),
        })
    }
}

fn find<'a>(set: &'a [Jwk], kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.iter().find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if set.len() == 1 => set.first(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_the_rfc_8414_way_first_then_the_openid_way() {
        let root = Issuer::new("https://id.example.com", None).unwrap();
        assert_eq!(
            root.metadata_urls(),
            [
                "https://id.example.com/.well-known/oauth-authorization-server",
                "https://id.example.com/.well-known/openid-configuration"
            ]
        );
        let realm = Issuer::new("https://kc.example.com/realms/team/", None).unwrap();
        assert_eq!(
            realm.metadata_urls(),
            [
                "https://kc.example.com/.well-known/oauth-authorization-server/realms/team",
                "https://kc.example.com/realms/team/.well-known/openid-configuration"
            ]
        );
        assert!(Issuer::new("not a url", None).is_err());
    }

    #[tokio::test]
    async fn a_flood_of_unknown_key_ids_costs_the_issuer_one_fetch_per_refresh_floor() {
        let key =
            crate::auth::server::keys::SigningKey::from_pem(crate::auth::server::keys::tests::TEST_KEY.as_bytes())
                .unwrap();
        let upstream = crate::egress::test_server::serve(serde_json::to_vec(&key.jwks()).unwrap()).await;
        let issuer = Issuer::new(&upstream.base, Some(&format!("{}/file", upstream.base))).unwrap();
        let kid = key.jwk().common.key_id.clone();
        assert_eq!(issuer.key(kid.as_deref()).await.unwrap().common.key_id, kid);
        for n in 0..50 {
            let unknown = issuer.key(Some(&format!("made-up-{n}"))).await.unwrap_err();
            assert!(format!("{unknown:#}").contains("has no signing key"), "{unknown:#}");
        }
        assert_eq!(upstream.seen.lock().unwrap().len(), 1, "50 made-up key ids fetched nothing more within 30 s");
    }
}
