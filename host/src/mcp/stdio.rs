//! Stdio framing between the process's stdin/stdout and rmcp: lines within
//! [`MAX_LINE_BYTES`] are passed to rmcp through an in-memory pipe; a longer
//! line is dropped and answered with a JSON-RPC error naming the limit (with
//! the request's id when its first 64 KiB give it away, else `null`), and the
//! server goes on. One writer owns stdout, so an injected error only ever
//! goes out between two whole messages of rmcp's.

use super::EaselServer;
use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Longest message accepted on stdin, bytes including its newline (16 MiB,
/// rmcp's own line limit: every line passed on is one rmcp takes).
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// How much of an oversized line is kept to look for its `"id"`.
const ID_SCAN_BYTES: usize = 64 << 10;

/// Serve `server` over `input`/`output` (stdin/stdout) until `input` ends.
///
/// Errors: the MCP handshake failed, or rmcp's service loop did.
pub async fn serve<R, W>(server: EaselServer, input: R, output: W) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (rmcp_in, to_rmcp) = tokio::io::duplex(1 << 16);
    let (from_rmcp, rmcp_out) = tokio::io::duplex(1 << 16);
    let (errors_tx, errors_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_out(from_rmcp, errors_rx, output));
    let reader = tokio::spawn(read_in(input, to_rmcp, errors_tx));
    let outcome = match server.serve((rmcp_in, rmcp_out)).await {
        Ok(service) => service.waiting().await.map(|_| ()).map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e).context("the MCP handshake on stdio failed")),
    };
    reader.abort();
    let _ = writer.await;
    outcome
}

/// Copy whole lines from `input` to rmcp; answer oversized ones through `errors`.
async fn read_in<R: AsyncRead + Unpin>(
    input: R,
    mut to_rmcp: tokio::io::DuplexStream,
    errors: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut line: Vec<u8> = Vec::new();
    // The current line went over the limit: the rest of it is skipped, but
    // its `"id"` is looked for in its first and last ID_SCAN_BYTES.
    let mut oversized: Option<Oversized> = None;
    loop {
        let (taken, ended) = {
            let available = match input.fill_buf().await {
                Ok(available) if !available.is_empty() => available,
                Ok(_) => return, // EOF: an unterminated last line is dropped, as rmcp does.
                Err(e) => {
                    tracing::warn!("reading stdin: {e}");
                    return;
                }
            };
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            let chunk = &available[..take];
            match oversized.as_mut() {
                Some(skipping) => skipping.keep_tail(chunk),
                None if line.len() + take > MAX_LINE_BYTES => {
                    let head = &line[..line.len().min(ID_SCAN_BYTES)];
                    let mut skipping = Oversized {
                        head_id: scan_id(head),
                        tail: line[line.len().saturating_sub(ID_SCAN_BYTES)..].to_vec(),
                    };
                    skipping.keep_tail(chunk);
                    oversized = Some(skipping);
                    line = Vec::new();
                }
                None => line.extend_from_slice(chunk),
            }
            (take, newline.is_some())
        };
        input.consume(taken);
        if ended {
            if let Some(dropped) = oversized.take() {
                let id = dropped.head_id.or_else(|| scan_tail_id(&dropped.tail)).unwrap_or(serde_json::Value::Null);
                tracing::warn!("dropped a stdin message over the {MAX_LINE_BYTES}-byte line limit (id {id})");
                let _ = errors.send(too_long_error(id));
            } else if to_rmcp.write_all(&line).await.is_err() {
                return;
            }
            line.clear();
            if line.capacity() > 1 << 20 {
                line = Vec::new();
            }
        }
    }
}

/// A line being skipped for its length.
struct Oversized {
    /// The id found in its first bytes, if any.
    head_id: Option<serde_json::Value>,
    /// Its last ID_SCAN_BYTES so far.
    tail: Vec<u8>,
}

impl Oversized {
    fn keep_tail(&mut self, chunk: &[u8]) {
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > ID_SCAN_BYTES {
            self.tail.drain(..self.tail.len() - ID_SCAN_BYTES);
        }
    }
}

/// The one writer to stdout: rmcp's bytes as they come, and queued errors
/// only at a message boundary (after a newline).
async fn write_out<W: AsyncWrite + Unpin>(
    mut from_rmcp: tokio::io::DuplexStream,
    mut errors: mpsc::UnboundedReceiver<Vec<u8>>,
    mut out: W,
) {
    let mut buf = vec![0u8; 1 << 16];
    let (mut at_boundary, mut errors_open) = (true, true);
    loop {
        tokio::select! {
            biased;
            error = errors.recv(), if at_boundary && errors_open => match error {
                Some(line) => {
                    if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                        return;
                    }
                }
                None => errors_open = false,
            },
            read = from_rmcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    at_boundary = buf[n - 1] == b'\n';
                    if out.write_all(&buf[..n]).await.is_err() || (at_boundary && out.flush().await.is_err()) {
                        return;
                    }
                }
            },
        }
    }
    let _ = out.flush().await;
}

