//! Which MCP clients may sign in, and where their codes may be sent:
//! dynamic client registration (RFC 7591) and Client ID Metadata Documents
//! (an https `client_id` whose document names the client, MCP
//! authorization 2025-11-25 §"Client ID Metadata Documents"), and the
//! redirect URI rules of OAuth 2.1 §7.5 and RFC 8252: https anywhere,
//! plain http only to a loopback address (any port at use), or an app's
//! private-use scheme; never `javascript:`, `data:` or `file:`.

use super::grants::{Client, random_token, sha256_hex};
use crate::egress::EgressPolicy;
use serde::Deserialize;
use url::Url;

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI or client name kept, characters.
const MAX_URI_CHARS: usize = 2000;
const MAX_NAME_CHARS: usize = 200;
/// Largest client metadata document read, bytes.
pub const MAX_METADATA_BYTES: u64 = 16 << 10;

/// Schemes that can never be a redirect target.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "about", "blob", "ws", "wss", "ftp"];

/// A registration or metadata document, as RFC 7591 §2 names its fields.
#[derive(Debug, Deserialize, Default)]
pub struct ClientMetadata {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
}

/// A refusal in RFC 7591 §3.2.2 terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub error: &'static str,
    pub description: String,
}

fn invalid(error: &'static str, description: impl Into<String>) -> Invalid {
    Invalid { error, description: description.into() }
}

