//! The rmcp server: tools (`tools`), resources (`image://{id}`,
//! `image://{id}/metadata`), prompts, logging and completion, served over
//! stdio (Claude Desktop) or streamable HTTP (`http`).

mod access;
mod arguments;
mod assets;
pub mod http;
mod listener;
mod listing;
pub mod outputs;
mod pipelines;
mod prompts;
mod resources;
pub mod results;
pub mod sessions;
mod spend;
pub mod stdio;
mod styles;
mod surface;
mod tasks;
pub(crate) mod tools;
mod usage;
pub(crate) use arguments::fits;

use crate::app::App;
use crate::config::PreviewSettings;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use std::sync::Arc;

/// Who sent the request behind `context`: the [`Caller`](crate::auth::Caller)
/// the HTTP layer found (`crate::mcp::http`), or the local user over stdio.
pub(crate) fn caller_of(context: &RequestContext<RoleServer>) -> crate::auth::Caller {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::auth::Caller>().cloned())
        .unwrap_or_else(crate::auth::Caller::local)
}

/// Who asks for a job: recorded as the MCP client's name, with the
/// signed-in user (`name (alice@example.org)`) when there is one; the
/// ledger's user is that user (or `local`).
pub(crate) fn requester(context: &RequestContext<RoleServer>) -> crate::jobs::Requester {
    let client = context.peer.peer_info().map(|info| info.client_info.name.clone());
    let caller = caller_of(context);
    let label = match (client, caller.subject.as_str()) {
        (client, "local") => client,
        (Some(client), _) => Some(format!("{client} ({})", caller.label())),
        (None, _) => Some(caller.label()),
    };
    crate::jobs::Requester { label, user: caller.label() }
}

/// Images listed by `resources/list` (newest first).
const RESOURCE_LIST_LIMIT: usize = 50;

/// One MCP server instance (cheap to clone: one per HTTP session).
#[derive(Clone)]
pub struct EaselServer {
    app: Arc<App>,
    preview: PreviewSettings,
    wait_secs: u64,
    /// `http://host:port` when served over HTTP: results then carry `/i/` URLs.
    base_url: Option<String>,
    /// Signs those URLs when the HTTP server requires authentication.
    links: Option<Arc<crate::auth::links::LinkSigner>>,
    tool_router: ToolRouter<EaselServer>,
    /// The `#[prompt]` methods in `prompts`.
    prompt_router: PromptRouter<EaselServer>,
    /// `[server] read_only`: only tools annotated `readOnlyHint` are routed, and no prompts.
    read_only: bool,
}

