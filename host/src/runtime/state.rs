//! The per-call store data of a plugin instance and the host side of the
//! imports it may use: `egress`, `log`, `progress`, `config` (`streams` is
//! in `runtime::streams`), and a WASI
//! core with no environment, no arguments, no preopens and stdio captured.
//! Everything a plugin says is escaped and cut (`logs`), its log lines are
//! rate-limited, and its progress is latest-wins.

use super::limiter::TotalMemoryLimiter;
use super::logs::{Admit, LogLimiter, MAX_LOG_CHARS, MAX_PROGRESS_CHARS, sanitize};
use crate::egress::{EgressError as HostEgressError, EgressPolicy, EgressRequest};
use crate::runtime::bindings::latest::easel::image_provider::{config, egress, log, progress, types};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
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

/// Where a call's progress reports go: one slot, the latest report wins,
/// so a plugin reporting faster than its job forwards (at most
/// `jobs::run::PROGRESS_INTERVAL` apart) overwrites unread reports instead
/// of queueing them. Memory stays one message of at most
/// [`MAX_PROGRESS_CHARS`] characters, however fast the plugin reports.
pub type ProgressSink = tokio::sync::watch::Sender<Option<ProgressReport>>;

/// What every call of one plugin shares.
pub struct PluginContext {
    pub plugin: String,
    pub egress: EgressPolicy,
    /// `config` table entries, sorted by key.
    pub config: Vec<(String, String)>,
    /// The plugin's log budget, shared by all its calls.
    pub logs: LogLimiter,
    /// Where log lines go instead of `tracing`, as the operator would see
    /// them (redacted, within the budget, whatever the log filter): for
    /// `plugins check`; `None` in a deployment.
    pub transcript: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl PluginContext {
    /// A plugin's context with a fresh log budget.
    pub fn new(plugin: &str, egress: EgressPolicy, config: Vec<(String, String)>) -> PluginContext {
        PluginContext { plugin: plugin.into(), egress, config, logs: LogLimiter::default(), transcript: None }
    }

    /// Write one warning about this plugin within its log budget (the
    /// host's own lines about a plugin, e.g. refused egress, share it).
    pub fn warn(&self, message: &str) {
        self.emit(log::Level::Warn, message);
    }

    fn emit(&self, level: log::Level, message: &str) {
        let plugin = &self.plugin;
        // A line the log filter would drop costs nothing and uses none of
        // the plugin's budget (else debug lines would suppress real warnings).
        let shown = match level {
            log::Level::Trace => tracing::enabled!(tracing::Level::TRACE),
            log::Level::Debug => tracing::enabled!(tracing::Level::DEBUG),
            log::Level::Info => tracing::enabled!(tracing::Level::INFO),
            log::Level::Warn => tracing::enabled!(tracing::Level::WARN),
            log::Level::Error => tracing::enabled!(tracing::Level::ERROR),
        };
        if !shown && self.transcript.is_none() {
            return;
        }
        match self.logs.admit() {
            Admit::Suppress => return,
            Admit::Write { suppressed_before: 0 } => {}
            Admit::Write { suppressed_before } => self.report_suppressed(suppressed_before),
        }
        let message = sanitize(&self.egress.secrets().redact(message), MAX_LOG_CHARS);
        if let Some(transcript) = &self.transcript {
            // `plugins check` reports the lines itself.
            transcript.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{level:?}: {message}"));
            return;
        }
        match level {
            log::Level::Trace => tracing::trace!(plugin = %plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin = %plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
    }

    /// Say how many lines were dropped, if any were since the last line.
    pub fn flush_suppressed(&self) {
        let suppressed = self.logs.take_suppressed();
        if suppressed > 0 {
            self.report_suppressed(suppressed);
        }
    }

    fn report_suppressed(&self, count: u64) {
        tracing::warn!(
            plugin = %self.plugin,
            "{count} log messages suppressed (plugins may write {} per second)",
            super::logs::LOG_LINES_PER_WINDOW
        );
    }
}

/// Store data: one per call, dropped with the store.
pub struct PluginState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Streams and websockets this call holds open (`runtime::streams`).
    pub(crate) open_streams: u32,
    pub(crate) limits: TotalMemoryLimiter,
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
    /// What this call's egress did (see [`CallTrace`]).
    pub(crate) trace: CallTrace,
}

/// What one call's egress did, for deciding whether a failed submit is
/// safe to retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTrace {
    /// Some request may have reached an upstream (it got an answer, or
    /// failed after connecting).
    pub reached_upstream: bool,
    /// Requests that failed before any connection was made.
    pub connect_failures: u32,
    /// Bytes of linear memory and tables the instance held at the end of
    /// the call (they only grow, so this is the call's peak).
    pub memory_bytes: usize,
}

impl PluginState {
    pub fn new(
        context: Arc<PluginContext>,
        limits: TotalMemoryLimiter,
        progress: Option<ProgressSink>,
        timeout: Duration,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No env, no args, no preopens, no network; stdout discarded, stderr kept for errors.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new().stderr(stderr.clone()).build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            open_streams: 0,
            limits,
            context,
            progress,
            deadline: Instant::now() + timeout,
            stderr,
            waiting_on: None,
            timed_out: None,
            trace: CallTrace::default(),
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
    async fn fetch(
        &mut self,
        request: egress::HttpRequest,
    ) -> wasmtime::Result<Result<egress::HttpResponse, egress::EgressError>> {
        let context = self.context.clone();
        let request = EgressRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
        };
        tracing::debug!(plugin = %context.plugin, method = %request.method, url = %redact_query(&request.url), "egress");
        self.waiting_on = Some((format!("{} {}", request.method, target_of(&request.url)), Instant::now()));
        let result = context.egress.fetch(request).await;
        self.waiting_on = None;
        match &result {
            Ok(_) => self.trace.reached_upstream = true,
            Err(HostEgressError::NotConnected(_)) => self.trace.connect_failures += 1,
            Err(error) => self.trace.reached_upstream |= error.may_have_reached_upstream(),
        }
        if let Err(error) = &result {
            context.warn(&format!("egress refused or failed: {error}"));
            if let HostEgressError::Timeout(message) = error {
                self.timed_out = Some(message.clone());
            }
        }
        Ok(result
            .map(|r| egress::HttpResponse { status: r.status, headers: r.headers, body: r.body })
            .map_err(to_wit_error))
    }

