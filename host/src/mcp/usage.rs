//! `get_usage` (tool): the caller's generations and estimated spend today,
//! this month and in all, with the deployment's caps, from the cost
//! ledger ([`crate::ledger`]); an admin may ask for every user's.

use super::EaselServer;
use super::results::{error_result, json_result};
use crate::field_error::FieldError;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// `get_usage`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageArgs {
    /// Every user's usage (admins only).
    #[serde(default)]
    pub everyone: bool,
}

#[tool_router(router = usage_router, vis = "pub(super)")]
impl EaselServer {
    /// Your images and estimated spend (USD) today, this month and in all, with the caps.
    #[tool(annotations(
        title = "Usage",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_usage(
        &self,
        Parameters(args): Parameters<UsageArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = super::caller_of(&context);
        if args.everyone && !caller.admin {
            let refusal = FieldError::field(
                "everyone",
                format!("only admins ([server.auth] admin_emails) see every user's usage; you are {}", caller.label()),
            );
            return Ok(error_result(&refusal));
        }
        let user = (!args.everyone).then(|| caller.label());
        Ok(match self.app.jobs.usage(user.clone()).await {
            Ok((mut usage, caps)) => {
                if usage.is_empty()
                    && let Some(user) = user
                {
                    usage.push(crate::ledger::Usage {
                        user,
                        today: Default::default(),
                        this_month: Default::default(),
                        all_time: Default::default(),
                    });
                }
                let lines: Vec<String> = usage
                    .iter()
                    .map(|u| {
                        format!(
                            "{}: today {} image(s) ~${:.2}, this month {} ~${:.2}, in all {} ~${:.2}",
                            u.user,
                            u.today.images,
                            u.today.usd,
                            u.this_month.images,
                            u.this_month.usd,
                            u.all_time.images,
                            u.all_time.usd
                        )
                    })
                    .collect();
                json_result(lines.join("\n"), serde_json::json!({"users": usage, "caps": caps}))
            }
            Err(error) => error_result(&error),
        })
    }
}
