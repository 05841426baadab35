//! HTTP to one ComfyUI server through the host's egress: adds the optional
//! proxy token header, sets timeouts, and maps egress failures to
//! [`ProviderError`]s (see [`crate::errors::egress`]). Statuses are left to
//! the caller, which knows what each endpoint's errors mean.

use crate::errors;
use crate::settings::TOKEN_SECRET;
use crate::types::{Host, HttpRequest, HttpResponse, Level, ProviderError};

/// Timeout for API calls (JSON in and out).
const API_TIMEOUT_MS: u32 = 30_000;
/// Timeout for image transfers (`/view`, `/upload/image`).
const FILE_TIMEOUT_MS: u32 = 120_000;

pub struct Client<'h> {
    pub host: &'h dyn Host,
    /// Normalized base URL, no trailing slash.
    pub base: String,
    auth: bool,
}

impl<'h> Client<'h> {
    pub fn new(host: &'h dyn Host, base: &str) -> Client<'h> {
        // Core ComfyUI has no auth (docs/providers/comfyui.md#base-url-and-auth); a proxy may want a bearer token.
        let auth = host.secret_configured(TOKEN_SECRET);
        Client { host, base: base.trim_end_matches('/').to_string(), auth }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `authorization: Bearer {{secret:COMFYUI_TOKEN}}` when that optional
    /// secret is configured (for a proxy in front of ComfyUI), else nothing;
    /// every request and the websocket carry the same header.
    pub fn auth_header(&self) -> Option<(String, String)> {
        self.auth.then(|| ("authorization".to_string(), format!("Bearer {{{{secret:{TOKEN_SECRET}}}}}")))
    }

    /// ComfyUI's websocket for `client_id`: `ws://HOST/ws?clientId=…`
    /// (`wss://` for an https base, any path prefix kept) — server.py's `/ws` route.
    pub fn ws_url(&self, client_id: &str) -> String {
        let rest = self.base.strip_prefix("https://").map(|r| format!("wss://{r}"));
        let base = rest.unwrap_or_else(|| format!("ws://{}", self.base.trim_start_matches("http://")));
        format!("{base}/ws?clientId={}", easel_plugin_kit::urls::encode_component(client_id))
    }

    fn send(
        &self,
        method: &str,
        url: String,
        content_type: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> Result<HttpResponse, ProviderError> {
        let mut headers = vec![("accept".to_string(), "application/json, image/*".to_string())];
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.into()));
        }
        headers.extend(self.auth_header());
        self.host.log(Level::Debug, &format!("comfyui: {method} {url}"));
        let target = format!("{method} {}", url.strip_prefix(&self.base).unwrap_or(&url));
        self.host
            .fetch(HttpRequest { method: method.into(), url, headers, body, timeout_ms: Some(timeout_ms) })
            .map_err(|e| errors::egress(&self.base, e, &target))
    }

    pub fn get(&self, path: &str) -> Result<HttpResponse, ProviderError> {
        self.send("GET", self.url(path), None, Vec::new(), API_TIMEOUT_MS)
    }

    /// A file download by absolute URL (`/view?...`).
    pub fn get_file(&self, url: String) -> Result<HttpResponse, ProviderError> {
        self.send("GET", url, None, Vec::new(), FILE_TIMEOUT_MS)
    }

    pub fn post_json(&self, path: &str, body: Vec<u8>) -> Result<HttpResponse, ProviderError> {
        self.send("POST", self.url(path), Some("application/json"), body, API_TIMEOUT_MS)
    }

    pub fn post_form(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<HttpResponse, ProviderError> {
        self.send("POST", self.url(path), Some(content_type), body, FILE_TIMEOUT_MS)
    }

    /// A 2xx response, or the status mapped to an error for `what`.
    pub fn ok(&self, what: &str, response: HttpResponse) -> Result<HttpResponse, ProviderError> {
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(errors::status(&self.base, what, &response))
        }
    }
}
