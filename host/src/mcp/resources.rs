//! `resources/read`: `image://{id}` (original bytes), `image://{id}/view?…`
//! (a rendered transform), `image://{id}/metadata` and `image://list`.
//! Reading, rendering and base64 run on the image pool, and a blob larger
//! than the transport can carry (over HTTP: the official SDK's 1 MiB event
//! limit) is answered with a JSON pointer to the file and its `/i/` URL.

use super::EaselServer;
use crate::store::views::ViewSpec;
use base64::Engine as _;
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, ResourceContents};

/// Most bytes (before base64) of an image inlined in one `resources/read`
/// over HTTP: base64 makes it 4/3 larger, and the official Python SDK drops
/// any SSE event over 1 MiB, so 704 KiB leaves room for the envelope.
pub const MAX_INLINE_HTTP_BYTES: usize = 704 << 10;

/// The same over stdio: 8 MiB (about 11 MiB of base64, well inside the
/// 16 MiB line limit of rmcp-based clients).
pub const MAX_INLINE_STDIO_BYTES: usize = 8 << 20;

impl EaselServer {
    /// Most bytes of an image this server inlines in one resource read.
    pub(super) fn max_inline_bytes(&self) -> usize {
        if self.base_url.is_some() { MAX_INLINE_HTTP_BYTES } else { MAX_INLINE_STDIO_BYTES }
    }

    /// Answer `resources/read` for `uri`. Errors: unknown or malformed
    /// URIs (resource not found), bad view parameters (invalid params).
    pub(super) async fn read_image(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let rest = uri.strip_prefix("image://").ok_or_else(|| not_found(uri))?;
        if rest == "list" || rest.starts_with("list?") {
            return self.read_list(uri, rest.split_once('?').map(|(_, q)| q).unwrap_or(""));
        }
        let (id, view) = rest.split_once('/').unwrap_or((rest, ""));
        let store = self.app.store().clone();
        let limit = self.max_inline_bytes();
        if view == "view" || view.starts_with("view?") {
            let query = view.split_once('?').map(|(_, q)| q).unwrap_or("").to_string();
            let spec = ViewSpec::from_query(&query)
                .map_err(|e| ErrorData::invalid_params(super::results::bounded_text(&format!("{e:#}")), None))?;
            let stored = store.get(id).map_err(|_| not_found(uri))?;
            let id = stored.sidecar.id.clone();
            let rendered = crate::blocking::image_work(move || {
                let view = store.view(&id, &spec)?;
                let blob =
                    (view.data.len() <= limit).then(|| base64::engine::general_purpose::STANDARD.encode(&view.data));
                Ok::<_, anyhow::Error>((view.mime_type, view.data.len(), blob))
            })
            .await
            .and_then(|r| r)
            .map_err(|e| ErrorData::invalid_params(super::results::bounded_text(&format!("{e:#}")), None))?;
            return Ok(match rendered {
                (mime, _, Some(blob)) => blob_result(uri, mime.to_string(), blob),
                (mime, bytes, None) => self.pointer(uri, &stored, Some((&query, mime)), bytes, limit),
            });
        }
        match view {
            "" => {
                let stored = store.get(id).map_err(|_| not_found(uri))?;
                if stored.sidecar.bytes as usize > limit {
                    return Ok(self.pointer(uri, &stored, None, stored.sidecar.bytes as usize, limit));
                }
                let id = stored.sidecar.id.clone();
                let (mime, blob) = crate::blocking::image_work(move || {
                    let (sidecar, bytes) = store.read(&id)?;
                    Ok::<_, anyhow::Error>((sidecar.mime_type, base64::engine::general_purpose::STANDARD.encode(bytes)))
                })
                .await
                .and_then(|r| r)
                .map_err(|e| {
                    tracing::warn!("reading {uri}: {e:#}");
                    not_found(uri)
                })?;
                Ok(blob_result(uri, mime, blob))
            }
            "metadata" => {
                let stored = store.get(id).map_err(|_| not_found(uri))?;
                let mut json = serde_json::to_value(&stored.sidecar)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                json["path"] = serde_json::Value::String(stored.path.display().to_string());
                json["lineage"] = serde_json::Value::Array(store.lineage(&stored.sidecar));
                json = self.with_url(json);
                Ok(json_contents(uri, &json))
            }
            _ => Err(not_found(uri)),
        }
    }

