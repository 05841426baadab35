//! The scripted [`Host`] every plugin's native flow tests use: `fetch`
//! answers come from routes (`METHOD /path-prefix`, the last answer
//! repeating) or else from a queue the test fills, and every request,
//! progress report and log line is recorded for the test to check.
//! Randomness can be fixed. Not built for wasm32.

use crate::types::{EgressError, Events, Host, HttpRequest, HttpResponse, Level, Opened, Socket, SseEvent, WsMessage};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

/// What one `fetch` returns: a response or an egress failure.
pub type Answer = Result<HttpResponse, EgressError>;

/// A [`Host`] for tests. `fetch` first looks for a [route](Self::route)
/// whose method matches and whose path prefix starts the request URL's
/// path; otherwise it answers from [`answers`](Self::answers) in order and
/// panics with "an answer is scripted" when the queue runs dry, so a test
/// that makes one request too many fails at that request.
#[derive(Default)]
pub struct ScriptedHost {
    /// `[plugins.NAME.config]` entries, as [`Host::config`] returns them.
    pub config: BTreeMap<String, String>,
    /// The secret names [`Host::secret_configured`] says are set.
    pub secrets: Vec<String>,
    /// What the next unrouted `fetch` calls return, first first.
    pub answers: RefCell<VecDeque<Answer>>,
    /// Routes: (method, path prefix, answers consumed in order, the last repeating).
    pub routes: RefCell<Vec<(String, String, Vec<Answer>)>>,
    /// Every request the plugin sent, in order.
    pub sent: RefCell<Vec<HttpRequest>>,
    /// Every progress report: (fraction 0.0..=1.0, message).
    pub progress: RefCell<Vec<(Option<f32>, String)>>,
    /// Every log line.
    pub logs: RefCell<Vec<(Level, String)>>,
    /// What the next `open_events` / `connect_websocket` calls get, first
    /// first. When none is left they fail with `connection` ("no stream is
    /// scripted"), as a host whose upstream refuses streams would, so a
    /// plugin's fallback to polling runs.
    pub streams: RefCell<VecDeque<ScriptedStream>>,
    /// Every message the plugin sent on a websocket, in order.
    pub ws_sent: RefCell<Vec<WsMessage>>,
    /// When set, [`Host::random_u64`] returns 1000, 2000, 3000, … instead
    /// of random numbers (see [`with_counter`](Self::with_counter)).
    pub counter: Option<Cell<u64>>,
}

impl ScriptedHost {
    /// A host with `secret` configured (none when empty) and `config` set, e.g.
    /// `ScriptedHost::new("FAL_KEY", &[("queue_url", "http://127.0.0.1:9/")])`.
    pub fn new(secret: &str, config: &[(&str, &str)]) -> ScriptedHost {
        ScriptedHost {
            secrets: if secret.is_empty() { vec![] } else { vec![secret.to_string()] },
            config: config.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect(),
            ..ScriptedHost::default()
        }
    }

    /// This host with deterministic randomness: 1000, 2000, 3000, …
    pub fn with_counter(mut self) -> ScriptedHost {
        self.counter = Some(Cell::new(0));
        self
    }

    /// Queue an answer with `status` and a text body, no headers.
    pub fn answer(&self, status: u16, body: &str) {
        self.answer_with(status, &[], body.as_bytes());
    }

    /// Queue an answer with `status`, `headers` and raw `body` bytes.
    pub fn answer_with(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.answers.borrow_mut().push_back(Ok(response(status, headers, body)));
    }

    /// Queue an egress failure (what the host returns when it refuses or
    /// cannot complete a request).
    pub fn fail(&self, error: EgressError) {
        self.answers.borrow_mut().push_back(Err(error));
    }

    /// Answer `method` requests whose URL path starts with `path_prefix`
    /// with `answers`, in order; the last one repeats. Earlier routes win.
    pub fn route(&self, method: &str, path_prefix: &str, answers: Vec<Answer>) {
        assert!(!answers.is_empty(), "a route needs at least one answer");
        self.routes.borrow_mut().push((method.into(), path_prefix.into(), answers));
    }

    /// [`route`](Self::route) with one JSON answer (`content-type: application/json`), repeated.
    pub fn route_json(&self, method: &str, path_prefix: &str, status: u16, body: serde_json::Value) {
        self.route(method, path_prefix, vec![Ok(json_response(status, &body))]);
    }

