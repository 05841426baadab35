//! Variations: the job spec that re-runs the request recorded with a stored
//! image, with a new seed and the caller's overrides (`vary_image`, and a
//! pipeline's `vary` step).

use super::{FieldError, GenerateSpec, InputSpec, Jobs};
use crate::model::ImageRole;
use crate::request::Settings;

/// A variation to run: the spec, and the model when it takes no seed and
/// none was given (so the variation re-runs the same request; worth a note).
pub struct Variation {
    pub spec: GenerateSpec,
    pub seedless_model: Option<String>,
}

impl Jobs {
    /// The spec that varies stored image `image` (store id or `image://`
    /// URI): its recipe (provider, model, settings, inputs, upscale factor),
    /// `prompt` in place of its prompt when given, `overrides` on top
    /// (params merge key by key; a new provider drops the old params), one
    /// image, and a fresh 32-bit seed unless given or the model takes none.
    ///
    /// Errors (field `image`): no such image, or an imported one (it has no
    /// request to re-run).
    pub async fn variation(
        &self,
        image: &str,
        prompt: Option<String>,
        overrides: Settings,
    ) -> Result<Variation, FieldError> {
        let id = image.strip_prefix("image://").unwrap_or(image);
        let original = self.store.metadata(id).map_err(|e| FieldError::field("image", format!("{e:#}")))?;
        // With a structured prompt the sidecar's prompt is the compiled
        // text: re-run the caller's own prose and recompile.
        let source_prompt = original.recipe.as_ref().and_then(|r| r.source_prompt.clone());
        // An upscale may have had no prompt at all.
        let upscaled = original.recipe.as_ref().is_some_and(|r| r.scale.is_some() || r.expand.is_some());
        let Some(prompt) = prompt.or(source_prompt).or(original.prompt.clone()).or_else(|| upscaled.then(String::new))
        else {
            return Err(FieldError::field(
                "image",
                format!("image {} was imported, not generated; use edit_image with it as a reference", original.id),
            ));
        };
        // The recipe as recorded; sidecars from before typed recipes (version
        // 1) lack provider, model and negative prompt there, and sidecars
        // without one re-run the prompt on the parents.
        let (mut base, inputs, scale, expand) = match original.recipe.clone() {
            Some(recipe) => (recipe.settings, recipe.images, recipe.scale, recipe.expand),
            None => (
                Settings::default(),
                original.parents.iter().map(|id| InputSpec { id: id.clone(), role: ImageRole::Reference }).collect(),
                None,
                None,
            ),
        };
        base.provider = base.provider.or(original.provider.clone());
        base.model = base.model.or(original.model.clone());
        // (The sidecar's negative prompt also holds a structured prompt's
        // negatives, which the recipe's structured prompt carries itself.)
        if base.structured_prompt.is_none() {
            base.negative_prompt = base.negative_prompt.or(original.negative_prompt.clone());
        }
        // One new image with a new seed unless the caller says otherwise.
        base.count = None;
        base.seed = None;
        let overrides = overrides.normalized();
        // Params are provider-native: they do not carry over to another provider.
        if overrides.provider.is_some() && overrides.provider != base.provider {
            base.params = None;
        }
        let mut settings = base.overridden_by(overrides);
        settings.count = settings.count.or(Some(1));
        // Only a model that takes a seed gets a fresh one; a routing error is
        // left for the job to report.
        let model_takes_seed =
            match self.registry().route(settings.provider.as_deref(), settings.model.as_deref()).await {
                Ok(route) => route.model.features.seed.then_some(()).ok_or(route.model.id),
                Err(_) => Ok(()),
            };
        let seedless_model = match model_takes_seed {
            Ok(()) => {
                // 32-bit: the range every provider accepts.
                settings.seed = settings.seed.or_else(|| Some(u64::from(rand::random::<u32>())));
                None
            }
            Err(model) => settings.seed.is_none().then_some(model),
        };
        Ok(Variation { spec: GenerateSpec { prompt, settings, inputs, scale, expand }, seedless_model })
    }
}
