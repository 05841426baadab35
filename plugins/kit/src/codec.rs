//! Base64 and `data:` URIs: how images travel inside JSON bodies (OpenAI's
//! `b64_json`, Gemini's `inlineData`, SD WebUI's `images`, fal and
//! Replicate file inputs).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// Base64 (standard alphabet, padded).
pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decode base64 image text, with or without a `data:<mime>;base64,` prefix
/// (forks and proxies of local servers may add one); whitespace and missing
/// padding are tolerated. `None` when it is not base64.
pub fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',')?.1,
        None => text,
    };
    let clean: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(clean.as_bytes()).ok().or_else(|| STANDARD_NO_PAD.decode(clean.trim_end_matches('=')).ok())
}

/// `data:<mime>;base64,<bytes>`: how fal, Replicate and many self-hosted
/// handlers take inline files (docs/providers/fal.md#inputs,
/// docs/providers/replicate.md#inputs).
pub fn data_uri(mime_type: &str, data: &[u8]) -> String {
    format!("data:{mime_type};base64,{}", STANDARD.encode(data))
}

/// Decode a base64 `data:` URI into (MIME type, bytes); an empty MIME type
/// reads as `application/octet-stream`. `None` for any other text.
pub fn decode_data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    let rest = uri.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let data = STANDARD.decode(payload.trim()).ok()?;
    Some((if mime.is_empty() { "application/octet-stream".into() } else { mime.into() }, data))
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
}
