//! A stand-in for the network behind a plugin's [`EgressPolicy`]: used by
//! `easel plugins check` to answer a plugin's requests from a script
//! instead of an upstream. Everything in front of the network still runs
//! (allow-list, header rules, secret substitution toward bound hosts, the
//! timeout); everything behind it too (size cap, redaction of secrets from
//! headers and body), so a check sees what an operator's deployment would.
//!
//! [`EgressPolicy`]: super::EgressPolicy

use super::EgressError;
use std::time::Duration;
use url::Url;

/// A request as it would have gone on the wire: secrets filled in.
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// Upper-case method.
    pub method: String,
    pub url: Url,
    /// Header names as the plugin gave them, values with secrets filled in.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The exchange's time limit (the plugin's ask, capped by the policy).
    pub timeout: Duration,
}

impl SentRequest {
    /// First header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the script says the upstream did.
#[derive(Debug, Clone)]
pub enum ScriptedAnswer {
    /// An HTTP response (header names any case; the body as sent, uncompressed).
    Response { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// The upstream never answered: the plugin gets `timeout` as if its time ran out.
    Silent,
    /// Nothing listens there: the plugin gets `connection`.
    Refused,
}

/// Answers every request a plugin sends (see the module docs).
pub trait ScriptedUpstream: Send + Sync {
    fn answer(&self, request: &SentRequest) -> ScriptedAnswer;
}

/// The error a plugin sees for a [`ScriptedAnswer::Refused`] answer.
pub(super) fn refused(url: &Url) -> EgressError {
    EgressError::Connection(format!("cannot connect to {}: connection refused", super::origin(url)))
}
