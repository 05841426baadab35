//! The jobs' side of the cost ledger ([`crate::ledger`]): a generation is
//! reserved against the caps before it is submitted (a refusal stores
//! nothing and reaches no provider), settled when it ends, and usage is
//! read back for `get_usage`.

use super::{JobRecord, JobStatus, Jobs, Requester};
use crate::field_error::FieldError;
use crate::ledger::{Caps, Entry, Ledger, Usage};
use crate::model::{GenerationRequest, ModelInfo, Operation};

impl Jobs {
    /// Record generations in `ledger`, refusing those past `caps`. Set
    /// once, at boot; later calls are ignored.
    pub fn attach_ledger(&self, ledger: Ledger, caps: Caps) {
        let _ = self.ledger.set((ledger, caps));
    }

    /// Reserve the job `record` (about to submit `request` to `model`) for
    /// `requester`.
    ///
    /// Errors: a cap refuses (its message names what was spent, the cap
    /// and the reset), or the ledger cannot be written.
    pub(super) async fn reserve(
        &self,
        record: &JobRecord,
        requester: &Requester,
        request: &GenerationRequest,
        operation: Operation,
        model: &ModelInfo,
    ) -> Result<(), FieldError> {
        let Some((ledger, caps)) = self.ledger.get() else { return Ok(()) };
        let operation = serde_json::to_value(operation).ok().and_then(|v| v.as_str().map(String::from));
        let entry = Entry {
            job_id: record.id.clone(),
            user: requester.user.clone(),
            provider: record.provider.clone(),
            model: record.model.clone(),
            operation: operation.unwrap_or_default(),
            width: request.size.map(|s| s.width),
            height: request.size.map(|s| s.height),
            count: request.count,
            price_usd: model.price_per_image_usd.unwrap_or(0.0),
        };
        match ledger.reserve(entry, *caps, chrono::Utc::now()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(FieldError::other(format!("refused by [caps]: {}", refusal.message))),
            Err(e) => Err(FieldError::other(format!(
                "cannot record the generation in the cost ledger {}: {e:#}",
                ledger.path().display()
            ))),
        }
    }

    /// Usage of `user`, or of everyone (`None`).
    ///
    /// Errors: no ledger, or it cannot be read.
    pub async fn usage(&self, user: Option<String>) -> Result<(Vec<Usage>, Caps), FieldError> {
        let Some((ledger, caps)) = self.ledger.get() else {
            return Err(FieldError::other("this easel keeps no cost ledger"));
        };
        let usage = ledger
            .usage(user, chrono::Utc::now())
            .await
            .map_err(|e| FieldError::other(format!("reading the cost ledger: {e:#}")))?;
        Ok((usage, *caps))
    }
}

/// Settle `record`'s row now that it has ended (logged, never fatal).
pub(super) async fn settle(ledger: &Ledger, record: &JobRecord) {
    let outcome = match record.status {
        JobStatus::Succeeded => "succeeded",
        JobStatus::Canceled => "canceled",
        _ => "failed",
    };
    if let Err(e) = ledger.settle(&record.id, outcome, &record.images).await {
        tracing::warn!("settling job {} in the cost ledger: {e:#}", record.id);
    }
}
