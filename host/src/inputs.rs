//! Input images by any handle, imported into the store so that they have
//! ids (origin `imported`):
//!
//! | handle                         | accepted when                                          |
//! |--------------------------------|--------------------------------------------------------|
//! | `0123456789abcdef`, `image://…`| the id is in the store                                 |
//! | `data:image/png;base64,…`      | it decodes to PNG, JPEG, WebP or GIF within the size cap |
//! | `https://…`, `http://…`        | public host, or a private one listed in `[inputs] allowed_hosts`; every redirect re-checked; size cap; image bytes |
//! | a file path                    | inside `[inputs] allowed_dirs` (none by default) or the store |
//!
//! Anything else is refused with a message that lists these forms. Nothing
//! is written to the store unless the bytes are an accepted image.

use crate::config::InputSettings;
use crate::egress::allowed_hosts::{is_non_public, AllowedHost};
use crate::egress::{error_chain, origin, shared_client, MAX_REDIRECTS};
use crate::store::{is_valid_id, Origin, Sidecar, Store};
use base64::Engine as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::{Host, Url};

/// Time allowed for downloading one input image.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

const FORMS: &str = "give a store id, an image:// URI, a data:image/…;base64 URI, an http(s) URL, or a path inside [inputs] allowed_dirs";

/// Turns handles into store ids under the deployment's `[inputs]` policy.
#[derive(Clone)]
pub struct InputResolver {
    store: Store,
    dirs: Vec<PathBuf>,
    private_hosts: Vec<AllowedHost>,
    max_bytes: u64,
}

impl InputResolver {
    /// `base_dir` resolves relative `allowed_dirs`; missing dirs are skipped.
    pub fn new(store: Store, settings: &InputSettings, base_dir: &Path) -> InputResolver {
        let mut dirs: Vec<PathBuf> = settings
            .allowed_dirs
            .iter()
            .filter_map(|d| (if d.is_absolute() { d.clone() } else { base_dir.join(d) }).canonicalize().ok())
            .collect();
        dirs.push(store.root().to_path_buf());
        InputResolver { store, dirs, private_hosts: settings.allow.clone(), max_bytes: settings.max_mib << 20 }
    }

    /// The store id for `handle`, importing it when needed.
    pub async fn resolve(&self, handle: &str) -> Result<String, String> {
        let handle = handle.trim();
        let as_id = handle.strip_prefix("image://").unwrap_or(handle);
        if is_valid_id(as_id) {
            return self.store.metadata(as_id).map(|s| s.id).map_err(|e| format!("{e:#}"));
        }
        if handle.starts_with("image://") {
            return Err(format!("`{handle}` is not an image:// URI of a stored image (image://<16 hex digits>)"));
        }
        if let Some(data) = handle.strip_prefix("data:") {
            let bytes = decode_data_uri(data, self.max_bytes)?;
            return self.import(&bytes, "data: URI".into());
        }
        if handle.starts_with("http://") || handle.starts_with("https://") {
            let (bytes, source) = self.download(handle).await?;
            return self.import(&bytes, source);
        }
        if handle.contains("://") {
            return Err(format!("unsupported scheme in `{}`; {FORMS}", shorten(handle)));
        }
        let path = self.confined_path(handle)?;
        self.import_file(&path)
    }

