//! The stdio and in-process sections: start-up (cold and warm compile
//! cache), the `tools/list` round trip, a 1024×1024 placeholder generation,
//! the per-call overhead of the runtime, and the server's memory (idle with
//! a warm cache, peak on a cold first start).

use crate::Ctx;
use crate::process::status_kib;
use crate::report::{median, mib, ms};
use crate::stdio::{Server, generation_problem};
use anyhow::{Result, bail};
use easel::config::Deployment;
use serde_json::json;
use std::time::{Duration, Instant};

/// spawn → `initialize` answered; cold = an empty compile cache each time.
pub fn startup(ctx: &mut Ctx) -> Result<()> {
    let store = ctx.dir("store");
    let cold_runs = ctx.reps(3, 1);
    let mut cold = Vec::new();
    for run in 0..cold_runs {
        let cache = ctx.dir(&format!("cold-cache-{run}"));
        let started = Instant::now();
        let mut server = Server::spawn(&ctx.easel, &cache, &store);
        server.initialize();
        cold.push(started.elapsed());
        // Let the background compile finish so the warm runs find it.
        let _ = server.call("list_providers", json!({}));
        if run == 0 {
            ctx.set_warm_cache(&cache);
        }
    }
    let warm_cache = ctx.warm_cache();
    let warm: Vec<Duration> = (0..ctx.reps(10, 3))
        .map(|_| {
            let started = Instant::now();
            let mut server = Server::spawn(&ctx.easel, &warm_cache, &store);
            server.initialize();
            started.elapsed()
        })
        .collect();
    let note = |n: usize, what: &str| format!("median of {n}; spawn → MCP initialized, {what} compile cache");
    ctx.report.figure("startup.cold", ms(median(&cold)), &note(cold.len(), "empty"));
    ctx.report.figure("startup.warm", ms(median(&warm)), &note(warm.len(), "warm"));
    Ok(())
}

pub fn tools_list(ctx: &mut Ctx) -> Result<()> {
    let cache = ctx.warm_cache();
    let mut server = Server::spawn(&ctx.easel, &cache, &ctx.dir("store"));
    server.initialize();
    let n = ctx.reps(200, 50);
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = server.request("tools/list", json!({}));
        if !response["result"]["tools"].is_array() {
            bail!("tools/list answered {response}");
        }
        list.push(started.elapsed());
    }
    ctx.report.figure("tools-list.stdio", ms(median(&list)), &format!("median of {n}; round trip over stdio"));
    Ok(())
}

pub fn placeholder_stdio(ctx: &mut Ctx) -> Result<()> {
    let cache = ctx.warm_cache();
    let mut server = Server::spawn(&ctx.easel, &cache, &ctx.dir("store"));
    server.initialize();
    let n = ctx.reps(10, 3);
    let mut generate = Vec::with_capacity(n);
    for seed in 0..n {
        let started = Instant::now();
        let response = server
            .call("generate_image", json!({"prompt": "benchmark", "width": 1024, "height": 1024, "seed": 1000 + seed}));
        if let Some(problem) = generation_problem(&response) {
            bail!("generate_image: {problem}");
        }
        generate.push(started.elapsed());
    }
    ctx.report.figure(
        "placeholder-stdio.generate",
        ms(median(&generate)),
        &format!("median of {n}; generate_image 1024×1024 placeholder over stdio, end to end"),
    );
    Ok(())
}

/// In-process: fresh Store + instantiate from InstancePre + describe().
pub fn per_call(ctx: &mut Ctx) -> Result<()> {
    let paths = easel::app::Paths { store: ctx.dir("in-process-store"), cache: ctx.warm_cache() };
    let calls = ctx.reps(2000, 200);
    let mean = ctx.rt.block_on(async {
        let app = easel::app::App::boot(Deployment::embedded(), &paths, false)?;
        let Some(entry) = app.registry().get("placeholder").cloned() else { bail!("no placeholder plugin") };
        let plugin = entry.plugin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        plugin.describe().await?;
        let started = Instant::now();
        for _ in 0..calls {
            plugin.describe().await?;
        }
        Ok::<f64, anyhow::Error>(started.elapsed().as_secs_f64() * 1e6 / calls as f64)
    })?;
    ctx.report.figure(
        "per-call.describe",
        format!("{mean:.1} µs"),
        &format!("mean of {calls}; in-process fresh store + instantiate + describe"),
    );
    Ok(())
}

/// Idle RSS with a warm compile cache; peak RSS of a first start on a cold one.
pub fn rss(ctx: &mut Ctx) -> Result<()> {
    let cache = ctx.warm_cache();
    let mut server = Server::spawn(&ctx.easel, &cache, &ctx.dir("store-rss"));
    server.initialize();
    let _ = server.call("list_providers", json!({}));
    std::thread::sleep(Duration::from_secs(1));
    let idle = status_kib(server.pid(), "VmRSS")?;
    let idle_peak = status_kib(server.pid(), "VmHWM")?;
    drop(server);
    ctx.report.figure(
        "rss.idle-warm",
        mib(idle),
        &format!("VmRSS 1 s after initialize + list_providers, warm compile cache; VmHWM {}", mib(idle_peak)),
    );

    let cold_cache = ctx.dir("rss-cold-cache");
    let started = Instant::now();
    let mut server = Server::spawn(&ctx.easel, &cold_cache, &ctx.dir("store-rss-cold"));
    server.initialize();
    let _ = server.call("list_providers", json!({}));
    let took = started.elapsed();
    let peak = status_kib(server.pid(), "VmHWM")?;
    let now = status_kib(server.pid(), "VmRSS")?;
    drop(server);
    ctx.report.figure(
        "rss.peak-cold",
        mib(peak),
        &format!(
            "VmHWM after initialize + list_providers on an empty compile cache ({} to compile); VmRSS then {}",
            ms(took),
            mib(now)
        ),
    );
    Ok(())
}
