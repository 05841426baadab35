//! Input images by any handle, imported into the store so that they have
//! ids (origin `imported`):
//!
//! | handle                         | accepted when                                          |
//! |--------------------------------|--------------------------------------------------------|
//! | `0123456789abcdef`, `image://…`| the id is in the store                                 |
//! | `data:image/png;base64,…`      | it decodes to PNG, JPEG, WebP or GIF within the size cap |
//! | `https://…`, `http://…`        | egress's inputs policy allows it: a public host, or a private one listed in `[inputs] allowed_hosts`; every redirect re-checked; size cap; 60 s; image bytes |
//! | a file path                    | inside `[inputs] allowed_dirs` (none by default) or the store |
//!
//! Anything else is refused with a message that lists these forms. Each
//! handle is first [staged](InputResolver::stage): fetched and checked whole
//! (a full decode) with nothing written, so that a request refused for any
//! of its inputs leaves nothing in the store; only then is it
//! [imported](InputResolver::import).

use crate::blocking::image_work;
use crate::config::InputSettings;
use crate::egress::{EgressError, EgressPolicy, origin};
use crate::store::{Origin, Sidecar, Store, ValidImage, is_valid_id, validate};
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Time allowed for downloading one input image (every redirect included).
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

const FORMS: &str = "give a store id, an image:// URI, a data:image/…;base64 URI, an http(s) URL, or a path inside [inputs] allowed_dirs";

/// Why an input handle was refused; the text names the source and the fix
/// (what the caller shows under the input's field).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The store could not get, read or write the image (its message).
    #[error("{0}")]
    Store(String),
    /// `image://` followed by something other than a stored id.
    #[error("`{0}` is not an image:// URI of a stored image (image://<16 hex digits>)")]
    NotAnImageUri(String),
    /// A `data:` URI that is not base64 image data within the cap.
    #[error("{0}")]
    DataUri(#[from] DataUriError),
    /// A URL scheme other than http(s); the handle is shortened.
    #[error("unsupported scheme in `{0}`; {FORMS}")]
    UnsupportedScheme(String),
    /// Neither an id nor an existing file; the handle is shortened.
    #[error("`{0}` is not a stored image id and no such file exists; {FORMS}")]
    NoSuchFile(String),
    /// A file outside `[inputs] allowed_dirs` (and the store); `configured`
    /// says whether any directory is.
    #[error(
        "{} is outside the directories Easel may read ({}); add its directory to [inputs] allowed_dirs in plugins.toml",
        path.display(),
        if *configured { "see [inputs] allowed_dirs" } else { "none are configured" }
    )]
    OutsideDirs { path: PathBuf, configured: bool },
    /// An http(s) handle that does not parse as a URL.
    #[error("bad URL: {0}")]
    BadUrl(url::ParseError),
    /// The download was refused by the inputs policy or failed (address,
    /// size cap, timeout, network, redirects).
    #[error("{}", .0.message())]
    Fetch(EgressError),
    /// The URL answered with a status other than success; `origin` is
    /// `scheme://host[:port]`.
    #[error("{origin} answered HTTP {status}")]
    Status { origin: String, status: u16 },
    /// A file that cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    /// A file over `[inputs] max_mib`; sizes in MiB.
    #[error("{} is {mib} MiB, over the {max_mib} MiB input limit", path.display())]
    FileTooLarge { path: PathBuf, mib: u64, max_mib: u64 },
    /// The bytes from `from` (URL, path or `data: URI`) are not a whole
    /// image in a supported format, or the store refused them.
    #[error("{from}: {reason}")]
    Refused { from: String, reason: String },
}

/// Why a `data:` URI was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DataUriError {
    /// No `,` between the media type and the data.
    #[error("a data: URI needs a comma before the data")]
    NoComma,
    /// Not `image/*;base64`.
    #[error("only base64 image data URIs are accepted (data:image/png;base64,…)")]
    NotBase64Image,
    /// The payload would decode past the cap, MiB.
    #[error("the data: URI is over the {0} MiB input limit")]
    TooLarge(u64),
    /// The payload is not base64.
    #[error("the data: URI is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

