//! One plugin, ready to call: every call gets a fresh `Store` from the
//! cached pre-instantiated component, with a memory limit, an epoch
//! deadline and a wall-clock timeout. Traps, timeouts, memory exhaustion
//! and panics become a [`CallError`] for that call only.

use super::bindings;
use super::guest::{Exported, Guest, ProviderPre};
use super::limiter::{MemoryBudgetExceeded, TotalMemoryLimiter};
use super::state::{CallTrace, PluginContext, PluginState, ProgressSink};
use crate::model::{GenerationRequest, JobState, ProviderError, ProviderInfo, Submission};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::{Store, Trap, UpdateDeadline};

/// Per-plugin resource limits (from `plugins.toml`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock limit of one call.
    pub timeout: Duration,
    /// All linear memories and tables of one instance together, bytes.
    pub memory_bytes: usize,
    /// Calls in flight at once; more wait their turn.
    pub concurrency: usize,
    /// Most bytes the guest may hand the host in one crossing (a host call's
    /// arguments, or an export's results): wasmtime's "hostcall fuel".
    pub transfer_bytes: usize,
}

/// Largest job token a plugin may hand back, bytes: the host persists the
/// token and sends it on every poll.
pub const MAX_JOB_TOKEN_BYTES: usize = 64 << 10;

/// Floor of [`Limits::transfer_bytes`]: wasmtime's own default (128 MiB).
pub const MIN_TRANSFER_BYTES: usize = 128 << 20;

/// Why a call failed. `Provider` is the plugin's own answer; the rest are
/// the sandbox stopping a misbehaving plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Provider(ProviderError),
    /// `waiting` names the upstream request the plugin was blocked on when
    /// it was stopped (" while waiting 2.9 s for the answer to POST
    /// https://api.openai.com"), or the last one that timed out, or is empty.
    #[error("plugin `{plugin}` did not finish within {seconds} s and was stopped{waiting}")]
    Timeout { plugin: String, seconds: u64, waiting: String },
    #[error(
        "plugin `{plugin}` exceeded its memory limit of {mib} MiB and was stopped (raise memory_mib in plugins.toml if it needs more)"
    )]
    OutOfMemory { plugin: String, mib: u64 },
    #[error(
        "plugin `{plugin}` tried to hand the host more than {mib} MiB at once and was stopped (the cap is twice max_response_mib, at least 128 MiB)"
    )]
    TooMuchData { plugin: String, mib: u64 },
    #[error("plugin `{plugin}` crashed: {detail}")]
    Crashed { plugin: String, detail: String },
}

/// The epoch callback's error once the deadline has passed.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

type CallFuture<'a, R> = Pin<Box<dyn Future<Output = Exported<R>> + Send + 'a>>;

/// A loaded plugin. Cheap to share (`Arc`); each call is independent.
pub struct Plugin {
    name: String,
    pre: ProviderPre,
    context: Arc<PluginContext>,
    limits: Limits,
    permits: Arc<Semaphore>,
}

