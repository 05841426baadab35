//! Turning an Easel request into Gemini `:generateContent` calls: model and
//! parameter checks, Easel → Gemini names (aspect ratio / size tier →
//! `generationConfig.imageConfig.aspectRatio` / `imageSize`, width × height
//! → the nearest ratio and tier, reference images → `inlineData` parts
//! before the text, `count` → one call per image since the API has no `n`)
//! — docs/providers/gemini.md#base-url-and-auth, #generatecontent.

use crate::models::{self, Api, Model, tier_edge};
use crate::types::{Dims, HttpRequest, InputImage, Lifecycle, Operation, ProviderError, Request, Role};
use easel_plugin_kit::size::parse_ratio;
use easel_plugin_kit::{codec, image, params};
use serde_json::{Map, Value, json};

/// Secret the plugin references as `{{secret:GEMINI_API_KEY}}`; operators
/// may fill it from `GEMINI_API_KEY` or `GOOGLE_API_KEY`.
pub const SECRET: &str = "GEMINI_API_KEY";
/// Production base URL with the API version Google's REST docs use
/// (docs/providers/gemini.md#base-url-and-auth, #base-url-and-auth); `base_url` in the config overrides it.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";
/// `params` keys that are members of the request body itself; every other
/// key goes into `generationConfig` (docs/providers/gemini.md#params).
pub const TOP_LEVEL_PARAMS: &[&str] =
    &["safetySettings", "systemInstruction", "tools", "toolConfig", "cachedContent", "labels"];
/// `generationConfig` members the plugin sets from Easel arguments, and
/// body members it builds itself: refused in `params`.
const RESERVED: &[params::Reserved<'static>] = &[
    ("contents", "prompt and images"),
    ("seed", "seed"),
    ("candidateCount", "count"),
    ("imageConfig.aspectRatio", "aspect_ratio or size"),
    ("imageConfig.imageSize", "size_tier or size"),
];
/// Per-call timeout in milliseconds (the host caps it at the plugin limit).
pub const DEFAULT_TIMEOUT_MS: u32 = 300_000;
/// Largest `seed`: the API's `generationConfig.seed` is an int32.
pub const MAX_SEED: u64 = i32::MAX as u64;
/// A width × height whose ratio is further than this (relative) from every
/// offered aspect ratio is refused rather than silently reshaped.
const RATIO_TOLERANCE: f64 = 0.05;

/// The operator's `[plugins.gemini.config]` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Without a trailing slash, e.g. `https://generativelanguage.googleapis.com/v1beta`.
    pub base_url: String,
    pub timeout_ms: u32,
}

impl Settings {
    /// Read settings through `get` (the `config` import).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Settings {
        let nonempty = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Settings {
            base_url: nonempty("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into()).trim_end_matches('/').to_string(),
            timeout_ms: nonempty("timeout_ms").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TIMEOUT_MS),
        }
    }
}

/// A checked request: `count` calls that differ only in their seed.
#[derive(Debug)]
pub struct Plan {
    pub model: &'static Model,
    pub url: String,
    pub count: u32,
    /// `seed` of the first call; call `i` uses `seed + i`.
    pub seed: Option<u64>,
    /// `imageConfig.aspectRatio`, `imageConfig.imageSize` sent.
    pub aspect_ratio: Option<String>,
    pub image_size: Option<String>,
    body: Map<String, Value>,
    timeout_ms: u32,
}

impl Plan {
    /// Seed of call `index`.
    pub fn seed_for(&self, index: u32) -> Option<u64> {
        self.seed.map(|s| s + u64::from(index))
    }

    /// The HTTP request of call `index` (0-based).
    pub fn call(&self, index: u32) -> HttpRequest {
        let mut body = self.body.clone();
        if let Some(seed) = self.seed_for(index) {
            params::deep_merge(
                &mut body,
                json!({"generationConfig": {"seed": seed}}).as_object().cloned().unwrap_or_default(),
            );
        }
        HttpRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers: vec![
                ("x-goog-api-key".into(), format!("{{{{secret:{SECRET}}}}}")),
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
            timeout_ms: Some(self.timeout_ms),
        }
    }
}

