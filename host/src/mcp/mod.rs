//! The rmcp server: tools (`tools`), resources (`image://{id}`,
//! `image://{id}/metadata`), prompts, logging and completion, served over
//! stdio (Claude Desktop) or streamable HTTP (`http`).

mod assets;
pub mod http;
mod prompts;
pub mod results;
pub(crate) mod tools;

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
    /// `http://host:port` when served over HTTP: results then carry `/i/` URLs.
    base_url: Option<String>,
    tool_router: ToolRouter<EaselServer>,
}

impl EaselServer {
    pub fn new(jobs: Arc<Jobs>, preview: PreviewSettings, wait_secs: u64) -> EaselServer {
        EaselServer { jobs, preview, wait_secs, base_url: None, tool_router: Self::tool_router() + Self::asset_router() }
    }

    /// Results will carry `{base_url}/i/{id}.{ext}` links.
    pub fn with_base_url(mut self, base_url: String) -> EaselServer {
        self.base_url = Some(base_url);
        self
    }

    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    /// Add `url` to an image's JSON facts when served over HTTP.
    fn with_url(&self, mut facts: serde_json::Value) -> serde_json::Value {
        if let (Some(base), Some(id), Some(mime)) = (&self.base_url, facts["id"].as_str(), facts["mime_type"].as_str()) {
            facts["url"] = serde_json::Value::String(format!("{base}/i/{id}.{}", crate::store::extension(mime)));
        }
        facts
    }

    fn images_result(&self, images: &[crate::store::StoredImage], job: &crate::jobs::JobRecord) -> CallToolResult {
        let mut result = results::images_result(images, job, self.preview);
        if let Some(list) = result.structured_content.as_mut().and_then(|s| s["images"].as_array_mut()) {
            for image in list.iter_mut() {
                *image = self.with_url(image.take());
            }
        }
        result
    }

    /// Serve MCP on stdin/stdout until the client disconnects.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let service = self.serve(rmcp::transport::stdio()).await?;
        service.waiting().await?;
        Ok(())
    }

    fn read_image(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let rest = uri.strip_prefix("image://").ok_or_else(|| not_found(uri))?;
        if rest == "list" || rest.starts_with("list?") {
            return self.read_list(uri, rest.split_once('?').map(|(_, q)| q).unwrap_or(""));
        }
        let (id, view) = rest.split_once('/').unwrap_or((rest, ""));
        let store = self.jobs.store();
        if view == "view" || view.starts_with("view?") {
            let query = view.split_once('?').map(|(_, q)| q).unwrap_or("");
            let spec = crate::store::views::ViewSpec::from_query(query).map_err(|e| ErrorData::invalid_params(format!("{e:#}"), None))?;
            store.metadata(id).map_err(|_| not_found(uri))?;
            let view = store.view(id, &spec).map_err(|e| ErrorData::invalid_params(format!("{e:#}"), None))?;
            return Ok(ReadResourceResult::new(vec![ResourceContents::BlobResourceContents {
                uri: uri.to_string(),
                mime_type: Some(view.mime_type.to_string()),
                blob: base64::engine::general_purpose::STANDARD.encode(&view.data),
                meta: None,
            }]));
        }
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
                json["lineage"] = serde_json::Value::Array(store.lineage(&stored.sidecar));
                json = self.with_url(json);
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

impl EaselServer {
    /// `image://list?cursor=N&provider=…&model=…&text=…`: a page of the gallery as JSON.
    fn read_list(&self, uri: &str, query: &str) -> Result<ReadResourceResult, ErrorData> {
        let mut filter = crate::store::gallery::Filter::default();
        let mut cursor = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = Some(value.into_owned());
            match key.as_ref() {
                "cursor" => cursor = value,
                "provider" => filter.provider = value,
                "model" => filter.model = value,
                "text" => filter.text = value,
                "origin" => filter.origin = value,
                other => return Err(ErrorData::invalid_params(format!("unknown parameter `{other}` (cursor, provider, model, text, origin)"), None)),
            }
        }
        let all = self.jobs.store().list().map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let (items, next) = crate::store::gallery::page(all, &filter, cursor.as_deref(), 50).map_err(|e| ErrorData::invalid_params(e, None))?;
        let images: Vec<serde_json::Value> = items
            .iter()
            .map(|s| self.with_url(serde_json::json!({"id": s.id, "uri": format!("image://{}", s.id), "prompt": s.prompt, "width": s.width, "height": s.height, "mime_type": s.mime_type, "created_at": s.created_at})))
            .collect();
        let next_uri = next.map(|c| format!("image://list?cursor={c}"));
        Ok(ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
            uri: uri.to_string(),
            mime_type: Some("application/json".into()),
            text: serde_json::to_string_pretty(&serde_json::json!({"images": images, "next": next_uri})).unwrap_or_default(),
            meta: None,
        }]))
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
        let gallery = Resource::new("image://list", "image-list")
            .with_title("Gallery")
            .with_description("All stored images, newest first, paginated")
            .with_mime_type("application/json");
        let resources = std::iter::once(gallery).chain(images
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
            }))
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
            ResourceTemplate::new("image://{id}/view{?width,height,format,quality,crop_x,crop_y,crop_w,crop_h,rotate,flip}", "image-view")
                .with_title("Image view")
                .with_description("A stored image resized (fit inside width/height), cropped, rotated (90/180/270), flipped (h/v) or re-encoded (png, jpeg, webp, gif)"),
            ResourceTemplate::new("image://list{?cursor,provider,model,text,origin}", "image-list")
                .with_title("Gallery")
                .with_description("Stored images, newest first, 50 per page; `next` gives the following page")
                .with_mime_type("application/json"),
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
