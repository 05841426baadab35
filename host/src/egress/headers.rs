//! What a plugin may put in a request's headers and what it gets back in a
//! response's: the host owns framing, routing and content coding, so a
//! plugin cannot override `Host` (to reach another tenant behind a shared
//! front end), smuggle framing headers, ask for a compressed or partial body
//! that redaction cannot see through, or learn a secret's length from a
//! `Content-Length`.

use super::EgressError;

/// Most request headers one plugin request may carry (the `http` crate
/// panics past 32768; real APIs need a dozen).
pub const MAX_REQUEST_HEADERS: usize = 100;

/// Most bytes of all request header names and values together.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 << 10;

/// Headers the host sets itself from the URL and body; a plugin setting one
/// is refused. `proxy-*` is refused as a prefix.
const HOST_OWNED: [&str; 8] =
    ["host", "connection", "transfer-encoding", "content-length", "te", "upgrade", "keep-alive", "trailer"];

/// Headers that ask for part of a body; refused toward hosts a secret is
/// bound to, where pieces of a reflected secret would each pass redaction.
const PARTIAL: [&str; 2] = ["range", "if-range"];

/// Check a plugin's request headers and return those to send: host-owned
/// headers are refused (naming the header), `accept-encoding` is dropped
/// (the host asks for `identity`), and range requests are refused when
/// `secret_bound` says the target host holds one of the plugin's secrets.
///
/// Errors: [`EgressError::InvalidRequest`] with the header and why.
pub fn plugin_headers(headers: &[(String, String)], secret_bound: bool) -> Result<Vec<(String, String)>, EgressError> {
    if headers.len() > MAX_REQUEST_HEADERS {
        return Err(EgressError::InvalidRequest(format!(
            "{} request headers, over the limit of {MAX_REQUEST_HEADERS}",
            headers.len()
        )));
    }
    let total: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_REQUEST_HEADER_BYTES {
        return Err(EgressError::InvalidRequest(format!(
            "{total} bytes of request headers, over the limit of {MAX_REQUEST_HEADER_BYTES}"
        )));
    }
    let mut kept = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.trim().to_ascii_lowercase();
        if HOST_OWNED.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(EgressError::InvalidRequest(format!(
                "plugins may not set the `{name}` header: the host sets it from the URL and body"
            )));
        }
        if PARTIAL.contains(&lower.as_str()) && secret_bound {
            return Err(EgressError::InvalidRequest(format!(
                "plugins may not send `{name}` to a host that one of their secrets is bound to (partial reads would slip a reflected secret past redaction)"
            )));
        }
        if lower == "accept-encoding" {
            continue;
        }
        kept.push((name.clone(), value.clone()));
    }
    kept.push(("accept-encoding".into(), "identity".into()));
    Ok(kept)
}

/// Decode a body the upstream sent with `content_encoding` despite being
/// asked for `identity`, to at most `cap` bytes: gzip and deflate are
/// decoded, anything else is refused, so no body reaches a plugin (or
/// redaction) still encoded.
///
/// Errors: [`EgressError::Connection`] for an encoding the host cannot
/// decode or a damaged stream, [`EgressError::TooLarge`] past `cap`.
pub fn decode_body(
    content_encoding: Option<&str>,
    body: Vec<u8>,
    cap: u64,
    origin: &str,
) -> Result<Vec<u8>, EgressError> {
    use std::io::Read;
    let coding = content_encoding.map(|c| c.trim().to_ascii_lowercase()).unwrap_or_default();
    let mut reader: Box<dyn Read> = match coding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(std::io::Cursor::new(body))),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(std::io::Cursor::new(body))),
        other => {
            return Err(EgressError::Connection(format!(
                "{origin} sent a body with content-encoding `{other}`, which the host did not ask for and does not decode"
            )));
        }
    };
    let mut out = Vec::new();
    let read = (&mut reader).take(cap + 1).read_to_end(&mut out);
    read.map_err(|e| EgressError::Connection(format!("{origin} sent a damaged {coding} body: {e}")))?;
    if out.len() as u64 > cap {
        return Err(EgressError::TooLarge(format!(
            "{origin} sent a {coding} body that decodes to more than {} MiB",
            cap >> 20
        )));
    }
    Ok(out)
}

/// Response headers as the plugin sees them: `content-encoding` gone (the
/// body is decoded) and `content-length` that of the body it gets, after
/// redaction (not the upstream's, which would tell a secret's length).
pub fn plugin_response_headers(mut headers: Vec<(String, String)>, body_len: usize) -> Vec<(String, String)> {
    headers.retain(|(name, _)| name != "content-encoding" && name != "content-length");
    headers.push(("content-length".into(), body_len.to_string()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn host_framing_and_proxy_headers_are_refused_naming_them() {
        for name in [
            "Host",
            "host",
            "Connection",
            "Transfer-Encoding",
            "Content-Length",
            "TE",
            "Upgrade",
            "Proxy-Authorization",
            "proxy-connection",
        ] {
            let error = plugin_headers(&h(&[("accept", "*/*"), (name, "x")]), false).unwrap_err().to_string();
            assert!(error.contains(&format!("may not set the `{name}` header")), "{name}: {error}");
        }
    }

    #[test]
    fn accept_encoding_is_replaced_by_identity_and_ranges_are_refused_toward_secret_hosts() {
        let sent = plugin_headers(&h(&[("Accept-Encoding", "gzip, br"), ("accept", "*/*")]), false).unwrap();
        assert_eq!(sent, h(&[("accept", "*/*"), ("accept-encoding", "identity")]));
        assert!(
            plugin_headers(&h(&[("Range", "bytes=0-0")]), false).is_ok(),
            "ranges are fine toward hosts with no secret"
        );
        let error = plugin_headers(&h(&[("Range", "bytes=1-")]), true).unwrap_err().to_string();
        assert!(error.contains("may not send `Range` to a host that one of their secrets is bound to"), "{error}");
    }

    #[test]
    fn too_many_or_too_large_headers_are_refused_not_a_panic() {
        let many: Vec<(String, String)> = (0..24_576).map(|i| (format!("x-{i}"), "v".to_string())).collect();
        assert!(
            plugin_headers(&many, false)
                .unwrap_err()
                .to_string()
                .contains("24576 request headers, over the limit of 100")
        );
        let big = vec![("x-big".to_string(), "v".repeat(70_000))];
        assert!(plugin_headers(&big, false).unwrap_err().to_string().contains("over the limit of 65536"));
    }

    #[test]
    fn gzip_bodies_are_decoded_within_the_cap_and_unknown_codings_refused() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"sk-live-secret").unwrap();
        let gzipped = encoder.finish().unwrap();
        assert_eq!(decode_body(Some("gzip"), gzipped.clone(), 1 << 20, "http://x").unwrap(), b"sk-live-secret");
        assert!(matches!(decode_body(Some("gzip"), gzipped, 4, "http://x"), Err(EgressError::TooLarge(_))));
        assert!(
            decode_body(Some("br"), vec![1, 2, 3], 1 << 20, "http://x")
                .unwrap_err()
                .to_string()
                .contains("content-encoding `br`")
        );
        assert_eq!(decode_body(None, b"plain".to_vec(), 1 << 20, "http://x").unwrap(), b"plain");
    }

    #[test]
    fn content_length_is_that_of_the_body_the_plugin_gets() {
        let headers =
            plugin_response_headers(h(&[("content-length", "25"), ("content-encoding", "gzip"), ("x", "y")]), 17);
        assert_eq!(headers, h(&[("x", "y"), ("content-length", "17")]));
    }
}
