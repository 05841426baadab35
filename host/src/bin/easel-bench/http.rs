//! The bench's HTTP client (`reqwest`), kept alive, to loopback.

use std::time::Duration;

/// Generous: a tool call under load may wait for a plugin permit.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One reqwest client for a load: HTTP/1.1 to loopback, kept-alive connections.
pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: a provider must be installed
    // before a client is built, even though loopback http uses no TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("the bench's HTTP client configuration is valid")
}
