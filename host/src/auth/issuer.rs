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
    /// Set in config, or read from the metadata on first use.
    jwks_uri: Mutex<Option<Url>>,
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
        Ok(Issuer { id: id.to_string(), jwks_uri: Mutex::new(jwks_uri), keys: Mutex::new(Keys::default()), policy })
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

    /// `jwks_uri` from the issuer's metadata.
    async fn discover(&self) -> Result<Url> {
        let mut failures = Vec::new();
        for url in self.metadata_urls() {
            match self.get_json(&url).await {
                Ok(metadata) => {
                    let said = metadata["issuer"].as_str().unwrap_or_default();
                    if said.trim_end_matches('/') != self.id.trim_end_matches('/') {
                        bail!(
                            "the metadata at {url} names issuer `{said}`, not `{}`; fix: set [server.auth] issuer to exactly the issuer its tokens carry",
                            self.id
                        );
                    }
                    let jwks = metadata["jwks_uri"]
                        .as_str()
                        .with_context(|| format!("the metadata at {url} has no jwks_uri"))?;
                    return Url::parse(jwks).with_context(|| format!("jwks_uri `{jwks}` at {url} is not a URL"));
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
            let jwks_uri = {
                let mut cached = self.jwks_uri.lock().await;
                match cached.clone() {
                    Some(uri) => uri,
                    None => {
                        let uri = self.discover().await?;
                        *cached = Some(uri.clone());
                        uri
                    }
                }
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
}
