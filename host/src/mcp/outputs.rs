//! The typed `structuredContent` of every tool (`#[derive(Serialize,
//! JsonSchema)]`), and each tool's `outputSchema`, derived from the same
//! types so the two cannot drift. Error results (`isError: true`) carry
//! `{"error": {field, message}}` instead; clients do not check those
//! against the schema.

use crate::jobs::{JobRecord, JobStatus};
use crate::model::ModelInfo;
use crate::pipeline::StepOutcome;
use crate::providers::ProviderSummary;
use crate::store::StoredImage;
use chrono::{DateTime, Utc};
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// The output schema of `T` for `tools/list`, kept small because every
/// model reads the whole list on every turn: rmcp's serialize-side schema
/// of `T`'s top level (property names and types), where a nested
/// struct is just `{"type": "object"}` and an enum is inlined, without
/// descriptions or number formats.
pub fn output_schema<T: JsonSchema + std::any::Any>() -> Arc<JsonObject> {
    let full = Value::Object((*rmcp::handler::server::common::schema_for_output::<T>()).clone());
    let defs = full.get("$defs").cloned().unwrap_or(Value::Null);
    let mut top = full;
    if let Some(object) = top.as_object_mut() {
        object.remove("$defs");
    }
    let mut compact = shallow(&top, &defs, 0);
    if let Some(object) = compact.as_object_mut() {
        object.remove("title");
    }
    match compact {
        Value::Object(object) => Arc::new(object),
        _ => unreachable!("an output schema is an object"),
    }
}

/// `schema` with descriptions and formats dropped, `$ref`s resolved
/// against `defs`, and every object below the top level reduced to
/// `{"type": "object"}`.
fn shallow(schema: &Value, defs: &Value, depth: usize) -> Value {
    let Value::Object(object) = schema else { return schema.clone() };
    if let Some(name) = object.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        return shallow(&defs[name], defs, depth);
    }
    let is_object = object
        .get("type")
        .is_some_and(|t| t == "object" || t.as_array().is_some_and(|ts| ts.iter().any(|t| t == "object")));
    if depth > 0 && (is_object || object.contains_key("properties")) {
        let nullable = object.get("type").and_then(Value::as_array).is_some_and(|ts| ts.iter().any(|t| t == "null"));
        return if nullable {
            serde_json::json!({"type": ["object", "null"]})
        } else {
            serde_json::json!({"type": "object"})
        };
    }
    let mut out = serde_json::Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "description" | "format" | "title" | "minimum" | "maximum" | "$schema" | "required" => continue,
            "properties" => Value::Object(
                value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), shallow(v, defs, depth + 1)))
                    .collect(),
            ),
            "items" | "additionalProperties" => shallow(value, defs, depth + 1),
            "anyOf" | "oneOf" | "allOf" => {
                Value::Array(value.as_array().into_iter().flatten().map(|v| shallow(v, defs, depth)).collect())
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// One stored image. While a job runs only `id` and `uri` are known; the
/// other fields are then `null` (and `parents` empty).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ImageFacts {
    pub id: String,
    /// `image://ID`.
    pub uri: String,
    pub path: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub mime_type: Option<String>,
    /// File size in bytes.
    pub bytes: Option<u64>,
    pub seed: Option<u64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub revised_prompt: Option<String>,
    pub parents: Vec<String>,
    pub cost_estimate_usd: Option<f64>,
    /// `{base}/i/ID.EXT` when served over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ImageFacts {
    /// All facts of a stored image.
    pub fn of(image: &StoredImage) -> ImageFacts {
        let s = &image.sidecar;
        ImageFacts {
            id: s.id.clone(),
            uri: format!("image://{}", s.id),
            path: Some(image.path.display().to_string()),
            width: Some(s.width),
            height: Some(s.height),
            mime_type: Some(s.mime_type.clone()),
            bytes: Some(s.bytes),
            seed: s.seed,
            provider: s.provider.clone(),
            model: s.model.clone(),
            revised_prompt: s.revised_prompt.clone(),
            parents: s.parents.clone(),
            cost_estimate_usd: s.cost_estimate_usd,
            url: None,
        }
    }

    /// Only the id of an image a job has made so far.
    pub fn id_only(id: &str) -> ImageFacts {
        ImageFacts { id: id.to_string(), uri: format!("image://{id}"), ..ImageFacts::default() }
    }
}

