//! The HTTP load sections: 64 MCP sessions opened on `easel serve
//! --transport http`, then 64 `generate_image` calls fired at once (tokio
//! tasks behind a barrier, one reqwest client) while another task polls
//! `GET /health` every 10 ms; wall time, latency percentiles, errors,
//! /health latency, and the child's CPU per image and peak RSS from /proc.

use crate::http::{HttpServer, Session, client};
use crate::openai::{arguments, write_config};
use crate::process::{Launch, cpu_seconds, status_kib};
use crate::report::{max, mib, ms, percentile};
use crate::{Ctx, FAKE_KEY};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Calls in one load.
const CALLS: usize = 64;

/// 64 openai generations at once against the fake with a 1 s delay, with
/// the plugin's `concurrency = 64`.
pub fn http_openai_64(ctx: &mut Ctx) -> Result<()> {
    let origin = ctx.upstream().origin.clone();
    ctx.upstream().set_delay(Duration::from_secs(1));
    let cache = ctx.warm_cache();
    let config = write_config(&ctx.dir("http-openai-64.toml"), &origin, Some(CALLS))?;
    let store = ctx.dir("store-http-openai-64");
    let env = [("OPENAI_API_KEY", FAKE_KEY)];
    let server = HttpServer::spawn(&Launch {
        easel: &ctx.easel,
        cache: &cache,
        store: &store,
        config: Some(&config),
        env: &env,
    })?;
    let outcome = ctx.rt.block_on(run_load(&server, ctx.upstream.as_ref(), |i| arguments(&format!("load {i}"))));
    ctx.upstream().set_delay(Duration::ZERO);
    let load = outcome?;
    let seen = ctx.upstream().seen();
    print_load(ctx, "http-openai-64", &load, &server);
    ctx.report.figure(
        "http-openai-64.upstream-max-in-flight",
        seen.max_in_flight.to_string(),
        &format!(
            "most requests the fake held at once (delay 1 s); it answered {} images, refused {}",
            seen.images, seen.refused
        ),
    );
    Ok(())
}

/// 64 placeholder generations at once (embedded deployment, distinct seeds).
pub fn http_placeholder_64(ctx: &mut Ctx) -> Result<()> {
    let cache = ctx.warm_cache();
    let store = ctx.dir("store-http-placeholder-64");
    let server =
        HttpServer::spawn(&Launch { easel: &ctx.easel, cache: &cache, store: &store, config: None, env: &[] })?;
    let outcome = ctx.rt.block_on(run_load(
        &server,
        None,
        |i| json!({"prompt": "benchmark", "width": 1024, "height": 1024, "seed": 20_000 + i}),
    ));
    let load = outcome?;
    print_load(ctx, "http-placeholder-64", &load, &server);
    Ok(())
}

/// What one load measured.
struct Load {
    wall: Duration,
    latencies: Vec<Duration>,
    /// Distinct error messages and how often each came.
    errors: BTreeMap<String, usize>,
    health: Vec<Duration>,
    health_failures: usize,
    cpu_seconds: f64,
    peak_kib: u64,
    rss_kib: u64,
    sessions_opened_in: Duration,
}

