//! Turning what goes wrong into readable [`ProviderError`]s: egress
//! failures (the "not reachable … start it with `python main.py`" hint), HTTP
//! statuses, `POST /prompt` validation failures (`node_errors`, object and
//! older plain-string forms — docs/providers/comfyui.md#queueing-a-workflow) and execution errors from
//! `/history` (docs/providers/comfyui.md#history-and-files, #progress).

use crate::api::snippet;
use crate::types::{EgressError, HttpResponse, ProviderError};
use easel_plugin_kit::http::{Upstream, egress_error};
use serde_json::Value;

/// An egress failure of `target` (`METHOD path`) at the ComfyUI at `base`,
/// mapped by the kit ([`easel_plugin_kit::http::egress_error`]); a
/// connection failure says how to start ComfyUI (loopback by default:
/// bare `--listen` would open it to every network, docs/providers/comfyui.md#starting-comfyui).
pub fn egress(base: &str, error: EgressError, target: &str) -> ProviderError {
    let not_reachable = format!(
        "ComfyUI not reachable at {base} — start it with `python main.py` (it serves http://127.0.0.1:8188; bare `--listen` would open it to every network, so give a ComfyUI on another machine `--listen <its LAN address>`), or fix base_url in [plugins.comfyui.config]"
    );
    egress_error(error, &Upstream::local("ComfyUI", &not_reachable), target)
}

/// A non-success HTTP status from `what` (e.g. "GET /queue").
pub fn status(base: &str, what: &str, response: &HttpResponse) -> ProviderError {
    let body = snippet(&response.text());
    let code = response.status;
    match code {
        401 | 403 => ProviderError::Unauthorized(format!(
            "ComfyUI at {base} refused {what} with HTTP {code}: {body}. Core ComfyUI has no authentication: a proxy in front of it may need a token (configure the optional secret COMFYUI_TOKEN), and a 403 can also mean ComfyUI's Origin check failed (start it with --enable-cors-header)"
        )),
        404 => ProviderError::upstream(
            code,
            format!("{what} is not found at {base} (HTTP 404): is base_url a ComfyUI server? {body}"),
        ),
        _ => ProviderError::upstream(code, format!("ComfyUI {what} failed with HTTP {code}: {body}")),
    }
}

/// The Easel parameter behind a node input of the built-in workflows.
pub fn field_for_input(input: &str) -> Option<&'static str> {
    Some(match input {
        "ckpt_name" => "model",
        "width" => "width",
        "height" => "height",
        "batch_size" | "amount" => "count",
        "seed" | "noise_seed" => "seed",
        "steps" => "steps",
        "cfg" => "guidance",
        "denoise" => "strength",
        "image" => "images",
        _ => return None,
    })
}

/// A `POST /prompt` refusal (HTTP 400). Object form:
/// `{"error": {"type", "message", "details", "extra_info"}, "node_errors":
/// {"<id>": {"errors": [{"type", "message", "details", "extra_info":
/// {"input_name"}}], "dependent_outputs", "class_type"}}}`; older servers
/// send `error` as a plain string and `node_errors` as `{}` or `[]`.
///
/// Becomes `invalid-request` naming each node (class_type and id) and
/// input, with `field` set when the first bad input maps to an Easel
/// parameter (`ckpt_name` → `model`, …).
pub fn prompt_rejected(response: &HttpResponse) -> ProviderError {
    let Ok(value) = serde_json::from_slice::<Value>(&response.body) else {
        return ProviderError::invalid(
            None,
            format!("ComfyUI rejected the workflow (HTTP {}): {}", response.status, snippet(&response.text())),
        );
    };
    let (kind, headline, details) = match value.get("error") {
        Some(Value::String(text)) => (String::new(), text.clone(), String::new()),
        Some(error @ Value::Object(_)) => {
            let s = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("type"), s("message"), s("details"))
        }
        _ => (String::new(), String::new(), String::new()),
    };
    let mut field = None;
    let mut parts = Vec::new();
    // Some builds nest them in `error.extra_info.node_errors`; take whichever is non-empty.
    let nested = value.get("error").and_then(|e| e.get("extra_info")).and_then(|e| e.get("node_errors"));
    let node_errors =
        [value.get("node_errors"), nested].into_iter().flatten().filter_map(Value::as_object).find(|m| !m.is_empty());
    if let Some(nodes) = node_errors {
        let mut nodes: Vec<(&String, &Value)> = nodes.iter().collect();
        nodes.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone()));
        for (id, node) in nodes {
            let class = node.get("class_type").and_then(Value::as_str).unwrap_or("?");
            let errors: &[Value] = match node.get("errors") {
                Some(Value::Array(list)) => list,
                _ => &[],
            };
            if errors.is_empty() {
                let text = node.as_str().map(str::to_string).unwrap_or_else(|| snippet(&node.to_string()));
                parts.push(format!("node {id} ({class}): {text}"));
            }
            for error in errors {
                let text = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
                let input = error.get("extra_info").and_then(|e| e.get("input_name")).and_then(Value::as_str);
                if field.is_none() {
                    field = input.and_then(field_for_input);
                }
                let what = [text("message"), snippet(&text("details"))]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                parts.push(match input {
                    Some(input) => format!("node {id} ({class}) input `{input}`: {what}"),
                    None => format!("node {id} ({class}): {what}"),
                });
            }
        }
    }
    let mut message = String::from("ComfyUI rejected the workflow");
    if !headline.is_empty() {
        message.push_str(": ");
        message.push_str(headline.trim_end_matches('.'));
    }
    if parts.is_empty() && !details.is_empty() {
        message.push_str(&format!(" ({})", snippet(&details)));
    }
    if !parts.is_empty() {
        message.push_str(" — ");
        message.push_str(&parts.join("; "));
    }
    if kind == "invalid_prompt" && headline.contains("does not exist") {
        message.push_str(" — that node class is not installed in this ComfyUI (a missing custom node?)");
    }
    if headline.is_empty() && parts.is_empty() {
        message.push_str(&format!(" (HTTP {}): {}", response.status, snippet(&value.to_string())));
    }
    ProviderError::InvalidRequest { field: field.map(str::to_string), message }
}

