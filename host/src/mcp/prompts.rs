//! MCP prompts: a few templates that steer a model toward good use of the
//! tools, routed by rmcp's `#[prompt_router]`, and completion of their
//! arguments.
//!
//! Each prompt is a `#[prompt]` method taking its arguments as one
//! `Parameters<T>`; `prompts/list` shows what rmcp derives from `T`'s JSON
//! Schema (doc comments become descriptions, non-`Option` fields are
//! required), in `T`'s field order. [`get`] checks the required arguments
//! first so a missing one is named in the error.

use super::EaselServer;
use rmcp::handler::server::prompt::{PromptContext, cached_arguments_from_schema};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    PromptArgument, PromptMessage, Reference, Role,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, prompt, prompt_router};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// Styles offered (and completed) for `create-image`.
const STYLES: [&str; 8] =
    ["photograph", "watercolor", "oil painting", "pixel art", "3d render", "line drawing", "anime", "isometric"];

/// `create-image`'s arguments. Values are trimmed; a blank optional one
/// counts as absent.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateImageArgs {
    /// What the image should show
    #[serde(deserialize_with = "required_text")]
    pub subject: String,
    /// Visual style, e.g. photograph, watercolor, pixel art
    #[serde(default, deserialize_with = "optional_text")]
    pub style: Option<String>,
    /// Provider id from list_providers (optional)
    #[serde(default, deserialize_with = "optional_text")]
    pub provider: Option<String>,
}

/// `iterate-on-image`'s arguments (trimmed).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IterateArgs {
    /// Id of the image to change
    #[serde(deserialize_with = "required_text")]
    pub image_id: String,
    /// What to change, e.g. 'same scene at night'
    #[serde(deserialize_with = "required_text")]
    pub change: String,
}

/// `product-shot`'s arguments (trimmed).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductShotArgs {
    /// The product, e.g. 'a matte black ceramic coffee mug'
    #[serde(deserialize_with = "required_text")]
    pub product: String,
    /// Where it stands, e.g. 'white seamless studio', 'marble kitchen counter' (optional)
    #[serde(default, deserialize_with = "optional_text")]
    pub setting: Option<String>,
    /// Provider id from list_providers (optional)
    #[serde(default, deserialize_with = "optional_text")]
    pub provider: Option<String>,
}

/// `logo`'s arguments (trimmed).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogoArgs {
    /// The exact text the logo must show, e.g. 'Bramble & Co'
    #[serde(deserialize_with = "required_text")]
    pub text: String,
    /// What the brand is and feels like, e.g. 'a small organic bakery, warm and hand-made'
    #[serde(deserialize_with = "required_text")]
    pub brand: String,
}

/// `character-sheet`'s arguments (trimmed).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CharacterSheetArgs {
    /// Who the character is and looks like
    #[serde(deserialize_with = "required_text")]
    pub character: String,
    /// Visual style, e.g. anime, watercolor, 3d render (optional)
    #[serde(default, deserialize_with = "optional_text")]
    pub style: Option<String>,
}

/// `apply-style`'s arguments (trimmed).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApplyStyleArgs {
    /// Name of a saved style (style://list)
    #[serde(deserialize_with = "required_text")]
    pub style: String,
    /// What to make in that style
    #[serde(deserialize_with = "required_text")]
    pub subject: String,
}

