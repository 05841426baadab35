//! Pipeline jobs: one job that runs a [`Pipeline`]'s steps in order, each
//! generating step through a generation job of its own (so it is stored,
//! with lineage, like a tool call's), with progress that names the step, a
//! cancel that reaches the step running, and a record that lets a
//! restarted server carry on from the step it had reached.

use super::{FieldError, JobLock, JobProgress, JobRecord, JobStatus, Jobs, Outcome, PipelineState, Requester};
use crate::mcp::tools::{EditArgs, GenerateArgs, UpscaleArgs};
use crate::pipeline::{Pipeline, Reference, StepOp, StepOutcome, VaryStepArgs, ViewArgs, parse_reference};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How often a step's job is read from disk when another process drives it.
const STEP_POLL: Duration = Duration::from_millis(500);

/// The provider name a pipeline job's record shows.
pub const PIPELINE_PROVIDER: &str = "pipeline";

impl Jobs {
    /// Check `pipeline` whole, then run it as one job and wait up to `wait`
    /// for it (progress to `progress`, one report per step and the step's
    /// own reports, as fractions of the whole).
    ///
    /// Errors: the checks (field `steps[i]…`); once it runs, a failing step
    /// fails the job (see [`JobRecord::error`]) and keeps earlier images.
    pub async fn run_pipeline(
        self: &Arc<Self>,
        pipeline: Pipeline,
        requester: Requester,
        progress: Option<mpsc::UnboundedSender<JobProgress>>,
        wait: Duration,
    ) -> Result<Outcome, FieldError> {
        pipeline.check()?;
        let ops: Vec<&str> = pipeline.steps.iter().map(|s| s.op.name()).collect();
        let prompt = pipeline.steps.iter().find_map(|s| s.args.get("prompt")?.as_str()).unwrap_or_default();
        let mut record = JobRecord::new(PIPELINE_PROVIDER, &ops.join(" → "), prompt);
        record.pipeline = Some(PipelineState { definition: pipeline, outcomes: Vec::new() });
        record.caller = requester.label.clone();
        record.user = Some(requester.user.clone());
        let lock = JobLock::try_acquire(&self.store.jobs_dir(), &record.id).map_err(|e| {
            FieldError::other(format!("cannot create the job's lock file in {}: {e}", self.store.jobs_dir().display()))
        })?;
        let _ = record.persist(&self.store.jobs_dir());
        let (state_tx, mut state_rx) = watch::channel(record.clone());
        self.launch_pipeline(&record.id, state_tx, state_rx.clone(), lock, requester, progress);
        self.wait_outcome(&mut state_rx, wait).await
    }

    /// Carry on with a pipeline a dead process left (see `recover`): from
    /// the step it had reached, waiting first for that step's own job.
    pub(super) fn resume_pipeline(self: &Arc<Self>, record: JobRecord, lock: Option<JobLock>) {
        let id = record.id.clone();
        // Its later steps are charged to whoever started it.
        let requester =
            Requester { label: record.caller.clone(), user: record.user.clone().unwrap_or_else(|| "local".into()) };
        let (state_tx, state_rx) = watch::channel(record);
        self.launch_pipeline(&id, state_tx, state_rx, lock, requester, None);
    }

    fn launch_pipeline(
        self: &Arc<Self>,
        id: &str,
        state: watch::Sender<JobRecord>,
        state_rx: watch::Receiver<JobRecord>,
        lock: Option<JobLock>,
        requester: Requester,
        progress: Option<mpsc::UnboundedSender<JobProgress>>,
    ) {
        let cancel = CancellationToken::new();
        let run = PipelineRun { jobs: self.clone(), state, cancel: cancel.clone(), requester, progress, lock };
        self.start_task(id, cancel, run.execute(), state_rx);
    }

