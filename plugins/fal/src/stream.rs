//! fal's status stream, for live progress: `GET {status_url}/stream?logs=1`
//! read as server-sent events for one bounded window per `poll`, reporting
//! each event as progress, and saying when the caller must fall back to the
//! plain status poll (docs/providers/fal.md#status-stream).
//!
//! Protocol facts, each from:
//! - The URL is the status URL plus `/stream`, with `logs=1` (or `0`):
//!   fal-js `queue.streamStatus` (libs/client/src/queue.ts) [P], fal's API
//!   reference "Stream request status" (fal.ai/docs/inference-api/queue/status-stream) [P].
//! - Same `Authorization: Key …` as the other queue calls, `Accept:
//!   text/event-stream`: fal-js `FalStream` (libs/client/src/streaming.ts)
//!   sends it through the same authenticated dispatch [P].
//! - Each event's `data` is one JSON status object with the fields of the
//!   plain status answer; the server closes the stream after `COMPLETED`
//!   and sends a comment line every 15 s to keep it open: fal's API
//!   reference [P]. fal-js parses every event's `data` as JSON whatever its
//!   `event:` name [P], and so does this module.
//! - An event's `logs` are the lines new since the previous event: fal-js
//!   `subscribeToStatus` accumulates them "to match previous polling
//!   behavior" [P]; so the last line and fraction seen are kept across events.

use crate::errors::{self, Call};
use crate::flow::AUTH_VALUE;
use crate::status::{self, Status};
use crate::token::Token;
use crate::types::{EgressError, EventStream, Host, HttpRequest, JobState, Level, Opened, ProviderError};
use easel_plugin_kit::text::truncate;
use easel_plugin_kit::urls::with_query;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long to wait for the stream's response head, milliseconds.
pub const OPEN_TIMEOUT_MS: u32 = 10_000;
/// How long one `poll` reads events in all; then it returns the last state
/// and the host polls again (a stream lives only as long as the call).
pub const WINDOW: Duration = Duration::from_secs(10);

/// What watching the stream for one window found.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    /// A `COMPLETED` event arrived, with the run's `error` if it failed:
    /// fetch the result, exactly as after a plain status poll.
    Completed(Option<ProviderError>),
    /// The window passed; the state the last event showed.
    Pending(JobState),
    /// No usable stream (refused, not a stream, ended early, broke, or
    /// silent for the whole window): poll the plain status. Says why.
    Fallback(String),
}

/// The stream URL of a status URL: `…/requests/{id}/status` →
/// `…/requests/{id}/status/stream?logs=1` (fal-js `streamStatus` [P]).
pub fn stream_url(status_url: &str) -> String {
    let (path, query) = status_url.split_once('?').unwrap_or((status_url, ""));
    let url = format!("{}/stream", path.trim_end_matches('/'));
    let url = if query.is_empty() { url } else { format!("{url}?{query}") };
    with_query(&url, "logs=1")
}

/// Open the status stream of `token`'s request and read it for at most
/// [`WINDOW`], reporting progress on every event.
///
/// A 401, 403 or 429 instead of a stream is the error the plain status
/// poll would give (the key or the rate limit is not the stream's fault);
/// any other non-stream answer (404/405 from an older gateway or a proxy,
/// 5xx, JSON) and any egress failure is a [`Watched::Fallback`].
pub fn watch(host: &dyn Host, token: &Token) -> Result<Watched, ProviderError> {
    let request = HttpRequest {
        method: "GET".into(),
        url: stream_url(&token.status_url),
        headers: vec![("Authorization".into(), AUTH_VALUE.into()), ("Accept".into(), "text/event-stream".into())],
        body: vec![],
        timeout_ms: Some(OPEN_TIMEOUT_MS),
    };
    let mut events = match host.open_events(request) {
        Ok(Opened::Open(events)) => events,
        Ok(Opened::Response(response)) if matches!(response.status, 401 | 403 | 429) => {
            return Err(errors::classify(&response, Call::Status, &token.endpoint));
        }
        Ok(Opened::Response(response)) => {
            return Ok(Watched::Fallback(format!("the status stream answered HTTP {} instead", response.status)));
        }
        Err(error) => {
            return Ok(Watched::Fallback(format!("the status stream did not open ({})", egress_text(&error))));
        }
    };
    Ok(read(host, events.as_mut(), WINDOW))
}

