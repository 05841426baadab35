//! A fake __TITLE__ API on a free loopback port (std only), speaking the
//! protocol in README.md: submit, poll (queued → running → succeeded, one
//! step per poll), cancel, and PNG files. It accepts the key [`KEY`]; a
//! prompt containing `[fail]` makes the job fail, `[busy]` answers 429.
//! One request per connection (`connection: close`), a thread each.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The only API key the fake accepts.
pub const KEY: &str = "test-key";

/// An 8×8 red PNG, served for every image URL.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29, 0xdc, 0x00, 0x00, 0x00, 0x11, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xb8, 0xe0, 0xa0, 0x80, 0x15, 0x31, 0x0c, 0x2d, 0x09, 0x00, 0xde, 0x7b, 0x4c,
    0x01, 0xe9, 0xd5, 0xdf, 0xd4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

struct Job {
    polls: u32,
    count: u64,
    fail: bool,
    cancelled: bool,
}

struct Answer {
    status: u16,
    content_type: &'static str,
    extra_headers: String,
    body: Vec<u8>,
}

fn json_answer(status: u16, body: Value) -> Answer {
    Answer { status, content_type: "application/json", extra_headers: String::new(), body: body.to_string().into() }
}

/// A running fake; it stops when the test process exits.
pub struct Fake {
    /// `http://127.0.0.1:PORT`: the `base_url` to configure.
    pub base_url: String,
}

pub fn start() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let jobs = Arc::new(Mutex::new(HashMap::new()));
    let base = base_url.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (jobs, base) = (jobs.clone(), base.clone());
            thread::spawn(move || serve(stream, &jobs, &base));
        }
    });
    Fake { base_url }
}

/// Read one request (request line, headers, `content-length` body) and answer it.
fn serve(stream: TcpStream, jobs: &Mutex<HashMap<String, Job>>, base_url: &str) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let authorized = headers.get("authorization").is_some_and(|a| *a == format!("Bearer {KEY}"));
    let answer = route(&method, &path, authorized, &body, &mut jobs.lock().unwrap(), base_url);
    let head = format!(
        "HTTP/1.1 {} Fake\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n{}\r\n",
        answer.status,
        answer.content_type,
        answer.body.len(),
        answer.extra_headers
    );
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&answer.body));
}

fn route(
    method: &str,
    path: &str,
    authorized: bool,
    body: &[u8],
    jobs: &mut HashMap<String, Job>,
    base_url: &str,
) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method == "GET" && segments.len() == 2 && segments[0] == "files" && segments[1].ends_with(".png") {
        return Answer { status: 200, content_type: "image/png", extra_headers: String::new(), body: PNG.to_vec() };
    }
    if !authorized {
        return json_answer(401, json!({"error": "invalid API key"}));
    }
    match (method, segments.as_slice()) {
        ("POST", ["v1", "generations"]) => submit(body, jobs),
        ("GET", ["v1", "generations", id]) => match jobs.get_mut(*id) {
            Some(job) => json_answer(200, status_of(id, job, base_url)),
            None => json_answer(404, json!({"error": "no such generation"})),
        },
        ("POST", ["v1", "generations", id, "cancel"]) => match jobs.get_mut(*id) {
            Some(job) => {
                job.cancelled = true;
                json_answer(200, json!({}))
            }
            None => json_answer(404, json!({"error": "no such generation"})),
        },
        _ => json_answer(404, json!({"error": format!("no route {method} {path}")})),
    }
}

fn submit(body: &[u8], jobs: &mut HashMap<String, Job>) -> Answer {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return json_answer(400, json!({"error": "the body is not JSON"}));
    };
    let prompt = request["prompt"].as_str().unwrap_or("");
    if prompt.trim().is_empty() {
        return json_answer(422, json!({"error": "prompt is required", "field": "prompt"}));
    }
    for side in ["width", "height"] {
        if !request[side].as_u64().is_some_and(|v| (256..=2048).contains(&v) && v % 64 == 0) {
            return json_answer(422, json!({"error": "must be 256..2048, a multiple of 64", "field": side}));
        }
    }
    let count = request["num_images"].as_u64().unwrap_or(1);
    if !(1..=4).contains(&count) {
        return json_answer(422, json!({"error": "must be 1..4", "field": "num_images"}));
    }
    if prompt.contains("[busy]") {
        let mut answer = json_answer(429, json!({"error": "slow down"}));
        answer.extra_headers = "retry-after: 1\r\n".into();
        return answer;
    }
    let id = format!("gen_{}", jobs.len() + 1);
    jobs.insert(id.clone(), Job { polls: 0, count, fail: prompt.contains("[fail]"), cancelled: false });
    json_answer(200, json!({"id": id}))
}

/// Each poll moves the job one step: queued, running at 50 %, finished.
fn status_of(id: &str, job: &mut Job, base_url: &str) -> Value {
    job.polls += 1;
    match job.polls {
        _ if job.cancelled => json!({"status": "failed", "error": "cancelled"}),
        1 => json!({"status": "queued", "progress": 0.0}),
        2 => json!({"status": "running", "progress": 0.5}),
        _ if job.fail => json!({"status": "failed", "progress": 1.0, "error": "the model could not draw this"}),
        _ => {
            let images: Vec<String> = (0..job.count).map(|i| format!("{base_url}/files/{id}-{i}.png")).collect();
            json!({"status": "succeeded", "progress": 1.0, "images": images})
        }
    }
}
