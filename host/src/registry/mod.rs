//! OCI registries as a plugin source: references (`registry/repo:tag`),
//! the registry's base URL, and one authenticated session whose every
//! request leaves through an [`EgressPolicy`] (size caps, timeouts, the
//! public-only resolver, each redirect hop checked). `pull` fetches and
//! verifies a plugin for `[plugins.ID] oci` + `digest`; `push` uploads one
//! for `easel plugins push`; `artifact` is the wasm artifact layout both
//! agree on. Protocol: the OCI Distribution Specification v1.1 (endpoints
//! `/v2/<name>/manifests/<reference>`, `/v2/<name>/blobs/<digest>`,
//! `/v2/<name>/blobs/uploads/`), with the token flow of the Docker
//! registry auth spec (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`).

pub mod artifact;
pub mod pull;
pub mod push;
mod session;
#[cfg(test)]
mod tests;

pub use session::Credentials;

use crate::egress::EgressError;
use std::fmt;
use std::str::FromStr;
use url::Url;

/// A parsed OCI reference: `REGISTRY/REPOSITORY[:TAG][@DIGEST]`, with or
/// without a leading `oci://`; a missing tag is `latest` (Docker's rule,
/// as `oci_spec::distribution::Reference` parses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    /// `host[:port]` as written, e.g. `ghcr.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// e.g. `acme/easel-acme`.
    pub repository: String,
    /// e.g. `1.2.0`; `None` only when the reference names a digest alone.
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins one.
    pub digest: Option<String>,
}

impl FromStr for OciRef {
    type Err = String;

    /// Errors: a sentence saying what is wrong with the reference.
    fn from_str(text: &str) -> Result<Self, String> {
        let bare = text.strip_prefix("oci://").unwrap_or(text);
        if bare.is_empty() || !bare.contains('/') {
            return Err(format!(
                "`{text}` is not an OCI reference; write REGISTRY/REPOSITORY:TAG, e.g. ghcr.io/acme/easel-acme:1.0"
            ));
        }
        let parsed = oci_spec::distribution::Reference::from_str(bare)
            .map_err(|e| format!("`{text}` is not an OCI reference ({e}); write REGISTRY/REPOSITORY:TAG"))?;
        let digest = parsed.digest().map(str::to_string);
        // Docker fills in `latest` even beside a digest; keep only a tag that was written.
        let before_digest = bare.split('@').next().unwrap_or(bare);
        let tag_written = before_digest.rsplit('/').next().is_some_and(|last| last.contains(':'));
        let tag = parsed.tag().filter(|_| tag_written || digest.is_none()).map(str::to_string);
        Ok(OciRef { registry: parsed.registry().to_string(), repository: parsed.repository().to_string(), tag, digest })
    }
}

impl fmt::Display for OciRef {
    /// `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl OciRef {
    /// The registry's API root: `http://` for a loopback host
    /// (`localhost`, `127.x.x.x`, `[::1]`, as Docker treats them), else
    /// `https://`; Docker Hub's `docker.io` is served at `index.docker.io`.
    pub fn base_url(&self) -> Url {
        let host = if self.registry == "docker.io" { "index.docker.io" } else { self.registry.as_str() };
        let name = host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host });
        let loopback = name == "localhost"
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let scheme = if loopback { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{host}/"))
            .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("a URL"))
    }

    /// What the manifest is fetched by: the tag when there is one (so a
    /// moved tag is noticed), else the digest.
    pub fn manifest_reference(&self) -> &str {
        self.tag.as_deref().or(self.digest.as_deref()).unwrap_or("latest")
    }

    /// `<base>/v2/<repository>/<rest>`.
    pub(crate) fn endpoint(&self, rest: &str) -> Url {
        self.base_url().join(&format!("v2/{}/{rest}", self.repository)).expect("a path under the base URL")
    }
}

/// Why a pull or push failed; each message names the reference and, where
/// there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The egress policy refused the request, or the network failed.
    #[error("{reference}: {}", error.message())]
    Egress { reference: String, error: EgressError },
    /// The registry answered with an unexpected status; `detail` is its
    /// distribution-spec error (`{"errors":[{"code","message"}]}`) if any.
    #[error("{reference}: {what} answered HTTP {status}{detail}")]
    Status { reference: String, what: String, status: u16, detail: String },
    /// 401 after the credentials (or anonymous token) were tried.
    #[error("{reference}: the registry refused {}{detail}; {hint}", if *with_credentials { "the credentials in EASEL_REGISTRY_USERNAME / EASEL_REGISTRY_PASSWORD" } else { "anonymous access" })]
    Unauthorized { reference: String, with_credentials: bool, detail: String, hint: String },
    /// The manifest's sha256 is not the configured digest.
    #[error(
        "{reference} is {actual}, not the configured digest {expected}; refusing to load it. If you trust the new version, set digest = \"{actual}\""
    )]
    DigestMismatch { reference: String, actual: String, expected: String },
    /// The artifact is not one wasm component (index, no wasm layer, bad JSON…).
    #[error("{reference}: {why}")]
    NotAComponent { reference: String, why: String },
    /// A blob's bytes are not the ones its descriptor names.
    #[error("{reference}: the layer {digest} {why}; refusing to load it")]
    BadBlob { reference: String, digest: String, why: String },
    /// The verified files could not be cached.
    #[error("cannot write the registry cache {}: {error}", path.display())]
    Cache { path: std::path::PathBuf, error: std::io::Error },
}

/// `sha256:<hex>` of `bytes`, the form digests take in OCI.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Whether `text` is `sha256:` and 64 lower- or upper-case hex digits.
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}
