//! Turning an Easel request into an OpenAI Images HTTP request: model and
//! parameter checks, Easel → OpenAI names (`count` → `n`, width/height or
//! aspect ratio → `size: "WxH"`, strength → `input_fidelity`), the JSON body
//! of `/images/generations` and the multipart body of `/images/edits`
//! (docs/providers/openai.md#generations, #edits).

use crate::models::{self, FREE_TIERS, MAX_FREE_PIXELS, Model, SizeRule};
use crate::types::{Dims, HttpRequest, InputImage, Lifecycle, Operation, ProviderError, Request, Role};
use easel_plugin_kit::multipart::Form;
use easel_plugin_kit::size::parse_ratio;
use easel_plugin_kit::{image, params};
use serde_json::{Map, Value, json};

/// Secret the plugin references; the host substitutes it (never the plugin).
pub const SECRET: &str = "OPENAI_API_KEY";
/// Production base URL (docs/providers/openai.md#base-url-and-auth); `base_url` in the config overrides it.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Body fields the plugin sets from Easel arguments, refused in `params`
/// (docs/providers/openai.md#params).
const RESERVED: &[params::Reserved<'static>] = &[
    ("model", "model"),
    ("prompt", "prompt"),
    ("n", "count"),
    ("size", "size or aspect_ratio"),
    ("image", "images"),
    ("image[]", "images"),
    ("mask", "images (role `mask`)"),
];
/// Per-request timeout: image calls take up to a few minutes (the SDK allows
/// 600 s — docs/providers/openai.md#base-url-and-auth); the host caps it at the plugin's limit.
pub const DEFAULT_TIMEOUT_MS: u32 = 300_000;

/// The operator's `[plugins.openai.config]` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `OpenAI-Organization`.
    pub organization: Option<String>,
    /// Sent as `OpenAI-Project`.
    pub project: Option<String>,
    pub timeout_ms: u32,
    /// Default body fields for GPT image models from the config keys
    /// `quality`, `background`, `output_format`, `moderation`.
    pub defaults: Map<String, Value>,
}

impl Settings {
    /// Read settings through `get` (the `config` import).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Settings {
        let nonempty = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut defaults = Map::new();
        for key in ["quality", "background", "output_format", "moderation"] {
            if let Some(value) = nonempty(key) {
                defaults.insert(key.into(), Value::String(value));
            }
        }
        Settings {
            base_url: nonempty("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into()).trim_end_matches('/').to_string(),
            organization: nonempty("organization"),
            project: nonempty("project"),
            timeout_ms: nonempty("timeout_ms").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TIMEOUT_MS),
            defaults,
        }
    }
}

/// A ready HTTP request plus what the response parser needs to know.
#[derive(Debug)]
pub struct Built {
    pub http: HttpRequest,
    /// `output_format` asked for (`png`, `jpeg`, `webp`), if any.
    pub output_format: Option<String>,
}