    /// The `index`th request sent (panics if there is none).
    pub fn request(&self, index: usize) -> HttpRequest {
        self.sent.borrow().get(index).cloned().unwrap_or_else(|| panic!("no request #{index} was sent"))
    }

    /// The requests sent with `method` whose URL path starts with `path_prefix`.
    pub fn sent_to(&self, method: &str, path_prefix: &str) -> Vec<HttpRequest> {
        self.sent
            .borrow()
            .iter()
            .filter(|r| r.method == method && path_of(&r.url).starts_with(path_prefix))
            .cloned()
            .collect()
    }
}

/// What one `open_events` / `connect_websocket` gets from a [`ScriptedHost`].
#[derive(Debug, Clone)]
pub enum ScriptedStream {
    /// An event stream: each item is what one `next` returns; after the
    /// last, `Ok(None)` (the server ended it).
    Events(Vec<Result<SseEvent, EgressError>>),
    /// A websocket: each item is what one `receive` returns; after the
    /// last, `Ok(None)` (the server closed it).
    Socket(Vec<Result<WsMessage, EgressError>>),
    /// An answer that is not a stream (e.g. a 401), read whole.
    Response(HttpResponse),
    /// Egress refused or failed.
    Fail(EgressError),
}

struct ScriptedEvents(VecDeque<Result<SseEvent, EgressError>>);

impl crate::types::EventStream for ScriptedEvents {
    fn next(&mut self, _timeout_ms: u32) -> Result<Option<SseEvent>, EgressError> {
        self.0.pop_front().transpose()
    }
}

struct ScriptedSocket<'h> {
    items: VecDeque<Result<WsMessage, EgressError>>,
    sent: &'h RefCell<Vec<WsMessage>>,
}

impl crate::types::WebSocket for ScriptedSocket<'_> {
    fn send(&mut self, message: WsMessage) -> Result<(), EgressError> {
        self.sent.borrow_mut().push(message);
        Ok(())
    }
    fn receive(&mut self, _timeout_ms: u32) -> Result<Option<WsMessage>, EgressError> {
        self.items.pop_front().transpose()
    }
}

impl ScriptedHost {
    fn next_stream(&self, request: HttpRequest) -> Option<ScriptedStream> {
        self.sent.borrow_mut().push(request);
        self.streams.borrow_mut().pop_front()
    }

    /// Queue what the next `open_events` / `connect_websocket` gets.
    pub fn stream(&self, stream: ScriptedStream) {
        self.streams.borrow_mut().push_back(stream);
    }
}

fn no_stream() -> EgressError {
    EgressError::Connection("no stream is scripted".into())
}

/// A response with `status`, `headers` and `body`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let headers = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    HttpResponse { status, headers, body: body.to_vec() }
}

/// A JSON response (`content-type: application/json`).
pub fn json_response(status: u16, body: &serde_json::Value) -> HttpResponse {
    response(status, &[("content-type", "application/json")], &serde_json::to_vec(body).unwrap_or_default())
}

/// Assert that `result` is an `invalid-request` naming `field`; returns its message.
#[track_caller]
/// A tiny PNG-signed input image with role `control` (a ControlNet guide).
pub fn control_image() -> crate::types::InputImage {
    crate::types::InputImage {
        role: crate::types::Role::Control,
        mime_type: "image/png".into(),
        width: 8,
        height: 8,
        data: b"\x89PNG".to_vec(),
    }
}

pub fn expect_invalid<T: std::fmt::Debug>(result: Result<T, crate::types::ProviderError>, field: &str) -> String {
    match result {
        Err(crate::types::ProviderError::InvalidRequest { field: Some(f), message }) if f == field => message,
        other => panic!("expected invalid-request naming `{field}`, got {other:?}"),
    }
}

/// The path (and query) of a URL: what follows `scheme://authority`.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("", |at| &rest[at..])
}

