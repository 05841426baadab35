//! The per-call store data of a plugin instance and the host side of the
//! imports it may use: `egress`, `log`, `progress`, `config`, and a WASI
//! core with no environment, no arguments, no preopens and stdio captured.

use crate::egress::{EgressError as HostEgressError, EgressPolicy, EgressRequest};
use crate::runtime::bindings::easel::image_provider::{config, egress, log, progress, types};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bytes of plugin stderr kept per call (panic messages land here).
const STDERR_CAPACITY: usize = 16 * 1024;

/// A progress report from inside a plugin call.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressReport {
    pub fraction: Option<f32>,
    pub message: String,
}

/// Where a call's progress reports go.
pub type ProgressSink = tokio::sync::mpsc::UnboundedSender<ProgressReport>;

/// What every call of one plugin shares.
pub struct PluginContext {
    pub plugin: String,
    pub egress: EgressPolicy,
    /// `config` table entries, sorted by key.
    pub config: Vec<(String, String)>,
}

/// Store data: one per call, dropped with the store.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) context: Arc<PluginContext>,
    pub(crate) progress: Option<ProgressSink>,
    /// Past this instant the epoch callback traps the guest.
    pub(crate) deadline: Instant,
    pub(crate) stderr: MemoryOutputPipe,
    /// The upstream request the guest is blocked on ("POST https://host")
    /// and since when; `None` between requests. Named in timeout errors.
    pub(crate) waiting_on: Option<(String, Instant)>,
    /// The last upstream request of this call that timed out, as the egress
    /// error put it. Named in timeout errors when nothing was in flight.
    pub(crate) timed_out: Option<String>,
}

impl PluginState {
    pub fn new(context: Arc<PluginContext>, limits: StoreLimits, progress: Option<ProgressSink>, timeout: Duration) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No env, no args, no preopens, no network; stdout discarded, stderr kept for errors.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new().stderr(stderr.clone()).build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            limits,
            context,
            progress,
            deadline: Instant::now() + timeout,
            stderr,
            waiting_on: None,
            timed_out: None,
        }
    }

    /// What the guest wrote to stderr, lossy UTF-8, trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).trim().to_string()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for PluginState {}

impl egress::Host for PluginState {
    async fn fetch(&mut self, request: egress::HttpRequest) -> wasmtime::Result<Result<egress::HttpResponse, egress::EgressError>> {
        let context = self.context.clone();
        let request = EgressRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
        };
        tracing::debug!(plugin = %context.plugin, method = %request.method, url = %redact_query(&request.url), "egress");
        let target = url::Url::parse(&request.url).map(|url| crate::egress::origin(&url)).unwrap_or_else(|_| "an invalid URL".into());
        self.waiting_on = Some((format!("{} {target}", request.method), Instant::now()));
        let result = context.egress.fetch(request).await;
        self.waiting_on = None;
        if let Err(error) = &result {
            tracing::warn!(plugin = %context.plugin, "egress refused or failed: {error}");
            if let HostEgressError::Timeout(message) = error {
                self.timed_out = Some(message.clone());
            }
        }
        Ok(result
            .map(|r| egress::HttpResponse { status: r.status, headers: r.headers, body: r.body })
            .map_err(|e| match e {
                HostEgressError::Denied(m) => egress::EgressError::Denied(m),
                HostEgressError::SecretUnavailable(m) => egress::EgressError::SecretUnavailable(m),
                HostEgressError::InvalidRequest(m) => egress::EgressError::InvalidRequest(m),
                HostEgressError::Connection(m) => egress::EgressError::Connection(m),
                HostEgressError::Timeout(m) => egress::EgressError::Timeout(m),
                HostEgressError::TooLarge(m) => egress::EgressError::TooLarge(m),
            }))
    }

    async fn secret_configured(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.context.egress.secrets().is_configured(&name))
    }
}

impl log::Host for PluginState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let plugin = &self.context.plugin;
        let message = self.context.egress.secrets().redact(&message);
        match level {
            log::Level::Trace => tracing::trace!(plugin = %plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin = %plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
        Ok(())
    }
}

impl progress::Host for PluginState {
    async fn report(&mut self, fraction: Option<f32>, message: String) -> wasmtime::Result<()> {
        if let Some(sink) = &self.progress {
            let fraction = fraction.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0));
            let _ = sink.send(ProgressReport { fraction, message });
        }
        Ok(())
    }
}

impl config::Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.context.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.context.config.clone())
    }
}

/// A URL without its query string, for logs.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