/// Read events until `COMPLETED`, the end of `window`, or trouble.
pub fn read(host: &dyn Host, events: &mut dyn EventStream, window: Duration) -> Watched {
    let started = Instant::now();
    let mut seen = Seen::default();
    loop {
        let left = window.saturating_sub(started.elapsed());
        if left.is_zero() {
            return seen.window_passed();
        }
        let wait_ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
        match events.next(wait_ms) {
            Ok(Some(event)) => {
                let Some(body) = serde_json::from_str::<Value>(&event.data).ok().filter(|b| b.get("status").is_some())
                else {
                    host.log(
                        Level::Debug,
                        &format!(
                            "fal status stream: ignoring an event that is not a status: {}",
                            truncate(&event.data, 200)
                        ),
                    );
                    continue;
                };
                if let Some(done) = seen.event(host, status::parse_status(&body)) {
                    return done;
                }
            }
            Ok(None) => return Watched::Fallback("the status stream ended before COMPLETED".into()),
            Err(EgressError::Timeout(_)) => return seen.window_passed(),
            Err(error) => return Watched::Fallback(format!("the status stream broke ({})", egress_text(&error))),
        }
    }
}

/// What the events so far showed.
#[derive(Default)]
struct Seen {
    /// The last status (its fraction and log merged with earlier events').
    last: Option<Status>,
    /// The last progress reported, to report only changes.
    reported: Option<(Option<f32>, String)>,
}

impl Seen {
    /// Take one status event: report it, and `Some` when it ends the watch.
    fn event(&mut self, host: &dyn Host, status: Status) -> Option<Watched> {
        let status = match status {
            Status::Completed { error } => return Some(Watched::Completed(error)),
            // Logs are only the new lines: keep the last line and fraction.
            Status::Running { fraction, log } => {
                let (before_fraction, before_log) = match &self.last {
                    Some(Status::Running { fraction, log }) => (*fraction, log.clone()),
                    _ => (None, None),
                };
                Status::Running { fraction: fraction.or(before_fraction), log: log.or(before_log) }
            }
            other => other,
        };
        if let Some(report) = report_of(&status)
            && self.reported.as_ref() != Some(&report)
        {
            host.progress(report.0, &report.1);
            self.reported = Some(report);
        }
        self.last = Some(status);
        None
    }

    /// The window is over: the last state, or a fallback when nothing came.
    fn window_passed(self) -> Watched {
        match self.last.as_ref().and_then(status::pending_state) {
            Some(state) => Watched::Pending(state),
            None => Watched::Fallback("the status stream sent no status within the window".into()),
        }
    }
}

/// The progress line of a pending status: `fal: queued (position 2)`, or
/// the last log line (`fal: 45%|####      | 9/20`) with its fraction.
fn report_of(status: &Status) -> Option<(Option<f32>, String)> {
    Some(match status {
        Status::Queued(Some(position)) => (None, format!("fal: queued (position {position})")),
        Status::Queued(None) => (None, "fal: queued".into()),
        Status::Running { fraction, log: Some(line) } => (*fraction, format!("fal: {line}")),
        Status::Running { fraction, log: None } => (*fraction, "fal: running".into()),
        Status::Other(name) => (None, format!("fal status {name}")),
        Status::Completed { .. } => return None,
    })
}

fn egress_text(error: &EgressError) -> &str {
    match error {
        EgressError::Denied(m)
        | EgressError::SecretUnavailable(m)
        | EgressError::InvalidRequest(m)
        | EgressError::Connection(m)
        | EgressError::Timeout(m)
        | EgressError::TooLarge(m) => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SseEvent;
    use easel_plugin_kit::testing::ScriptedHost;

    /// A stream that never ends: the same queued event, forever.
    struct Endless;

    impl EventStream for Endless {
        fn next(&mut self, _timeout_ms: u32) -> Result<Option<SseEvent>, EgressError> {
            Ok(Some(SseEvent::new("message", r#"{"status":"IN_QUEUE","queue_position":4}"#)))
        }
    }

    #[test]
    fn the_window_bounds_reading_even_when_events_keep_coming() {
        let host = ScriptedHost::new("FAL_KEY", &[]);
        let watched = read(&host, &mut Endless, Duration::from_millis(20));
        assert_eq!(watched, Watched::Pending(JobState::Queued(Some(4))));
        assert_eq!(host.progress.borrow().len(), 1, "an unchanged state is reported once");
        assert!(matches!(read(&host, &mut Endless, Duration::ZERO), Watched::Fallback(_)));
    }

    #[test]
    fn stream_urls_add_stream_and_logs() {
        assert_eq!(
            stream_url("https://queue.fal.run/fal-ai/flux/requests/r1/status"),
            "https://queue.fal.run/fal-ai/flux/requests/r1/status/stream?logs=1"
        );
        assert_eq!(stream_url("http://h/a/requests/r1/status/?x=1"), "http://h/a/requests/r1/status/stream?x=1&logs=1");
    }
}
