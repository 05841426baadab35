//! Tools for images as assets: `show_image` (with transforms),
//! `list_images` (the gallery), `vary_image` (re-run with a new seed or
//! overrides) and `delete_image`.

use super::EaselServer;
use super::outputs::{
    DamagedItem, DeleteOutput, GalleryItem, GalleryOutput, ImageFacts, JobOutput, ShowOutput, ViewFacts, output_schema,
    to_json,
};
use super::results::{error_result, json_result, resource_link};
use super::spend::Answers;
use crate::jobs::FieldError;
use crate::request::Settings;
use crate::store::gallery::{self, Filter};
use crate::store::views::ViewSpec;
use base64::Engine as _;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowArgs {
    /// Store id or `image://ID` URI.
    pub image: String,
    /// Fit inside this width, pixels (default: the preview size).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub width: Option<u32>,
    /// Fit inside this height, pixels.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub height: Option<u32>,
    /// png, jpeg, webp or gif.
    #[serde(default)]
    #[schemars(with = "String")]
    pub format: Option<String>,
    /// JPEG quality 1–100.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub quality: Option<u32>,
    /// Crop rectangle in pixels of the original: x, y, width, height.
    #[serde(default)]
    #[schemars(with = "Vec<u32>")]
    pub crop: Option<Vec<u32>>,
    /// 90, 180 or 270 degrees clockwise.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub rotate: Option<u32>,
    /// `h` (mirror) or `v` (upside down).
    #[serde(default)]
    #[schemars(with = "String")]
    pub flip: Option<String>,
    /// Return full resolution if it fits the byte budget (default false).
    #[serde(default)]
    pub full_resolution: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListImagesArgs {
    /// Only images from this provider.
    #[serde(default)]
    #[schemars(with = "String")]
    pub provider: Option<String>,
    /// Only images from this model.
    #[serde(default)]
    #[schemars(with = "String")]
    pub model: Option<String>,
    /// generated, edited or imported.
    #[serde(default)]
    #[schemars(with = "String")]
    pub origin: Option<String>,
    /// Words that must appear in the prompt.
    #[serde(default)]
    #[schemars(with = "String")]
    pub text: Option<String>,
    /// Made on or after this date (2026-11-21 or RFC 3339).
    #[serde(default)]
    #[schemars(with = "String")]
    pub since: Option<String>,
    /// Made before this date.
    #[serde(default)]
    #[schemars(with = "String")]
    pub until: Option<String>,
    /// Page size, 1–100 (default 20).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default)]
    #[schemars(with = "String")]
    pub cursor: Option<String>,
}

/// `vary_image`'s arguments: the image, and overrides of the request that
/// made it (the shared [`Settings`], flattened).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaryArgs {
    /// The image to vary (store id or image:// URI).
    pub image: String,
    /// Replace the prompt.
    #[serde(default)]
    #[schemars(with = "String")]
    pub prompt: Option<String>,
    #[serde(flatten)]
    pub settings: Settings,
    /// Seconds to wait before a job id is returned instead.
    #[serde(default)]
    #[schemars(with = "u64")]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// Store id or image:// URI of the image to delete.
    pub image: String,
}

fn id_of(handle: &str) -> &str {
    handle.strip_prefix("image://").unwrap_or(handle)
}

