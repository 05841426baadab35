//! Small provider-neutral helpers: base64 and data URIs, MIME sniffing,
//! `Retry-After` (also `retry-after-ms` and HTTP dates), egress-error
//! mapping for cloud APIs, config parsing, the `extra` JSON passthrough,
//! size and aspect-ratio arithmetic, progress parsing from log text,
//! message text (HTML error pages summarised, see [`crate::html`]) and
//! random ids.

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

/// [`sniff_mime`] for callers with a fallback of their own: `None` when the
/// magic bytes are none of PNG, JPEG, WebP or GIF.
pub fn sniff_image_mime(data: &[u8]) -> Option<&'static str> {
    Some(sniff_mime(data)).filter(|mime| *mime != "application/octet-stream")
}

/// File-name extension for an image MIME type (e.g. multipart file names);
/// `png` for anything unknown.
pub fn file_extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "png",
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

/// Map an egress failure of a synchronous call to `provider` (e.g.
/// "OpenAI") at `url`. Denials and unavailable secrets keep the host's own
/// text, which already says which `allowed_hosts` entry or secret to set;
/// the other kinds name the provider (and the URL where that helps).
pub fn egress_error_at(error: EgressError, provider: &str, url: &str) -> ProviderError {
    match error {
        EgressError::Denied(m) => ProviderError::Unavailable(m),
        EgressError::SecretUnavailable(m) => ProviderError::Unauthorized(m),
        EgressError::InvalidRequest(m) => ProviderError::Internal(format!("the host refused the request to {url}: {m}")),
        EgressError::Connection(m) => ProviderError::Unavailable(format!("cannot reach {provider} at {url}: {m}")),
        EgressError::Timeout(m) => ProviderError::Timeout(format!("{provider} did not answer in time: {m}")),
        EgressError::TooLarge(m) => ProviderError::Upstream { status: 0, message: format!("{provider}'s answer was too large: {m}") },
    }
}

/// `Retry-After` in milliseconds: delta-seconds only (an HTTP date gives `None`).
pub fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// Milliseconds to wait from `retry-after-ms` (float milliseconds) or else
/// `retry-after` (delta-seconds, or an HTTP date taken relative to
/// `now_unix_secs`): the order the OpenAI SDK honours them in.
pub fn retry_delay_ms(response: &HttpResponse, now_unix_secs: u64) -> Option<u64> {
    let millis = response.header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0);
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

/// Unix seconds of an IMF-fixdate such as `Wed, 21 Oct 2015 07:28:00 GMT`.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let rest = text.split_once(", ").map_or(text, |(_, r)| r);
    let mut parts = rest.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400 + h * 3600 + m * 60 + s)
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

/// Parse a request's `extra` text, which must be a JSON object (empty or
/// absent is an empty one); `example` shows a valid one in the refusal.
pub fn parse_extra(extra: Option<&str>, example: &str) -> Result<Map<String, Value>, ProviderError> {
    match extra.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ProviderError::invalid(Some("extra"), format!("must be a JSON object, e.g. {example}"))),
            Err(e) => Err(ProviderError::invalid(Some("extra"), format!("is not valid JSON: {e}"))),
        },
    }
}

/// Deep-merge `patch` into `target`: objects merge key by key, anything
/// else replaces.
pub fn deep_merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => deep_merge(existing, more),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
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

