//! Potassium direct mode (docs/providers/banana.md#potassium): `POST
//! {base_url}{route}` with the templated JSON body, `X-Banana-Request-Id`,
//! and the key header when `BANANA_API_KEY` is set. The handler answers
//! synchronously with JSON holding the image(s). Health: `GET /__status__`
//! → `{"gpu_available", "sequence_number", "idle_time", "inference_time"}`.

use crate::errors::classify;
use crate::extract;
use crate::settings::{Settings, Target};
use crate::template;
use crate::types::{Host, HttpRequest, Level, Output, ProviderError, Request};
use crate::vars;
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::random::uuid_v4;
use easel_plugin_kit::text;
use serde_json::Value;

const STATUS_TIMEOUT_MS: u32 = 10_000;

/// `GET /__status__`: `Some(status)` from a Potassium server, `None` from a
/// server without that route (a "serve anything" handler), `Err` when
/// nothing answers or the server wants a key.
pub fn health(host: &dyn Host, s: &Settings) -> Result<Option<Value>, ProviderError> {
    let response = host
        .fetch(HttpRequest {
            method: "GET".into(),
            url: format!("{}/__status__", s.base),
            headers: s.headers(None),
            body: vec![],
            timeout_ms: Some(STATUS_TIMEOUT_MS),
        })
        .map_err(|e| egress_error(e, &Upstream::local(s.server_name(), &s.not_reachable()), "GET /__status__"))?;
    match response.status {
        401 | 403 => Err(classify(&response, s, "/__status__")),
        _ if response.is_success() => Ok(response.json()),
        _ => Ok(None),
    }
}

/// Run the handler: one call when the template passes `{{count}}`, else
/// one call per image (seed + i).
pub fn run(host: &dyn Host, s: &Settings, target: &Target, request: &Request) -> Result<Vec<Output>, ProviderError> {
    let count = request.count.max(1);
    let calls = if template::takes_count(&s.template) { 1 } else { count };
    let given = template::params_for(&s.template, request.extra.as_deref())?;
    let mut out = Vec::new();
    for index in 0..calls {
        let request_id = uuid_v4();
        let body = template::with_params(
            template::render(&s.template, &vars::for_call(request, s, index, &request_id)),
            &given,
        );
        let body = serde_json::to_vec(&body).expect("JSON values serialise");
        host.progress(
            Some(index as f32 / calls as f32 * 0.9),
            &format!("calling the Potassium handler {} at {} ({}/{calls})", target.address, s.base, index + 1),
        );
        host.log(Level::Debug, &format!("banana POST {} request {request_id}", target.address));
        let response = host
            .fetch(HttpRequest {
                method: "POST".into(),
                url: format!("{}{}", s.base, target.address),
                headers: s.headers(Some(&request_id)),
                body,
                timeout_ms: Some(s.timeout_ms),
            })
            .map_err(|e| {
                egress_error(
                    e,
                    &Upstream::local(s.server_name(), &s.not_reachable()),
                    &format!("POST {}", target.address),
                )
            })?;
        if !response.is_success() {
            return Err(classify(&response, s, &format!("route {}", target.address)));
        }
        let json = response.json().ok_or_else(|| ProviderError::Upstream {
            status: response.status,
            message: format!(
                "the handler at {} answered with something that is not JSON: {}",
                target.address,
                text::snippet(&response.body, 200)
            ),
        })?;
        let mut images = extract::images(&json, s.image_pointer.as_deref(), s.seed_pointer.as_deref(), &s.base)?;
        if calls > 1 || images.len() == 1 {
            for (i, image) in images.iter_mut().enumerate() {
                if image.seed.is_none() {
                    image.seed = request.seed.map(|seed| seed.wrapping_add(u64::from(index) + i as u64));
                }
            }
        }
        out.extend(images);
    }
    out.truncate(count as usize);
    host.progress(Some(0.9), &format!("the Potassium handler returned {} image(s)", out.len()));
    Ok(out)
}
