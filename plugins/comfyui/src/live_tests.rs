//! `poll` of a running prompt with scripted websockets (crate::testing's
//! host): the progress it reports, when it goes to `/history`, what it
//! ignores, and the fallback to plain polling when there is no socket.

use super::*;
use crate::flow::poll;
use crate::testing::{BASE, ScriptedHost, new_mock, resp};
use crate::types::{EgressError, HttpResponse, ImageData, JobState, ProviderError};
use easel_plugin_kit::testing::ScriptedStream;
use easel_plugin_kit::token::JobToken;
use serde_json::json;

/// The built-in txt2img graph as ComfyUI's `/queue` holds it, with 20 steps.
fn txt2img() -> Value {
    json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 9, "steps": 20, "cfg": 7.0, "model": ["4", 0],
              "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "easel", "images": ["8", 0]}}
    })
}

fn token() -> String {
    Token { base: BASE.into(), prompt_id: "pid-1".into(), client_id: "c1".into(), seed: Some(9), count: 1 }.encode()
}

/// `/history` empty (`answers` more times, then done), `/queue` running
/// pid-1 with the txt2img graph, and `/view` serving a PNG.
fn running_mock(empty_histories: usize) -> ScriptedHost {
    let mock = new_mock();
    let done = json!({"pid-1": {"outputs": {"9": {"images": [{"filename": "easel_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": {"status_str": "success", "completed": true, "messages": []}}});
    let mut history: Vec<_> = (0..empty_histories).map(|_| Ok(resp(200, json!({})))).collect();
    history.push(Ok(resp(200, done)));
    mock.route("GET", "/history/", history);
    mock.route_json(
        "GET",
        "/queue",
        200,
        json!({"queue_running": [[7, "pid-1", txt2img(), {"client_id": "c1"}, ["9"]]], "queue_pending": []}),
    );
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x02\0\0\0\x02\0rest".to_vec();
    mock.route(
        "GET",
        "/view",
        vec![Ok(HttpResponse { status: 200, headers: vec![("content-type".into(), "image/png".into())], body: png })],
    );
    mock
}

fn text(kind: &str, data: Value) -> Result<WsMessage, EgressError> {
    Ok(WsMessage::Text(json!({"type": kind, "data": data}).to_string()))
}

fn status(remaining: u64) -> Result<WsMessage, EgressError> {
    text("status", json!({"status": {"exec_info": {"queue_remaining": remaining}}, "sid": "c1"}))
}

fn executing(node: &str) -> Result<WsMessage, EgressError> {
    text("executing", json!({"node": node, "display_node": node, "prompt_id": "pid-1"}))
}

fn progress(value: u32, max: u32) -> Result<WsMessage, EgressError> {
    text("progress", json!({"value": value, "max": max, "prompt_id": "pid-1", "node": "3"}))
}

fn finished_frames() -> Vec<Result<WsMessage, EgressError>> {
    vec![
        executing("8"),
        executing("9"),
        text(
            "executed",
            json!({"node": "9", "display_node": "9", "prompt_id": "pid-1",
            "output": {"images": [{"filename": "easel_00001_.png", "subfolder": "", "type": "output"}]}}),
        ),
        text("execution_success", json!({"prompt_id": "pid-1", "timestamp": 1})),
        text("executing", json!({"node": null, "prompt_id": "pid-1"})),
    ]
}

fn reports(mock: &ScriptedHost) -> Vec<(f32, String)> {
    mock.progress.borrow().iter().map(|(f, m)| (f.expect("live reports carry a fraction"), m.clone())).collect()
}

#[test]
fn sampler_steps_become_rising_fractions_named_after_the_node() {
    let mock = running_mock(2);
    let mut frames =
        vec![status(1), text("execution_start", json!({"prompt_id": "pid-1"})), executing("4"), executing("6")];
    frames.extend([executing("7"), executing("5"), executing("3"), progress(1, 20), progress(9, 20), progress(20, 20)]);
    frames.push(Err(EgressError::Timeout("nothing within 10 s".into())));
    mock.stream(ScriptedStream::Socket(frames));
    let state = poll(&mock, &token()).unwrap();

    let [socket] = mock.sent_to("GET", "/ws").try_into().unwrap();
    assert_eq!(socket.url, "ws://127.0.0.1:8188/ws?clientId=c1");
    assert_eq!(
        (socket.timeout_ms, socket.headers.len()),
        (Some(HANDSHAKE_TIMEOUT_MS), 0),
        "no auth without the secret"
    );
    let reports = reports(&mock);
    let messages: Vec<&str> = reports.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages[0], "ComfyUI started prompt pid-1");
    assert!(messages.contains(&"running CLIPTextEncode (node 6)"), "{messages:?}");
    assert!(messages.contains(&"KSampler step 9/20"), "{messages:?}");
    let fractions: Vec<f32> = reports.iter().map(|(f, _)| *f).collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "never backwards: {reports:?}");
    assert!(fractions.iter().all(|f| (0.05..0.9).contains(f)), "{reports:?}");
    // Weights: six nodes of 1 and the sampler's 20 steps (26 in all); at
    // step 9 its four inputs are done and it is 9/20 through.
    let at_step_9 = reports.iter().find(|(_, m)| m == "KSampler step 9/20").unwrap().0;
    assert!((at_step_9 - (0.05 + 0.85 * (4.0 + 9.0) / 26.0)).abs() < 0.002, "{at_step_9}");
    // The window passed, /history still had nothing: running, with the last live progress.
    let JobState::Running { fraction: Some(f), message: Some(m) } = state else { panic!("{state:?}") };
    assert_eq!((f, m.as_str()), (*fractions.last().unwrap(), "KSampler step 20/20"));
    assert_eq!(mock.sent_to("GET", "/history/").len(), 2, "once before the socket, once after the window");
}

#[test]
fn a_finished_prompt_goes_to_history_once_and_comes_back_done() {
    let mock = running_mock(1);
    let mut frames = vec![status(1), executing("3"), progress(20, 20)];
    frames.extend(finished_frames());
    frames.push(text("progress", json!({"value": 1, "max": 4, "prompt_id": "pid-1", "node": "99"})));
    mock.stream(ScriptedStream::Socket(frames));
    let JobState::Done(images) = poll(&mock, &token()).unwrap() else { panic!("done") };
    assert_eq!((images.len(), images[0].seed), (1, Some(9)));
    assert!(matches!(&images[0].data, ImageData::Inline { mime_type, .. } if mime_type == "image/png"));
    assert_eq!(mock.sent_to("GET", "/history/").len(), 2, "the poll's first look, then one after `executing null`");
    let messages: Vec<String> = reports(&mock).into_iter().map(|(_, m)| m).collect();
    assert!(messages.iter().any(|m| m == "ComfyUI finished prompt pid-1"), "{messages:?}");
    assert!(!messages.iter().any(|m| m.contains("node 99")), "frames after the end are not read: {messages:?}");
    let (last, _) = *reports(&mock).last().unwrap();
    assert!((last - 0.9).abs() < 1e-6, "finished is the end of the live span: {last}");
}

#[test]
fn other_prompts_previews_and_noise_are_ignored() {
    let mock = running_mock(2);
    let other = |kind: &str, data: Value| text(kind, data);
    mock.stream(ScriptedStream::Socket(vec![
        status(3),
        other("progress", json!({"value": 5, "max": 10, "prompt_id": "someone-else", "node": "12"})),
        other("executing", json!({"node": "12", "prompt_id": "someone-else"})),
        other("executing", json!({"node": null, "prompt_id": "someone-else"})),
        other("execution_success", json!({"prompt_id": "someone-else"})),
        Ok(WsMessage::Binary(vec![0, 0, 0, 1, 0, 0, 0, 2, 0x89, b'P', b'N', b'G'])),
        Ok(WsMessage::Text("not json".into())),
        other("crystools.monitor", json!({"cpu_utilization": 3})),
        progress(4, 20),
        Ok(WsMessage::Binary(vec![0, 0, 0, 1])),
        progress(5, 20),
    ]));
    let state = poll(&mock, &token()).unwrap();
    let messages: Vec<String> = reports(&mock).into_iter().map(|(_, m)| m).collect();
    assert_eq!(messages, ["KSampler step 4/20", "KSampler step 5/20"]);
    assert!(matches!(state, JobState::Running { message: Some(m), .. } if m == "KSampler step 5/20"));
    assert_eq!(mock.sent_to("GET", "/history/").len(), 2, "another prompt's end does not end the window early");
}

#[test]
fn without_a_socket_it_polls_as_before() {
    let refused = ScriptedStream::Fail(EgressError::Connection("tcp connect error: Connection refused".into()));
    let forbidden =
        ScriptedStream::Response(HttpResponse { status: 403, headers: vec![], body: b"403: Forbidden".to_vec() });
    let slow = ScriptedStream::Fail(EgressError::Timeout("the handshake took more than 10 s".into()));
    let denied = ScriptedStream::Fail(EgressError::Denied("add \"http://127.0.0.1:8188\"".into()));
    for stream in [Some(refused), Some(forbidden), Some(slow), Some(denied), None] {
        let mock = running_mock(1);
        if let Some(stream) = stream.clone() {
            mock.stream(stream);
        }
        let state = poll(&mock, &token()).unwrap();
        let running = JobState::Running { fraction: None, message: Some("running on ComfyUI (prompt pid-1)".into()) };
        assert_eq!(state, running, "{stream:?}");
        assert_eq!(mock.sent_to("GET", "/history/").len(), 1, "{stream:?}");
        assert_eq!(mock.sent_to("GET", "/ws").len(), 1, "{stream:?}");
        assert!(mock.progress.borrow().is_empty(), "{stream:?}");
        // The next poll finds the images, socket or not.
        assert!(matches!(poll(&mock, &token()).unwrap(), JobState::Done(_)), "{stream:?}");
    }
}

#[test]
fn a_socket_that_breaks_or_closes_keeps_what_it_showed() {
    for end in [Some(Err(EgressError::Connection("connection reset by peer".into()))), None] {
        let mock = running_mock(2);
        let mut frames = vec![status(1), executing("3"), progress(5, 20)];
        frames.extend(end.clone());
        frames.push(progress(6, 20));
        mock.stream(ScriptedStream::Socket(frames));
        let JobState::Running { fraction: Some(_), message: Some(m) } = poll(&mock, &token()).unwrap() else {
            panic!()
        };
        assert_eq!(m, if end.is_some() { "KSampler step 5/20" } else { "KSampler step 6/20" });
        assert_eq!(mock.sent_to("GET", "/history/").len(), 2);
    }
}

#[test]
fn an_execution_error_on_the_socket_fails_from_history() {
    let mock = new_mock();
    let failed = json!({"pid-1": {"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [
        ["execution_error", {"prompt_id": "pid-1", "node_id": "3", "node_type": "KSampler",
                             "exception_message": "CUDA out of memory", "exception_type": "torch.OutOfMemoryError"}]]}}});
    mock.route("GET", "/history/", vec![Ok(resp(200, json!({}))), Ok(resp(200, failed))]);
    mock.route_json(
        "GET",
        "/queue",
        200,
        json!({"queue_running": [[7, "pid-1", txt2img(), {}, ["9"]]], "queue_pending": []}),
    );
    mock.stream(ScriptedStream::Socket(vec![
        executing("3"),
        text(
            "execution_error",
            json!({"prompt_id": "pid-1", "node_id": "3", "node_type": "KSampler",
            "exception_message": "CUDA out of memory", "exception_type": "torch.OutOfMemoryError"}),
        ),
        text("executing", json!({"node": null, "prompt_id": "pid-1"})),
    ]));
    let JobState::Failed(error) = poll(&mock, &token()).unwrap() else { panic!() };
    assert!(error.message().contains("node 3 (KSampler)") && error.message().contains("CUDA out of memory"), "{error}");
    assert!(reports(&mock).iter().any(|(_, m)| m == "ComfyUI reports an error in KSampler (node 3)"));
}

