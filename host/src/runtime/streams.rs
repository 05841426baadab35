//! The host side of the `streams` import: a plugin's server-sent-event
//! streams and websockets, opened through its [`EgressPolicy`] and kept in
//! the call's resource table, so they close when the call's store drops.
//! At most [`MAX_OPEN_STREAMS`] per call; every wait is cut to the call's
//! remaining time; every failure is logged like a refused `fetch`.
//!
//! [`EgressPolicy`]: crate::egress::EgressPolicy

use super::state::{PluginState, to_wit_error};
use crate::egress::streams::{EventStream, Opened, SseEvent, WebSocket, WsMessage};
use crate::egress::{EgressError as HostEgressError, EgressRequest};
use crate::runtime::bindings::latest::easel::image_provider::{egress, streams};
use std::time::{Duration, Instant};
use wasmtime::component::Resource;

/// Most streams and websockets one call may hold open at once.
pub const MAX_OPEN_STREAMS: u32 = 4;

/// How long a polite websocket close may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Answer<T> = wasmtime::Result<Result<T, egress::EgressError>>;

impl PluginState {
    /// `wait` cut to what is left of this call (a little kept back so the
    /// plugin can still return in time).
    fn stream_wait(&self, wait_ms: u32) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_millis(500));
        Duration::from_millis(u64::from(wait_ms)).min(left)
    }

    fn stream_slot(&self) -> Result<(), HostEgressError> {
        if self.open_streams >= MAX_OPEN_STREAMS {
            return Err(HostEgressError::InvalidRequest(format!(
                "a call may hold at most {MAX_OPEN_STREAMS} streams and websockets open; drop one first"
            )));
        }
        Ok(())
    }

    /// Log and trace a stream failure the way `fetch` does.
    fn note_stream_result<T>(&mut self, result: &Result<T, HostEgressError>, quiet_timeout: bool) {
        match result {
            Ok(_) => self.trace.reached_upstream = true,
            Err(HostEgressError::NotConnected(_)) => self.trace.connect_failures += 1,
            Err(HostEgressError::Timeout(_)) if quiet_timeout => {}
            Err(error) => {
                self.trace.reached_upstream |= error.may_have_reached_upstream();
                self.context.warn(&format!("stream refused or failed: {error}"));
            }
        }
    }
}

fn request_from(request: egress::HttpRequest) -> EgressRequest {
    EgressRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout: request.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
    }
}

fn response_to(response: crate::egress::EgressResponse) -> egress::HttpResponse {
    egress::HttpResponse { status: response.status, headers: response.headers, body: response.body }
}

impl streams::Host for PluginState {
    async fn open_events(&mut self, request: egress::HttpRequest) -> Answer<streams::EventsAnswer> {
        if let Err(error) = self.stream_slot() {
            return Ok(Err(to_wit_error(error)));
        }
        let context = self.context.clone();
        let request = request_from(request);
        self.waiting_on = Some((format!("event stream {}", super::state::target_of(&request.url)), Instant::now()));
        let result = context.egress.open_events(request).await;
        self.waiting_on = None;
        self.note_stream_result(&result, false);
        Ok(match result {
            Ok(Opened::Open(stream)) => {
                self.open_streams += 1;
                Ok(streams::EventsAnswer::Events(self.table.push(stream)?))
            }
            Ok(Opened::Response(response)) => Ok(streams::EventsAnswer::Response(response_to(response))),
            Err(error) => Err(to_wit_error(error)),
        })
    }

    async fn connect_websocket(&mut self, request: egress::HttpRequest) -> Answer<streams::WebsocketAnswer> {
        if let Err(error) = self.stream_slot() {
            return Ok(Err(to_wit_error(error)));
        }
        let context = self.context.clone();
        let request = request_from(request);
        self.waiting_on = Some((format!("websocket {}", super::state::target_of(&request.url)), Instant::now()));
        let result = context.egress.connect_websocket(request).await;
        self.waiting_on = None;
        self.note_stream_result(&result, false);
        Ok(match result {
            Ok(Opened::Open(socket)) => {
                self.open_streams += 1;
                Ok(streams::WebsocketAnswer::Socket(self.table.push(socket)?))
            }
            Ok(Opened::Response(response)) => Ok(streams::WebsocketAnswer::Response(response_to(response))),
            Err(error) => Err(to_wit_error(error)),
        })
    }
}

impl streams::HostEventStream for PluginState {
    async fn head(&mut self, stream: Resource<EventStream>) -> wasmtime::Result<egress::HttpResponse> {
        Ok(response_to(self.table.get(&stream)?.head().clone()))
    }

    async fn next(&mut self, stream: Resource<EventStream>, timeout_ms: u32) -> Answer<Option<streams::SseEvent>> {
        let wait = self.stream_wait(timeout_ms);
        let context = self.context.clone();
        let events = self.table.get_mut(&stream)?;
        let result = context.egress.next_event(events, wait).await;
        self.note_stream_result(&result, true);
        Ok(result
            .map(|event| event.map(|SseEvent { event, data, id }| streams::SseEvent { event, data, id }))
            .map_err(to_wit_error))
    }

    async fn drop(&mut self, stream: Resource<EventStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        self.open_streams = self.open_streams.saturating_sub(1);
        Ok(())
    }
}

impl streams::HostWebsocket for PluginState {
    async fn send(&mut self, socket: Resource<WebSocket>, message: streams::WsMessage) -> Answer<()> {
        let wait = self.stream_wait(u32::MAX);
        let context = self.context.clone();
        let message = match message {
            streams::WsMessage::Text(text) => WsMessage::Text(text),
            streams::WsMessage::Binary(bytes) => WsMessage::Binary(bytes),
        };
        let result = context.egress.ws_send(self.table.get_mut(&socket)?, message, wait).await;
        self.note_stream_result(&result, false);
        Ok(result.map_err(to_wit_error))
    }

    async fn receive(&mut self, socket: Resource<WebSocket>, timeout_ms: u32) -> Answer<Option<streams::WsMessage>> {
        let wait = self.stream_wait(timeout_ms);
        let context = self.context.clone();
        let result = context.egress.ws_receive(self.table.get_mut(&socket)?, wait).await;
        self.note_stream_result(&result, true);
        Ok(result
            .map(|message| {
                message.map(|m| match m {
                    WsMessage::Text(text) => streams::WsMessage::Text(text),
                    WsMessage::Binary(bytes) => streams::WsMessage::Binary(bytes),
                })
            })
            .map_err(to_wit_error))
    }

    async fn close(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<()> {
        let wait = self.stream_wait(CLOSE_WAIT.as_millis() as u32);
        let context = self.context.clone();
        context.egress.ws_close(self.table.get_mut(&socket)?, wait).await;
        Ok(())
    }

    async fn drop(&mut self, socket: Resource<WebSocket>) -> wasmtime::Result<()> {
        self.table.delete(socket)?;
        self.open_streams = self.open_streams.saturating_sub(1);
        Ok(())
    }
}