    /// The record of job `id` once it has ended: followed live when this
    /// process drives it, else read from disk every [`STEP_POLL`].
    async fn wait_terminal(&self, id: &str) -> JobRecord {
        loop {
            let live = self.live.lock().unwrap().get(id).map(|live| live.state.clone());
            if let Some(mut state) = live {
                let ended = state.wait_for(|r| r.status.is_terminal()).await.map(|r| r.clone());
                return ended.unwrap_or_else(|_| state.borrow().clone());
            }
            match JobRecord::load(&self.store.jobs_dir(), id) {
                Some(record) if record.status.is_terminal() => return record,
                Some(_) => tokio::time::sleep(STEP_POLL).await,
                None => {
                    let mut record = JobRecord::new("", "", "");
                    record.id = id.to_string();
                    record.status = JobStatus::Failed;
                    record.error = Some(format!("the step's job {id} has no record any more"));
                    return record;
                }
            }
        }
    }
}

/// How a pipeline ended.
enum Ending {
    Succeeded,
    Canceled(String),
    Failed(FieldError),
}

/// A pipeline in flight.
struct PipelineRun {
    jobs: Arc<Jobs>,
    state: watch::Sender<JobRecord>,
    cancel: CancellationToken,
    requester: Requester,
    progress: Option<mpsc::UnboundedSender<JobProgress>>,
    lock: Option<JobLock>,
}

impl PipelineRun {
    async fn execute(self) {
        let ending = self.drive().await;
        self.update(|record| {
            let Some(pipeline) = &record.pipeline else { return };
            let kept: Vec<String> = pipeline
                .outcomes
                .iter()
                .filter(|o| o.status == JobStatus::Succeeded && o.op != StepOp::View)
                .flat_map(|o| o.images.clone())
                .collect();
            match ending {
                Ending::Succeeded => {
                    // What the pipeline shows: its views, else the last step's images.
                    let views: Vec<String> = pipeline
                        .outcomes
                        .iter()
                        .filter(|o| o.op == StepOp::View)
                        .flat_map(|o| o.images.clone())
                        .collect();
                    record.images = if views.is_empty() {
                        pipeline.outcomes.last().map(|o| o.images.clone()).unwrap_or_default()
                    } else {
                        views
                    };
                    record.status = JobStatus::Succeeded;
                    record.progress = Some(1.0);
                    record.message = Some(format!("{} step(s) done", pipeline.outcomes.len()));
                }
                Ending::Canceled(message) => {
                    record.status = JobStatus::Canceled;
                    record.error = Some(with_kept(message.clone(), &kept));
                    record.message = Some(message);
                    record.images = kept;
                }
                Ending::Failed(error) => {
                    record.status = JobStatus::Failed;
                    record.error = Some(with_kept(error.message, &kept));
                    record.error_field = error.field;
                    record.images = kept;
                }
            }
        });
        drop(self.lock);
    }

