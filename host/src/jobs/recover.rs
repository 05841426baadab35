//! After a restart: find the jobs a dead process left unfinished, poll their
//! provider job tokens again, and mark the ones that cannot be resumed failed
//! with the reason — so no job stays "running" forever; and carry on with
//! the pipelines they left, from the step each had reached.

use super::run::{JobRun, build_request};
use super::{JobLock, JobRecord, JobStatus, Jobs};
use std::sync::Arc;
use tokio::sync::watch;

/// What one recovery pass did, by job id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Jobs polled again through their provider job token.
    pub resumed: Vec<String>,
    /// Jobs marked failed, each with the reason.
    pub failed: Vec<(String, String)>,
}

impl Jobs {
    /// Pick up every unfinished job in `<store>/jobs` whose lock no live
    /// process holds (a job another server is driving is left alone).
    ///
    /// A job with a provider job token is resumed: its task polls the token
    /// and stores the images as the first server would have. A job without
    /// one (the server died before the provider accepted it, or the provider
    /// answers in one blocking call) is marked failed with a message that
    /// says to run it again. Waits for the plugins it needs to load.
    pub async fn recover(self: &Arc<Self>) -> Recovery {
        let mut recovery = Recovery::default();
        let dir = self.store.jobs_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else { return recovery };
        let ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .filter(|id| JobRecord::is_valid_id(id))
            .collect();
        // Pipelines last: each waits for the job of the step it had reached,
        // which this pass resumes (or marks failed) first.
        let mut ids = ids;
        ids.sort_by_key(|id| JobRecord::load(&dir, id).is_some_and(|r| r.pipeline.is_some()));
        for id in ids {
            if self.live.lock().unwrap().contains_key(&id) {
                continue;
            }
            if JobRecord::load(&dir, &id).is_none_or(|r| r.status.is_terminal()) {
                continue;
            }
            let lock = match JobLock::try_acquire(&dir, &id) {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(job = %id, "cannot lock job for recovery: {e}");
                    continue;
                }
            };
            // Re-read under the lock: the previous holder may have finished it.
            let Some(record) = JobRecord::load(&dir, &id).filter(|r| !r.status.is_terminal()) else { continue };
            if record.pipeline.is_some() {
                tracing::info!(job = %id, "resumed an unfinished pipeline after a restart");
                self.resume_pipeline(record, Some(lock));
                recovery.resumed.push(id);
                continue;
            }
            match self.resume(record.clone(), lock).await {
                Ok(()) => {
                    tracing::info!(job = %id, provider = %record.provider, "resumed an unfinished job after a restart");
                    recovery.resumed.push(id);
                }
                Err(reason) => {
                    let mut record = record;
                    record.status = JobStatus::Failed;
                    record.error = Some(format!("the server stopped while this job was running: {reason}"));
                    record.resume = None;
                    record.updated_at = chrono::Utc::now();
                    if let Err(e) = record.persist(&dir) {
                        tracing::warn!(job = %id, "cannot persist job record: {e}");
                    }
                    tracing::warn!(job = %id, "marked failed after a restart: {reason}");
                    recovery.failed.push((id, reason));
                }
            }
        }
        recovery
    }

    /// Start polling `record`'s provider job token again, holding `lock`.
    async fn resume(self: &Arc<Self>, record: JobRecord, lock: JobLock) -> Result<(), String> {
        let Some(token) = record.token.clone() else {
            return Err(format!(
                "provider `{}` had not returned a job token to resume it by (it was being submitted, or the provider answers in one call); run it again",
                record.provider
            ));
        };
        let Some(info) = record.resume.clone() else {
            return Err(
                "the job record has no request to resume it with (written by an older Easel); run it again".into()
            );
        };
        let route = self
            .registry()
            .route(Some(&record.provider), Some(&record.model))
            .await
            .map_err(|e| format!("cannot resume it: {}", e.message))?;
        // Polling needs no input bytes; the sidecars still name the inputs.
        let mut without_inputs = info.spec.clone();
        without_inputs.inputs.clear();
        let request =
            build_request(&self.store, &without_inputs, info.operation, &route.model).map_err(|e| e.message)?;
        let (state_tx, state_rx) = watch::channel(record.clone());
        let job = JobRun {
            store: self.store.clone(),
            route,
            request,
            spec: info.spec,
            caller: info.caller,
            user: record.user.clone(),
            progress: None,
            state: state_tx,
            resume_token: Some(token),
            lock: Some(lock),
            cancel: Default::default(),
        };
        self.start(&record.id, job, state_rx);
        Ok(())
    }
}