/// Check `req` against its model and build the HTTP call.
pub fn build(req: &Request, settings: &Settings) -> Result<Built, ProviderError> {
    let model = models::find(&req.model).ok_or_else(|| {
        ProviderError::Unsupported(format!(
            "model `{}` is not an OpenAI image model this plugin knows; default is `{}`",
            req.model,
            models::DEFAULT_MODEL
        ))
    })?;
    if model.lifecycle == Lifecycle::Retired {
        return Err(ProviderError::Unsupported(format!(
            "model `{}` was {}; use `{}` instead",
            model.id,
            model.retired_note.unwrap_or("retired by OpenAI"),
            model.replacement.unwrap_or(models::DEFAULT_MODEL)
        )));
    }
    if !model.operations.contains(&req.operation) {
        return Err(ProviderError::invalid(
            Some("model"),
            format!("model `{}` cannot do {:?}", model.id, req.operation).to_lowercase(),
        ));
    }
    check_unsupported(req, model)?;
    if req.count == 0 || req.count > model.max_images {
        return Err(ProviderError::invalid(
            Some("count"),
            format!("must be between 1 and {} for `{}` (got {})", model.max_images, model.id, req.count),
        ));
    }
    let size = resolve_size(model, req)?.map(|(w, h)| format!("{w}x{h}"));
    let mut fields = Map::new();
    fields.insert("model".into(), json!(model.id));
    fields.insert("prompt".into(), json!(req.prompt));
    fields.insert("n".into(), json!(req.count));
    if let Some(size) = size {
        fields.insert("size".into(), json!(size));
    }
    let edit = req.operation != Operation::Generate;
    if model.gpt_image {
        let mut defaults = settings.defaults.clone();
        if edit {
            // `/images/edits` lists no `moderation` field (docs/providers/openai.md#edits).
            defaults.remove("moderation");
        }
        params::deep_merge(&mut fields, defaults);
    }
    if edit && let Some(strength) = req.strength {
        // Low strength = stay close to the input = high fidelity.
        fields.insert("input_fidelity".into(), json!(if strength <= 0.5 { "high" } else { "low" }));
    }
    // The caller's params go over the config defaults, never over a field
    // set from an argument (docs/providers/openai.md#params).
    let mut reserved = RESERVED.to_vec();
    if fields.contains_key("input_fidelity") {
        reserved.push(("input_fidelity", "strength"));
    }
    params::merge(&mut fields, req.extra.as_deref(), &reserved)?;
    let output_format = fields.get("output_format").and_then(Value::as_str).map(str::to_string);

    let mut headers = vec![
        ("authorization".to_string(), format!("Bearer {{{{secret:{SECRET}}}}}")),
        ("accept".to_string(), "application/json".to_string()),
    ];
    if let Some(org) = &settings.organization {
        headers.push(("openai-organization".into(), org.clone()));
    }
    if let Some(project) = &settings.project {
        headers.push(("openai-project".into(), project.clone()));
    }
    let (path, content_type, body) = if edit {
        let (content_type, body) = edit_form(req, model, &fields)?;
        ("images/edits", content_type, body)
    } else {
        let body = serde_json::to_vec(&Value::Object(fields))
            .map_err(|e| ProviderError::Internal(format!("cannot encode the request: {e}")))?;
        ("images/generations", "application/json".to_string(), body)
    };
    headers.push(("content-type".into(), content_type));
    Ok(Built {
        http: HttpRequest {
            method: "POST".into(),
            url: format!("{}/{path}", settings.base_url),
            headers,
            body,
            timeout_ms: Some(settings.timeout_ms),
        },
        output_format,
    })
}

/// Refuse parameters OpenAI has no field for, naming the field.
fn check_unsupported(req: &Request, model: &Model) -> Result<(), ProviderError> {
    let refuse =
        |field: &str, why: &str| Err(ProviderError::invalid(Some(field), format!("OpenAI `{}` {why}", model.id)));
    if req.negative_prompt.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        return refuse("negative_prompt", "has no negative prompt; say what to leave out in the prompt itself");
    }
    if req.seed.is_some() {
        return refuse("seed", "takes no seed; results are not reproducible");
    }
    if req.steps.is_some() {
        return refuse("steps", "takes no step count");
    }
    if req.guidance.is_some() {
        return refuse("guidance", "takes no guidance scale");
    }
    if req.strength.is_some() {
        if req.operation == Operation::Generate {
            return Err(ProviderError::invalid(Some("strength"), "only applies to edits"));
        }
        if !model.input_fidelity {
            return refuse(
                "strength",
                "has no edit-strength control (no `input_fidelity`); say how much to change in the prompt",
            );
        }
    }
    Ok(())
}

