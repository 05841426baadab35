//! The two pages a person sees while signing in, as plain server-rendered
//! HTML: the consent page, which names the client asking (as it named
//! itself: unverified, escaped) and where it will send the grant, and the
//! error page for a request that cannot be sent back to its client. Both
//! forbid framing, so they cannot be clicked through from another site.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `text` with `&<>"'` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.3rem}.who{background:#f4f4f4;padding:.8rem 1rem;border-radius:6px}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.allow{background:#1f6feb;color:#fff;border-color:#1f6feb}small{color:#666}";

/// An HTML page with the headers every sign-in page carries.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// The error page: what went wrong and what to do.
pub fn error(status: StatusCode, what: &str) -> Response {
    page(
        status,
        "Easel sign-in",
        &format!(
            "<h1>Easel could not sign you in</h1><p>{}</p><p><small>Start again from your MCP client.</small></p>",
            escape(what)
        ),
    )
}

/// What the consent page says.
pub struct Consent<'a> {
    /// The client's own name, or its id when it gave none.
    pub client: &'a str,
    /// Where the grant goes: the redirect URI's origin.
    pub redirect_to: &'a str,
    /// The signed-in user, as the provider named them.
    pub user: &'a str,
    pub scope: &'a str,
    /// The sign-in id and its anti-forgery token, posted back.
    pub request: &'a str,
    pub csrf: &'a str,
}

/// The consent page: Allow or Deny, posted to `/oauth/consent`.
pub fn consent(c: &Consent<'_>) -> Response {
    let scope = if c.scope.is_empty() { "use this server's tools".to_string() } else { format!("scopes: {}", c.scope) };
    let body = format!(
        "<h1>Allow {client} to use Easel?</h1>\
<div class=\"who\"><p><b>{client}</b> wants to generate and edit images as <b>{user}</b> ({scope}).</p>\
<p>If you allow it, it is sent to <b>{to}</b>.</p></div>\
<p><small>The name is the one the client gave itself; Easel has not checked it. Allow only a client you just started signing in with.</small></p>\
<form method=\"post\" action=\"/oauth/consent\">\
<input type=\"hidden\" name=\"request\" value=\"{request}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button class=\"allow\" name=\"decision\" value=\"allow\" type=\"submit\">Allow</button>\
<button name=\"decision\" value=\"deny\" type=\"submit\">Deny</button></form>",
        client = escape(c.client),
        user = escape(c.user),
        scope = escape(&scope),
        to = escape(c.redirect_to),
        request = escape(c.request),
        csrf = escape(c.csrf),
    );
    page(StatusCode::OK, "Allow access to Easel", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_client_name_is_shown_as_text() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let response = consent(&Consent {
            client: "<img src=x onerror=alert(1)>",
            redirect_to: "https://a.example",
            user: "ann@example.com",
            scope: "easel",
            request: "r",
            csrf: "c",
        });
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'")
        );
    }
}
