//! Live progress from a prediction's server-sent-event stream (`urls.stream`):
//! one `poll` follows it for a short window, reports every `logs` line as
//! progress, and then lets the ordinary prediction GET decide the state, so
//! the host polls less and sees progress as it happens.
//!
//! Wire facts (docs/providers/replicate.md#live-progress-the-prediction-stream):
//! - A prediction of a model that supports streaming carries `urls.stream`
//!   (e.g. `https://stream.replicate.com/v1/files/bcwr-…`) without asking;
//!   the create body's `stream` flag is deprecated (Replicate's OpenAPI
//!   spec, as generated into replicate-python-beta's `predictions.create`).
//! - `GET <urls.stream>` with `Accept: text/event-stream` and
//!   `Cache-Control: no-store` (replicate-python `replicate/stream.py`,
//!   `stream()`), and the API token as for every call (the HTTP docs'
//!   "Streaming output" curl example sends `Authorization: Bearer …`).
//! - Events: `output` (an output chunk, plain text), `logs` (a log line;
//!   replicate-python's `ServerSentEvent.EventType.LOGS`), `error` (JSON such
//!   as `{"detail": "…"}`), `done` (`{}`, or `{"reason": "canceled"}` /
//!   `{"reason": "error"}`), after which the stream ends (Replicate's
//!   "Streaming output" docs; replicate-javascript `lib/stream.js` stops at
//!   `done` and fails at `error`).
//!
//! Nothing here can fail a poll: a stream that cannot be opened, answers
//! with something other than an event stream, or breaks, only means the
//! GET comes sooner ([`Ended::Unavailable`]).

use crate::types::{EgressError, Host, HttpRequest, Level, Opened, SseEvent};
use easel_plugin_kit::config::config_u64;
use easel_plugin_kit::text::{text_of, truncate};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The config key: how long one poll follows the stream, whole seconds.
pub const KEY: &str = "stream_secs";
/// Default window of one poll, seconds: long enough to spare most GETs,
/// short enough that a poll returns well within the host's call timeout.
pub const DEFAULT_SECS: u64 = 10;
/// Longest window the config may set, seconds: under the 30 s after which
/// Replicate's stream endpoint gives up (`:408: 408 Request Timeout`,
/// the "Streaming output" docs).
pub const MAX_SECS: u64 = 30;
/// Longest wait for the stream's response head, milliseconds (also capped
/// by the window).
pub const HEAD_TIMEOUT_MS: u32 = 10_000;

/// Why following the stream stopped; the caller GETs the prediction in
/// every case, and only that answer decides the job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A `done` event, with the `reason` of its data (`canceled`, `error`)
    /// when it gave one.
    Done(Option<String>),
    /// An `error` event; its detail text.
    Error(String),
    /// The server ended the stream without `done`.
    Closed,
    /// The window passed with the stream still open.
    WindowPassed,
    /// No usable stream: the open was refused or failed, the answer was no
    /// event stream, or a read failed. Says why.
    Unavailable(String),
}

/// The window from `[plugins.replicate.config] stream_secs` (0 turns the
/// stream off), default [`DEFAULT_SECS`], at most [`MAX_SECS`].
pub fn window(host: &dyn Host) -> Duration {
    Duration::from_secs(config_u64(host, KEY).unwrap_or(DEFAULT_SECS).min(MAX_SECS))
}

/// Follow the event stream at `url` for at most `window` (opening it
/// included), reporting each `logs` line as progress: the line as the
/// message (`replicate: 45%|…`) and the fraction it shows, if any.
/// `headers` go with the GET (the bearer token reference).
pub fn follow(host: &dyn Host, url: &str, headers: Vec<(String, String)>, window: Duration) -> Ended {
    let started = Instant::now();
    let ended = read(host, url, headers, started, window);
    let level = if matches!(&ended, Ended::Unavailable(_)) { Level::Info } else { Level::Debug };
    host.log(level, &format!("replicate stream {url}: {}", describe(&ended)));
    ended
}

