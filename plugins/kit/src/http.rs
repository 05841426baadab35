//! HTTP exchanges that went wrong: the one mapping from the host's egress
//! failures to the errors users see ([`egress_error`]), and how long a
//! provider asks us to wait (`Retry-After`, `retry-after-ms`, HTTP dates).
//! Status codes are each plugin's own: what a 400 or 503 means depends on
//! the API (see `docs/providers/<name>.md`).

use crate::types::{EgressError, HttpResponse, ProviderError};

/// Who a plugin's requests go to, for the messages of failed exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream<'a> {
    /// The service as users know it: `OpenAI`, `fal`, `SD WebUI`.
    pub name: &'a str,
    /// For a server the operator runs: the whole "not reachable" sentence,
    /// saying how to start it (e.g. "SD WebUI not reachable at
    /// http://127.0.0.1:7860 — start it with `--api`"). `None` for a cloud
    /// API, whose connection failures read "cannot reach NAME at URL".
    pub not_reachable: Option<&'a str>,
}

impl<'a> Upstream<'a> {
    /// A cloud API called `name`.
    pub const fn cloud(name: &'a str) -> Upstream<'a> {
        Upstream { name, not_reachable: None }
    }

    /// A server the operator runs, with its "not reachable" sentence.
    pub const fn local(name: &'a str, not_reachable: &'a str) -> Upstream<'a> {
        Upstream { name, not_reachable: Some(not_reachable) }
    }
}

/// Map an egress failure of one call to `upstream` to the error users see.
/// `target` names the call: the URL for a cloud API, `METHOD path` for a
/// local server (whose base URL is in its `not_reachable` sentence).
///
/// | egress error | provider error | message |
/// |---|---|---|
/// | `denied` | `unavailable` | the host's, which names the `allowed_hosts` entry to add |
/// | `secret-unavailable` | `unauthorized` | the host's, which names the secret to set |
/// | `connection` | `unavailable` | `cannot reach NAME at TARGET: …`, or `NOT_REACHABLE (TARGET: …)` |
/// | `timeout` | `timeout` | `NAME did not answer in time: …` |
/// | `too-large` | `upstream` (status 0) | `NAME's answer was too large: …` (the host's text says which cap to raise) |
/// | `invalid-request` | `internal` | `the host refused the request to TARGET: …` (a plugin bug) |
pub fn egress_error(error: EgressError, upstream: &Upstream<'_>, target: &str) -> ProviderError {
    let name = upstream.name;
    match error {
        EgressError::Denied(m) => ProviderError::Unavailable(m),
        EgressError::SecretUnavailable(m) => ProviderError::Unauthorized(m),
        EgressError::Connection(m) => ProviderError::Unavailable(match upstream.not_reachable {
            Some(sentence) => format!("{sentence} ({target}: {m})"),
            None => format!("cannot reach {name} at {target}: {m}"),
        }),
        EgressError::Timeout(m) => ProviderError::Timeout(format!("{name} did not answer in time: {m}")),
        EgressError::TooLarge(m) => ProviderError::upstream(0, format!("{name}'s answer was too large: {m}")),
        EgressError::InvalidRequest(m) => {
            ProviderError::Internal(format!("the host refused the request to {target}: {m}"))
        }
    }
}

/// `Retry-After` in milliseconds: delta-seconds only (an HTTP date gives
/// `None`), for APIs whose servers send only those.
pub fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// Milliseconds to wait from `retry-after-ms` (float milliseconds) or else
/// `retry-after` (delta-seconds, or an HTTP date taken relative to
/// `now_unix_secs`; a date in the past is 0): the order the OpenAI SDK
/// honours them in (docs/providers/openai.md#errors).
pub fn retry_delay_ms(response: &HttpResponse, now_unix_secs: u64) -> Option<u64> {
    let millis = response
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0);
    if let Some(ms) = millis {
        return Some(ms.round() as u64);
    }
    let value = response.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64);
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now_unix_secs) * 1000)
}

/// Unix seconds of an HTTP date (IMF-fixdate such as `Wed, 21 Oct 2015
/// 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms), by
/// `httpdate`; `None` for anything else.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let at = httpdate::parse_http_date(text.trim()).ok()?;
    at.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: vec![],
        }
    }

    #[test]
    fn retry_after_takes_seconds_only() {
        assert_eq!(retry_after_ms(&with(&[("retry-after", "2")])), Some(2000));
        assert_eq!(retry_after_ms(&with(&[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")])), None);
    }

    #[test]
    fn retry_delay_prefers_milliseconds_then_seconds_then_dates() {
        assert_eq!(retry_delay_ms(&with(&[("retry-after-ms", "1500"), ("retry-after", "9")]), 0), Some(1500));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "7")]), 0), Some(7000));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "0.5")]), 0), Some(500));
        let at = parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(at, 1_445_412_480);
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]), at - 3), Some(3000));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]), at + 9), Some(0));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "soon")]), 0), None);
        assert_eq!(retry_delay_ms(&with(&[]), 0), None);
    }

    #[test]
    fn egress_errors_name_the_provider() {
        let url = "http://127.0.0.1:9/v1/images/generations";
        let openai = Upstream::cloud("OpenAI");
        assert_eq!(
            egress_error(EgressError::Denied("add it".into()), &openai, url),
            ProviderError::Unavailable("add it".into())
        );
        assert_eq!(
            egress_error(EgressError::SecretUnavailable("unset".into()), &openai, url),
            ProviderError::Unauthorized("unset".into())
        );
        assert_eq!(
            egress_error(EgressError::Connection("refused".into()), &openai, url),
            ProviderError::Unavailable(format!("cannot reach OpenAI at {url}: refused"))
        );
        assert_eq!(
            egress_error(EgressError::InvalidRequest("bad header".into()), &openai, url),
            ProviderError::Internal(format!("the host refused the request to {url}: bad header"))
        );
        let gemini = Upstream::cloud("Gemini");
        assert_eq!(
            egress_error(EgressError::Timeout("300 s".into()), &gemini, url),
            ProviderError::Timeout("Gemini did not answer in time: 300 s".into())
        );
        assert_eq!(
            egress_error(EgressError::TooLarge("64 MiB".into()), &gemini, url),
            ProviderError::upstream(0, "Gemini's answer was too large: 64 MiB")
        );
    }

    #[test]
    fn a_local_server_says_how_to_start_it() {
        let sd = Upstream::local("SD WebUI", "SD WebUI not reachable at http://127.0.0.1:7860 — start it with `--api`");
        assert_eq!(
            egress_error(EgressError::Connection("refused".into()), &sd, "GET /sdapi/v1/options"),
            ProviderError::Unavailable("SD WebUI not reachable at http://127.0.0.1:7860 — start it with `--api` (GET /sdapi/v1/options: refused)".into())
        );
        assert_eq!(
            egress_error(EgressError::Denied("add it".into()), &sd, "GET /"),
            ProviderError::Unavailable("add it".into())
        );
    }
}
