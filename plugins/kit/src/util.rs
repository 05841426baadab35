//! Small provider-neutral helpers: base64 and data URIs, MIME sniffing,
//! `Retry-After`, egress-error mapping for cloud APIs, config parsing,
//! size and aspect-ratio arithmetic, progress parsing from log text,
//! message text and random ids.

use crate::types::{EgressError, Host, HttpResponse, ProviderError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Base64 (standard alphabet, padded).
pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decode base64 image text, with or without a `data:<mime>;base64,` prefix
/// (forks and proxies of local servers may add one); whitespace and missing
/// padding are tolerated.
pub fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',')?.1,
        None => text,
    };
    let clean: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(clean.as_bytes()).ok().or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_end_matches('=')).ok())
}

/// `data:<mime>;base64,<bytes>`: how fal, Replicate and many self-hosted
/// handlers take inline files (PROTOCOLS §3.5, §4.2).
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

/// MIME type from magic bytes (PNG, JPEG, WebP, GIF), for servers whose
/// answers do not say which format they chose.
pub fn sniff_mime(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "image/webp"
    } else if data.starts_with(b"GIF8") {
        "image/gif"
    } else {
        "application/octet-stream"
    }
}

/// Map an egress failure from a cloud API to the error users see; `what`
/// names the call. Self-hosted servers use [`crate::local::egress_error`].
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

/// A config URL without its trailing slash, or `default`. Self-hosted
/// servers use [`crate::local::config_url`], which also drops quotes.
pub fn config_url(host: &dyn Host, key: &str, default: &str) -> String {
    host.config(key).map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).unwrap_or_else(|| default.into()).trim_end_matches('/').to_string()
}

/// A config string, trimmed, `None` when empty.
pub fn config_str(host: &dyn Host, key: &str) -> Option<String> {
    host.config(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A config value that is a JSON object: a TOML table arrives as JSON text;
/// a string holding JSON object text works too.
pub fn config_object(host: &dyn Host, key: &str) -> Result<Map<String, Value>, ProviderError> {
    let Some(raw) = config_str(host, key) else { return Ok(Map::new()) };
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(bad_config(key, "a table (JSON object)")),
        },
        _ => Err(bad_config(key, "a table (JSON object)")),
    }
}

/// `invalid-request` for a config key that is not what it must be.
pub fn bad_config(key: &str, expected: &str) -> ProviderError {
    ProviderError::invalid(None, format!("config key `{key}` must be {expected}; fix [plugins.<name>.config] in plugins.toml"))
}

/// `WxH` (also `W×H`, `W*H`) as two positive numbers.
pub fn parse_size(text: &str) -> Option<(u32, u32)> {
    let text = text.trim().trim_matches('"');
    let (w, h) = text.split_once(['x', 'X', '×', '*'])?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
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

/// Round down to a multiple of `m`, but never below `min`.
pub fn round_down(value: u32, m: u32, min: u32) -> u32 {
    ((value / m) * m).max(min)
}

/// Append `key=value` to a URL's query.
pub fn with_query(url: &str, pair: &str) -> String {
    if url.contains('?') { format!("{url}&{pair}") } else { format!("{url}?{pair}") }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
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
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// 64 random bits from std's per-process random hasher keys (seeded from
/// `wasi:random` on wasm32-wasip2), mixed with the wall clock.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A random (version 4) UUID, e.g. for request ids.
pub fn uuid_v4() -> String {
    let (a, b) = (random_u64(), random_u64());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
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
    fn base64_with_and_without_prefix() {
        assert_eq!(b64(b"\x89PNG"), "iVBORw==");
        assert_eq!(decode_b64("iVBORw=="), Some(b"\x89PNG".to_vec()));
        assert_eq!(decode_b64("data:image/png;base64,iVBORw=="), Some(b"\x89PNG".to_vec()));
        assert_eq!(decode_b64("iVBORw"), Some(b"\x89PNG".to_vec()));
        assert_eq!(decode_b64("not base64!"), None);
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
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
    fn sizes_and_rounding() {
        assert_eq!(parse_size("768x512"), Some((768, 512)));
        assert_eq!(parse_size("0x5"), None);
        assert_eq!(round_down(1023, 8, 64), 1016);
        assert_eq!(round_down(10, 8, 64), 64);
        assert_ne!(random_u64(), random_u64());
    }

    #[test]
    fn uuids_and_origins() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), id);
        assert_eq!(origin_of("http://127.0.0.1:8000/x/y"), "http://127.0.0.1:8000");
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