/// The `size` to send: from width/height, or aspect ratio (+ tier), or none
/// (the API then picks, `auto`).
pub fn resolve_size(model: &Model, req: &Request) -> Result<Option<(u32, u32)>, ProviderError> {
    match model.size_rule {
        SizeRule::Fixed => {
            if let Some(tier) = &req.size_tier {
                return Err(ProviderError::invalid(
                    Some("size_tier"),
                    format!("`{tier}`: `{}` has fixed sizes only ({})", model.id, list_sizes(model)),
                ));
            }
            if let Some(Dims { width: w, height: h }) = req.size {
                if !model.sizes.contains(&(w, h)) {
                    return Err(ProviderError::invalid(
                        Some("width"),
                        format!("{w}x{h} is not offered by `{}`; choose one of {}", model.id, list_sizes(model)),
                    ));
                }
                return Ok(Some((w, h)));
            }
            match &req.aspect_ratio {
                None => Ok(None),
                Some(ratio) => {
                    let (rw, rh) = parse_ratio(ratio)
                        .ok_or_else(|| ProviderError::invalid(Some("aspect_ratio"), format!("`{ratio}` is not W:H")))?;
                    model
                        .sizes
                        .iter()
                        .find(|(w, h)| u64::from(*w) * u64::from(rh) == u64::from(*h) * u64::from(rw))
                        .map(|s| Some(*s))
                        .ok_or_else(|| {
                            ProviderError::invalid(
                                Some("aspect_ratio"),
                                format!(
                                    "`{ratio}` is not offered by `{}`; choose one of {}",
                                    model.id,
                                    model.aspect_ratios.join(", ")
                                ),
                            )
                        })
                }
            }
        }
        SizeRule::Free => {
            if let Some(Dims { width: w, height: h }) = req.size {
                check_free_size(model, w, h)?;
                return Ok(Some((w, h)));
            }
            if req.aspect_ratio.is_none() && req.size_tier.is_none() {
                return Ok(None);
            }
            let ratio = req.aspect_ratio.as_deref().unwrap_or("1:1");
            let (rw, rh) = parse_ratio(ratio)
                .ok_or_else(|| ProviderError::invalid(Some("aspect_ratio"), format!("`{ratio}` is not W:H")))?;
            if rw > 3 * rh || rh > 3 * rw {
                return Err(ProviderError::invalid(
                    Some("aspect_ratio"),
                    format!("`{ratio}` is outside 1:3 .. 3:1, which `{}` requires", model.id),
                ));
            }
            let tier = req.size_tier.as_deref().unwrap_or("1K");
            let long =
                FREE_TIERS.iter().find(|(name, _)| name.eq_ignore_ascii_case(tier)).map(|(_, px)| *px).ok_or_else(
                    || {
                        ProviderError::invalid(
                            Some("size_tier"),
                            format!("`{tier}` is not one of {}", FREE_TIERS.map(|(n, _)| n).join(", ")),
                        )
                    },
                )?;
            Ok(Some(free_size_for(rw, rh, long)))
        }
    }
}

/// Width and height for ratio `rw:rh` with long edge `long`, both multiples
/// of 16, scaled down to fit [`MAX_FREE_PIXELS`].
pub fn free_size_for(rw: u32, rh: u32, long: u32) -> (u32, u32) {
    let round16 = |v: f64| ((v / 16.0).round() as u32).max(1) * 16;
    let floor16 = |v: f64| ((v / 16.0).floor() as u32).max(1) * 16;
    let (mut w, mut h) = if rw >= rh {
        (long, round16(f64::from(long) * f64::from(rh) / f64::from(rw)))
    } else {
        (round16(f64::from(long) * f64::from(rw) / f64::from(rh)), long)
    };
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_FREE_PIXELS {
        let scale = (MAX_FREE_PIXELS as f64 / pixels as f64).sqrt();
        (w, h) = (floor16(f64::from(w) * scale), floor16(f64::from(h) * scale));
    }
    (w, h)
}

fn check_free_size(model: &Model, w: u32, h: u32) -> Result<(), ProviderError> {
    for (field, v) in [("width", w), ("height", h)] {
        if v % 16 != 0 || v > model.max_side || v < model.min_side {
            return Err(ProviderError::invalid(
                Some(field),
                format!(
                    "must be a multiple of 16 between {} and {} for `{}` (got {v})",
                    model.min_side, model.max_side, model.id
                ),
            ));
        }
    }
    if w > 3 * h || h > 3 * w {
        return Err(ProviderError::invalid(
            Some("width"),
            format!("{w}x{h}: the aspect ratio must be between 1:3 and 3:1 for `{}`", model.id),
        ));
    }
    if u64::from(w) * u64::from(h) > MAX_FREE_PIXELS {
        return Err(ProviderError::invalid(
            Some("width"),
            format!("{w}x{h} has more pixels than 3840x2160, the most `{}` makes", model.id),
        ));
    }
    Ok(())
}

fn list_sizes(model: &Model) -> String {
    model.sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect::<Vec<_>>().join(", ")
}

