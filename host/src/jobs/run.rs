//! One job's life on its own task: submit (retrying only what provably did
//! not run), poll until done (with backoff, rate-limit waits and a
//! deadline), honour a cancel at any point (one that arrives during the
//! submit is sent the moment the provider answers with a job token),
//! download and store the images, and publish every state change to
//! waiters and to disk. Plugin progress is forwarded latest-wins, at most
//! one report per [`PROGRESS_INTERVAL`].

use super::{FieldError, GenerateSpec, JOB_DEADLINE, JobLock, JobProgress, JobRecord, JobStatus};
use crate::model::{
    GenerationRequest, ImageData, ImageOutput, InputImage, JobState, ModelInfo, Operation, ProviderError, Submission,
};
use crate::providers::Route;
use crate::request::{RECIPE_VERSION, Recipe, Settings};
use crate::runtime::CallError;
use crate::runtime::state::{ProgressReport, ProgressSink};
use crate::store::{Origin, Sidecar, Store};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Shortest time between two forwarded plugin progress reports; reports in
/// between are coalesced (the latest wins).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// First and longest pause between polls.
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(2);
/// Transient poll failures tolerated in a row.
const POLL_RETRIES: u32 = 3;
/// Submits retried when they provably did not run: a rate limit (a 429 means
/// nothing was created), or a submit none of whose requests reached an
/// upstream (the connection was refused). Other failures of a create are
/// never retried: it may have been billed.
const SUBMIT_RETRIES: u32 = 3;
/// First pause before retrying a submit that could not connect (doubles).
const UNREACHED_RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest single wait a provider's retry-after may impose on a submit.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Resolve input ids to bytes and build the plugin request.
pub fn build_request(
    store: &Store,
    spec: &GenerateSpec,
    operation: Operation,
    model: &ModelInfo,
) -> Result<GenerationRequest, FieldError> {
    let mut images = Vec::new();
    for (index, input) in spec.inputs.iter().enumerate() {
        let id = input.id.strip_prefix("image://").unwrap_or(&input.id);
        let (sidecar, data) =
            store.read(id).map_err(|e| FieldError::field(&format!("images[{index}].image"), format!("{e:#}")))?;
        images.push(InputImage {
            role: input.role,
            mime_type: sidecar.mime_type,
            width: sidecar.width,
            height: sidecar.height,
            data,
        });
    }
    if let (Some(expand), [source]) = (spec.expand, images.as_slice()) {
        images = super::expand::canvas_and_mask(source, expand)?.into();
    }
    spec.to_request(operation, model, images)
}

/// A job in flight.
pub struct JobRun {
    pub store: Store,
    pub route: Route,
    pub request: GenerationRequest,
    pub spec: GenerateSpec,
    pub caller: Option<String>,
    /// Whose images these are (`Requester::user`), written to each sidecar.
    pub user: Option<String>,
    pub progress: Option<mpsc::UnboundedSender<JobProgress>>,
    pub state: watch::Sender<JobRecord>,
    /// Set when a restarted server picks the job up again: skip the submit
    /// and poll this provider job token.
    pub resume_token: Option<String>,
    /// Held while this process drives the job (see [`JobLock`]).
    pub lock: Option<JobLock>,
    /// Set by `Jobs::cancel`.
    pub cancel: CancellationToken,
}

/// How a job ended.
enum Ending {
    Succeeded(Vec<String>),
    /// Canceled; images the provider had already made are kept.
    Canceled {
        message: String,
        images: Vec<String>,
    },
}

impl JobRun {
    pub async fn execute(self) {
        let result = self.drive().await;
        self.update(|record| {
            match result {
                Ok(Ending::Succeeded(ids)) => {
                    record.status = JobStatus::Succeeded;
                    record.images = ids;
                    record.progress = Some(1.0);
                    record.token = None;
                }
                Ok(Ending::Canceled { message, images }) => {
                    record.status = JobStatus::Canceled;
                    record.images = images;
                    record.message = Some(message.clone());
                    record.error = Some(message);
                    record.token = None;
                }
                Err(error) => {
                    record.status = JobStatus::Failed;
                    record.error = Some(error.message);
                    record.error_field = error.field;
                }
            }
            record.resume = None;
        });
        drop(self.lock);
    }

    async fn drive(&self) -> Result<Ending, FieldError> {
        let (report_tx, report_rx) = watch::channel(None);
        let forward = tokio::spawn(forward_progress(report_rx, self.state.clone(), self.progress.clone()));
        let ending = self.drive_with(&report_tx).await;
        forward.abort();
        ending
    }

