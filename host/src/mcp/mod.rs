//! The rmcp server: tools (`tools`), resources (`image://{id}`,
//! `image://{id}/metadata`), prompts, logging and completion, served over
//! stdio (Claude Desktop) or streamable HTTP (`http`).

pub mod http;
mod prompts;
pub mod results;
mod tools;

use crate::config::PreviewSettings;
use crate::jobs::Jobs;
use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{tool_handler, ErrorData, RoleServer, ServerHandler, ServiceExt};
use std::sync::Arc;

/// Images listed by `resources/list` (newest first).
const RESOURCE_LIST_LIMIT: usize = 50;

/// One MCP server instance (cheap to clone: one per HTTP session).
#[derive(Clone)]
pub struct EaselServer {
    jobs: Arc<Jobs>,
    preview: PreviewSettings,
    wait_secs: u64,
    tool_router: ToolRouter<EaselServer>,
}

impl EaselServer {
    pub fn new(jobs: Arc<Jobs>, preview: PreviewSettings, wait_secs: u64) -> EaselServer {
        EaselServer { jobs, preview, wait_secs, tool_router: Self::tool_router() }
    }

    /// Serve MCP on stdin/stdout until the client disconnects.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let service = self.serve(rmcp::transport::stdio()).await?;
        service.waiting().await?;
        Ok(())
    }

    fn read_image(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let rest = uri.strip_prefix("image://").ok_or_else(|| not_found(uri))?;
        let (id, view) = rest.split_once('/').unwrap_or((rest, ""));
        let store = self.jobs.store();
        match view {
            "" => {
                let (sidecar, bytes) = store.read(id).map_err(|_| not_found(uri))?;
                Ok(ReadResourceResult::new(vec![ResourceContents::BlobResourceContents {
                    uri: uri.to_string(),
                    mime_type: Some(sidecar.mime_type),
                    blob: base64::engine::general_purpose::STANDARD.encode(bytes),
                    meta: None,
                }]))
            }
            "metadata" => {
                let stored = store.get(id).map_err(|_| not_found(uri))?;
                let mut json = serde_json::to_value(&stored.sidecar).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                json["path"] = serde_json::Value::String(stored.path.display().to_string());
                Ok(ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
                    uri: uri.to_string(),
                    mime_type: Some("application/json".into()),
                    text: serde_json::to_string_pretty(&json).unwrap_or_default(),
                    meta: None,
                }]))
            }
            _ => Err(not_found(uri)),
        }
    }
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource `{uri}`; images are image://ID and image://ID/metadata with ids from generate_image"),
        None,
    )
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EaselServer {
    #[allow(deprecated)] // enable_logging: see set_level
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_logging()
            .enable_completions()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("easel", env!("CARGO_PKG_VERSION")).with_title("Easel image generation"))
            .with_instructions(
                "Easel generates and edits images. Call generate_image with a prompt; it returns image ids, previews, \
                 image:// links and file paths. To change an image, call edit_image with its id. list_providers shows \
                 which providers and models are available and what they cost. If a call returns a job_id, poll \
                 get_generation_status.",
            )
    }

    async fn list_resources(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListResourcesResult, ErrorData> {
        let images = self.jobs.store().list().map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let resources = images
            .into_iter()
            .take(RESOURCE_LIST_LIMIT)
            .map(|s| {
                let mut resource = Resource::new(format!("image://{}", s.id), s.id.clone())
                    .with_mime_type(s.mime_type.clone())
                    .with_size(s.bytes)
                    .with_title(format!("{}x{} {}", s.width, s.height, s.mime_type));
                if let Some(prompt) = s.prompt {
                    resource = resource.with_description(prompt);
                }
                resource
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("image://{id}", "image")
                .with_title("Stored image")
                .with_description("The original bytes of a stored image (PNG, JPEG, WebP or GIF)"),
            ResourceTemplate::new("image://{id}/metadata", "image-metadata")
                .with_title("Image metadata")
                .with_description("Prompt, parameters, provider, model, seed, lineage (parents) and file path of a stored image")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(&self, request: ReadResourceRequestParams, _context: RequestContext<RoleServer>) -> Result<ReadResourceResponse, ErrorData> {
        self.read_image(&request.uri).map(Into::into)
    }

    async fn list_prompts(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(&self, request: GetPromptRequestParams, _context: RequestContext<RoleServer>) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&request).map(Into::into)
    }

    // Logging is deprecated by SEP-2577 but 2025-11-25 clients still send it.
    #[allow(deprecated)]
    async fn set_level(&self, request: SetLevelRequestParams, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        tracing::debug!("client asked for log level {:?}", request.level);
        Ok(())
    }

    async fn complete(&self, request: CompleteRequestParams, _context: RequestContext<RoleServer>) -> Result<CompleteResult, ErrorData> {
        let providers: Vec<String> = self.jobs.registry().providers().iter().map(|p| p.id.clone()).collect();
        Ok(prompts::complete(&request, &providers))
    }
}