    async fn drive(&self) -> Ending {
        let steps = self.pipeline().definition.steps;
        let total = steps.len();
        loop {
            let outcomes = self.pipeline().outcomes;
            let running = outcomes.last().filter(|o| !o.status.is_terminal()).cloned();
            let index = outcomes.len() - usize::from(running.is_some());
            if index == total {
                return Ending::Succeeded;
            }
            let step = &steps[index];
            let label = format!("step {}/{total} `{}` ({})", index + 1, step.id, step.op.name());
            let fail = |message: String, field: Option<String>| {
                self.set_outcome(index, step.id.clone(), step.op, |o| {
                    o.status = JobStatus::Failed;
                    o.error = Some(message.clone());
                });
                let field = field.map(|f| if f.starts_with("steps[") { f } else { format!("steps[{index}].args.{f}") });
                Ending::Failed(FieldError { field, message: format!("{label} failed: {message}") })
            };
            let child = match running.and_then(|o| o.job_id) {
                Some(child) => child,
                None => {
                    if self.cancel.is_cancelled() {
                        return Ending::Canceled(format!("canceled before {label}"));
                    }
                    self.notify(Some(index as f32 / total as f32), format!("{label}: starting"));
                    let args = match self.resolve(index, &outcomes) {
                        Ok(args) => args,
                        Err(e) => return fail(e.message, e.field),
                    };
                    if step.op == StepOp::View {
                        match self.view(args) {
                            Ok(id) => {
                                self.set_outcome(index, step.id.clone(), step.op, |o| {
                                    o.status = JobStatus::Succeeded;
                                    o.images = vec![id];
                                });
                                continue;
                            }
                            Err(e) => return fail(e.message, e.field),
                        }
                    }
                    let spec = match plan_step(&self.jobs, step.op, args).await {
                        Ok(spec) => spec,
                        Err(e) => return fail(e.message, e.field),
                    };
                    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
                    tokio::spawn(forward_step_progress(
                        progress_rx,
                        self.state.clone(),
                        self.progress.clone(),
                        (index, total),
                        label.clone(),
                    ));
                    match self.jobs.generate(spec, self.requester.clone(), Some(progress_tx), Duration::ZERO).await {
                        Ok(Outcome::Done { job, .. } | Outcome::Pending { job }) => {
                            self.set_outcome(index, step.id.clone(), step.op, |o| {
                                o.status = JobStatus::Running;
                                o.job_id = Some(job.id.clone());
                            });
                            job.id
                        }
                        Err(e) => return fail(e.message, e.field),
                    }
                }
            };
            let finished = tokio::select! {
                finished = self.jobs.wait_terminal(&child) => finished,
                _ = self.cancel.cancelled() => {
                    let child_record = self.jobs.cancel(&child).await.ok();
                    self.set_outcome(index, step.id.clone(), step.op, |o| {
                        o.status = child_record.as_ref().map_or(JobStatus::Canceled, |r| r.status);
                        o.images = child_record.as_ref().map(|r| r.images.clone()).unwrap_or_default();
                    });
                    let detail = child_record.and_then(|r| r.message).unwrap_or_default();
                    return Ending::Canceled(format!("canceled during {label}: {detail}"));
                }
            };
            match finished.status {
                JobStatus::Succeeded => self.set_outcome(index, step.id.clone(), step.op, |o| {
                    o.status = JobStatus::Succeeded;
                    o.images = finished.images.clone();
                }),
                _ => {
                    let message = finished.error.clone().unwrap_or_else(|| format!("job {child} ended"));
                    return fail(message, finished.error_field);
                }
            }
        }
    }

    /// Step `index`'s arguments with its provider/model put in and every
    /// reference replaced by what the earlier step made.
    fn resolve(&self, index: usize, outcomes: &[StepOutcome]) -> Result<Value, FieldError> {
        let steps = &self.pipeline().definition.steps;
        let mut args = Value::Object(steps[index].merged_args(index)?);
        let store = self.jobs.store();
        crate::pipeline::rewrite_strings(&mut args, "", &mut |path, text| {
            let path = path.trim_start_matches('.');
            let Some(reference) = parse_reference(text) else { return Ok(None) };
            let reference = reference.map_err(|message| FieldError::field(path, message))?;
            let (Reference::Image { step, .. } | Reference::Seed { step }) = &reference;
            let outcome = outcomes
                .iter()
                .find(|o| &o.id == step)
                .ok_or_else(|| FieldError::field(path, format!("`{text}` names no step that has run")))?;
            match reference {
                Reference::Image { index, .. } => match outcome.images.get(index) {
                    Some(id) => Ok(Some(Value::String(id.clone()))),
                    None => Err(FieldError::field(
                        path,
                        format!(
                            "`{text}` asks for image {} but step `{step}` made {}",
                            index + 1,
                            outcome.images.len()
                        ),
                    )),
                },
                Reference::Seed { .. } => {
                    let seed = outcome.images.first().and_then(|id| store.metadata(id).ok()).and_then(|s| s.seed);
                    match seed {
                        Some(seed) => Ok(Some(Value::from(seed))),
                        None => Err(FieldError::field(
                            path,
                            format!("`{text}`: step `{step}`'s image has no recorded seed (its model takes none)"),
                        )),
                    }
                }
            }
        })?;
        Ok(args)
    }

    /// A `view` step: the image must be in the store.
    fn view(&self, args: Value) -> Result<String, FieldError> {
        crate::mcp::fits::<ViewArgs>(&args)?;
        let view: ViewArgs = serde_json::from_value(args).map_err(|e| FieldError::field("image", e.to_string()))?;
        let id = view.image.strip_prefix("image://").unwrap_or(&view.image);
        self.jobs.store().metadata(id).map_err(|e| FieldError::field("image", format!("{e:#}")))?;
        Ok(id.to_string())
    }

