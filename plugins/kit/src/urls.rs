//! URLs: the origin a configured base URL needs in `allowed_hosts`, query
//! strings, and percent-encoding of query values.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes a query value keeps as they are: RFC 3986's unreserved set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `scheme://host[:port]` of a URL, as the `url` crate serialises an origin
/// (host lower-cased, a default port dropped): the `allowed_hosts` entry a
/// plugin's `describe` reports. Text that does not parse as an http(s) URL
/// gives its own `scheme://authority` part (`http` when it has no scheme).
pub fn origin_of(url: &str) -> String {
    if let Ok(parsed) = url::Url::parse(url.trim())
        && parsed.origin().is_tuple()
    {
        return parsed.origin().ascii_serialization();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
}

/// Append `key=value` (already encoded) to a URL's query.
pub fn with_query(url: &str, pair: &str) -> String {
    if url.contains('?') { format!("{url}&{pair}") } else { format!("{url}?{pair}") }
}

/// Percent-encode one query-string value, keeping only RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - _ . ~`); UTF-8 bytes are encoded
/// one by one (`ü` → `%C3%BC`).
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://127.0.0.1:8000/x/y"), "http://127.0.0.1:8000");
        assert_eq!(origin_of("http://127.0.0.1:9/v1"), "http://127.0.0.1:9");
        assert_eq!(origin_of("https://api.openai.com/v1/"), "https://api.openai.com");
        assert_eq!(
            origin_of("https://generativelanguage.googleapis.com/v1beta/"),
            "https://generativelanguage.googleapis.com"
        );
        assert_eq!(origin_of("https://API.example.com:443/x"), "https://api.example.com");
        assert_eq!(origin_of("127.0.0.1:8188/x"), "http://127.0.0.1:8188");
    }

    #[test]
    fn queries_and_encoding() {
        assert_eq!(with_query("http://h/s", "logs=1"), "http://h/s?logs=1");
        assert_eq!(with_query("http://h/s?a=b", "logs=1"), "http://h/s?a=b&logs=1");
        assert_eq!(encode_component("a b&c/ü"), "a%20b%26c%2F%C3%BC");
        assert_eq!(encode_component("A-z_0.9~"), "A-z_0.9~");
    }
}