/// The caller's `params`: body members named in [`TOP_LEVEL_PARAMS`] at the
/// top level, the rest into `generationConfig` (an explicit
/// `generationConfig` object is merged there too), so that
/// `{"responseModalities": ["IMAGE"]}` asks for images only.
fn merge_params(body: &mut Map<String, Value>, extra: Option<&str>) -> Result<(), ProviderError> {
    let mut given = params::parse(extra)?;
    if let Some(Value::Object(inner)) = given.remove("generationConfig") {
        params::deep_merge(&mut given, inner);
    }
    params::refuse_reserved(&given, RESERVED)?;
    let top = params::take(&mut given, TOP_LEVEL_PARAMS);
    let config = json!({"generationConfig": Value::Object(given)}).as_object().cloned().unwrap_or_default();
    params::deep_merge(body, config);
    params::deep_merge(body, top);
    Ok(())
}

/// Check `req` against its model and plan the calls.
pub fn plan(req: &Request, settings: &Settings) -> Result<Plan, ProviderError> {
    let model = models::find(&req.model).ok_or_else(|| {
        ProviderError::Unsupported(format!(
            "model `{}` is not a Gemini image model this plugin knows; default is `{}`",
            req.model,
            models::DEFAULT_MODEL
        ))
    })?;
    if model.lifecycle == Lifecycle::Retired || model.api == Api::Predict {
        return Err(ProviderError::Unsupported(format!(
            "model `{}` was {}; use `{}` instead",
            model.id,
            model.retired_note.unwrap_or("retired by Google"),
            model.replacement.unwrap_or(models::DEFAULT_MODEL)
        )));
    }
    if !model.operations.contains(&req.operation) {
        return Err(ProviderError::invalid(
            Some("model"),
            format!("model `{}` cannot do {:?}; Gemini image models generate and edit", model.id, req.operation)
                .to_lowercase(),
        ));
    }
    check_unsupported(req, model)?;
    if req.count == 0 || req.count > model.max_images {
        return Err(ProviderError::invalid(
            Some("count"),
            format!("must be between 1 and {} for `{}` (got {})", model.max_images, model.id, req.count),
        ));
    }
    if let Some(seed) = req.seed
        && seed + u64::from(req.count) - 1 > MAX_SEED
    {
        return Err(ProviderError::invalid(
            Some("seed"),
            format!("must be at most {MAX_SEED} (Gemini seeds are 32-bit; got {seed})"),
        ));
    }
    let (aspect_ratio, image_size) = image_config(model, req)?;

    let mut parts = Vec::new();
    for (index, image) in req.images.iter().filter(|i| i.role == Role::Reference).enumerate() {
        parts.push(inline_part(index, image)?);
    }
    parts.push(json!({"text": req.prompt}));
    let mut image_config = Map::new();
    if let Some(ratio) = &aspect_ratio {
        image_config.insert("aspectRatio".into(), json!(ratio));
    }
    if let Some(size) = &image_size {
        image_config.insert("imageSize".into(), json!(size));
    }
    let mut generation_config = Map::new();
    generation_config.insert("responseModalities".into(), json!(["TEXT", "IMAGE"]));
    if !image_config.is_empty() {
        generation_config.insert("imageConfig".into(), Value::Object(image_config));
    }
    let mut body = Map::new();
    body.insert("contents".into(), json!([{"role": "user", "parts": parts}]));
    body.insert("generationConfig".into(), Value::Object(generation_config));
    merge_params(&mut body, req.extra.as_deref())?;
    Ok(Plan {
        model,
        url: format!("{}/models/{}:generateContent", settings.base_url, model.id),
        count: req.count,
        seed: req.seed,
        aspect_ratio,
        image_size,
        body,
        timeout_ms: settings.timeout_ms,
    })
}

