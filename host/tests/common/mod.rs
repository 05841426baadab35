//! The hostile-plugin harness shared by the sandbox test binaries: a
//! deployment with the placeholder as default and the `hostile` fixture
//! (tests/fixtures/hostile) with tight limits, plus extra plugins.toml text.

#![allow(dead_code)]

use easel::app::{App, Paths};
use easel::config::{ConfigOrigin, Deployment};
use easel::jobs::{FieldError, GenerateSpec, Jobs, Outcome};
use easel::request::Settings;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET: &str = "sk-live-very-secret-value";

pub struct Harness {
    pub app: Arc<App>,
    pub jobs: Arc<Jobs>,
    pub dir: tempfile::TempDir,
}

pub fn hostile_wasm() -> String {
    format!("{}/easel_fixture_hostile.wasm", env!("EASEL_WASM_DIR"))
}

/// The `streamer` fixture (tests/fixtures/streamer, WIT 0.2.0).
pub fn streamer_wasm() -> String {
    format!("{}/easel_fixture_streamer.wasm", env!("EASEL_WASM_DIR"))
}

/// The harness with the hostile plugin limited to 2 s and 32 MiB.
pub async fn harness(extra: &str) -> Harness {
    harness_with_limits("timeout_secs = 2\nmemory_mib = 32", extra).await
}

/// The harness with `limits` (plugins.toml keys) for the hostile plugin.
pub async fn harness_with_limits(limits: &str, extra: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[defaults]
provider = "placeholder"

[plugins.placeholder]
builtin = "placeholder"

[plugins.hostile]
path = "{wasm}"
{limits}
{extra}
"#,
        wasm = hostile_wasm()
    );
    let origin = ConfigOrigin { name: "test.toml".into(), base_dir: dir.path().into(), text: text.clone() };
    let deployment = Arc::new(Deployment::parse(&text, origin).unwrap_or_else(|e| panic!("{e}")));
    let app = App::boot(deployment, &Paths::under(dir.path()), false).unwrap();
    Harness { jobs: app.jobs.clone(), app, dir }
}

impl Harness {
    pub async fn hostile(&self, prompt: &str) -> FieldError {
        self.failing("hostile", prompt).await
    }

    /// A generation with `provider` that must fail; its error.
    pub async fn failing(&self, provider: &str, prompt: &str) -> FieldError {
        let spec = GenerateSpec {
            prompt: prompt.into(),
            settings: Settings { provider: Some(provider.into()), ..Settings::default() },
            ..GenerateSpec::default()
        };
        match self.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(30)).await {
            Ok(_) => panic!("{provider} `{prompt}` unexpectedly succeeded"),
            Err(e) => e,
        }
    }

    /// The placeholder still answers with a real image.
    pub async fn placeholder_still_works(&self) {
        let spec = GenerateSpec {
            prompt: "still alive".into(),
            settings: Settings { width: Some(64), height: Some(48), ..Settings::default() },
            ..GenerateSpec::default()
        };
        match self.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(30)).await {
            Ok(Outcome::Done { images, .. }) => {
                assert_eq!((images[0].sidecar.width, images[0].sidecar.height), (64, 48))
            }
            Ok(Outcome::Pending { .. }) => panic!("placeholder did not finish"),
            Err(e) => panic!("placeholder failed after a hostile call: {e}"),
        }
    }
}

/// A loopback upstream on `bind` (e.g. "127.0.0.1:0") that records each
/// request as `"PATH AUTHORIZATION"` and answers:
/// `/echo` → the Authorization header it received; `/redirect?to=URL` →
/// 302 to URL; anything else → 404. Returns `http://ADDR` and the record.
pub async fn upstream(bind: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
        let recorder = recorder.clone();
        async move {
            use axum::response::IntoResponse;
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            recorder.lock().unwrap().push(format!("{} {auth}", uri.path()));
            match uri.path() {
                "/echo" => format!("you sent: {auth}").into_response(),
                "/redirect" => {
                    let to = uri.query().and_then(|q| q.strip_prefix("to=")).unwrap_or("/").to_string();
                    (axum::http::StatusCode::FOUND, [("location", to)]).into_response()
                }
                _ => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}