#[test]
fn a_reconnect_learns_the_running_node_and_cached_nodes_count_as_done() {
    let mock = running_mock(2);
    mock.stream(ScriptedStream::Socket(vec![
        status(1),
        // server.py's resend to a client that reconnects while its prompt runs: no prompt_id.
        text("executing", json!({"node": "6"})),
        text("execution_cached", json!({"nodes": ["4", "7", "5"], "prompt_id": "pid-1"})),
    ]));
    poll(&mock, &token()).unwrap();
    let reports = reports(&mock);
    let messages: Vec<&str> = reports.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages, ["running CLIPTextEncode (node 6)", "ComfyUI reused 3 cached node(s)"]);
    // Out of 26: what node 6 depends on (the loader, 1) has run, then the
    // cache adds node 7 and the empty latent (3 in all).
    let expected = [0.05 + 0.85 * 1.0 / 26.0, 0.05 + 0.85 * 3.0 / 26.0];
    assert!(reports.iter().zip(expected).all(|((f, _), e)| (f - e).abs() < 0.002), "{reports:?}");
}

#[test]
fn an_empty_queue_on_connect_goes_straight_to_history() {
    let mock = running_mock(1);
    mock.stream(ScriptedStream::Socket(vec![status(0), progress(3, 20)]));
    assert!(matches!(poll(&mock, &token()).unwrap(), JobState::Done(_)));
    assert!(mock.progress.borrow().iter().all(|(_, m)| !m.contains("step")), "frames after it are not read");
}

