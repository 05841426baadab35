//! The wasm artifact layout `plugins push` writes and `oci` pulls read: an
//! OCI image manifest whose one layer is the component
//! (`application/wasm`) and whose config is
//! `application/vnd.wasm.config.v0+json` — the layout of the CNCF TAG
//! Runtime "Wasm OCI Artifact" guidance, which `wkg` and other wasm tools
//! also push, so their artifacts load and ours pull with them.

use super::sha256_digest;
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageManifest, ImageManifestBuilder, MediaType};
use std::collections::HashMap;
use std::str::FromStr;

/// The component layer's media type.
pub const WASM_LAYER: &str = "application/wasm";
/// The older layer type some tools still push; accepted when pulling.
pub const WASM_LAYER_LEGACY: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The config's media type.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The `Accept` of a manifest request: an OCI manifest first; an index or a
/// Docker schema 2 manifest is taken only to say what it is.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.5, application/vnd.oci.image.index.v1+json;q=0.5, application/vnd.docker.distribution.manifest.list.v2+json;q=0.5";
/// Largest manifest read, bytes (the distribution spec lets registries
/// refuse manifests over 4 MiB, so none is larger).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A component packed as an artifact: the blobs to upload and the manifest.
pub struct Packed {
    /// The config blob (JSON) and its digest.
    pub config: (Vec<u8>, String),
    /// The component's digest (`sha256:<hex>`).
    pub layer_digest: String,
    /// The manifest JSON, as it is uploaded.
    pub manifest: Vec<u8>,
    /// sha256 of `manifest`: what `digest = …` in `plugins.toml` pins.
    pub digest: String,
}

/// Pack `component`, titled `title` (its file name), as a wasm artifact.
/// The same bytes always give the same manifest and digest (no timestamps).
pub fn pack(component: &[u8], title: &str) -> Packed {
    let layer_digest = sha256_digest(component);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    }))
    .expect("JSON");
    let config_digest = sha256_digest(&config);
    let descriptor = |media: &str, digest: &str, size: usize| -> Descriptor {
        DescriptorBuilder::default()
            .media_type(MediaType::Other(media.into()))
            .digest(oci_spec::image::Digest::from_str(digest).expect("a sha256 digest"))
            .size(size as u64)
            .build()
            .expect("a complete descriptor")
    };
    let mut layer = descriptor(WASM_LAYER, &layer_digest, component.len());
    layer.set_annotations(Some(HashMap::from([("org.opencontainers.image.title".to_string(), title.to_string())])));
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::Other(WASM_CONFIG.into()))
        .config(descriptor(WASM_CONFIG, &config_digest, config.len()))
        .layers(vec![layer])
        .build()
        .expect("a complete manifest");
    let manifest = manifest.to_string().expect("JSON").into_bytes();
    let digest = sha256_digest(&manifest);
    Packed { config: (config, config_digest), layer_digest, manifest, digest }
}

/// The one component layer of a manifest: its digest and size (bytes).
///
/// Errors: a sentence for an index (several platforms), a manifest that is
/// not JSON, or one without exactly one wasm layer (naming the types found).
pub fn component_layer(manifest: &[u8]) -> Result<(String, u64), String> {
    let value: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON ({e})"))?;
    if value.get("manifests").is_some() {
        return Err("is an image index (a list of manifests), not a wasm component artifact; push the .wasm with `easel plugins push`".into());
    }
    let manifest: ImageManifest =
        serde_json::from_value(value).map_err(|e| format!("the manifest is not an OCI image manifest ({e})"))?;
    let wasm: Vec<&Descriptor> = manifest
        .layers()
        .iter()
        .filter(|l| matches!(l.media_type().to_string().as_str(), WASM_LAYER | WASM_LAYER_LEGACY))
        .collect();
    match wasm.as_slice() {
        [layer] => Ok((layer.digest().to_string(), layer.size())),
        _ => {
            let types: Vec<String> = manifest.layers().iter().map(|l| l.media_type().to_string()).collect();
            Err(format!(
                "has {} {WASM_LAYER} layers (layers: {}); an easel plugin artifact has exactly one, as `easel plugins push` writes it",
                wasm.len(),
                if types.is_empty() { "none".into() } else { types.join(", ") }
            ))
        }
    }
}
