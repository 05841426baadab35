//! Where a plugin's component bytes come from: compiled in (`builtin`), a
//! file (`path`), a download (`url` + `sha256`) or an OCI registry (`oci` +
//! `digest`, see [`crate::registry`]), both through egress's plugin-source
//! policy, size-capped and timed. Downloads are checked against `sha256`
//! and cached by hash under `<cache>/downloads/<sha256>.wasm`; a pulled
//! artifact's component goes there too, and its manifest (which names that
//! hash) under `<cache>/oci/<digest hex>.json`, so a pinned artifact loads
//! offline once pulled. Files are written atomically (a temp file in that
//! directory, renamed only once the hash matched), so a failed or
//! mismatched download never leaves a file there.

use crate::config::{Deployment, PluginEntry};
use crate::egress::{EgressError, EgressPolicy, SourceLimits};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use url::Url;

/// Why a plugin's component could not be had; the text names the plugin
/// entry and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `builtin = NAME` names no plugin compiled into this binary.
    #[error("[plugins.{id}] builtin `{name}` is not compiled into this easel (built-ins: {known})")]
    UnknownBuiltin { id: String, name: String, known: String },
    /// `builtin = NAME` names a Python or JavaScript plugin of this tree whose
    /// toolchain was missing when this binary was built (`why` says which).
    #[error(
        "[plugins.{id}] builtin `{name}` is not in this easel: {why}. Rebuild easel with that toolchain, or build the plugin and set `path = \"{name}.wasm\"` instead"
    )]
    NotBuilt { id: String, name: String, why: String },
    /// `path = …` cannot be read; `at` is `file:line:column` of the setting.
    #[error("{at}: [plugins.{id}] path {}: {error}\n  fix: build the plugin (cargo build --release --target wasm32-wasip2) or correct the path", path.display())]
    Unreadable { at: String, id: String, path: PathBuf, error: std::io::Error },
    /// None of `builtin`, `path`, `url` + `sha256` (the loader refuses this first).
    #[error("[plugins.{id}] has no source")]
    NoSource { id: String },
    /// `url` is not a URL.
    #[error("[plugins.{id}] url `{url}` is not a URL: {error}")]
    BadUrl { id: String, url: String, error: url::ParseError },
    /// The download was refused by policy or failed (size, time, network).
    #[error("[plugins.{id}] downloading {url}: {}", error.message())]
    Download { id: String, url: String, error: EgressError },
    /// The server answered, but not with the file.
    #[error("[plugins.{id}] downloading {url}: the server answered HTTP {status}")]
    Status { id: String, url: String, status: u16 },
    /// The bytes are not the ones `sha256` names.
    #[error("[plugins.{id}] {url} has sha256 {actual}, not the configured {expected}; refusing to load it")]
    Mismatch { id: String, url: String, actual: String, expected: String },
    /// The `oci` artifact could not be pulled or is not the pinned one.
    #[error("[plugins.{id}] {error}")]
    Registry { id: String, error: crate::registry::RegistryError },
    /// The verified bytes could not be cached.
    #[error("[plugins.{id}] cannot write the download cache {}: {error}", path.display())]
    Cache { id: String, path: PathBuf, error: std::io::Error },
}

/// Read (or download) the component of `entry` (plugin `id` of
/// `deployment`); downloads are cached under `cache_dir`.
pub async fn component_bytes(
    id: &str,
    entry: &PluginEntry,
    deployment: &Deployment,
    cache_dir: &Path,
) -> Result<Cow<'static, [u8]>, SourceError> {
    if let Some(name) = &entry.builtin {
        if let Some((_, why)) = crate::runtime::GUEST_PLUGINS_NOT_BUILT.iter().find(|(n, _)| n == name.get_ref()) {
            return Err(SourceError::NotBuilt { id: id.into(), name: name.get_ref().clone(), why: why.to_string() });
        }
        let known = crate::runtime::BUILTIN_PLUGINS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ");
        return crate::runtime::builtin(name.get_ref()).map(Cow::Borrowed).ok_or_else(|| SourceError::UnknownBuiltin {
            id: id.into(),
            name: name.get_ref().clone(),
            known,
        });
    }
    if let Some(path) = &entry.path {
        let full = deployment.resolve_path(path.get_ref());
        let (line, column) = deployment.origin.error(Some(path.span()), "", "").position();
        return std::fs::read(&full).map(Cow::Owned).map_err(|error| SourceError::Unreadable {
            at: format!("{}:{line}:{column}", deployment.origin.name),
            id: id.into(),
            path: full,
            error,
        });
    }
    if let (Some(oci), Some(digest)) = (&entry.oci, &entry.digest) {
        return pull(id, oci.get_ref(), digest.get_ref(), cache_dir, SourceLimits::default()).await.map(Cow::Owned);
    }
    let (Some(url), Some(sha)) = (&entry.url, &entry.sha256) else {
        return Err(SourceError::NoSource { id: id.into() });
    };
    let parsed = Url::parse(url.get_ref()).map_err(|error| SourceError::BadUrl {
        id: id.into(),
        url: url.get_ref().clone(),
        error,
    })?;
    let policy = EgressPolicy::plugin_source(id, &parsed, SourceLimits::default());
    download(id, &parsed, sha.get_ref(), &cache_dir.join("downloads"), &policy).await.map(Cow::Owned)
}

