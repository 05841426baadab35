//! A minimal streamable-HTTP MCP client on `reqwest`: `initialize` opens a
//! session (`mcp-session-id`), then requests POST JSON-RPC with that header
//! and read the answer either as a JSON body or from the SSE stream (the
//! `data:` lines of the event carrying the request's id). Also the child
//! `easel serve --transport http --port 0` it talks to.

use crate::process::Launch;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The protocol version the bench speaks (a legacy, session-based one).
const PROTOCOL: &str = "2025-11-25";

/// Generous: a tool call under load may wait for a plugin permit.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One reqwest client for a load: HTTP/1.1 to loopback, kept-alive connections.
pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: a provider must be installed
    // before a client is built, even though loopback http uses no TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("the bench's HTTP client configuration is valid")
}

/// An open MCP session.
pub struct Session {
    client: reqwest::Client,
    url: String,
    id: String,
    next_id: u64,
}

impl Session {
    /// POST `initialize`, then `notifications/initialized`.
    pub async fn open(client: &reqwest::Client, url: &str) -> Result<Session> {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "easel-bench", "version": "0"}}});
        let (status, headers, answer) = post(client, url, None, &init, Some(0)).await?;
        if status != 200 {
            bail!("initialize: HTTP {status}: {}", answer.map(|a| a.to_string()).unwrap_or_default());
        }
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("initialize answered without an mcp-session-id"))?
            .to_string();
        let session = Session { client: client.clone(), url: url.to_string(), id, next_id: 1 };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = post(client, url, Some(&session.id), &note, None).await?;
        if !(200..300).contains(&status) {
            bail!("notifications/initialized: HTTP {status}");
        }
        Ok(session)
    }

    /// A JSON-RPC request: (HTTP status, the answer with its id if any came).
    pub async fn request(&mut self, method: &str, params: Value) -> Result<(u16, Option<Value>)> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, _, answer) = post(&self.client, &self.url, Some(&self.id), &message, Some(id)).await?;
        Ok((status, answer))
    }

    /// `tools/call` of `name` with `arguments`.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<(u16, Option<Value>)> {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }
}

/// POST one JSON-RPC message; the answer is the message whose `id` is
/// `want` (none for a notification), from a JSON body or an SSE stream.
async fn post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    message: &Value,
    want: Option<u64>,
) -> Result<(u16, reqwest::header::HeaderMap, Option<Value>)> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session).header("mcp-protocol-version", PROTOCOL);
    }
    let mut response = request.send().await.context("sending")?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let sse = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let Some(want) = want else {
        let _ = response.bytes().await;
        return Ok((status, headers, None));
    };
    if !sse {
        let body = response.bytes().await.context("reading the body")?;
        let value = serde_json::from_slice::<Value>(&body).ok();
        return Ok((status, headers, value.or_else(|| Some(Value::String(snippet(&body))))));
    }
    // SSE: events end with a blank line; the stream may stay open after the
    // answer, so stop at the event that carries it.
    // `scanned`: how far the buffer is known to hold no event end, so that
    // a large answer arriving in many chunks is scanned once.
    let (mut buffer, mut scanned): (Vec<u8>, usize) = (Vec::new(), 0);
    while let Some(chunk) = response.chunk().await.context("reading the event stream")? {
        buffer.extend_from_slice(&chunk);
        while let Some((end, next)) = event_end(&buffer, scanned) {
            let event: Vec<u8> = buffer.drain(..next).collect();
            scanned = 0;
            if let Some(value) = event_data(&event[..end])
                && value.get("id") == Some(&json!(want))
            {
                return Ok((status, headers, Some(value)));
            }
        }
        scanned = buffer.len().saturating_sub(3);
    }
    if let Some(value) = event_data(&buffer).filter(|v| v.get("id") == Some(&json!(want))) {
        return Ok((status, headers, Some(value)));
    }
    bail!("HTTP {status}: the event stream ended without an answer to request {want}")
}

/// (end of the first event, end of its blank-line terminator) in `buffer`,
/// looking from `from` on.
fn event_end(buffer: &[u8], from: usize) -> Option<(usize, usize)> {
    let tail = buffer.get(from..)?;
    let lf = tail.windows(2).position(|w| w == b"\n\n").map(|i| (from + i, from + i + 2));
    let crlf = tail.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (from + i, from + i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The JSON of an event's `data:` lines (joined by newlines), if any parses.
fn event_data(event: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(event).ok()?;
    let data: Vec<&str> =
        text.lines().filter_map(|line| line.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
    if data.is_empty() {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

/// `easel … serve --transport http --port 0`: its URL from the line it
/// prints on stderr, and every stderr line kept (read by a thread, so the
/// pipe never fills and blocks the server).
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub mcp_url: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn spawn(launch: &Launch<'_>) -> Result<HttpServer> {
        let mut child = launch
            .command()
            .args(["serve", "--transport", "http", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning easel serve --transport http")?;
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if let Some(url) = line.split("MCP over streamable HTTP at ").nth(1) {
                    let _ = url_tx.send(url.trim().to_string());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let Ok(mcp_url) = url_rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            bail!("easel printed no URL within 60 s; stderr: {:?}", lines.lock().unwrap());
        };
        let base = mcp_url.trim_end_matches("/mcp").to_string();
        Ok(HttpServer { child, mcp_url, base, stderr: lines })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its warnings and errors so far, grouped ([`crate::process::complaints`]).
    pub fn complaints(&self) -> Vec<(usize, String)> {
        let lines = self.stderr.lock().unwrap();
        crate::process::complaints(lines.iter().map(String::as_str))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