/// Refuse what Gemini has no field for, naming the field.
fn check_unsupported(req: &Request, model: &Model) -> Result<(), ProviderError> {
    let refuse =
        |field: &str, why: &str| Err(ProviderError::invalid(Some(field), format!("Gemini `{}` {why}", model.id)));
    if req.negative_prompt.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        return refuse("negative_prompt", "has no negative prompt; name what to avoid in the prompt itself");
    }
    if req.steps.is_some() {
        return refuse("steps", "takes no step count");
    }
    if req.guidance.is_some() {
        return refuse("guidance", "takes no guidance scale");
    }
    if req.strength.is_some() {
        return refuse("strength", "has no edit-strength control; say how much to change in the prompt");
    }
    if req.images.iter().any(|i| i.role == Role::Mask) {
        return refuse("images", "takes no mask; describe the region to change in the prompt");
    }
    if req.images.iter().any(|i| i.role == Role::Control) {
        return refuse(
            "images",
            "takes no control images; pass them as `reference` and say how to use them in the prompt",
        );
    }
    let references = req.images.len() as u32;
    if references > model.max_input_images {
        return Err(ProviderError::invalid(
            Some("images"),
            format!("`{}` takes at most {} reference images (got {references})", model.id, model.max_input_images),
        ));
    }
    if req.operation != Operation::Generate && references == 0 {
        return Err(ProviderError::invalid(Some("images"), "an edit needs at least one image with role `reference`"));
    }
    Ok(())
}

