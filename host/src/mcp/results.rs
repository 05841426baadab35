//! Tool results that carry images: a text summary, previews within the
//! byte budget, a `resource_link` per image, file paths, and the same facts
//! as `structuredContent`; and errors a model can act on (`isError: true`).

use super::outputs::{ImageFacts, JobOutput, PreviewFacts, to_json};
use crate::jobs::{FieldError, JobRecord};
use crate::store::{Store, StoredImage};
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde_json::{Value, json};

/// JSON facts about one stored image ([`ImageFacts`]).
pub fn image_json(image: &StoredImage) -> Value {
    to_json(&ImageFacts::of(image))
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
///
/// The previews come from the store's cache (made while the job stored the
/// images), else are made on the image pool (`crate::blocking::image_work`),
/// one job per image, so a large result never holds an async worker; an
/// image whose preview fails gets none (logged), the rest of the result is
/// unchanged.
pub async fn images_result(store: &Store, images: &[StoredImage], job: &JobRecord) -> CallToolResult {
    let mut text = format!("{} image(s) from {} / {} (job {}):", images.len(), job.provider, job.model, job.id);
    for image in images {
        let s = &image.sidecar;
        text.push_str(&format!(
            "\n- id {}  {}x{} {}  file {}",
            s.id,
            s.width,
            s.height,
            s.mime_type,
            image.path.display()
        ));
        if let Some(revised) = &s.revised_prompt {
            text.push_str(&format!("\n  revised prompt: {}", truncate(revised, 300)));
        }
    }
    text.push_str(&steps_text(job));
    if let Some(compiled) = job.compiled_prompt() {
        text.push_str(&format!("\ncompiled prompt: {}", truncate(compiled, 600)));
    }
    if let Some(routing) = &job.routing {
        text.push_str(&format!("\n{routing}"));
    }
    for warning in &job.warnings {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    text.push_str("\nEdit one with edit_image using its id; read the full image at its image:// URI or file path.");
    let mut content = vec![ContentBlock::text(text)];
    let share = images.len();
    let made = futures::future::join_all(images.iter().map(|image| {
        let (store, id) = (store.clone(), image.sidecar.id.clone());
        async move {
            match store.cached_preview(&id, share) {
                Some(cached) => Ok(Ok(Some(cached))),
                None => crate::blocking::image_work(move || store.preview(&id, share)).await,
            }
        }
    }))
    .await;
    let mut previews = Vec::new();
    for (image, made) in images.iter().zip(made) {
        match made.and_then(|r| r) {
            Ok(Some(p)) => {
                let data = base64::engine::general_purpose::STANDARD.encode(&p.data);
                content.push(ContentBlock::image(data, p.mime_type));
                previews.push(PreviewFacts {
                    id: image.sidecar.id.clone(),
                    width: p.width,
                    height: p.height,
                    mime_type: p.mime_type.to_string(),
                });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("no preview for {}: {e:#}", image.sidecar.id),
        }
        content.push(resource_link(image));
    }
    let mut result = CallToolResult::success(content);
    let output = JobOutput { images: images.iter().map(ImageFacts::of).collect(), previews, ..JobOutput::of(job) };
    result.structured_content = Some(to_json(&output));
    result
}

/// A pipeline job's steps, a line each (nothing for other jobs).
pub fn steps_text(job: &JobRecord) -> String {
    let Some(pipeline) = &job.pipeline else { return String::new() };
    let mut text = String::new();
    for outcome in &pipeline.outcomes {
        let status = serde_json::to_value(outcome.status).unwrap_or_default();
        let status = status.as_str().unwrap_or("?");
        text.push_str(&format!("\n- step `{}` ({}): {status}", outcome.id, outcome.op.name()));
        if !outcome.images.is_empty() {
            text.push_str(&format!(", images {}", outcome.images.join(", ")));
        }
    }
    text
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
    text.push_str(&steps_text(job));
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(status_json(job));
    result
}

/// A job record as JSON ([`JobOutput`]).
pub fn status_json(job: &JobRecord) -> Value {
    to_json(&JobOutput::of(job))
}

/// An error the model can act on: `isError: true`, the field at fault.
pub fn error_result(error: &FieldError) -> CallToolResult {
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

/// Most characters of one quoted piece of input (a `"…"` or `` `…` `` run)
/// that an error text repeats; longer runs end in `…`.
pub const MAX_QUOTED_CHARS: usize = 200;

/// Most characters of one error text (and of a structured error's message).
pub const MAX_SHOWN_ERROR_CHARS: usize = 1000;

/// `text` with every quoted run cut to [`MAX_QUOTED_CHARS`] and the whole to
/// [`MAX_SHOWN_ERROR_CHARS`]: an error that quotes a megabyte argument must not
/// itself become a megabyte (over HTTP, past a client's event limit).
pub fn bounded_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_ERROR_CHARS + 8));
    let (mut open, mut run) = (None::<char>, 0usize);
    let mut count = 0usize;
    for c in text.chars() {
        let quote = c == '"' || c == '`';
        let keep = match open {
            Some(q) if c == q => {
                open = None;
                true
            }
            Some(_) => {
                run += 1;
                if run == MAX_QUOTED_CHARS + 1 {
                    out.push('…');
                    count += 1;
                }
                run <= MAX_QUOTED_CHARS
            }
            None => {
                if quote {
                    open = Some(c);
                    run = 0;
                }
                true
            }
        };
        if keep {
            if count >= MAX_SHOWN_ERROR_CHARS {
                out.push('…');
                break;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

/// A tool error with its texts and structured `error` bounded by
/// [`bounded_text`]; anything else unchanged.
pub fn bounded_error(mut result: CallToolResult) -> CallToolResult {
    if result.is_error != Some(true) {
        return result;
    }
    for block in result.content.iter_mut() {
        if let ContentBlock::Text(text) = block
            && text.text.len() > MAX_QUOTED_CHARS
        {
            text.text = bounded_text(&text.text);
        }
    }
    if let Some(error) =
        result.structured_content.as_mut().and_then(|s| s.get_mut("error")).and_then(|e| e.as_object_mut())
    {
        for key in ["message", "field"] {
            if let Some(Value::String(text)) = error.get_mut(key) {
                *text = bounded_text(text);
            }
        }
    }
    result
}

/// A protocol error with its message bounded by [`bounded_text`].
pub fn bounded_error_data(mut error: rmcp::ErrorData) -> rmcp::ErrorData {
    if error.message.len() > MAX_QUOTED_CHARS {
        error.message = bounded_text(&error.message).into();
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_quoting_a_megabyte_argument_quotes_at_most_200_characters_of_it() {
        let huge = "A".repeat(1 << 20);
        let error = FieldError::field("provider", format!("no provider `{huge}`; see list_providers"));
        let result = bounded_error(error_result(&error));
        let ContentBlock::Text(text) = &result.content[0] else { panic!("a text block first") };
        assert!(text.text.len() < 400, "{} bytes", text.text.len());
        assert!(
            text.text.contains(&format!("`{}…`; see list_providers", "A".repeat(MAX_QUOTED_CHARS))),
            "{}",
            text.text
        );
        let message = result.structured_content.as_ref().unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.len() < 400 && message.ends_with("; see list_providers"), "{message}");
        // An unclosed quote and a long unquoted text are bounded too.
        assert!(bounded_text(&format!("bad \"{huge}")).chars().count() <= MAX_QUOTED_CHARS + 8);
        assert!(bounded_text(&"x\"y\"".repeat(1 << 18)).chars().count() <= MAX_SHOWN_ERROR_CHARS + 1);
        // Short texts are untouched.
        assert_eq!(bounded_text("invalid `width`: \"-64\""), "invalid `width`: \"-64\"");
        let protocol = bounded_error_data(rmcp::ErrorData::invalid_params(format!("no prompt `{huge}`"), None));
        assert!(protocol.message.len() < 400, "{} bytes", protocol.message.len());
    }
}
