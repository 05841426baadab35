//! The calls the host makes: `describe` (the model table and the origin the
//! plugin calls), `submit` (one synchronous `egress.fetch` per image, since
//! the API has no `n`) and `poll`/`cancel`, which have nothing to do for a
//! synchronous API.

use crate::models;
use crate::request::{self, SECRET, Settings};
use crate::response;
use crate::types::{Host, JobState, Level, Output, ProviderError, ProviderInfo, Request, SecretNeed, Submission};
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::random::unix_now;
use easel_plugin_kit::urls::origin_of;

/// The provider, its models and the origin of `base_url` (WIT `describe`).
pub fn describe(host: &dyn Host) -> ProviderInfo {
    let settings = Settings::from_config(|key| host.config(key));
    ProviderInfo {
        id: "gemini".into(),
        display_name: "Google Gemini (Nano Banana)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Google's Gemini native image models (\"Nano Banana 2\" gemini-3.1-flash-image, \"Nano Banana Pro\" gemini-3-pro-image): text-to-image and reference-image edits through the Gemini API, synchronous.".into(),
        models: models::MODELS.iter().map(models::Model::info).collect(),
        default_model: models::DEFAULT_MODEL.into(),
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: "Gemini API key from https://aistudio.google.com/apikey (operators may read it from GEMINI_API_KEY or GOOGLE_API_KEY); sent as `x-goog-api-key`.".into(),
            required: true,
        }],
        hosts: vec![origin_of(&settings.base_url)],
    }
}

/// Check the request, make one call per image and return the images (WIT
/// `submit`, always `done`). When a later call fails, the images already
/// paid for are returned and the failure is logged.
pub fn submit(host: &dyn Host, req: &Request) -> Result<Submission, ProviderError> {
    if !host.secret_configured(SECRET) {
        return Err(ProviderError::Unauthorized(format!(
            "{SECRET} is not set: set GEMINI_API_KEY (or GOOGLE_API_KEY, as named in [plugins.gemini.secrets.{SECRET}] of plugins.toml)"
        )));
    }
    let settings = Settings::from_config(|key| host.config(key));
    let plan = request::plan(req, &settings)?;
    host.log(
        Level::Debug,
        &format!(
            "POST {} x{} aspectRatio={:?} imageSize={:?} seed={:?}",
            plan.url, plan.count, plan.aspect_ratio, plan.image_size, plan.seed
        ),
    );
    // The API has no `n`: one call per image (docs/providers/gemini.md#generatecontent).
    let mut images: Vec<Output> = Vec::new();
    for index in 0..plan.count {
        host.progress(
            Some(index as f32 / plan.count as f32),
            &format!("waiting for Gemini {} (image {} of {})", plan.model.id, index + 1, plan.count),
        );
        let call = plan.call(index);
        let url = call.url.clone();
        let outcome = host
            .fetch(call)
            .map_err(|e| egress_error(e, &Upstream::cloud("Gemini"), &url))
            .and_then(|r| response::interpret(&r, unix_now()));
        match outcome {
            Ok(got) => images.extend(got.into_iter().map(|image| Output { seed: plan.seed_for(index), ..image })),
            Err(error) if images.is_empty() => return Err(error),
            Err(error) => {
                // Keep the images already paid for; say why the rest are missing.
                host.log(
                    Level::Warn,
                    &format!(
                        "Gemini image {} of {} failed, returning {}: {error:?}",
                        index + 1,
                        plan.count,
                        images.len()
                    ),
                );
                break;
            }
        }
    }
    images.truncate(plan.count as usize);
    Ok(Submission::Done(images))
}

/// There are no jobs to poll: `submit` returns the images (WIT `poll`).
pub fn poll(_host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    Err(ProviderError::invalid(
        Some("job_id"),
        format!(
            "Gemini generateContent is synchronous: submit returns the images, so there is no job `{token}` to poll"
        ),
    ))
}

/// Nothing to cancel (WIT `cancel`).
pub fn cancel(_host: &dyn Host, _token: &str) -> Result<(), ProviderError> {
    Ok(())
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
