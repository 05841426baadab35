//! Small helpers with no knowledge of A1111's API: base64 in and out,
//! MIME sniffing, config parsing, egress-error mapping and message text.

use crate::types::{EgressError, Host, ProviderError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Base64 (standard alphabet, padded), as A1111 takes `init_images`/`mask`.
pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decode base64 image text. A1111 sends none, but forks and proxies may
/// prefix `data:image/png;base64,`, which is tolerated (PROTOCOLS §6.4).
pub fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',')?.1,
        None => text,
    };
    let clean: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(clean.as_bytes()).ok().or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_end_matches('=')).ok())
}

/// MIME type from magic bytes: the server's `samples_format` option decides
/// whether images come back as PNG (default), JPEG or WebP.
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

/// A config URL without its trailing slash, or `default`.
pub fn config_url(host: &dyn Host, key: &str, default: &str) -> String {
    host.config(key)
        .map(|u| u.trim().trim_matches('"').to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string()
}

/// A config value that is a whole number (TOML integer or numeric string).
pub fn config_u64(host: &dyn Host, key: &str) -> Option<u64> {
    host.config(key)?.trim().trim_matches('"').parse().ok()
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

/// Round down to a multiple of `m`, but never below `min`.
pub fn round_down(value: u32, m: u32, min: u32) -> u32 {
    ((value / m) * m).max(min)
}

pub fn bad_config(key: &str, expected: &str) -> ProviderError {
    ProviderError::invalid(None, format!("config key `{key}` must be {expected}; fix [plugins.<name>.config] in plugins.toml"))
}

/// How an egress failure reads to the user. `backend` names the server in
/// the "not reachable" text (e.g. "SD WebUI not reachable at URL — start it
/// with `--api`"); a denial is the host's own message, which already says
/// which `allowed_hosts` entry to add.
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sizes_and_rounding() {
        assert_eq!(parse_size("768x512"), Some((768, 512)));
        assert_eq!(parse_size("0x5"), None);
        assert_eq!(round_down(1023, 8, 64), 1016);
        assert_eq!(round_down(10, 8, 64), 64);
        assert_ne!(random_u64(), random_u64());
    }
}