    /// What a client gets instead of a blob over `limit` bytes: where the
    /// image is (file path, `/i/` URL over HTTP) and how to get a smaller one.
    fn pointer(
        &self,
        uri: &str,
        stored: &crate::store::StoredImage,
        view: Option<(&str, &str)>,
        bytes: usize,
        limit: usize,
    ) -> ReadResourceResult {
        let s = &stored.sidecar;
        let (mime, url) = match view {
            Some((query, mime)) => (mime.to_string(), self.view_url(&s.id, mime, query)),
            None => (s.mime_type.clone(), self.image_url(&s.id, &s.mime_type)),
        };
        // A JPEG this size fits the limit whatever the pixels (even noise).
        let edge = if limit >= MAX_INLINE_STDIO_BYTES { 1024 } else { 512 };
        let smaller = format!("image://{}/view?width={edge}&height={edge}&format=jpeg", s.id);
        let whereabouts = match &url {
            Some(url) => format!("fetch it from {url} (HTTP GET) or open {}", stored.path.display()),
            None => format!("open {}", stored.path.display()),
        };
        let json = serde_json::json!({
            "id": s.id,
            "uri": uri,
            "too_large_to_inline": true,
            "bytes": bytes,
            "inline_limit_bytes": limit,
            "mime_type": mime,
            "width": s.width,
            "height": s.height,
            "path": stored.path.display().to_string(),
            "url": url,
            "smaller_view": smaller,
            "message": format!(
                "{uri} is {} KiB, over the {} KiB this transport carries in one message; {whereabouts}, or read {smaller}",
                bytes / 1024,
                limit / 1024
            ),
        });
        json_contents(uri, &json)
    }

    /// `image://list?cursor=N&provider=…&model=…&text=…&origin=…`: a page of
    /// the gallery as JSON, `{"images": [...], "next_cursor": "N" | null}`.
    /// The cursor counts within the filtered list, so the next page is read
    /// with the same filters and `cursor=next_cursor` (the name `list_images`
    /// uses too).
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
                other => {
                    return Err(ErrorData::invalid_params(
                        super::results::bounded_text(&format!(
                            "unknown parameter `{other}` (cursor, provider, model, text, origin)"
                        )),
                        None,
                    ));
                }
            }
        }
        let all = self.app.store().list().map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        let (items, next) = crate::store::gallery::page(all, &filter, cursor.as_deref(), 50)
            .map_err(|e| ErrorData::invalid_params(super::results::bounded_text(&e.to_string()), None))?;
        let images: Vec<serde_json::Value> = items
            .iter()
            .map(|s| self.with_url(serde_json::json!({"id": s.id, "uri": format!("image://{}", s.id), "prompt": s.prompt, "width": s.width, "height": s.height, "mime_type": s.mime_type, "created_at": s.created_at})))
            .collect();
        Ok(json_contents(uri, &serde_json::json!({"images": images, "next_cursor": next})))
    }
}

fn blob_result(uri: &str, mime_type: String, blob: String) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::BlobResourceContents {
        uri: uri.to_string(),
        mime_type: Some(mime_type),
        blob,
        meta: None,
    }])
}

fn json_contents(uri: &str, json: &serde_json::Value) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
        uri: uri.to_string(),
        mime_type: Some("application/json".into()),
        text: serde_json::to_string_pretty(json).unwrap_or_default(),
        meta: None,
    }])
}

/// "No such resource", quoting at most a bounded piece of `uri`.
pub(super) fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        super::results::bounded_text(&format!(
            "no resource `{uri}`; images are image://ID and image://ID/metadata with ids from generate_image"
        )),
        None,
    )
}
