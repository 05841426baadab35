//! `easel plugins check FILE.wasm`: what an author should know before an
//! operator finds out. Static checks ([`inspect`]: component, WIT version,
//! imports against the sandbox policy), then the plugin is loaded as a
//! deployment would load it (exports type-checked, `describe` within its
//! limits and consistent), then the [`contract`] runs it against scripted
//! upstreams. No network is used: every request is answered by the script.

pub mod contract;
pub mod inspect;
pub mod report;

use crate::egress::allowed_hosts::AllowedHost;
use crate::egress::secrets::SecretSet;
use crate::egress::{EgressPolicy, scripted::ScriptedUpstream};
use crate::runtime::call::{Limits, MIN_TRANSFER_BYTES};
use crate::runtime::state::PluginContext;
use crate::runtime::{Plugin, Runtime};
use contract::{Harness, Script, ScriptedHost};
use inspect::FileKind;
use report::{Report, Verdict};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wall-clock limit of each call the check makes (`describe` must also
/// answer within the host's 30 s describe deadline).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Memory limit of each instance: the default `memory_mib` of a deployment.
pub const MEMORY_BYTES: usize = 256 << 20;

/// Check the component at `file`; `config` is its `[plugins.ID.config]`
/// (`--set KEY=VALUE`), `runtime` the engine (with its compile cache).
pub async fn check(file: &Path, config: Vec<(String, String)>, runtime: Arc<Runtime>) -> Report {
    let mut report = Report { file: file.display().to_string(), ..Report::default() };
    let wasm = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.add("file", Verdict::Fail, format!("cannot read {}: {e}", file.display()));
            return report;
        }
    };
    report.facts.file_bytes = wasm.len() as u64;
    match inspect::file_kind(&wasm) {
        FileKind::Component => {}
        FileKind::CoreModule => {
            report.add(
                "component",
                Verdict::Fail,
                "this is a core wasm module, not a component: build Rust for wasm32-wasip2 (not wasm32-unknown-unknown or wasip1), or use componentize-py / componentize-js",
            );
            return report;
        }
        FileKind::NotWasm => {
            report.add("component", Verdict::Fail, "this is not a wasm file (it does not start with \\0asm)");
            return report;
        }
    }
    let name = plugin_name(file);
    let started = Instant::now();
    let component = {
        let runtime = runtime.clone();
        let wasm = wasm.clone();
        tokio::task::spawn_blocking(move || runtime.compile(&wasm)).await
    };
    let (component, compiled_now) = match component {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            report.add("component", Verdict::Fail, format!("wasmtime cannot compile it: {e:#}"));
            return report;
        }
        Err(e) => {
            report.add("component", Verdict::Fail, format!("compiling panicked: {e}"));
            return report;
        }
    };
    report.facts.compile_ms = Some(if compiled_now { started.elapsed().as_secs_f64() * 1e3 } else { 0.0 });
    report.add("component", Verdict::Pass, format!("{:.1} MiB", wasm.len() as f64 / (1 << 20) as f64));

    match inspect::wit_version(runtime.engine(), &component) {
        Ok(version) if inspect::SUPPORTED_WIT_VERSIONS.contains(&version.as_str()) => {
            report.add("wit", Verdict::Pass, format!("exports easel:image-provider/provider@{version}"));
            report.facts.wit_version = Some(version);
        }
        Ok(version) => {
            report.add(
                "wit",
                Verdict::Fail,
                format!(
                    "built against easel:image-provider@{version}; this host loads {}",
                    inspect::SUPPORTED_WIT_VERSIONS.join(" and ")
                ),
            );
            return report;
        }
        Err(exports) => {
            report.add(
                "wit",
                Verdict::Fail,
                format!(
                    "exports no easel:image-provider/provider (it exports: {}); build against the world `image-provider` in wit/",
                    if exports.is_empty() { "nothing".into() } else { exports.join(", ") }
                ),
            );
            return report;
        }
    }

    let verdicts = inspect::imports(runtime.engine(), &component);
    let refused: Vec<_> = verdicts.iter().filter(|v| v.refused.is_some()).collect();
    if refused.is_empty() {
        report.add("imports", Verdict::Pass, format!("all inside the sandbox: {}", import_summary(&verdicts)));
    } else {
        let mut lines: Vec<String> = refused
            .iter()
            .map(|v| format!("`{}` is refused: {}", v.name, v.refused.as_deref().unwrap_or("")))
            .collect();
        lines.push(format!("to build without them: {}", inspect::BUILD_HINTS));
        report.add("imports", Verdict::Fail, lines.join("\n"));
        return report;
    }

    if let Err(e) = runtime.prepare(&name, &wasm) {
        report.add("exports", Verdict::Fail, format!("{e:#}"));
        return report;
    }
    report.add("exports", Verdict::Pass, "type-check against the world `image-provider`");

    let mut harness =
        CheckHarness { runtime, wasm: Arc::new(wasm), name, allow: Vec::new(), canaries: Vec::new(), config };
    let started = Instant::now();
    let described =
        tokio::time::timeout(CALL_TIMEOUT, harness.plugin(ScriptedHost::new(Script::Refused)).0.describe()).await;
    report.facts.describe_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    let info = match described {
        Err(_) => {
            report.add("describe", Verdict::Fail, format!("did not answer within {} s", CALL_TIMEOUT.as_secs()));
            return report;
        }
        Ok(Err(crate::runtime::CallError::Provider(e @ crate::model::ProviderError::Unavailable { .. }))) => {
            report.add(
                "describe",
                Verdict::Warn,
                format!("answered unavailable with no upstream to ask ({e}); the contract run needs a description, so it is skipped"),
            );
            return report;
        }
        Ok(Err(e)) => {
            report.add("describe", Verdict::Fail, format!("{e}"));
            return report;
        }
        Ok(Ok(info)) => info,
    };
    let problems = info.problems();
    if !problems.is_empty() {
        report.add("describe", Verdict::Fail, format!("the description is inconsistent: {}", problems.join("; ")));
        return report;
    }
    report.facts.provider_id = Some(info.id.clone());
    report.facts.models = info.models.iter().map(|m| m.id.clone()).collect();
    report.add(
        "describe",
        Verdict::Pass,
        format!("`{}` {} with {} model(s), default `{}`", info.id, info.version, info.models.len(), info.default_model),
    );

    let mut hosts_ok = true;
    for host in &info.hosts {
        match host.parse::<AllowedHost>() {
            Ok(parsed) => harness.allow.push(parsed),
            Err(why) => {
                hosts_ok = false;
                report.add("hosts", Verdict::Fail, format!("`{host}` cannot go in allowed_hosts: {why}"));
            }
        }
    }
    if hosts_ok {
        let verdict = if info.hosts.is_empty() { Verdict::Warn } else { Verdict::Pass };
        let detail = if info.hosts.is_empty() {
            "declares no hosts: it can reach nothing (fine for an offline plugin)".to_string()
        } else {
            info.hosts.join(", ")
        };
        report.add("hosts", verdict, detail);
    }
    harness.canaries = info
        .secrets
        .iter()
        .map(|s| (s.name.clone(), format!("easel-check-canary-{}-{}", s.name, uuid::Uuid::new_v4().simple())))
        .collect();
    report.facts.call_ms = contract::run(&harness, &info, &mut report).await;
    report
}