#[tool_router(router = asset_router, vis = "pub(super)")]
impl EaselServer {
    /// Show a stored image, optionally resized, cropped, rotated, flipped or
    /// re-encoded, within the preview byte budget.
    #[tool(output_schema = output_schema::<ShowOutput>(), annotations(title = "Show image", read_only_hint = true, open_world_hint = false))]
    async fn show_image(&self, Parameters(args): Parameters<ShowArgs>) -> Result<CallToolResult, ErrorData> {
        let id = id_of(&args.image);
        let stored = match self.app.store().get(id) {
            Ok(stored) => stored,
            Err(e) => return Ok(error_result(&FieldError::field("image", format!("{e:#}")))),
        };
        // Built in a closure: the serializer is not Send and must not live across an await.
        let query = (|| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            let (edge_w, edge_h) = if args.full_resolution {
                (None, None)
            } else {
                (Some(self.preview.max_edge), Some(self.preview.max_edge))
            };
            if let Some(w) = args.width.or(edge_w) {
                query.append_pair("width", &w.to_string());
            }
            if let Some(h) = args.height.or(edge_h) {
                query.append_pair("height", &h.to_string());
            }
            for (key, value) in [
                ("format", args.format.clone()),
                ("quality", args.quality.map(|q| q.to_string())),
                ("rotate", args.rotate.map(|r| r.to_string())),
                ("flip", args.flip.clone()),
            ] {
                if let Some(value) = value {
                    query.append_pair(key, &value);
                }
            }
            if let Some(crop) = &args.crop {
                let [x, y, w, h] = crop.as_slice() else {
                    return Err(error_result(&FieldError::field("crop", "give four numbers: x, y, width, height")));
                };
                for (key, value) in [("crop_x", x), ("crop_y", y), ("crop_w", w), ("crop_h", h)] {
                    query.append_pair(key, &value.to_string());
                }
            }
            Ok(query.finish())
        })();
        let query = match query {
            Ok(query) => query,
            Err(refused) => return Ok(refused),
        };
        let spec = match ViewSpec::from_query(&query) {
            Ok(spec) => spec,
            Err(e) => return Ok(error_result(&FieldError::field("view", format!("{e:#}")))),
        };
        // Decode, transform and encode on the image pool, never on an async worker.
        let (store, view_id) = (self.app.store().clone(), stored.sidecar.id.clone());
        let view = match crate::blocking::image_work(move || store.view(&view_id, &spec)).await.and_then(|r| r) {
            Ok(view) => view,
            Err(e) => return Ok(error_result(&FieldError::field("view", format!("{e:#}")))),
        };
        let facts = ShowOutput {
            image: ImageFacts::of(&stored),
            view: ViewFacts {
                uri: format!("image://{id}/view?{query}"),
                width: view.width,
                height: view.height,
                mime_type: view.mime_type.to_string(),
                bytes: view.data.len(),
            },
        };
        let mut content = vec![ContentBlock::text(format!(
            "image {id}: view {}x{} {} of the {}x{} original at {}",
            view.width,
            view.height,
            view.mime_type,
            stored.sidecar.width,
            stored.sidecar.height,
            stored.path.display()
        ))];
        if view.data.len() <= self.preview.max_bytes {
            content.push(ContentBlock::image(
                base64::engine::general_purpose::STANDARD.encode(&view.data),
                view.mime_type,
            ));
        } else {
            content.push(ContentBlock::text(format!(
                "(the view is {} KiB, over the {} KiB budget for one result; ask for a smaller width or JPEG, or open the file path)",
                view.data.len() / 1024,
                self.preview.max_bytes / 1024
            )));
        }
        content.push(resource_link(&stored));
        let mut result = CallToolResult::success(content);
        result.structured_content = Some(self.with_url(to_json(&facts)));
        Ok(result)
    }

    /// The gallery: stored images, newest first, filtered by provider, model,
    /// origin, date or prompt text, a page at a time.
    #[tool(output_schema = output_schema::<GalleryOutput>(), annotations(title = "List images", read_only_hint = true, open_world_hint = false))]
    async fn list_images(&self, Parameters(args): Parameters<ListImagesArgs>) -> Result<CallToolResult, ErrorData> {
        let since = match args.since.as_deref().map(|t| gallery::parse_time("since", t)).transpose() {
            Ok(t) => t,
            Err(e) => return Ok(error_result(&FieldError::field("since", e))),
        };
        let until = match args.until.as_deref().map(|t| gallery::parse_time("until", t)).transpose() {
            Ok(t) => t,
            Err(e) => return Ok(error_result(&FieldError::field("until", e))),
        };
        let filter = Filter {
            provider: args.provider,
            model: args.model,
            origin: args.origin,
            text: args.text,
            since,
            until,
            user: None,
        };
        let catalog = self.app.store().catalog().map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let first_page = args.cursor.as_deref().is_none_or(str::is_empty);
        let (items, next) =
            match gallery::page(catalog.images, &filter, args.cursor.as_deref(), args.limit.unwrap_or(20) as usize) {
                Ok(page) => page,
                Err(e) => return Ok(error_result(&FieldError::field("cursor", e))),
            };
        let mut text = format!(
            "{} image(s){}",
            items.len(),
            next.as_ref().map(|c| format!("; more with cursor \"{c}\"")).unwrap_or_default()
        );
        let images: Vec<GalleryItem> = items
            .iter()
            .map(|s| {
                text.push_str(&format!(
                    "\n- {} {}x{} {} {}",
                    s.id,
                    s.width,
                    s.height,
                    s.created_at.format("%Y-%m-%d %H:%M"),
                    s.prompt.as_deref().unwrap_or("(imported)")
                ));

                GalleryItem {
                    id: s.id.clone(),
                    uri: format!("image://{}", s.id),
                    width: s.width,
                    height: s.height,
                    mime_type: s.mime_type.clone(),
                    prompt: s.prompt.clone(),
                    provider: s.provider.clone(),
                    model: s.model.clone(),
                    origin: s.origin,
                    created_at: s.created_at,
                    parents: s.parents.clone(),
                    url: self.image_url(&s.id, &s.mime_type),
                }
            })
            .collect();
        // Damaged entries are shown on the first page whatever the filter,
        // so that they are seen and can be deleted, never silently hidden.
        let shown = if first_page { catalog.damaged.len().min(gallery::MAX_PAGE) } else { 0 };
        if shown > 0 {
            text.push_str(&format!(
                "\n{} damaged image(s), which cannot be shown; delete_image removes them:",
                catalog.damaged.len()
            ));
        }
        let damaged: Vec<DamagedItem> = catalog.damaged[..shown]
            .iter()
            .map(|d| {
                text.push_str(&format!("\n- {} DAMAGED: {}", d.id, d.problem));
                DamagedItem {
                    id: d.id.clone(),
                    status: "damaged".into(),
                    problem: d.problem.clone(),
                    modified_at: d.modified,
                    fix: format!("delete_image with image \"{}\" removes it", d.id),
                }
            })
            .collect();
        if shown < catalog.damaged.len() && shown > 0 {
            text.push_str(&format!("\n… and {} more damaged", catalog.damaged.len() - shown));
        }
        Ok(json_result(
            text,
            to_json(&GalleryOutput { images, next_cursor: next, damaged, damaged_total: catalog.damaged.len() }),
        ))
    }

    /// Re-run the request that made an image with a new seed (random unless
    /// given) and any overrides; params merge key by key (null removes one).
    #[tool(output_schema = output_schema::<JobOutput>(), annotations(title = "Vary image", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true))]
    async fn vary_image(
        &self,
        Parameters(args): Parameters<VaryArgs>,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let variation = match self.app.jobs.variation(&args.image, args.prompt, args.settings).await {
            Ok(variation) => variation,
            Err(error) => return Ok(error_result(&error).into()),
        };
        let answers = Answers { responses, state };
        let response = self.run_generation(variation.spec, args.wait_seconds, context, answers).await;
        let CallToolResponse::Complete(mut result) = response else { return Ok(response) };
        if let (Some(model), false) = (&variation.seedless_model, result.is_error == Some(true)) {
            let note = format!(
                "note: model `{model}` takes no seed, so this variation re-ran the same request without one; how much it differs depends on the model"
            );
            result.content.insert(1.min(result.content.len()), ContentBlock::text(note));
        }
        Ok(result.into())
    }

    /// Delete a stored image (whole or damaged) and its cached views; images
    /// made from it keep its id in their lineage.
    #[tool(output_schema = output_schema::<DeleteOutput>(), annotations(title = "Delete image", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn delete_image(&self, Parameters(args): Parameters<DeleteArgs>) -> Result<CallToolResult, ErrorData> {
        let id = id_of(&args.image);
        let store = self.app.store();
        let damage = store.damage(id);
        match store.delete(id) {
            Ok(Some(t)) => {
                let text = match &damage {
                    Some(why) => format!("deleted damaged image {id} ({why})"),
                    None => format!("deleted image {id}"),
                };
                Ok(json_result(
                    text,
                    to_json(&DeleteOutput {
                        id: t.id,
                        status: "deleted".into(),
                        deleted_at: t.deleted_at,
                        was_damaged: damage,
                    }),
                ))
            }
            Ok(None) => match store.tombstone(id) {
                Some(t) => Ok(json_result(
                    format!("image {id} was already deleted"),
                    to_json(&DeleteOutput {
                        id: t.id,
                        status: "deleted".into(),
                        deleted_at: t.deleted_at,
                        was_damaged: None,
                    }),
                )),
                None => Ok(error_result(&FieldError::field("image", format!("no image with id `{id}` in the store")))),
            },
            Err(e) => Ok(error_result(&FieldError::field("image", format!("{e:#}")))),
        }
    }
}
