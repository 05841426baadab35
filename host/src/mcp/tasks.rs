//! MCP tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663, on
//! protocol 2026-07-28): a generation or pipeline still running when a short
//! wait ends is answered with a task handle whose id is the Easel job id,
//! and `tasks/get` / `tasks/cancel` read and stop that job.
//!
//! Tasks are the jobs themselves, not a second store: a task outlives its
//! session and the server (`<store>/jobs/<id>.json`), a job resumed after a
//! restart is the same task, and `tasks/cancel` reaches the provider exactly
//! as `cancel_generation` does. Clients that do not declare the extension
//! (every 2025-11-25 client: rmcp serves only the 2026 form) keep the job-id
//! tools.

use super::EaselServer;
use crate::jobs::{JobRecord, JobStatus};
use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{CallToolResponse, CreateTaskResult, DetailedTask, ProtocolVersion, Task, TaskPayload, TaskStatus};
use rmcp::service::RequestContext;
use std::time::Duration;

/// How long a call from a task-capable client is held before it is answered
/// with a task, when it gives no `wait_seconds`: long enough that the
/// placeholder and fast providers answer directly, short enough that nothing
/// holds a request open for a provider's queue.
pub const TASK_WAIT: Duration = Duration::from_secs(2);

/// Suggested `tasks/get` interval (ms) for a running job.
pub const POLL_INTERVAL_MS: u64 = 500;

/// Whether this call may be answered with a task: the client declared the
/// tasks extension (at initialize, or in the request's `_meta` capabilities)
/// and speaks 2026-07-28 or later, where `resultType: "task"` exists.
pub fn task_capable(context: &RequestContext<RoleServer>) -> bool {
    context.protocol_version().is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
        && context.client_capabilities().is_some_and(|caps| caps.supports_tasks())
}

/// The wait for a call: the caller's `wait_seconds` when given (bounded
/// elsewhere), otherwise [`TASK_WAIT`] for a task-capable client.
pub fn wait_for(task_capable: bool, asked: Option<u64>, bounded: Duration) -> Duration {
    match (task_capable, asked) {
        (true, None) => bounded.min(TASK_WAIT),
        _ => bounded,
    }
}

/// The task handle for a job still running (`resultType: "task"`).
pub fn created(job: &JobRecord) -> CallToolResponse {
    CallToolResponse::Task(CreateTaskResult::new(task_of(job)))
}

/// A job's task fields: id = job id, status, one-line progress, timestamps.
/// `ttlMs` is null: a job is kept until the store is cleaned.
fn task_of(job: &JobRecord) -> Task {
    let status = match job.status {
        JobStatus::Queued | JobStatus::Running => TaskStatus::Working,
        JobStatus::Succeeded | JobStatus::Failed => TaskStatus::Completed,
        JobStatus::Canceled => TaskStatus::Cancelled,
    };
    let mut task = Task::new(&job.id, status, job.created_at.to_rfc3339(), job.updated_at.to_rfc3339())
        .with_status_message(status_message(job));
    if !status.is_terminal() {
        task = task.with_poll_interval_ms(POLL_INTERVAL_MS);
    }
    task
}

/// "running at fal: 40%, in queue position 3: step `edit` (2 of 3)".
pub fn status_message(job: &JobRecord) -> String {
    let state = format!("{:?}", job.status).to_lowercase();
    let mut message = format!("{state} at {}", job.provider);
    if let Some(progress) = job.progress.filter(|_| !job.status.is_terminal()) {
        message.push_str(&format!(": {:.0}%", f64::from(progress) * 100.0));
    }
    if let Some(position) = job.queue_position.filter(|_| job.status == JobStatus::Queued) {
        message.push_str(&format!(", queue position {position}"));
    }
    if let Some(pipeline) = &job.pipeline
        && !job.status.is_terminal()
        && let Some(step) = pipeline.outcomes.last()
    {
        let total = pipeline.definition.steps.len();
        message.push_str(&format!(", step `{}` ({} of {total})", step.id, pipeline.outcomes.len()));
    }
    if let Some(detail) = job.message.as_deref().or(job.error.as_deref()) {
        message.push_str(&format!(" — {detail}"));
    }
    message
}

