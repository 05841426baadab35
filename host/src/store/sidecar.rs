//! The JSON sidecar stored beside each image: what made it and from what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an image entered the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Made by a provider from a prompt.
    Generated,
    /// Made by a provider from input images (edit, inpaint, variation).
    Edited,
    /// Brought in by a user (path, URL, data URI).
    Imported,
}

/// `<id>.json`. Unknown fields are kept out; missing ones default, so older
/// sidecars stay readable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sidecar {
    pub id: String,
    pub sha256: String,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    /// File size in bytes.
    pub bytes: u64,
    pub origin: Origin,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// The request's parameters as JSON (size, count, seed, steps, …).
    #[serde(default)]
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Seed the provider reported using.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub revised_prompt: Option<String>,
    /// Ids of the input images (lineage).
    #[serde(default)]
    pub parents: Vec<String>,
    /// Estimated cost of this image in USD, when the provider prices it.
    #[serde(default)]
    pub cost_estimate_usd: Option<f64>,
    /// Who asked (MCP client name, `cli`).
    #[serde(default)]
    pub caller: Option<String>,
    /// Generation job that produced it.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Where an imported image came from (URL without query, or file path).
    #[serde(default)]
    pub source: Option<String>,
}

impl Sidecar {
    /// A sidecar with the provenance fields empty; [`super::Store::put`] fills
    /// in id, hash, format and size.
    pub fn new(origin: Origin, prompt: &str) -> Sidecar {
        Sidecar {
            id: String::new(),
            sha256: String::new(),
            mime_type: String::new(),
            width: 0,
            height: 0,
            bytes: 0,
            origin,
            created_at: Utc::now(),
            prompt: (!prompt.is_empty()).then(|| prompt.to_string()),
            negative_prompt: None,
            parameters: serde_json::Value::Null,
            provider: None,
            model: None,
            seed: None,
            revised_prompt: None,
            parents: Vec::new(),
            cost_estimate_usd: None,
            caller: None,
            job_id: None,
            source: None,
        }
    }
}
