//! Spend confirmation: before a tool call reaches a paid provider, the user
//! is asked through MCP elicitation, with the estimate ("Spend ~$0.08 for 2
//! images with `fal-ai/flux/dev` on fal?"). Nothing is sent to the provider
//! and nothing is stored until they accept.
//!
//! - Protocol 2025-11-25 and earlier: an `elicitation/create` request to the
//!   client while the call waits (MCP "Elicitation", form mode).
//! - Protocol 2026-07-28: the call answers `resultType: "input_required"`
//!   with the same elicitation as an input request; the client asks the
//!   user and calls again with `inputResponses` and the `requestState`
//!   (SEP-2322 multi round-trip requests).
//! - A client that offers no elicitation: `[server] unconfirmed_spend`
//!   decides — `proceed` (the default over stdio) or `refuse` (over HTTP),
//!   the refusal saying how to allow it.
//!
//! The confirmation protects the user from the model: the model writes tool
//! arguments, never `inputResponses`. The `requestState` is a digest of the
//! request and its quote, so an answer given for one request cannot be
//! replayed for another (a larger `count`, another model); a client could
//! forge it, but a client can answer its own elicitation anyway.

use super::EaselServer;
use super::results::error_result;
use crate::config::UnconfirmedSpend;
use crate::jobs::{FieldError, Quote};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, InputResponses, ProtocolVersion,
};
use rmcp::service::RequestContext;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The key of the confirmation among a call's input requests and responses.
pub const INPUT_KEY: &str = "confirm_spend";

/// The boolean the user sets in the elicitation form.
const CONFIRM_FIELD: &str = "confirm";

/// How long an `elicitation/create` waits for the user before the call is
/// refused (a person reading a dialog, not a machine).
const ASK_TIMEOUT: Duration = Duration::from_secs(600);

/// What a 2026-07-28 client sent back with a retried call.
#[derive(Debug, Default)]
pub struct Answers {
    pub responses: Option<InputResponses>,
    pub state: Option<String>,
}

/// What the call does next.
pub enum Confirmation {
    /// Run it: free, confirmed, or allowed without asking.
    Proceed,
    /// Answer this instead (the question, or the refusal).
    Answer(CallToolResponse),
}

impl EaselServer {
    /// Ask the user to confirm `quotes` (the provider calls this tool call
    /// will make) when any needs it. `binding` names the request exactly
    /// (the tool and its job spec), for the `requestState`.
    pub(super) async fn confirm_spend(
        &self,
        quotes: &[Quote],
        binding: &str,
        context: &RequestContext<RoleServer>,
        answers: Answers,
    ) -> Confirmation {
        let paid: Vec<Quote> = quotes.iter().filter(|q| q.needs_confirmation()).cloned().collect();
        if paid.is_empty() {
            return Confirmation::Proceed;
        }
        let summary = Quote::summarize(&paid);
        let state = request_state(binding, &summary);
        let can_ask = context.client_capabilities().is_some_and(|c| c.elicitation.as_ref().is_some_and(offers_form));
        let multi_round = context.protocol_version().is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        let answer = if multi_round {
            let answered = answers.responses.as_ref().and_then(|r| r.get(INPUT_KEY));
            match answered {
                // An answer given for this very request and quote.
                Some(answer) if answers.state.as_deref() == Some(state.as_str()) => {
                    serde_json::from_value::<ElicitResult>(answer.clone()).map_err(|e| {
                        format!("the client's answer to the spend confirmation is not an elicitation result: {e}")
                    })
                }
                _ if can_ask => {
                    let request = InputRequest::Elicitation(ElicitRequest::new(question(&summary)));
                    let ask = InputRequiredResult::new(Some([(INPUT_KEY.to_string(), request)].into()), Some(state));
                    return Confirmation::Answer(ask.into());
                }
                _ => return self.unasked(&summary),
            }
        } else if can_ask {
            context
                .peer
                .create_elicitation_with_timeout(question(&summary), Some(ASK_TIMEOUT))
                .await
                .map_err(|e| format!("the client could not ask the user to confirm the spend: {e}"))
        } else {
            return self.unasked(&summary);
        };
        match answer {
            Ok(result) if accepted(&result) => Confirmation::Proceed,
            Ok(_) => refuse(format!(
                "Not confirmed: the user declined to spend {summary}. Nothing was sent to the provider; \
                 a free provider (list_providers: paid false) needs no confirmation."
            )),
            Err(message) => refuse(format!("{message}; nothing was sent to the provider")),
        }
    }

