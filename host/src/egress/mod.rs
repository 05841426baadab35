//! The host side of the `egress` import: every HTTP request a plugin makes
//! goes through [`EgressPolicy::fetch`], which checks the plugin's
//! allow-list and headers (`headers`), fills in `{{secret:NAME}}`
//! references only toward hosts the secret is bound to, enforces timeouts
//! and a response-size cap, decodes any content coding, and redacts secret
//! values from everything that comes back.

pub mod allowed_hosts;
pub mod headers;
mod resolver;
pub mod secrets;

use allowed_hosts::AllowedHost;
use secrets::SecretSet;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Connect timeout for every upstream connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most redirects [`EgressPolicy::download`] follows (each hop re-checked).
pub const MAX_REDIRECTS: usize = 5;

/// An HTTP request as a plugin (or the host, for image URLs) asks for it.
#[derive(Debug, Clone, Default)]
pub struct EgressRequest {
    pub method: String,
    pub url: String,
    /// Values may hold `{{secret:NAME}}`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Option<Duration>,
}

/// A response with secrets already redacted; header names lower-case.
#[derive(Debug, Clone)]
pub struct EgressResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl EgressError {
    /// Whether the request may have reached the upstream (and so may have
    /// done something there): false for refusals and failed connects.
    pub fn may_have_reached_upstream(&self) -> bool {
        !matches!(self, EgressError::Denied(_) | EgressError::SecretUnavailable(_) | EgressError::InvalidRequest(_) | EgressError::NotConnected(_))
    }
}

impl EgressResponse {
    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why egress refused or failed; the text is safe to show (no secrets).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    #[error("egress denied: {0}")]
    Denied(String),
    #[error("secret unavailable: {0}")]
    SecretUnavailable(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("connection failed: {0}")]
    Connection(String),
    /// No connection was made (refused, DNS, TLS handshake): the request
    /// provably never reached the upstream, so retrying it cannot run it twice.
    #[error("connection failed: {0}")]
    NotConnected(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("response too large: {0}")]
    TooLarge(String),
}

/// One plugin's egress rights, built from its `plugins.toml` entry.
pub struct EgressPolicy {
    plugin: String,
    allow: Vec<AllowedHost>,
    secrets: SecretSet,
    max_response_bytes: u64,
    max_timeout: Duration,
    client: reqwest::Client,
}

/// The process-wide HTTP client: no redirects, no proxy, a resolver that
/// refuses names resolving to private addresses.
pub fn shared_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT)
                .dns_resolver(Arc::new(resolver::PublicOnlyResolver))
                .user_agent(concat!("easel/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client configuration is valid")
        })
        .clone()
}

impl EgressPolicy {
    /// `max_timeout` caps any per-request timeout (the plugin's call limit).
    pub fn new(plugin: &str, allow: Vec<AllowedHost>, secrets: SecretSet, max_response_bytes: u64, max_timeout: Duration) -> Self {
        EgressPolicy { plugin: plugin.into(), allow, secrets, max_response_bytes, max_timeout, client: shared_client() }
    }

    /// The largest body this plugin may receive or return, bytes
    /// (`max_response_mib` of its `[plugins.ID]` entry).
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The secrets this plugin may reference.
    pub fn secrets(&self) -> &SecretSet {
        &self.secrets
    }

