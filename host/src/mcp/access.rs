//! Who may use the HTTP server, checked on every route (`/mcp`, `/i/`,
//! `/health`): the `Host` and `Origin` allow-lists (DNS-rebinding
//! protection) and, when tokens are configured, `Authorization: Bearer`
//! (scheme in any case, RFC 7235) compared in constant time.

use anyhow::{Result, bail};
use axum::http::{HeaderMap, StatusCode};

/// The names and origins a server on `port` answers to.
#[derive(Debug, Clone)]
pub struct Access {
    /// Accepted `Host` names (any port), lower case.
    hosts: Vec<String>,
    /// Accepted `Origin`s: (scheme, host, port; `None` = any port).
    origins: Vec<(String, String, Option<u16>)>,
    /// Non-empty: a bearer token is required (except on `/health`).
    tokens: Vec<String>,
}

impl Access {
    /// Loopback names on `port`, plus `allowed_hosts` (any port, http or https).
    pub fn new(port: u16, allowed_hosts: &[String], tokens: Vec<String>) -> Access {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].into_iter().map(String::from).collect();
        let mut origins: Vec<(String, String, Option<u16>)> =
            hosts.iter().map(|h| ("http".to_string(), h.clone(), Some(port))).collect();
        for host in allowed_hosts {
            let host = normalize(host);
            origins.push(("http".into(), host.clone(), None));
            origins.push(("https".into(), host.clone(), None));
            hosts.push(host);
        }
        Access { hosts, origins, tokens }
    }

    /// The `Host` and `Origin` of a request, as rmcp checks them on `/mcp`.
    ///
    /// Errors: (403, why) for a foreign or malformed one, (400, why) when `Host` is missing.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        let Some(host) = headers.get(axum::http::header::HOST) else {
            return Err((StatusCode::BAD_REQUEST, "Bad Request: missing Host header".into()));
        };
        let allowed = host
            .to_str()
            .ok()
            .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
            .is_some_and(|h| self.hosts.contains(&normalize(h.host())));
        if !allowed {
            return Err((
                StatusCode::FORBIDDEN,
                "Forbidden: Host header is not allowed (a server behind a name needs --allow-host NAME)".into(),
            ));
        }
        if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
            let parsed = origin.to_str().ok().and_then(|o| o.parse::<axum::http::Uri>().ok());
            let allowed = parsed.is_some_and(|uri| {
                let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else { return false };
                let scheme = scheme.to_ascii_lowercase();
                let port = uri.port_u16().or(match scheme.as_str() {
                    "http" => Some(80),
                    "https" => Some(443),
                    _ => None,
                });
                let host = normalize(host);
                self.origins.iter().any(|(s, h, p)| *s == scheme && *h == host && (p.is_none() || *p == port))
            });
            if !allowed {
                return Err((StatusCode::FORBIDDEN, "Forbidden: Origin header is not allowed".into()));
            }
        }
        Ok(())
    }

    /// Whether tokens are configured at all.
    pub fn needs_token(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `header` (an `Authorization` value) is `Bearer <one of the
    /// tokens>`, the scheme in any case; compared in constant time over the
    /// sha256 of each, so lengths do not leak either.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let Some((scheme, given)) = header.map(str::trim).and_then(|h| h.split_once(' ')) else { return false };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let given = Sha256::digest(given.trim().as_bytes());
        self.tokens
            .iter()
            .fold(false, |found, token| found | bool::from(Sha256::digest(token.as_bytes()).ct_eq(&given)))
    }
}

fn normalize(host: &str) -> String {
    host.trim_matches(|c| c == '[' || c == ']').to_ascii_lowercase()
}

/// Bearer tokens from a file: one per line, blank lines and `#` comments skipped.
///
/// Errors: the file cannot be read, or holds no tokens.
pub fn read_tokens(path: &std::path::Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading tokens from {}: {e}", path.display()))?;
    let tokens: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if tokens.is_empty() {
        bail!("{} holds no tokens (one per line)", path.display());
    }
    Ok(tokens)
}

/// Bearer tokens from `EASEL_HTTP_TOKENS` (comma- or space-separated); none when it is unset.
///
/// Errors: it is set but holds no token (e.g. `" , "`), which must not
/// quietly mean "no authentication".
pub fn tokens_from_env() -> Result<Vec<String>> {
    match std::env::var("EASEL_HTTP_TOKENS") {
        Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
        Err(std::env::VarError::NotUnicode(_)) => bail!("EASEL_HTTP_TOKENS is not valid UTF-8"),
        Ok(value) => parse_token_list(&value),
    }
}

fn parse_token_list(value: &str) -> Result<Vec<String>> {
    let tokens: Vec<String> =
        value.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()).map(String::from).collect();
    if tokens.is_empty() {
        bail!(
            "EASEL_HTTP_TOKENS is set but holds no tokens; fix: list tokens, comma- or space-separated (EASEL_HTTP_TOKENS=tok1,tok2), or unset it to serve without authentication"
        );
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case_and_only_known_tokens_pass() {
        let access = Access::new(8080, &[], vec!["s3cret".into()]);
        for ok in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret ", " Bearer s3cret"] {
            assert!(access.authorized(Some(ok)), "{ok}");
        }
        for bad in ["Bearer wrong", "Basic s3cret", "s3cret", "Bearers3cret", "Bearer", ""] {
            assert!(!access.authorized(Some(bad)), "{bad}");
        }
        assert!(!access.authorized(None));
    }

    #[test]
    fn a_token_list_that_is_set_but_empty_is_refused_naming_the_variable() {
        for empty in ["", " , ", ",,", "  "] {
            let error = parse_token_list(empty).unwrap_err().to_string();
            assert!(
                error.contains("EASEL_HTTP_TOKENS is set but holds no tokens") && error.contains("fix:"),
                "{error}"
            );
        }
        assert_eq!(parse_token_list(" a, b c ").unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused_and_local_ones_pass() {
        let access = Access::new(8080, &["my.name".into()], vec![]);
        for ok in [
            vec![("host", "127.0.0.1:8080")],
            vec![("host", "localhost:8080"), ("origin", "http://localhost:8080")],
            vec![("host", "[::1]:8080"), ("origin", "http://[::1]:8080")],
            vec![("host", "My.Name"), ("origin", "https://my.name")],
        ] {
            assert!(access.check_origin(&headers(&ok)).is_ok(), "{ok:?}");
        }
        for (bad, status) in [
            (vec![("host", "evil.example.com")], StatusCode::FORBIDDEN),
            (vec![("host", "127.0.0.1:8080"), ("origin", "http://evil.example.com")], StatusCode::FORBIDDEN),
            (vec![("host", "127.0.0.1:8080"), ("origin", "http://localhost:9999")], StatusCode::FORBIDDEN),
            (vec![("host", "127.0.0.1:8080"), ("origin", "null")], StatusCode::FORBIDDEN),
            (vec![], StatusCode::BAD_REQUEST),
        ] {
            assert_eq!(access.check_origin(&headers(&bad)).unwrap_err().0, status, "{bad:?}");
        }
    }
}
