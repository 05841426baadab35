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
//! Anything else is refused with a message that lists these forms. Each
//! handle is first [staged](InputResolver::stage): fetched and checked whole
//! (a full decode) with nothing written, so that a request refused for any
//! of its inputs leaves nothing in the store; only then is it
//! [imported](InputResolver::import).

use crate::config::InputSettings;
use crate::egress::allowed_hosts::{is_non_public, AllowedHost};
use crate::egress::{error_chain, origin, shared_client, MAX_REDIRECTS};
use crate::blocking::image_work;
use crate::store::{is_valid_id, validate, Origin, Sidecar, Store, ValidImage};
use base64::Engine as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::{Host, Url};

/// Time allowed for downloading one input image.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

const FORMS: &str = "give a store id, an image:// URI, a data:image/…;base64 URI, an http(s) URL, or a path inside [inputs] allowed_dirs";

/// An input accepted but not yet written to the store.
#[derive(Debug)]
pub enum Staged {
    /// Already in the store (whole, as far as a `stat` can tell): its id.
    Stored(String),
    /// New bytes, checked whole; `source` is what the sidecar records (URL
    /// without query, file path, or `data: URI`).
    New { image: ValidImage, source: String },
}

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

    /// The store id for `handle`, importing it when needed: [`Self::stage`]
    /// then [`Self::import`].
    pub async fn resolve(&self, handle: &str) -> Result<String, String> {
        let staged = self.stage(handle).await?;
        self.import(staged).await
    }

    /// Check `handle` and fetch and fully decode its bytes (on the image
    /// pool), writing nothing. Errors: the handle's form, policy, size or
    /// bytes, as a message naming the source and the fix.
    pub async fn stage(&self, handle: &str) -> Result<Staged, String> {
        let handle = handle.trim();
        let as_id = handle.strip_prefix("image://").unwrap_or(handle);
        if is_valid_id(as_id) {
            return self.store.get(as_id).map(|s| Staged::Stored(s.sidecar.id)).map_err(|e| format!("{e:#}"));
        }
        if handle.starts_with("image://") {
            return Err(format!("`{handle}` is not an image:// URI of a stored image (image://<16 hex digits>)"));
        }
        if let Some(data) = handle.strip_prefix("data:") {
            let bytes = decode_data_uri(data, self.max_bytes)?;
            return check(bytes, "data: URI".into()).await;
        }
        if handle.starts_with("http://") || handle.starts_with("https://") {
            let (bytes, source) = self.download(handle).await?;
            return check(bytes, source).await;
        }
        if handle.contains("://") {
            return Err(format!("unsupported scheme in `{}`; {FORMS}", shorten(handle)));
        }
        let path = self.confined_path(handle)?;
        let max_bytes = self.max_bytes;
        let read = image_work(move || read_capped(&path, max_bytes).map(|bytes| (bytes, path.display().to_string())));
        let (bytes, source) = read.await.map_err(|e| format!("{e:#}"))??;
        check(bytes, source).await
    }

    /// Write a staged input into the store (origin `imported`, on the image
    /// pool) and give its id. Errors: the store's, e.g. a full disk.
    pub async fn import(&self, staged: Staged) -> Result<String, String> {
        let (image, source) = match staged {
            Staged::Stored(id) => return Ok(id),
            Staged::New { image, source } => (image, source),
        };
        let store = self.store.clone();
        let mut sidecar = Sidecar::new(Origin::Imported, "");
        sidecar.source = Some(source.clone());
        let stored = image_work(move || store.put_valid(&image, sidecar)).await.map_err(|e| format!("{e:#}"))?;
        stored.map(|s| s.sidecar.id).map_err(|e| format!("{source}: {e:#}"))
    }

    /// Import a file the local user named (the CLI); no directory
    /// confinement. Synchronous (reads and decodes the file).
    pub fn import_file(&self, path: &Path) -> Result<String, String> {
        let bytes = read_capped(path, self.max_bytes)?;
        let source = path.display().to_string();
        let mut sidecar = Sidecar::new(Origin::Imported, "");
        sidecar.source = Some(source.clone());
        self.store.put(&bytes, sidecar).map(|s| s.sidecar.id).map_err(|e| format!("{source}: {e:#}"))
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

/// `bytes` checked whole on the image pool, as a staged new input.
async fn check(bytes: Vec<u8>, source: String) -> Result<Staged, String> {
    match image_work(move || validate(bytes)).await {
        Ok(Ok(image)) => Ok(Staged::New { image, source }),
        Ok(Err(e)) => Err(format!("{source}: {e:#}")),
        Err(e) => Err(format!("{source}: {e:#}")),
    }
}

/// The bytes of the file at `path`, refused over `max_bytes`.
fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
    if size > max_bytes {
        return Err(format!("{} is {} MiB, over the {} MiB input limit", path.display(), size >> 20, max_bytes >> 20));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The bytes of a data: URI given without its `data:` prefix
/// (`image/png;base64,…`), refused before decoding when the payload would
/// exceed `max_bytes`. Only base64 `image/*` URIs are accepted; the bytes
/// are not checked to be an image here (`store::validate` does that).
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