    async fn drive_with(&self, reports: &ProgressSink) -> Result<Ending, FieldError> {
        let provider = &self.route.provider.id;
        let submission = match &self.resume_token {
            Some(token) => {
                self.notify(None, format!("resumed after a restart; polling provider `{provider}` again"));
                Submission::Pending(token.clone())
            }
            None => match self.submit(reports).await? {
                Some(submission) => submission,
                None => {
                    return Ok(Ending::Canceled {
                        message: "canceled before the provider was asked".into(),
                        images: vec![],
                    });
                }
            },
        };
        let outputs = match submission {
            Submission::Done(outputs) if self.cancel.is_cancelled() => {
                let images = self.ingest(outputs).await?;
                let message = format!(
                    "canceled, but provider `{provider}` had already finished: its {} image(s) were paid for and are kept",
                    images.len()
                );
                return Ok(Ending::Canceled { message, images });
            }
            Submission::Done(outputs) => outputs,
            Submission::Pending(token) => {
                self.update(|r| {
                    r.token = Some(token.clone());
                    r.status = JobStatus::Queued;
                });
                if self.cancel.is_cancelled() {
                    return Ok(self.cancel_at_provider(&token, "as soon as it accepted the job").await);
                }
                tokio::select! {
                    outputs = self.poll_until_done(&token, reports) => outputs?,
                    _ = self.cancel.cancelled() => return Ok(self.cancel_at_provider(&token, "").await),
                }
            }
        };
        self.notify(Some(0.95), format!("storing {} image(s)", outputs.len()));
        Ok(Ending::Succeeded(self.ingest(outputs).await?))
    }

    /// Tell the provider to stop the job behind `token`.
    async fn cancel_at_provider(&self, token: &str, when: &str) -> Ending {
        let provider = &self.route.provider.id;
        let when = if when.is_empty() { String::new() } else { format!(" {when}") };
        let message = match self.route.plugin.cancel(token).await {
            Ok(()) => format!("canceled: provider `{provider}` was told to stop the job{when}"),
            Err(e) => format!("canceled here, but provider `{provider}` did not confirm the cancel{when}: {e}"),
        };
        Ending::Canceled { message, images: vec![] }
    }

