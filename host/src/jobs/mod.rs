//! Generation jobs: validate, submit, poll (the host owns the loop), report
//! progress, store results, and hand back either the images or — when the
//! bounded wait runs out — a job id that `status` answers later.

mod expand;
mod ledger;
mod pipeline;
mod quote;
mod record;
mod recover;
mod run;
mod upscale;
pub mod validate;
mod vary;

pub use quote::Quote;
pub use record::{JobLock, JobRecord, JobStatus, PipelineState, ResumeInfo};
pub use recover::Recovery;
pub use vary::Variation;

use crate::inputs::InputResolver;
use crate::model::Operation;
use crate::providers::Registry;
pub use crate::request::{GenerateSpec, InputSpec};
use crate::store::{Store, StoredImage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a finished job stays in memory before `status` reads it from
/// disk (the default of [`Jobs::with_retention`]).
pub const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Longest a job may run at the provider before it is cancelled.
pub const JOB_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// A progress event for the caller (MCP progress notification, CLI line).
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    pub fraction: Option<f32>,
    pub message: String,
}

/// How a request ended within the caller's wait.
pub enum Outcome {
    /// Finished: the job and its stored images.
    Done { job: JobRecord, images: Vec<StoredImage> },
    /// Still running; poll `status(job.id)`.
    Pending { job: JobRecord },
}

pub use crate::field_error::FieldError;

/// How long `cancel` waits for a job to end before answering that the
/// cancel is on its way (e.g. while a provider still holds the submit open).
pub const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// A job this process drives: its state for waiters and its cancel switch.
struct LiveJob {
    state: watch::Receiver<JobRecord>,
    cancel: tokio_util::sync::CancellationToken,
}

/// The job engine shared by the MCP server and the CLI.
pub struct Jobs {
    /// The current registry; a reload swaps it (calls already routed keep theirs).
    registry: std::sync::RwLock<Arc<Registry>>,
    store: Store,
    inputs: InputResolver,
    live: Mutex<HashMap<String, LiveJob>>,
    /// How long a finished job stays in `live`.
    retention: Duration,
    /// The cost ledger and the caps it enforces ([`Jobs::attach_ledger`]).
    ledger: std::sync::OnceLock<(crate::ledger::Ledger, crate::ledger::Caps)>,
    /// Each user's default model ([`Jobs::attach_preferences`]).
    preferences: std::sync::OnceLock<Arc<crate::preferences::Preferences>>,
}

/// Who asks for a job: how it is recorded (`label`: the MCP client and
/// user, `cli`) and whose spend it is in the ledger (`user`: an email,
/// `token`, or `local`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub label: Option<String>,
    pub user: String,
}

impl Requester {
    /// `easel generate` / `easel run`.
    pub fn cli() -> Requester {
        Requester { label: Some("cli".into()), user: "local".into() }
    }
}

impl Jobs {
    /// The engine, keeping finished jobs in memory for [`FORGET_AFTER`].
    pub fn new(registry: Arc<Registry>, store: Store, inputs: InputResolver) -> Arc<Jobs> {
        Jobs::with_retention(registry, store, inputs, FORGET_AFTER)
    }

    /// The engine, keeping a finished job in memory for `retention` after it
    /// ends; after that `status` and `result` read its record from disk.
    pub fn with_retention(
        registry: Arc<Registry>,
        store: Store,
        inputs: InputResolver,
        retention: Duration,
    ) -> Arc<Jobs> {
        Arc::new(Jobs {
            registry: std::sync::RwLock::new(registry),
            store,
            inputs,
            live: Mutex::new(HashMap::new()),
            retention,
            ledger: std::sync::OnceLock::new(),
            preferences: std::sync::OnceLock::new(),
        })
    }

    /// How many jobs are held in memory: those in flight, and those that
    /// ended less than the retention ago.
    pub fn live_count(&self) -> usize {
        self.live.lock().unwrap().len()
    }

    pub fn inputs(&self) -> &InputResolver {
        &self.inputs
    }