/// The component at `url` whose sha256 is `sha` (hex, any case): from
/// `dir/<sha>.wasm` when that file has the hash, else downloaded under
/// `policy`, checked, and cached there atomically. Nothing is left in
/// `dir` unless it has the hash.
pub async fn download(
    id: &str,
    url: &Url,
    sha: &str,
    dir: &Path,
    policy: &EgressPolicy,
) -> Result<Vec<u8>, SourceError> {
    let sha = sha.to_ascii_lowercase();
    let cached = dir.join(format!("{sha}.wasm"));
    if let Ok(bytes) = std::fs::read(&cached)
        && hex::encode(Sha256::digest(&bytes)) == sha
    {
        return Ok(bytes);
    }
    let shown = url.to_string();
    let response = policy
        .download_from(url, Vec::new())
        .await
        .map_err(|error| SourceError::Download { id: id.into(), url: shown.clone(), error })?
        .1;
    if response.status != 200 {
        return Err(SourceError::Status { id: id.into(), url: shown, status: response.status });
    }
    let actual = hex::encode(Sha256::digest(&response.body));
    if actual != sha {
        return Err(SourceError::Mismatch { id: id.into(), url: shown, actual, expected: sha });
    }
    write_atomically(&cached, &response.body).map_err(|error| SourceError::Cache {
        id: id.into(),
        path: cached.clone(),
        error,
    })?;
    Ok(response.body)
}

/// The component of the artifact `oci` whose manifest digest is `digest`
/// (`sha256:<hex>`): from the cache when its manifest and component are
/// there with their hashes, else pulled (credentials from
/// [`Credentials::from_env`](crate::registry::Credentials::from_env)),
/// verified, and cached — the component first, the manifest last.
pub async fn pull(
    id: &str,
    oci: &str,
    digest: &str,
    cache_dir: &Path,
    limits: SourceLimits,
) -> Result<Vec<u8>, SourceError> {
    use crate::registry::{OciRef, artifact, sha256_digest};
    let digest = digest.to_ascii_lowercase();
    let registry_error = |error| SourceError::Registry { id: id.into(), error };
    let reference: OciRef = oci
        .parse()
        .map_err(|why| registry_error(crate::registry::RegistryError::NotAComponent { reference: oci.into(), why }))?;
    let hex_of = |d: &str| d.trim_start_matches("sha256:").to_string();
    let downloads = cache_dir.join("downloads");
    let manifest_path = cache_dir.join("oci").join(format!("{}.json", hex_of(&digest)));
    let cached_layer = |layer: &str| std::fs::read(downloads.join(format!("{}.wasm", hex_of(layer)))).ok();
    if let Ok(manifest) = std::fs::read(&manifest_path)
        && sha256_digest(&manifest) == digest
        && let Ok((layer, _)) = artifact::component_layer(&manifest)
        && let Some(bytes) = cached_layer(&layer).filter(|bytes| sha256_digest(bytes) == layer)
    {
        return Ok(bytes);
    }
    let policy = EgressPolicy::plugin_source(id, &reference.base_url(), limits);
    let credentials = crate::registry::Credentials::from_env();
    let pulled = crate::registry::pull::pull(&reference, &digest, &policy, credentials, cached_layer)
        .await
        .map_err(registry_error)?;
    let cache = |path: PathBuf, bytes: &[u8]| {
        write_atomically(&path, bytes).map_err(|error| SourceError::Cache { id: id.into(), path, error })
    };
    cache(downloads.join(format!("{}.wasm", hex_of(&pulled.layer_digest))), &pulled.component)?;
    cache(manifest_path, &pulled.manifest)?;
    Ok(pulled.component)
}