fn read(host: &dyn Host, url: &str, mut headers: Vec<(String, String)>, started: Instant, window: Duration) -> Ended {
    if window.is_zero() {
        return Ended::WindowPassed;
    }
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("accept"));
    headers.push(("Accept".into(), "text/event-stream".into()));
    headers.push(("Cache-Control".into(), "no-store".into()));
    let head_ms = HEAD_TIMEOUT_MS.min(millis(window));
    let request =
        HttpRequest { method: "GET".into(), url: url.into(), headers, body: vec![], timeout_ms: Some(head_ms.max(1)) };
    let mut stream = match host.open_events(request) {
        Ok(Opened::Open(stream)) => stream,
        Ok(Opened::Response(response)) => {
            return Ended::Unavailable(format!(
                "answered HTTP {} ({}) instead of an event stream",
                response.status,
                response.header("content-type").unwrap_or("no content-type")
            ));
        }
        Err(error) => return Ended::Unavailable(format!("cannot open it: {}", egress_text(&error))),
    };
    loop {
        let left = window.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ended::WindowPassed;
        }
        match stream.next(millis(left).max(1)) {
            Ok(Some(event)) => {
                if let Some(ended) = on_event(host, &event) {
                    return ended;
                }
            }
            Ok(None) => return Ended::Closed,
            Err(EgressError::Timeout(_)) => return Ended::WindowPassed,
            Err(error) => return Ended::Unavailable(format!("it broke: {}", egress_text(&error))),
        }
    }
}

/// Act on one event; `Some` when the stream is over for this poll.
fn on_event(host: &dyn Host, event: &SseEvent) -> Option<Ended> {
    match event.event.as_str() {
        "logs" => {
            let (fraction, line) = crate::prediction::log_progress(&event.data);
            if let Some(line) = line {
                host.progress(fraction, &format!("replicate: {line}"));
            }
            None
        }
        "done" => Some(Ended::Done(field(&event.data, "reason"))),
        "error" => Some(Ended::Error(field(&event.data, "detail").unwrap_or_else(|| truncate(&event.data, 300)))),
        // `output` chunks (an image URL, for image models) and anything
        // undocumented: the GET that follows has the whole output.
        _ => None,
    }
}

/// A string field of JSON event data (`{"reason": "canceled"}`), if any.
fn field(data: &str, key: &str) -> Option<String> {
    let value: Value = serde_json::from_str(data).ok()?;
    value.get(key).filter(|v| !v.is_null()).map(|v| truncate(&text_of(v), 300)).filter(|v| !v.is_empty())
}

fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Done(None) => "done".into(),
        Ended::Done(Some(reason)) => format!("done ({reason})"),
        Ended::Error(detail) => format!("error event: {detail}"),
        Ended::Closed => "closed by the server".into(),
        Ended::WindowPassed => "window passed".into(),
        Ended::Unavailable(why) => format!("no live progress, polling instead: {why}"),
    }
}

