//! [`EgressPolicy`]: one named policy (a plugin's, the inputs', or a plugin
//! source's) with the one [`fetch`](EgressPolicy::fetch), the one
//! redirect-following [`download`](EgressPolicy::download), the one size
//! cap and the one redaction every outbound request goes through. The
//! policy's [`PolicyName`] decides what it may reach and how refusals read.

use super::allowed_hosts::{AllowedHost, is_non_public};
use super::scripted::{ScriptedAnswer, ScriptedUpstream, SentRequest};
use super::secrets::SecretSet;
use super::{EgressError, EgressRequest, EgressResponse, MAX_REDIRECTS, client, headers, origin};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use url::{Host, Url};

/// Largest `.wasm` component [`SourceLimits::default`] downloads, bytes.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Longest a `.wasm` download may take with [`SourceLimits::default`].
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which door a request leaves by: decides what the policy may reach and
/// names the setting to change in its refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyName {
    /// A plugin's own requests and its result downloads (`[plugins.ID]`):
    /// only hosts its `allowed_hosts` covers.
    Plugin(String),
    /// Input images given by URL (`[inputs]`): any public host, and private
    /// or loopback ones that `[inputs] allowed_hosts` lists.
    Inputs,
    /// A plugin's component downloaded from `[plugins.ID] url`: public hosts
    /// over https, and the configured URL's own host. Pulls from an OCI
    /// registry (`[plugins.ID] oci`) use it too, with the registry's base URL.
    PluginSource(String),
    /// `easel plugins push` to an OCI registry: public hosts over https, and
    /// the registry's own host when it is a loopback or private literal.
    Publish,
    /// The OAuth authorization server's metadata and signing keys
    /// (`[server.auth] issuer`, [`crate::auth`]): public hosts over https,
    /// and the issuer's own host when it is a loopback or private literal.
    Issuer,
    /// Client ID Metadata Documents of MCP clients signing in
    /// ([`crate::auth::server`]): public hosts over https, and the origins
    /// `[server.auth.login] client_metadata_hosts` lists.
    ClientMetadata,
}

/// Limits of a `.wasm` download ([`EgressPolicy::plugin_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Largest component accepted, bytes.
    pub max_bytes: u64,
    /// Longest the whole download (every redirect included) may take.
    pub timeout: Duration,
}

impl Default for SourceLimits {
    /// [`MAX_SOURCE_BYTES`] and [`SOURCE_TIMEOUT`].
    fn default() -> Self {
        SourceLimits { max_bytes: MAX_SOURCE_BYTES, timeout: SOURCE_TIMEOUT }
    }
}

/// One named egress policy. Built once (a plugin's when it loads; the
/// inputs' at start; a source's per download) and shared by reference.
pub struct EgressPolicy {
    name: PolicyName,
    allow: Vec<AllowedHost>,
    secrets: SecretSet,
    max_response_bytes: u64,
    max_timeout: Duration,
    client: reqwest::Client,
    /// Answers requests instead of the network (`plugins check` only).
    scripted: Option<std::sync::Arc<dyn ScriptedUpstream>>,
    /// GET answers a plugin asked to keep (`Easel-Cache`, [`super::cache`]).
    cache: std::sync::Arc<super::cache::ResponseCache>,
}

impl EgressPolicy {
    /// Plugin `plugin`'s policy: `allow` is its `allowed_hosts`, `secrets`
    /// its `[plugins.ID.secrets]`, `max_response_bytes` the largest body it
    /// may receive (bytes), and `max_timeout` caps any per-request timeout
    /// (the plugin's call limit).
    pub fn new(
        plugin: &str,
        allow: Vec<AllowedHost>,
        secrets: SecretSet,
        max_response_bytes: u64,
        max_timeout: Duration,
    ) -> Self {
        Self::named(PolicyName::Plugin(plugin.into()), allow, secrets, max_response_bytes, max_timeout)
    }

