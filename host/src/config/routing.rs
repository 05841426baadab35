//! `[routing]`: how `provider: "auto"` chooses (`providers::auto`) — the
//! order providers are tried in and the most an image may cost.

use super::{ConfigError, ConfigOrigin, Deployment, known};
use serde::Deserialize;
use serde_spanned::Spanned;

/// The `provider` value that asks Easel to choose.
pub const AUTO: &str = "auto";

/// `[routing]` in plugins.toml.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Provider ids in the order `auto` tries them. Default: `[defaults]
    /// provider` first (unless it is the placeholder), then the others by
    /// id, the placeholder last (it draws abstract art, not the picture
    /// asked for).
    #[serde(default)]
    pub prefer: Vec<Spanned<String>>,
    /// Models priced above this many US dollars an image are passed over;
    /// so are paid providers' models without a price. Default: no ceiling.
    #[serde(default)]
    pub max_usd_per_image: Option<f64>,
}

/// Every `prefer` entry names a plugin of the file; the ceiling is a
/// non-negative number.
pub(super) fn check(deployment: &Deployment, origin: &ConfigOrigin) -> Result<(), ConfigError> {
    let routing = &deployment.routing;
    if deployment.plugins.contains_key(AUTO) {
        return Err(origin.error(
            None,
            "[plugins.auto]: `auto` is the provider value that lets Easel choose",
            "give the plugin another id, e.g. [plugins.auto-1]",
        ));
    }
    for entry in &routing.prefer {
        if !deployment.plugins.contains_key(entry.get_ref()) {
            return Err(origin.error(
                Some(entry.span()),
                format!("[routing] prefer names `{}`, which is not a plugin in this file", entry.get_ref()),
                format!("use ids of [plugins.*] tables: {}", known(deployment)),
            ));
        }
    }
    if let Some(ceiling) = routing.max_usd_per_image
        && !(ceiling.is_finite() && ceiling >= 0.0)
    {
        return Err(origin.error(
            None,
            format!("[routing] max_usd_per_image is {ceiling}"),
            "set a price in US dollars, 0 or more (e.g. 0.05)".to_string(),
        ));
    }
    Ok(())
}
