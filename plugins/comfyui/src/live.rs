//! Live progress of a running prompt from ComfyUI's websocket: opening
//! `/ws?clientId=`, the read window of one `poll`, and turning execution
//! messages into progress fractions and messages. The socket only adds
//! progress: whatever it says or fails to say, `flow::poll` takes the job's
//! state from `/history` as before. Wire facts: docs/providers/comfyui.md#progress.
//!
//! Sources (ComfyUI, read in its source): `server.py` (the `/ws` route: a
//! `status` message on connect, and `executing {node}` without `prompt_id`
//! to a client that reconnects while its prompt runs; `send_sync` sends to
//! one client id, or to every socket when there is none), `execution.py`
//! (`execution_start`, `execution_cached`, `executing`, `executed`,
//! `execution_success`, `execution_error`, `execution_interrupted`),
//! `main.py` (`progress {value, max, prompt_id, node}` from the sampler's
//! hook; `executing {node: null}` once the prompt is in history) and
//! `comfy_execution/progress.py` (newer servers broadcast `progress_state
//! {prompt_id, nodes}`). Binary frames are preview images.

use crate::client::Client;
use crate::token::Token;
use crate::types::{EgressError, HttpRequest, Level, Opened, WsMessage};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Longest wait for the websocket handshake.
pub const HANDSHAKE_TIMEOUT_MS: u32 = 10_000;
/// Longest one `poll` listens; the host calls `poll` again after it.
pub const WINDOW: Duration = Duration::from_secs(10);
/// After `execution_success` / `_error` / `_interrupted`, how long to wait
/// for the `executing {node: null}` that main.py sends once the prompt is in
/// `/history` (the success message comes just before that).
const GRACE: Duration = Duration::from_secs(2);
/// The span of the live fractions: `submit` reported 0.05 when ComfyUI
/// queued the prompt, and downloading the images reports 0.9.
const START: f32 = 0.05;
const END: f32 = 0.9;
/// A node's weight is its `steps` input (a sampler takes about that many
/// times one ordinary node), capped here; nodes without one weigh 1.
const MAX_WEIGHT: u64 = 10_000;

/// What the progress arithmetic needs of the API-format graph that runs
/// (the `prompt` of its `/queue` entry): each node's class, the nodes its
/// inputs link to (`[node_id, output_index]`) and its weight.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct Node {
    class_type: String,
    links: Vec<String>,
    weight: f64,
}

impl Graph {
    /// Read an API-format graph; anything else is an empty graph (then only
    /// the sampler's own steps give a fraction).
    pub fn parse(prompt: &Value) -> Graph {
        let mut nodes = BTreeMap::new();
        for (id, node) in prompt.as_object().into_iter().flatten() {
            let class_type = node.get("class_type").and_then(Value::as_str).unwrap_or("").to_string();
            let inputs = node.get("inputs").and_then(Value::as_object);
            let links = inputs
                .into_iter()
                .flatten()
                .filter_map(|(_, value)| match value.as_array().map(Vec::as_slice) {
                    Some([Value::String(source), Value::Number(_)]) => Some(source.clone()),
                    Some([Value::Number(source), Value::Number(_)]) => Some(source.to_string()),
                    _ => None,
                })
                .collect();
            let steps = inputs.and_then(|i| i.get("steps")).and_then(Value::as_u64).filter(|s| *s >= 1);
            let weight = steps.unwrap_or(1).min(MAX_WEIGHT) as f64;
            nodes.insert(id.clone(), Node { class_type, links, weight });
        }
        Graph { nodes }
    }

    fn weight(&self, id: &str) -> f64 {
        self.nodes.get(id).map_or(0.0, |n| n.weight)
    }

    fn total(&self) -> f64 {
        self.nodes.values().map(|n| n.weight).sum()
    }

    /// Every node `id` depends on: all have run (or come from the cache)
    /// before ComfyUI executes `id`.
    fn ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> =
            self.nodes.get(id).map(|n| n.links.iter().map(String::as_str).collect()).unwrap_or_default();
        while let Some(next) = stack.pop() {
            if self.nodes.contains_key(next) && seen.insert(next.to_string()) {
                stack.extend(self.nodes[next].links.iter().map(String::as_str));
            }
        }
        seen
    }

    /// `KSampler` for a node of the graph, `node 12` otherwise.
    fn name(&self, id: &str) -> String {
        match self.nodes.get(id) {
            Some(node) if !node.class_type.is_empty() => node.class_type.clone(),
            _ => format!("node {id}"),
        }
    }
}

/// What one message changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not about this prompt (another prompt, a preview, an unknown type).
    Ignored,
    /// New progress to report.
    Updated,
    /// `execution_success`, `_error` or `_interrupted`: history follows.
    Ending,
    /// `executing {node: null}`: the prompt is in `/history`.
    Finished,
    /// `status` with nothing queued or running: the prompt is done (or gone).
    QueueEmpty,
}

