//! ComfyUI's HTTP API shapes (server v0.3.64 — docs/providers/comfyui.md): URLs and the
//! parsing of `/prompt`, `/history/{id}`, `/queue`, `/object_info/{class}`,
//! `/models/checkpoints` and `/upload/image` responses. Pure functions over
//! bodies; the error texts for rejected workflows live in [`crate::errors`].

use crate::errors;
use crate::types::ProviderError;
use easel_plugin_kit::urls::encode_component;
use serde_json::Value;

/// The default server address (`python main.py` listens on 8188 — docs/providers/comfyui.md#base-url-and-auth).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8188";

/// `base_url` without trailing slashes; refuses anything but http(s).
pub fn normalize_base(base: &str) -> Result<String, ProviderError> {
    let base = base.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
        return Err(ProviderError::invalid(
            None,
            format!("config `base_url` must be an http(s) URL such as {DEFAULT_BASE_URL}, not `{base}`"),
        ));
    }
    Ok(base.to_string())
}

/// The `POST /prompt` body: `{"prompt": graph, "client_id": id}` (docs/providers/comfyui.md#queueing-a-workflow).
pub fn prompt_body(graph: &Value, client_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"prompt": graph, "client_id": client_id})).unwrap_or_default()
}

/// `prompt_id` from a 200 `{"prompt_id", "number", "node_errors": {}}`.
pub fn parse_queued(body: &[u8]) -> Result<String, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_json("POST /prompt", e))?;
    value.get("prompt_id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
        ProviderError::upstream(
            200,
            format!("ComfyUI accepted the workflow but sent no prompt_id: {}", snippet(&value.to_string())),
        )
    })
}

/// One output file as `/history` and `/upload/image` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub filename: String,
    pub subfolder: String,
    /// `output`, `input` or `temp`.
    pub kind: String,
}

impl FileRef {
    /// `GET /view?filename=&subfolder=&type=` for this file (docs/providers/comfyui.md#history-and-files).
    pub fn view_url(&self, base: &str) -> String {
        format!(
            "{base}/view?filename={}&subfolder={}&type={}",
            encode_component(&self.filename),
            encode_component(&self.subfolder),
            encode_component(&self.kind)
        )
    }
}

/// Where a finished prompt stands according to `GET /history/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// `{}`: history is empty until the prompt finishes — docs/providers/comfyui.md#history-and-files.
    NotFinished,
    /// `status_str: "success"`: the images of the output nodes.
    Succeeded(Vec<FileRef>),
    /// `status_str: "error"`: an `execution_error` or `execution_interrupted`.
    Failed(ProviderError),
}

/// Parse `GET /history/{id}`: `{"<id>": {"outputs": {"<node>": {"images":
/// [{filename, subfolder, type}]}}, "status": {"status_str", "completed",
/// "messages": [[event, data], ...]}}}` or `{}`.
pub fn parse_history(body: &[u8], prompt_id: &str) -> Result<History, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_json("GET /history", e))?;
    let Some(entry) = value.get(prompt_id) else {
        return Ok(History::NotFinished);
    };
    let status = entry.get("status");
    let status_str = status.and_then(|s| s.get("status_str")).and_then(Value::as_str).unwrap_or("success");
    let messages: &[Value] =
        status.and_then(|s| s.get("messages")).and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let event = |name: &str| {
        messages
            .iter()
            .filter_map(Value::as_array)
            .find(|m| m.first().and_then(Value::as_str) == Some(name))
            .and_then(|m| m.get(1))
    };
    if let Some(data) = event("execution_error") {
        return Ok(History::Failed(errors::execution_error(data)));
    }
    if let Some(data) = event("execution_interrupted") {
        return Ok(History::Failed(errors::interrupted(data)));
    }
    if status_str == "error" {
        return Ok(History::Failed(ProviderError::upstream(
            0,
            "ComfyUI reports the prompt failed (status_str \"error\") without an execution_error message",
        )));
    }
    let mut saved = Vec::new();
    let mut temp = Vec::new();
    // Node ids are usually numbers: visit outputs in numeric order so images come back in graph order.
    let mut outputs: Vec<(&String, &Value)> =
        entry.get("outputs").and_then(Value::as_object).map(|o| o.iter().collect()).unwrap_or_default();
    outputs.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone()));
    for (_, output) in outputs {
        for image in output.get("images").and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
            let Some(filename) = image.get("filename").and_then(Value::as_str) else { continue };
            let file = FileRef {
                filename: filename.to_string(),
                subfolder: image.get("subfolder").and_then(Value::as_str).unwrap_or("").to_string(),
                kind: image.get("type").and_then(Value::as_str).unwrap_or("output").to_string(),
            };
            if file.kind == "output" { saved.push(file) } else { temp.push(file) }
        }
    }
    // SaveImage writes `output` files; PreviewImage only `temp` ones, used if nothing was saved.
    Ok(History::Succeeded(if saved.is_empty() { temp } else { saved }))
}

