//! `provider: "auto"`: Easel chooses the provider and model. Providers are
//! tried in the deployment's preference order (`[routing] prefer`); a model
//! is a candidate when it is ready, not retired, can do the operation, takes
//! the request as written (size, count, references, mask, seed… — the same
//! checks a named model gets, `jobs::validate`) and is within `[routing]
//! max_usd_per_image`. Among candidates, exact text in a structured prompt
//! goes to a natural-language model (GPT Image, Gemini: they render text),
//! and a mask to a model that inpaints; otherwise the first one wins. The
//! result says in one sentence which was chosen and why.

use super::{Provider, Registry, Route, Status, can_do};
use crate::config::{AUTO, RoutingSettings};
use crate::field_error::FieldError;
use crate::model::{Lifecycle, ModelInfo, Operation, PromptStyle};
use crate::request::GenerateSpec;
use std::sync::Arc;

/// Passed-over providers named in the sentence, at most.
const PASSED_OVER_SHOWN: usize = 3;

/// A route `auto` chose, and the sentence saying why.
pub struct AutoRoute {
    pub route: Route,
    pub reason: String,
}

impl Registry {
    /// The order `auto` tries providers in: [`RoutingSettings::prefer`], or
    /// the default provider (unless the placeholder), the others by id, and
    /// the placeholder last. Disabled providers are left out.
    pub fn auto_order(&self) -> Vec<&Arc<Provider>> {
        let enabled = |p: &&Arc<Provider>| p.enabled();
        if !self.routing.prefer.is_empty() {
            return self.routing.prefer.iter().filter_map(|id| self.get(id.get_ref())).filter(enabled).collect();
        }
        let default = self.default_provider().filter(|id| *id != "placeholder");
        let mut order: Vec<&Arc<Provider>> = self.providers.iter().filter(enabled).collect();
        order.sort_by_key(|p| (Some(p.id.as_str()) != default, p.id == "placeholder", p.id.clone()));
        order
    }

    /// The route for `spec` (whose `provider` is `auto`) doing `operation`.
    ///
    /// Errors: `model` given (field `model`: auto chooses it too); no
    /// candidate (field `provider`), naming why each provider was passed over.
    pub async fn route_auto(&self, spec: &GenerateSpec, operation: Operation) -> Result<AutoRoute, FieldError> {
        if spec.settings.model.is_some() {
            return Err(FieldError::field(
                "model",
                format!("with provider `{AUTO}` Easel chooses the model too: leave model out, or name its provider"),
            ));
        }
        let wants_text = spec.settings.structured_prompt.as_ref().is_some_and(|p| {
            p.get("text").is_some_and(|t| !t.is_null() && t.as_array().is_none_or(|items| !items.is_empty()))
        });
        let order = self.auto_order();
        // (score, place in the order, provider, model)
        let mut best: Option<(u8, usize, &Arc<Provider>, ModelInfo)> = None;
        // The first candidate in order: a preference only explains a choice
        // that differs from it.
        let mut first_fit: Option<String> = None;
        let mut passed_over = Vec::new();
        for (place, provider) in order.iter().enumerate() {
            match provider.status().await {
                Status::Ready => {}
                Status::Unconfigured(_) => {
                    passed_over.push((place, format!("{} (not configured)", provider.id)));
                    continue;
                }
                _ => {
                    passed_over.push((place, format!("{} (not available)", provider.id)));
                    continue;
                }
            }
            let Ok(info) = provider.info().await else { continue };
            let mut why_not = None;
            let default_first = info.models.iter().filter(|m| m.id == info.default_model).chain(info.models.iter());
            for model in default_first.filter(|m| m.lifecycle != Lifecycle::Retired && !m.id.contains('*')) {
                match fits(spec, operation, model, provider.paid(), &self.routing) {
                    Ok(()) => {
                        first_fit.get_or_insert_with(|| format!("{}/{}", provider.id, model.id));
                        let score = u8::from(wants_text && model.prompt_style == PromptStyle::NaturalLanguage) * 2
                            + u8::from(
                                operation == Operation::Inpaint && model.operations.contains(&Operation::Inpaint),
                            );
                        if best.as_ref().is_none_or(|(top, ..)| score > *top) {
                            best = Some((score, place, provider, model.clone()));
                        }
                    }
                    Err(reason) => {
                        why_not.get_or_insert(reason);
                    }
                }
            }
            if let Some(reason) = why_not.filter(|_| best.as_ref().is_none_or(|(_, chosen, ..)| *chosen != place)) {
                let reason: String = reason.chars().take(160).collect();
                passed_over.push((place, format!("{} ({reason})", provider.id)));
            }
        }
        let order_names = order.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ");
        let Some((score, chosen, provider, model)) = best else {
            return Err(FieldError::field(
                "provider",
                format!(
                    "`{AUTO}` found no provider that can {} this request (tried {order_names}): {}",
                    verb(operation),
                    passed_over.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; ")
                ),
            ));
        };
        let info = provider.info().await.map_err(|message| FieldError::field("provider", message))?;
        let plugin = provider.plugin().await.map_err(|message| FieldError::field("provider", message))?;
        let ceiling = match self.routing.max_usd_per_image {
            Some(ceiling) => format!(" within ${ceiling:.2} an image"),
            None => String::new(),
        };
        let first =
            format!("the first in the preference order ({order_names}) that can {} it{ceiling}", verb(operation));
        let chosen_name = format!("{}/{}", provider.id, model.id);
        let why = match first_fit.filter(|first| *first != chosen_name) {
            None => first,
            Some(first_fit) if score >= 2 => {
                format!("it renders the exact text asked for, so it goes ahead of `{first_fit}`, {first}")
            }
            Some(first_fit) => format!("it inpaints with the mask, so it goes ahead of `{first_fit}`, {first}"),
        };
        let mut reason = format!("auto chose `{}` on {}: {why}", model.id, provider.id);
        // Only those before the choice were really passed over.
        let before: Vec<&str> =
            passed_over.iter().filter(|(place, _)| *place < chosen).map(|(_, why)| why.as_str()).collect();
        if !before.is_empty() {
            let shown = before.iter().take(PASSED_OVER_SHOWN).copied().collect::<Vec<_>>().join(", ");
            let more = before.len().saturating_sub(PASSED_OVER_SHOWN);
            reason.push_str(&format!(
                "; passed over {shown}{}",
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ));
        }
        Ok(AutoRoute { route: Route { provider: provider.clone(), plugin, info, model }, reason })
    }
}

/// Whether `model` takes `spec` as written, or the first reason it does not.
fn fits(
    spec: &GenerateSpec,
    operation: Operation,
    model: &ModelInfo,
    paid: bool,
    routing: &RoutingSettings,
) -> Result<(), String> {
    if !can_do(model, operation) {
        return Err(format!("no model that can {}", verb(operation)));
    }
    if let Some(ceiling) = routing.max_usd_per_image {
        match model.price_per_image_usd {
            Some(price) if price > ceiling => return Err(format!("over ${ceiling:.2} an image")),
            None if paid => return Err("no price known, and a ceiling is set".to_string()),
            _ => {}
        }
    }
    // An upscale's size is checked once its input is fetched.
    if operation == Operation::Upscale {
        return Ok(());
    }
    let checked = crate::jobs::validate::operation_for(operation, model);
    crate::jobs::validate::check(spec, checked, model).map(|_| ()).map_err(|e| match e.field {
        Some(field) => format!("`{field}`: {}", e.message),
        None => e.message,
    })
}

fn verb(operation: Operation) -> String {
    format!("{operation:?}").to_lowercase()
}
