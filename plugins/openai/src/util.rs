//! Small provider-independent helpers: MIME sniffing, JSON merging of the
//! `extra` passthrough, `Retry-After` parsing, URL origins and short text
//! snippets of unexpected bodies.

use crate::types::Failure;
use serde_json::{Map, Value};

/// MIME type from an image's magic bytes (PNG, JPEG, WebP, GIF), if known.
pub fn sniff_mime(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// File extension for a MIME type (for multipart file names).
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "png",
    }
}

/// Parse the request's `extra` text: it must be a JSON object.
pub fn parse_extra(extra: Option<&str>) -> Result<Map<String, Value>, Failure> {
    match extra.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Failure::field("extra", "must be a JSON object, e.g. {\"quality\": \"high\"}")),
            Err(e) => Err(Failure::field("extra", format!("is not valid JSON: {e}"))),
        },
    }
}

/// Deep-merge `patch` into `target`: objects merge key by key, anything
/// else replaces.
pub fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => merge(existing, more),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

/// Milliseconds to wait from `retry-after-ms` (float ms) or `retry-after`
/// (seconds, or an HTTP date relative to `now_unix_secs`). This is the
/// order the OpenAI SDK honours them in — PROTOCOLS §1.1.
pub fn retry_after_ms(retry_after_ms: Option<&str>, retry_after: Option<&str>, now_unix_secs: u64) -> Option<u64> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0) {
        return Some(ms.round() as u64);
    }
    let value = retry_after?.trim();
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

/// `scheme://host[:port]` of an absolute URL (for `describe().hosts`).
pub fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

/// At most `max` characters of a body, for error messages.
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// `text` trimmed and ending in `.`, `!` or `?`, so that more can follow.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?']) { text.to_string() } else { format!("{text}.") }
}

/// Parse `W:H` into positive integers.
pub fn parse_ratio(ratio: &str) -> Option<(u32, u32)> {
    let (w, h) = ratio.split_once(':')?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_formats() {
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_mime(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mime(b"hello"), None);
    }

    #[test]
    fn retry_after_prefers_milliseconds_then_seconds_then_dates() {
        assert_eq!(retry_after_ms(Some("1500"), Some("9"), 0), Some(1500));
        assert_eq!(retry_after_ms(None, Some("7"), 0), Some(7000));
        assert_eq!(retry_after_ms(None, Some("0.5"), 0), Some(500));
        let at = parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(at, 1_445_412_480);
        assert_eq!(retry_after_ms(None, Some("Wed, 21 Oct 2015 07:28:00 GMT"), at - 3), Some(3000));
        assert_eq!(retry_after_ms(None, Some("soon"), 0), None);
        assert_eq!(retry_after_ms(None, None, 0), None);
    }

    #[test]
    fn merges_extra_deeply() {
        let mut target = serde_json::json!({"a": 1, "cfg": {"x": 1}}).as_object().unwrap().clone();
        merge(&mut target, parse_extra(Some(r#"{"cfg": {"y": 2}, "a": 3}"#)).unwrap());
        assert_eq!(Value::Object(target), serde_json::json!({"a": 3, "cfg": {"x": 1, "y": 2}}));
        assert!(matches!(parse_extra(Some("[1]")), Err(Failure::InvalidRequest { .. })));
        assert!(parse_extra(Some("  ")).unwrap().is_empty());
    }

    #[test]
    fn origins_and_snippets() {
        assert_eq!(origin("http://127.0.0.1:9/v1"), "http://127.0.0.1:9");
        assert_eq!(origin("https://api.openai.com/v1/"), "https://api.openai.com");
        assert_eq!(snippet(b"  abcdef ", 3), "abc…");
        assert_eq!(snippet(b"", 3), "(empty body)");
        assert_eq!(sentence(" no key "), "no key.");
        assert_eq!(sentence("done!"), "done!");
    }
}