    fn pipeline(&self) -> PipelineState {
        self.state.borrow().pipeline.clone().expect("a pipeline job's record has its pipeline")
    }

    /// Set step `index`'s outcome (adding it when it is the next one).
    fn set_outcome(&self, index: usize, id: String, op: StepOp, change: impl FnOnce(&mut StepOutcome)) {
        self.update(|record| {
            let Some(pipeline) = record.pipeline.as_mut() else { return };
            if pipeline.outcomes.len() == index {
                pipeline.outcomes.push(StepOutcome {
                    id,
                    op,
                    status: JobStatus::Running,
                    job_id: None,
                    images: Vec::new(),
                    error: None,
                });
            }
            if let Some(outcome) = pipeline.outcomes.get_mut(index) {
                change(outcome);
            }
        });
    }

    fn notify(&self, fraction: Option<f32>, message: String) {
        publish(&self.state, self.progress.as_ref(), fraction, message);
    }

    /// Change the record, publish it, and persist it.
    fn update(&self, change: impl FnOnce(&mut JobRecord)) {
        self.state.send_modify(|record| {
            change(record);
            record.updated_at = chrono::Utc::now();
        });
        let record = self.state.borrow().clone();
        if let Err(e) = record.persist(&self.jobs.store().jobs_dir()) {
            tracing::warn!(job = %record.id, "cannot persist job record: {e}");
        }
    }
}

/// `message`, with the store ids of the images already made when there are any.
fn with_kept(message: String, kept: &[String]) -> String {
    if kept.is_empty() {
        message
    } else {
        format!("{message}; the images made before it are kept: {}", kept.join(", "))
    }
}

/// Record a progress report on the pipeline's record (in memory; the next
/// step change persists it) and pass it to the caller.
fn publish(
    state: &watch::Sender<JobRecord>,
    progress: Option<&mpsc::UnboundedSender<JobProgress>>,
    fraction: Option<f32>,
    message: String,
) {
    state.send_modify(|r| {
        r.progress = fraction.or(r.progress);
        r.message = Some(message.clone());
        r.updated_at = chrono::Utc::now();
    });
    if let Some(progress) = progress {
        let _ = progress.send(JobProgress { fraction, message });
    }
}

/// A step's own progress as the pipeline's: the fraction scaled into the
/// step's share of the whole, the message prefixed with the step.
async fn forward_step_progress(
    mut reports: mpsc::UnboundedReceiver<JobProgress>,
    state: watch::Sender<JobRecord>,
    progress: Option<mpsc::UnboundedSender<JobProgress>>,
    (index, total): (usize, usize),
    label: String,
) {
    while let Some(report) = reports.recv().await {
        let fraction = report.fraction.map(|f| (index as f32 + f.clamp(0.0, 1.0)) / total as f32);
        publish(&state, progress.as_ref(), fraction, format!("{label}: {}", report.message));
    }
}

/// The job spec a generating step runs, from its resolved arguments
/// (a `vary` step reads its source image's recipe from the store).
pub(super) async fn plan_step(jobs: &Jobs, op: StepOp, args: Value) -> Result<crate::jobs::GenerateSpec, FieldError> {
    fn parse<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, FieldError> {
        crate::mcp::fits::<T>(&args)?;
        serde_json::from_value(args).map_err(|e| FieldError::other(e.to_string()))
    }
    match op {
        StepOp::Generate => Ok(parse::<GenerateArgs>(args)?.into_spec()),
        StepOp::Edit => parse::<EditArgs>(args)?.into_spec(),
        StepOp::Upscale => Ok(parse::<UpscaleArgs>(args)?.into_spec()),
        StepOp::Vary => {
            let vary = parse::<VaryStepArgs>(args)?;
            Ok(jobs.variation(&vary.image, vary.prompt, vary.settings).await?.spec)
        }
        StepOp::View => unreachable!("a view step runs no job"),
    }
}