/// The JSON-RPC error line for a dropped message.
fn too_long_error(id: serde_json::Value) -> Vec<u8> {
    let error = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32600,
            "message": format!(
                "message too large: over the {} MiB ({MAX_LINE_BYTES} bytes) line limit of this stdio server, so it was dropped; \
                 pass images by id, image:// URI, URL or file path instead of inline data",
                MAX_LINE_BYTES >> 20
            ),
            "data": {"limit_bytes": MAX_LINE_BYTES},
        },
    });
    let mut line = serde_json::to_vec(&error).expect("a JSON value serialises");
    line.push(b'\n');
    line
}

/// The top-level `"id"` of a JSON-RPC message from its last bytes, when it
/// is the last member (`…,"id":7}`, as the Python SDK writes it).
fn scan_tail_id(text: &[u8]) -> Option<serde_json::Value> {
    let back_ws = |mut i: usize| {
        while i > 0 && text[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        i
    };
    let mut end = back_ws(text.len());
    if end == 0 || text[end - 1] != b'}' {
        return None;
    }
    end = back_ws(end - 1);
    let start = if text.get(end.checked_sub(1)?) == Some(&b'"') {
        // Back to the opening quote: one not preceded by an odd run of backslashes.
        let mut j = end - 1;
        loop {
            j = j.checked_sub(1)?;
            if text[j] == b'"' && text[..j].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0 {
                break j;
            }
        }
    } else {
        let mut j = end;
        while j > 0 && (text[j - 1].is_ascii_alphanumeric() || b"+-.".contains(&text[j - 1])) {
            j -= 1;
        }
        j
    };
    let colon = back_ws(start);
    if start == end || colon == 0 || text[colon - 1] != b':' {
        return None;
    }
    let key_end = back_ws(colon - 1);
    let key_start = key_end.checked_sub(4)?;
    let before = back_ws(key_start);
    if &text[key_start..key_end] != b"\"id\"" || before == 0 || !matches!(text[before - 1], b',' | b'{') {
        return None;
    }
    let id: serde_json::Value = serde_json::from_slice(&text[start..end]).ok()?;
    (id.is_number() || id.is_string()).then_some(id)
}

/// The top-level `"id"` of a JSON-RPC message from its first bytes, when
/// it comes before anything long.
fn scan_id(text: &[u8]) -> Option<serde_json::Value> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(text, i);
        let key_end = string_end(text, i)?;
        let key = &text[i..key_end];
        i = skip_ws(text, key_end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(text, i + 1);
        let value_end = value_end(text, i)?;
        if key == b"\"id\"" {
            let id: serde_json::Value = serde_json::from_slice(&text[i..value_end]).ok()?;
            return (id.is_number() || id.is_string()).then_some(id);
        }
        i = skip_ws(text, value_end);
        match text.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// Index just past the JSON string starting at `i`.
fn string_end(text: &[u8], i: usize) -> Option<usize> {
    if text.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match text.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Index just past the JSON value starting at `i` (None if it runs past the prefix).
fn value_end(text: &[u8], i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => string_end(text, i),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match text.get(j)? {
                    b'"' => {
                        j = string_end(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while text.get(j).is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
                j += 1;
            }
            (j < text.len()).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_id_of_an_oversized_message_is_read_from_its_first_bytes() {
        let cases: [(&[u8], Option<serde_json::Value>); 7] = [
            (br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"prompt":"AAAA"#, Some(json!(7))),
            (br#" { "jsonrpc" : "2.0" , "id" : "req-\"1\"" , "params": {"#, Some(json!("req-\"1\""))),
            (br#"{"method":"x","params":{"id":3,"nested":[{"id":4}],"s":"}{"},"id":9,"#, Some(json!(9))),
            (br#"{"jsonrpc":"2.0","method":"tools/call","params":{"id":5,"prompt":"AAAA"#, None),
            (br#"{"jsonrpc":"2.0","id":12"#, None),
            (br#"{"id":{"not":"an id"},"#, None),
            (b"AAAAAAAA", None),
        ];
        for (prefix, id) in cases {
            assert_eq!(scan_id(prefix), id, "{}", String::from_utf8_lossy(prefix));
        }
    }

    #[test]
    fn the_id_of_an_oversized_message_is_read_from_its_last_bytes() {
        let cases: [(&[u8], Option<serde_json::Value>); 8] = [
            (b"AAAAAAAAAA\"}},\"jsonrpc\":\"2.0\",\"id\":3}\n", Some(json!(3))),
            (b"AAAA\"}} , \"id\" : \"call-\\\"x\\\"\" }\r\n", Some(json!("call-\"x\""))),
            (b"AAAA\"},\"id\":null}\n", None),
            (b"AAAA\",\"params\":{\"id\":4}}\n", None),
            (b"AAAA\\\",\\\"id\\\":5\"}\n", None),
            (b"AAAA\"x\":\"id\":5}", None),
            (b"AAAA\"xid\":5}", None),
            (b"AAAA", None),
        ];
        for (tail, id) in cases {
            assert_eq!(scan_tail_id(tail), id, "{}", String::from_utf8_lossy(tail));
        }
    }

    #[test]
    fn the_error_for_a_dropped_line_is_one_json_rpc_line_naming_the_limit() {
        let line = too_long_error(json!(3));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let error: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(error["id"], json!(3));
        assert!(error["error"]["message"].as_str().unwrap().contains("16 MiB (16777216 bytes) line limit"));
    }
}
