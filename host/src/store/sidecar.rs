//! The JSON sidecar stored beside each image: what made it and from what.

use crate::request::Recipe;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an image entered the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The request that made it (typed and versioned, see [`Recipe`]);
    /// `None` for imported images. Stored under the key `parameters`; a
    /// recipe that does not parse is read as `None` rather than making the
    /// whole sidecar unreadable.
    #[serde(
        default,
        rename = "parameters",
        deserialize_with = "lenient_recipe",
        skip_serializing_if = "Option::is_none"
    )]
    pub recipe: Option<Recipe>,
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
    /// Whose image it is: the signed-in user (an email, `token`, or `local`),
    /// as the cost ledger names them; `None` for imports and older images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Generation job that produced it.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Where an imported image came from (URL without query, or file path).
    #[serde(default)]
    pub source: Option<String>,
}

impl Sidecar {
    /// Why this sidecar, read from `<file_id>.json`, cannot be trusted, or
    /// `None` when it can: its `id` must be its file name, its `sha256` 64
    /// lower-case hex digits starting with that id, and its `mime_type` one
    /// the store keeps. Nothing else in a sidecar ever names a file.
    pub fn problem(&self, file_id: &str) -> Option<String> {
        if self.id != file_id {
            return Some(format!("its id field says {} but its file is {file_id}.json", quoted(&self.id)));
        }
        let hex =
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex || !self.sha256.starts_with(file_id) {
            return Some(format!(
                "its sha256 field {} is not the 64-digit hash its id {file_id} comes from",
                quoted(&self.sha256)
            ));
        }
        if !super::ACCEPTED_MIME.contains(&self.mime_type.as_str()) {
            return Some(format!(
                "its mime_type {} is not one the store keeps (PNG, JPEG, WebP, GIF)",
                quoted(&self.mime_type)
            ));
        }
        None
    }

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
            recipe: None,
            provider: None,
            model: None,
            seed: None,
            revised_prompt: None,
            parents: Vec::new(),
            cost_estimate_usd: None,
            caller: None,
            user: None,
            job_id: None,
            source: None,
        }
    }
}

fn lenient_recipe<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Recipe>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// `text` for an error message: quoted, escaped, at most 40 characters.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    let more = if text.chars().count() > 40 { "…" } else { "" };
    format!("\"{}{more}\"", short.escape_debug())
}
