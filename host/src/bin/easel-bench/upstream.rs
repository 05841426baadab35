//! A fake OpenAI Images upstream on loopback, on its own tokio runtime
//! inside the bench process: `POST /v1/images/generations` checks
//! `Authorization: Bearer <key>`, waits the configured delay and answers
//! one `b64_json` image, a ≈2 MiB PNG made once at start. Each answer's
//! PNG differs by a small text chunk (a counter) spliced in before `IEND`:
//! the store keys images by content hash, so identical answers would be
//! deduplicated (and 64 of them would queue on one id's lock) instead of
//! written. The base64 of the big part is made once, so serving costs the
//! fake a memcpy. It counts requests, refusals and the most in flight.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the fake has seen since the last [`Upstream::reset`].
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Generation requests answered with an image.
    pub images: u64,
    /// Requests refused (wrong key, path or body).
    pub refused: u64,
    /// Most generation requests in flight at the same moment.
    pub max_in_flight: u64,
}

struct Shared {
    key: String,
    delay_ms: AtomicU64,
    answer: Answer,
    served: AtomicU64,
    images: AtomicU64,
    refused: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// The running fake; stops when dropped (drop it outside any async context).
pub struct Upstream {
    shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT` (the plugin's `base_url` is this + `/v1`).
    pub origin: String,
    /// Size of the PNG inside every answer, bytes.
    pub png_bytes: usize,
    /// Size of the whole JSON answer, bytes.
    pub body_bytes: usize,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    pub fn start(key: &str) -> Upstream {
        let answer = Answer::new(&noise_png(1024, 1024));
        let (png_bytes, body_bytes) = (answer.png_len(), answer.body(0).len());
        let shared = Arc::new(Shared {
            key: key.to_string(),
            delay_ms: AtomicU64::new(0),
            answer,
            served: AtomicU64::new(0),
            images: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-openai")
            .enable_all()
            .build()
            .expect("starting the fake upstream's runtime");
        // tokio's `TcpListener::bind` listens with a backlog of 1024, so 64
        // (or a few hundred) connects arriving at once queue up instead of
        // being reset while the accept loop catches up.
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding the fake upstream to loopback");
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/v1/images/generations", axum::routing::post(generations))
            .fallback(|| async { (StatusCode::NOT_FOUND, "the fake serves POST /v1/images/generations only") })
            .with_state(shared.clone());
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("easel-bench: the fake upstream stopped: {e}");
            }
        });
        Upstream { shared, origin, png_bytes, body_bytes, runtime: Some(runtime) }
    }

    /// The PNG answer `n` carries (as served, answers count up from 0).
    pub fn png(&self, n: u64) -> Vec<u8> {
        [self.shared.answer.start.as_slice(), &Answer::end(n)].concat()
    }

    /// How long each answer waits before it is sent.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Zero the counters.
    pub fn reset(&self) {
        for counter in [&self.shared.images, &self.shared.refused, &self.shared.max_in_flight] {
            counter.store(0, Ordering::SeqCst);
        }
    }

    pub fn seen(&self) -> Seen {
        Seen {
            images: self.shared.images.load(Ordering::SeqCst),
            refused: self.shared.refused.load(Ordering::SeqCst),
            max_in_flight: self.shared.max_in_flight.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Decrements the in-flight count however the request ends (a client that
/// hangs up mid-delay drops the handler's future).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn generations(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = InFlight(&shared.in_flight);
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key.trim() == shared.key);
    if !authorized {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let error = r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json")], error).into_response();
    }
    let request: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    if !request.as_ref().is_some_and(|r| r["prompt"].is_string() && r["model"].is_string()) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let error = r#"{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error"}}"#;
        return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], error).into_response();
    }
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    shared.images.fetch_add(1, Ordering::SeqCst);
    let body = shared.answer.body(shared.served.fetch_add(1, Ordering::SeqCst));
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

/// The 200 body, in parts: the JSON up to the base64, the base64 of the
/// PNG without its end (padded to a multiple of 3 bytes so that its base64
/// ends cleanly and the rest can be appended), and the JSON after it.
struct Answer {
    head: &'static str,
    /// The signature, IHDR, IDAT and a padding chunk, and their base64.
    start: Vec<u8>,
    big: String,
    tail: &'static str,
}

impl Answer {
    fn new(png: &[u8]) -> Answer {
        // A PNG ends with IEND: length 0, "IEND", CRC (12 bytes).
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND", "the encoder's PNG ends with IEND");
        let mut start = png[..png.len() - 12].to_vec();
        let pad = (3 - (start.len() + 12 + 4) % 3) % 3;
        start.extend(chunk(b"tEXt", &[b"pad\0".as_slice(), &b"  "[..pad]].concat()));
        debug_assert_eq!(start.len() % 3, 0);
        Answer {
            head: r#"{"created":1765843200,"data":[{"b64_json":""#,
            big: base64::engine::general_purpose::STANDARD.encode(&start),
            start,
            tail: r#""}],"background":"opaque","output_format":"png","quality":"medium","size":"1024x1024","usage":{"input_tokens":14,"output_tokens":1056,"total_tokens":1070}}"#,
        }
    }

    /// The end of answer `n`'s PNG: a text chunk naming `n`, then IEND.
    fn end(n: u64) -> Vec<u8> {
        let mut end = chunk(b"tEXt", format!("easel-bench\0{n:020}").as_bytes());
        end.extend(chunk(b"IEND", b""));
        end
    }

    /// Bytes of every answer's PNG (all have the same length).
    fn png_len(&self) -> usize {
        self.start.len() + Answer::end(0).len()
    }

    /// The JSON body of answer `n`.
    fn body(&self, n: u64) -> Bytes {
        let end = base64::engine::general_purpose::STANDARD.encode(Answer::end(n));
        let mut body = Vec::with_capacity(self.head.len() + self.big.len() + end.len() + self.tail.len());
        for part in [self.head, &self.big, &end, self.tail] {
            body.extend_from_slice(part.as_bytes());
        }
        Bytes::from(body)
    }
}

/// One PNG chunk: length, type, data, CRC-32 of type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + data.len());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&out[4..]).to_be_bytes());
    out
}

/// CRC-32 (IEEE, as PNG uses), bit by bit: only ever run on a few dozen bytes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A `width`×`height` RGB PNG of about 2 MiB: the first rows are random
/// noise (which no PNG filter or deflate can shrink: ≈3 bytes a pixel), the
/// rest a flat gradient (≈nothing). The noise rows are estimated, then
/// scaled once by what the encoder really made (its deflate may expand
/// noise a little).
pub fn noise_png(width: u32, height: u32) -> Vec<u8> {
    const TARGET: u64 = 2 << 20;
    let rows = TARGET.div_ceil(u64::from(width) * 3 + 1).min(u64::from(height)) as u32;
    let first = encode_noise(width, height, rows);
    let scaled = (u64::from(rows) * TARGET / (first.len() as u64).max(1)).clamp(1, u64::from(height)) as u32;
    if scaled == rows { first } else { encode_noise(width, height, scaled) }
}

fn encode_noise(width: u32, height: u32, noise_rows: u32) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: fast, deterministic, plenty for incompressible bytes.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    };
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        if y < noise_rows {
            let v = next().to_le_bytes();
            image::Rgb([v[0], v[1], v[2]])
        } else {
            image::Rgb([(x * 255 / width.max(1)) as u8, 96, (y * 255 / height.max(1)) as u8])
        }
    });
    let mut png = Vec::new();
    // `Default` (zlib-style) stores what it cannot shrink; `Fast` expands noise.
    let encoder = PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::Adaptive);
    image.write_with_encoder(encoder).expect("encoding the fake's PNG in memory");
    png
}