/// A preview included as an image content block.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PreviewFacts {
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub mime_type: String,
}

/// A generation job and its images: the result of `generate_image`,
/// `edit_image`, `vary_image`, `get_generation_status` and
/// `cancel_generation`. `status` is `succeeded` with all image facts, or
/// `queued`/`running` (poll again), `canceled` or `failed`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobOutput {
    pub job_id: String,
    pub status: JobStatus,
    pub provider: String,
    pub model: String,
    pub images: Vec<ImageFacts>,
    pub previews: Vec<PreviewFacts>,
    pub warnings: Vec<String>,
    /// provider "auto": what was chosen and why (left out of the schema
    /// like the fields below).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub routing: Option<String>,
    /// The prompt structured_prompt compiled to, as the provider got it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiled_prompt: Option<String>,
    /// 0.0 ..= 1.0 when known.
    pub progress: Option<f32>,
    pub message: Option<String>,
    // queue_position, created_at and updated_at are returned but left out
    // of the schema (extra properties are allowed): every model reads it.
    #[schemars(skip)]
    pub queue_position: Option<u32>,
    pub error: Option<String>,
    #[schemars(skip)]
    pub created_at: DateTime<Utc>,
    #[schemars(skip)]
    pub updated_at: DateTime<Utc>,
    /// A pipeline's steps (declared in run_pipeline's schema only: every
    /// other job leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub steps: Option<Vec<StepOutcome>>,
}

/// `run_pipeline`'s `structuredContent` (for its schema): a job's, with
/// what each step did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PipelineOutput {
    #[serde(flatten)]
    pub job: JobOutput,
    pub steps: Vec<StepOutcome>,
}

impl JobOutput {
    /// A job's state; its images by id only (see [`JobOutput::with_images`]).
    pub fn of(job: &JobRecord) -> JobOutput {
        JobOutput {
            job_id: job.id.clone(),
            status: job.status,
            provider: job.provider.clone(),
            model: job.model.clone(),
            images: job.images.iter().map(|id| ImageFacts::id_only(id)).collect(),
            previews: Vec::new(),
            warnings: job.warnings.clone(),
            routing: job.routing.clone(),
            compiled_prompt: job.compiled_prompt().map(str::to_string),
            progress: job.progress,
            message: job.message.clone(),
            queue_position: job.queue_position,
            error: job.error.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
            steps: job.pipeline.as_ref().map(|p| p.outcomes.clone()),
        }
    }
}

/// `show_image`: the image's facts and the view that was rendered.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShowOutput {
    #[serde(flatten)]
    pub image: ImageFacts,
    pub view: ViewFacts,
}

/// A rendered view of an image.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ViewFacts {
    /// `image://ID/view?…`, readable as a resource.
    pub uri: String,
    pub width: u32,
    pub height: u32,
    pub mime_type: String,
    pub bytes: usize,
}

/// `list_images`: one page of the gallery, and the damaged entries.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GalleryOutput {
    pub images: Vec<GalleryItem>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    pub damaged: Vec<DamagedItem>,
    pub damaged_total: usize,
}

/// One gallery entry.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GalleryItem {
    pub id: String,
    pub uri: String,
    pub width: u32,
    pub height: u32,
    pub mime_type: String,
    pub prompt: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub origin: crate::store::Origin,
    #[schemars(with = "String")]
    pub created_at: DateTime<Utc>,
    pub parents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A store entry that cannot be shown; `delete_image` removes it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DamagedItem {
    pub id: String,
    /// Always `damaged`.
    pub status: String,
    pub problem: String,
    #[schemars(with = "Option<String>")]
    pub modified_at: Option<DateTime<Utc>>,
    pub fix: String,
}

/// `delete_image`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeleteOutput {
    pub id: String,
    /// Always `deleted`.
    pub status: String,
    #[schemars(with = "String")]
    pub deleted_at: DateTime<Utc>,
    /// Why the image was damaged, when it was.
    pub was_damaged: Option<String>,
}

/// `list_providers`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProvidersOutput {
    pub providers: Vec<ProviderSummary>,
}

/// `list_models`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelsOutput {
    pub models: Vec<ProviderModel>,
}

/// One model and the provider that offers it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProviderModel {
    pub provider: String,
    pub model: ModelInfo,
}

/// `value` as JSON for `structuredContent` (these types always serialize).
pub fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("tool outputs serialize")
}