#[test]
fn the_proxy_token_and_https_reach_the_websocket() {
    let mock = ScriptedHost::new("COMFYUI_TOKEN", &[]);
    let token = Token {
        base: "https://comfy.example.com/proxy".into(),
        prompt_id: "pid-1".into(),
        client_id: "c 1".into(),
        seed: None,
        count: 1,
    };
    mock.route_json("GET", "/proxy/history/", 200, json!({}));
    mock.route_json(
        "GET",
        "/proxy/queue",
        200,
        json!({"queue_running": [[1, "pid-1", {}, {}, []]], "queue_pending": []}),
    );
    mock.stream(ScriptedStream::Socket(vec![progress(2, 4)]));
    let state = poll(&mock, &token.encode()).unwrap();
    let [socket] = mock.sent_to("GET", "/proxy/ws").try_into().unwrap();
    assert_eq!(socket.url, "wss://comfy.example.com/proxy/ws?clientId=c%201");
    assert_eq!(socket.headers, [("authorization".to_string(), "Bearer {{secret:COMFYUI_TOKEN}}".to_string())]);
    let http = mock.sent_to("GET", "/proxy/queue").remove(0);
    assert!(http.headers.contains(&socket.headers[0]), "the same header as the HTTP calls");
    // No graph to weigh: the sampler's steps alone give the fraction.
    let JobState::Running { fraction: Some(f), .. } = state else { panic!("{state:?}") };
    assert!((f - (0.05 + 0.85 * 0.5)).abs() < 0.002, "{f}");
}

