//! The MCP tools: their argument schemas (what a model sees), truthful
//! annotations, and the glue from arguments to `jobs` and `providers`.

use super::EaselServer;
use super::outputs::{JobOutput, ModelsOutput, ProviderModel, ProvidersOutput, output_schema, to_json};
use super::results::{error_result, json_result, pending_result, status_json};
use super::spend::{Answers, Confirmation};
use super::tasks;
use crate::jobs::{FieldError, GenerateSpec, InputSpec, JobProgress, Outcome};
use crate::model::ImageRole;
use crate::request::Settings;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// Longest bounded wait a caller may ask for, seconds.
pub(super) const MAX_WAIT_SECONDS: u64 = 300;

/// `generate_image`'s arguments: the prompt, reference images, the shared
/// [`Settings`] (flattened: `width`, `seed`, `params`, …) and the wait.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// What the image should show. Be concrete: subject, setting, style, lighting.
    /// May be "" with structured_prompt.
    #[serde(default)]
    pub prompt: String,
    /// Reference images (store id, image:// URI, data: URI, URL or allowed path) to guide the result.
    #[serde(default)]
    pub reference_images: Vec<String>,
    #[serde(flatten)]
    pub settings: Settings,
    /// Seconds to wait before a job id is returned instead (max 300).
    #[serde(default)]
    #[schemars(with = "u64")]
    pub wait_seconds: Option<u64>,
}

/// An input image for edit_image.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageArg {
    /// Store id, image:// URI, data: URI, http(s) URL or allowed file path.
    pub image: String,
    /// `reference` (default): the image to edit or take after; `mask`: where to
    /// edit; `control`: a ControlNet guide, with control_type.
    #[serde(default = "reference")]
    pub role: ImageRole,
    /// With role control: canny, depth, pose or scribble, as the model's
    /// params declare (list_models); sent as params.control_type.
    #[serde(default)]
    #[schemars(with = "String")]
    pub control_type: Option<String>,
}

fn reference() -> ImageRole {
    ImageRole::Reference
}

/// `edit_image`'s arguments: what to change, the input images, the shared
/// [`Settings`] (flattened) and the wait.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    /// What to change, e.g. "make it night time".
    #[serde(default)]
    pub prompt: String,
    /// Input images: at least one `reference`, optionally one `mask`.
    pub images: Vec<ImageArg>,
    /// Outpaint: pixels to add per side ({left, top, right, bottom}); the
    /// one reference is extended there, the rest kept, the mask made by Easel.
    #[serde(default)]
    #[schemars(with = "crate::request::Expand")]
    pub expand: Option<crate::request::Expand>,
    #[serde(flatten)]
    pub settings: Settings,
    /// Seconds to wait before a job id is returned instead.
    #[serde(default)]
    #[schemars(with = "u64")]
    pub wait_seconds: Option<u64>,
}

/// `upscale_image`'s arguments: the image, the factor, and the few
/// settings an upscaler takes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpscaleArgs {
    /// Store id, image:// URI, data: URI, http(s) URL or allowed file path.
    pub image: String,
    /// Factor for width and height, more than 1 and at most 8 (default 2).
    #[serde(default)]
    #[schemars(with = "f32")]
    pub scale: Option<f32>,
    /// Hint for upscalers that take one.
    #[serde(default)]
    pub prompt: String,
    /// Provider id (default: the deployment's).
    #[serde(default)]
    #[schemars(with = "String")]
    pub provider: Option<String>,
    /// Upscale model (default: the provider's first).
    #[serde(default)]
    #[schemars(with = "String")]
    pub model: Option<String>,
    /// Provider-native parameters.
    #[serde(default)]
    #[schemars(with = "crate::request::Params")]
    pub params: Option<crate::request::Params>,
    /// Seconds to wait before a job id is returned instead.
    #[serde(default)]
    #[schemars(with = "u64")]
    pub wait_seconds: Option<u64>,
}

impl UpscaleArgs {
    /// The job spec `upscale_image` runs: one reference input and the factor.
    pub(crate) fn into_spec(self) -> GenerateSpec {
        let settings =
            Settings { provider: self.provider, model: self.model, params: self.params, ..Settings::default() };
        GenerateSpec {
            prompt: self.prompt,
            settings: settings.normalized(),
            inputs: vec![InputSpec { id: self.image, role: ImageRole::Reference }],
            scale: Some(self.scale.unwrap_or(2.0)),
            expand: None,
        }
    }
}

impl GenerateArgs {
    /// The job spec `generate_image` runs; `wait_seconds` is not part of it.
    pub(crate) fn into_spec(self) -> GenerateSpec {
        let inputs = self.reference_images.into_iter().map(|id| InputSpec { id, role: ImageRole::Reference }).collect();
        GenerateSpec { prompt: self.prompt, settings: self.settings.normalized(), inputs, ..GenerateSpec::default() }
    }
}