impl Host for ScriptedHost {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError> {
        let path = path_of(&request.url).to_string();
        let method = request.method.clone();
        self.sent.borrow_mut().push(request);
        let mut routes = self.routes.borrow_mut();
        if let Some((_, _, answers)) =
            routes.iter_mut().find(|(m, prefix, _)| *m == method && path.starts_with(prefix.as_str()))
        {
            return if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() };
        }
        drop(routes);
        self.answers.borrow_mut().pop_front().unwrap_or_else(|| panic!("an answer is scripted (for {method} {path})"))
    }
    fn open_events(&self, request: HttpRequest) -> Result<Opened<Events<'_>>, EgressError> {
        match self.next_stream(request) {
            None => Err(no_stream()),
            Some(ScriptedStream::Events(items)) => Ok(Opened::Open(Box::new(ScriptedEvents(items.into())))),
            Some(ScriptedStream::Response(response)) => Ok(Opened::Response(response)),
            Some(ScriptedStream::Fail(error)) => Err(error),
            Some(other) => panic!("open_events got a scripted {other:?}"),
        }
    }
    fn connect_websocket(&self, request: HttpRequest) -> Result<Opened<Socket<'_>>, EgressError> {
        match self.next_stream(request) {
            None => Err(no_stream()),
            Some(ScriptedStream::Socket(items)) => {
                Ok(Opened::Open(Box::new(ScriptedSocket { items: items.into(), sent: &self.ws_sent })))
            }
            Some(ScriptedStream::Response(response)) => Ok(Opened::Response(response)),
            Some(ScriptedStream::Fail(error)) => Err(error),
            Some(other) => panic!("connect_websocket got a scripted {other:?}"),
        }
    }
    fn secret_configured(&self, name: &str) -> bool {
        self.secrets.iter().any(|secret| secret == name)
    }
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
    fn progress(&self, fraction: Option<f32>, message: &str) {
        self.progress.borrow_mut().push((fraction, message.into()));
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.into()));
    }
    fn random_u64(&self) -> u64 {
        match &self.counter {
            Some(counter) => {
                counter.set(counter.get() + 1);
                counter.get() * 1000
            }
            None => crate::random::random_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> HttpRequest {
        HttpRequest { method: "GET".into(), url: url.into(), headers: vec![], body: vec![], timeout_ms: None }
    }

    #[test]
    fn routes_repeat_their_last_answer_and_the_queue_serves_the_rest() {
        let host = ScriptedHost::new("", &[]).with_counter();
        host.route("GET", "/history/", vec![Ok(response(200, &[], b"{}")), Ok(response(200, &[], b"done"))]);
        host.answer(201, "queued");
        assert_eq!(host.fetch(get("http://h:1/history/p1")).unwrap().body, b"{}");
        assert_eq!(host.fetch(get("http://h:1/history/p1")).unwrap().body, b"done");
        assert_eq!(host.fetch(get("http://h:1/history/p1")).unwrap().body, b"done");
        assert_eq!(host.fetch(get("http://h:1/prompt")).unwrap().status, 201);
        assert_eq!(host.sent_to("GET", "/history/").len(), 3);
        assert_eq!((host.random_u64(), host.random_u64()), (1000, 2000));
        assert!(!host.secret_configured(""));
    }

    #[test]
    fn scripted_streams_play_in_order_then_end_and_unscripted_ones_fail() {
        let host = ScriptedHost::new("", &[]);
        host.stream(ScriptedStream::Events(vec![Ok(SseEvent::new("status", "{}"))]));
        host.stream(ScriptedStream::Socket(vec![Ok(WsMessage::Text("hi".into()))]));
        let Ok(Opened::Open(mut events)) = host.open_events(get("http://h:1/stream")) else { panic!("events") };
        assert_eq!(events.next(10).unwrap(), Some(SseEvent::new("status", "{}")));
        assert_eq!(events.next(10).unwrap(), None, "ended after the script");
        let Ok(Opened::Open(mut socket)) = host.connect_websocket(get("ws://h:1/ws")) else { panic!("socket") };
        socket.send(WsMessage::Text("ping".into())).unwrap();
        assert_eq!(socket.receive(10).unwrap(), Some(WsMessage::Text("hi".into())));
        assert_eq!(socket.receive(10).unwrap(), None);
        drop(socket);
        assert_eq!(host.ws_sent.borrow().len(), 1);
        assert!(matches!(host.open_events(get("http://h:1/stream")), Err(EgressError::Connection(_))));
        assert_eq!(host.sent_to("GET", "/stream").len(), 2);
    }
}
