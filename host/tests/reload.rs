//! Reloading `plugins.toml` in a running host (`App::reload`, what SIGHUP
//! and `--watch` call): unchanged providers are kept as they are, new ones
//! load, changed ones are rebuilt, removed ones finish the calls they are
//! running and take no more; a broken file changes nothing; sessions hear
//! of it only when the providers changed.

mod common;

use common::hostile_wasm;
use easel::app::{App, Paths};
use easel::config::Deployment;
use easel::jobs::GenerateSpec;
use easel::reload::reload_from;
use easel::request::Settings;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const PLACEHOLDER: &str = "[plugins.placeholder]\nbuiltin = \"placeholder\"\n";

fn hostile(limits: &str, allowed: &str) -> String {
    format!("[plugins.hostile]\npath = \"{}\"\n{limits}\nallowed_hosts = [\"{allowed}\"]\n", hostile_wasm())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, format!("[defaults]\nprovider = \"placeholder\"\n\n{text}")).unwrap();
}

async fn boot(dir: &Path, text: &str) -> (Arc<App>, PathBuf) {
    let path = dir.join("plugins.toml");
    write(&path, text);
    let deployment = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (App::boot(deployment, &Paths::under(dir), false).unwrap(), path)
}

async fn run(app: &App, provider: &str, prompt: &str) -> Result<(), easel::jobs::FieldError> {
    let spec = GenerateSpec {
        prompt: prompt.into(),
        settings: Settings {
            provider: Some(provider.into()),
            width: Some(32),
            height: Some(32),
            ..Settings::default()
        },
        ..GenerateSpec::default()
    };
    app.jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(30)).await.map(|_| ())
}

/// A loopback upstream whose `/slow` answers "slow answer" after 1.5 s.
async fn slow_upstream() -> String {
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow answer"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn unchanged_providers_are_kept_new_ones_load_and_changed_ones_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (app, path) = boot(dir.path(), PLACEHOLDER).await;
    run(&app, "placeholder", "before").await.unwrap();
    let placeholder = app.registry().get("placeholder").cloned().unwrap();
    let mut changes = app.surface_changes();

    write(&path, &format!("{PLACEHOLDER}{}", hostile("timeout_secs = 2", "http://127.0.0.1:9")));
    let report = reload_from(&app, &path, "test").await.unwrap();
    assert_eq!(
        (report.added.clone(), report.unchanged.clone()),
        (vec!["hostile".to_string()], vec!["placeholder".to_string()])
    );
    assert!(
        Arc::ptr_eq(&placeholder, app.registry().get("placeholder").unwrap()),
        "the loaded placeholder is kept as it is"
    );
    assert!(changes.try_recv().is_ok(), "sessions are told the providers changed");
    let error = run(&app, "hostile", "lie").await.unwrap_err();
    assert!(error.message.contains("provider `hostile` returned image 1"), "the new provider ran: {}", error.message);

    let report = reload_from(&app, &path, "test").await.unwrap();
    assert!(!report.surface_changed(), "{report}");
    assert!(changes.try_recv().is_err(), "an identical file tells nobody anything");

    write(&path, &format!("{PLACEHOLDER}{}", hostile("timeout_secs = 3", "http://127.0.0.1:9")));
    let report = reload_from(&app, &path, "test").await.unwrap();
    assert_eq!(report.changed, vec!["hostile".to_string()], "{report}");
    run(&app, "placeholder", "after").await.unwrap();
}

#[tokio::test]
async fn a_removed_provider_finishes_its_running_call_and_takes_no_more() {
    let base = slow_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let (app, path) = boot(dir.path(), &format!("{PLACEHOLDER}{}", hostile("timeout_secs = 20", &base))).await;
    let running = {
        let app = app.clone();
        let url = format!("fetch:{base}/slow");
        tokio::spawn(async move { run(&app, "hostile", &url).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    write(&path, PLACEHOLDER);
    let report = reload_from(&app, &path, "test").await.unwrap();
    assert_eq!(report.removed, vec!["hostile".to_string()], "{report}");
    let finished = running.await.unwrap().unwrap_err();
    assert!(
        finished.message.contains("fetched: status 200 body slow answer"),
        "the call ran to its end: {}",
        finished.message
    );
    let refused = run(&app, "hostile", "lie").await.unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("provider"), "{}", refused.message);
    run(&app, "placeholder", "still here").await.unwrap();
}

#[tokio::test]
async fn a_broken_file_keeps_the_running_deployment_and_says_where_it_broke() {
    let dir = tempfile::tempdir().unwrap();
    let (app, path) = boot(dir.path(), PLACEHOLDER).await;
    let mut changes = app.surface_changes();
    write(&path, &format!("{PLACEHOLDER}[plugins.broken]\nbuiltin = \"placeholder\"\ntimeout_secs = \"soon\"\n"));
    let error = reload_from(&app, &path, "test").await.unwrap_err();
    assert!(error.contains("plugins.toml") && error.contains(":8:16"), "names the file and line: {error}");
    assert!(app.registry().get("broken").is_none());
    assert!(changes.try_recv().is_err());
    run(&app, "placeholder", "unchanged").await.unwrap();

    write(&path, "[store]\ndir = \"elsewhere\"\n[plugins.placeholder]\nbuiltin = \"placeholder\"\n");
    let report = reload_from(&app, &path, "test").await.unwrap();
    assert_eq!(report.needs_restart, vec!["store".to_string()], "{report}");
    assert!(report.to_string().contains("changes to [store] take effect after a restart"), "{report}");
}
