//! Long-lived upstream channels a plugin may open for live progress:
//! server-sent-event streams ([`EgressPolicy::open_events`]) and websockets
//! ([`EgressPolicy::connect_websocket`]). They leave through the same policy
//! as `fetch`: the allow-list (a `ws://`/`wss://` URL is checked as
//! `http://`/`https://`), the header rules, secrets filled in toward bound
//! hosts only, the response-size cap (here over everything a stream
//! receives), and redaction of every event and message before the plugin
//! sees it. An answer that is not a stream (an error status, JSON, HTML) is
//! read whole, exactly like `fetch`, so plugins map errors as they do there.
//!
//! The SSE format is parsed by `eventsource-stream` (WHATWG
//! `text/event-stream`); websockets are `reqwest-websocket` (tungstenite over
//! the shared client's HTTP/1.1 upgrade, so DNS, TLS and the public-address
//! resolver are the same as for `fetch`).

use super::policy::timed_out;
use super::{EgressError, EgressPolicy, EgressRequest, EgressResponse, headers, origin};
use eventsource_stream::Eventsource;
use futures::{SinkExt, Stream, StreamExt};
use reqwest_websocket::{Message, Upgrade};
use std::pin::Pin;
use std::time::Duration;
use url::Url;

/// Largest single event (its `data`) or websocket message a plugin gets,
/// bytes. A bigger one fails the read with [`EgressError::TooLarge`].
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// One server-sent event, secrets redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event has none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, when given.
    pub id: Option<String>,
}

/// A websocket message as plugins send and receive it (pings, pongs and
/// close frames are the host's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Vec<u8>),
}

/// What opening a stream got: the stream, or an answer that is not one
/// (read whole under the policy's cap, as `fetch` reads it).
pub enum Opened<T> {
    Open(T),
    Response(EgressResponse),
}

type EventItem = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<EgressError>>;

/// An open `text/event-stream` response. Dropping it closes the connection.
pub struct EventStream {
    head: EgressResponse,
    url: Url,
    events: Pin<Box<dyn Stream<Item = EventItem> + Send>>,
}

impl EventStream {
    /// The response's status and (redacted, lower-case) headers; no body.
    pub fn head(&self) -> &EgressResponse {
        &self.head
    }
}

/// An open websocket. Dropping it closes the connection.
pub struct WebSocket {
    url: Url,
    socket: reqwest_websocket::WebSocket,
    /// Bytes received so far, against the policy's cap.
    received: u64,
}

