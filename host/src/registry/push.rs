//! `easel plugins push FILE.wasm oci://REGISTRY/REPO:TAG`: the component
//! and its config uploaded as blobs (skipped when the registry has them,
//! `HEAD /v2/<name>/blobs/<digest>` → 200), each in one monolithic upload
//! (`POST /v2/<name>/blobs/uploads/` → 202 + `Location`, then `PUT
//! <Location>&digest=…` → 201), then the manifest put under the tag
//! (`PUT /v2/<name>/manifests/<tag>` → 201) — OCI Distribution Spec v1.1,
//! "Pushing blobs" and "Pushing Manifests".

use super::artifact::{Packed, pack};
use super::session::Session;
use super::{Credentials, OciRef, RegistryError};
use crate::egress::EgressPolicy;
use url::Url;

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    /// The manifest digest (`sha256:<hex>`): what `digest = …` pins.
    pub digest: String,
    /// Blobs uploaded (0–2: the registry may have had them already).
    pub uploaded: usize,
}

/// Is `bytes` a WebAssembly component (not a core module, not something else)?
/// The preamble is `\0asm`, then version 0x0d and layer 1 (component model binary format).
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [0x0d, 0x00, 0x01, 0x00]
}

/// Push `component` (named `title`) to `reference`'s tag under `policy`.
///
/// Errors: auth, status and egress failures of any step, naming the step;
/// a registry whose stored digest differs from the manifest's sha256.
pub async fn push(
    component: &[u8],
    title: &str,
    reference: &OciRef,
    policy: &EgressPolicy,
    credentials: Option<Credentials>,
) -> Result<Pushed, RegistryError> {
    let Packed { config, layer_digest, manifest, digest } = pack(component, title);
    let session = Session::new(policy, reference, "pull,push", credentials);
    let mut uploaded = 0;
    for (bytes, blob_digest) in [(component, layer_digest.as_str()), (config.0.as_slice(), config.1.as_str())] {
        if upload_blob(&session, reference, bytes, blob_digest).await? {
            uploaded += 1;
        }
    }
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let answer = session
        .request(
            "PUT",
            &reference.endpoint(&format!("manifests/{tag}")),
            &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
            &manifest,
        )
        .await?;
    if answer.status != 201 {
        return Err(session.status_error(format!("putting the manifest under {tag}"), &answer));
    }
    if let Some(stored) = answer.header("docker-content-digest")
        && stored != digest
    {
        return Err(RegistryError::DigestMismatch {
            reference: reference.to_string(),
            actual: stored.into(),
            expected: digest,
        });
    }
    Ok(Pushed { digest, uploaded })
}

/// Upload one blob unless the registry has it; true when it was sent.
async fn upload_blob(
    session: &Session<'_>,
    reference: &OciRef,
    bytes: &[u8],
    digest: &str,
) -> Result<bool, RegistryError> {
    let head = session.request("HEAD", &reference.endpoint(&format!("blobs/{digest}")), &[], &[]).await?;
    if head.status == 200 {
        return Ok(false);
    }
    let started = session.request("POST", &reference.endpoint("blobs/uploads/"), &[], &[]).await?;
    if started.status != 202 {
        return Err(session.status_error("starting an upload", &started));
    }
    let location = started.header("location").unwrap_or_default();
    let mut target: Url = reference
        .base_url()
        .join(location)
        .map_err(|_| session.status_error(format!("starting an upload (bad Location `{location}`)"), &started))?;
    target.query_pairs_mut().append_pair("digest", digest);
    let put = session.request("PUT", &target, &[("content-type", "application/octet-stream")], bytes).await?;
    if put.status != 201 {
        return Err(session.status_error(format!("uploading {digest}"), &put));
    }
    Ok(true)
}