/// An `execution_error` message's data: `{prompt_id, node_id, node_type,
/// executed, exception_message, exception_type, traceback, ...}`.
pub fn execution_error(data: &Value) -> ProviderError {
    let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let node = match data.get("node_id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "?".to_string(),
    };
    let kind = s("exception_type");
    let text = s("exception_message");
    let exception = match (kind.is_empty(), text.is_empty()) {
        (false, false) => format!("{kind}: {text}"),
        (true, false) => text,
        (false, true) => kind,
        (true, true) => "no exception message".to_string(),
    };
    ProviderError::upstream(
        0,
        format!("ComfyUI failed while executing node {node} ({}): {exception}", or_unknown(&s("node_type"))),
    )
}

/// An `execution_interrupted` message's data: `{prompt_id, node_id, node_type, executed}`.
pub fn interrupted(data: &Value) -> ProviderError {
    let node = data.get("node_id").and_then(Value::as_str).unwrap_or("?");
    let class = data.get("node_type").and_then(Value::as_str).unwrap_or("unknown");
    ProviderError::upstream(
        0,
        format!(
            "the prompt was interrupted at node {node} ({class}) — someone pressed Cancel in ComfyUI or called /interrupt"
        ),
    )
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown node type" } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, body: Value) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: serde_json::to_vec(&body).unwrap() }
    }

    #[test]
    fn object_form_names_node_class_and_input() {
        let r = response(
            400,
            json!({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "...", "extra_info": {}},
            "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                "details": "ckpt_name: 'x.safetensors' not in ['a.safetensors']",
                "extra_info": {"input_name": "ckpt_name", "input_config": [], "received_value": "x.safetensors"}}],
                "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}}),
        );
        let ProviderError::InvalidRequest { field, message } = prompt_rejected(&r) else { panic!() };
        assert_eq!(field.as_deref(), Some("model"));
        assert!(message.contains("node 4 (CheckpointLoaderSimple) input `ckpt_name`"), "{message}");
        assert!(message.contains("Value not in list") && message.contains("x.safetensors"), "{message}");
    }

    #[test]
    fn plain_string_form_is_tolerated() {
        let r = response(
            400,
            json!({"error": "Prompt outputs failed validation", "node_errors": {
            "5": {"errors": [{"type": "required_input_missing", "message": "Required input is missing", "details": "width",
                              "extra_info": {"input_name": "width"}}], "dependent_outputs": ["9"], "class_type": "EmptyLatentImage"}}}),
        );
        let ProviderError::InvalidRequest { field, message } = prompt_rejected(&r) else { panic!() };
        assert_eq!(field.as_deref(), Some("width"));
        assert!(message.contains("node 5 (EmptyLatentImage) input `width`: Required input is missing"), "{message}");
        let r = response(400, json!({"error": "no prompt", "node_errors": []}));
        assert!(prompt_rejected(&r).message().contains("no prompt"));
    }

    #[test]
    fn unknown_node_class_names_the_node() {
        let r = response(
            400,
            json!({"error": {"type": "invalid_prompt", "message": "Cannot execute because node FancySampler does not exist.",
            "details": "Node ID '#3'", "extra_info": {}}, "node_errors": {}}),
        );
        let m = prompt_rejected(&r).message().to_string();
        assert!(m.contains("FancySampler") && m.contains("#3") && m.contains("not installed"), "{m}");
    }

    #[test]
    fn node_errors_nested_in_extra_info_are_found() {
        let r = response(
            400,
            json!({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
            "details": "", "extra_info": {"node_errors": {"cv0": {"class_type": "Foo", "errors": [
                {"type": "required_input_missing", "message": "Required input is missing", "details": "target_text"}]}}}}}),
        );
        let m = prompt_rejected(&r).message().to_string();
        assert!(m.contains("node cv0 (Foo): Required input is missing: target_text"), "{m}");
    }

    #[test]
    fn non_json_rejection_keeps_the_text() {
        let r = HttpResponse { status: 400, headers: vec![], body: b"bad gateway thing".to_vec() };
        assert!(prompt_rejected(&r).message().contains("bad gateway thing"));
    }

    #[test]
    fn execution_error_is_upstream_and_readable() {
        let e = execution_error(
            &json!({"node_id": "3", "node_type": "KSampler", "exception_message": "boom", "exception_type": "RuntimeError"}),
        );
        assert_eq!(
            e,
            ProviderError::upstream(0, "ComfyUI failed while executing node 3 (KSampler): RuntimeError: boom")
        );
    }

    #[test]
    fn connection_failure_says_how_to_start_comfyui() {
        let e = egress("http://127.0.0.1:8188", EgressError::Connection("connection refused".into()), "GET /queue");
        let ProviderError::Unavailable(m) = e else { panic!() };
        assert!(
            m.contains("ComfyUI not reachable at http://127.0.0.1:8188")
                && m.contains("start it with `python main.py` (it serves http://127.0.0.1:8188")
                && m.contains("refused")
        );
        let denied =
            egress("http://127.0.0.1:8188", EgressError::Denied("add \"http://127.0.0.1:8188\"".into()), "GET /queue");
        assert_eq!(denied, ProviderError::Unavailable("add \"http://127.0.0.1:8188\"".into()));
    }
}
