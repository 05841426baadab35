//! The calls the host makes: `describe` (the model table and the origin the
//! plugin calls), `submit` (one synchronous `egress.fetch`, then the images)
//! and `poll`/`cancel`, which have nothing to do for a synchronous API.

use crate::models;
use crate::request::{self, SECRET, Settings};
use crate::response;
use crate::types::{Host, JobState, Level, Operation, ProviderError, ProviderInfo, Request, SecretNeed, Submission};
use easel_plugin_kit::http::{Upstream, egress_error};
use easel_plugin_kit::random::unix_now;
use easel_plugin_kit::urls::origin_of;

/// The provider, its models and the origin of `base_url` (WIT `describe`).
pub fn describe(host: &dyn Host) -> ProviderInfo {
    let settings = Settings::from_config(|key| host.config(key));
    ProviderInfo {
        id: "openai".into(),
        display_name: "OpenAI Images".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "OpenAI's GPT Image models (gpt-image-1.5, gpt-image-2, …): text-to-image and multi-image edits with masks, synchronous, billed per image.".into(),
        models: models::MODELS.iter().map(models::Model::info).collect(),
        default_model: models::DEFAULT_MODEL.into(),
        secrets: vec![SecretNeed {
            name: SECRET.into(),
            description: "OpenAI API key (sk-…), from https://platform.openai.com/api-keys; sent as `Authorization: Bearer`.".into(),
            required: true,
        }],
        hosts: vec![origin_of(&settings.base_url)],
    }
}

/// Check the request, POST it and return the images (WIT `submit`): the API
/// is synchronous, so the result is always `done`.
pub fn submit(host: &dyn Host, req: &Request) -> Result<Submission, ProviderError> {
    if !host.secret_configured(SECRET) {
        return Err(ProviderError::Unauthorized(format!(
            "{SECRET} is not set: set the environment variable named in [plugins.openai.secrets.{SECRET}] of plugins.toml"
        )));
    }
    let settings = Settings::from_config(|key| host.config(key));
    let built = request::build(req, &settings)?;
    let endpoint = if req.operation == Operation::Generate { "images/generations" } else { "images/edits" };
    host.log(
        Level::Debug,
        &format!("POST {} model={} n={} ({} bytes)", built.http.url, req.model, req.count, built.http.body.len()),
    );
    host.progress(None, &format!("waiting for OpenAI {endpoint} ({})", req.model));
    let url = built.http.url.clone();
    let response = host.fetch(built.http).map_err(|e| egress_error(e, &Upstream::cloud("OpenAI"), &url))?;
    let images = response::interpret(&response, built.output_format.as_deref(), unix_now())?;
    host.log(Level::Debug, &format!("OpenAI returned {} image(s)", images.len()));
    Ok(Submission::Done(images))
}

/// There are no jobs to poll: `submit` returns the images (WIT `poll`).
pub fn poll(_host: &dyn Host, token: &str) -> Result<JobState, ProviderError> {
    Err(ProviderError::invalid(
        Some("job_id"),
        format!("OpenAI Images is synchronous: submit returns the images, so there is no job `{token}` to poll"),
    ))
}

/// Nothing to cancel (WIT `cancel`).
pub fn cancel(_host: &dyn Host, _token: &str) -> Result<(), ProviderError> {
    Ok(())
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