/// Where one prompt's execution stands, from the messages seen so far.
#[derive(Debug)]
pub struct Tracker<'g> {
    graph: &'g Graph,
    prompt_id: String,
    /// Nodes cached, executed, or depended on by one that ran.
    done: BTreeSet<String>,
    current: Option<String>,
    /// `progress` of the current node: (value, max).
    steps: Option<(f64, f64)>,
    message: Option<String>,
    /// The highest fraction so far (reports never go back).
    best: Option<f32>,
}

impl<'g> Tracker<'g> {
    pub fn new(graph: &'g Graph, prompt_id: &str) -> Tracker<'g> {
        Tracker {
            graph,
            prompt_id: prompt_id.to_string(),
            done: BTreeSet::new(),
            current: None,
            steps: None,
            message: None,
            best: None,
        }
    }

    /// The fraction (0.05 ..= 0.9) and message to report, once anything was seen.
    pub fn report(&self) -> (Option<f32>, Option<&str>) {
        (self.best, self.message.as_deref())
    }

    /// Take one text frame (`{"type", "data"}`) into account.
    pub fn apply(&mut self, text: &str) -> Step {
        let Ok(frame) = serde_json::from_str::<Value>(text) else { return Step::Ignored };
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
        let data = frame.get("data").unwrap_or(&Value::Null);
        let str_of = |key: &str| data.get(key).and_then(id_text);
        if kind == "status" {
            let remaining = data.pointer("/status/exec_info/queue_remaining").and_then(Value::as_u64);
            return if remaining == Some(0) { Step::QueueEmpty } else { Step::Ignored };
        }
        let prompt = data.get("prompt_id").and_then(Value::as_str);
        // server.py resends `executing {node}` without a prompt_id to the client
        // whose prompt runs; every other message names its prompt.
        let ours = prompt == Some(self.prompt_id.as_str()) || (prompt.is_none() && kind == "executing");
        if !ours {
            return Step::Ignored;
        }
        let short = short(&self.prompt_id).to_string();
        let step = match kind {
            "execution_start" => {
                self.message = Some(format!("ComfyUI started prompt {short}"));
                Step::Updated
            }
            "execution_cached" => {
                let nodes: Vec<String> =
                    data.get("nodes").and_then(Value::as_array).into_iter().flatten().filter_map(id_text).collect();
                if nodes.is_empty() {
                    return Step::Ignored;
                }
                self.message = Some(format!("ComfyUI reused {} cached node(s)", nodes.len()));
                self.done.extend(nodes);
                Step::Updated
            }
            "executing" => match str_of("node") {
                None if prompt.is_some() && data.get("node").is_some_and(Value::is_null) => {
                    self.finish_current();
                    self.message = Some(format!("ComfyUI finished prompt {short}"));
                    self.update_fraction(true);
                    return Step::Finished;
                }
                None => return Step::Ignored,
                Some(node) => {
                    let node = self.graph_id(&node, str_of("display_node"));
                    self.start(&node);
                    self.message = Some(format!("running {} (node {node})", self.graph.name(&node)));
                    Step::Updated
                }
            },
            "progress" => {
                let value = data.get("value").and_then(Value::as_f64).unwrap_or(0.0);
                let max = data.get("max").and_then(Value::as_f64).unwrap_or(0.0);
                let Some(node) = str_of("node") else { return Step::Ignored };
                if max <= 0.0 {
                    return Step::Ignored;
                }
                let node = self.graph_id(&node, None);
                self.start(&node);
                self.steps = Some((value.clamp(0.0, max), max));
                self.message = Some(format!("{} step {}/{}", self.graph.name(&node), number(value), number(max)));
                Step::Updated
            }
            "progress_state" => {
                let nodes = data.get("nodes").and_then(Value::as_object).into_iter().flatten();
                let before = self.done.len();
                for (id, entry) in nodes {
                    let state = entry.get("state").and_then(Value::as_str);
                    let real = entry.get("real_node_id").and_then(id_text);
                    let id = self.graph_id(id, real.or_else(|| entry.get("display_node_id").and_then(id_text)));
                    if state == Some("finished") {
                        if self.current.as_deref() == Some(id.as_str()) {
                            self.finish_current();
                        } else {
                            self.done.insert(id);
                        }
                    }
                }
                if self.done.len() == before {
                    return Step::Ignored;
                }
                Step::Updated
            }
            "executed" => {
                let Some(node) = str_of("node") else { return Step::Ignored };
                let node = self.graph_id(&node, str_of("display_node"));
                if self.current.as_deref() == Some(node.as_str()) {
                    self.finish_current();
                } else {
                    self.done.insert(node);
                }
                Step::Updated
            }
            "execution_success" => {
                self.finish_current();
                self.message = Some(format!("ComfyUI finished prompt {short}"));
                self.update_fraction(true);
                return Step::Ending;
            }
            "execution_error" => {
                let node = str_of("node_id").unwrap_or_default();
                let class = data
                    .get("node_type")
                    .and_then(Value::as_str)
                    .map_or_else(|| self.graph.name(&node), str::to_string);
                self.message = Some(format!("ComfyUI reports an error in {class} (node {node})"));
                Step::Ending
            }
            "execution_interrupted" => {
                self.message = Some(format!("ComfyUI interrupted prompt {short}"));
                Step::Ending
            }
            _ => return Step::Ignored,
        };
        self.update_fraction(false);
        step
    }

    /// `id` if the graph has it, else `alias` (a display or real node id of
    /// an expanded node) if the graph has that, else `id`.
    fn graph_id(&self, id: &str, alias: Option<String>) -> String {
        match alias {
            Some(alias) if !self.graph.nodes.contains_key(id) && self.graph.nodes.contains_key(&alias) => alias,
            _ => id.to_string(),
        }
    }

    /// `node` runs now: the one before it is done (ComfyUI runs one node at
    /// a time), and so is everything it depends on.
    fn start(&mut self, node: &str) {
        if self.current.as_deref() == Some(node) {
            return;
        }
        self.finish_current();
        self.done.extend(self.graph.ancestors(node));
        self.done.remove(node);
        self.current = Some(node.to_string());
    }

    fn finish_current(&mut self) {
        if let Some(node) = self.current.take() {
            self.done.insert(node);
        }
        self.steps = None;
    }

    /// Done nodes' weights plus the current node's share of its steps, over
    /// the graph's total weight; without a graph, the steps alone.
    fn update_fraction(&mut self, finished: bool) {
        let total = self.graph.total();
        let step_share = self.steps.map(|(value, max)| value / max);
        let work = if finished {
            Some(1.0)
        } else if total > 0.0 {
            let done: f64 = self.done.iter().map(|id| self.graph.weight(id)).sum();
            let current = self.current.as_deref().map_or(0.0, |id| self.graph.weight(id)) * step_share.unwrap_or(0.0);
            Some(((done + current) / total).min(0.99))
        } else {
            step_share.map(|s| s.min(0.99))
        };
        if let Some(work) = work {
            let fraction = START + (END - START) * work as f32;
            let fraction = (fraction * 1000.0).round() / 1000.0;
            self.best = Some(self.best.map_or(fraction, |best| best.max(fraction)));
        }
    }
}

/// What one `poll`'s look at the websocket gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    /// No socket (refused, not a websocket, no client id): why, for the log.
    Unavailable(String),
    /// What the window showed: the last fraction and message (when any
    /// message was about this prompt), and whether the prompt finished.
    Window { fraction: Option<f32>, message: Option<String>, finished: bool },
}

