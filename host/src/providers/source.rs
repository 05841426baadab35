//! Where a plugin's component bytes come from: compiled in (`builtin`), a
//! file (`path`), or a download (`url` + `sha256`, cached by hash).

use crate::config::{Deployment, PluginEntry};
use crate::egress::shared_client;
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::Path;

/// Read (or download) the component of `entry`. Errors name the plugin
/// entry and say what to fix.
pub async fn component_bytes(id: &str, entry: &PluginEntry, deployment: &Deployment, cache_dir: &Path) -> Result<Cow<'static, [u8]>> {
    if let Some(name) = &entry.builtin {
        let known = crate::runtime::BUILTIN_PLUGINS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        return crate::runtime::builtin(name.get_ref())
            .map(Cow::Borrowed)
            .ok_or_else(|| anyhow!("[plugins.{id}] builtin `{}` is not compiled into this easel (built-ins: {known})", name.get_ref()));
    }
    if let Some(path) = &entry.path {
        let full = deployment.resolve_path(path.get_ref());
        let (line, column) = deployment.origin.error(Some(path.span()), "", "").position();
        return std::fs::read(&full).map(Cow::Owned).map_err(|e| {
            anyhow!(
                "{}:{line}:{column}: [plugins.{id}] path {}: {e}\n  fix: build the plugin (cargo build --release --target wasm32-wasip2) or correct the path",
                deployment.origin.name,
                full.display()
            )
        });
    }
    let (Some(url), Some(sha)) = (&entry.url, &entry.sha256) else {
        bail!("[plugins.{id}] has no source");
    };
    let sha = sha.get_ref().to_ascii_lowercase();
    let cached = cache_dir.join("downloads").join(format!("{sha}.wasm"));
    if let Ok(bytes) = std::fs::read(&cached) {
        if hex::encode(Sha256::digest(&bytes)) == sha {
            return Ok(Cow::Owned(bytes));
        }
    }
    let response = shared_client()
        .get(url.get_ref())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("[plugins.{id}] downloading {}", url.get_ref()))?;
    let bytes = response.bytes().await.with_context(|| format!("[plugins.{id}] downloading {}", url.get_ref()))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != sha {
        bail!("[plugins.{id}] {} has sha256 {actual}, not the configured {sha}; refusing to load it", url.get_ref());
    }
    std::fs::create_dir_all(cached.parent().unwrap())?;
    std::fs::write(&cached, &bytes)?;
    Ok(Cow::Owned(bytes.to_vec()))
}