    /// The policy for input images given by URL: public hosts, plus the
    /// private or loopback ones `allow` (`[inputs] allowed_hosts`) lists;
    /// bodies up to `max_bytes` bytes; each download within `timeout`.
    pub fn inputs(allow: Vec<AllowedHost>, max_bytes: u64, timeout: Duration) -> Self {
        Self::named(PolicyName::Inputs, allow, SecretSet::default(), max_bytes, timeout)
    }

    /// The policy for downloading plugin `plugin`'s component from `url`
    /// (its `[plugins.ID] url`): public hosts over https, and `url`'s own
    /// host when it is a private address literal over https or a loopback
    /// one (`127.0.0.1`, `[::1]`, `localhost`) over either scheme.
    pub fn plugin_source(plugin: &str, url: &Url, limits: SourceLimits) -> Self {
        Self::own_host(PolicyName::PluginSource(plugin.into()), url, limits)
    }

    /// The policy of `easel plugins push` toward the registry at `url`: the
    /// same reach as [`plugin_source`](Self::plugin_source), answers up to
    /// `limits.max_bytes`, the whole push within `limits.timeout`.
    pub fn publish(url: &Url, limits: SourceLimits) -> Self {
        Self::own_host(PolicyName::Publish, url, limits)
    }

    /// The policy for reading the authorization server at `issuer`
    /// (metadata, JWKS): the same reach as [`publish`](Self::publish).
    pub fn issuer(issuer: &Url, limits: SourceLimits) -> Self {
        Self::own_host(PolicyName::Issuer, issuer, limits)
    }

    /// The policy for reading clients' metadata documents: public https
    /// hosts, and the origins in `allow` (`client_metadata_hosts`).
    pub fn client_metadata(allow: Vec<AllowedHost>, limits: SourceLimits) -> Self {
        Self::named(PolicyName::ClientMetadata, allow, SecretSet::default(), limits.max_bytes, limits.timeout)
    }

    /// Public hosts, plus `url`'s own host when it is a private address
    /// literal over https or a loopback one over either scheme.
    fn own_host(name: PolicyName, url: &Url, limits: SourceLimits) -> Self {
        let own = literal_address(url).filter(|ip| is_non_public(*ip) && (url.scheme() == "https" || ip.is_loopback()));
        let allow = own.and_then(|_| AllowedHost::suggestion_for(url).parse().ok()).into_iter().collect();
        Self::named(name, allow, SecretSet::default(), limits.max_bytes, limits.timeout)
    }

    fn named(
        name: PolicyName,
        allow: Vec<AllowedHost>,
        secrets: SecretSet,
        max_response_bytes: u64,
        max_timeout: Duration,
    ) -> Self {
        EgressPolicy {
            name,
            allow,
            secrets,
            max_response_bytes,
            max_timeout,
            client: client::shared(),
            scripted: None,
            cache: Default::default(),
        }
    }

    /// This policy with `upstream` answering [`fetch`](Self::fetch) instead
    /// of the network (see [`super::scripted`]); [`download`](Self::download)
    /// is refused.
    pub fn with_scripted_upstream(mut self, upstream: std::sync::Arc<dyn ScriptedUpstream>) -> Self {
        self.scripted = Some(upstream);
        self
    }

    /// Which policy this is.
    pub fn name(&self) -> &PolicyName {
        &self.name
    }

    /// The largest body this policy receives (or, for a plugin, returns),
    /// bytes (`max_response_mib` of a plugin's `[plugins.ID]` entry).
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The secrets this plugin may reference (none for host policies).
    pub fn secrets(&self) -> &SecretSet {
        &self.secrets
    }

