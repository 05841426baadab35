//! `easel-bench`: prints start-up, `tools/list`, generation and per-call
//! figures for this machine (nothing is asserted). Run with
//! `cargo run --release --bin easel-bench`; it drives the `easel` binary
//! next to it over stdio with raw JSON-RPC, and the runtime in-process.

use easel::config::Deployment;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    fn spawn(easel: &Path, cache: &Path, store: &Path) -> Server {
        let mut child = Command::new(easel)
            .args(["--cache", cache.to_str().unwrap(), "--store", store.to_str().unwrap(), "serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning easel serve");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server { child, stdin, stdout, next_id: 1 }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
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

    fn initialize(&mut self) {
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

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let easel: PathBuf = std::env::current_exe().unwrap().with_file_name("easel");
    assert!(easel.exists(), "build the easel binary first: cargo build --release");
    let work = std::env::temp_dir().join(format!("easel-bench-{}", std::process::id()));
    let store = work.join("store");
    println!("easel-bench on {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    // Start-up: spawn → initialize answered. Cold = empty compile cache.
    let mut cold = Vec::new();
    for run in 0..3 {
        let cache = work.join(format!("cold-cache-{run}"));
        let started = Instant::now();
        let mut server = Server::spawn(&easel, &cache, &store);
        server.initialize();
        cold.push(started.elapsed());
        // Let the background compile finish so the next warm runs find it.
        let _ = server.request("tools/call", json!({"name": "list_providers", "arguments": {}}));
    }
    let warm_cache = work.join("cold-cache-0");
    let warm: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            let mut server = Server::spawn(&easel, &warm_cache, &store);
            server.initialize();
            started.elapsed()
        })
        .collect();
    println!("spawn → MCP initialized, cold compile cache: median {} (of {})", ms(median(cold.clone())), cold.len());
    println!("spawn → MCP initialized, warm compile cache: median {} (of {})", ms(median(warm.clone())), warm.len());

    let mut server = Server::spawn(&easel, &warm_cache, &store);
    server.initialize();
    let list: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            let response = server.request("tools/list", json!({}));
            assert!(response["result"]["tools"].is_array());
            started.elapsed()
        })
        .collect();
    println!("tools/list round trip over stdio: median {} (of {})", ms(median(list)), 200);

    let generate: Vec<Duration> = (0..10)
        .map(|seed| {
            let started = Instant::now();
            let response = server.request(
                "tools/call",
                json!({"name": "generate_image", "arguments": {"prompt": "benchmark", "width": 1024, "height": 1024, "seed": 1000 + seed}}),
            );
            assert_eq!(response["result"]["isError"], json!(false), "{response}");
            started.elapsed()
        })
        .collect();
    println!("generate_image 1024×1024 placeholder over stdio, end to end: median {} (of 10)", ms(median(generate)));
    drop(server);

    // In-process: fresh Store + instantiate from InstancePre + describe().
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let paths = easel::app::Paths { store: work.join("in-process-store"), cache: warm_cache.clone() };
        let app = easel::app::App::boot(Deployment::embedded(), &paths, false).unwrap();
        let plugin = app.registry().get("placeholder").unwrap().plugin().await.unwrap();
        plugin.describe().await.unwrap();
        let calls = 2000;
        let started = Instant::now();
        for _ in 0..calls {
            plugin.describe().await.unwrap();
        }
        println!(
            "per-call overhead (fresh store + instantiate + describe): {:.1} µs mean (of {calls})",
            started.elapsed().as_secs_f64() * 1e6 / calls as f64
        );
    });
    let _ = std::fs::remove_dir_all(&work);
}