/// Listen to the prompt of `token` for at most [`WINDOW`], reporting
/// progress through the host as messages arrive.
pub fn watch(client: &Client<'_>, token: &Token, graph: &Graph) -> Watched {
    let host = client.host;
    if token.client_id.is_empty() {
        return Watched::Unavailable("the job token has no client_id to listen with".into());
    }
    let request = HttpRequest {
        method: "GET".into(),
        url: client.ws_url(&token.client_id),
        headers: client.auth_header().into_iter().collect(),
        body: Vec::new(),
        timeout_ms: Some(HANDSHAKE_TIMEOUT_MS),
    };
    let mut socket = match host.connect_websocket(request) {
        Ok(Opened::Open(socket)) => socket,
        Ok(Opened::Response(response)) => {
            return Watched::Unavailable(format!("GET /ws answered HTTP {} instead of a websocket", response.status));
        }
        Err(error) => return Watched::Unavailable(format!("GET /ws failed: {error:?}")),
    };
    let mut tracker = Tracker::new(graph, &token.prompt_id);
    let mut deadline = Instant::now() + WINDOW;
    let mut finished = false;
    let mut reported: (Option<f32>, Option<String>) = (None, None);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let left_ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX);
        if left_ms == 0 {
            break;
        }
        let step = match socket.receive(left_ms) {
            Ok(Some(WsMessage::Text(text))) => tracker.apply(&text),
            Ok(Some(WsMessage::Binary(_))) => Step::Ignored,
            // Closed, or nothing more within the window: /history decides.
            Ok(None) | Err(EgressError::Timeout(_)) => break,
            Err(error) => {
                host.log(Level::Debug, &format!("comfyui: websocket failed, polling instead: {error:?}"));
                break;
            }
        };
        if let (fraction, Some(message)) = tracker.report()
            && step != Step::Ignored
            && (fraction, Some(message)) != (reported.0, reported.1.as_deref())
        {
            host.progress(fraction, message);
            reported = (fraction, Some(message.to_string()));
        }
        match step {
            Step::Ignored | Step::Updated => {}
            Step::Ending => deadline = deadline.min(Instant::now() + GRACE),
            Step::Finished => {
                finished = true;
                break;
            }
            Step::QueueEmpty => break,
        }
    }
    let (fraction, message) = tracker.report();
    Watched::Window { fraction, message: message.map(str::to_string), finished }
}

/// A node or prompt id as text (ComfyUI's are strings; numbers are read too).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `9` for 9.0, `2.5` otherwise.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

/// First 8 characters of an id.
pub fn short(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(i, _)| &id[..i])
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