    async fn secret_configured(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.context.egress.secrets().is_configured(&name))
    }
}

impl log::Host for PluginState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.context.emit(level, &message);
        Ok(())
    }
}

impl progress::Host for PluginState {
    async fn report(&mut self, fraction: Option<f32>, message: String) -> wasmtime::Result<()> {
        if let Some(sink) = &self.progress {
            let fraction = fraction.filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 1.0));
            let message = sanitize(&self.context.egress.secrets().redact(&message), MAX_PROGRESS_CHARS);
            sink.send_replace(Some(ProgressReport { fraction, message }));
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

/// A host egress error as the WIT `egress-error` a plugin gets.
pub(crate) fn to_wit_error(error: HostEgressError) -> egress::EgressError {
    match error {
        HostEgressError::Denied(m) => egress::EgressError::Denied(m),
        HostEgressError::SecretUnavailable(m) => egress::EgressError::SecretUnavailable(m),
        HostEgressError::InvalidRequest(m) => egress::EgressError::InvalidRequest(m),
        HostEgressError::Connection(m) | HostEgressError::NotConnected(m) => egress::EgressError::Connection(m),
        HostEgressError::Timeout(m) => egress::EgressError::Timeout(m),
        HostEgressError::TooLarge(m) => egress::EgressError::TooLarge(m),
    }
}

/// A request URL's origin for "waiting on" messages (never path or query).
pub(crate) fn target_of(url: &str) -> String {
    url::Url::parse(url).map(|url| crate::egress::origin(&url)).unwrap_or_else(|_| "an invalid URL".into())
}

/// A URL without its query string, for logs.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
