//! The template's placeholder values for one handler call, from the Easel
//! request (names in [`crate::template`]).

use crate::settings::Settings;
use crate::template::{Vars, number};
use crate::types::{Request, Role};
use easel_plugin_kit::codec::{b64, data_uri};
use easel_plugin_kit::size::parse_ratio;
use serde_json::json;

/// Values for call `index` of a request. When the template has no
/// `{{count}}`, each call makes one image and gets `seed + index`.
pub fn for_call(request: &Request, s: &Settings, index: u32, request_id: &str) -> Vars {
    let mut v = Vars::new();
    v.insert("prompt", json!(request.prompt));
    if let Some(n) = request.negative_prompt.as_deref().filter(|n| !n.trim().is_empty()) {
        v.insert("negative_prompt", json!(n));
    }
    if let Some((w, h)) = size(request, s) {
        v.insert("width", json!(w));
        v.insert("height", json!(h));
    }
    if let Some(seed) = request.seed {
        v.insert("seed", json!(seed.wrapping_add(u64::from(index))));
    }
    if let Some(steps) = request.steps {
        v.insert("steps", json!(steps));
    }
    if let Some(g) = request.guidance {
        v.insert("guidance", number(g));
    }
    if let Some(strength) = request.strength {
        v.insert("strength", number(strength));
    }
    v.insert("count", json!(request.count.max(1)));
    v.insert("model", json!(request.model));
    if let Some(image) = request.images.iter().find(|i| i.role == Role::Reference) {
        v.insert("image", json!(b64(&image.data)));
        v.insert("image_data_uri", json!(data_uri(&image.mime_type, &image.data)));
    }
    if let Some(mask) = request.images.iter().find(|i| i.role == Role::Mask) {
        v.insert("mask", json!(b64(&mask.data)));
        v.insert("mask_data_uri", json!(data_uri(&mask.mime_type, &mask.data)));
    }
    v.insert("request_id", json!(request_id));
    v
}

/// Requested size; an aspect ratio is laid on the default size's long edge
/// (512 unless `default_size` says otherwise); else `default_size`, if set.
fn size(request: &Request, s: &Settings) -> Option<(u32, u32)> {
    if let Some(d) = request.size {
        return Some((d.width, d.height));
    }
    let m = s.size_multiple.max(1);
    if let Some((rw, rh)) = request.aspect_ratio.as_deref().and_then(parse_ratio) {
        let long = s.default_size.map_or(512, |(w, h)| w.max(h));
        let (w, h) = if rw >= rh { (long, long * rh / rw) } else { (long * rw / rh, long) };
        return Some(((w / m * m).max(m), (h / m * m).max(m)));
    }
    s.default_size
}