    /// Refuse a URL this policy may not reach, saying which setting to
    /// change. Errors: [`EgressError::InvalidRequest`] for a scheme other
    /// than http(s), [`EgressError::Denied`] for a host or address.
    pub fn check_url(&self, url: &Url) -> Result<(), EgressError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::InvalidRequest(self.name.bad_scheme(url.scheme())));
        }
        if self.allow.iter().any(|entry| entry.matches(url)) {
            return Ok(());
        }
        let private = literal_address(url).is_some_and(is_non_public);
        match &self.name {
            PolicyName::Plugin(_) => Err(EgressError::Denied(self.name.not_listed(url, &self.allow))),
            PolicyName::PluginSource(_) | PolicyName::Publish | PolicyName::Issuer | PolicyName::ClientMetadata
                if url.scheme() == "http" =>
            {
                Err(EgressError::Denied(self.name.plain_http(url)))
            }
            _ if private => Err(EgressError::Denied(self.name.private(url))),
            _ => Ok(()),
        }
    }

    /// Perform one request under this policy: URL checked, headers checked
    /// ([`headers::plugin_headers`]), secrets filled in toward bound hosts,
    /// the whole exchange within the request's timeout (at most the
    /// policy's), the body read up to the cap and decoded, and secrets
    /// redacted from what comes back. Redirects are returned, not followed.
    /// A GET with `Easel-Cache: max-age=N` may be answered from this
    /// policy's cache ([`super::cache`]); the header is never sent.
    pub async fn fetch(&self, mut request: EgressRequest) -> Result<EgressResponse, EgressError> {
        let keep =
            super::cache::requested_age(&request.method, &mut request.headers).map_err(EgressError::InvalidRequest)?;
        let prepared = self.prepare(request)?;
        if let Some(upstream) = &self.scripted {
            return self.scripted_answer(upstream.as_ref(), prepared);
        }
        let cache_key = keep.map(|_| super::cache::key(prepared.url.as_str(), &prepared.headers));
        if let Some(answer) = cache_key.as_ref().and_then(|key| self.cache.get(key)) {
            return Ok(answer);
        }
        let (url, timeout) = (prepared.url.clone(), prepared.timeout);
        let builder = self.builder(prepared);
        let exchange = async {
            let response = builder.send().await.map_err(|e| self.describe_error(&url, &e))?;
            self.read_response(response, &url).await
        };
        let answer = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| EgressError::Timeout(timed_out(&url, timeout)))??;
        if let (Some(key), Some(age)) = (cache_key, keep) {
            self.cache.put(key, age, &answer);
        }
        Ok(answer)
    }

    /// Everything [`fetch`](Self::fetch) checks before it sends: the URL
    /// against the policy, the method, the headers, secrets filled in
    /// toward bound hosts, and the timeout capped by the policy's.
    pub(super) fn prepare(&self, request: EgressRequest) -> Result<SentRequest, EgressError> {
        let url = Url::parse(&request.url).map_err(|e| EgressError::InvalidRequest(format!("bad URL: {e}")))?;
        self.check_url(&url)?;
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| EgressError::InvalidRequest(format!("bad method `{}`", request.method)))?;
        let mut headers = Vec::new();
        for (name, value) in headers::plugin_headers(&request.headers, self.secrets.is_bound_to(&url))? {
            headers.push((name, self.secrets.substitute(&value, &url)?));
        }
        let body =
            if request.body.is_empty() { Vec::new() } else { self.secrets.substitute_bytes(&request.body, &url)? };
        let timeout = request.timeout.unwrap_or(self.max_timeout).min(self.max_timeout);
        Ok(SentRequest { method: method.as_str().to_string(), url, headers, body, timeout })
    }

    /// The scripted upstream's answer to `sent`, capped and redacted like a
    /// real one.
    pub(super) fn scripted_answer(
        &self,
        upstream: &dyn ScriptedUpstream,
        sent: SentRequest,
    ) -> Result<EgressResponse, EgressError> {
        match upstream.answer(&sent) {
            ScriptedAnswer::Response { status, headers, body } => {
                if body.len() as u64 > self.max_response_bytes {
                    return Err(EgressError::TooLarge(self.name.too_large(&sent.url, self.max_response_bytes)));
                }
                let headers = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), self.secrets.redact(&v)));
                let body = self.secrets.redact_bytes(body);
                Ok(EgressResponse {
                    status,
                    headers: headers::plugin_response_headers(headers.collect(), body.len()),
                    body,
                })
            }
            ScriptedAnswer::Silent => Err(EgressError::Timeout(timed_out(&sent.url, sent.timeout))),
            ScriptedAnswer::Refused => Err(super::scripted::refused(&sent.url)),
        }
    }

    /// The scripted upstream, when this policy has one (`plugins check`).
    pub(super) fn scripted(&self) -> Option<&dyn ScriptedUpstream> {
        self.scripted.as_deref()
    }

    /// A request builder for a prepared request (no timeout set: callers
    /// bound the exchange themselves).
    pub(super) fn builder(&self, prepared: SentRequest) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(prepared.method.as_bytes()).expect("prepare checked the method");
        let mut builder = self.client.request(method, prepared.url);
        for (name, value) in prepared.headers {
            builder = builder.header(name.as_str(), value);
        }
        if !prepared.body.is_empty() {
            builder = builder.body(prepared.body);
        }
        builder
    }

    /// GET `url`, following up to [`MAX_REDIRECTS`] redirects; every hop is
    /// checked against this policy (allow-list, private addresses, scheme)
    /// before it is contacted, and `headers` (which may hold secrets) are
    /// sent to each. The last response is returned whatever its status;
    /// the policy's timeout bounds all hops together.
    pub async fn download(&self, url: &str, headers: Vec<(String, String)>) -> Result<EgressResponse, EgressError> {
        let url = Url::parse(url).map_err(|e| EgressError::InvalidRequest(format!("bad URL: {e}")))?;
        self.download_from(&url, headers).await.map(|(_, response)| response)
    }

    /// [`EgressPolicy::download`] also giving the URL that answered (after redirects).
    pub async fn download_from(
        &self,
        url: &Url,
        headers: Vec<(String, String)>,
    ) -> Result<(Url, EgressResponse), EgressError> {
        self.download_with(url, |_| headers.clone()).await
    }

    /// [`EgressPolicy::download_from`] with the headers of each hop chosen
    /// by `headers_for(hop_url)`, so that credentials go to the host they
    /// belong to and not to the storage a registry redirects a blob to.
    pub async fn download_with(
        &self,
        url: &Url,
        headers_for: impl Fn(&Url) -> Vec<(String, String)>,
    ) -> Result<(Url, EgressResponse), EgressError> {
        if self.scripted.is_some() {
            return Err(EgressError::InvalidRequest("downloads are not scripted; a check never downloads".into()));
        }
        let deadline = Instant::now() + self.max_timeout;
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(EgressError::Timeout(timed_out(&current, self.max_timeout)));
            }
            let request = EgressRequest {
                method: "GET".into(),
                url: current.to_string(),
                headers: headers_for(&current),
                timeout: Some(left),
                ..Default::default()
            };
            let response = match self.fetch(request).await {
                // The hop had what was left of the whole download's time: say the whole.
                Err(EgressError::Timeout(_)) if left < self.max_timeout => {
                    return Err(EgressError::Timeout(timed_out(&current, self.max_timeout)));
                }
                other => other?,
            };
            if !(300..400).contains(&response.status) || response.status == 304 {
                return Ok((current, response));
            }
            let location = response.header("location").ok_or_else(|| {
                EgressError::Connection(format!(
                    "{} answered redirect {} without a Location",
                    origin(&current),
                    response.status
                ))
            })?;
            current = current.join(location).map_err(|e| EgressError::InvalidRequest(format!("bad redirect: {e}")))?;
        }
        let mut shown = url.clone();
        shown.set_query(None);
        Err(EgressError::Connection(format!("more than {MAX_REDIRECTS} redirects from {shown}")))
    }

    pub(super) async fn read_response(
        &self,
        mut response: reqwest::Response,
        url: &Url,
    ) -> Result<EgressResponse, EgressError> {
        let cap = self.max_response_bytes;
        let status = response.status().as_u16();
        let headers = self.redacted_headers(response.headers());
        let too_large = || EgressError::TooLarge(self.name.too_large(url, cap));
        let body = client::read_capped(&mut response, cap, too_large, |e| self.describe_error(url, e)).await?;
        let coding = headers.iter().find(|(k, _)| k == "content-encoding").map(|(_, v)| v.as_str());
        let body = self.secrets.redact_bytes(headers::decode_body(coding, body, cap, &origin(url))?);
        let headers = headers::plugin_response_headers(headers, body.len());
        Ok(EgressResponse { status, headers, body })
    }

    /// Response headers with lower-case names and secrets redacted from values.
    pub(super) fn redacted_headers(&self, headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| {
                (k.as_str().to_ascii_lowercase(), self.secrets.redact(&String::from_utf8_lossy(v.as_bytes())))
            })
            .collect()
    }

    pub(super) fn describe_error(&self, url: &Url, error: &reqwest::Error) -> EgressError {
        client::describe_error(url, error, self.name.failure_prefix(), |text| self.secrets.redact(text))
    }
}