#[test]
fn tokens_written_before_live_progress_still_poll() {
    // As this plugin has always encoded them (client_id included).
    let old = r#"{"v":1,"base":"http://127.0.0.1:8188","prompt_id":"pid-1","client_id":"c1","seed":9,"count":1}"#;
    let mock = running_mock(2);
    mock.stream(ScriptedStream::Socket(vec![executing("3"), progress(10, 20)]));
    assert!(matches!(poll(&mock, old).unwrap(), JobState::Running { fraction: Some(_), .. }));
    assert_eq!(mock.sent_to("GET", "/ws")[0].url, "ws://127.0.0.1:8188/ws?clientId=c1");
    // Without a client_id there is nothing to listen with: plain polling, no socket.
    let bare = r#"{"v":1,"base":"http://127.0.0.1:8188","prompt_id":"pid-1","count":1}"#;
    let mock = running_mock(2);
    let state = poll(&mock, bare).unwrap();
    assert!(
        matches!(state, JobState::Running { fraction: None, message: Some(m) } if m.starts_with("running on ComfyUI"))
    );
    assert!(mock.sent_to("GET", "/ws").is_empty());
    assert!(matches!(Token::decode("{}"), Err(ProviderError::InvalidRequest { .. })));
}

#[test]
fn a_queued_prompt_opens_no_socket() {
    let mock = new_mock();
    mock.route_json("GET", "/history/", 200, json!({}));
    mock.route_json(
        "GET",
        "/queue",
        200,
        json!({"queue_running": [[1, "other", {}, {}, []]], "queue_pending": [[2, "pid-1", txt2img(), {}, []]]}),
    );
    assert_eq!(poll(&mock, &token()).unwrap(), JobState::Queued(Some(0)));
    assert!(mock.sent_to("GET", "/ws").is_empty());
}

#[test]
fn graph_weights_follow_steps_and_links() {
    let graph = Graph::parse(&txt2img());
    assert_eq!(graph.total(), 26.0);
    let up_to_decode: Vec<String> = graph.ancestors("8").into_iter().collect();
    assert_eq!(up_to_decode, ["3", "4", "5", "6", "7"]);
    assert_eq!((graph.name("3"), graph.name("42")), ("KSampler".to_string(), "node 42".to_string()));
    assert_eq!(Graph::parse(&json!("not a graph")).total(), 0.0);
}

#[test]
fn newer_servers_progress_state_counts_finished_nodes_of_this_prompt_only() {
    let graph = Graph::parse(&txt2img());
    let mut tracker = Tracker::new(&graph, "pid-1");
    let state = |prompt: &str, ids: &[&str]| {
        let nodes: serde_json::Map<String, Value> = ids
            .iter()
            .map(|id| {
                (id.to_string(), json!({"state": "finished", "value": 1, "max": 1, "node_id": id, "prompt_id": prompt}))
            })
            .collect();
        json!({"type": "progress_state", "data": {"prompt_id": prompt, "nodes": nodes}}).to_string()
    };
    assert_eq!(tracker.apply(&state("someone-else", &["4", "6", "7", "5"])), Step::Ignored);
    assert_eq!(tracker.apply(&state("pid-1", &["4", "6", "7"])), Step::Updated);
    assert_eq!(tracker.report().0, Some(((0.05 + 0.85 * 3.0 / 26.0) * 1000.0_f32).round() / 1000.0));
    assert_eq!(tracker.apply(&state("pid-1", &["4"])), Step::Ignored, "nothing new");
    let interrupted = json!({"type": "execution_interrupted", "data": {"prompt_id": "pid-1", "node_id": "3"}});
    assert_eq!(tracker.apply(&interrupted.to_string()), Step::Ending);
    assert_eq!(tracker.report().1, Some("ComfyUI interrupted prompt pid-1"));
}
