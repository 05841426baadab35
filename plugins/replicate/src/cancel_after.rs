//! The `Cancel-After` header on a create: Replicate cancels the prediction
//! itself when it has not finished that long after, so one the host lost track of (a
//! crash, a cancel that came before the job token) stops billing. Format
//! (Replicate's HTTP API reference, "Cancel-After"): a duration such as
//! `30s`, `5m` or `1h30m`, a bare number meaning seconds, at least 5 s.

use crate::types::{Host, ProviderError};
use easel_plugin_kit::config::bad_config;

/// The config key (`[plugins.replicate.config] cancel_after`).
pub const KEY: &str = "cancel_after";
/// Default: the host's job deadline, 15 minutes (`JOB_DEADLINE` in
/// `host/src/jobs/mod.rs`), after which the host stops polling and cancels.
pub const DEFAULT_SECS: u64 = 15 * 60;
/// Replicate's minimum.
pub const MIN_SECS: u64 = 5;

/// The header value to send: the config's duration (a string like `"10m"`
/// or a whole number of seconds), or [`DEFAULT_SECS`]; written back in
/// Replicate's form, e.g. `15m`, `1h30m`, `45s`.
///
/// Errors: `invalid-request` naming the key and the accepted forms when
/// the value does not parse or is under 5 s.
pub fn header_value(host: &dyn Host) -> Result<String, ProviderError> {
    let secs = match host.config(KEY).map(|v| v.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty()) {
        None => DEFAULT_SECS,
        Some(text) => parse_secs(&text).filter(|s| *s >= MIN_SECS).ok_or_else(|| {
            bad_config(KEY, &format!("a duration of at least {MIN_SECS} s such as \"30s\", \"10m\" or \"1h30m\" (or whole seconds), not `{text}`"))
        })?,
    };
    Ok(format(secs))
}

/// Seconds in `30s`, `5m`, `1h30m`, `2h` or a bare `90`; `None` otherwise.
pub fn parse_secs(text: &str) -> Option<u64> {
    if let Ok(bare) = text.parse::<u64>() {
        return Some(bare);
    }
    let (mut total, mut number, mut any) = (0u64, String::new(), false);
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let value: u64 = number.parse().ok()?;
        total = total.checked_add(value.checked_mul(unit)?)?;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then_some(total)
}

/// `secs` as `1h30m`, `15m`, `45s`, `2m5s`.
pub fn format(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_plugin_kit::testing::ScriptedHost;

    #[test]
    fn durations_parse_in_replicates_forms() {
        assert_eq!(parse_secs("30s"), Some(30));
        assert_eq!(parse_secs("5m"), Some(300));
        assert_eq!(parse_secs("1h30m"), Some(5400));
        assert_eq!(parse_secs("90"), Some(90));
        for bad in ["", "m", "5x", "1.5m", "10 m", "5m3"] {
            assert_eq!(parse_secs(bad), None, "{bad}");
        }
        assert_eq!(
            (format(900), format(5400), format(125), format(45)),
            ("15m".into(), "1h30m".into(), "2m5s".into(), "45s".into())
        );
    }

    #[test]
    fn the_default_is_the_hosts_job_deadline_and_bad_values_name_the_key() {
        let host = ScriptedHost::new("REPLICATE_API_TOKEN", &[]);
        assert_eq!(header_value(&host).unwrap(), "15m");
        let host = ScriptedHost::new("REPLICATE_API_TOKEN", &[(KEY, "\"1h\"")]);
        assert_eq!(header_value(&host).unwrap(), "1h");
        for bad in ["4s", "soon"] {
            let host = ScriptedHost::new("REPLICATE_API_TOKEN", &[(KEY, bad)]);
            let err = header_value(&host).unwrap_err();
            assert!(
                err.message().contains("`cancel_after`")
                    && err.message().contains("at least 5 s")
                    && err.message().contains(bad),
                "{err:?}"
            );
        }
    }
}