impl Plugin {
    pub fn new(pre: ProviderPre, context: PluginContext, limits: Limits) -> Arc<Plugin> {
        Arc::new(Plugin {
            name: context.plugin.clone(),
            pre,
            context: Arc::new(context),
            permits: Arc::new(Semaphore::new(limits.concurrency)),
            limits,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The egress policy of this plugin (the host downloads remote images with it).
    pub fn egress(&self) -> &crate::egress::EgressPolicy {
        &self.context.egress
    }

    /// Capability discovery.
    pub async fn describe(self: &Arc<Self>) -> Result<ProviderInfo, CallError> {
        let info = self.run(None, |guest, store| Box::pin(async move { guest.describe(store).await })).await?;
        Ok(info.into())
    }

    /// Start a generation.
    pub async fn submit(
        self: &Arc<Self>,
        request: &GenerationRequest,
        progress: Option<ProgressSink>,
    ) -> Result<Submission, CallError> {
        self.submit_traced(request, progress).await.0
    }

    /// [`Plugin::submit`], also saying what its egress did: a failed submit
    /// whose requests never reached an upstream is safe to retry.
    pub async fn submit_traced(
        self: &Arc<Self>,
        request: &GenerationRequest,
        progress: Option<ProgressSink>,
    ) -> (Result<Submission, CallError>, CallTrace) {
        let request = bindings::latest::easel::image_provider::types::GenerationRequest::from(request);
        let (submission, trace) = self
            .run_traced(progress, move |guest, store| Box::pin(async move { guest.submit(store, &request).await }))
            .await;
        let result = submission.and_then(|submission| match submission.into() {
            Submission::Pending(token) if token.len() > MAX_JOB_TOKEN_BYTES => {
                Err(CallError::Provider(ProviderError::Internal {
                    message: format!(
                        "plugin `{}` answered with a job token of {} KiB; tokens may be at most {} KiB",
                        self.name,
                        token.len() >> 10,
                        MAX_JOB_TOKEN_BYTES >> 10
                    ),
                }))
            }
            submission => Ok(submission),
        });
        (result, trace)
    }

    /// Check a pending job once.
    pub async fn poll(self: &Arc<Self>, token: &str, progress: Option<ProgressSink>) -> Result<JobState, CallError> {
        let token = token.to_string();
        let state =
            self.run(progress, move |guest, store| Box::pin(async move { guest.poll(store, &token).await })).await?;
        Ok(state.into())
    }

    /// Ask the provider to stop a pending job.
    pub async fn cancel(self: &Arc<Self>, token: &str) -> Result<(), CallError> {
        let token = token.to_string();
        self.run(None, move |guest, store| Box::pin(async move { guest.cancel(store, &token).await })).await
    }

    async fn run<R, F>(self: &Arc<Self>, progress: Option<ProgressSink>, call: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<PluginState>) -> CallFuture<'a, R> + Send + 'static,
    {
        self.run_traced(progress, call).await.0
    }

    /// Instantiate in a fresh store and run `call` on its own task on the
    /// plugin runtime ([`super::executor`]), so that even a panic in host
    /// code serving this plugin stays in this call, and guest CPU work never
    /// delays the server's own tasks.
    async fn run_traced<R, F>(
        self: &Arc<Self>,
        progress: Option<ProgressSink>,
        call: F,
    ) -> (Result<R, CallError>, CallTrace)
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<PluginState>) -> CallFuture<'a, R> + Send + 'static,
    {
        let _permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let plugin = self.clone();
        let task = super::executor::spawn(async move { plugin.run_in_store(progress, call).await });
        match task.await {
            Ok(outcome) => outcome,
            Err(join) => (
                Err(CallError::Crashed { plugin: self.name.clone(), detail: format!("host task failed: {join}") }),
                CallTrace { reached_upstream: true, connect_failures: 0, memory_bytes: 0 },
            ),
        }
    }

    async fn run_in_store<R, F>(&self, progress: Option<ProgressSink>, call: F) -> (Result<R, CallError>, CallTrace)
    where
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<PluginState>) -> CallFuture<'a, R>,
    {
        let limits = TotalMemoryLimiter::new(self.limits.memory_bytes);
        let state = PluginState::new(self.context.clone(), limits, progress, self.limits.timeout);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_hostcall_fuel(self.limits.transfer_bytes);
        // Every tick: trap past the deadline, otherwise yield so that a busy
        // guest never starves other calls on this executor thread.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let grace = self.limits.timeout + Duration::from_millis(500);
        let outcome = tokio::time::timeout(grace, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            call(&instance, &mut store).await
        })
        .await;
        self.context.flush_suppressed();
        let trace = CallTrace { memory_bytes: store.data().limits.used(), ..store.data().trace };
        let result = match outcome {
            Err(_) => Err(self.timeout(store.data())),
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(provider_error))) => Err(CallError::Provider(provider_error.into())),
            Ok(Err(error)) => Err(self.classify(error, store.data())),
        };
        (result, trace)
    }

    fn timeout(&self, state: &PluginState) -> CallError {
        let waiting = match (&state.waiting_on, &state.timed_out) {
            (Some((request, since)), _) => {
                format!(" while waiting {:.1} s for the answer to {request}", since.elapsed().as_secs_f32())
            }
            (None, Some(message)) => format!(" after an upstream request timed out ({message})"),
            (None, None) => String::new(),
        };
        CallError::Timeout { plugin: self.name.clone(), seconds: self.limits.timeout.as_secs().max(1), waiting }
    }

    fn classify(&self, error: wasmtime::Error, state: &PluginState) -> CallError {
        if error.downcast_ref::<DeadlineExceeded>().is_some() {
            return self.timeout(state);
        }
        let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
        if chain.iter().any(|m| m.contains("fuel allocated for hostcalls has been exhausted")) {
            return CallError::TooMuchData {
                plugin: self.name.clone(),
                mib: (self.limits.transfer_bytes >> 20) as u64,
            };
        }
        // The limiter refuses every grow past the budget with its own error
        // (creating a memory is a grow from zero), so no message text is matched.
        if error.chain().any(|e| e.downcast_ref::<MemoryBudgetExceeded>().is_some()) {
            return CallError::OutOfMemory { plugin: self.name.clone(), mib: (self.limits.memory_bytes >> 20) as u64 };
        }
        let mut detail = match error.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => "stack overflow (recursion too deep)".to_string(),
            // Rust and C guests keep their stack in linear memory; running off
            // its end shows up as an out-of-bounds access.
            Some(Trap::MemoryOutOfBounds) => format!(
                "{trap} (out-of-bounds memory access, typically the plugin's own stack overflowing from recursion too deep)",
                trap = Trap::MemoryOutOfBounds
            ),
            Some(trap) => trap.to_string(),
            None => chain.join(": "),
        };
        let stderr = state.stderr_text();
        if !stderr.is_empty() {
            let stderr = self.context.egress.secrets().redact(&stderr);
            let tail: String =
                stderr.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
            detail.push_str(&format!(" (plugin stderr: {tail})"));
        }
        CallError::Crashed { plugin: self.name.clone(), detail }
    }
}
