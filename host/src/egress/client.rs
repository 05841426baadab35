//! The process-wide HTTP client and the two things done with its results
//! everywhere: classifying a failed exchange into an [`EgressError`], and
//! reading a body under a size cap (streamed, stopped at the cap). Private
//! to `egress`: no other module opens connections.

use super::{CONNECT_TIMEOUT, EgressError, error_chain, origin, resolver};
use std::sync::Arc;
use url::Url;

/// The client: no redirects (policies follow them hop by hop), no proxy,
/// [`CONNECT_TIMEOUT`], and a resolver that refuses names resolving to
/// non-public addresses.
pub(super) fn shared() -> reqwest::Client {
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

/// A failed send or read as an [`EgressError`]: the resolver's refusal is
/// [`EgressError::Denied`] (policy, not a network fault), a failed connect
/// [`EgressError::NotConnected`]. `prefix` starts the message (e.g.
/// `"cannot fetch "`); `redact` cleans the error text of secrets.
pub(super) fn describe_error(
    url: &Url,
    error: &reqwest::Error,
    prefix: &str,
    redact: impl Fn(&str) -> String,
) -> EgressError {
    let chain = redact(&error_chain(error));
    let message = format!("{prefix}{}: {chain}", origin(url));
    if chain.contains("a private or loopback address") {
        EgressError::Denied(message)
    } else if error.is_connect() {
        EgressError::NotConnected(message)
    } else if error.is_timeout() {
        EgressError::Timeout(message)
    } else {
        EgressError::Connection(message)
    }
}

/// The body of `response`, at most `cap` bytes: refused up front when
/// `Content-Length` says more, otherwise read chunk by chunk and stopped
/// as soon as one more chunk would pass `cap` (so at most `cap` bytes are
/// ever held). Errors: `too_large()` past the cap, `failed(error)` when
/// the stream breaks.
/// Most bytes reserved for a body because its `Content-Length` says so.
const RESERVE_LIMIT: u64 = 16 << 20;

pub(super) async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
    too_large: impl Fn() -> EgressError,
    failed: impl Fn(&reqwest::Error) -> EgressError,
) -> Result<Vec<u8>, EgressError> {
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(too_large());
    }
    // Room for the declared length up front (no regrowing copies of a large
    // body), but never more than RESERVE_LIMIT on a peer's word alone.
    let declared = response.content_length().unwrap_or(0).min(cap).min(RESERVE_LIMIT);
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