#[prompt_router(vis = "pub(super)")]
impl EaselServer {
    #[prompt(
        name = "create-image",
        description = "Write a detailed image prompt for a subject and style, then generate it with generate_image",
        arguments = ordered_arguments::<CreateImageArgs>()
    )]
    async fn create_image(&self, Parameters(args): Parameters<CreateImageArgs>) -> GetPromptResult {
        let subject = args.subject;
        let style = args.style.unwrap_or_else(|| "photograph".to_string());
        let provider = args.provider.map(|p| format!(" with provider \"{p}\"")).unwrap_or_default();
        let text = format!(
            "Create an image of: {subject}\nStyle: {style}.\n\nFirst expand this into one detailed prompt (subject, setting, composition, lighting, colour, \
             {style} specifics). Then call generate_image{provider} with that prompt. Show the user the result and offer changes; \
             changes go through edit_image with the image id you got back."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(format!("Create a {style} image"))
    }

    #[prompt(
        name = "iterate-on-image",
        description = "Change an existing image step by step with edit_image, keeping its lineage",
        arguments = ordered_arguments::<IterateArgs>()
    )]
    async fn iterate_on_image(&self, Parameters(args): Parameters<IterateArgs>) -> GetPromptResult {
        let IterateArgs { image_id: id, change } = args;
        let text = format!(
            "Change image {id}: {change}.\n\nCall edit_image with images [{{\"image\": \"{id}\", \"role\": \"reference\"}}] and a prompt that \
             states the change and what must stay the same. Compare the result with the original (image://{id}) and keep iterating from \
             the newest id until the user is happy."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description("Iterate on an image")
    }

    #[prompt(
        name = "product-shot",
        description = "A clean commercial photo of a product, generated with generate_image and refined with edit_image",
        arguments = ordered_arguments::<ProductShotArgs>()
    )]
    async fn product_shot(&self, Parameters(args): Parameters<ProductShotArgs>) -> GetPromptResult {
        let ProductShotArgs { product, setting, provider } = args;
        let setting = setting.unwrap_or_else(|| "a seamless white studio backdrop".to_string());
        let provider = provider.map(|p| format!(", provider \"{p}\"")).unwrap_or_default();
        let text = format!(
            "Make a product photograph of: {product}\nSetting: {setting}.\n\nWrite one prompt as a commercial photographer would brief it: \
             the product sharp and centred, its materials and true colours, soft key light with a gentle shadow, a clean uncluttered \
             background, a 50–85 mm lens look. Call generate_image with that prompt, aspect_ratio \"1:1\" and count 2{provider}. Show \
             both; for changes (angle, background, props) call edit_image on the one the user picks."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description("A product photograph")
    }

    #[prompt(
        name = "logo",
        description = "A logo that shows exact text, on a provider whose models render text well",
        arguments = ordered_arguments::<LogoArgs>()
    )]
    async fn logo(&self, Parameters(args): Parameters<LogoArgs>) -> GetPromptResult {
        let LogoArgs { text: wording, brand } = args;
        let text = format!(
            "Design a logo for: {brand}\nIt must read exactly: \"{wording}\" (same spelling, capitals and punctuation).\n\nCall \
             list_models first and prefer a model whose prompt notes say it renders text well. Write a prompt that quotes the text \
             exactly, asks for a flat vector-style mark on a plain background, names two or three colours and the typeface's character, \
             and says nothing else should be written. Call generate_image with that prompt, aspect_ratio \"1:1\" and count 3. Check \
             each result's spelling before showing it; regenerate any that misspell the text."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(format!("A logo reading \"{wording}\""))
    }

    #[prompt(
        name = "character-sheet",
        description = "One character drawn consistently from several sides, for a series of images",
        arguments = ordered_arguments::<CharacterSheetArgs>()
    )]
    async fn character_sheet(&self, Parameters(args): Parameters<CharacterSheetArgs>) -> GetPromptResult {
        let CharacterSheetArgs { character, style } = args;
        let style = style.unwrap_or_else(|| "clean digital illustration".to_string());
        let text = format!(
            "Make a character sheet for: {character}\nStyle: {style}.\n\nWrite one prompt for a turnaround sheet: the same character \
             shown front, three-quarter, side and back on a plain light background, full body, identical outfit, colours and \
             proportions in every view, no text. Call generate_image with that prompt and aspect_ratio \"16:9\", and give the user \
             the image id: later scenes pass it to edit_image as a reference image so the character stays the same."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description("A character sheet")
    }

    #[prompt(
        name = "apply-style",
        description = "Make something in a saved style (save_style), keeping the look across a series",
        arguments = ordered_arguments::<ApplyStyleArgs>()
    )]
    async fn apply_style(&self, Parameters(args): Parameters<ApplyStyleArgs>) -> GetPromptResult {
        let ApplyStyleArgs { style, subject } = args;
        let text = format!(
            "Make: {subject}\nIn the saved style \"{style}\".\n\nRead style://{style} to see its brief. Write a prompt about the \
             subject only (the style's brief is added by Easel) and call generate_image with style \"{style}\". If there is no such \
             style, read style://list and ask the user which to use, or offer to save one with save_style."
        );
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(format!("In the style {style}"))
    }
}

