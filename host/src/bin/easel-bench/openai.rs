//! The `openai-stdio` section: one 2 MiB generation through the real
//! built-in `openai` plugin (sandboxed, over MCP stdio) against the fake
//! upstream, next to the native floor (the same POST from this process with
//! a kept-alive client, JSON parse, base64 decode, sha256, write, fsync);
//! their ratio is the sandbox tax, which the host's own image work (store
//! and preview, timed in-process) explains part of. Also the plugins.toml
//! that points the plugin at the fake, which the HTTP load uses too.

use crate::process::Launch;
use crate::report::{median, ms};
use crate::stdio::{Server, generation_problem};
use crate::{Ctx, FAKE_KEY};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The model asked for. `gpt-image-1` is retired in the plugin's model
/// table (it refuses it before any request), so the bench uses its
/// successor with the same fixed sizes.
pub const MODEL: &str = "gpt-image-1.5";

/// `generate_image` arguments for one openai call.
pub fn arguments(prompt: &str) -> Value {
    json!({"prompt": prompt, "provider": "openai", "model": MODEL, "width": 1024, "height": 1024})
}

/// A plugins.toml with only the `openai` built-in, pointed at `origin`
/// (the fake), with `concurrency` calls at once (none: the default).
pub fn write_config(path: &Path, origin: &str, concurrency: Option<usize>) -> Result<PathBuf> {
    let concurrency = concurrency.map(|n| format!("concurrency = {n}\n")).unwrap_or_default();
    let text = format!(
        r#"[defaults]
provider = "openai"

[plugins.openai]
builtin = "openai"
allowed_hosts = ["{origin}"]
{concurrency}[plugins.openai.secrets.OPENAI_API_KEY]
env = "OPENAI_API_KEY"
hosts = ["{origin}"]
[plugins.openai.config]
base_url = "{origin}/v1"
"#
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.to_path_buf())
}