/// Warm up (one session: `list_providers`, one discarded generation), open
/// [`CALLS`] sessions, then fire one `generate_image` on each at once.
async fn run_load(
    server: &HttpServer,
    upstream: Option<&crate::upstream::Upstream>,
    arguments_of: impl Fn(usize) -> Value,
) -> Result<Load> {
    let http = client();
    let mut warm = Session::open(&http, &server.mcp_url).await?;
    warm.call("list_providers", json!({})).await?;
    let (status, answer) = warm.call("generate_image", arguments_of(CALLS + 1)).await?;
    if let Some(problem) = problem(status, answer.as_ref()) {
        bail!("the warm-up generation failed: {problem}");
    }
    if let Some(upstream) = upstream {
        upstream.reset();
    }

    let opening = Instant::now();
    let sessions = futures::future::try_join_all((0..CALLS).map(|_| Session::open(&http, &server.mcp_url))).await?;
    let sessions_opened_in = opening.elapsed();

    let pid = server.pid();
    let cpu_before = cpu_seconds(pid)?;
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLS + 1));
    let mut calls = Vec::with_capacity(CALLS);
    for (i, mut session) in sessions.into_iter().enumerate() {
        let barrier = barrier.clone();
        let arguments = arguments_of(i);
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let outcome = session.call("generate_image", arguments).await;
            let ended = Instant::now();
            let problem = match outcome {
                Ok((status, answer)) => problem(status, answer.as_ref()),
                Err(e) => Some(format!("{e:#}")),
            };
            (started, ended, problem)
        }));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_health(format!("{}/health", server.base), stop.clone()));
    barrier.wait().await;
    let mut latencies = Vec::with_capacity(CALLS);
    let mut errors = BTreeMap::new();
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for call in calls {
        let (started, ended, problem) = call.await?;
        first = Some(first.map_or(started, |f| f.min(started)));
        last = Some(last.map_or(ended, |l| l.max(ended)));
        latencies.push(ended - started);
        if let Some(problem) = problem {
            *errors.entry(problem).or_insert(0) += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (health, health_failures) = poller.await?;
    let cpu_seconds = cpu_seconds(pid)? - cpu_before;
    Ok(Load {
        wall: last.zip(first).map(|(l, f)| l - f).unwrap_or_default(),
        latencies,
        errors,
        health,
        health_failures,
        cpu_seconds,
        peak_kib: status_kib(pid, "VmHWM")?,
        rss_kib: status_kib(pid, "VmRSS")?,
        sessions_opened_in,
    })
}

/// Why a tool call's HTTP answer is not an image: non-200, a JSON-RPC
/// error, `isError`, no answer, or no image in it.
fn problem(status: u16, answer: Option<&Value>) -> Option<String> {
    if status != 200 {
        let body: String = answer.map(|a| a.to_string()).unwrap_or_default().chars().take(200).collect();
        return Some(format!("HTTP {status}: {body}"));
    }
    match answer {
        None => Some("no answer".into()),
        Some(answer) => crate::stdio::generation_problem(answer),
    }
}

/// `GET /health` every 10 ms (its own client and connection) until `stop`:
/// each latency, and how many failed.
async fn poll_health(url: String, stop: Arc<AtomicBool>) -> (Vec<Duration>, usize) {
    let http = client();
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut samples, mut failures) = (Vec::new(), 0);
    while !stop.load(Ordering::SeqCst) {
        ticks.tick().await;
        let started = Instant::now();
        match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                samples.push(started.elapsed());
            }
            _ => failures += 1,
        }
    }
    (samples, failures)
}

fn print_load(ctx: &mut Ctx, section: &str, load: &Load, server: &HttpServer) {
    let r = &mut ctx.report;
    let errors: usize = load.errors.values().sum();
    r.figure(
        &format!("{section}.wall"),
        ms(load.wall),
        &format!("{CALLS} generate_image at once, first start → last end"),
    );
    r.figure(&format!("{section}.p50"), ms(percentile(&load.latencies, 0.5)), "per-call latency");
    r.figure(&format!("{section}.p99"), ms(percentile(&load.latencies, 0.99)), "per-call latency");
    r.figure(&format!("{section}.errors"), errors.to_string(), "non-200, isError or no image");
    for (message, count) in &load.errors {
        r.note(&format!("{count}× {message}"));
    }
    let health_note = format!(
        "GET /health every 10 ms during the load: {} answered, {} failed",
        load.health.len(),
        load.health_failures
    );
    r.figure(&format!("{section}.health-p50"), ms(percentile(&load.health, 0.5)), &health_note);
    r.figure(&format!("{section}.health-p99"), ms(percentile(&load.health, 0.99)), "");
    r.figure(&format!("{section}.health-max"), ms(max(&load.health)), "");
    r.figure(
        &format!("{section}.host-cpu-per-image"),
        format!("{:.1} ms", load.cpu_seconds * 1e3 / CALLS as f64),
        &format!("child utime+stime over the load / {CALLS} ({:.2} s in all)", load.cpu_seconds),
    );
    r.figure(
        &format!("{section}.peak-rss"),
        mib(load.peak_kib),
        &format!("child VmHWM after the load; VmRSS {}", mib(load.rss_kib)),
    );
    r.figure(&format!("{section}.sessions-open"), ms(load.sessions_opened_in), &format!("{CALLS} initialize at once"));
    for (count, example) in server.complaints().iter().take(5) {
        r.note(&format!("easel stderr, {count}× like: {example}"));
    }
}
