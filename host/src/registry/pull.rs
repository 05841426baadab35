//! Pulling a plugin artifact: the manifest by tag (or digest), checked
//! against the pinned digest before anything else is read from it, then
//! its one wasm layer, checked against the manifest's size and digest.
//! Caching is the caller's (`providers::source`): this only talks.

use super::artifact::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, component_layer};
use super::session::Session;
use super::{Credentials, OciRef, RegistryError, sha256_digest};
use crate::egress::EgressPolicy;

/// What a pull verified: the manifest (whose sha256 is the pinned digest),
/// the component's digest, and the component.
pub struct Pulled {
    pub manifest: Vec<u8>,
    pub layer_digest: String,
    pub component: Vec<u8>,
}

/// Pull `reference` under `policy`, refusing it unless its manifest's
/// sha256 is `expected` (`sha256:<hex>`, any case). `cached_layer(digest)`
/// may supply the component from a cache (it is checked like a download).
///
/// Errors: [`RegistryError::DigestMismatch`] naming both digests,
/// [`RegistryError::NotAComponent`], [`RegistryError::BadBlob`] (size or
/// sha256 not the manifest's), and status, auth and egress failures.
pub async fn pull(
    reference: &OciRef,
    expected: &str,
    policy: &EgressPolicy,
    credentials: Option<Credentials>,
    cached_layer: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Pulled, RegistryError> {
    let expected = expected.to_ascii_lowercase();
    let session = Session::new(policy, reference, "pull", credentials);
    let manifest_url = reference.endpoint(&format!("manifests/{}", reference.manifest_reference()));
    let answer = session.download(&manifest_url, &[("accept", MANIFEST_ACCEPT)]).await?;
    if answer.status != 200 {
        return Err(session.status_error(format!("the manifest {}", reference.manifest_reference()), &answer));
    }
    let not_component = |why: String| RegistryError::NotAComponent { reference: reference.to_string(), why };
    if answer.body.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(not_component(format!("its manifest is over {} MiB", MAX_MANIFEST_BYTES >> 20)));
    }
    let actual = sha256_digest(&answer.body);
    if actual != expected {
        return Err(RegistryError::DigestMismatch { reference: reference.to_string(), actual, expected });
    }
    let manifest = answer.body;
    let (layer_digest, size) = component_layer(&manifest).map_err(not_component)?;
    let bad =
        |why: String| RegistryError::BadBlob { reference: reference.to_string(), digest: layer_digest.clone(), why };
    if size > policy.max_response_bytes() {
        return Err(bad(format!(
            "is {:.1} MiB, over the {} MiB a plugin component may be",
            size as f64 / f64::from(1 << 20),
            policy.max_response_bytes() >> 20
        )));
    }
    let component = match cached_layer(&layer_digest).filter(|bytes| sha256_digest(bytes) == layer_digest) {
        Some(bytes) => bytes,
        None => {
            let blob = session.download(&reference.endpoint(&format!("blobs/{layer_digest}")), &[]).await?;
            if blob.status != 200 {
                return Err(session.status_error(format!("the layer {layer_digest}"), &blob));
            }
            blob.body
        }
    };
    if component.len() as u64 != size {
        return Err(bad(format!("has {} bytes, not the {size} its manifest says", component.len())));
    }
    let got = sha256_digest(&component);
    if got != layer_digest {
        return Err(bad(format!("has sha256 {got}")));
    }
    Ok(Pulled { manifest, layer_digest, component })
}
