//! Job records: the state of one generation, kept in memory for waiters
//! and persisted as `<store>/jobs/<id>.json` so status survives restarts;
//! and the per-job lock (`<store>/jobs/<id>.lock`) that says a live process
//! is driving the job.

use super::GenerateSpec;
use crate::model::Operation;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    // Queued: waiting in the provider's queue. (A doc comment here would
    // split the schema's enum into a `oneOf`, which costs tokens.)
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled)
    }
}

/// One generation job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub status: JobStatus,
    pub provider: String,
    pub model: String,
    /// The prompt as the provider got it (compiled, with a structured prompt).
    pub prompt: String,
    /// Whether `prompt` was compiled from a `structured_prompt`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub structured: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The plugin's job token while the provider holds the job.
    #[serde(default)]
    pub token: Option<String>,
    /// Latest progress, 0.0 ..= 1.0.
    #[serde(default)]
    pub progress: Option<f32>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub queue_position: Option<u32>,
    /// Store ids of the results.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Argument at fault, when the error is about one.
    #[serde(default)]
    pub error_field: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// With `provider: "auto"`: which provider and model were chosen and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    /// What a restarted server needs to finish the job through its token;
    /// dropped once the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeInfo>,
    /// A pipeline job: its steps and what each has done so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineState>,
    /// Who asked: the MCP client's name and, over HTTP with sign-in, the
    /// user (`claude-ai (alice@example.org)`); `cli` from the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Whose spend it is in the cost ledger (an email, `token`, `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A pipeline job's definition and progress: `outcomes[i]` is step `i`'s
/// (the last one may still be running, through its own job).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineState {
    pub definition: crate::pipeline::Pipeline,
    #[serde(default)]
    pub outcomes: Vec<crate::pipeline::StepOutcome>,
}

/// The request behind a job, as a restarted server needs it to poll the
/// provider's job token again and record the images like the first server
/// would have (inputs by store id, never bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResumeInfo {
    pub spec: GenerateSpec,
    pub operation: Operation,
    #[serde(default)]
    pub caller: Option<String>,
}

impl JobRecord {
    pub fn new(provider: &str, model: &str, prompt: &str) -> JobRecord {
        let now = Utc::now();
        JobRecord {
            id: format!("job_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            status: JobStatus::Running,
            provider: provider.into(),
            model: model.into(),
            prompt: prompt.into(),
            structured: false,
            created_at: now,
            updated_at: now,
            token: None,
            progress: None,
            message: None,
            queue_position: None,
            images: Vec::new(),
            error: None,
            error_field: None,
            warnings: Vec::new(),
            routing: None,
            resume: None,
            caller: None,
            user: None,
            pipeline: None,
        }
    }

    /// The prompt a `structured_prompt` compiled to (what the provider got),
    /// when the request had one.
    pub fn compiled_prompt(&self) -> Option<&str> {
        self.structured.then_some(self.prompt.as_str())
    }

    /// Whether `id` has the shape of a job id (safe in a path).
    pub fn is_valid_id(id: &str) -> bool {
        id.strip_prefix("job_").is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Write `<dir>/<id>.json` atomically: a uniquely named temp file, then a
    /// rename, so two writers of one record never interleave and a reader (or
    /// a process killed mid-write) sees a whole record or the previous one.
    pub fn persist(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!(".{}.{}.tmp", self.id, uuid::Uuid::new_v4().simple()));
        let result = std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
            .and_then(|()| std::fs::rename(&tmp, dir.join(format!("{}.json", self.id))));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    pub fn load(dir: &Path, id: &str) -> Option<JobRecord> {
        if !Self::is_valid_id(id) {
            return None;
        }
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).ok()?).ok()
    }
}

/// An exclusive advisory lock (`flock`) on `<jobs>/<id>.lock`, held by the
/// process driving the job for as long as it does. The kernel releases it
/// when that process dies — even by `kill -9` — which is how a restarted
/// server tells an orphaned job from one another live server is running.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
    path: PathBuf,
}

impl JobLock {
    /// Take the lock without waiting. `Ok(None)` when another process holds it.
    pub fn try_acquire(dir: &Path, id: &str) -> std::io::Result<Option<JobLock>> {
        let path = dir.join(format!("{id}.lock"));
        let file = File::options().create(true).truncate(false).write(true).open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(JobLock { _file: file, path })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for JobLock {
    /// Remove the lock file while still holding the lock. A process that
    /// opened it just before takes a lock on an unlinked file, so whoever
    /// acquires a lock must re-read the record before acting on it.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = JobLock::try_acquire(dir.path(), "job_00000000000000aa").unwrap().expect("first lock");
        assert!(
            JobLock::try_acquire(dir.path(), "job_00000000000000aa").unwrap().is_none(),
            "a second holder is refused"
        );
        drop(held);
        assert!(JobLock::try_acquire(dir.path(), "job_00000000000000aa").unwrap().is_some(), "free again once dropped");
    }

    #[test]
    fn concurrent_persists_of_one_record_always_leave_a_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let record = JobRecord::new("placeholder", "placeholder-v1", "a fox");
        std::thread::scope(|scope| {
            for n in 0..4 {
                let (dir, mut record) = (dir.path(), record.clone());
                scope.spawn(move || {
                    for i in 0..200 {
                        record.message = Some(format!("writer {n} step {i} {}", "x".repeat(i * 7)));
                        record.persist(dir).unwrap();
                    }
                });
            }
            for _ in 0..400 {
                if let Ok(bytes) = std::fs::read(dir.path().join(format!("{}.json", record.id))) {
                    serde_json::from_slice::<JobRecord>(&bytes).expect("a reader never sees a torn record");
                }
            }
        });
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }
}
