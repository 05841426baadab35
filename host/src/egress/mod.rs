//! The one door out: every outbound HTTP connection the host opens leaves
//! through an [`EgressPolicy`] of this module, and nothing else in the crate
//! holds an HTTP client. A policy is named for what it serves:
//!
//! | policy                            | built by                      | may reach                                                | cap, timeout                         |
//! |-----------------------------------|-------------------------------|----------------------------------------------------------|--------------------------------------|
//! | [`EgressPolicy::new`] (a plugin)  | `providers`, per `[plugins.ID]` | only its `allowed_hosts`                                | `max_response_mib`, `timeout_secs`   |
//! | [`EgressPolicy::inputs`]          | `inputs`, from `[inputs]`     | public hosts; private ones only when `[inputs] allowed_hosts` lists them | `[inputs] max_mib`, 60 s  |
//! | [`EgressPolicy::plugin_source`]   | `providers::source`, per `url` or `oci` | public https hosts; the configured URL's (registry's) own host | [`SourceLimits`] (64 MiB, 120 s) |
//! | [`EgressPolicy::publish`]         | `registry::push`              | public https hosts; the registry's own host               | [`SourceLimits`]                     |
//!
//! A plugin's policy also opens its server-sent-event streams and
//! websockets ([`streams`]) under the same rules.
//!
//! Each has one [`fetch`](EgressPolicy::fetch) (one request, redirects
//! returned), one [`download`](EgressPolicy::download) (GET following up to
//! [`MAX_REDIRECTS`] redirects, every hop checked again), one size cap
//! (bodies are streamed and cut at the cap, never buffered past it) and one
//! redaction of the plugin's secrets. Headers are checked by [`headers`],
//! secrets substituted and redacted by [`secrets`], and names resolved to
//! public addresses only (`resolver`). This module uses nothing from
//! `config`: callers pass parsed [`AllowedHost`](allowed_hosts::AllowedHost)s
//! and plain numbers.

pub mod allowed_hosts;
pub mod cache;
mod client;
pub mod headers;
mod policy;
mod resolver;
pub mod scripted;
pub mod secrets;
pub mod streams;
#[cfg(test)]
pub(crate) mod test_server;

pub use policy::{EgressPolicy, PolicyName, SourceLimits};
use std::time::Duration;
use url::Url;

/// Connect timeout for every upstream connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most redirects [`EgressPolicy::download`] follows (each hop re-checked).
pub const MAX_REDIRECTS: usize = 5;

/// An HTTP request as a plugin (or the host, for image URLs) asks for it.
#[derive(Debug, Clone, Default)]
pub struct EgressRequest {
    /// An HTTP method, any case (`GET`, `post`).
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Values may hold `{{secret:NAME}}`.
    pub headers: Vec<(String, String)>,
    /// The request body; empty sends none.
    pub body: Vec<u8>,
    /// Limit for the whole exchange; capped by the policy's own timeout.
    pub timeout: Option<Duration>,
}

/// A response with secrets already redacted; header names lower-case.
#[derive(Debug, Clone)]
pub struct EgressResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Lower-case names; `content-length` is that of `body`.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from any content coding, at most the policy's cap.
    pub body: Vec<u8>,
}

impl EgressResponse {
    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why egress refused or failed; the text is safe to show (no secrets).
/// Display prefixes the kind (`egress denied: …`); [`EgressError::message`]
/// is the text alone.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    /// The policy does not allow the target (host, address or scheme).
    #[error("egress denied: {0}")]
    Denied(String),
    /// A `{{secret:NAME}}` that is undeclared, unset or not bound to the target.
    #[error("secret unavailable: {0}")]
    SecretUnavailable(String),
    /// A malformed URL, method or header.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The exchange failed after a connection may have been made.
    #[error("connection failed: {0}")]
    Connection(String),
    /// No connection was made (refused, DNS, TLS handshake): the request
    /// provably never reached the upstream, so retrying it cannot run it twice.
    #[error("connection failed: {0}")]
    NotConnected(String),
    /// The policy's (or the request's) timeout passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The body would pass the policy's size cap; reading stopped there.
    #[error("response too large: {0}")]
    TooLarge(String),
}

impl EgressError {
    /// Whether the request may have reached the upstream (and so may have
    /// done something there): false for refusals and failed connects.
    pub fn may_have_reached_upstream(&self) -> bool {
        !matches!(
            self,
            EgressError::Denied(_)
                | EgressError::SecretUnavailable(_)
                | EgressError::InvalidRequest(_)
                | EgressError::NotConnected(_)
        )
    }

    /// The message without the kind prefix (what host-side callers show).
    pub fn message(&self) -> &str {
        match self {
            EgressError::Denied(m)
            | EgressError::SecretUnavailable(m)
            | EgressError::InvalidRequest(m)
            | EgressError::Connection(m)
            | EgressError::NotConnected(m)
            | EgressError::Timeout(m)
            | EgressError::TooLarge(m) => m,
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