/// Imports grouped by package: `easel:image-provider (5), wasi:io (3)`.
fn import_summary(verdicts: &[inspect::ImportVerdict]) -> String {
    let mut packages: Vec<(String, usize)> = Vec::new();
    for verdict in verdicts {
        let package = verdict.name.split('/').next().unwrap_or(&verdict.name).to_string();
        match packages.iter_mut().find(|(p, _)| *p == package) {
            Some((_, count)) => *count += 1,
            None => packages.push((package, 1)),
        }
    }
    packages.iter().map(|(p, n)| format!("{p} ({n})")).collect::<Vec<_>>().join(", ")
}

/// The plugin name used in messages: the file stem (`bfl` for `bfl.wasm`).
fn plugin_name(file: &Path) -> String {
    file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into())
}

/// Fresh instances of the checked plugin, egress answered by a script.
struct CheckHarness {
    runtime: Arc<Runtime>,
    wasm: Arc<Vec<u8>>,
    name: String,
    /// The plugin's declared `hosts`, as an operator would allow them.
    allow: Vec<AllowedHost>,
    /// (secret name, canary value) for every declared secret.
    canaries: Vec<(String, String)>,
    config: Vec<(String, String)>,
}

impl Harness for CheckHarness {
    fn plugin(&self, host: Arc<ScriptedHost>) -> (Arc<Plugin>, Arc<Mutex<Vec<String>>>) {
        let pre = self.runtime.prepare(&self.name, &self.wasm).expect("prepared once already, from the cache");
        let secrets = SecretSet::literal(&self.name, self.canaries.clone(), &self.allow);
        let upstream: Arc<dyn ScriptedUpstream> = host;
        let egress = EgressPolicy::new(&self.name, self.allow.clone(), secrets, 64 << 20, CALL_TIMEOUT)
            .with_scripted_upstream(upstream);
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let mut context = PluginContext::new(&self.name, egress, self.config.clone());
        context.transcript = Some(transcript.clone());
        let limits = Limits {
            timeout: CALL_TIMEOUT,
            memory_bytes: MEMORY_BYTES,
            concurrency: 1,
            transfer_bytes: MIN_TRANSFER_BYTES,
        };
        (Plugin::new(pre, context, limits), transcript)
    }

    fn canaries(&self) -> Vec<String> {
        self.canaries.iter().map(|(_, value)| value.clone()).collect()
    }
}