/// `prompts/get`: the prompt `request` names, rendered by its route.
///
/// Errors (`invalid_params`): no prompt of that name (the message lists
/// them); a required argument missing, blank or not a string (the message
/// names it).
pub(super) async fn get(
    server: &EaselServer,
    request: GetPromptRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<GetPromptResponse, ErrorData> {
    let router = &server.prompt_router;
    let Some(route) = router.map.get(request.name.as_str()) else {
        let names: Vec<String> = router.list_all().into_iter().map(|p| p.name).collect();
        return Err(ErrorData::invalid_params(
            format!("no prompt `{}`; prompts: {}", request.name, names.join(", ")),
            None,
        ));
    };
    let given = |name: &str| {
        request
            .arguments
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(|v| v.as_str())
            .is_some_and(|v| !v.trim().is_empty())
    };
    let required = route.attr.arguments.iter().flatten().filter(|a| a.required == Some(true));
    if let Some(missing) = required.into_iter().find(|a| !given(&a.name)) {
        return Err(ErrorData::invalid_params(
            format!("prompt `{}` needs the argument `{}`", request.name, missing.name),
            None,
        ));
    }
    router.get_prompt(PromptContext::new(server, request.name, request.arguments, context)).await
}

/// Completions for prompt arguments (`style`, `provider`): the candidates
/// starting with what was typed (case-insensitive), at most
/// `CompletionInfo::MAX_VALUES`.
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

/// `T`'s prompt arguments as rmcp derives them from its JSON Schema, in the
/// order `T` declares its fields (the schema's properties come sorted by
/// name, which is not the order a client should ask for them in).
fn ordered_arguments<T>() -> Option<Vec<PromptArgument>>
where
    T: JsonSchema + for<'de> Deserialize<'de> + 'static,
{
    let mut arguments = cached_arguments_from_schema::<T>()?;
    let order = field_order::<T>();
    arguments.sort_by_key(|a| order.iter().position(|f| *f == a.name).unwrap_or(usize::MAX));
    Some(arguments)
}

/// The field names a derived `Deserialize` for a struct passes to
/// `deserialize_struct`, in declaration order; empty for anything else.
fn field_order<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    /// A deserializer that only records the field names it is asked for.
    struct FieldNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only a struct's field names are read"))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("field names read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A prompt argument's value, trimmed; `get` has checked it is a non-blank
/// string.
fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    optional_text(deserializer)?.ok_or_else(|| serde::de::Error::custom("must be a non-blank string"))
}

/// An optional prompt argument's value, trimmed; blank or not a string is
/// absent (as it always was for these prompts).
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.as_ref().and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string))
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_keep_the_declared_field_order() {
        let names = |arguments: Option<Vec<rmcp::model::PromptArgument>>| {
            arguments.unwrap().into_iter().map(|a| (a.name, a.required)).collect::<Vec<_>>()
        };
        assert_eq!(
            names(super::ordered_arguments::<super::CreateImageArgs>()),
            [("subject".into(), Some(true)), ("style".into(), Some(false)), ("provider".into(), Some(false))]
        );
        assert_eq!(
            names(super::ordered_arguments::<super::IterateArgs>()),
            [("image_id".into(), Some(true)), ("change".into(), Some(true))]
        );
        assert!(super::field_order::<String>().is_empty());
    }
}
