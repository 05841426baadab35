//! HTML error pages in error messages: a proxy or load balancer in front
//! of an API (nginx, Cloudflare, a cloud ingress) answers with a page of
//! markup, not the API's JSON. Messages show its status and `<title>`
//! instead of the markup.

use crate::text::{snippet, truncate};
use crate::types::HttpResponse;

/// Whether a body is an HTML page rather than the API's own JSON or text:
/// it opens (after whitespace) with `<!doctype html`, `<html`, `<head`,
/// `<body` or `<title`.
pub fn is_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    ["<!doctype html", "<html", "<head", "<body", "<title"].iter().any(|tag| head.starts_with(tag))
}

/// The text of a page's `<title>` (looked for in the first 64 KiB),
/// whitespace collapsed and the commonest entities decoded, at most 120
/// characters; `None` when it has none or it is empty.
pub fn title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text[start..end].split_whitespace().collect::<Vec<_>>().join(" ");
    let title = title
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (!title.is_empty()).then(|| truncate(&title, 120))
}

/// A one-line stand-in for an HTML page, e.g. `an HTML page titled "503
/// Service Temporarily Unavailable"`; a page without a title shows its
/// first 120 characters of text (`an HTML page: Bad gateway`). `None` when
/// `body` is not HTML.
pub fn summary(body: &[u8]) -> Option<String> {
    if !is_html(body) {
        return None;
    }
    if let Some(title) = title(body) {
        return Some(format!("an HTML page titled \"{title}\""));
    }
    let text = visible_text(body);
    Some(if text.is_empty() {
        "an HTML page with no text".into()
    } else {
        format!("an HTML page: {}", truncate(&text, 120))
    })
}

/// The page's text without tags (of its first 64 KiB), whitespace collapsed.
fn visible_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error response in one line: `HTTP 503: an HTML page titled "…"`,
/// `HTTP 500 with an empty body`, or `HTTP 500: <at most max characters>`.
pub fn response_summary(response: &HttpResponse, max: usize) -> String {
    if String::from_utf8_lossy(&response.body).trim().is_empty() {
        return format!("HTTP {} with an empty body", response.status);
    }
    format!("HTTP {}: {}", response.status, snippet(&response.body, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What nginx serves for a 503 (7 lines), as fal's ingress sent it.
    pub const NGINX_503: &[u8] = b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

    #[test]
    fn html_pages_are_told_from_json_and_text() {
        assert!(is_html(NGINX_503));
        assert!(is_html(b"\n  <!DOCTYPE html><html><title>x</title></html>"));
        assert!(!is_html(br#"{"detail":"<html> in json"}"#));
        assert!(!is_html(b"bad gateway"));
    }

    #[test]
    fn titles_are_cleaned() {
        assert_eq!(title(NGINX_503).as_deref(), Some("503 Service Temporarily Unavailable"));
        assert_eq!(title(b"<html><TITLE>\n  A &amp; B\n</TITLE></html>").as_deref(), Some("A & B"));
        assert_eq!(title(b"<html><body>no title</body></html>"), None);
        assert_eq!(title(b"<html><title>   </title></html>"), None);
    }

    #[test]
    fn error_pages_are_summarised_by_status_and_title() {
        assert_eq!(snippet(NGINX_503, 300), "an HTML page titled \"503 Service Temporarily Unavailable\"");
        assert_eq!(
            snippet(b"<html><body><h1>Bad gateway</h1>\n<p>try later</p></body></html>", 300),
            "an HTML page: Bad gateway try later"
        );
        assert_eq!(snippet(b"<html><body></body></html>", 300), "an HTML page with no text");
        let page = HttpResponse { status: 503, headers: vec![], body: NGINX_503.to_vec() };
        let line = response_summary(&page, 300);
        assert_eq!(line, "HTTP 503: an HTML page titled \"503 Service Temporarily Unavailable\"");
        assert!(!line.contains('<') && !line.contains('\n'), "{line}");
        assert_eq!(
            response_summary(&HttpResponse { status: 502, headers: vec![], body: b" ".to_vec() }, 9),
            "HTTP 502 with an empty body"
        );
        assert_eq!(
            response_summary(&HttpResponse { status: 500, headers: vec![], body: b"oops".to_vec() }, 9),
            "HTTP 500: oops"
        );
    }
}
