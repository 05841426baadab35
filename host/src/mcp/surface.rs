//! The part of the MCP surface that follows the deployment: the `provider`
//! field of each tool names the providers configured now, so a reload that
//! adds or removes one changes `tools/list`, and every open session is told
//! with `notifications/tools/list_changed` (MCP "Tools: list changed").

use super::EaselServer;
use rmcp::RoleServer;
use rmcp::model::Tool;
use rmcp::service::Peer;
use std::sync::Arc;

impl EaselServer {
    /// The tools as `tools/list` shows them now: the router's, with each
    /// `provider` field's description listing the enabled providers (the
    /// default first).
    pub(super) fn tools_now(&self) -> Vec<Tool> {
        let registry = self.app.registry();
        let default = registry.default_provider().map(str::to_string);
        let mut ids: Vec<String> = registry.providers().iter().filter(|p| p.enabled()).map(|p| p.id.clone()).collect();
        ids.sort_by_key(|id| Some(id) != default.as_ref());
        let described = match &default {
            Some(default) if !ids.is_empty() => {
                format!("One of {}, or auto to let Easel choose (default {default})", ids.join(", "))
            }
            _ => "Provider id from list_providers".to_string(),
        };
        let mut tools = self.tool_router.list_all();
        for tool in &mut tools {
            // Only where the field is described: `listing` leaves it to
            // generate_image's when that is listed.
            let described_here = tool
                .input_schema
                .get("properties")
                .and_then(|p| p.get("provider"))
                .is_some_and(|field| field.get("description").is_some());
            if !described_here {
                continue;
            }
            let mut schema = (*tool.input_schema).clone();
            if let Some(field) =
                schema.get_mut("properties").and_then(|p| p.get_mut("provider")).and_then(|f| f.as_object_mut())
            {
                field.insert("description".into(), described.clone().into());
            }
            tool.input_schema = Arc::new(schema);
        }
        tools
    }

    /// Forward each reload that changed the providers to `peer` as
    /// `notifications/tools/list_changed`, until the session ends.
    pub(super) fn forward_surface_changes(&self, peer: Peer<RoleServer>) {
        let mut changes = self.app.surface_changes();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                if peer.notify_tool_list_changed().await.is_err() {
                    return; // the session is gone
                }
            }
        });
    }
}
