//! The host's own view of the WIT types (`wit/v0.3.0`, which every older
//! version is carried up to): serde shapes used by
//! every room above the runtime, independent of the WIT version a plugin
//! was built against. `runtime::convert` maps between them.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Generate,
    Edit,
    Inpaint,
    Upscale,
    Variation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Current,
    Legacy,
    Deprecated,
    Retired,
}

/// Optional parameters a model honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Features {
    pub negative_prompt: bool,
    pub seed: bool,
    pub steps: bool,
    pub guidance: bool,
    pub strength: bool,
    pub mask: bool,
    /// Free width/height within the limits (otherwise fixed sizes or ratios).
    pub custom_size: bool,
}

/// How a model reads its prompt (WIT 0.3.0 `prompt-style`); the host
/// compiles a `structured_prompt` into it (`crate::prompting`). Models of
/// 0.2.0 and 0.1.0 plugins read as `NaturalLanguage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// Full sentences, exact text in quotes (GPT Image, Gemini).
    #[default]
    NaturalLanguage,
    /// Comma-separated tags with `(tag:1.2)` emphasis (SD 1.x/SDXL checkpoints).
    WeightedTags,
    /// Dense descriptive prose, no weights (FLUX, SD 3: T5 text encoders).
    T5Prose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// One model's capabilities, as its plugin's `describe` reported them.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelInfo {
    pub id: String,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub operations: Vec<Operation>,
    pub aspect_ratios: Vec<String>,
    pub size_tiers: Vec<String>,
    pub sizes: Vec<Dimensions>,
    pub min_side: u32,
    pub max_side: u32,
    pub size_multiple: u32,
    pub default_size: Dimensions,
    pub max_images: u32,
    pub max_input_images: u32,
    pub features: Features,
    pub output_formats: Vec<String>,
    pub lifecycle: Lifecycle,
    pub replacement: Option<String>,
    /// US dollars per image (after `prices` overrides in plugins.toml).
    pub price_per_image_usd: Option<f64>,
    pub prompt_notes: Option<String>,
    /// How the model reads a prompt (WIT 0.3.0 `model-info.prompt-style`).
    #[serde(default)]
    pub prompt_style: PromptStyle,
    /// JSON Schema of the provider parameters (`params`) the model accepts
    /// (WIT 0.2.0 `model-info.parameters`); `None`: nothing declared, every
    /// param passes through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub parameters: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretNeed {
    pub name: String,
    pub description: String,
    pub required: bool,
}

/// Most models one provider may list (ComfyUI with every checkpoint of a
/// large install stays far below).
pub const MAX_MODELS: usize = 2000;

/// Largest description, as JSON bytes.
pub const MAX_DESCRIBE_BYTES: usize = 1 << 20;

/// Longest id, name, alias or version, characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Longest description or prompt notes, characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Most `*` in one model pattern.
pub const MAX_PATTERN_STARS: usize = 8;

/// A provider's capability discovery result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub id: String,
    pub display_name: String,
    pub version: String,
    pub description: String,
    pub models: Vec<ModelInfo>,
    pub default_model: String,
    pub secrets: Vec<SecretNeed>,
    pub hosts: Vec<String>,
}

impl ModelInfo {
    /// The ControlNet guide kinds the model takes (`canny`, `depth`, …):
    /// the `enum` of a `control_type` property in its `parameters`, the
    /// convention by which a plugin declares control images (the caller's
    /// `control_type` reaches it as `params.control_type`). Empty: it takes
    /// no control images.
    pub fn control_types(&self) -> Vec<String> {
        let declared =
            self.parameters.as_ref().and_then(|schema| schema["properties"]["control_type"]["enum"].as_array());
        declared.map(|kinds| kinds.iter().filter_map(|k| k.as_str().map(String::from)).collect()).unwrap_or_default()
    }
}