impl EditArgs {
    /// The job spec `edit_image` runs; `wait_seconds` is not part of it.
    ///
    /// Errors: no input images (field `images`).
    pub(crate) fn into_spec(self) -> Result<GenerateSpec, FieldError> {
        if self.images.is_empty() {
            return Err(FieldError::field("images", "give at least one image, e.g. [{\"image\": \"<id>\"}]"));
        }
        let mut settings = self.settings.normalized();
        if let Some(control_type) = control_type_of(&self.images)? {
            let params = settings.params.get_or_insert_with(Default::default);
            match params.get("control_type") {
                Some(given) if given.as_str() != Some(control_type.as_str()) => {
                    return Err(FieldError::field(
                        "params.control_type",
                        format!("says {given}, but the control image says `{control_type}`; give it once"),
                    ));
                }
                _ => {
                    params.insert("control_type".into(), control_type.into());
                }
            }
        }
        let inputs = self.images.into_iter().map(|i| InputSpec { id: i.image, role: i.role }).collect();
        Ok(GenerateSpec { prompt: self.prompt, settings, inputs, expand: self.expand, ..GenerateSpec::default() })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    /// Job id (job_…) a generating tool or run_pipeline returned.
    pub job_id: String,
}

#[tool_router(vis = "pub(super)")]
impl EaselServer {
    /// Generate images from a prompt. Returns ids, previews, image:// links
    /// and paths, or a job_id (get_generation_status) if it outlives the
    /// wait. May cost money with paid providers.
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Generate image", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true))]
    async fn generate_image(
        &self,
        Parameters(args): Parameters<GenerateArgs>,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let wait = args.wait_seconds;
        Ok(self.run_generation(args.into_spec(), wait, context, Answers { responses, state }).await)
    }

    /// Edit images given by id with role `reference` (optionally one `mask`)
    /// and what to change; the result records its parents. May cost money
    /// with paid providers.
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Edit image", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true))]
    async fn edit_image(
        &self,
        Parameters(args): Parameters<EditArgs>,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let wait = args.wait_seconds;
        match args.into_spec() {
            Ok(spec) => Ok(self.run_generation(spec, wait, context, Answers { responses, state }).await),
            Err(error) => Ok(error_result(&error).into()),
        }
    }

    /// Upscale an image by a factor with an upscale model (list_models
    /// operation upscale); the result records its parent.
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Upscale image", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true))]
    async fn upscale_image(
        &self,
        Parameters(args): Parameters<UpscaleArgs>,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let wait = args.wait_seconds;
        Ok(self.run_generation(args.into_spec(), wait, context, Answers { responses, state }).await)
    }

    /// Status of a generation job; returns its images once it has succeeded.
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Generation status", read_only_hint = true, open_world_hint = false))]
    async fn get_generation_status(&self, Parameters(args): Parameters<JobArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(self.job_result(&args.job_id).await)
    }

    /// Cancel a running generation job (the provider is told to stop).
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Cancel generation", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true))]
    async fn cancel_generation(&self, Parameters(args): Parameters<JobArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.app.jobs.cancel(&args.job_id).await {
            Ok(job) => {
                let state = format!("Job {} is {:?}.", job.id, job.status).to_lowercase();
                let text = match &job.message {
                    Some(message) => format!("{state} {message}"),
                    None => state,
                };
                json_result(text, status_json(&job))
            }
            Err(error) => error_result(&error),
        })
    }

    /// The configured providers: status (ready, unconfigured and why,
    /// disabled, unavailable), models, lifecycle and price per image.
    #[tool(output_schema = output_schema::<ProvidersOutput>(), annotations(title = "List providers", read_only_hint = true, open_world_hint = false))]
    async fn list_providers(&self) -> Result<CallToolResult, ErrorData> {
        let summaries = self.app.registry().summaries().await;
        let mut text = String::new();
        for s in &summaries {
            let status = serde_json::to_value(&s.status).unwrap_or_default();
            text.push_str(&format!(
                "- {}{}: {}{}\n",
                s.id,
                if s.is_default { " (default)" } else { "" },
                status["status"].as_str().unwrap_or("?"),
                status["reason"].as_str().map(|r| format!(" — {r}")).unwrap_or_default()
            ));
            for m in &s.models {
                let lifecycle = serde_json::to_value(m.lifecycle).unwrap_or_default();
                text.push_str(&format!("    {} ({}, {})\n", m.id, m.display_name, lifecycle.as_str().unwrap_or("?")));
            }
        }
        Ok(json_result(text, to_json(&ProvidersOutput { providers: summaries })))
    }