pub fn openai_stdio(ctx: &mut Ctx) -> Result<()> {
    let origin = ctx.upstream().origin.clone();
    ctx.upstream().set_delay(Duration::ZERO);
    let cache = ctx.warm_cache();
    let config = write_config(&ctx.dir("openai-stdio.toml"), &origin, None)?;
    let store = ctx.dir("store-openai-stdio");
    let log = ctx.dir("openai-stdio.stderr");
    let env = [("OPENAI_API_KEY", FAKE_KEY)];
    let launch = Launch { easel: &ctx.easel, cache: &cache, store: &store, config: Some(&config), env: &env };
    let mut server = Server::launch(&launch, Some(&log));
    server.initialize();
    let n = ctx.reps(10, 3);
    let mut sandboxed = Vec::with_capacity(n);
    ctx.upstream().reset();
    // The first call (plugin load, first connection) is discarded.
    for i in 0..=n {
        let started = Instant::now();
        let response = server.call("generate_image", arguments(&format!("benchmark {i}")));
        let took = started.elapsed();
        if let Some(problem) = generation_problem(&response) {
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("generate_image through openai: {problem}; easel stderr: {}", logged.trim());
        }
        if i > 0 {
            sandboxed.push(took);
        }
    }
    drop(server);
    let seen = ctx.upstream().seen();
    let native = ctx.rt.block_on(native_floor(&origin, &ctx.dir("native"), n))?;
    // Distinct images, numbered far past any the fake has served.
    let pngs: Vec<Vec<u8>> = (0..=n as u64).map(|i| ctx.upstream().png((1 << 40) + i)).collect();
    let image_work = host_image_work(&ctx.dir("store-image-work"), &pngs)?;
    let (sandboxed, native, image_work) = (median(&sandboxed), median(&native), median(&image_work));
    ctx.report.figure(
        "openai-stdio.sandboxed",
        ms(sandboxed),
        &format!("median of {n} after 1 discarded; generate_image {MODEL} 1024x1024 over MCP stdio, upstream delay 0"),
    );
    ctx.report.figure(
        "openai-stdio.native-floor",
        ms(native),
        &format!("median of {n} after 1 discarded; kept-alive reqwest POST + JSON + base64 + sha256 + write + fsync"),
    );
    ctx.report.figure(
        "openai-stdio.sandbox-tax",
        format!("{:.1}×", sandboxed.as_secs_f64() / native.as_secs_f64().max(1e-9)),
        &format!("sandboxed / native; +{} per image", ms(sandboxed.saturating_sub(native))),
    );
    ctx.report.figure(
        "openai-stdio.host-image-work",
        ms(image_work),
        &format!(
            "median of {n}; in-process Store::put_with_preview (whole decode + preview beside sha256, atomic writes + fsyncs)"
        ),
    );
    ctx.report.figure(
        "openai-stdio.sandbox-tax-with-checks",
        format!("{:.2}×", sandboxed.as_secs_f64() / (native + image_work).as_secs_f64().max(1e-9)),
        "sandboxed / (native floor + the same image checks and preview done natively)",
    );
    ctx.report.figure(
        "openai-stdio.rest",
        ms(sandboxed.saturating_sub(native + image_work)),
        "sandboxed − native − host image work: plugin (JSON, base64 in wasm), copies, jobs, MCP result",
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    for (count, example) in crate::process::complaints(logged.lines()).iter().take(5) {
        ctx.report.note(&format!("easel stderr, {count}× like: {example}"));
    }
    if seen.images != (n + 1) as u64 || seen.refused > 0 {
        ctx.report.note(&format!(
            "the fake saw {} images and {} refusals for {} calls",
            seen.images,
            seen.refused,
            n + 1
        ));
    }
    Ok(())
}

/// What the host does with an image that the native floor does not: store
/// it (whole decode to check it, sha256, image and sidecar written
/// atomically with fsyncs) and make the inline preview of the tool result,
/// as a job does it ([`easel::store::Store::put_with_preview`]: the decode
/// and preview on a second thread while the file is written); each after
/// the first timed.
fn host_image_work(root: &Path, pngs: &[Vec<u8>]) -> Result<Vec<Duration>> {
    let store = easel::store::Store::open(root)?.with_previews(easel::config::PreviewSettings::default());
    let mut samples = Vec::with_capacity(pngs.len());
    for (i, png) in pngs.iter().enumerate() {
        let started = Instant::now();
        let sidecar = easel::store::Sidecar::new(easel::store::Origin::Generated, "benchmark");
        let stored = store.put_with_preview(png, sidecar, 1)?;
        anyhow::ensure!(store.cached_preview(&stored.sidecar.id, 1).is_some(), "no preview was made");
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    Ok(samples)
}

/// The least a native client does for the same image, `n` times after one
/// discarded call: what each call took.
async fn native_floor(origin: &str, dir: &Path, n: usize) -> Result<Vec<Duration>> {
    std::fs::create_dir_all(dir)?;
    let client = crate::http::client();
    let url = format!("{origin}/v1/images/generations");
    let mut samples = Vec::with_capacity(n);
    for i in 0..=n {
        let started = Instant::now();
        let body = json!({"model": MODEL, "prompt": format!("benchmark {i}"), "n": 1, "size": "1024x1024"});
        let response = client
            .post(&url)
            .header("authorization", format!("Bearer {FAKE_KEY}"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the fake answered the native client HTTP {}", response.status());
        }
        let bytes = response.bytes().await?;
        let value: Value = serde_json::from_slice(&bytes)?;
        let b64 = value["data"][0]["b64_json"].as_str().ok_or_else(|| anyhow!("no data[0].b64_json"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(b64)?;
        let digest = hex::encode(sha2::Sha256::digest(&png));
        let mut file = std::fs::File::create(dir.join(format!("{}.png", &digest[..16])))?;
        file.write_all(&png)?;
        file.sync_all()?;
        drop(file);
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    Ok(samples)
}