/// Where a prompt stands in `GET /queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueSpot {
    Running,
    /// Jobs ahead of it in `queue_pending` (0 = next).
    Pending(u32),
    Absent,
}

/// Parse `GET /queue`: `{"queue_running": [[number, prompt_id, prompt,
/// extra_data, outputs]], "queue_pending": [...]}`. The pending list is a
/// copy of the server's heap, not sorted, so order by `number`.
pub fn parse_queue(body: &[u8], prompt_id: &str) -> Result<QueueSpot, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_json("GET /queue", e))?;
    let items = |key: &str| -> Vec<(f64, String)> {
        value
            .get(key)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_array)
                    .map(|item| {
                        let number = item.first().and_then(Value::as_f64).unwrap_or(0.0);
                        let id = item.get(1).and_then(Value::as_str).unwrap_or("").to_string();
                        (number, id)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if items("queue_running").iter().any(|(_, id)| id == prompt_id) {
        return Ok(QueueSpot::Running);
    }
    let mut pending = items("queue_pending");
    pending.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match pending.iter().position(|(_, id)| id == prompt_id) {
        Some(index) => QueueSpot::Pending(index as u32),
        None => QueueSpot::Absent,
    })
}

/// The API-format graph ComfyUI holds for `prompt_id` in `GET /queue`
/// (the third element of its `queue_running` or `queue_pending` entry),
/// which the live progress weighs node by node ([`crate::live::Graph`]).
pub fn queued_graph(body: &[u8], prompt_id: &str) -> Option<Value> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["queue_running", "queue_pending"]
        .iter()
        .filter_map(|key| value.get(*key).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_array)
        .find(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id))
        .and_then(|item| item.get(2).cloned())
}