    /// Each model's capabilities (sizes, ratios, limits, parameters, prompt
    /// advice), filtered by provider, operation or query words.
    #[tool(output_schema = output_schema::<ModelsOutput>(), annotations(title = "List models", read_only_hint = true, open_world_hint = false))]
    async fn list_models(&self, Parameters(args): Parameters<ListModelsArgs>) -> Result<CallToolResult, ErrorData> {
        let registry = self.app.registry();
        let mut models = Vec::new();
        for provider in registry.providers() {
            if args.provider.as_deref().is_some_and(|p| !p.is_empty() && p != provider.id) {
                continue;
            }
            if let Ok(info) = provider.info().await {
                for model in info.models {
                    if args.operation.is_some_and(|op| !model.operations.contains(&op))
                        || !matches_query(&model, args.query.as_deref())
                    {
                        continue;
                    }
                    models.push(ProviderModel { provider: provider.id.clone(), model });
                }
            }
        }
        if models.is_empty()
            && let Some(p) = args.provider.filter(|p| !p.is_empty())
        {
            return Ok(error_result(&FieldError::field(
                "provider",
                format!("no models found for provider `{p}`; see list_providers"),
            )));
        }
        let filtered = args.query.as_deref().is_some_and(|q| !q.trim().is_empty()) || args.operation.is_some();
        let text = match (models.len(), filtered) {
            (0, true) => "no model matches; list_models without query and operation lists them all".to_string(),
            (n, _) => format!("{n} model(s); details in structuredContent.models"),
        };
        Ok(json_result(text, to_json(&ModelsOutput { models })))
    }
}

