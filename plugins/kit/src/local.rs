//! Helpers for plugins that talk to a self-hosted server on the operator's
//! machine or LAN (SD WebUI, Potassium/Banana): where a cloud plugin would
//! say "unavailable", these say the server is not reachable and how to
//! start it.

use crate::types::{EgressError, Host, ProviderError};

/// A config URL without surrounding quotes or its trailing slash, or `default`.
pub fn config_url(host: &dyn Host, key: &str, default: &str) -> String {
    host.config(key)
        .map(|u| u.trim().trim_matches('"').to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string()
}

/// How an egress failure reads to the user. `not_reachable` is the
/// "not reachable" text naming the server (e.g. "SD WebUI not reachable at
/// URL — start it with `--api`"); a denial is the host's own message, which
/// already says which `allowed_hosts` entry to add.
pub fn egress_error(error: EgressError, not_reachable: &str, what: &str) -> ProviderError {
    match error {
        EgressError::Connection(m) => ProviderError::Unavailable(format!("{not_reachable} ({what}: {m})")),
        EgressError::Denied(m) => ProviderError::Unavailable(m),
        EgressError::Timeout(m) => ProviderError::Timeout(format!("{what}: {m}")),
        EgressError::SecretUnavailable(m) => ProviderError::Unauthorized(format!("{what}: {m}")),
        EgressError::TooLarge(m) => ProviderError::Upstream { status: 0, message: format!("{what}: {m}") },
        EgressError::InvalidRequest(m) => ProviderError::Internal(format!("{what}: the plugin built a bad request: {m}")),
    }
}
