//! Job records: the state of one generation, kept in memory for waiters
//! and persisted as `<store>/jobs/<id>.json` so status survives restarts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting in the provider's queue.
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
    pub prompt: String,
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
        }
    }

    /// Whether `id` has the shape of a job id (safe in a path).
    pub fn is_valid_id(id: &str) -> bool {
        id.strip_prefix("job_").is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Write `<dir>/<id>.json` atomically.
    pub fn persist(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!(".{}.tmp", self.id));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, dir.join(format!("{}.json", self.id)))
    }

    pub fn load(dir: &Path, id: &str) -> Option<JobRecord> {
        if !Self::is_valid_id(id) {
            return None;
        }
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).ok()?).ok()
    }
}