    /// Import a file the local user named (the CLI); no directory confinement.
    pub fn import_file(&self, path: &Path) -> Result<String, String> {
        let size = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
        if size > self.max_bytes {
            return Err(format!("{} is {} MiB, over the {} MiB input limit", path.display(), size >> 20, self.max_bytes >> 20));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.import(&bytes, path.display().to_string())
    }

    fn import(&self, bytes: &[u8], source: String) -> Result<String, String> {
        crate::store::probe(bytes).map_err(|e| format!("{source}: {e:#}"))?;
        let mut sidecar = Sidecar::new(Origin::Imported, "");
        sidecar.source = Some(source);
        self.store.put(bytes, sidecar).map(|s| s.sidecar.id).map_err(|e| format!("{e:#}"))
    }

    /// A path inside an allowed directory, after resolving `..` and symlinks.
    fn confined_path(&self, handle: &str) -> Result<PathBuf, String> {
        let path = PathBuf::from(handle);
        let canonical = path.canonicalize().map_err(|_| format!("`{}` is not a stored image id and no such file exists; {FORMS}", shorten(handle)))?;
        if self.dirs.iter().any(|dir| canonical.starts_with(dir)) {
            return Ok(canonical);
        }
        let configured = self.dirs.len() > 1;
        Err(format!(
            "{} is outside the directories Easel may read ({}); add its directory to [inputs] allowed_dirs in plugins.toml",
            canonical.display(),
            if configured { "see [inputs] allowed_dirs" } else { "none are configured" }
        ))
    }

    async fn download(&self, url: &str) -> Result<(Vec<u8>, String), String> {
        let mut current = Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_target(&current)?;
            let response = tokio::time::timeout(DOWNLOAD_TIMEOUT, shared_client().get(current.clone()).send())
                .await
                .map_err(|_| format!("{} did not answer within {} s", origin(&current), DOWNLOAD_TIMEOUT.as_secs()))?
                .map_err(|e| format!("cannot fetch {}: {}", origin(&current), error_chain(&e)))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get("location").and_then(|v| v.to_str().ok()).ok_or("redirect without a Location")?;
                current = current.join(location).map_err(|e| format!("bad redirect: {e}"))?;
                continue;
            }
            if !status.is_success() {
                return Err(format!("{} answered HTTP {}", origin(&current), status.as_u16()));
            }
            if response.content_length().is_some_and(|len| len > self.max_bytes) {
                return Err(format!("{} sends more than the {} MiB input limit", origin(&current), self.max_bytes >> 20));
            }
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading {}: {}", origin(&current), error_chain(&e)))? {
                if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                    return Err(format!("{} sends more than the {} MiB input limit", origin(&current), self.max_bytes >> 20));
                }
                body.extend_from_slice(&chunk);
            }
            let mut source = current.clone();
            source.set_query(None);
            return Ok((body, source.to_string()));
        }
        Err(format!("more than {MAX_REDIRECTS} redirects from {}", shorten(url)))
    }

    /// Private and loopback address literals need an `[inputs] allowed_hosts`
    /// entry; names are checked at connect time by the egress resolver.
    fn check_target(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("only http and https URLs are fetched, not {}", url.scheme()));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => Some(IpAddr::from([127, 0, 0, 1])),
            _ => None,
        };
        if literal.is_some_and(is_non_public) && !self.private_hosts.iter().any(|h| h.matches(url)) {
            let entry = AllowedHost::suggestion_for(url);
            return Err(format!(
                "{} is a private or loopback address; image URLs may only point there if [inputs] allowed_hosts lists \"{entry}\"",
                origin(url)
            ));
        }
        Ok(())
    }
}

/// The bytes of a data: URI given without its `data:` prefix
/// (`image/png;base64,…`), refused before decoding when the payload would
/// exceed `max_bytes`. Only base64 `image/*` URIs are accepted; the bytes
/// are not checked to be an image here (`store::probe` does that).
pub(crate) fn decode_data_uri(data: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let (meta, payload) = data.split_once(',').ok_or("a data: URI needs a comma before the data")?;
    if !meta.starts_with("image/") || !meta.ends_with(";base64") {
        return Err("only base64 image data URIs are accepted (data:image/png;base64,…)".into());
    }
    if payload.len() as u64 / 4 * 3 > max_bytes {
        return Err(format!("the data: URI is over the {} MiB input limit", max_bytes >> 20));
    }
    base64::engine::general_purpose::STANDARD.decode(payload.trim()).map_err(|e| format!("the data: URI is not valid base64: {e}"))
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text.to_string() }
}