/// At most `max` characters of a response body for an error message (as
/// [`truncate`]), `(empty body)`, or for an HTML page only its
/// [`html::summary`](crate::html::summary): a proxy's error page is
/// markup, not a message.
pub fn snippet(body: &[u8], max: usize) -> String {
    if let Some(summary) = crate::html::summary(body) {
        return summary;
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() { "(empty body)".into() } else { truncate(&text, max) }
}

/// `text` trimmed and ending in `.`, `!` or `?`, so that more can follow.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?']) { text.to_string() } else { format!("{text}.") }
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

    #[test]
    fn sniffs_images_or_nothing() {
        assert_eq!(sniff_image_mime(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image_mime(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image_mime(b"GIF89a"), Some("image/gif"));
        assert_eq!(sniff_image_mime(b"hello"), None);
        assert_eq!((file_extension("image/jpeg"), file_extension("image/webp"), file_extension("image/png")), ("jpg", "webp", "png"));
    }

    #[test]
    fn retry_delay_prefers_milliseconds_then_seconds_then_dates() {
        let with = |headers: &[(&str, &str)]| HttpResponse {
            status: 429,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: vec![],
        };
        assert_eq!(retry_delay_ms(&with(&[("retry-after-ms", "1500"), ("retry-after", "9")]), 0), Some(1500));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "7")]), 0), Some(7000));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "0.5")]), 0), Some(500));
        let at = parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(at, 1_445_412_480);
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]), at - 3), Some(3000));
        assert_eq!(retry_delay_ms(&with(&[("retry-after", "soon")]), 0), None);
        assert_eq!(retry_delay_ms(&with(&[]), 0), None);
    }

    #[test]
    fn merges_extra_deeply() {
        let mut target = serde_json::json!({"a": 1, "cfg": {"x": 1}}).as_object().unwrap().clone();
        deep_merge(&mut target, parse_extra(Some(r#"{"cfg": {"y": 2}, "a": 3}"#), "{}").unwrap());
        assert_eq!(Value::Object(target), serde_json::json!({"a": 3, "cfg": {"x": 1, "y": 2}}));
        assert_eq!(
            parse_extra(Some("[1]"), r#"{"quality": "high"}"#),
            Err(ProviderError::invalid(Some("extra"), r#"must be a JSON object, e.g. {"quality": "high"}"#))
        );
        let broken = parse_extra(Some("{"), "{}");
        assert!(
            matches!(broken, Err(ProviderError::InvalidRequest { field: Some(f), message }) if f == "extra" && message.starts_with("is not valid JSON: "))
        );
        assert!(parse_extra(Some("  "), "{}").unwrap().is_empty());
        assert!(parse_extra(None, "{}").unwrap().is_empty());
    }

    #[test]
    fn origins_snippets_and_sentences() {
        assert_eq!(origin_of("http://127.0.0.1:9/v1"), "http://127.0.0.1:9");
        assert_eq!(origin_of("https://api.openai.com/v1/"), "https://api.openai.com");
        assert_eq!(origin_of("https://generativelanguage.googleapis.com/v1beta/"), "https://generativelanguage.googleapis.com");
        assert_eq!(snippet(b"  abcdef ", 3), "abc…");
        assert_eq!(snippet(b"  abc ", 3), "abc");
        assert_eq!(snippet(b"", 3), "(empty body)");
        assert_eq!(snippet(b" \n ", 3), "(empty body)");
        assert_eq!(sentence(" no key "), "no key.");
        assert_eq!(sentence("done!"), "done!");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn egress_errors_name_the_provider() {
        let url = "http://127.0.0.1:9/v1/images/generations";
        assert_eq!(egress_error_at(EgressError::Denied("add it".into()), "OpenAI", url), ProviderError::Unavailable("add it".into()));
        assert_eq!(egress_error_at(EgressError::SecretUnavailable("unset".into()), "OpenAI", url), ProviderError::Unauthorized("unset".into()));
        assert_eq!(
            egress_error_at(EgressError::Connection("refused".into()), "OpenAI", url),
            ProviderError::Unavailable(format!("cannot reach OpenAI at {url}: refused"))
        );
        assert_eq!(
            egress_error_at(EgressError::InvalidRequest("bad header".into()), "Gemini", url),
            ProviderError::Internal(format!("the host refused the request to {url}: bad header"))
        );
        assert_eq!(
            egress_error_at(EgressError::Timeout("300 s".into()), "Gemini", url),
            ProviderError::Timeout("Gemini did not answer in time: 300 s".into())
        );
        assert_eq!(
            egress_error_at(EgressError::TooLarge("64 MiB".into()), "Gemini", url),
            ProviderError::upstream(0, "Gemini's answer was too large: 64 MiB")
        );
    }
}