impl EgressPolicy {
    /// Send `request` and open its answer as a server-sent-event stream
    /// when it is a 2xx `text/event-stream` response without a content
    /// coding; any other answer comes back whole as [`Opened::Response`].
    /// `request.timeout` (capped by the policy) bounds the wait for the
    /// response head only; reads are bounded by [`next_event`](Self::next_event)'s wait.
    ///
    /// Errors: as [`fetch`](Self::fetch) (refusals, connect failures, timeout).
    pub async fn open_events(&self, request: EgressRequest) -> Result<Opened<EventStream>, EgressError> {
        let prepared = self.prepare(request)?;
        if let Some(upstream) = self.scripted() {
            return self.scripted_answer(upstream, prepared).map(Opened::Response);
        }
        let (url, timeout) = (prepared.url.clone(), prepared.timeout);
        let response = tokio::time::timeout(timeout, self.builder(prepared).send())
            .await
            .map_err(|_| EgressError::Timeout(timed_out(&url, timeout)))?
            .map_err(|e| self.describe_error(&url, &e))?;
        let is_stream = response.status().is_success()
            && content_type(&response).is_some_and(|ct| ct.starts_with("text/event-stream"))
            && response
                .headers()
                .get("content-encoding")
                .is_none_or(|c| c.as_bytes().eq_ignore_ascii_case(b"identity"));
        if !is_stream {
            let read = tokio::time::timeout(timeout, self.read_response(response, &url));
            return read.await.map_err(|_| EgressError::Timeout(timed_out(&url, timeout)))?.map(Opened::Response);
        }
        let head = EgressResponse {
            status: response.status().as_u16(),
            headers: headers::plugin_response_headers(self.redacted_headers(response.headers()), 0),
            body: Vec::new(),
        };
        let cap = self.max_response_bytes();
        let too_large = EgressError::TooLarge(self.stream_too_large(&url));
        let failed_url = url.clone();
        let mut seen = 0u64;
        let bytes = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| {
                EgressError::Connection(format!(
                    "{} broke the event stream: {}",
                    origin(&failed_url),
                    super::error_chain(&e)
                ))
            })?;
            seen += chunk.len() as u64;
            if seen > cap { Err(too_large.clone()) } else { Ok(chunk) }
        });
        Ok(Opened::Open(EventStream { head, url, events: Box::pin(bytes.eventsource()) }))
    }

    /// The next event of `stream`, waiting at most `wait`. `Ok(None)`: the
    /// server ended the stream. Errors: [`EgressError::Timeout`] when
    /// nothing arrived in time (the stream stays usable),
    /// [`EgressError::TooLarge`] past the cap or [`MAX_MESSAGE_BYTES`],
    /// [`EgressError::Connection`] when the stream broke or is not UTF-8.
    pub async fn next_event(&self, stream: &mut EventStream, wait: Duration) -> Result<Option<SseEvent>, EgressError> {
        let url = stream.url.clone();
        let item = tokio::time::timeout(wait, stream.events.next()).await.map_err(|_| {
            EgressError::Timeout(format!("{} sent no event within {:.1} s", origin(&url), wait.as_secs_f32()))
        })?;
        let event = match item {
            None => return Ok(None),
            Some(Ok(event)) => event,
            Some(Err(eventsource_stream::EventStreamError::Transport(error))) => return Err(error),
            Some(Err(other)) => {
                return Err(EgressError::Connection(format!(
                    "{} sent a malformed event stream: {other}",
                    origin(&url)
                )));
            }
        };
        if event.data.len() > MAX_MESSAGE_BYTES {
            return Err(EgressError::TooLarge(format!(
                "{} sent an event of more than {} MiB",
                origin(&url),
                MAX_MESSAGE_BYTES >> 20
            )));
        }
        let secrets = self.secrets();
        Ok(Some(SseEvent {
            event: secrets.redact(&event.event),
            data: secrets.redact(&event.data),
            id: Some(event.id).filter(|id| !id.is_empty()).map(|id| secrets.redact(&id)),
        }))
    }

    /// Open a websocket to `request.url` (`ws://` or `wss://`, checked
    /// against the allow-list as `http://` or `https://`). `method` must be
    /// GET and `body` empty; headers follow the `fetch` rules, and the
    /// handshake's own (`sec-websocket-key`, `-version`, `-extensions`) are
    /// the host's. `sec-websocket-protocol` is offered as given. A server
    /// that does not switch protocols is answered as [`Opened::Response`].
    ///
    /// Errors: as [`fetch`](Self::fetch); [`EgressError::InvalidRequest`]
    /// for another scheme, method, a body or a handshake header.
    pub async fn connect_websocket(&self, mut request: EgressRequest) -> Result<Opened<WebSocket>, EgressError> {
        let mut url = Url::parse(&request.url).map_err(|e| EgressError::InvalidRequest(format!("bad URL: {e}")))?;
        let http_scheme = match url.scheme() {
            "ws" => "http",
            "wss" => "https",
            other => {
                return Err(EgressError::InvalidRequest(format!("websocket URLs are ws:// or wss://, not `{other}`")));
            }
        };
        url.set_scheme(http_scheme).expect("http(s) replaces ws(s)");
        if !request.method.eq_ignore_ascii_case("GET") || !request.body.is_empty() {
            return Err(EgressError::InvalidRequest("a websocket is opened with a GET and no body".into()));
        }
        let mut protocols = Vec::new();
        for (name, value) in std::mem::take(&mut request.headers) {
            let lower = name.trim().to_ascii_lowercase();
            if lower == "sec-websocket-protocol" {
                protocols.extend(value.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()));
            } else if lower.starts_with("sec-websocket-") {
                return Err(EgressError::InvalidRequest(format!(
                    "plugins may not set the `{name}` header: the host performs the websocket handshake"
                )));
            } else {
                request.headers.push((name, value));
            }
        }
        request.url = url.to_string();
        let prepared = self.prepare(request)?;
        if let Some(upstream) = self.scripted() {
            return self.scripted_answer(upstream, prepared).map(Opened::Response);
        }
        let (url, timeout) = (prepared.url.clone(), prepared.timeout);
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let handshake = async {
            let upgrade = self.builder(prepared).upgrade().protocols(protocols).web_socket_config(config);
            let answer = upgrade.send().await.map_err(|e| self.websocket_error(&url, &e))?;
            if answer.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
                return self.read_response(answer.into_inner(), &url).await.map(Opened::Response);
            }
            let socket = answer.into_websocket().await.map_err(|e| self.websocket_error(&url, &e))?;
            Ok(Opened::Open(WebSocket { url: url.clone(), socket, received: 0 }))
        };
        tokio::time::timeout(timeout, handshake).await.map_err(|_| EgressError::Timeout(timed_out(&url, timeout)))?
    }

    /// Send one message on `socket`. Errors: [`EgressError::TooLarge`] past
    /// [`MAX_MESSAGE_BYTES`], [`EgressError::Connection`] when the socket is
    /// closed or broken, [`EgressError::Timeout`] past `wait`.
    pub async fn ws_send(&self, socket: &mut WebSocket, message: WsMessage, wait: Duration) -> Result<(), EgressError> {
        let message = match message {
            WsMessage::Text(text) => Message::Text(text),
            WsMessage::Binary(bytes) => Message::Binary(bytes.into()),
        };
        let url = socket.url.clone();
        tokio::time::timeout(wait, socket.socket.send(message))
            .await
            .map_err(|_| {
                EgressError::Timeout(format!(
                    "{} did not take a message within {:.1} s",
                    origin(&url),
                    wait.as_secs_f32()
                ))
            })?
            .map_err(|e| self.websocket_error(&url, &e))
    }

    /// The next text or binary message on `socket`, waiting at most `wait`
    /// (pings are answered meanwhile). `Ok(None)`: the server closed it.
    /// Errors: [`EgressError::Timeout`] when nothing arrived in time (the
    /// socket stays usable), [`EgressError::TooLarge`] past the policy's
    /// cap over the socket's life or [`MAX_MESSAGE_BYTES`] for one message,
    /// [`EgressError::Connection`] when it broke.
    pub async fn ws_receive(&self, socket: &mut WebSocket, wait: Duration) -> Result<Option<WsMessage>, EgressError> {
        let url = socket.url.clone();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, socket.socket.next()).await.map_err(|_| {
                EgressError::Timeout(format!("{} sent no message within {:.1} s", origin(&url), wait.as_secs_f32()))
            })?;
            let message = match next {
                None | Some(Ok(Message::Close { .. })) => return Ok(None),
                Some(Err(error)) => return Err(self.websocket_error(&url, &error)),
                Some(Ok(message)) => message,
            };
            let size = match &message {
                Message::Text(text) => text.len(),
                Message::Binary(bytes) => bytes.len(),
                _ => 0,
            };
            socket.received += size as u64;
            if socket.received > self.max_response_bytes() {
                return Err(EgressError::TooLarge(self.stream_too_large(&url)));
            }
            return Ok(Some(match message {
                Message::Text(text) => WsMessage::Text(self.secrets().redact(&text)),
                Message::Binary(bytes) => WsMessage::Binary(self.secrets().redact_bytes(bytes.to_vec())),
                _ => continue,
            }));
        }
    }

    /// Close `socket` politely (a close frame), within `wait`; errors are
    /// ignored: the connection goes either way.
    pub async fn ws_close(&self, socket: &mut WebSocket, wait: Duration) {
        let _ = tokio::time::timeout(wait, SinkExt::close(&mut socket.socket)).await;
    }

    fn stream_too_large(&self, url: &Url) -> String {
        let plugin = match self.name() {
            super::PolicyName::Plugin(id) => id.as_str(),
            _ => "",
        };
        format!(
            "{} sent more than {} MiB on one stream; raise max_response_mib in [plugins.{plugin}] if this is expected",
            origin(url),
            self.max_response_bytes() >> 20
        )
    }

    fn websocket_error(&self, url: &Url, error: &reqwest_websocket::Error) -> EgressError {
        if let reqwest_websocket::Error::Reqwest(inner) = error {
            return self.describe_error(url, inner);
        }
        let chain = self.secrets().redact(&super::error_chain(error));
        if matches!(error, reqwest_websocket::Error::Tungstenite(tungstenite::Error::Capacity(_))) {
            return EgressError::TooLarge(format!(
                "{} sent a websocket message of more than {} MiB: {chain}",
                origin(url),
                MAX_MESSAGE_BYTES >> 20
            ));
        }
        EgressError::Connection(format!("websocket to {}: {chain}", origin(url)))
    }
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_ascii_lowercase())
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
