//! Small provider-neutral helpers: data URIs, `Retry-After`, egress-error
//! mapping, config lists, aspect-ratio arithmetic and progress parsing from
//! log text.

use crate::types::{EgressError, Host, HttpResponse, ProviderError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `data:<mime>;base64,<bytes>`: how both fal and Replicate take inline files
/// (PROTOCOLS §3.5, §4.2).
pub fn data_uri(mime_type: &str, data: &[u8]) -> String {
    format!("data:{mime_type};base64,{}", STANDARD.encode(data))
}

/// Decode a base64 `data:` URI into (MIME type, bytes); `None` for any other text.
pub fn decode_data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    let rest = uri.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let data = STANDARD.decode(payload.trim()).ok()?;
    Some((if mime.is_empty() { "application/octet-stream".into() } else { mime.into() }, data))
}

/// Map an egress failure to the error users see; `what` names the call.
pub fn egress_error(error: EgressError, what: &str) -> ProviderError {
    match error {
        EgressError::Timeout(m) => ProviderError::Timeout(format!("{what}: {m}")),
        EgressError::SecretUnavailable(m) => ProviderError::Unauthorized(format!("{what}: {m}")),
        EgressError::InvalidRequest(m) => ProviderError::Internal(format!("{what}: the plugin built a bad request: {m}")),
        EgressError::TooLarge(m) => ProviderError::Upstream { status: 0, message: format!("{what}: {m}") },
        EgressError::Denied(m) | EgressError::Connection(m) => ProviderError::Unavailable(format!("{what}: {m}")),
    }
}

/// `Retry-After` in milliseconds: delta-seconds only (an HTTP date gives `None`).
pub fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// A config value that is a list: JSON array text (`["a","b"]`, how the
/// host passes a TOML array) or a comma-separated string.
pub fn config_list(host: &dyn Host, key: &str) -> Vec<String> {
    let Some(raw) = host.config(key) else { return vec![] };
    if let Ok(list) = serde_json::from_str::<Vec<String>>(&raw) {
        return list.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// A config value that is a whole number (TOML integer or a numeric string).
pub fn config_u64(host: &dyn Host, key: &str) -> Option<u64> {
    host.config(key)?.trim().trim_matches('"').parse().ok()
}

/// A config value that is a boolean (TOML bool or "true"/"false").
pub fn config_bool(host: &dyn Host, key: &str) -> Option<bool> {
    match host.config(key)?.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A config URL without its trailing slash, or `default`.
pub fn config_url(host: &dyn Host, key: &str, default: &str) -> String {
    host.config(key).map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).unwrap_or_else(|| default.into()).trim_end_matches('/').to_string()
}

/// `W:H` as positive integers.
pub fn parse_ratio(ratio: &str) -> Option<(u32, u32)> {
    let (w, h) = ratio.split_once(':')?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// The ratio in `choices` closest (in log space) to `width / height`.
pub fn nearest_ratio<'a>(width: u32, height: u32, choices: &[&'a str]) -> Option<&'a str> {
    let target = (f64::from(width.max(1)) / f64::from(height.max(1))).ln();
    choices
        .iter()
        .filter_map(|c| parse_ratio(c).map(|(w, h)| (*c, ((f64::from(w) / f64::from(h)).ln() - target).abs())))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// Append `key=value` to a URL's query.
pub fn with_query(url: &str, pair: &str) -> String {
    if url.contains('?') { format!("{url}&{pair}") } else { format!("{url}?{pair}") }
}

/// Cut text to `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// The last non-empty line of log text (`\r` counts as a line break, as
/// tqdm progress bars redraw with it).
pub fn last_line(logs: &str) -> Option<String> {
    logs.split(['\n', '\r']).map(str::trim).rfind(|l| !l.is_empty()).map(String::from)
}

/// A fraction from one progress line: tqdm's `NN%|`, or `step 3/8`, `3/8`.
/// Returns `None` for lines that carry no progress.
pub fn fraction_in(line: &str) -> Option<f32> {
    if let Some(pos) = line.find('%') {
        let digits: String = line[..pos].chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let digits: String = digits.chars().rev().collect();
        if let Ok(percent) = digits.parse::<f32>()
            && (0.0..=100.0).contains(&percent)
        {
            return Some(percent / 100.0);
        }
    }
    // `a/b` with both numbers, the first such pair in the line.
    let bytes: Vec<char> = line.chars().collect();
    for (i, c) in bytes.iter().enumerate() {
        if *c != '/' || i == 0 {
            continue;
        }
        let before: String = bytes[..i].iter().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
        let after: String = bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
        if let (Ok(done), Ok(total)) = (before.parse::<u32>(), after.parse::<u32>())
            && total > 0
            && done <= total
        {
            return Some(done as f32 / total as f32);
        }
    }
    None
}

/// The text of a JSON value for messages: strings as is, others as JSON.
pub fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_round_trip() {
        let uri = data_uri("image/png", b"\x89PNG");
        assert_eq!(uri, "data:image/png;base64,iVBORw==");
        assert_eq!(decode_data_uri(&uri), Some(("image/png".into(), b"\x89PNG".to_vec())));
        assert_eq!(decode_data_uri("https://x/y.png"), None);
    }

    #[test]
    fn retry_after_takes_seconds_only() {
        let mut r = HttpResponse { status: 429, headers: vec![("retry-after".into(), "2".into())], body: vec![] };
        assert_eq!(retry_after_ms(&r), Some(2000));
        r.headers[0].1 = "Wed, 21 Oct 2026 07:28:00 GMT".into();
        assert_eq!(retry_after_ms(&r), None);
    }

    #[test]
    fn ratios_pick_the_nearest() {
        assert_eq!(nearest_ratio(1920, 1080, &["1:1", "16:9", "4:3"]), Some("16:9"));
        assert_eq!(nearest_ratio(1000, 1010, &["1:1", "16:9", "4:3"]), Some("1:1"));
        assert_eq!(nearest_ratio(650, 1000, &["9:16", "2:3", "1:1"]), Some("2:3"));
    }

    #[test]
    fn progress_lines() {
        assert_eq!(fraction_in(" 50%|█████     | 2/4 [00:01<00:01,  2.0it/s]"), Some(0.5));
        assert_eq!(fraction_in("step 3/4"), Some(0.75));
        assert_eq!(fraction_in("Using seed: 42"), None);
        assert_eq!(last_line("a\n 25%|x| 1/4\r 50%|x| 2/4\n\n").as_deref(), Some("50%|x| 2/4"));
    }

    #[test]
    fn truncates_long_text() {
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate(" ab ", 3), "ab");
    }
}