impl EaselServer {
    /// A server for `app`, with the deployment's preview settings and
    /// default bounded wait.
    pub fn new(app: Arc<App>) -> EaselServer {
        let (preview, wait_secs) = (app.deployment.preview, app.deployment.defaults.wait_secs);
        let mut tool_router = Self::tool_router()
            + Self::asset_router()
            + Self::style_router()
            + Self::pipeline_router()
            + Self::usage_router();
        let read_only = app.deployment.server.read_only;
        let mut prompt_router = Self::prompt_router();
        if read_only {
            // Hidden from tools/list and refused by tools/call alike.
            tool_router
                .map
                .retain(|_, route| route.attr.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true));
            prompt_router.map.clear();
        }
        // After the read-only cut, so no tool refers to one that is hidden.
        listing::compact_tools(tool_router.map.values_mut().map(|route| &mut route.attr));
        EaselServer { app, preview, wait_secs, base_url: None, links: None, tool_router, prompt_router, read_only }
    }

    /// Results will carry `{base_url}/i/{id}.{ext}` links.
    pub fn with_base_url(mut self, base_url: String) -> EaselServer {
        self.base_url = Some(base_url);
        self
    }

    /// The application this server serves (store, registry, jobs).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Results' `/i/` links will be signed by `links` ([`crate::auth::links`]).
    pub fn with_links(mut self, links: Arc<crate::auth::links::LinkSigner>) -> EaselServer {
        self.links = Some(links);
        self
    }

    /// `{base}/i/{id}.{ext}` when served over HTTP.
    fn image_url(&self, id: &str, mime_type: &str) -> Option<String> {
        self.view_url(id, mime_type, "")
    }

    /// `{base}/i/{id}.{ext}?{view}` when served over HTTP, signed to expire
    /// when the server requires authentication.
    fn view_url(&self, id: &str, mime_type: &str, view: &str) -> Option<String> {
        let base = self.base_url.as_ref()?;
        let path = format!("/i/{id}.{}", crate::store::extension(mime_type));
        Some(match &self.links {
            Some(links) => format!("{base}{}", links.sign(&path, view, crate::auth::links::now())),
            None if view.is_empty() => format!("{base}{path}"),
            None => format!("{base}{path}?{view}"),
        })
    }

    /// Add `url` to an image's JSON facts when served over HTTP.
    fn with_url(&self, mut facts: serde_json::Value) -> serde_json::Value {
        if let (Some(id), Some(mime)) = (facts["id"].as_str(), facts["mime_type"].as_str())
            && let Some(url) = self.image_url(id, mime)
        {
            facts["url"] = serde_json::Value::String(url);
        }
        facts
    }

    async fn images_result(
        &self,
        images: &[crate::store::StoredImage],
        job: &crate::jobs::JobRecord,
    ) -> CallToolResult {
        let mut result = results::images_result(self.app.store(), images, job).await;
        if let Some(list) = result.structured_content.as_mut().and_then(|s| s["images"].as_array_mut()) {
            for image in list.iter_mut() {
                *image = self.with_url(image.take());
            }
        }
        result
    }

    /// Serve MCP on stdin/stdout until the client disconnects (framing and
    /// the line limit: [`stdio`]).
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let (input, output) = rmcp::transport::stdio();
        stdio::serve(self, input, output).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EaselServer {
    #[allow(deprecated)] // enable_logging: see set_level
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_prompts()
            .enable_logging()
            .enable_completions()
            .enable_tasks()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("easel", env!("CARGO_PKG_VERSION")).with_title("Easel image generation"),
            )
            .with_instructions(if self.read_only {
                "Easel is serving read-only: list_images and show_image browse the stored images, list_providers and \
                 list_models show what is configured, get_generation_status follows a job. Nothing can be generated, \
                 changed or deleted here."
            } else {
                "Easel generates and edits images. Call generate_image with a prompt; it returns image ids, previews, \
                 image:// links and file paths. To change an image, call edit_image with its id. list_providers shows \
                 which providers and models are available and what they cost. If a call returns a job_id, poll \
                 get_generation_status."
            })
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cache_hints = context.protocol_version().is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools: self.tools_now(),
            meta: None,
            next_cursor: None,
            // The list follows the deployment (a reload may change it): never cached.
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(CacheScope::Public),
        })
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        self.forward_surface_changes(context.peer.clone());
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let images = self.app.store().list().map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let gallery = Resource::new("image://list", "image-list")
            .with_title("Gallery")
            .with_description("All stored images, newest first, paginated")
            .with_mime_type("application/json");
        let styles = Resource::new("style://list", "style-list")
            .with_title("Styles")
            .with_description("Saved styles (save_style): names, briefs, defaults")
            .with_mime_type("application/json");
        let resources = [gallery, styles]
            .into_iter()
            .chain(images.into_iter().take(RESOURCE_LIST_LIMIT).map(|s| {
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
                .with_description("Stored images, newest first, 50 per page; pass `next_cursor` as `cursor` (with the same filters) for the following page")
                .with_mime_type("application/json"),
            ResourceTemplate::new("image://{id}/metadata", "image-metadata")
                .with_title("Image metadata")
                .with_description("Prompt, parameters, provider, model, seed, lineage (parents) and file path of a stored image")
                .with_mime_type("application/json"),
            ResourceTemplate::new("style://{name}", "style")
                .with_title("Style")
                .with_description("A saved style's brief and defaults (markdown)")
                .with_mime_type("text/markdown"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri.starts_with("style://") {
            return self.read_style(&request.uri).map(Into::into);
        }
        self.read_image(&request.uri).await.map(Into::into)
    }

    /// Arguments are checked first (`arguments`), so a wrong type names its
    /// field as a tool error; every tool error's text is bounded
    /// (`results::bounded_error`).
    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.read_only && !self.tool_router.map.contains_key(request.name.as_ref()) {
            let mut offered: Vec<&str> = self.tool_router.map.keys().map(|k| k.as_ref()).collect();
            offered.sort_unstable();
            return Err(ErrorData::invalid_params(
                format!(
                    "`{}` is not offered: this easel serves read-only ([server] read_only or --read-only); its tools are {}",
                    request.name,
                    offered.join(", ")
                ),
                None,
            ));
        }
        if let Some(why) = caller_of(&context).refused {
            let refusal = crate::field_error::FieldError::other(format!("`{}` is not allowed: {why}", request.name));
            return Ok(results::error_result(&refusal).into());
        }
        let arguments = serde_json::Value::Object(request.arguments.take().unwrap_or_default());
        let checked = arguments::check(&request.name, &arguments);
        let serde_json::Value::Object(arguments) = arguments else { unreachable!("built as an object above") };
        request.arguments = Some(arguments);
        if let Err(error) = checked {
            return Ok(results::bounded_error(results::error_result(&error)).into());
        }
        let context = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        Ok(match self.tool_router.call(context).await.map_err(results::bounded_error_data)? {
            CallToolResponse::Complete(result) => CallToolResponse::Complete(results::bounded_error(result)),
            other => other,
        })
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(self.task_state(&request.task_id).await?))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.cancel_task_job(&request.task_id).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.update_task_job(&request.task_id)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(self.prompt_router.list_all()))
    }

    /// Through the prompt router, after `prompts::get` has named a missing
    /// argument or an unknown prompt (rmcp's own `#[prompt_handler]` would
    /// answer those with serde's and its own wording, unbounded).
    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(self, request, context).await.map_err(results::bounded_error_data)
    }

    // Logging is deprecated by SEP-2577 but 2025-11-25 clients still send it.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tracing::debug!("client asked for log level {:?}", request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let providers: Vec<String> = self.app.registry().providers().iter().map(|p| p.id.clone()).collect();
        Ok(prompts::complete(&request, &providers))
    }
}
