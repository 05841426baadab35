//! The host's own view of the WIT types (`wit/v0.1.0`): serde shapes used by
//! every room above the runtime, independent of the WIT version a plugin
//! was built against. `runtime::convert` maps between them.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Generate,
    Edit,
    Inpaint,
    Upscale,
    Variation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Current,
    Legacy,
    Deprecated,
    Retired,
}

/// Optional parameters a model honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// One model's capabilities, as its plugin's `describe` reported them.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretNeed {
    pub name: String,
    pub description: String,
    pub required: bool,
}

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

impl ProviderInfo {
    /// What makes this description unusable, one sentence each (empty when
    /// it is consistent): a model without an id, a model id listed twice, a
    /// smallest side above the largest, or a default model that no entry
    /// matches. The registry refuses a plugin whose `describe` has any, so
    /// a lying plugin is reported unavailable instead of failing later.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for model in &self.models {
            if model.id.trim().is_empty() {
                problems.push("a model has an empty id".to_string());
            } else if !seen.insert(model.id.to_ascii_lowercase()) {
                problems.push(format!("model `{}` is listed twice", model.id));
            }
            if model.min_side > model.max_side {
                problems.push(format!("model `{}` has min_side {} above max_side {}", model.id, model.min_side, model.max_side));
            }
        }
        if !self.models.is_empty() && self.find_model(&self.default_model).is_none() {
            problems.push(format!("default model `{}` is not among its models", self.default_model));
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

/// `*` matches any run of characters other than `/`; the rest literally
/// (ASCII case-insensitive).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).take_while(|&i| i == 0 || t[i - 1] != b'/').any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    !text.is_empty() && go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn model_patterns_match_within_path_segments() {
        assert!(glob_matches("*/*", "black-forest-labs/flux-pro"));
        assert!(glob_matches("*/*:*", "owner/name:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"));
        assert!(glob_matches("fal-ai/*", "fal-ai/recraft-v3"));
        assert!(!glob_matches("*/*", "a/b/c"));
        assert!(!glob_matches("fal-ai/*", "other/x"));
        assert!(!glob_matches("*/*", "no-slash"));
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
    /// JSON object text.
    pub extra: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ImageData {
    Inline { mime_type: String, data: Vec<u8> },
    /// To download through the plugin's egress policy.
    Remote { url: String, headers: Vec<(String, String)> },
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
            ProviderError::ContentBlocked { message } => write!(f, "blocked by the provider's safety system: {message}"),
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
