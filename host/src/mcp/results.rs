//! Tool results that carry images: a text summary, previews within the
//! byte budget, a `resource_link` per image, file paths, and the same facts
//! as `structuredContent`; and errors a model can act on (`isError: true`).

use crate::config::PreviewSettings;
use crate::jobs::{JobError, JobRecord};
use crate::store::preview::preview;
use crate::store::StoredImage;
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde_json::{json, Value};

/// JSON facts about one stored image (also used by the CLI's `--json`).
pub fn image_json(image: &StoredImage) -> Value {
    let s = &image.sidecar;
    json!({
        "id": s.id,
        "uri": format!("image://{}", s.id),
        "path": image.path.display().to_string(),
        "width": s.width,
        "height": s.height,
        "mime_type": s.mime_type,
        "bytes": s.bytes,
        "seed": s.seed,
        "provider": s.provider,
        "model": s.model,
        "revised_prompt": s.revised_prompt,
        "parents": s.parents,
        "cost_estimate_usd": s.cost_estimate_usd,
    })
}

/// The `resource_link` for a stored image.
pub fn resource_link(image: &StoredImage) -> ContentBlock {
    let s = &image.sidecar;
    let mut resource = Resource::new(format!("image://{}", s.id), s.id.clone())
        .with_mime_type(s.mime_type.clone())
        .with_size(s.bytes)
        .with_title(format!("{}x{} {}", s.width, s.height, s.mime_type));
    if let Some(prompt) = &s.prompt {
        resource = resource.with_description(truncate(prompt, 200));
    }
    ContentBlock::resource_link(resource)
}

/// A finished generation: summary, previews, links, structured facts.
pub fn images_result(images: &[StoredImage], job: &JobRecord, budget: PreviewSettings) -> CallToolResult {
    let mut text = format!("{} image(s) from {} / {} (job {}):", images.len(), job.provider, job.model, job.id);
    for image in images {
        let s = &image.sidecar;
        text.push_str(&format!("\n- id {}  {}x{} {}  file {}", s.id, s.width, s.height, s.mime_type, image.path.display()));
        if let Some(revised) = &s.revised_prompt {
            text.push_str(&format!("\n  revised prompt: {}", truncate(revised, 300)));
        }
    }
    for warning in &job.warnings {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    text.push_str("\nEdit one with edit_image using its id; read the full image at its image:// URI or file path.");
    let mut content = vec![ContentBlock::text(text)];
    let per_image = budget.max_bytes / images.len().max(1);
    let mut previews = Vec::new();
    for image in images {
        match std::fs::read(&image.path).map_err(anyhow::Error::from).and_then(|b| preview(&b, budget.max_edge, per_image)) {
            Ok(Some(p)) => {
                previews.push(json!({"id": image.sidecar.id, "width": p.width, "height": p.height, "mime_type": p.mime_type}));
                content.push(ContentBlock::image(base64::engine::general_purpose::STANDARD.encode(&p.data), p.mime_type));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("no preview for {}: {e:#}", image.sidecar.id),
        }
        content.push(resource_link(image));
    }
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(json!({
        "status": "succeeded",
        "job_id": job.id,
        "provider": job.provider,
        "model": job.model,
        "images": images.iter().map(image_json).collect::<Vec<_>>(),
        "previews": previews,
        "warnings": job.warnings,
    }));
    result
}

/// A job still running when the wait ran out.
pub fn pending_result(job: &JobRecord) -> CallToolResult {
    let mut text = format!(
        "The generation is still running at {} (job {}, status {:?}). Call get_generation_status with job_id \"{}\" in a little while to get the images.",
        job.provider, job.id, job.status, job.id
    );
    if let Some(position) = job.queue_position {
        text.push_str(&format!(" Queue position: {position}."));
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(status_json(job));
    result
}

/// A job record as JSON.
pub fn status_json(job: &JobRecord) -> Value {
    json!({
        "job_id": job.id,
        "status": job.status,
        "provider": job.provider,
        "model": job.model,
        "progress": job.progress,
        "message": job.message,
        "queue_position": job.queue_position,
        "images": job.images.iter().map(|id| json!({"id": id, "uri": format!("image://{id}")})).collect::<Vec<_>>(),
        "error": job.error,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    })
}

/// An error the model can act on: `isError: true`, the field at fault.
pub fn error_result(error: &JobError) -> CallToolResult {
    let text = match &error.field {
        Some(field) => format!("Invalid `{field}`: {}", error.message),
        None => error.message.clone(),
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({"error": {"field": error.field, "message": error.message}}));
    result
}

/// A JSON document as a tool result (text + structured).
pub fn json_result(summary: String, value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(summary)]);
    result.structured_content = Some(value);
    result
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}