/// The IP address a URL names literally (`localhost` counts as 127.0.0.1).
fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host() {
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => Some(IpAddr::from([127, 0, 0, 1])),
        _ => None,
    }
}

pub(super) fn timed_out(url: &Url, timeout: Duration) -> String {
    format!("{} did not answer within {} s", origin(url), timeout.as_secs_f32())
}

/// The wording of each policy's refusals: what happened and which setting
/// to change.
impl PolicyName {
    fn bad_scheme(&self, scheme: &str) -> String {
        match self {
            PolicyName::Plugin(_) => format!("only http and https URLs are allowed, not `{scheme}`"),
            PolicyName::Inputs => format!("only http and https URLs are fetched, not {scheme}"),
            PolicyName::PluginSource(id) => {
                format!("[plugins.{id}] url must be https (http only to a loopback address), not {scheme}")
            }
            PolicyName::Publish => format!("registries are reached over https (http only on loopback), not {scheme}"),
            PolicyName::Issuer => format!("[server.auth] issuer must be https (http only on loopback), not {scheme}"),
            PolicyName::ClientMetadata => format!("a client id URL must be https, not {scheme}"),
        }
    }

    fn not_listed(&self, url: &Url, allow: &[AllowedHost]) -> String {
        let suggestion = AllowedHost::suggestion_for(url);
        let listed = if allow.is_empty() {
            "its allowed_hosts is empty".to_string()
        } else {
            format!("it allows {}", allow.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        };
        match self {
            PolicyName::Plugin(id) => format!(
                "plugin `{id}` may not reach {suggestion} ({listed}); to allow it, add \"{suggestion}\" to allowed_hosts in [plugins.{id}] of plugins.toml"
            ),
            _ => self.private(url),
        }
    }

    fn private(&self, url: &Url) -> String {
        let entry = AllowedHost::suggestion_for(url);
        match self {
            PolicyName::PluginSource(id) => format!(
                "{} is a private or loopback address; the download of [plugins.{id}] may only reach one when its url names that address itself",
                origin(url)
            ),
            PolicyName::Publish => format!(
                "{} is a private or loopback address; a push may only reach one when the oci:// reference names that address itself",
                origin(url)
            ),
            PolicyName::Issuer => format!(
                "{} is a private or loopback address; the authorization server may only be there when [server.auth] issuer names that address itself",
                origin(url)
            ),
            PolicyName::ClientMetadata => format!(
                "{} is a private or loopback address; a client id URL may only be there when [server.auth.login] client_metadata_hosts lists \"{entry}\"",
                origin(url)
            ),
            _ => format!(
                "{} is a private or loopback address; image URLs may only point there if [inputs] allowed_hosts lists \"{entry}\"",
                origin(url)
            ),
        }
    }

    fn plain_http(&self, url: &Url) -> String {
        let id = match self {
            PolicyName::PluginSource(id) | PolicyName::Plugin(id) => id.as_str(),
            PolicyName::Publish => {
                return format!(
                    "{} is plain http; registries are reached over https only (http only on a loopback address)",
                    origin(url)
                );
            }
            PolicyName::Issuer => {
                return format!(
                    "{} is plain http; the authorization server is reached over https only (http only on a loopback address)",
                    origin(url)
                );
            }
            PolicyName::ClientMetadata => {
                return format!(
                    "{} is plain http; client id URLs must be https unless [server.auth.login] client_metadata_hosts lists the origin",
                    origin(url)
                );
            }
            PolicyName::Inputs => "",
        };
        format!(
            "{} is plain http; plugin components are downloaded over https only (http only from a loopback address); use an https url in [plugins.{id}]",
            origin(url)
        )
    }

    fn too_large(&self, url: &Url, cap: u64) -> String {
        match self {
            PolicyName::Plugin(id) => {
                format!(
                    "{} sent more than {} MiB; raise max_response_mib in [plugins.{id}] if this is expected",
                    origin(url),
                    cap >> 20
                )
            }
            PolicyName::Inputs => format!("{} sends more than the {} MiB input limit", origin(url), cap >> 20),
            PolicyName::PluginSource(id) => {
                format!(
                    "{} sent more than {} MiB, the limit for the component of [plugins.{id}]",
                    origin(url),
                    cap >> 20
                )
            }
            PolicyName::Publish => format!("{} sent more than {} MiB in answer to a push", origin(url), cap >> 20),
            PolicyName::Issuer => format!("{} sent more than {} MiB of OAuth metadata", origin(url), cap >> 20),
            PolicyName::ClientMetadata => {
                format!("{} sent more than {} KiB of client metadata", origin(url), cap >> 10)
            }
        }
    }

    fn failure_prefix(&self) -> &'static str {
        match self {
            PolicyName::Plugin(_) => "",
            PolicyName::Inputs => "cannot fetch ",
            PolicyName::PluginSource(_) => "cannot download from ",
            PolicyName::Publish => "cannot push to ",
            PolicyName::Issuer => "cannot read the authorization server at ",
            PolicyName::ClientMetadata => "cannot read the client's metadata at ",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::test_server::serve;

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    fn inputs_allowing(base: &str) -> EgressPolicy {
        EgressPolicy::inputs(vec![base.parse().unwrap()], 1 << 20, Duration::from_secs(5))
    }

    #[test]
    fn inputs_reach_public_hosts_and_only_the_private_ones_listed() {
        let policy = inputs_allowing("http://127.0.0.1:8188");
        for ok in ["https://example.com/a.png", "http://93.184.216.34/a.png", "http://127.0.0.1:8188/a.png"] {
            assert!(policy.check_url(&url(ok)).is_ok(), "{ok}");
        }
        for (bad, words) in [
            ("http://127.0.0.1:8189/a.png", "[inputs] allowed_hosts lists \"http://127.0.0.1:8189\""),
            ("http://10.0.0.1/a.png", "http://10.0.0.1 is a private or loopback address"),
            ("http://localhost/a.png", "private or loopback"),
            ("http://[::ffff:169.254.169.254]/", "private or loopback"),
        ] {
            let error = policy.check_url(&url(bad)).unwrap_err();
            assert!(matches!(&error, EgressError::Denied(m) if m.contains(words)), "{bad}: {error}");
        }
        assert!(
            policy
                .check_url(&url("ftp://example.com/a.png"))
                .unwrap_err()
                .message()
                .contains("only http and https URLs are fetched")
        );
    }

    #[test]
    fn plugin_sources_take_public_https_and_their_own_loopback_host_only() {
        let limits = SourceLimits::default();
        let local = EgressPolicy::plugin_source("p", &url("http://127.0.0.1:9000/p.wasm"), limits);
        assert!(local.check_url(&url("http://127.0.0.1:9000/other.wasm")).is_ok(), "its own loopback host");
        assert!(local.check_url(&url("https://objects.example.com/p.wasm")).is_ok(), "a public https redirect target");
        for (bad, words) in [
            ("http://127.0.0.1:9001/p.wasm", "plain http"),
            ("https://127.0.0.1:9001/p.wasm", "a private or loopback address; the download of [plugins.p]"),
            ("https://169.254.169.254/latest", "private or loopback"),
            ("http://example.com/p.wasm", "downloaded over https only"),
        ] {
            let error = local.check_url(&url(bad)).unwrap_err();
            assert!(matches!(&error, EgressError::Denied(m) if m.contains(words)), "{bad}: {error}");
        }
        let plain = EgressPolicy::plugin_source("p", &url("http://example.com/p.wasm"), limits);
        assert!(plain.check_url(&url("http://example.com/p.wasm")).is_err(), "plain http to a public host is refused");
        let private = EgressPolicy::plugin_source("p", &url("http://10.0.0.5/p.wasm"), limits);
        assert!(private.check_url(&url("http://10.0.0.5/p.wasm")).unwrap_err().message().contains("plain http"));
    }

    #[tokio::test]
    async fn an_input_redirect_from_an_allowed_host_to_a_private_address_is_refused_at_that_hop() {
        let allowed = serve(b"ok".to_vec()).await;
        let private = serve(b"secret".to_vec()).await;
        let policy = inputs_allowing(&allowed.base);
        let (_, response) =
            policy.download_from(&url(&format!("{}/redirect?to=/file", allowed.base)), vec![]).await.unwrap();
        assert_eq!(response.body, b"ok", "a redirect within the allowed host is followed");
        for target in [
            format!("{}/file", private.base),
            "http://10.0.0.1/x.png".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
        ] {
            let error = policy.download(&format!("{}/redirect?to={target}", allowed.base), vec![]).await.unwrap_err();
            let target_origin = origin(&url(&target));
            assert!(
                matches!(&error, EgressError::Denied(m) if m.starts_with(&format!("{target_origin} is a private or loopback address"))),
                "{target}: {error}"
            );
        }
        assert!(private.seen.lock().unwrap().is_empty(), "the private target was never contacted");
    }

    #[tokio::test]
    async fn a_body_past_the_cap_is_cut_there_and_a_stalled_one_times_out() {
        let server = serve(Vec::new()).await;
        let policy = EgressPolicy::inputs(vec![server.base.parse().unwrap()], 1 << 20, Duration::from_secs(1));
        let error = policy.download(&format!("{}/big", server.base), vec![]).await.unwrap_err();
        assert!(matches!(&error, EgressError::TooLarge(m) if m.contains("more than the 1 MiB input limit")), "{error}");
        for path in ["/stall", "/hang"] {
            let started = Instant::now();
            let error = policy.download(&format!("{}{path}", server.base), vec![]).await.unwrap_err();
            assert!(
                matches!(&error, EgressError::Timeout(m) if m.contains("did not answer within 1 s")),
                "{path}: {error}"
            );
            assert!(started.elapsed() < Duration::from_secs(3), "{path}: stopped at the timeout");
        }
    }

    #[tokio::test]
    async fn a_redirect_loop_stops_after_the_limit() {
        let server = serve(Vec::new()).await;
        let policy = inputs_allowing(&server.base);
        let error = policy.download(&format!("{}/loop", server.base), vec![]).await.unwrap_err();
        assert!(error.message().contains(&format!("more than {MAX_REDIRECTS} redirects")), "{error}");
        assert_eq!(server.seen.lock().unwrap().len(), MAX_REDIRECTS + 1);
    }
}