/// Whether `uri` may receive authorization codes.
///
/// Errors: why not, naming the URI.
pub fn check_redirect_uri(uri: &str) -> Result<(), Invalid> {
    let bad = |why: &str| invalid("invalid_redirect_uri", format!("redirect URI `{uri}` {why}"));
    if uri.len() > MAX_URI_CHARS {
        return Err(bad(&format!("is longer than {MAX_URI_CHARS} characters")));
    }
    let url = Url::parse(uri).map_err(|e| bad(&format!("is not an absolute URI ({e})")))?;
    if url.fragment().is_some() {
        return Err(bad("has a fragment, which OAuth forbids"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(bad("is plain http to a host other than a loopback address; use https")),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(bad(&format!("uses the `{scheme}:` scheme"))),
        _ => Ok(()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `given` is one of `client`'s redirect URIs: the same string,
/// or for a loopback http one the same but for the port (RFC 8252 §7.3).
pub fn redirect_matches(client: &Client, given: &str) -> bool {
    client.redirect_uris.iter().any(|registered| {
        if registered == given {
            return true;
        }
        let (Ok(mut a), Ok(mut b)) = (Url::parse(registered), Url::parse(given)) else { return false };
        if a.scheme() != "http" || !is_loopback(&a) || !is_loopback(&b) {
            return false;
        }
        let _ = (a.set_port(None), b.set_port(None));
        a == b
    })
}

/// The client a registration request describes, with its secret when it
/// is confidential: `(client, Some(secret))`.
///
/// Errors: what is wrong with the request.
pub fn from_registration(metadata: &ClientMetadata) -> Result<(Client, Option<String>), Invalid> {
    let (client, secret) = checked(metadata, random_token(), true)?;
    Ok((client, secret))
}

fn checked(
    metadata: &ClientMetadata,
    client_id: String,
    may_be_confidential: bool,
) -> Result<(Client, Option<String>), Invalid> {
    if metadata.redirect_uris.is_empty() {
        return Err(invalid("invalid_redirect_uri", "redirect_uris is required and must not be empty"));
    }
    if metadata.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid("invalid_redirect_uri", format!("at most {MAX_REDIRECT_URIS} redirect_uris")));
    }
    for uri in &metadata.redirect_uris {
        check_redirect_uri(uri)?;
    }
    for grant in metadata.grant_types.iter().flatten() {
        if !matches!(grant.as_str(), "authorization_code" | "refresh_token") {
            return Err(invalid(
                "invalid_client_metadata",
                format!("grant type `{grant}` is not offered; this server offers authorization_code and refresh_token"),
            ));
        }
    }
    for response in metadata.response_types.iter().flatten() {
        if response != "code" {
            return Err(invalid(
                "invalid_client_metadata",
                format!("response type `{response}` is not offered; only `code`"),
            ));
        }
    }
    let auth_method = metadata.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_basic".into());
    let secret = match auth_method.as_str() {
        "none" => None,
        "client_secret_post" | "client_secret_basic" if may_be_confidential => Some(random_token()),
        other => {
            return Err(invalid(
                "invalid_client_metadata",
                format!(
                    "token_endpoint_auth_method `{other}` is not offered; use none{}",
                    if may_be_confidential {
                        ", client_secret_post or client_secret_basic"
                    } else {
                        " for a metadata document"
                    }
                ),
            ));
        }
    };
    let client_name = metadata
        .client_name
        .as_deref()
        .map(|name| name.chars().filter(|c| !is_hidden(*c)).take(MAX_NAME_CHARS).collect::<String>())
        .filter(|name| !name.trim().is_empty());
    let client = Client {
        client_id,
        client_name,
        redirect_uris: metadata.redirect_uris.clone(),
        auth_method,
        secret_sha256: secret.as_deref().map(sha256_hex),
    };
    Ok((client, secret))
}

/// Control characters and bidirectional overrides, which could make a
/// client's name on the consent page read as something else.
fn is_hidden(c: char) -> bool {
    c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Whether `client_id` is a URL naming a metadata document.
pub fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The client whose id is the URL `client_id`: its document, fetched
/// under `policy`, must name that same `client_id`.
///
/// Errors: the URL is refused or unreadable, or the document is not one.
pub async fn from_metadata_document(policy: &EgressPolicy, client_id: &str) -> Result<Client, Invalid> {
    let bad = |why: String| invalid("invalid_client", format!("client id {client_id}: {why}"));
    let url = Url::parse(client_id).map_err(|e| bad(format!("not a URL ({e})")))?;
    if url.path() == "/" || url.fragment().is_some() {
        return Err(bad("a client id URL needs a path and no fragment".into()));
    }
    let response = policy
        .download(client_id, vec![("accept".into(), "application/json".into())])
        .await
        .map_err(|e| bad(format!("{e:#}")))?;
    if response.status != 200 {
        return Err(bad(format!("its metadata document answered HTTP {}", response.status)));
    }
    let metadata: ClientMetadata =
        serde_json::from_slice(&response.body).map_err(|e| bad(format!("its metadata document is not JSON ({e})")))?;
    if metadata.client_id.as_deref() != Some(client_id) {
        return Err(bad(format!(
            "its metadata document names client_id {:?}, not its own URL",
            metadata.client_id.as_deref().unwrap_or("")
        )));
    }
    let (client, _) = checked(&metadata, client_id.to_string(), false).map_err(|e| bad(e.description))?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_loopback_http_or_an_apps_own_scheme() {
        for good in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/cb",
            "http://localhost/cb",
            "http://[::1]:9/x",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("http://evil.example/cb", "plain http"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("https://a.example/cb#x", "fragment"),
            ("/relative", "absolute"),
        ] {
            let refusal = check_redirect_uri(bad).unwrap_err();
            assert_eq!(refusal.error, "invalid_redirect_uri");
            assert!(refusal.description.contains(why), "{bad}: {}", refusal.description);
        }
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_others_exactly() {
        let metadata = ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1:1000/cb".into(), "https://app.example/cb".into()],
            token_endpoint_auth_method: Some("none".into()),
            ..Default::default()
        };
        let (client, secret) = from_registration(&metadata).unwrap();
        assert!(secret.is_none() && client.secret_sha256.is_none());
        assert!(redirect_matches(&client, "http://127.0.0.1:5555/cb"));
        assert!(!redirect_matches(&client, "http://127.0.0.1:5555/other"));
        assert!(redirect_matches(&client, "https://app.example/cb"));
        assert!(!redirect_matches(&client, "https://app.example/cb2"));
        assert!(!redirect_matches(&client, "https://app.example:444/cb"));
    }

    #[test]
    fn registrations_name_what_is_wrong_and_confidential_clients_get_a_secret() {
        let base = || ClientMetadata { redirect_uris: vec!["https://a.example/cb".into()], ..Default::default() };
        let (client, secret) = from_registration(&base()).unwrap();
        assert_eq!(client.auth_method, "client_secret_basic");
        assert_eq!(client.secret_sha256, secret.as_deref().map(sha256_hex));
        let mut no_uris = base();
        no_uris.redirect_uris.clear();
        assert!(from_registration(&no_uris).unwrap_err().description.contains("redirect_uris is required"));
        let mut implicit = base();
        implicit.grant_types = Some(vec!["implicit".into()]);
        assert!(from_registration(&implicit).unwrap_err().description.contains("`implicit`"));
        let mut jwt = base();
        jwt.token_endpoint_auth_method = Some("private_key_jwt".into());
        assert!(from_registration(&jwt).unwrap_err().description.contains("private_key_jwt"));
        let mut noisy = base();
        noisy.client_name = Some("Evil\u{202e}App\n".repeat(100));
        let (client, _) = from_registration(&noisy).unwrap();
        let name = client.client_name.unwrap();
        assert!(name.starts_with("EvilAppEvilApp") && name.chars().count() <= MAX_NAME_CHARS, "{name}");
    }
}
