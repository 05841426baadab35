//! Styles on the MCP surface: `save_style` and `delete_style` (tools), and
//! `style://list` and `style://{name}` (resources); the styles themselves
//! and how one is applied are [`crate::styles`]'s.

use super::EaselServer;
use super::outputs::{output_schema, to_json};
use super::results::{error_result, json_result};
use crate::styles::{Style, StyleBook};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ReadResourceResult, ResourceContents};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `delete_style`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteStyleArgs {
    /// The style's name.
    pub name: String,
}

/// What `save_style` and `delete_style` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StyleOutput {
    pub name: String,
    /// `saved`, `replaced`, `deleted` or `absent`.
    pub status: String,
}

impl EaselServer {
    fn styles(&self) -> StyleBook {
        StyleBook::new(self.app.store().root())
    }

    /// `resources/read` of `style://list` (JSON: every style) or
    /// `style://{name}` (markdown: the brief, then the defaults).
    pub(super) fn read_style(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let not_found =
            || ErrorData::resource_not_found(format!("no resource {uri}; style://list lists the styles"), None);
        let name = uri.strip_prefix("style://").ok_or_else(not_found)?;
        if name == "list" {
            let text = serde_json::to_string_pretty(&serde_json::json!({ "styles": self.styles().list() }))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("application/json"),
            ]));
        }
        let style = self.styles().get(name).ok_or_else(not_found)?;
        let mut text = format!("# {}\n\n{}\n", style.name, style.brief);
        for (key, value) in [
            ("aspect_ratio", &style.aspect_ratio),
            ("provider", &style.provider),
            ("model", &style.model),
            ("negative_prompt", &style.negative_prompt),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("\n- {key}: {value}"));
            }
        }
        if let Some(structured) = &style.structured_prompt {
            text.push_str(&format!("\n- structured_prompt: {}", serde_json::Value::Object(structured.clone())));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type("text/markdown")]))
    }
}

#[tool_router(router = style_router, vis = "pub(super)")]
impl EaselServer {
    /// Save or replace a named style (brief + defaults) for the `style` argument.
    #[tool(output_schema = output_schema::<StyleOutput>(), annotations(title = "Save style", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false))]
    async fn save_style(&self, Parameters(style): Parameters<Style>) -> Result<CallToolResult, ErrorData> {
        let name = style.name.clone();
        Ok(match self.styles().save(style) {
            Ok(replaced) => {
                let status = if replaced { "replaced" } else { "saved" };
                json_result(
                    format!("style `{name}` {status}; style://{name}"),
                    to_json(&StyleOutput { name, status: status.into() }),
                )
            }
            Err(error) => error_result(&error),
        })
    }

    /// Delete a saved style.
    #[tool(output_schema = output_schema::<StyleOutput>(), annotations(title = "Delete style", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn delete_style(&self, Parameters(args): Parameters<DeleteStyleArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.styles().delete(&args.name) {
            Ok(found) => {
                let status = if found { "deleted" } else { "absent" };
                let text = if found {
                    format!("style `{}` deleted", args.name)
                } else {
                    format!("no style `{}` was saved", args.name)
                };
                json_result(text, to_json(&StyleOutput { name: args.name, status: status.into() }))
            }
            Err(error) => error_result(&error),
        })
    }
}
