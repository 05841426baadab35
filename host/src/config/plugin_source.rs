//! The source settings of one `[plugins.ID]`: exactly one of `builtin`,
//! `path`, `url` (+ `sha256`) and `oci` (+ `digest`), each checked where it
//! is written, so a mistake names its line and the fix.

use super::{ConfigError, ConfigOrigin, PluginEntry};
use crate::registry::{OciRef, is_sha256_digest};

/// Check `entry`'s source settings (plugin `id`).
pub(super) fn check(entry: &PluginEntry, id: &str, origin: &ConfigOrigin) -> Result<(), ConfigError> {
    let sources = [entry.builtin.is_some(), entry.path.is_some(), entry.url.is_some(), entry.oci.is_some()];
    match sources.iter().filter(|s| **s).count() {
        1 => {}
        0 => {
            return Err(origin.error(
                None,
                format!("[plugins.{id}] has no source"),
                format!(
                    "add `builtin = \"{id}\"`, `path = \"{id}.wasm\"`, `url = \"…\"` with `sha256 = \"…\"`, or `oci = \"REGISTRY/REPO:TAG\"` with `digest = \"sha256:…\"`"
                ),
            ));
        }
        _ => {
            return Err(origin.error(
                None,
                format!("[plugins.{id}] has more than one of builtin, path, url and oci"),
                "keep exactly one source",
            ));
        }
    }
    if let (Some(path), true) = (&entry.path, entry.enabled) {
        let full =
            if path.get_ref().is_absolute() { path.get_ref().clone() } else { origin.base_dir.join(path.get_ref()) };
        if !full.is_file() {
            return Err(origin.error(
                Some(path.span()),
                format!("[plugins.{id}] component file {} does not exist", full.display()),
                "build the plugin (cargo build --release --target wasm32-wasip2), fix the path (relative paths start at this file's directory), or set enabled = false",
            ));
        }
    }
    if let Some(url) = &entry.url {
        match &entry.sha256 {
            Some(sha) if sha.get_ref().len() == 64 && sha.get_ref().chars().all(|c| c.is_ascii_hexdigit()) => {}
            Some(sha) => {
                return Err(origin.error(
                    Some(sha.span()),
                    "sha256 must be 64 hex digits",
                    "paste the file's sha256sum",
                ));
            }
            None => {
                return Err(origin.error(
                    Some(url.span()),
                    format!("[plugins.{id}] downloads a plugin without `sha256`"),
                    "add `sha256 = \"<64 hex digits>\"` (run sha256sum on the .wasm)",
                ));
            }
        }
    }
    if let Some(sha) = entry.sha256.as_ref().filter(|_| entry.url.is_none()) {
        return Err(origin.error(
            Some(sha.span()),
            format!("[plugins.{id}] has `sha256` but no `url`"),
            "sha256 pins a `url` download; an `oci` source pins `digest`",
        ));
    }
    check_oci(entry, id, origin)
}

fn check_oci(entry: &PluginEntry, id: &str, origin: &ConfigOrigin) -> Result<(), ConfigError> {
    let Some(oci) = &entry.oci else {
        if let Some(digest) = &entry.digest {
            return Err(origin.error(
                Some(digest.span()),
                format!("[plugins.{id}] has `digest` but no `oci`"),
                "digest pins an `oci = \"REGISTRY/REPO:TAG\"` source; a `url` download pins `sha256`",
            ));
        }
        return Ok(());
    };
    let reference: OciRef = oci.get_ref().parse().map_err(|why: String| {
        origin.error(
            Some(oci.span()),
            format!("[plugins.{id}] oci: {why}"),
            "e.g. oci = \"ghcr.io/acme/easel-acme:1.0\"",
        )
    })?;
    let Some(digest) = &entry.digest else {
        return Err(origin.error(
            Some(oci.span()),
            format!("[plugins.{id}] pulls {reference} without `digest`"),
            "add `digest = \"sha256:…\"`: the digest `easel plugins push` printed (a tag can be moved; the digest cannot)",
        ));
    };
    if !is_sha256_digest(digest.get_ref()) {
        return Err(origin.error(
            Some(digest.span()),
            "digest must be `sha256:` and 64 hex digits",
            "paste the manifest digest `easel plugins push` printed",
        ));
    }
    if let Some(pinned) = reference.digest.as_deref().filter(|d| !d.eq_ignore_ascii_case(digest.get_ref())) {
        return Err(origin.error(
            Some(oci.span()),
            format!("[plugins.{id}] oci names {pinned}, but digest is {}", digest.get_ref()),
            "keep one digest: drop the @sha256:… from oci, or make them agree",
        ));
    }
    Ok(())
}
