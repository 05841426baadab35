//! `run_pipeline` on the MCP surface: the steps as a model writes them,
//! run as one job by `jobs::pipeline` (status and cancel through the usual
//! job tools), answered like a generation.

use super::EaselServer;
use super::outputs::{PipelineOutput, output_schema};
use super::spend::{Answers, Confirmation};
use crate::pipeline::{Pipeline, Step};
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// `run_pipeline`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineArgs {
    pub steps: Vec<Step>,
    /// Seconds to wait before a job id is returned instead.
    #[serde(default)]
    #[schemars(with = "u64")]
    pub wait_seconds: Option<u64>,
}

#[tool_router(router = pipeline_router, vis = "pub(super)")]
impl EaselServer {
    /// Run steps in order as one job. args: that op's tool arguments (view:
    /// {image}, shown in the result); "$<id>.images[N]" / "$<id>.seed" name
    /// an earlier step's. A failing step stops the run, keeping its images.
    #[tool(output_schema = output_schema::<PipelineOutput>(), annotations(title = "Run pipeline", destructive_hint = false))]
    async fn run_pipeline(
        &self,
        Parameters(args): Parameters<PipelineArgs>,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let pipeline = Pipeline { steps: args.steps };
        // A pipeline that fails its checks is refused below, asking nothing.
        if pipeline.check().is_ok() {
            let quotes = self.app.jobs.quote_pipeline(&pipeline, &super::requester(&context).user).await;
            let binding = serde_json::to_string(&pipeline.steps).unwrap_or_default();
            let answers = Answers { responses, state };
            if let Confirmation::Answer(answer) = self.confirm_spend(&quotes, &binding, &context, answers).await {
                return Ok(answer);
            }
        }
        let as_task = super::tasks::task_capable(&context);
        let wait = super::tasks::wait_for(as_task, args.wait_seconds, self.bounded_wait(args.wait_seconds));
        let caller = super::requester(&context);
        let (progress, forwarder) = self.progress_forwarder(&context);
        let outcome = self.app.jobs.run_pipeline(pipeline, caller, progress, wait).await;
        Self::finish_forwarding(forwarder).await;
        Ok(self.answer(outcome, as_task).await)
    }
}

impl EaselServer {
    /// The caller's wait, bounded (see `tools::MAX_WAIT_SECONDS`).
    pub(super) fn bounded_wait(&self, wait_seconds: Option<u64>) -> Duration {
        Duration::from_secs(wait_seconds.unwrap_or(self.wait_secs).min(super::tools::MAX_WAIT_SECONDS))
    }
}