    /// Submit, retrying only what provably did not run: rate limits
    /// (honouring the provider's retry-after, capped at [`MAX_RETRY_AFTER`],
    /// plus up to 25% jitter) and submits that never reached an upstream.
    /// `None` when a cancel arrived before a retry.
    async fn submit(&self, reports: &ProgressSink) -> Result<Option<Submission>, FieldError> {
        let provider = &self.route.provider.id;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, trace) = self.route.plugin.submit_traced(&self.request, Some(reports.clone())).await;
            let wait = match &result {
                Err(CallError::Provider(ProviderError::RateLimited { retry_after_ms, message }))
                    if attempt <= SUBMIT_RETRIES =>
                {
                    let base = Duration::from_millis(retry_after_ms.unwrap_or(1_000 << attempt)).min(MAX_RETRY_AFTER);
                    let wait = base + base.mul_f64(rand::random::<f64>() * 0.25);
                    self.notify(
                        None,
                        format!(
                            "rate limited by {provider} ({message}); retry {attempt}/{SUBMIT_RETRIES} in {:.1} s",
                            wait.as_secs_f64()
                        ),
                    );
                    wait
                }
                Err(error) if attempt <= SUBMIT_RETRIES && !trace.reached_upstream && trace.connect_failures > 0 => {
                    let wait = UNREACHED_RETRY_FIRST * (1 << (attempt - 1));
                    self.notify(None, format!("could not reach {provider} ({error}); nothing was sent, so retry {attempt}/{SUBMIT_RETRIES} in {:.1} s", wait.as_secs_f64()));
                    wait
                }
                Err(_) if attempt > 1 => {
                    let error = result.err().map(call_error).expect("matched an error");
                    return Err(FieldError {
                        message: format!("{} (after {attempt} attempts)", error.message),
                        ..error
                    });
                }
                _ => return result.map(Some).map_err(call_error),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.cancel.cancelled() => return Ok(None),
            }
        }
    }

    async fn poll_until_done(&self, token: &str, reports: &ProgressSink) -> Result<Vec<ImageOutput>, FieldError> {
        let started = Instant::now();
        let mut pause = POLL_FIRST;
        let mut failures = 0;
        loop {
            if started.elapsed() > JOB_DEADLINE {
                let _ = self.route.plugin.cancel(token).await;
                return Err(FieldError::other(format!(
                    "the provider did not finish within {} minutes; the job was cancelled",
                    JOB_DEADLINE.as_secs() / 60
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
            match self.route.plugin.poll(token, Some(reports.clone())).await {
                Ok(JobState::Queued(position)) => {
                    failures = 0;
                    self.update(|r| {
                        r.status = JobStatus::Queued;
                        r.queue_position = position;
                    });
                    let message = match position {
                        Some(p) => format!("queued at {}, position {p}", self.route.provider.id),
                        None => format!("queued at {}", self.route.provider.id),
                    };
                    self.notify(None, message);
                }
                Ok(JobState::Running { fraction, message }) => {
                    failures = 0;
                    self.update(|r| {
                        r.status = JobStatus::Running;
                        r.queue_position = None;
                    });
                    self.notify(
                        fraction,
                        message.unwrap_or_else(|| format!("generating at {}", self.route.provider.id)),
                    );
                }
                Ok(JobState::Done(outputs)) => return Ok(outputs),
                Ok(JobState::Failed(error)) => return Err(provider_error(error)),
                // The provider still holds the job: wait as asked (never less
                // than the first pause, so `retry-after: 0` cannot make a tight
                // loop), say so, and keep polling until the job deadline.
                Err(CallError::Provider(ProviderError::RateLimited { retry_after_ms, message })) => {
                    pause = Duration::from_millis(retry_after_ms.unwrap_or(2_000))
                        .clamp(POLL_FIRST, Duration::from_secs(60));
                    let note = format!(
                        "rate limited by {} while polling ({message}); next poll in {:.1} s",
                        self.route.provider.id,
                        pause.as_secs_f64()
                    );
                    tracing::warn!(job = %self.state.borrow().id, "{note}");
                    self.notify(None, note);
                }
                Err(
                    error @ (CallError::Timeout { .. }
                    | CallError::Provider(
                        ProviderError::Timeout { .. }
                        | ProviderError::Unavailable { .. }
                        | ProviderError::Upstream { .. },
                    )),
                ) if failures < POLL_RETRIES => {
                    failures += 1;
                    tracing::warn!(job = %self.state.borrow().id, "poll failed ({failures}/{POLL_RETRIES}), retrying: {error}");
                }
                Err(error) => return Err(call_error(error)),
            }
        }
    }

    /// Download remote outputs (under the plugin's egress policy) and store all.
    async fn ingest(&self, outputs: Vec<ImageOutput>) -> Result<Vec<String>, FieldError> {
        if outputs.is_empty() {
            return Err(FieldError::other(format!("provider `{}` returned no images", self.route.provider.id)));
        }
        // More than asked for is a misbehaving plugin (each output may be up
        // to the output cap, so this also bounds a call's total bytes).
        if outputs.len() > self.request.count as usize {
            return Err(FieldError::other(format!(
                "provider `{}` returned {} images for a request of {}; nothing was stored",
                self.route.provider.id,
                outputs.len(),
                self.request.count
            )));
        }
        let job_id = self.state.borrow().id.clone();
        let origin = if self.request.operation == Operation::Generate { Origin::Generated } else { Origin::Edited };
        let mut ids = Vec::new();
        let cap = self.route.plugin.egress().max_response_bytes();
        let share = outputs.len();
        for (index, output) in outputs.into_iter().enumerate() {
            let bytes = match output.data {
                ImageData::Inline { data, .. } if data.len() as u64 > cap => {
                    return Err(FieldError::other(format!(
                        "provider `{}` returned image {} of {} MiB, over its {} MiB output cap (max_response_mib in [plugins.{}])",
                        self.route.provider.id,
                        index + 1,
                        data.len() >> 20,
                        cap >> 20,
                        self.route.provider.id
                    )));
                }
                ImageData::Inline { data, .. } => data,
                ImageData::Remote { url, headers } => {
                    let response = self.route.plugin.egress().download(&url, headers).await.map_err(|e| {
                        FieldError::other(format!(
                            "downloading image {} from provider `{}` failed: {e}",
                            index + 1,
                            self.route.provider.id
                        ))
                    })?;
                    if response.status != 200 {
                        return Err(FieldError::other(format!(
                            "downloading image {} from provider `{}` failed: HTTP {}",
                            index + 1,
                            self.route.provider.id,
                            response.status
                        )));
                    }
                    // Say what the URL served when it is plainly not an image.
                    if let Some(kind) = response
                        .header("content-type")
                        .filter(|t| !t.starts_with("image/") && !t.starts_with("application/octet-stream"))
                        && crate::store::probe(&response.body).is_err()
                    {
                        return Err(FieldError::other(format!(
                            "provider `{}` returned image {} as a URL that serves `{kind}`, not an image",
                            self.route.provider.id,
                            index + 1
                        )));
                    }
                    response.body
                }
            };
            let mut sidecar = Sidecar::new(origin, &self.request.prompt);
            sidecar.negative_prompt = self.request.negative_prompt.clone();
            sidecar.recipe = Some(self.recipe());
            sidecar.provider = Some(self.route.provider.id.clone());
            sidecar.model = Some(self.route.model.id.clone());
            sidecar.seed = output.seed;
            sidecar.revised_prompt = output.revised_prompt;
            sidecar.parents =
                self.spec.inputs.iter().map(|i| i.id.trim_start_matches("image://").to_string()).collect();
            sidecar.cost_estimate_usd = self.route.model.price_per_image_usd;
            sidecar.caller = self.caller.clone();
            sidecar.user = self.user.clone();
            sidecar.job_id = Some(job_id.clone());
            let store = self.store.clone();
            let stored = crate::blocking::image_work(move || store.put_with_preview(&bytes, sidecar, share))
                .await
                .and_then(|r| r)
                .map_err(|e| {
                    FieldError::other(format!(
                        "provider `{}` returned image {} that cannot be stored: {e:#}",
                        self.route.provider.id,
                        index + 1
                    ))
                })?;
            ids.push(stored.sidecar.id);
        }
        Ok(ids)
    }

    /// The request as recorded in sidecars: the settings as sent (the
    /// provider and model resolved, the size and count requested), inputs
    /// by store id, never bytes.
    fn recipe(&self) -> Recipe {
        let r = &self.request;
        let settings = Settings {
            provider: Some(self.route.provider.id.clone()),
            model: Some(self.route.model.id.clone()),
            // The caller's own: a structured prompt's negatives stay in it.
            negative_prompt: self.spec.settings.negative_prompt.clone().filter(|n| !n.trim().is_empty()),
            width: r.size.map(|s| s.width),
            height: r.size.map(|s| s.height),
            count: Some(r.count),
            seed: r.seed,
            ..self.spec.settings.clone()
        };
        Recipe {
            version: RECIPE_VERSION,
            operation: r.operation,
            settings,
            images: self.spec.inputs.clone(),
            source_prompt: self.spec.settings.structured_prompt.is_some().then(|| self.spec.prompt.clone()),
            scale: self.spec.scale,
            expand: self.spec.expand,
        }
    }

    fn notify(&self, fraction: Option<f32>, message: String) {
        self.update(|r| {
            r.progress = fraction.or(r.progress);
            r.message = Some(message.clone());
        });
        if let Some(progress) = &self.progress {
            let _ = progress.send(JobProgress { fraction, message });
        }
    }

    /// Change the record, publish it, and persist it.
    fn update(&self, change: impl FnOnce(&mut JobRecord)) {
        self.state.send_modify(|record| {
            change(record);
            record.updated_at = chrono::Utc::now();
        });
        let record = self.state.borrow().clone();
        if let Err(e) = record.persist(&self.store.jobs_dir()) {
            tracing::warn!(job = %record.id, "cannot persist job record: {e}");
        }
    }
}

/// Forward plugin progress to the job record and the caller: the latest
/// report wins, and reports are at least [`PROGRESS_INTERVAL`] apart, so a
/// plugin reporting in a tight loop costs one slot of memory and at most
/// ten notifications a second.
async fn forward_progress(
    mut reports: watch::Receiver<Option<ProgressReport>>,
    state: watch::Sender<JobRecord>,
    progress: Option<mpsc::UnboundedSender<JobProgress>>,
) {
    let mut next = Instant::now();
    while reports.changed().await.is_ok() {
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Some(report) = reports.borrow_and_update().clone() else { continue };
        next = Instant::now() + PROGRESS_INTERVAL;
        state.send_modify(|r| {
            r.progress = report.fraction.or(r.progress);
            r.message = Some(report.message.clone());
            // A provider measuring its work mid-poll (a stream's step counts)
            // is running it, before the poll returns to say so.
            if r.status == JobStatus::Queued && report.fraction.is_some_and(|f| f > 0.0) {
                r.status = JobStatus::Running;
            }
        });
        if let Some(progress) = &progress {
            let _ = progress.send(JobProgress { fraction: report.fraction, message: report.message });
        }
    }
}

fn provider_error(error: ProviderError) -> FieldError {
    match error {
        ProviderError::InvalidRequest { field: Some(field), message } => FieldError::field(&field, message),
        other => FieldError::other(other.to_string()),
    }
}

fn call_error(error: CallError) -> FieldError {
    match error {
        CallError::Provider(e) => provider_error(e),
        other => FieldError::other(other.to_string()),
    }
}
