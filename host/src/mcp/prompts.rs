//! MCP prompts: a few templates that steer a model toward good use of the
//! tools, and completion of their arguments.

use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams, GetPromptResult, Prompt,
    PromptArgument, PromptMessage, Reference, Role,
};

/// Styles offered (and completed) for `create-image`.
const STYLES: [&str; 8] =
    ["photograph", "watercolor", "oil painting", "pixel art", "3d render", "line drawing", "anime", "isometric"];

pub fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "create-image",
            Some("Write a detailed image prompt for a subject and style, then generate it with generate_image"),
            Some(vec![
                PromptArgument::new("subject").with_description("What the image should show").with_required(true),
                PromptArgument::new("style")
                    .with_description("Visual style, e.g. photograph, watercolor, pixel art")
                    .with_required(false),
                PromptArgument::new("provider")
                    .with_description("Provider id from list_providers (optional)")
                    .with_required(false),
            ]),
        ),
        Prompt::new(
            "iterate-on-image",
            Some("Change an existing image step by step with edit_image, keeping its lineage"),
            Some(vec![
                PromptArgument::new("image_id").with_description("Id of the image to change").with_required(true),
                PromptArgument::new("change")
                    .with_description("What to change, e.g. 'same scene at night'")
                    .with_required(true),
            ]),
        ),
    ]
}

pub fn get(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    let arg = |name: &str| {
        request
            .arguments
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let required = |name: &str| {
        arg(name).ok_or_else(|| {
            ErrorData::invalid_params(format!("prompt `{}` needs the argument `{name}`", request.name), None)
        })
    };
    match request.name.as_str() {
        "create-image" => {
            let subject = required("subject")?;
            let style = arg("style").unwrap_or("photograph");
            let provider = arg("provider").map(|p| format!(" with provider \"{p}\"")).unwrap_or_default();
            let text = format!(
                "Create an image of: {subject}\nStyle: {style}.\n\nFirst expand this into one detailed prompt (subject, setting, composition, lighting, colour, \
                 {style} specifics). Then call generate_image{provider} with that prompt. Show the user the result and offer changes; \
                 changes go through edit_image with the image id you got back."
            );
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Create a {style} image")))
        }
        "iterate-on-image" => {
            let id = required("image_id")?;
            let change = required("change")?;
            let text = format!(
                "Change image {id}: {change}.\n\nCall edit_image with images [{{\"image\": \"{id}\", \"role\": \"reference\"}}] and a prompt that \
                 states the change and what must stay the same. Compare the result with the original (image://{id}) and keep iterating from \
                 the newest id until the user is happy."
            );
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description("Iterate on an image"))
        }
        other => Err(ErrorData::invalid_params(
            format!("no prompt `{other}`; prompts: create-image, iterate-on-image"),
            None,
        )),
    }
}

/// Completions for prompt arguments (`style`, `provider`).
pub fn complete(request: &CompleteRequestParams, providers: &[String]) -> CompleteResult {
    let typed = request.argument.value.to_ascii_lowercase();
    let candidates: Vec<String> = match (&request.r#ref, request.argument.name.as_str()) {
        (Reference::Prompt(_), "style") => STYLES.iter().map(|s| s.to_string()).collect(),
        (Reference::Prompt(_), "provider") => providers.to_vec(),
        _ => Vec::new(),
    };
    let values: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.to_ascii_lowercase().starts_with(&typed))
        .take(CompletionInfo::MAX_VALUES)
        .collect();
    CompleteResult::new(
        CompletionInfo::new(values).unwrap_or_else(|_| CompletionInfo::new(Vec::new()).expect("empty is valid")),
    )
}
