//! The cap on legacy (pre-2026-07-28) streamable-HTTP sessions:
//! [`CappedSessions`], an rmcp `SessionManager` that delegates to
//! `LocalSessionManager`, keeps its own set of open session ids, and refuses
//! to create a session past the cap.
//!
//! rmcp answers any `create_session` error with HTTP 500 and logs it at
//! `error` every time, so `http` asks [`CappedSessions::is_full`] before a
//! request reaches rmcp and answers an `initialize` with HTTP 503 itself;
//! the refusal here is the backstop for `initialize`s that race past that
//! check together.

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, LocalSessionManagerError};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 30;

/// rmcp's in-memory sessions, at most `max` open at once.
///
/// A session counts from `create_session` (or a restore) until
/// `close_session`, which rmcp calls on `DELETE /mcp` and again when the
/// session's worker ends (idle expiry included: 5 minutes,
/// `SessionConfig::DEFAULT_KEEP_ALIVE`); closing twice is harmless.
#[derive(Debug)]
pub struct CappedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// Ids of the sessions open now. A tokio mutex: `create_session` holds
    /// it across the inner create, so two racing creates cannot both take
    /// the last place.
    open: tokio::sync::Mutex<HashSet<SessionId>>,
    /// Refusals so far, to log the 1st, 10th, 100th… only.
    refusals: AtomicU64,
}

/// Why [`CappedSessions`] refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// `max` sessions are open; the display is the text a refused client
    /// reads.
    #[error("too many MCP sessions are open ({max}); close one (HTTP DELETE /mcp) or retry after idle sessions expire")]
    Full {
        /// The cap (`--max-sessions`).
        max: usize,
    },
    /// The inner `LocalSessionManager` failed (unknown session, a closed
    /// worker, a bad event id).
    #[error(transparent)]
    Session(#[from] LocalSessionManagerError),
}

impl CappedSessions {
    /// An empty manager that holds at most `max` sessions (0 refuses all).
    pub fn new(max: usize) -> CappedSessions {
        CappedSessions {
            inner: LocalSessionManager::default(),
            max,
            open: tokio::sync::Mutex::new(HashSet::new()),
            refusals: AtomicU64::new(0),
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Sessions open now.
    pub async fn open(&self) -> usize {
        self.open.lock().await.len()
    }

    /// Whether a new session would be refused now.
    pub async fn is_full(&self) -> bool {
        self.open().await >= self.max
    }

    /// Count one refusal (logged at the 1st, 10th, 100th…: a client opening
    /// sessions in a loop must not flood the log) and return its error.
    pub fn refusal(&self) -> SessionsError {
        let count = self.refusals.fetch_add(1, Ordering::Relaxed) + 1;
        if count == 10u64.pow(count.ilog10()) {
            tracing::warn!("refused a new MCP session ({count} so far): {} are open (--max-sessions)", self.max);
        }
        SessionsError::Full { max: self.max }
    }
}

impl SessionManager for CappedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    /// Errors: [`SessionsError::Full`] at the cap.
    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let mut open = self.open.lock().await;
        if open.len() >= self.max {
            return Err(self.refusal());
        }
        let (id, transport) = self.inner.create_session().await?;
        open.insert(id.clone());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.open.lock().await.remove(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }

    /// A restored session counts like a created one (rmcp restores only
    /// with a session store configured, which `http` does not).
    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let mut open = self.open.lock().await;
        let outcome = self.inner.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            open.insert(id);
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::{CappedSessions, SessionManager, SessionsError};

    #[tokio::test]
    async fn creates_up_to_the_cap_and_a_close_makes_room() {
        let sessions = CappedSessions::new(2);
        let (first, _t1) = sessions.create_session().await.unwrap();
        let (_second, _t2) = sessions.create_session().await.unwrap();
        assert!(sessions.is_full().await);
        let refused = sessions.create_session().await.err().expect("the third is refused");
        assert!(matches!(refused, SessionsError::Full { max: 2 }));
        assert!(refused.to_string().starts_with("too many MCP sessions are open (2);"), "{refused}");

        // rmcp closes a session on DELETE and again when its worker ends.
        sessions.close_session(&first).await.unwrap();
        sessions.close_session(&first).await.unwrap();
        assert_eq!(sessions.open().await, 1);
        assert!(!sessions.has_session(&first).await.unwrap());
        sessions.create_session().await.unwrap();
        assert!(sessions.is_full().await);
    }

    #[tokio::test]
    async fn a_cap_of_zero_refuses_every_session() {
        let sessions = CappedSessions::new(0);
        assert!(sessions.is_full().await);
        assert!(sessions.create_session().await.is_err());
    }
}