    /// The current registry (a reload may replace it at any time; hold the
    /// returned `Arc` for one operation).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Route new requests to `next` from now on (`App::reload`).
    pub fn swap_registry(&self, next: Arc<Registry>) {
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Route a user's requests that name no provider and no model to the
    /// default model they chose in `preferences`. Set once, at boot.
    pub fn attach_preferences(&self, preferences: Arc<crate::preferences::Preferences>) {
        let _ = self.preferences.set(preferences);
    }

    /// The preferences attached at boot, if any.
    pub fn preferences(&self) -> Option<&Arc<crate::preferences::Preferences>> {
        self.preferences.get()
    }

    /// Run a generation (`Operation::Generate` without inputs, otherwise an
    /// edit) and wait up to `wait` for it. Progress goes to `progress`.
    ///
    /// Errors: routing and validation (with the field), unknown input ids,
    /// and — when it finishes within the wait — the provider's own error.
    pub async fn generate(
        self: &Arc<Self>,
        spec: GenerateSpec,
        requester: Requester,
        progress: Option<mpsc::UnboundedSender<JobProgress>>,
        wait: Duration,
    ) -> Result<Outcome, FieldError> {
        let caller = requester.label.clone();
        let spec = crate::styles::apply(&crate::styles::StyleBook::new(self.store.root()), spec)?;
        let mut spec = spec;
        let operation = spec.operation();
        let (route, routing) = self.route(&spec, operation, Some(&requester.user)).await?;
        if routing.is_some() {
            // The recipe names what ran, so vary_image reproduces it.
            spec.settings.provider = Some(route.provider.id.clone());
            spec.settings.model = Some(route.model.id.clone());
        }
        // A model that cannot inpaint may still take a mask with an edit.
        let operation = validate::operation_for(operation, &route.model);
        // Every input is fetched and checked whole before any is written, so
        // a request refused for one of them leaves nothing in the store.
        let input_field = |index: usize| match operation {
            Operation::Upscale => "image".to_string(),
            _ => format!("images[{index}].image"),
        };
        let mut staged = Vec::with_capacity(spec.inputs.len());
        if operation == Operation::Upscale {
            // The target size is the input's times the factor, so the
            // input is fetched before the size is checked.
            let scale = upscale::check_request(&spec)?;
            let input = self.inputs.stage(&spec.inputs[0].id).await.map_err(|e| FieldError::field("image", e))?;
            let target = upscale::target_size(scale, self.staged_size(&input)?, &route.model)?;
            let s = &mut spec.settings;
            (s.width, s.height, s.aspect_ratio, s.size_tier) = (Some(target.width), Some(target.height), None, None);
            spec.scale = Some(scale);
            staged.push(input);
        } else if spec.expand.is_some() {
            // Likewise an outpaint: the canvas is the input grown by the margins.
            let expand = expand::check_request(&spec)?;
            let field = input_field(0);
            let input = self.inputs.stage(&spec.inputs[0].id).await.map_err(|e| FieldError::field(&field, e))?;
            let (expand, canvas) = expand::canvas_size(expand, self.staged_size(&input)?, &route.model)?;
            let s = &mut spec.settings;
            (s.width, s.height, s.aspect_ratio, s.size_tier) = (Some(canvas.width), Some(canvas.height), None, None);
            spec.expand = Some(expand);
            staged.push(input);
        }
        let warnings = match validate::check(&spec, operation, &route.model) {
            Err(mut error) if error.message.ends_with(validate::TAKES_NO_CONTROL) => {
                if let Some((provider, model)) = self.registry().takes_control().await {
                    error.message.push_str(&format!("; provider `{provider}` model `{model}` takes them"));
                }
                return Err(error);
            }
            checked => checked?,
        };
        for (index, input) in spec.inputs.iter().enumerate().skip(staged.len()) {
            staged.push(self.inputs.stage(&input.id).await.map_err(|e| FieldError::field(&input_field(index), e))?);
        }
        let mut record = JobRecord::new(&route.provider.id, &route.model.id, &spec.prompt);
        record.warnings = warnings;
        record.routing = routing;
        record.caller = caller.clone();
        record.user = Some(requester.user.clone());
        let lock = JobLock::try_acquire(&self.store.jobs_dir(), &record.id).map_err(|e| {
            FieldError::other(format!("cannot create the job's lock file in {}: {e}", self.store.jobs_dir().display()))
        })?;
        for (index, (input, staged)) in spec.inputs.iter_mut().zip(staged).enumerate() {
            input.id = self.inputs.import(staged).await.map_err(|e| FieldError::field(&input_field(index), e))?;
        }
        let request = run::build_request(&self.store, &spec, operation, &route.model)?;
        // What reached the provider: with a structured prompt, the compiled text.
        record.prompt = request.prompt.clone();
        record.structured = spec.settings.structured_prompt.is_some();
        record.resume = Some(ResumeInfo { spec: spec.clone(), operation, caller: caller.clone() });
        self.reserve(&record, &requester, &request, operation, &route.model).await?;
        let _ = record.persist(&self.store.jobs_dir());
        let (state_tx, mut state_rx) = watch::channel(record.clone());
        let job = run::JobRun {
            store: self.store.clone(),
            route,
            request,
            spec,
            caller,
            user: Some(requester.user.clone()),
            progress,
            state: state_tx,
            resume_token: None,
            lock,
            cancel: Default::default(),
        };
        self.start(&record.id, job, state_rx.clone());
        self.wait_outcome(&mut state_rx, wait).await
    }

    /// The provider and model `spec` goes to: the ones it names, or with
    /// `provider: "auto"` the ones `providers::auto` chooses, or — naming
    /// neither — `user`'s default model when it can do `operation` (else
    /// the deployment's default); with a sentence saying why when it was
    /// not the request's own choice or the deployment's default.
    pub(crate) async fn route(
        &self,
        spec: &GenerateSpec,
        operation: Operation,
        user: Option<&str>,
    ) -> Result<(crate::providers::Route, Option<String>), FieldError> {
        let settings = &spec.settings;
        let registry = self.registry();
        if settings.provider.as_deref() == Some(crate::config::AUTO) {
            let chosen = registry.route_auto(spec, operation).await?;
            return Ok((chosen.route, Some(chosen.reason)));
        }
        if settings.provider.is_none()
            && settings.model.is_none()
            && let Some(chosen) = user.and_then(|u| self.preferences.get()?.default_model(u))
            && let Ok(route) = registry.route_for(Some(&chosen.provider), Some(&chosen.model), Some(operation)).await
        {
            let reason = format!(
                "provider `{}` model `{}`: your default model (chosen on the dashboard's settings page)",
                chosen.provider, chosen.model
            );
            return Ok((route, Some(reason)));
        }
        let route =
            registry.route_for(settings.provider.as_deref(), settings.model.as_deref(), Some(operation)).await?;
        Ok((route, None))
    }

    /// Wait up to `wait` for the job behind `state` to end: its images or
    /// error, else (still running) [`Outcome::Pending`].
    async fn wait_outcome(
        &self,
        state: &mut watch::Receiver<JobRecord>,
        wait: Duration,
    ) -> Result<Outcome, FieldError> {
        let finished = tokio::time::timeout(wait, state.wait_for(|r| r.status.is_terminal()))
            .await
            .map(|waited| waited.map(|record| record.clone()));
        match finished {
            Ok(Ok(record)) => self.outcome(record),
            // The task ended without a terminal state (it panicked): report what it left.
            Ok(Err(_)) => self.outcome(state.borrow().clone()),
            Err(_) => Ok(Outcome::Pending { job: state.borrow().clone() }),
        }
    }

    /// Run `job` on its own task, answering `status` for it from memory
    /// (through `state`) until `retention` after it ends; by then its final
    /// record is on disk, where `status` finds it. This keeps the live map
    /// bounded by the jobs in flight.
    fn start(self: &Arc<Self>, id: &str, job: run::JobRun, state: watch::Receiver<JobRecord>) {
        let cancel = job.cancel.clone();
        self.start_task(id, cancel, job.execute(), state);
    }

    /// Run `task` (a job or a pipeline) as job `id`: `cancel` is its cancel
    /// switch, `state` its published record (see [`Jobs::start`]).
    fn start_task(
        self: &Arc<Self>,
        id: &str,
        cancel: tokio_util::sync::CancellationToken,
        task: impl std::future::Future<Output = ()> + Send + 'static,
        mut state: watch::Receiver<JobRecord>,
    ) {
        tokio::spawn(task);
        self.live.lock().unwrap().insert(id.to_string(), LiveJob { state: state.clone(), cancel });
        let (jobs, id, retention) = (Arc::downgrade(self), id.to_string(), self.retention);
        let ledger = self.ledger.get().map(|(ledger, _)| ledger.clone());
        tokio::spawn(async move {
            let ended = state.wait_for(|r| r.status.is_terminal()).await.map(|r| r.clone());
            if let (Some(ledger), Ok(record)) = (ledger, ended) {
                ledger::settle(&ledger, &record).await;
            }
            tokio::time::sleep(retention).await;
            if let Some(jobs) = jobs.upgrade() {
                jobs.live.lock().unwrap().remove(&id);
            }
        });
    }

    /// The width and height of a staged input (from its sidecar when it is
    /// already stored, else from its checked header).
    fn staged_size(&self, staged: &crate::inputs::Staged) -> Result<crate::model::Dimensions, FieldError> {
        let (width, height) = match staged {
            crate::inputs::Staged::Stored(id) => {
                let stored = self.store.get(id).map_err(|e| FieldError::field("image", format!("{e:#}")))?;
                (stored.sidecar.width, stored.sidecar.height)
            }
            crate::inputs::Staged::New { image, .. } => (image.probe().width, image.probe().height),
        };
        Ok(crate::model::Dimensions { width, height })
    }

    /// Turn a finished record into images, or its error.
    fn outcome(&self, record: JobRecord) -> Result<Outcome, FieldError> {
        match record.status {
            JobStatus::Succeeded => {
                let images = record
                    .images
                    .iter()
                    .map(|id| self.store.get(id).map_err(|e| FieldError::other(format!("{e:#}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Outcome::Done { job: record, images })
            }
            JobStatus::Failed | JobStatus::Canceled => Err(FieldError {
                field: record.error_field.clone(),
                message: record
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("job {} was {:?}", record.id, record.status).to_lowercase()),
            }),
            JobStatus::Queued | JobStatus::Running => Ok(Outcome::Pending { job: record }),
        }
    }

    /// The latest state of a job (live or from disk).
    pub fn status(&self, job_id: &str) -> Result<JobRecord, FieldError> {
        if let Some(live) = self.live.lock().unwrap().get(job_id) {
            return Ok(live.state.borrow().clone());
        }
        JobRecord::load(&self.store.jobs_dir(), job_id).ok_or_else(|| {
            FieldError::field("job_id", format!("no job `{job_id}` (job ids look like job_0123456789abcdef)"))
        })
    }

    /// The result of a job: its images once it succeeded.
    pub fn result(&self, job_id: &str) -> Result<Outcome, FieldError> {
        self.outcome(self.status(job_id)?)
    }

    /// Stop a job. A job this process drives is told to stop: its provider
    /// is sent a cancel at once when it holds the job, or — when the submit
    /// is still in flight (e.g. Replicate holding it open with `Prefer:
    /// wait`) — the moment it answers with a job token; the answer comes
    /// within [`CANCEL_WAIT`] and says which happened. A job left by an
    /// earlier process is cancelled through its stored token.
    pub async fn cancel(&self, job_id: &str) -> Result<JobRecord, FieldError> {
        let record = self.status(job_id)?;
        if record.status.is_terminal() {
            return Ok(record);
        }
        let live = self.live.lock().unwrap().get(job_id).map(|live| (live.state.clone(), live.cancel.clone()));
        if let Some((mut state, cancel)) = live {
            cancel.cancel();
            let ended = tokio::time::timeout(CANCEL_WAIT, state.wait_for(|r| r.status.is_terminal())).await.is_ok();
            let mut record = state.borrow().clone();
            if !ended {
                record.message = Some(format!(
                    "cancel requested: provider `{}` has not yet answered the submit, so it holds no job id to cancel yet; the cancel will be sent the moment it answers (get_generation_status shows when)",
                    record.provider
                ));
            }
            return Ok(record);
        }
        let mut record = record;
        // A pipeline left by an earlier process: stop the step it was running.
        if let Some(child) =
            record.pipeline.as_ref().and_then(|p| p.outcomes.last()).filter(|o| !o.status.is_terminal())
            && let Some(child) = &child.job_id
            && child != job_id
        {
            let _ = Box::pin(self.cancel(child)).await;
        }
        if let Some(token) = &record.token
            && let Some(provider) = self.registry().get(&record.provider).cloned()
            && let Ok(plugin) = provider.plugin().await
            && let Err(e) = plugin.cancel(token).await
        {
            record.warnings.push(format!("the provider did not confirm the cancel: {e}"));
        }
        record.status = JobStatus::Canceled;
        record.error = Some(format!("job {job_id} was canceled"));
        record.updated_at = chrono::Utc::now();
        let _ = record.persist(&self.store.jobs_dir());
        Ok(record)
    }
}