/// Whether every word of `query` appears (case-insensitive) in the model's
/// id, name, aliases or prompt notes; no query matches everything.
fn matches_query(model: &crate::model::ModelInfo, query: Option<&str>) -> bool {
    let Some(query) = query else { return true };
    let haystack = [model.id.as_str(), &model.display_name, model.prompt_notes.as_deref().unwrap_or("")]
        .into_iter()
        .chain(model.aliases.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    query.to_lowercase().split_whitespace().all(|word| haystack.contains(word))
}

/// The one `control_type` of a request's control images.
///
/// Errors (field `images[i].control_type`): a control image without one,
/// one on an image that is not a control image, two that differ.
fn control_type_of(images: &[ImageArg]) -> Result<Option<String>, FieldError> {
    let mut chosen: Option<String> = None;
    for (index, image) in images.iter().enumerate() {
        let field = format!("images[{index}].control_type");
        match (image.role, image.control_type.as_deref().map(str::trim)) {
            (ImageRole::Control, None | Some("")) => {
                return Err(FieldError::field(&field, "a control image needs one: canny, depth, pose or scribble"));
            }
            (ImageRole::Control, Some(kind)) => match &chosen {
                Some(first) if first != kind => {
                    return Err(FieldError::field(
                        &field,
                        format!("`{kind}` differs from the first control image's `{first}`; give one kind per request"),
                    ));
                }
                _ => chosen = Some(kind.to_string()),
            },
            (_, Some(_)) => return Err(FieldError::field(&field, "only for images with role `control`")),
            (_, None) => {}
        }
    }
    Ok(chosen)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListModelsArgs {
    /// Only this provider's models.
    #[serde(default)]
    #[schemars(with = "String")]
    pub provider: Option<String>,
    /// Words every listed model matches (id, name, aliases, notes), e.g. "flux".
    #[serde(default)]
    #[schemars(with = "String")]
    pub query: Option<String>,
    /// Only models that can do this.
    #[serde(default)]
    pub operation: Option<crate::model::Operation>,
}

impl EaselServer {
    /// Run a generation with progress notifications (when the client sent a
    /// progress token) and the bounded wait.
    pub(super) async fn run_generation(
        &self,
        spec: GenerateSpec,
        wait_seconds: Option<u64>,
        context: RequestContext<RoleServer>,
        answers: Answers,
    ) -> CallToolResponse {
        // The seed is left out of what the user confirms: it costs nothing,
        // and vary_image draws a new one each round.
        let binding = serde_json::to_value(&spec).map(|mut v| {
            v.as_object_mut().map(|o| o.remove("seed"));
            v.to_string()
        });
        let quote = self.app.jobs.quote(&spec, &super::requester(&context).user).await;
        let confirmation = self.confirm_spend(quote.as_slice(), &binding.unwrap_or_default(), &context, answers).await;
        if let Confirmation::Answer(answer) = confirmation {
            return answer;
        }
        let as_task = tasks::task_capable(&context);
        let wait = tasks::wait_for(as_task, wait_seconds, self.bounded_wait(wait_seconds));
        let caller = super::requester(&context);
        let (progress, forwarder) = self.progress_forwarder(&context);
        let outcome = self.app.jobs.generate(spec, caller, progress, wait).await;
        Self::finish_forwarding(forwarder).await;
        self.answer(outcome, as_task).await
    }

    /// A job's outcome as the call's answer: its images, a task handle for
    /// a task-capable client ([`tasks`]), or the job id to poll.
    pub(super) async fn answer(&self, outcome: Result<Outcome, FieldError>, as_task: bool) -> CallToolResponse {
        match outcome {
            Ok(Outcome::Done { job, images }) => self.images_result(&images, &job).await.into(),
            Ok(Outcome::Pending { job }) if as_task => tasks::created(&job),
            Ok(Outcome::Pending { job }) => pending_result(&job).into(),
            Err(error) => error_result(&error).into(),
        }
    }

    /// What `get_generation_status` answers for a job: its images once it
    /// succeeded, its state while it runs, the error (with the state) after.
    pub(super) async fn job_result(&self, job_id: &str) -> CallToolResult {
        match self.app.jobs.result(job_id) {
            Ok(Outcome::Done { job, images }) => self.images_result(&images, &job).await,
            Ok(Outcome::Pending { job }) => pending_result(&job),
            Err(error) => match self.app.jobs.status(job_id) {
                Ok(job) => {
                    let mut result = error_result(&error);
                    result.structured_content = Some(status_json(&job));
                    result
                }
                Err(_) => error_result(&error),
            },
        }
    }
}

/// A task sending a job's progress to the client as MCP progress notifications.
type Forwarder = Option<tokio::task::JoinHandle<()>>;

impl EaselServer {
    /// When the client sent a progress token: a sender for the job's
    /// progress and the task that turns it into notifications (percent,
    /// strictly increasing, in whole tenths).
    pub(super) fn progress_forwarder(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> (Option<tokio::sync::mpsc::UnboundedSender<JobProgress>>, Forwarder) {
        let Some(token) = context.meta.get_progress_token() else { return (None, None) };
        let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<JobProgress>();
        let peer = context.peer.clone();
        let forwarder = tokio::spawn(async move {
            // Whole tenths of a percent: an f32 fraction widened to f64
            // would read 5.000000074505806 for 0.05.
            let mut last = 0u32;
            while let Some(event) = progress_rx.recv().await {
                let mut tenths = event.fraction.map(|f| (f64::from(f) * 1000.0).round() as u32).unwrap_or(last);
                if tenths <= last {
                    tenths = last + 1;
                }
                last = tenths.min(999);
                let value = f64::from(last) / 10.0;
                let param =
                    ProgressNotificationParam::new(token.clone(), value).with_total(100.0).with_message(event.message);
                if peer.notify_progress(param).await.is_err() {
                    break;
                }
            }
        });
        (Some(progress_tx), Some(forwarder))
    }

    /// Let queued notifications go out before the result, then stop: a job
    /// that outlives this call must not notify a finished request.
    pub(super) async fn finish_forwarding(forwarder: Forwarder) {
        if let Some(mut forwarder) = forwarder
            && tokio::time::timeout(Duration::from_millis(200), &mut forwarder).await.is_err()
        {
            forwarder.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(role: ImageRole, control_type: Option<&str>) -> ImageArg {
        ImageArg { image: "img_1".into(), role, control_type: control_type.map(String::from) }
    }

    #[test]
    fn a_control_type_goes_with_control_images_only_and_one_kind_per_request() {
        let guided = [image(ImageRole::Reference, None), image(ImageRole::Control, Some("canny"))];
        assert_eq!(control_type_of(&guided).unwrap().as_deref(), Some("canny"));
        assert_eq!(control_type_of(&[image(ImageRole::Reference, None)]).unwrap(), None);
        for (images, field) in [
            (vec![image(ImageRole::Control, None)], "images[0].control_type"),
            (vec![image(ImageRole::Reference, Some("depth"))], "images[0].control_type"),
            (
                vec![image(ImageRole::Control, Some("canny")), image(ImageRole::Control, Some("pose"))],
                "images[1].control_type",
            ),
        ] {
            assert_eq!(control_type_of(&images).unwrap_err().field.as_deref(), Some(field));
        }
    }

    #[test]
    fn an_edit_with_a_control_image_carries_its_type_in_params() {
        let args: EditArgs = serde_json::from_value(serde_json::json!({
            "prompt": "a dancer", "images": [{"image": "img_1", "role": "control", "control_type": "pose"}]}))
        .unwrap();
        let spec = args.into_spec().unwrap();
        assert_eq!(spec.settings.params.unwrap()["control_type"], "pose");
        let clash: EditArgs = serde_json::from_value(serde_json::json!({
            "prompt": "x", "params": {"control_type": "depth"},
            "images": [{"image": "img_1", "role": "control", "control_type": "pose"}]}))
        .unwrap();
        assert_eq!(clash.into_spec().unwrap_err().field.as_deref(), Some("params.control_type"));
    }
}
