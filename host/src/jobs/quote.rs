//! What a request would cost before anything runs: the provider and model
//! it routes to, whether that provider is paid (`paid` in plugins.toml),
//! and the estimate from the model's price per image. The MCP surface asks
//! the user to confirm a paid quote (`mcp::spend`).

use super::{Jobs, validate};
use crate::model::Operation;
use crate::pipeline::{Pipeline, Reference, StepOp, parse_reference, rewrite_strings};
use crate::request::GenerateSpec;
use serde_json::Value;

/// A request's cost, as the user is asked to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub provider: String,
    pub model: String,
    /// The provider's calls cost money ([`crate::config::PluginEntry::is_paid`]).
    pub paid: bool,
    /// Images the request makes (`count`, 1 for an upscale).
    pub images: u32,
    /// US dollars per image, from `describe()` or `prices` in plugins.toml.
    pub price_per_image_usd: Option<f64>,
}

impl Quote {
    /// Dollars for the whole request, when the model is priced.
    pub fn estimate_usd(&self) -> Option<f64> {
        self.price_per_image_usd.map(|price| price * f64::from(self.images))
    }

    /// Paid, and not known to be free.
    pub fn needs_confirmation(&self) -> bool {
        self.paid && self.estimate_usd() != Some(0.0)
    }

    /// "~$0.08 for 2 images with `fal-ai/flux/dev` on fal", or "… (price not
    /// known)" for a model without a price.
    pub fn summary(&self) -> String {
        let images = if self.images == 1 { "1 image".to_string() } else { format!("{} images", self.images) };
        match self.estimate_usd() {
            Some(usd) => format!("~${usd:.2} for {images} with `{}` on {}", self.model, self.provider),
            None => format!("{images} with `{}` on {} (price not known)", self.model, self.provider),
        }
    }

    /// Quotes of several requests (a pipeline's steps) as one sentence:
    /// their summaries joined, with the total when every one is priced.
    pub fn summarize(quotes: &[Quote]) -> String {
        let parts: Vec<String> = quotes.iter().map(Quote::summary).collect();
        let total: Option<f64> = quotes.iter().map(Quote::estimate_usd).sum();
        match (quotes.len(), total) {
            (0 | 1, _) | (_, None) => parts.join("; "),
            (_, Some(total)) => format!("~${total:.2} in all: {}", parts.join("; ")),
        }
    }
}

impl Jobs {
    /// The quote of `spec` from `user` as [`Jobs::generate`] would run it (styles
    /// applied, routed, checked). `None` when no enabled provider is paid,
    /// or when it would be refused before reaching a provider: `generate`
    /// then says why, and nothing is spent, so there is nothing to confirm.
    pub async fn quote(&self, spec: &GenerateSpec, user: &str) -> Option<Quote> {
        // Nothing to confirm, so no second routing on every free call.
        if !self.registry().providers().iter().any(|p| p.enabled() && p.paid()) {
            return None;
        }
        let spec = crate::styles::apply(&crate::styles::StyleBook::new(self.store().root()), spec.clone()).ok()?;
        let operation = spec.operation();
        let settings = &spec.settings;
        let (route, _) = self.route(&spec, operation, Some(user)).await.ok()?;
        // An upscale's size is only known once its input is fetched.
        if operation != Operation::Upscale {
            validate::check(&spec, validate::operation_for(operation, &route.model), &route.model).ok()?;
        }
        Some(Quote {
            provider: route.provider.id.clone(),
            model: route.model.id.clone(),
            paid: route.provider.paid(),
            images: if operation == Operation::Upscale { 1 } else { settings.count.unwrap_or(1) },
            price_per_image_usd: route.model.price_per_image_usd,
        })
    }
}

impl Jobs {
    /// A quote for each generating step of `pipeline` (checked already),
    /// before any runs. References to earlier steps are read as what they
    /// will be: a seed as any seed, and a `vary` of an earlier step's image
    /// as that step's provider and model again. A step that would be
    /// refused before reaching a provider has no quote.
    pub async fn quote_pipeline(&self, pipeline: &Pipeline, user: &str) -> Vec<Quote> {
        let mut quoted: Vec<(&str, Quote)> = Vec::new();
        for (index, step) in pipeline.steps.iter().enumerate() {
            if step.op == StepOp::View {
                continue;
            }
            let Ok(args) = step.merged_args(index) else { continue };
            let mut args = Value::Object(args);
            let mut varies_step = None;
            let rewritten = rewrite_strings(&mut args, "", &mut |path, text| {
                Ok(match parse_reference(text) {
                    Some(Ok(Reference::Seed { .. })) => Some(Value::from(0)),
                    Some(Ok(Reference::Image { step, .. })) if path.trim_start_matches('.') == "image" => {
                        varies_step = Some(step);
                        None
                    }
                    _ => None,
                })
            });
            if rewritten.is_err() {
                continue;
            }
            let quote = match (step.op, varies_step) {
                (StepOp::Vary, Some(source)) => {
                    let count = args.get("count").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok());
                    let named = |key| args.get(key).and_then(Value::as_str).map(str::to_string);
                    let (provider, model) = (named("provider"), named("model"));
                    let from_source = quoted.iter().find(|(id, _)| *id == source).map(|(_, quote)| quote.clone());
                    match (provider, model, from_source) {
                        // The variation runs elsewhere: quote where.
                        (provider @ Some(_), model, _) | (provider, model @ Some(_), _) => {
                            let mut spec = GenerateSpec::text("a variation");
                            (spec.settings.provider, spec.settings.model) = (provider, model);
                            spec.settings.count = count;
                            self.quote(&spec, user).await
                        }
                        (None, None, source) => {
                            source.map(|quote| Quote { images: count.unwrap_or(quote.images), ..quote })
                        }
                    }
                }
                _ => match super::pipeline::plan_step(self, step.op, args).await {
                    Ok(spec) => self.quote(&spec, user).await,
                    Err(_) => None,
                },
            };
            if let Some(quote) = quote {
                quoted.push((&step.id, quote));
            }
        }
        quoted.into_iter().map(|(_, quote)| quote).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Quote;

    fn quote(provider: &str, images: u32, price: Option<f64>) -> Quote {
        Quote { provider: provider.into(), model: "m".into(), paid: true, images, price_per_image_usd: price }
    }

    #[test]
    fn a_quote_reads_as_the_user_is_asked() {
        assert_eq!(quote("fal", 2, Some(0.04)).summary(), "~$0.08 for 2 images with `m` on fal");
        assert_eq!(quote("fal", 1, None).summary(), "1 image with `m` on fal (price not known)");
        let both = [quote("fal", 1, Some(0.03)), quote("replicate", 1, Some(0.01))];
        assert!(Quote::summarize(&both).starts_with("~$0.04 in all: "), "{}", Quote::summarize(&both));
    }

    #[test]
    fn only_paid_quotes_not_known_to_be_free_are_confirmed() {
        assert!(quote("fal", 1, None).needs_confirmation());
        assert!(!quote("fal", 1, Some(0.0)).needs_confirmation());
        assert!(!Quote { paid: false, ..quote("comfyui", 1, Some(0.5)) }.needs_confirmation());
    }
}