/// The options of a combo input in `GET /object_info/{class}`:
/// `{"<class>": {"input": {"required": {"<input>": [["a", "b"], {...}]}}}}`,
/// or the newer `["COMBO", {"options": ["a", "b"]}]` form.
pub fn parse_combo(body: &[u8], class: &str, input: &str) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let spec = value.get(class)?.get("input")?.get("required")?.get(input)?.as_array()?;
    let options = match spec.first()? {
        Value::Array(list) => list,
        Value::String(kind) if kind == "COMBO" => spec.get(1)?.get("options")?.as_array()?,
        _ => return None,
    };
    Some(options.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// `GET /models/checkpoints`: a JSON list of file names.
pub fn parse_name_list(body: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(value.as_array()?.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// `POST /upload/image` → `{"name", "subfolder", "type"}`; the value a
/// `LoadImage` node takes is `subfolder/name` (docs/providers/comfyui.md#history-and-files).
pub fn parse_upload(body: &[u8]) -> Result<String, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_json("POST /upload/image", e))?;
    let name = value.get("name").and_then(Value::as_str).ok_or_else(|| {
        ProviderError::upstream(200, format!("ComfyUI's upload answer has no `name`: {}", snippet(&value.to_string())))
    })?;
    let subfolder = value.get("subfolder").and_then(Value::as_str).unwrap_or("");
    Ok(if subfolder.is_empty() { name.to_string() } else { format!("{subfolder}/{name}") })
}

/// The MIME type of an output file, from `content-type` or its extension.
pub fn mime_of(content_type: Option<&str>, filename: &str) -> String {
    if let Some(ct) =
        content_type.map(|c| c.split(';').next().unwrap_or("").trim()).filter(|ct| ct.starts_with("image/"))
    {
        return ct.to_string();
    }
    easel_plugin_kit::image::mime_from_filename(filename).to_string()
}

/// At most 300 characters of text for messages, by the kit's
/// [`snippet`](easel_plugin_kit::text::snippet) (an HTML page, a proxy's
/// error page, is only its title); empty text stays empty.
pub fn snippet(text: &str) -> String {
    if text.trim().is_empty() { String::new() } else { easel_plugin_kit::text::snippet(text.as_bytes(), 300) }
}

fn bad_json(what: &str, e: serde_json::Error) -> ProviderError {
    ProviderError::upstream(
        200,
        format!(
            "ComfyUI answered {what} with something that is not the expected JSON ({e}); is base_url really a ComfyUI server?"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn history_is_not_finished_until_the_id_appears() {
        assert_eq!(parse_history(b"{}", "p1").unwrap(), History::NotFinished);
    }

    #[test]
    fn history_success_lists_saved_images_in_node_order() {
        let body = bytes(json!({"p1": {
            "prompt": [1, "p1", {}, {"client_id": "c"}, ["9"]],
            "outputs": {
                "12": {"images": [{"filename": "b.png", "subfolder": "x", "type": "output"}]},
                "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
                "20": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]}},
            "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": "p1"}]]}}}));
        let History::Succeeded(files) = parse_history(&body, "p1").unwrap() else { panic!() };
        let names: Vec<_> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(names, ["a.png", "b.png"]);
        assert_eq!(files[1].view_url("http://h:1"), "http://h:1/view?filename=b.png&subfolder=x&type=output");
    }

    #[test]
    fn history_falls_back_to_preview_images() {
        let body = bytes(
            json!({"p1": {"outputs": {"3": {"images": [{"filename": "t.png", "subfolder": "", "type": "temp"}]}},
            "status": {"status_str": "success", "completed": true, "messages": []}}}),
        );
        let History::Succeeded(files) = parse_history(&body, "p1").unwrap() else { panic!() };
        assert_eq!(files[0].kind, "temp");
    }

    #[test]
    fn history_execution_error_is_a_readable_failure() {
        let body =
            bytes(json!({"p1": {"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [
            ["execution_start", {"prompt_id": "p1"}],
            ["execution_error", {"prompt_id": "p1", "node_id": "3", "node_type": "KSampler", "executed": ["4"],
                                 "exception_message": "CUDA out of memory", "exception_type": "torch.OutOfMemoryError",
                                 "traceback": ["..."], "current_inputs": {}, "current_outputs": {}}]]}}}));
        let History::Failed(err) = parse_history(&body, "p1").unwrap() else { panic!() };
        let m = err.message();
        assert!(m.contains("KSampler") && m.contains("node 3") && m.contains("CUDA out of memory"), "{m}");
    }

    #[test]
    fn queue_position_orders_pending_by_number() {
        let body = bytes(json!({"queue_running": [[1, "r", {}, {}, []]],
                                "queue_pending": [[5, "mine", {}, {}, []], [3, "other", {}, {}, []]]}));
        assert_eq!(parse_queue(&body, "mine").unwrap(), QueueSpot::Pending(1));
        assert_eq!(parse_queue(&body, "other").unwrap(), QueueSpot::Pending(0));
        assert_eq!(parse_queue(&body, "r").unwrap(), QueueSpot::Running);
        assert_eq!(parse_queue(&body, "gone").unwrap(), QueueSpot::Absent);
        let body =
            bytes(json!({"queue_running": [[1, "r", {"3": {"class_type": "KSampler"}}, {}, []]], "queue_pending": []}));
        assert_eq!(queued_graph(&body, "r"), Some(json!({"3": {"class_type": "KSampler"}})));
        assert_eq!(queued_graph(&body, "gone"), None);
    }

    #[test]
    fn combo_options_in_both_forms() {
        let classic = bytes(
            json!({"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors", "b.ckpt"], {"tooltip": "t"}]}}}}),
        );
        assert_eq!(parse_combo(&classic, "CheckpointLoaderSimple", "ckpt_name").unwrap(), ["a.safetensors", "b.ckpt"]);
        let v3 = bytes(
            json!({"KSampler": {"input": {"required": {"sampler_name": ["COMBO", {"options": ["euler", "dpmpp_2m"]}]}}}}),
        );
        assert_eq!(parse_combo(&v3, "KSampler", "sampler_name").unwrap(), ["euler", "dpmpp_2m"]);
        assert_eq!(parse_combo(b"{}", "KSampler", "sampler_name"), None);
    }

    #[test]
    fn upload_joins_subfolder() {
        assert_eq!(parse_upload(br#"{"name": "fox.png", "subfolder": "", "type": "input"}"#).unwrap(), "fox.png");
        assert_eq!(
            parse_upload(br#"{"name": "fox.png", "subfolder": "easel", "type": "input"}"#).unwrap(),
            "easel/fox.png"
        );
    }

    #[test]
    fn urls_and_encoding() {
        assert_eq!(normalize_base("http://127.0.0.1:8188/").unwrap(), "http://127.0.0.1:8188");
        assert!(normalize_base("127.0.0.1:8188").is_err());
    }

    #[test]
    fn mime_from_header_or_name() {
        assert_eq!(mime_of(Some("image/webp"), "x.png"), "image/webp");
        assert_eq!(mime_of(Some("application/octet-stream"), "x.JPG"), "image/jpeg");
    }
}