/// An unknown task id is invalid params (-32602, SEP-2663 §Protocol Errors).
fn unknown_task(task_id: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown task `{task_id}` (Easel task ids are job ids, job_…)"), None)
}

impl EaselServer {
    /// `tasks/get`: the job's state; once it ended, the `CallToolResult`
    /// the call would have returned (a failed job is `completed` with
    /// `isError: true`, as the same call without a task answers).
    pub(super) async fn task_state(&self, task_id: &str) -> Result<DetailedTask, ErrorData> {
        let job = self.app.jobs.status(task_id).map_err(|_| unknown_task(task_id))?;
        let payload = match job.status {
            JobStatus::Queued | JobStatus::Running => TaskPayload::Working,
            JobStatus::Canceled => TaskPayload::Cancelled,
            JobStatus::Succeeded | JobStatus::Failed => {
                let result = self.job_result(task_id).await;
                let serde_json::Value::Object(result) = serde_json::to_value(&result)
                    .map_err(|e| ErrorData::internal_error(format!("result of {task_id}: {e:#}"), None))?
                else {
                    return Err(ErrorData::internal_error(format!("result of {task_id} is not an object"), None));
                };
                TaskPayload::Completed { result }
            }
        };
        Ok(DetailedTask::new(task_of(&job), payload))
    }

    /// `tasks/cancel`: the job is cancelled as `cancel_generation` does it
    /// (the provider is told); cancelling an ended job is acknowledged and
    /// changes nothing.
    pub(super) async fn cancel_task_job(&self, task_id: &str) -> Result<(), ErrorData> {
        self.app.jobs.cancel(task_id).await.map(|_| ()).map_err(|_| unknown_task(task_id))
    }

    /// `tasks/update`: Easel tasks never ask for input mid-task (spend is
    /// confirmed before the job exists), so there is nothing to deliver;
    /// responses are ignored as the extension says for unknown keys.
    pub(super) fn update_task_job(&self, task_id: &str) -> Result<(), ErrorData> {
        self.app.jobs.status(task_id).map(|_| ()).map_err(|_| unknown_task(task_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_reads_as_working_with_its_progress_and_a_poll_interval() {
        let mut job = JobRecord::new("fal", "fal-ai/flux/dev", "a lighthouse");
        job.status = JobStatus::Queued;
        job.queue_position = Some(3);
        let task = task_of(&job);
        assert_eq!(task.status, TaskStatus::Working);
        assert_eq!(task.task_id, job.id);
        assert_eq!(task.poll_interval_ms, Some(POLL_INTERVAL_MS));
        assert_eq!(task.status_message.as_deref(), Some("queued at fal, queue position 3"));
        job.status = JobStatus::Running;
        job.progress = Some(0.4);
        assert_eq!(status_message(&job), "running at fal: 40%");
    }

    #[test]
    fn ended_jobs_map_to_terminal_task_statuses() {
        let mut job = JobRecord::new("fal", "m", "p");
        for (status, expected) in [
            (JobStatus::Succeeded, TaskStatus::Completed),
            (JobStatus::Failed, TaskStatus::Completed),
            (JobStatus::Canceled, TaskStatus::Cancelled),
        ] {
            job.status = status;
            let task = task_of(&job);
            assert_eq!(task.status, expected);
            assert_eq!(task.poll_interval_ms, None, "no polling advice for an ended task");
        }
    }

    #[test]
    fn only_a_task_capable_caller_without_its_own_wait_gets_the_short_wait() {
        let bounded = Duration::from_secs(60);
        assert_eq!(wait_for(true, None, bounded), TASK_WAIT);
        assert_eq!(wait_for(true, Some(30), Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(wait_for(false, None, bounded), bounded);
        assert_eq!(wait_for(true, None, Duration::ZERO), Duration::ZERO);
    }
}
