//! Pull and push against a loopback fake of the distribution API that can
//! be made hostile (wrong bytes, wrong sizes, an index, a redirect to a
//! private address) and can demand Basic or Bearer auth. The real
//! registry (Debian's docker-registry) is in `host/tests/oci_registry.rs`.

use super::artifact::{MAX_MANIFEST_BYTES, pack};
use super::{Credentials, OciRef, RegistryError, sha256_digest};
use crate::egress::{EgressPolicy, SourceLimits};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00 pretend component";

#[derive(Default, Clone, PartialEq)]
enum Auth {
    #[default]
    Open,
    /// Basic with this user:password.
    Basic(&'static str),
    /// Bearer; the token service (`/token`) wants this Basic user:password, or none.
    Bearer(Option<&'static str>),
}

#[derive(Default)]
struct State {
    auth: Auth,
    blobs: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Vec<u8>>,
    /// Every request: method, path, and its Authorization header.
    seen: Vec<(String, String, Option<String>)>,
    /// Blob GETs answer 307 to this URL instead.
    blob_redirect: Option<String>,
}

struct Fake {
    base: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn reference(&self, tag: &str) -> OciRef {
        format!("{}/acme/p:{tag}", self.base.trim_start_matches("http://")).parse().unwrap()
    }
    fn seen_paths(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.iter().map(|(m, p, _)| format!("{m} {p}")).collect()
    }
    /// Store `manifest` under `tag` and its blobs as given.
    fn put(&self, tag: &str, manifest: &[u8], blobs: &[&[u8]]) {
        let mut state = self.state.lock().unwrap();
        state.manifests.insert(tag.into(), manifest.to_vec());
        for blob in blobs {
            state.blobs.insert(sha256_digest(blob), blob.to_vec());
        }
    }
}

async fn fake(auth: Auth) -> Fake {
    let state = Arc::new(Mutex::new(State { auth, ..Default::default() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shared = state.clone();
    let realm = format!("{base}/token");
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (state, realm) = (shared.clone(), realm.clone());
        async move { answer(&state, &realm, method, uri, headers, body) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { base, state }
}

fn answer(state: &Mutex<State>, realm: &str, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    let authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
    state.seen.push((method.to_string(), uri.path().to_string(), authorization.clone()));
    let basic =
        |pair: &str| format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair));
    let reply = |status: u16, headers: &[(&str, String)], body: Vec<u8>| {
        let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
        for (k, v) in headers {
            response = response.header(*k, v);
        }
        response.body(Body::from(body)).unwrap()
    };
    let path = uri.path().to_string();
    if path == "/token" {
        return match &state.auth {
            Auth::Bearer(Some(pair)) if authorization.as_deref() != Some(basic(pair).as_str()) => {
                reply(401, &[], br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad user"}]}"#.to_vec())
            }
            _ => reply(200, &[], br#"{"token":"t0k"}"#.to_vec()),
        };
    }
    let allowed = match &state.auth {
        Auth::Open => true,
        Auth::Basic(pair) => authorization.as_deref() == Some(basic(pair).as_str()),
        Auth::Bearer(_) => authorization.as_deref() == Some("Bearer t0k"),
    };
    if !allowed {
        let challenge = match &state.auth {
            Auth::Basic(_) => "Basic realm=\"fake\"".to_string(),
            _ => format!("Bearer realm=\"{realm}\",service=\"fake\""),
        };
        return reply(
            401,
            &[("www-authenticate", challenge)],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec(),
        );
    }
    let Some(rest) = path.strip_prefix("/v2/acme/p/") else {
        return match path.strip_prefix("/upload/") {
            Some(_) if method == Method::PUT => {
                let digest = uri.query().unwrap().trim_start_matches("digest=").replace("%3A", ":");
                assert_eq!(sha256_digest(&body), digest, "the upload's digest is its sha256");
                state.blobs.insert(digest, body.to_vec());
                reply(201, &[], Vec::new())
            }
            _ => reply(404, &[], Vec::new()),
        };
    };
    match (method.as_str(), rest.split_once('/')) {
        ("POST", Some(("blobs", "uploads/"))) => reply(202, &[("location", "/upload/1".into())], Vec::new()),
        ("GET" | "HEAD", Some(("blobs", digest))) => match (&state.blob_redirect, state.blobs.get(digest)) {
            (Some(to), _) => reply(307, &[("location", to.clone())], Vec::new()),
            (None, Some(blob)) => reply(200, &[], blob.clone()),
            (None, None) => {
                reply(404, &[], br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#.to_vec())
            }
        },
        ("GET", Some(("manifests", tag))) => match state.manifests.get(tag) {
            Some(manifest) => {
                reply(200, &[("content-type", "application/vnd.oci.image.manifest.v1+json".into())], manifest.clone())
            }
            None => {
                reply(404, &[], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec())
            }
        },
        ("PUT", Some(("manifests", tag))) => {
            let digest = sha256_digest(&body);
            state.manifests.insert(tag.into(), body.to_vec());
            reply(201, &[("docker-content-digest", digest)], Vec::new())
        }
        _ => reply(405, &[], Vec::new()),
    }
}

fn policy(fake: &Fake, limits: SourceLimits) -> EgressPolicy {
    EgressPolicy::plugin_source("p", &fake.reference("x").base_url(), limits)
}

async fn pull(
    fake: &Fake,
    tag: &str,
    digest: &str,
    credentials: Option<Credentials>,
) -> Result<Vec<u8>, RegistryError> {
    let policy = policy(fake, SourceLimits::default());
    super::pull::pull(&fake.reference(tag), digest, &policy, credentials, |_| None).await.map(|p| p.component)
}

async fn push(
    fake: &Fake,
    tag: &str,
    component: &[u8],
    credentials: Option<Credentials>,
) -> Result<String, RegistryError> {
    let policy = EgressPolicy::publish(&fake.reference(tag).base_url(), SourceLimits::default());
    super::push::push(component, "p.wasm", &fake.reference(tag), &policy, credentials).await.map(|p| p.digest)
}

fn user() -> Option<Credentials> {
    Some(Credentials { username: "bot".into(), password: "pw".into() })
}

#[tokio::test]
async fn a_pushed_component_pulls_back_by_its_digest_through_an_anonymous_token() {
    let fake = fake(Auth::Bearer(None)).await;
    let digest = push(&fake, "1.0", COMPONENT, None).await.unwrap();
    assert_eq!(
        digest,
        pack(COMPONENT, "p.wasm").digest,
        "the digest is the manifest's sha256, the same for the same bytes"
    );
    assert_eq!(pull(&fake, "1.0", &digest.to_uppercase().replace("SHA256", "sha256"), None).await.unwrap(), COMPONENT);
    let seen = fake.state.lock().unwrap().seen.clone();
    assert!(seen.iter().any(|(_, p, _)| p == "/token"), "the token service was asked: {seen:?}");
    let blob_reads: Vec<_> = seen.iter().filter(|(m, p, _)| m == "GET" && p.contains("/blobs/sha256")).collect();
    assert!(
        !blob_reads.is_empty() && blob_reads.iter().all(|(_, _, a)| a.as_deref() == Some("Bearer t0k")),
        "{seen:?}"
    );
    // Pushing the same bytes again uploads nothing new.
    let policy = EgressPolicy::publish(&fake.reference("1.0").base_url(), SourceLimits::default());
    let again = super::push::push(COMPONENT, "p.wasm", &fake.reference("1.0"), &policy, None).await.unwrap();
    assert_eq!((again.digest, again.uploaded), (digest, 0));
}

#[tokio::test]
async fn a_moved_tag_is_refused_naming_both_digests() {
    let fake = fake(Auth::Open).await;
    let pinned = push(&fake, "1.0", COMPONENT, None).await.unwrap();
    let moved = push(&fake, "1.0", b"\0asm\x0d\x00\x01\x00 another build", None).await.unwrap();
    let error = pull(&fake, "1.0", &pinned, None).await.unwrap_err().to_string();
    assert!(error.contains(&format!("is {moved}, not the configured digest {pinned}; refusing to load it")), "{error}");
    assert!(error.contains(&format!("set digest = \"{moved}\"")), "{error}");
    assert!(
        !fake.seen_paths().iter().any(|p| p.starts_with("GET /v2/acme/p/blobs")),
        "no blob was read: {:?}",
        fake.seen_paths()
    );
}

#[tokio::test]
async fn a_hostile_registry_cannot_slip_other_bytes_in() {
    let fake = fake(Auth::Open).await;
    let packed = pack(COMPONENT, "p.wasm");
    // The blob stored under the layer's digest is other bytes of another length.
    fake.put("wrong-bytes", &packed.manifest, &[]);
    fake.state.lock().unwrap().blobs.insert(packed.layer_digest.clone(), b"\0asm\x0d\x00\x01\x00 evil".to_vec());
    let error = pull(&fake, "wrong-bytes", &packed.digest, None).await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("the layer {} has", packed.layer_digest)) && error.contains("refusing to load it"),
        "{error}"
    );
    // Same length, other bytes.
    let same_length: Vec<u8> = COMPONENT.iter().map(|b| b ^ 1).collect();
    fake.state.lock().unwrap().blobs.insert(packed.layer_digest.clone(), same_length.clone());
    let error = pull(&fake, "wrong-bytes", &packed.digest, None).await.unwrap_err().to_string();
    assert!(error.contains(&format!("has sha256 {}", sha256_digest(&same_length))), "{error}");
}

#[tokio::test]
async fn indexes_odd_layers_huge_layers_and_private_redirects_are_refused() {
    let fake = fake(Auth::Open).await;
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    fake.put("index", index, &[]);
    let error = pull(&fake, "index", &sha256_digest(index), None).await.unwrap_err().to_string();
    assert!(error.contains("is an image index"), "{error}");

    let packed = pack(COMPONENT, "p.wasm");
    let text = String::from_utf8(packed.manifest.clone()).unwrap();
    let tar = text.replace("application/wasm", "application/vnd.oci.image.layer.v1.tar+gzip");
    fake.put("tar", tar.as_bytes(), &[COMPONENT]);
    let error = pull(&fake, "tar", &sha256_digest(tar.as_bytes()), None).await.unwrap_err().to_string();
    assert!(
        error.contains("has 0 application/wasm layers (layers: application/vnd.oci.image.layer.v1.tar+gzip)"),
        "{error}"
    );

    // A manifest claiming a 3 GiB layer is refused before the blob is asked for.
    let huge = text.replace(&format!("\"size\":{}", COMPONENT.len()), "\"size\":3221225472");
    fake.put("huge", huge.as_bytes(), &[COMPONENT]);
    let error = pull(&fake, "huge", &sha256_digest(huge.as_bytes()), None).await.unwrap_err().to_string();
    assert!(error.contains("is 3072.0 MiB, over the 64 MiB a plugin component may be"), "{error}");
    assert!(!fake.seen_paths().iter().any(|p| p.starts_with("GET /v2/acme/p/blobs")), "{:?}", fake.seen_paths());

    // A manifest over the 4 MiB the distribution spec allows.
    let big = vec![b' '; MAX_MANIFEST_BYTES as usize + 1];
    fake.put("big", &big, &[]);
    let error = pull(&fake, "big", &sha256_digest(&big), None).await.unwrap_err().to_string();
    assert!(error.contains("its manifest is over 4 MiB"), "{error}");

    fake.put("1.0", &packed.manifest, &[COMPONENT]);
    fake.state.lock().unwrap().blob_redirect = Some("https://169.254.169.254/latest/meta-data/".into());
    let error = pull(&fake, "1.0", &packed.digest, None).await.unwrap_err().to_string();
    assert!(error.contains("169.254.169.254") && error.contains("private or loopback address"), "{error}");
}

#[tokio::test]
async fn credentials_answer_basic_and_bearer_challenges_and_their_absence_is_explained() {
    for auth in [Auth::Basic("bot:pw"), Auth::Bearer(Some("bot:pw"))] {
        let fake = fake(auth).await;
        let error = push(&fake, "1.0", COMPONENT, None).await.unwrap_err().to_string();
        assert!(
            error.contains("the registry refused anonymous access")
                && error.contains("set EASEL_REGISTRY_USERNAME and EASEL_REGISTRY_PASSWORD"),
            "{error}"
        );
        let wrong = Some(Credentials { username: "bot".into(), password: "nope".into() });
        let error = push(&fake, "1.0", COMPONENT, wrong).await.unwrap_err().to_string();
        assert!(
            error.contains("refused the credentials in EASEL_REGISTRY_USERNAME")
                && error.contains("may pull and push acme/p"),
            "{error}"
        );
        let digest = push(&fake, "1.0", COMPONENT, user()).await.unwrap();
        assert_eq!(pull(&fake, "1.0", &digest, user()).await.unwrap(), COMPONENT);
        let error = pull(&fake, "1.0", &digest, None).await.unwrap_err().to_string();
        assert!(error.contains("refused anonymous access"), "{error}");
    }
}

#[tokio::test]
async fn a_missing_tag_says_so_with_the_registrys_own_words() {
    let fake = fake(Auth::Open).await;
    let error = pull(&fake, "9.9", &sha256_digest(b"x"), None).await.unwrap_err().to_string();
    assert!(error.contains("the manifest 9.9 answered HTTP 404: MANIFEST_UNKNOWN manifest unknown"), "{error}");
}

#[tokio::test]
async fn a_pinned_artifact_loads_from_the_cache_once_pulled() {
    let fake = fake(Auth::Open).await;
    let digest = push(&fake, "1.0", COMPONENT, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reference = fake.reference("1.0").to_string();
    let load = || crate::providers::source::pull("p", &reference, &digest, dir.path(), SourceLimits::default());
    assert_eq!(load().await.unwrap(), COMPONENT);
    let requests = fake.seen_paths().len();
    assert_eq!(load().await.unwrap(), COMPONENT);
    assert_eq!(fake.seen_paths().len(), requests, "the second load asked the registry nothing");
    // A damaged cached component is fetched again and replaced.
    let layer = pack(COMPONENT, "p.wasm").layer_digest;
    let cached = dir.path().join("downloads").join(format!("{}.wasm", layer.trim_start_matches("sha256:")));
    std::fs::write(&cached, b"damaged").unwrap();
    assert_eq!(load().await.unwrap(), COMPONENT);
    assert_eq!(std::fs::read(&cached).unwrap(), COMPONENT);
    // Nothing is cached for a refused pull.
    let other = tempfile::tempdir().unwrap();
    let error =
        crate::providers::source::pull("p", &reference, &sha256_digest(b"x"), other.path(), SourceLimits::default())
            .await
            .unwrap_err()
            .to_string();
    assert!(error.starts_with("[plugins.p] ") && error.contains("not the configured digest"), "{error}");
    assert!(std::fs::read_dir(other.path()).map(|d| d.count()).unwrap_or(0) == 0, "nothing written");
}

#[test]
fn references_parse_as_docker_does_and_pick_their_scheme() {
    let r: OciRef = "oci://127.0.0.1:5000/acme/p:1.0".parse().unwrap();
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("127.0.0.1:5000", "acme/p", Some("1.0"))
    );
    assert_eq!(r.base_url().as_str(), "http://127.0.0.1:5000/");
    assert_eq!("localhost:5000/p:1".parse::<OciRef>().unwrap().base_url().as_str(), "http://localhost:5000/");
    let r: OciRef = "ghcr.io/acme/p".parse().unwrap();
    assert_eq!((r.tag.as_deref(), r.base_url().as_str()), (Some("latest"), "https://ghcr.io/"));
    let digest = sha256_digest(b"x");
    let r: OciRef = format!("ghcr.io/acme/p@{digest}").parse().unwrap();
    assert_eq!(
        (r.tag.as_deref(), r.digest.as_deref(), r.manifest_reference()),
        (None, Some(digest.as_str()), digest.as_str())
    );
    assert!("no-slash".parse::<OciRef>().unwrap_err().contains("REGISTRY/REPOSITORY:TAG"));
}