fn egress_text(error: &EgressError) -> String {
    let (kind, text) = match error {
        EgressError::Denied(m) => ("denied", m),
        EgressError::SecretUnavailable(m) => ("secret unavailable", m),
        EgressError::InvalidRequest(m) => ("invalid request", m),
        EgressError::Connection(m) => ("connection", m),
        EgressError::Timeout(m) => ("timeout", m),
        EgressError::TooLarge(m) => ("too large", m),
    };
    format!("{kind}: {}", truncate(text, 300))
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_plugin_kit::testing::{ScriptedHost, ScriptedStream, response};

    const URL: &str = "https://stream.replicate.com/v1/files/bcwr-abc";

    fn follow_default(host: &ScriptedHost) -> Ended {
        follow(host, URL, vec![("Authorization".into(), "Bearer {{secret:REPLICATE_API_TOKEN}}".into())], window(host))
    }

    #[test]
    fn logs_lines_become_progress_until_done() {
        let host = ScriptedHost::new("REPLICATE_API_TOKEN", &[]);
        host.stream(ScriptedStream::Events(vec![
            Ok(SseEvent::new("logs", "Using seed: 7")),
            Ok(SseEvent::new("logs", " 45%|████▌     | 9/20 [00:02<00:03]")),
            Ok(SseEvent::new("output", "https://replicate.delivery/x/out-0.png")),
            Ok(SseEvent::new("done", "{}")),
            Ok(SseEvent::new("logs", "never read")),
        ]));
        assert_eq!(follow_default(&host), Ended::Done(None));
        let progress = host.progress.borrow().clone();
        assert_eq!(progress.len(), 2, "{progress:?}");
        assert_eq!(progress[0], (None, "replicate: Using seed: 7".to_string()));
        assert_eq!(progress[1].0, Some(0.45));
        assert!(progress[1].1.starts_with("replicate: 45%|"), "{progress:?}");
        let sent = host.request(0);
        assert_eq!((sent.method.as_str(), sent.url.as_str()), ("GET", URL));
        for header in [("Accept", "text/event-stream"), ("Cache-Control", "no-store")] {
            assert!(sent.headers.contains(&(header.0.into(), header.1.into())), "{:?}", sent.headers);
        }
        assert!(sent.headers.iter().any(|(k, v)| k == "Authorization" && v.contains("{{secret:REPLICATE_API_TOKEN}}")));
        assert_eq!(sent.timeout_ms, Some(HEAD_TIMEOUT_MS));
    }

    #[test]
    fn done_reasons_errors_and_endings() {
        let host = ScriptedHost::new("", &[]);
        host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("done", r#"{"reason": "canceled"}"#))]));
        host.stream(ScriptedStream::Events(vec![
            Ok(SseEvent::new("error", r#"{"detail": "Something went wrong"}"#)),
            Ok(SseEvent::new("done", r#"{"reason": "error"}"#)),
        ]));
        host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("error", "plain text"))]));
        host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("logs", "step 1/4"))]));
        host.stream(ScriptedStream::Events(vec![Err(EgressError::Timeout("no event".into()))]));
        assert_eq!(follow_default(&host), Ended::Done(Some("canceled".into())));
        assert_eq!(follow_default(&host), Ended::Error("Something went wrong".into()));
        assert_eq!(follow_default(&host), Ended::Error("plain text".into()));
        assert_eq!(follow_default(&host), Ended::Closed);
        assert_eq!(host.progress.borrow().last().unwrap().0, Some(0.25));
        assert_eq!(follow_default(&host), Ended::WindowPassed);
    }

    #[test]
    fn anything_but_a_stream_is_unavailable_and_logged() {
        let host = ScriptedHost::new("", &[]);
        host.stream(ScriptedStream::Response(response(404, &[("content-type", "application/json")], b"{}")));
        host.stream(ScriptedStream::Fail(EgressError::Denied("add https://stream.replicate.com".into())));
        host.stream(ScriptedStream::Events(vec![Err(EgressError::Connection("reset".into()))]));
        let first = follow_default(&host);
        assert!(matches!(&first, Ended::Unavailable(why) if why.contains("HTTP 404")), "{first:?}");
        let second = follow_default(&host);
        assert!(matches!(&second, Ended::Unavailable(why) if why.contains("stream.replicate.com")), "{second:?}");
        assert!(matches!(follow_default(&host), Ended::Unavailable(why) if why.contains("broke")));
        assert!(matches!(follow_default(&host), Ended::Unavailable(why) if why.contains("no stream is scripted")));
        let logs = host.logs.borrow();
        assert_eq!(logs.iter().filter(|(level, m)| *level == Level::Info && m.contains("polling instead")).count(), 4);
    }

    #[test]
    fn the_window_comes_from_config_and_zero_is_none() {
        assert_eq!(window(&ScriptedHost::new("", &[])), Duration::from_secs(DEFAULT_SECS));
        assert_eq!(window(&ScriptedHost::new("", &[(KEY, "3")])), Duration::from_secs(3));
        assert_eq!(window(&ScriptedHost::new("", &[(KEY, "600")])), Duration::from_secs(MAX_SECS));
        let host = ScriptedHost::new("", &[(KEY, "0")]);
        assert_eq!(window(&host), Duration::ZERO);
        host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("logs", "50%|"))]));
        assert_eq!(follow_default(&host), Ended::WindowPassed, "a zero window opens nothing");
        assert!(host.sent.borrow().is_empty());
    }
}