    /// Refuse URLs that no `allowed_hosts` entry covers, saying which entry to add.
    pub fn check_url(&self, url: &Url) -> Result<(), EgressError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::InvalidRequest(format!("only http and https URLs are allowed, not `{}`", url.scheme())));
        }
        if self.allow.iter().any(|entry| entry.matches(url)) {
            return Ok(());
        }
        let suggestion = AllowedHost::suggestion_for(url);
        let listed = if self.allow.is_empty() {
            "its allowed_hosts is empty".to_string()
        } else {
            format!("it allows {}", self.allow.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        };
        Err(EgressError::Denied(format!(
            "plugin `{}` may not reach {suggestion} ({listed}); to allow it, add \"{suggestion}\" to allowed_hosts in [plugins.{}] of plugins.toml",
            self.plugin, self.plugin
        )))
    }

    /// Perform one request under this policy. Redirects are returned, not followed.
    pub async fn fetch(&self, request: EgressRequest) -> Result<EgressResponse, EgressError> {
        let url = Url::parse(&request.url).map_err(|e| EgressError::InvalidRequest(format!("bad URL: {e}")))?;
        self.check_url(&url)?;
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| EgressError::InvalidRequest(format!("bad method `{}`", request.method)))?;
        let mut builder = self.client.request(method, url.clone());
        for (name, value) in headers::plugin_headers(&request.headers, self.secrets.is_bound_to(&url))? {
            let value = self.secrets.substitute(&value, &url)?;
            builder = builder.header(name.as_str(), value);
        }
        if !request.body.is_empty() {
            builder = builder.body(self.secrets.substitute_bytes(&request.body, &url)?);
        }
        let timeout = request.timeout.unwrap_or(self.max_timeout).min(self.max_timeout);
        let exchange = async {
            let response = builder.send().await.map_err(|e| self.describe_send_error(&url, &e))?;
            self.read_response(response, &url).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| EgressError::Timeout(format!("{} did not answer within {} s", origin(&url), timeout.as_secs_f32())))?
    }

    /// GET `url` for the host (image downloads), following up to
    /// [`MAX_REDIRECTS`] redirects, each hop checked against the allow-list.
    pub async fn download(&self, url: &str, headers: Vec<(String, String)>) -> Result<EgressResponse, EgressError> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .fetch(EgressRequest { method: "GET".into(), url: current.clone(), headers: headers.clone(), ..Default::default() })
                .await?;
            if !(300..400).contains(&response.status) {
                return Ok(response);
            }
            let location = response
                .header("location")
                .ok_or_else(|| EgressError::Connection(format!("redirect {} without a Location", response.status)))?;
            let base = Url::parse(&current).map_err(|e| EgressError::InvalidRequest(e.to_string()))?;
            current = base.join(location).map_err(|e| EgressError::InvalidRequest(format!("bad redirect: {e}")))?.to_string();
        }
        Err(EgressError::Connection(format!("more than {MAX_REDIRECTS} redirects from {url}")))
    }

    async fn read_response(&self, mut response: reqwest::Response, url: &Url) -> Result<EgressResponse, EgressError> {
        let cap = self.max_response_bytes;
        let too_large = || {
            EgressError::TooLarge(format!(
                "{} sent more than {} MiB; raise max_response_mib in [plugins.{}] if this is expected",
                origin(url),
                cap >> 20,
                self.plugin
            ))
        };
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(too_large());
        }
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), self.secrets.redact(&String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe_send_error(url, &e))? {
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let coding = headers.iter().find(|(k, _)| k == "content-encoding").map(|(_, v)| v.as_str());
        let body = self.secrets.redact_bytes(headers::decode_body(coding, body, cap, &origin(url))?);
        let headers = headers::plugin_response_headers(headers, body.len());
        Ok(EgressResponse { status, headers, body })
    }

    fn describe_send_error(&self, url: &Url, error: &reqwest::Error) -> EgressError {
        let chain = self.secrets.redact(&error_chain(error));
        if chain.contains("a private or loopback address") {
            // The public-only resolver refused the name: policy, not a network fault.
            EgressError::Denied(format!("{}: {chain}", origin(url)))
        } else if error.is_connect() {
            EgressError::NotConnected(format!("{}: {chain}", origin(url)))
        } else if error.is_timeout() {
            EgressError::Timeout(format!("{}: {chain}", origin(url)))
        } else {
            EgressError::Connection(format!("{}: {chain}", origin(url)))
        }
    }
}

/// `scheme://host[:port]` of a URL, for messages (never the path or query,
/// which may carry tokens).
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// An error and its sources joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}