impl ProviderInfo {
    /// What makes this description unusable, one sentence each (empty when
    /// it is consistent): a model without an id, a model id listed twice, a
    /// smallest side above the largest, or a default model that no entry
    /// matches. The registry refuses a plugin whose `describe` has any, so
    /// a lying plugin is reported unavailable instead of failing later.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.over_limits();
        if !problems.is_empty() {
            return problems;
        }
        let mut seen = std::collections::HashSet::new();
        for model in &self.models {
            if model.id.trim().is_empty() {
                problems.push("a model has an empty id".to_string());
            } else if !seen.insert(model.id.to_ascii_lowercase()) {
                problems.push(format!("model `{}` is listed twice", model.id));
            }
            if model.min_side > model.max_side {
                problems.push(format!(
                    "model `{}` has min_side {} above max_side {}",
                    model.id, model.min_side, model.max_side
                ));
            }
        }
        for model in &self.models {
            if let Some(Err(why)) = model.parameters.as_ref().map(parameters_validator) {
                problems
                    .push(format!("model `{}` declares parameters that are not a usable JSON Schema: {why}", model.id));
            }
        }
        if !self.models.is_empty() && self.find_model(&self.default_model).is_none() {
            problems.push(format!("default model `{}` is not among its models", self.default_model));
        }
        problems
    }

    /// What in this description is over the host's limits (see
    /// [`MAX_MODELS`] and its neighbours), one sentence each. Checked before
    /// anything else, so a huge or adversarial `describe` is refused whole.
    fn over_limits(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.models.len() > MAX_MODELS {
            problems.push(format!("it lists {} models, over the limit of {MAX_MODELS}", self.models.len()));
        }
        let size = serde_json::to_vec(self).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_DESCRIBE_BYTES {
            problems.push(format!(
                "its description is {} KiB, over the limit of {} KiB",
                size >> 10,
                MAX_DESCRIBE_BYTES >> 10
            ));
        }
        if !problems.is_empty() {
            return problems;
        }
        fn long(problems: &mut Vec<String>, what: &str, text: &str, max: usize) {
            if text.chars().count() > max {
                problems.push(format!("{what} is longer than {max} characters"));
            }
        }
        for (what, text) in
            [("display_name", &self.display_name), ("version", &self.version), ("default_model", &self.default_model)]
        {
            long(&mut problems, what, text, MAX_NAME_CHARS);
        }
        long(&mut problems, "description", &self.description, MAX_TEXT_CHARS);
        if self.display_name.chars().chain(self.description.chars()).chain(self.id.chars()).any(char::is_control) {
            problems.push("its id, name or description has control characters".to_string());
        }
        for model in &self.models {
            let name: String = model.id.chars().take(MAX_NAME_CHARS).collect();
            long(&mut problems, &format!("model id `{name}…`"), &model.id, MAX_NAME_CHARS);
            long(&mut problems, &format!("display_name of model `{name}`"), &model.display_name, MAX_NAME_CHARS);
            long(
                &mut problems,
                &format!("prompt_notes of model `{name}`"),
                model.prompt_notes.as_deref().unwrap_or(""),
                MAX_TEXT_CHARS,
            );
            for alias in &model.aliases {
                long(&mut problems, &format!("an alias of model `{name}`"), alias, MAX_NAME_CHARS);
            }
            let stars = model.id.matches('*').count();
            if stars > MAX_PATTERN_STARS {
                problems.push(format!("model pattern `{name}` has {stars} `*`, over the limit of {MAX_PATTERN_STARS}"));
            }
            let notes = model.prompt_notes.as_deref().unwrap_or("").chars().filter(|c| *c != '\n');
            if model.id.chars().chain(model.display_name.chars()).chain(notes).any(char::is_control) {
                problems.push(format!(
                    "model `{}` has control characters in its id, name or notes",
                    model.id.escape_debug()
                ));
            }
        }
        problems
    }

    /// A model by id or alias (case-insensitive), else the first model whose
    /// id is a pattern (`*` = any run of characters except `/`) that `name`
    /// matches — returned with the caller's id, so that e.g. a Replicate
    /// `*/*` entry passes any `owner/name` through with its capabilities.
    pub fn find_model(&self, name: &str) -> Option<std::borrow::Cow<'_, ModelInfo>> {
        let exact = self.models.iter().find(|m| m.id.eq_ignore_ascii_case(name) && !m.id.contains('*'));
        let alias = || self.models.iter().find(|m| m.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)));
        if let Some(model) = exact.or_else(alias) {
            return Some(std::borrow::Cow::Borrowed(model));
        }
        let pattern = self.models.iter().find(|m| m.id.contains('*') && glob_matches(&m.id, name))?;
        Some(std::borrow::Cow::Owned(ModelInfo { id: name.to_string(), aliases: Vec::new(), ..pattern.clone() }))
    }
}

/// A validator for a model's `parameters` schema: JSON Schema draft
/// 2020-12, `pattern`s run by the linear-time `regex` engine (at most 1 MiB
/// compiled, so a plugin's pattern can neither backtrack nor balloon), no
/// remote `$ref`s (this build of `jsonschema` cannot fetch any).
///
/// Errors: the schema is not an object or boolean, or does not compile
/// (the reason, as `jsonschema` gives it).
pub fn parameters_validator(schema: &serde_json::Value) -> Result<jsonschema::Validator, String> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err("it is not a JSON object".into());
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(1 << 20))
        .build(schema)
        .map_err(|e| e.to_string())
}

/// `*` matches any run of characters other than `/`; the rest literally
/// (ASCII case-insensitive). Linear in practice and O(pattern × text) at
/// worst — never exponential — however many stars a plugin's `describe`
/// puts in a pattern: each `/`-separated segment is matched with the
/// classic greedy wildcard scan that backtracks only to the last star.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let (patterns, texts): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), text.split('/').collect());
    patterns.len() == texts.len()
        && patterns.iter().zip(&texts).all(|(p, t)| segment_matches(p.as_bytes(), t.as_bytes()))
}

fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last star was, and the text position it is currently eating up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            star = Some((star_p, star_t + 1));
            p = star_p + 1;
            t = star_t + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn model_patterns_match_within_path_segments() {
        assert!(glob_matches("*/*", "black-forest-labs/flux-pro"));
        assert!(glob_matches("*/*:*", "owner/name:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"));
        assert!(glob_matches("fal-ai/*", "fal-ai/recraft-v3"));
        assert!(glob_matches("FAL-AI/*-v*", "fal-ai/recraft-v3"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXbY"));
        assert!(!glob_matches("*/*", "a/b/c"));
        assert!(!glob_matches("fal-ai/*", "other/x"));
        assert!(!glob_matches("*/*", "no-slash"));
        assert!(!glob_matches("*", ""));
    }

    #[test]
    fn a_parameters_declaration_that_is_not_a_schema_makes_the_description_unusable() {
        let mut info = crate::fuzz_targets::placeholder_provider();
        assert!(info.problems().is_empty(), "{:?}", info.problems());
        for bad in
            [serde_json::json!({"type": 7}), serde_json::json!("text"), serde_json::json!({"pattern": "(unclosed"})]
        {
            info.models[0].parameters = Some(bad.clone());
            assert!(
                info.problems().iter().any(|p| p.contains("not a usable JSON Schema")),
                "{bad}: {:?}",
                info.problems()
            );
        }
    }

    #[test]
    fn a_pattern_built_for_backtracking_is_matched_in_linear_time() {
        // 24 stars against 4000 characters: the old recursive matcher never
        // finished (8 stars took 52 s); this one answers at once. Run on a
        // thread so a regression fails the test instead of hanging it.
        let pattern = format!("{}b", "*a".repeat(24));
        let text = "a".repeat(4000);
        let (done, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(glob_matches(&pattern, &text)).unwrap());
        let matched = answer
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the matcher must not backtrack exponentially");
        assert!(!matched);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageRole {
    Reference,
    Mask,
    Control,
}

/// An input image, already resolved to bytes by the host.
#[derive(Debug, Clone)]
pub struct InputImage {
    pub role: ImageRole,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// A validated request for one plugin call.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub operation: Operation,
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub size: Option<Dimensions>,
    pub aspect_ratio: Option<String>,
    pub size_tier: Option<String>,
    pub count: u32,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    pub strength: Option<f32>,
    pub images: Vec<InputImage>,
    /// The caller's provider-native `params`, as JSON object text (WIT `extra`).
    pub extra: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ImageData {
    Inline {
        mime_type: String,
        data: Vec<u8>,
    },
    /// To download through the plugin's egress policy.
    Remote {
        url: String,
        headers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone)]
pub struct ImageOutput {
    pub data: ImageData,
    pub seed: Option<u64>,
    pub revised_prompt: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Submission {
    Done(Vec<ImageOutput>),
    Pending(String),
}

#[derive(Debug, Clone)]
pub enum JobState {
    Queued(Option<u32>),
    Running { fraction: Option<f32>, message: Option<String> },
    Done(Vec<ImageOutput>),
    Failed(ProviderError),
}

/// A provider's refusal or failure, shown to users and models as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    InvalidRequest { field: Option<String>, message: String },
    Unsupported { message: String },
    Unauthorized { message: String },
    ContentBlocked { message: String },
    RateLimited { retry_after_ms: Option<u64>, message: String },
    Upstream { status: u16, message: String },
    Timeout { message: String },
    Unavailable { message: String },
    Internal { message: String },
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::InvalidRequest { field: Some(field), message } => write!(f, "invalid `{field}`: {message}"),
            ProviderError::InvalidRequest { field: None, message } => write!(f, "invalid request: {message}"),
            ProviderError::Unsupported { message } => write!(f, "unsupported: {message}"),
            ProviderError::Unauthorized { message } => write!(f, "unauthorized: {message}"),
            ProviderError::ContentBlocked { message } => {
                write!(f, "blocked by the provider's safety system: {message}")
            }
            ProviderError::RateLimited { retry_after_ms: Some(ms), message } => {
                write!(f, "rate limited (retry after {:.1} s): {message}", *ms as f64 / 1000.0)
            }
            ProviderError::RateLimited { retry_after_ms: None, message } => write!(f, "rate limited: {message}"),
            ProviderError::Upstream { status: 0, message } => write!(f, "provider error: {message}"),
            ProviderError::Upstream { status, message } => write!(f, "provider error (HTTP {status}): {message}"),
            ProviderError::Timeout { message } => write!(f, "timed out: {message}"),
            ProviderError::Unavailable { message } => write!(f, "unavailable: {message}"),
            ProviderError::Internal { message } => write!(f, "plugin error: {message}"),
        }
    }
}