/// Callers that carry messages as strings (e.g. `JobError::field`) take an
/// `InputError` as its text.
impl From<InputError> for String {
    fn from(error: InputError) -> String {
        error.to_string()
    }
}

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
    /// Egress's inputs policy, from `[inputs] allowed_hosts` and `max_mib`.
    egress: Arc<EgressPolicy>,
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
        let max_bytes = settings.max_mib << 20;
        let egress = Arc::new(EgressPolicy::inputs(settings.allowed_hosts.clone(), max_bytes, DOWNLOAD_TIMEOUT));
        InputResolver { store, dirs, egress, max_bytes }
    }

    /// The store id for `handle`, importing it when needed: [`Self::stage`]
    /// then [`Self::import`].
    pub async fn resolve(&self, handle: &str) -> Result<String, InputError> {
        let staged = self.stage(handle).await?;
        self.import(staged).await
    }

    /// Check `handle` and fetch and fully decode its bytes (on the image
    /// pool), writing nothing. Errors: the handle's form, policy, size or
    /// bytes ([`InputError`]), naming the source and the fix.
    pub async fn stage(&self, handle: &str) -> Result<Staged, InputError> {
        let handle = handle.trim();
        let as_id = handle.strip_prefix("image://").unwrap_or(handle);
        if is_valid_id(as_id) {
            return self
                .store
                .get(as_id)
                .map(|s| Staged::Stored(s.sidecar.id))
                .map_err(|e| InputError::Store(format!("{e:#}")));
        }
        if handle.starts_with("image://") {
            return Err(InputError::NotAnImageUri(handle.into()));
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
            return Err(InputError::UnsupportedScheme(shorten(handle)));
        }
        let path = self.confined_path(handle)?;
        let max_bytes = self.max_bytes;
        let read = image_work(move || read_capped(&path, max_bytes).map(|bytes| (bytes, path.display().to_string())));
        let (bytes, source) = read.await.map_err(|e| InputError::Store(format!("{e:#}")))??;
        check(bytes, source).await
    }

    /// Write a staged input into the store (origin `imported`, on the image
    /// pool) and give its id. Errors: the store's, e.g. a full disk.
    pub async fn import(&self, staged: Staged) -> Result<String, InputError> {
        let (image, source) = match staged {
            Staged::Stored(id) => return Ok(id),
            Staged::New { image, source } => (image, source),
        };
        let store = self.store.clone();
        let mut sidecar = Sidecar::new(Origin::Imported, "");
        sidecar.source = Some(source.clone());
        let stored = image_work(move || store.put_valid(&image, sidecar))
            .await
            .map_err(|e| InputError::Store(format!("{e:#}")))?;
        stored.map(|s| s.sidecar.id).map_err(|e| InputError::Refused { from: source, reason: format!("{e:#}") })
    }

    /// Import a file the local user named (the CLI); no directory
    /// confinement. Synchronous (reads and decodes the file).
    pub fn import_file(&self, path: &Path) -> Result<String, InputError> {
        let bytes = read_capped(path, self.max_bytes)?;
        let source = path.display().to_string();
        let mut sidecar = Sidecar::new(Origin::Imported, "");
        sidecar.source = Some(source.clone());
        self.store
            .put(&bytes, sidecar)
            .map(|s| s.sidecar.id)
            .map_err(|e| InputError::Refused { from: source, reason: format!("{e:#}") })
    }

    /// A path inside an allowed directory, after resolving `..` and symlinks.
    fn confined_path(&self, handle: &str) -> Result<PathBuf, InputError> {
        let path = PathBuf::from(handle);
        let canonical = path.canonicalize().map_err(|_| InputError::NoSuchFile(shorten(handle)))?;
        if self.dirs.iter().any(|dir| canonical.starts_with(dir)) {
            return Ok(canonical);
        }
        Err(InputError::OutsideDirs { path: canonical, configured: self.dirs.len() > 1 })
    }

    /// GET `url` under egress's inputs policy (redirects followed, every
    /// hop checked, size cap, timeout): its bytes and the source to record
    /// (the URL that answered, without its query).
    async fn download(&self, url: &str) -> Result<(Vec<u8>, String), InputError> {
        let url = Url::parse(url).map_err(InputError::BadUrl)?;
        let (mut answered, response) = self.egress.download_from(&url, Vec::new()).await.map_err(InputError::Fetch)?;
        if !(200..300).contains(&response.status) {
            return Err(InputError::Status { origin: origin(&answered), status: response.status });
        }
        answered.set_query(None);
        Ok((response.body, answered.to_string()))
    }
}

/// `bytes` checked whole on the image pool, as a staged new input.
async fn check(bytes: Vec<u8>, source: String) -> Result<Staged, InputError> {
    match image_work(move || validate(bytes)).await {
        Ok(Ok(image)) => Ok(Staged::New { image, source }),
        Ok(Err(e)) => Err(InputError::Refused { from: source, reason: format!("{e:#}") }),
        Err(e) => Err(InputError::Refused { from: source, reason: format!("{e:#}") }),
    }
}

/// The bytes of the file at `path`, refused over `max_bytes`.
fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, InputError> {
    let unreadable = |error| InputError::Unreadable { path: path.to_path_buf(), error };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > max_bytes {
        return Err(InputError::FileTooLarge { path: path.to_path_buf(), mib: size >> 20, max_mib: max_bytes >> 20 });
    }
    std::fs::read(path).map_err(unreadable)
}

/// The bytes of a data: URI given without its `data:` prefix
/// (`image/png;base64,…`), refused before decoding when the payload would
/// exceed `max_bytes`. Only base64 `image/*` URIs are accepted; the bytes
/// are not checked to be an image here (`store::validate` does that).
pub(crate) fn decode_data_uri(data: &str, max_bytes: u64) -> Result<Vec<u8>, DataUriError> {
    let (meta, payload) = data.split_once(',').ok_or(DataUriError::NoComma)?;
    if !meta.starts_with("image/") || !meta.ends_with(";base64") {
        return Err(DataUriError::NotBase64Image);
    }
    if payload.len() as u64 / 4 * 3 > max_bytes {
        return Err(DataUriError::TooLarge(max_bytes >> 20));
    }
    Ok(base64::engine::general_purpose::STANDARD.decode(payload.trim())?)
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_string()
    }
}