/// The `/images/edits` form: scalar fields as text, `image[]` per reference,
/// then `mask` (docs/providers/openai.md#edits).
fn edit_form(req: &Request, model: &Model, fields: &Map<String, Value>) -> Result<(String, Vec<u8>), ProviderError> {
    let references: Vec<&InputImage> = req.images.iter().filter(|i| i.role == Role::Reference).collect();
    if req.images.iter().any(|i| i.role == Role::Control) {
        return Err(ProviderError::invalid(
            Some("images"),
            "OpenAI takes no control images; use role `reference` (or `mask`)",
        ));
    }
    if references.is_empty() {
        return Err(ProviderError::invalid(Some("images"), "an edit needs at least one image with role `reference`"));
    }
    if references.len() as u32 > model.max_input_images {
        return Err(ProviderError::invalid(
            Some("images"),
            format!(
                "`{}` takes at most {} reference images (got {})",
                model.id,
                model.max_input_images,
                references.len()
            ),
        ));
    }
    let mut form = Form::new();
    for (key, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        form.text(key, text);
    }
    for (index, image) in references.iter().enumerate() {
        let mime = image::sniff_image_mime(&image.data).unwrap_or(image.mime_type.as_str());
        if !matches!(mime, "image/png" | "image/jpeg" | "image/webp") {
            return Err(ProviderError::invalid(
                Some("images"),
                format!("reference image {} is {mime}; OpenAI takes PNG, JPEG or WebP", index + 1),
            ));
        }
        form.file("image[]", &format!("image_{index}.{}", image::file_extension(mime)), mime, image.data.clone());
    }
    let masks: Vec<&InputImage> = req.images.iter().filter(|i| i.role == Role::Mask).collect();
    if masks.len() > 1 {
        return Err(ProviderError::invalid(Some("images"), "give at most one image with role `mask`"));
    }
    if let Some(mask) = masks.first() {
        if image::sniff_image_mime(&mask.data).unwrap_or(mask.mime_type.as_str()) != "image/png" {
            return Err(ProviderError::invalid(
                Some("images"),
                "the mask must be a PNG whose fully transparent pixels mark the area to edit",
            ));
        }
        let first = references[0];
        if (mask.width, mask.height) != (first.width, first.height) {
            return Err(ProviderError::invalid(
                Some("images"),
                format!(
                    "the mask is {}x{} but the first reference is {}x{}; OpenAI needs them the same size",
                    mask.width, mask.height, first.width, first.height
                ),
            ));
        }
        form.file("mask", "mask.png", "image/png", mask.data.clone());
    }
    Ok(form.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_config(|k| (k == "base_url").then(|| "http://127.0.0.1:9/v1/".to_string()))
    }

    fn png(w: u32, h: u32) -> InputImage {
        let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
        data.extend_from_slice(&[0; 8]);
        InputImage { role: Role::Reference, mime_type: "image/png".into(), width: w, height: h, data }
    }

    fn body_json(built: &Built) -> Value {
        serde_json::from_slice(&built.http.body).unwrap()
    }

    #[test]
    fn generation_maps_names_and_auth() {
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.count = 2;
        req.aspect_ratio = Some("3:2".into());
        let built = build(&req, &settings()).unwrap();
        assert_eq!(built.http.url, "http://127.0.0.1:9/v1/images/generations");
        assert_eq!(
            body_json(&built),
            json!({"model": "gpt-image-1.5", "prompt": "a fox", "n": 2, "size": "1536x1024"})
        );
        let auth = built.http.headers.iter().find(|(k, _)| k == "authorization").unwrap();
        assert_eq!(auth.1, "Bearer {{secret:OPENAI_API_KEY}}");
    }

    #[test]
    fn config_defaults_and_params_are_merged() {
        let s = Settings::from_config(|k| (k == "quality").then(|| "low".to_string()));
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.extra = Some(r#"{"output_format": "webp", "background": "transparent"}"#.into());
        let built = build(&req, &s).unwrap();
        let body = body_json(&built);
        assert_eq!(body["quality"], "low");
        assert_eq!(body["background"], "transparent");
        assert_eq!(built.output_format.as_deref(), Some("webp"));
        // params go over the config defaults.
        req.extra = Some(r#"{"quality": "high"}"#.into());
        assert_eq!(body_json(&build(&req, &s).unwrap())["quality"], "high");
        req.extra = Some("[1]".into());
        assert!(
            matches!(build(&req, &s).unwrap_err(), ProviderError::InvalidRequest { field: Some(f), .. } if f == "params")
        );
        for (key, argument) in
            [("prompt", "prompt"), ("n", "count"), ("size", "size or aspect_ratio"), ("model", "model")]
        {
            req.extra = Some(format!(r#"{{"{key}": 1}}"#));
            let Err(ProviderError::InvalidRequest { field, message }) = build(&req, &s) else { panic!("{key}") };
            assert_eq!(field.as_deref(), Some(format!("params.{key}").as_str()));
            assert!(message.starts_with(&format!("use the {argument} argument")), "{message}");
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let field_of = |req: &Request| match build(req, &settings()) {
            Err(ProviderError::InvalidRequest { field, .. }) => field.unwrap(),
            other => panic!("{other:?}"),
        };
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.size = Some(Dims { width: 512, height: 512 });
        assert_eq!(field_of(&req), "width");
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.seed = Some(1);
        assert_eq!(field_of(&req), "seed");
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.count = 11;
        assert_eq!(field_of(&req), "count");
        let mut req = Request::text("gpt-image-1.5", "a fox");
        req.size_tier = Some("2K".into());
        assert_eq!(field_of(&req), "size_tier");
        let mut req = Request::text("gpt-image-2", "a fox");
        req.size = Some(Dims { width: 3840, height: 1024 });
        assert_eq!(field_of(&req), "width");
        let mut req = Request::text("gpt-image-2", "a fox");
        req.size = Some(Dims { width: 1000, height: 1000 });
        assert_eq!(field_of(&req), "width");
        let mut req = Request::text("gpt-image-1-mini", "a fox");
        req.operation = Operation::Edit;
        req.images = vec![png(64, 64)];
        req.strength = Some(0.2);
        assert_eq!(field_of(&req), "strength");
    }

    #[test]
    fn retired_models_name_the_replacement() {
        match build(&Request::text("dall-e-3", "a fox"), &settings()) {
            Err(ProviderError::Unsupported(message)) => assert!(message.contains("`gpt-image-1.5`"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn free_sizes_follow_ratio_and_tier() {
        assert_eq!(free_size_for(16, 9, 3840), (3840, 2160));
        assert_eq!(free_size_for(1, 1, 3840), (2880, 2880));
        assert_eq!(free_size_for(9, 16, 1024), (576, 1024));
        assert_eq!(free_size_for(3, 2, 2048), (2048, 1360));
        let mut req = Request::text("gpt-image-2", "a fox");
        req.aspect_ratio = Some("4:1".into());
        assert!(
            matches!(build(&req, &settings()), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "aspect_ratio")
        );
        req.aspect_ratio = Some("16:9".into());
        req.size_tier = Some("2k".into());
        assert_eq!(body_json(&build(&req, &settings()).unwrap())["size"], "2048x1152");
    }

    #[test]
    fn edits_are_multipart_with_images_and_mask() {
        let mut req = Request::text("gpt-image-1.5", "add a hat");
        req.operation = Operation::Inpaint;
        req.strength = Some(0.3);
        req.images = vec![png(64, 64), png(32, 32), InputImage { role: Role::Mask, ..png(64, 64) }];
        let built = build(&req, &settings()).unwrap();
        assert_eq!(built.http.url, "http://127.0.0.1:9/v1/images/edits");
        let content_type = &built.http.headers.iter().find(|(k, _)| k == "content-type").unwrap().1;
        assert!(content_type.starts_with("multipart/form-data; boundary="));
        let text = String::from_utf8_lossy(&built.http.body);
        assert_eq!(text.matches("name=\"image[]\"").count(), 2);
        assert!(text.contains("name=\"mask\"; filename=\"mask.png\""));
        assert!(text.contains("name=\"input_fidelity\"\r\n\r\nhigh\r\n"));
        assert!(text.contains("name=\"n\"\r\n\r\n1\r\n"));

        req.images[2].width = 10;
        assert!(
            matches!(build(&req, &settings()), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "images")
        );
        req.images = vec![];
        assert!(
            matches!(build(&req, &settings()), Err(ProviderError::InvalidRequest { field: Some(f), .. }) if f == "images")
        );
    }
}