/// `inlineData` part for reference image `index` (PNG, JPEG, WebP, HEIC/HEIF).
fn inline_part(index: usize, image: &InputImage) -> Result<Value, ProviderError> {
    let mime = image::sniff_image_mime(&image.data).unwrap_or(image.mime_type.as_str());
    if !matches!(mime, "image/png" | "image/jpeg" | "image/webp" | "image/heic" | "image/heif") {
        return Err(ProviderError::invalid(
            Some("images"),
            format!("reference image {} is {mime}; Gemini takes PNG, JPEG, WebP or HEIC", index + 1),
        ));
    }
    let data = codec::b64(&image.data);
    Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

/// `(aspectRatio, imageSize)` to send. An explicit aspect ratio or tier is
/// checked against the model; an explicit width × height becomes the
/// nearest offered ratio (within 5 %) and the smallest tier that covers it.
pub fn image_config(model: &Model, req: &Request) -> Result<(Option<String>, Option<String>), ProviderError> {
    let tier = match &req.size_tier {
        None => None,
        Some(tier) => {
            let wire = normalize_tier(tier);
            if !model.size_tiers.iter().any(|t| *t == wire) {
                let offered =
                    if model.size_tiers.is_empty() { "none".to_string() } else { model.size_tiers.join(", ") };
                return Err(ProviderError::invalid(
                    Some("size_tier"),
                    format!("`{tier}` is not offered by `{}` (offered: {offered})", model.id),
                ));
            }
            Some(wire)
        }
    };
    if let Some(ratio) = &req.aspect_ratio {
        if !model.aspect_ratios.contains(&ratio.trim()) {
            return Err(ProviderError::invalid(
                Some("aspect_ratio"),
                format!("`{ratio}` is not offered by `{}`; choose one of {}", model.id, model.aspect_ratios.join(", ")),
            ));
        }
        return Ok((Some(ratio.trim().to_string()), tier));
    }
    let Some(Dims { width: w, height: h }) = req.size else {
        return Ok((None, tier));
    };
    let wanted = f64::from(w) / f64::from(h);
    let nearest = model
        .aspect_ratios
        .iter()
        .filter_map(|r| {
            parse_ratio(r).map(|(rw, rh)| (*r, (rw, rh), (wanted / (f64::from(rw) / f64::from(rh))).ln().abs()))
        })
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let Some((ratio, (rw, rh), _)) = nearest.filter(|n| n.2 <= RATIO_TOLERANCE) else {
        return Err(ProviderError::invalid(
            Some("width"),
            format!(
                "{w}x{h} does not match an aspect ratio `{}` offers ({}); use aspect_ratio instead of width/height",
                model.id,
                model.aspect_ratios.join(", ")
            ),
        ));
    };
    let tier = tier.or_else(|| covering_tier(model, rw, rh, w.max(h)));
    Ok((Some(ratio.to_string()), tier))
}

/// `1k` → `1K`, `0.5K` → `512`.
fn normalize_tier(tier: &str) -> String {
    if tier.eq_ignore_ascii_case("0.5K") { "512".into() } else { tier.trim().to_uppercase() }
}

/// Smallest tier whose long edge at ratio `rw:rh` reaches 90 % of `long`
/// pixels; the largest tier if none does; none for models without tiers.
fn covering_tier(model: &Model, rw: u32, rh: u32, long: u32) -> Option<String> {
    let stretch = (f64::from(rw.max(rh)) / f64::from(rw.min(rh))).sqrt();
    let mut tiers: Vec<(&str, u32)> = model.size_tiers.iter().filter_map(|t| tier_edge(t).map(|e| (*t, e))).collect();
    tiers.sort_by_key(|(_, edge)| *edge);
    tiers
        .iter()
        .find(|(_, edge)| f64::from(*edge) * stretch >= 0.9 * f64::from(long))
        .or(tiers.last())
        .map(|(name, _)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_config(|k| (k == "base_url").then(|| "http://127.0.0.1:9/v1beta/".to_string()))
    }

    fn png(role: Role) -> InputImage {
        let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
        data.extend_from_slice(&[1, 2, 3]);
        InputImage { role, mime_type: "image/png".into(), width: 64, height: 64, data }
    }

    fn body(req: &Request, index: u32) -> Value {
        serde_json::from_slice(&plan(req, &settings()).unwrap().call(index).body).unwrap()
    }

    fn field_of(req: &Request) -> String {
        match plan(req, &settings()) {
            Err(ProviderError::InvalidRequest { field, .. }) => field.unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn generation_body_url_and_auth() {
        let mut req = Request::text("gemini-3.1-flash-image", "a watercolor fox");
        req.aspect_ratio = Some("16:9".into());
        req.size_tier = Some("2k".into());
        let plan = plan(&req, &settings()).unwrap();
        let call = plan.call(0);
        assert_eq!(call.url, "http://127.0.0.1:9/v1beta/models/gemini-3.1-flash-image:generateContent");
        assert!(call.headers.contains(&("x-goog-api-key".into(), "{{secret:GEMINI_API_KEY}}".into())));
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "a watercolor fox"}]}],
                "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}}
            })
        );
    }

    #[test]
    fn references_come_before_the_text_and_seeds_step() {
        let mut req = Request::text("gemini-3-pro-image", "make it night");
        req.operation = Operation::Edit;
        req.images = vec![png(Role::Reference), png(Role::Reference)];
        req.seed = Some(41);
        req.count = 2;
        let parts = body(&req, 1)["contents"][0]["parts"].clone();
        assert_eq!(parts[0]["inlineData"]["mimeType"], "image/png");
        assert_eq!(parts[0]["inlineData"]["data"], "iVBORw0KGgoBAgM=");
        assert_eq!(parts[2]["text"], "make it night");
        assert_eq!(body(&req, 1)["generationConfig"]["seed"], 42);
        assert!(body(&req, 0)["generationConfig"].get("imageConfig").is_none());
    }

    #[test]
    fn sizes_map_to_the_nearest_ratio_and_a_covering_tier() {
        let mut req = Request::text("gemini-3.1-flash-image", "x");
        req.size = Some(Dims { width: 1920, height: 1080 });
        assert_eq!(
            image_config(models::find("gemini-3.1-flash-image").unwrap(), &req).unwrap(),
            (Some("16:9".into()), Some("2K".into()))
        );
        req.size = Some(Dims { width: 1024, height: 1024 });
        assert_eq!(
            image_config(models::find("gemini-3-pro-image").unwrap(), &req).unwrap(),
            (Some("1:1".into()), Some("1K".into()))
        );
        req.size = Some(Dims { width: 512, height: 512 });
        assert_eq!(
            image_config(models::find("gemini-3.1-flash-image").unwrap(), &req).unwrap(),
            (Some("1:1".into()), Some("512".into()))
        );
        req.size = Some(Dims { width: 1000, height: 600 });
        assert_eq!(field_of(&req), "width");
    }

    #[test]
    fn refusals_name_the_field() {
        let base = Request::text("gemini-3.1-flash-image", "x");
        assert_eq!(field_of(&Request { size_tier: Some("8K".into()), ..base.clone() }), "size_tier");
        assert_eq!(
            field_of(&Request { size_tier: Some("512".into()), model: "gemini-3-pro-image".into(), ..base.clone() }),
            "size_tier"
        );
        assert_eq!(
            field_of(&Request { aspect_ratio: Some("8:1".into()), model: "gemini-3-pro-image".into(), ..base.clone() }),
            "aspect_ratio"
        );
        assert_eq!(field_of(&Request { negative_prompt: Some("blur".into()), ..base.clone() }), "negative_prompt");
        assert_eq!(field_of(&Request { count: 5, ..base.clone() }), "count");
        assert_eq!(field_of(&Request { seed: Some(u64::from(u32::MAX)), ..base.clone() }), "seed");
        assert_eq!(
            field_of(&Request {
                operation: Operation::Edit,
                images: vec![png(Role::Mask), png(Role::Reference)],
                ..base.clone()
            }),
            "images"
        );
        assert_eq!(
            field_of(&Request {
                operation: Operation::Edit,
                strength: Some(0.4),
                images: vec![png(Role::Reference)],
                ..base.clone()
            }),
            "strength"
        );
        assert_eq!(field_of(&Request { operation: Operation::Edit, ..base.clone() }), "images");
    }

    #[test]
    fn retired_models_name_the_replacement() {
        for id in ["gemini-2.5-flash-image-preview", "gemini-2.5-flash-image", "imagen-4.0-generate-001"] {
            match plan(&Request::text(id, "x"), &settings()) {
                Err(ProviderError::Unsupported(m)) => assert!(m.contains("`gemini-3.1-flash-image`"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn params_merge_into_generation_config_or_the_body() {
        let req = Request { extra: Some(r#"{"temperature": 0.4, "responseModalities": ["IMAGE"], "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]}"#.into()), ..Request::text("gemini-3.1-flash-image", "x") };
        let body = body(&req, 0);
        assert_eq!(body["generationConfig"]["temperature"], 0.4);
        assert_eq!(body["generationConfig"]["responseModalities"], json!(["IMAGE"]));
        assert_eq!(body["safetySettings"][0]["threshold"], "BLOCK_NONE");
        assert!(body["generationConfig"].get("safetySettings").is_none());
        // An explicit generationConfig object lands in the same place.
        let req = Request {
            extra: Some(r#"{"generationConfig": {"topP": 0.9}}"#.into()),
            ..Request::text("gemini-3.1-flash-image", "x")
        };
        assert_eq!(self::body(&req, 0)["generationConfig"]["topP"], 0.9);
        assert_eq!(Settings::from_config(|_| None).base_url, DEFAULT_BASE_URL);
        let req = Request { extra: Some("[1]".into()), ..req };
        assert!(
            matches!(plan(&req, &settings()).unwrap_err(), ProviderError::InvalidRequest { field: Some(f), .. } if f == "params")
        );
        let req = Request { extra: Some(r#"{"imageConfig": {"aspectRatio": "1:1"}}"#.into()), ..req };
        assert!(
            matches!(plan(&req, &settings()).unwrap_err(), ProviderError::InvalidRequest { field: Some(f), message } if f == "params.imageConfig.aspectRatio" && message.contains("aspect_ratio"))
        );
    }
}
