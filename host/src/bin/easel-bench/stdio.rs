//! The stdio MCP client: `easel … serve` as a child, spoken to with raw
//! JSON-RPC lines (one request at a time; notifications and other ids in
//! between are skipped).

use crate::process::Launch;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    /// `easel --cache DIR --store DIR serve` (stderr discarded).
    pub fn spawn(easel: &Path, cache: &Path, store: &Path) -> Server {
        Server::launch(&Launch { easel, cache, store, config: None, env: &[] }, None)
    }

    /// `launch` + `serve`; stderr appended to `stderr_log` if given, else discarded.
    pub fn launch(launch: &Launch<'_>, stderr_log: Option<&Path>) -> Server {
        let stderr = match stderr_log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new().create(true).append(true).open(path).expect("opening the stderr log"),
            ),
            None => Stdio::null(),
        };
        let mut child = launch
            .command()
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawning easel serve");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server { child, stdin, stdout, next_id: 1 }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a request and wait for the answer with its id.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                panic!("easel closed stdout");
            }
            let value: Value = serde_json::from_str(&line).unwrap();
            if value["id"] == json!(id) {
                return value;
            }
        }
    }

    /// `tools/call` of `name` with `arguments`; the JSON-RPC answer.
    pub fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
    }

    pub fn initialize(&mut self) {
        let response = self.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "easel-bench", "version": "0"}}),
        );
        assert!(response.get("result").is_some(), "initialize failed: {response}");
        writeln!(self.stdin, "{}", json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a `generate_image` answer has no image: a JSON-RPC error, `isError`,
/// or no `structuredContent.images` (e.g. a job still pending); `None` if it
/// has one.
pub fn generation_problem(response: &Value) -> Option<String> {
    if let Some(error) = response.get("error") {
        return Some(format!("JSON-RPC error: {error}"));
    }
    let result = &response["result"];
    if result["isError"] == json!(true) {
        let text = result["content"][0]["text"].as_str().unwrap_or("(no text)");
        return Some(format!("isError: {text}"));
    }
    match result["structuredContent"]["images"].as_array() {
        Some(images) if !images.is_empty() => None,
        _ => {
            let status = result["structuredContent"]["status"].as_str().unwrap_or("?");
            Some(format!("no image in the result (job status {status})"))
        }
    }
}