    /// No one can be asked: what `[server] unconfirmed_spend` says.
    fn unasked(&self, summary: &str) -> Confirmation {
        let default = if self.base_url.is_some() { UnconfirmedSpend::Refuse } else { UnconfirmedSpend::Proceed };
        match self.app.deployment.server.unconfirmed_spend.unwrap_or(default) {
            UnconfirmedSpend::Proceed => Confirmation::Proceed,
            UnconfirmedSpend::Refuse => refuse(format!(
                "This call would spend {summary}, and this client cannot ask the user to confirm it (it offers \
                 no elicitation); nothing was sent. To allow paid calls without asking, set \
                 `unconfirmed_spend = \"proceed\"` under [server] in plugins.toml, or mark the provider \
                 `paid = false` in its [plugins.ID] table."
            )),
        }
    }
}

/// The elicitation the user sees: the estimate and one yes/no field.
fn question(summary: &str) -> ElicitRequestParams {
    let schema = ElicitationSchema::builder()
        .required_bool_property(CONFIRM_FIELD, |b| {
            b.title("Spend it").description("Send the request to the paid provider").with_default(true)
        })
        .build_unchecked();
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!("Spend {summary}? Nothing is sent to the provider until you accept."),
        requested_schema: schema,
    }
}

/// Accepted, and the box not unticked.
fn accepted(result: &ElicitResult) -> bool {
    result.action == ElicitationAction::Accept
        && result.content.as_ref().and_then(|c| c.get(CONFIRM_FIELD)).and_then(|v| v.as_bool()) != Some(false)
}

/// Whether an elicitation capability includes form mode (a capability
/// naming neither mode means form: MCP 2025-06-18 compatibility).
fn offers_form(capability: &rmcp::model::ElicitationCapability) -> bool {
    capability.form.is_some() || capability.url.is_none()
}

/// `spend-v1:` and the hex sha256 of `binding` and `summary`.
fn request_state(binding: &str, summary: &str) -> String {
    let digest = Sha256::new().chain_update(binding).chain_update([0]).chain_update(summary).finalize();
    format!("spend-v1:{}", hex::encode(digest))
}

fn refuse(message: String) -> Confirmation {
    Confirmation::Answer(error_result(&FieldError::other(message)).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unticked_box_or_a_decline_is_not_consent() {
        let answer = |wire: serde_json::Value| serde_json::from_value::<ElicitResult>(wire).unwrap();
        assert!(accepted(&answer(serde_json::json!({"action": "accept", "content": {"confirm": true}}))));
        assert!(accepted(&answer(serde_json::json!({"action": "accept"}))), "accepting the form with its default");
        assert!(!accepted(&answer(serde_json::json!({"action": "accept", "content": {"confirm": false}}))));
        assert!(!accepted(&answer(serde_json::json!({"action": "decline"}))));
        assert!(!accepted(&answer(serde_json::json!({"action": "cancel"}))));
    }

    #[test]
    fn a_confirmation_is_bound_to_its_request_and_quote() {
        let state = request_state("generate_image {count: 1}", "~$0.04 for 1 image");
        assert_eq!(state, request_state("generate_image {count: 1}", "~$0.04 for 1 image"));
        assert_ne!(state, request_state("generate_image {count: 9}", "~$0.04 for 1 image"));
        assert_ne!(state, request_state("generate_image {count: 1}", "~$0.36 for 9 images"));
    }
}