/// Write `bytes` to `path` by way of a temp file in the same directory
/// (synced, then renamed over `path`); the temp file is removed on failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.part", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::test_server::serve;
    use std::time::{Duration, Instant};

    const COMPONENT: &[u8] = b"\0asm pretend component bytes";

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn files_in(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    async fn fetch(url: &str, expected: &str, dir: &Path, limits: SourceLimits) -> Result<Vec<u8>, SourceError> {
        let url = Url::parse(url).unwrap();
        download("p", &url, expected, dir, &EgressPolicy::plugin_source("p", &url, limits)).await
    }

    #[tokio::test]
    async fn a_verified_download_is_cached_by_hash_and_reused() {
        let server = serve(COMPONENT.to_vec()).await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("{}/redirect?to=/file", server.base);
        let bytes = fetch(&url, &sha(COMPONENT).to_uppercase(), dir.path(), SourceLimits::default()).await.unwrap();
        assert_eq!(bytes, COMPONENT, "followed the redirect to the file");
        assert_eq!(
            files_in(dir.path()),
            vec![format!("{}.wasm", sha(COMPONENT))],
            "only the verified file, no temp file"
        );
        let hits = server.seen.lock().unwrap().len();
        fetch(&url, &sha(COMPONENT), dir.path(), SourceLimits::default()).await.unwrap();
        assert_eq!(server.seen.lock().unwrap().len(), hits, "the second load read the cache");
    }

    #[tokio::test]
    async fn a_wasm_source_over_the_cap_is_refused_and_leaves_no_file() {
        let server = serve(Vec::new()).await;
        let dir = tempfile::tempdir().unwrap();
        let limits = SourceLimits { max_bytes: 1 << 20, timeout: Duration::from_secs(10) };
        let error =
            fetch(&format!("{}/big", server.base), &sha(b"x"), dir.path(), limits).await.unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "[plugins.p] downloading {}/big: {} sent more than 1 MiB",
                server.base, server.base
            )),
            "{error}"
        );
        assert!(files_in(dir.path()).is_empty(), "nothing written: {:?}", files_in(dir.path()));
    }

    #[tokio::test]
    async fn a_stalled_wasm_source_times_out() {
        let server = serve(Vec::new()).await;
        let dir = tempfile::tempdir().unwrap();
        let limits = SourceLimits { max_bytes: 1 << 20, timeout: Duration::from_secs(1) };
        for path in ["/stall", "/hang"] {
            let started = Instant::now();
            let error =
                fetch(&format!("{}{path}", server.base), &sha(b"x"), dir.path(), limits).await.unwrap_err().to_string();
            assert!(error.contains("did not answer within 1 s"), "{path}: {error}");
            assert!(started.elapsed() < Duration::from_secs(3), "{path}: stopped at the timeout");
        }
        assert!(files_in(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn a_mismatched_or_failed_download_never_leaves_a_file_in_the_cache() {
        let server = serve(COMPONENT.to_vec()).await;
        let dir = tempfile::tempdir().unwrap();
        let wrong = sha(b"another component");
        let error = fetch(&format!("{}/file", server.base), &wrong, dir.path(), SourceLimits::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("has sha256 {}, not the configured {wrong}; refusing to load it", sha(COMPONENT))),
            "{error}"
        );
        let error = fetch(&format!("{}/missing", server.base), &wrong, dir.path(), SourceLimits::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("the server answered HTTP 404"), "{error}");
        assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));
        // A damaged cached copy is replaced by a verified download.
        std::fs::write(dir.path().join(format!("{}.wasm", sha(COMPONENT))), b"damaged").unwrap();
        assert_eq!(
            fetch(&format!("{}/file", server.base), &sha(COMPONENT), dir.path(), SourceLimits::default())
                .await
                .unwrap(),
            COMPONENT
        );
        assert_eq!(std::fs::read(dir.path().join(format!("{}.wasm", sha(COMPONENT)))).unwrap(), COMPONENT);
    }

    #[tokio::test]
    async fn a_source_redirecting_to_a_private_address_is_refused_at_that_hop() {
        let server = serve(COMPONENT.to_vec()).await;
        let other = serve(COMPONENT.to_vec()).await;
        let dir = tempfile::tempdir().unwrap();
        for target in [
            format!("{}/file", other.base.replace("http:", "https:")),
            "https://169.254.169.254/latest/meta-data/".into(),
            "http://10.0.0.1/p.wasm".into(),
        ] {
            let error = fetch(
                &format!("{}/redirect?to={target}", server.base),
                &sha(COMPONENT),
                dir.path(),
                SourceLimits::default(),
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(error.contains("private or loopback address") || error.contains("plain http"), "{target}: {error}");
        }
        assert!(other.seen.lock().unwrap().is_empty());
        assert!(files_in(dir.path()).is_empty());
    }
}
