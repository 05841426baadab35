//! The dynamic half of `plugins check`: the plugin's `submit`, `poll` and
//! `cancel` run against scripted upstreams (through the real egress policy:
//! allow-list from its own `hosts`, canary values for its secrets, the same
//! redaction) and each answer is held to the contract: 401 → `unauthorized`,
//! 429 with `retry-after` → `rate-limited` with that delay, 500 →
//! `upstream` 500, no answer → `timeout`, nothing listening → `unavailable`,
//! junk → a provider error (never a crash), and no secret value in any
//! error, log line, progress message or job token.

use super::report::{Report, Verdict};
use crate::egress::scripted::{ScriptedAnswer, ScriptedUpstream, SentRequest};
use crate::model::{GenerationRequest, JobState, Operation, ProviderError, ProviderInfo, Submission};
use crate::runtime::call::CallError;
use crate::runtime::state::ProgressReport;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a scripted upstream answers every request of one scenario.
#[derive(Debug, Clone)]
pub enum Script {
    /// This status with a JSON error body (and `retry-after`, if given).
    Status {
        status: u16,
        retry_after_secs: Option<u32>,
    },
    Silent,
    Refused,
    /// 400 whose body repeats the request's headers and body (a hostile or
    /// careless upstream reflecting the API key).
    Echo,
    /// 200 with a body that is not what any API sends.
    Garbage,
    /// 200/202 with the fields queue APIs answer a submit with (`id`,
    /// `request_id`, `polling_url`, `status_url`, …), pointing back at the
    /// requested host.
    Accept,
}

/// A [`Script`] and every request it answered.
pub struct ScriptedHost {
    script: Script,
    pub seen: Mutex<Vec<SentRequest>>,
}

impl ScriptedHost {
    pub fn new(script: Script) -> Arc<ScriptedHost> {
        Arc::new(ScriptedHost { script, seen: Mutex::new(Vec::new()) })
    }
}

impl ScriptedUpstream for ScriptedHost {
    fn answer(&self, request: &SentRequest) -> ScriptedAnswer {
        self.seen.lock().unwrap().push(request.clone());
        let json = |status: u16, headers: Vec<(String, String)>, body: serde_json::Value| ScriptedAnswer::Response {
            status,
            headers: [vec![("content-type".to_string(), "application/json".to_string())], headers].concat(),
            body: body.to_string().into_bytes(),
        };
        match &self.script {
            Script::Status { status, retry_after_secs } => {
                let headers = retry_after_secs.iter().map(|s| ("retry-after".to_string(), s.to_string())).collect();
                let message = format!("scripted HTTP {status} from easel plugins check");
                json(
                    *status,
                    headers,
                    serde_json::json!({"error": {"message": message, "code": status}, "detail": message}),
                )
            }
            Script::Silent => ScriptedAnswer::Silent,
            Script::Refused => ScriptedAnswer::Refused,
            Script::Echo => json(
                400,
                vec![],
                serde_json::json!({
                    "error": {"message": format!("bad request; you sent {:?} and {}", request.headers, String::from_utf8_lossy(&request.body))},
                }),
            ),
            Script::Garbage => ScriptedAnswer::Response {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<html><body>502 Bad Gateway (not JSON)</body></html>".to_vec(),
            },
            Script::Accept => {
                let base = request.url.origin().ascii_serialization();
                let job = format!("{base}/easel-check/jobs/easel-check-1");
                json(
                    200,
                    vec![],
                    serde_json::json!({
                        "id": "easel-check-1", "request_id": "easel-check-1", "prompt_id": "easel-check-1",
                        "status": "IN_QUEUE", "polling_url": job, "status_url": format!("{job}/status"),
                        "response_url": job, "cancel_url": format!("{job}/cancel"),
                        "urls": {"get": job, "cancel": format!("{job}/cancel")},
                    }),
                )
            }
        }
    }
}

/// Starts a fresh plugin instance whose egress answers from a script.
pub trait Harness {
    /// The plugin behind `host`, with a transcript of its log lines.
    fn plugin(&self, host: Arc<ScriptedHost>) -> (Arc<crate::runtime::Plugin>, Arc<Mutex<Vec<String>>>);
    /// Secret values the plugin must never give away (the canaries).
    fn canaries(&self) -> Vec<String>;
}

/// The request the contract submits: the default model, its default size,
/// one image, the first operation it supports.
pub fn sample_request(info: &ProviderInfo) -> Option<GenerationRequest> {
    let model = info.models.iter().find(|m| m.id == info.default_model)?;
    let operation = if model.operations.contains(&Operation::Generate) { Operation::Generate } else { return None };
    Some(GenerationRequest {
        operation,
        model: model.id.clone(),
        prompt: "a lighthouse at dawn, watercolour (easel plugins check)".into(),
        negative_prompt: None,
        size: model.sizes.first().copied().or(Some(model.default_size)),
        aspect_ratio: None,
        size_tier: None,
        count: 1,
        seed: None,
        steps: None,
        guidance: None,
        strength: None,
        images: Vec::new(),
        extra: None,
    })
}

/// What one call did, for the checks.
struct Observed<T> {
    result: Result<T, CallError>,
    logs: Vec<String>,
    progress: Option<ProgressReport>,
    requests: usize,
}

async fn observe<T, F, Fut>(harness: &dyn Harness, script: Script, call: F) -> Observed<T>
where
    F: FnOnce(Arc<crate::runtime::Plugin>, tokio::sync::watch::Sender<Option<ProgressReport>>) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let host = ScriptedHost::new(script);
    let (plugin, transcript) = harness.plugin(host.clone());
    let (progress, watch) = tokio::sync::watch::channel(None);
    let result = call(plugin, progress).await;
    let logs = transcript.lock().unwrap().clone();
    let requests = host.seen.lock().unwrap().len();
    Observed { result, logs, progress: watch.borrow().clone(), requests }
}

/// Whether a provider error is the one a scenario wants.
type Accepts = fn(&ProviderError) -> bool;

/// Which provider errors a scenario accepts: the right one passes, a
/// tolerable one warns, anything else fails.
struct Expect {
    name: &'static str,
    script: Script,
    right: Accepts,
    tolerable: Accepts,
    wanted: &'static str,
}

fn expectations() -> Vec<Expect> {
    use ProviderError as E;
    vec![
        Expect {
            name: "401",
            script: Script::Status { status: 401, retry_after_secs: None },
            right: |e| matches!(e, E::Unauthorized { .. }),
            tolerable: |_| false,
            wanted: "unauthorized",
        },
        Expect {
            name: "429",
            script: Script::Status { status: 429, retry_after_secs: Some(7) },
            right: |e| matches!(e, E::RateLimited { retry_after_ms: Some(7000), .. }),
            tolerable: |e| matches!(e, E::RateLimited { .. }),
            wanted: "rate-limited with retry-after-ms 7000 (from `retry-after: 7`)",
        },
        Expect {
            name: "500",
            script: Script::Status { status: 500, retry_after_secs: None },
            right: |e| matches!(e, E::Upstream { status: 500, .. }),
            tolerable: |e| matches!(e, E::Unavailable { .. } | E::Upstream { .. }),
            wanted: "upstream with status 500",
        },
        Expect {
            name: "timeout",
            script: Script::Silent,
            right: |e| matches!(e, E::Timeout { .. }),
            tolerable: |e| matches!(e, E::Unavailable { .. }),
            wanted: "timeout",
        },
        Expect {
            name: "refused",
            script: Script::Refused,
            right: |e| matches!(e, E::Unavailable { .. }),
            tolerable: |e| matches!(e, E::Upstream { .. } | E::Internal { .. }),
            wanted: "unavailable",
        },
        Expect {
            name: "echoed key",
            script: Script::Echo,
            right: |_| true,
            tolerable: |_| true,
            wanted: "any provider error, without the key",
        },
        Expect {
            name: "junk answer",
            script: Script::Garbage,
            right: |_| true,
            tolerable: |_| true,
            wanted: "a provider error (not a crash)",
        },
    ]
}

/// Run every scenario on `submit`, then the submit → poll → cancel state
/// machine from a scripted acceptance. Returns the median call time, ms.
pub async fn run(harness: &dyn Harness, info: &ProviderInfo, report: &mut Report) -> Option<f64> {
    let Some(request) = sample_request(info) else {
        report.add("contract", Verdict::Skip, "the default model does not generate from text; nothing to submit");
        return None;
    };
    let mut times = Vec::new();
    let memory_request = request.clone();
    let memory =
        observe(harness, Script::Status { status: 401, retry_after_secs: None }, |plugin, progress| async move {
            let (_, trace) = plugin.submit_traced(&memory_request, Some(progress)).await;
            Ok::<usize, CallError>(trace.memory_bytes)
        })
        .await;
    if let Ok(bytes) = memory.result {
        report.facts.memory_mib = Some(bytes as f64 / (1 << 20) as f64);
    }
    for expect in expectations() {
        let step = format!("submit: {}", expect.name);
        let started = Instant::now();
        let request = request.clone();
        let seen = observe(harness, expect.script.clone(), |plugin, progress| async move {
            plugin.submit(&request, Some(progress)).await
        })
        .await;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        let leak = leaked(harness, &seen, seen.result.as_ref().err().map(|e| e.to_string()).as_deref());
        let (verdict, detail) = match &seen.result {
            _ if seen.requests == 0 => {
                (Verdict::Warn, "submit sent no request, so this case could not be checked".to_string())
            }
            Err(CallError::Provider(e)) if (expect.right)(e) => (Verdict::Pass, labelled(e)),
            Err(CallError::Provider(e)) if (expect.tolerable)(e) => {
                (Verdict::Warn, format!("got {}, expected {}: {e}", kind(e), expect.wanted))
            }
            Err(CallError::Provider(e)) => (Verdict::Fail, format!("got {}, expected {}: {e}", kind(e), expect.wanted)),
            Err(other) => {
                (Verdict::Fail, format!("the call failed in the sandbox, expected {}: {other}", expect.wanted))
            }
            Ok(Submission::Pending(_)) => (Verdict::Fail, format!("answered pending, expected {}", expect.wanted)),
            Ok(Submission::Done(_)) => (Verdict::Fail, format!("answered done, expected {}", expect.wanted)),
        };
        match leak {
            Some(place) => report.add(step, Verdict::Fail, format!("a secret's value appears in {place}")),
            None => report.add(step, verdict, detail),
        }
    }
    state_machine(harness, &request, report, &mut times).await;
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}

/// Submit against [`Script::Accept`]; when that is pending, poll the token
/// under 401, 500 and silence, poll a foreign token, and cancel.
async fn state_machine(harness: &dyn Harness, request: &GenerationRequest, report: &mut Report, times: &mut Vec<f64>) {
    let request = request.clone();
    let accepted =
        observe(
            harness,
            Script::Accept,
            |plugin, progress| async move { plugin.submit(&request, Some(progress)).await },
        )
        .await;
    let token = match &accepted.result {
        Ok(Submission::Pending(token)) => token.clone(),
        Ok(Submission::Done(_)) => {
            report.add("poll", Verdict::Skip, "a queue-shaped answer did not make submit pending (a synchronous API?)");
            return;
        }
        Err(e) => {
            report.add("poll", Verdict::Skip, format!("submit did not go pending on a queue-shaped answer ({e})"));
            return;
        }
    };
    if harness.canaries().iter().any(|c| token.contains(c.as_str())) {
        report.add("job token", Verdict::Fail, "the job token holds a secret's value (tokens are stored on disk)");
    } else {
        report.add("job token", Verdict::Pass, format!("{} bytes, no secret in it", token.len()));
    }
    use ProviderError as E;
    let polls: [(&str, Script, Accepts, &str); 3] = [
        (
            "401",
            Script::Status { status: 401, retry_after_secs: None },
            |e| matches!(e, E::Unauthorized { .. }),
            "unauthorized",
        ),
        (
            "500",
            Script::Status { status: 500, retry_after_secs: None },
            |e| matches!(e, E::Upstream { status: 500, .. } | E::Unavailable { .. }),
            "upstream 500",
        ),
        ("timeout", Script::Silent, |e| matches!(e, E::Timeout { .. }), "timeout"),
    ];
    for (name, script, right, wanted) in polls {
        let started = Instant::now();
        let token = token.clone();
        let seen =
            observe(harness, script, |plugin, progress| async move { plugin.poll(&token, Some(progress)).await }).await;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        let step = format!("poll: {name}");
        let leak = leaked(harness, &seen, seen.result.as_ref().err().map(|e| e.to_string()).as_deref());
        let (verdict, detail) = match &seen.result {
            _ if leak.is_some() => (Verdict::Fail, format!("a secret's value appears in {}", leak.unwrap_or_default())),
            Err(CallError::Provider(e)) if right(e) => (Verdict::Pass, labelled(e)),
            // A poll may also report the failure as the job's state.
            Ok(JobState::Failed(e)) if right(e) => (Verdict::Pass, format!("failed({})", labelled(e))),
            Err(CallError::Provider(e)) | Ok(JobState::Failed(e)) => {
                (Verdict::Warn, format!("got {}, expected {wanted}: {e}", kind(e)))
            }
            Err(other) => (Verdict::Fail, format!("the call failed in the sandbox: {other}")),
            Ok(state) => (Verdict::Fail, format!("answered {}, expected {wanted}", state_name(state))),
        };
        report.add(step, verdict, detail);
    }
    let foreign =
        observe(harness, Script::Status { status: 404, retry_after_secs: None }, |plugin, progress| async move {
            plugin.poll("not-a-token-this-plugin-made", Some(progress)).await
        })
        .await;
    match &foreign.result {
        Err(CallError::Provider(e)) => report.add("poll: foreign token", Verdict::Pass, labelled(e)),
        Ok(JobState::Failed(e)) => report.add("poll: foreign token", Verdict::Pass, format!("failed({})", labelled(e))),
        Err(other) => {
            report.add("poll: foreign token", Verdict::Fail, format!("the call failed in the sandbox: {other}"))
        }
        Ok(state) => report.add(
            "poll: foreign token",
            Verdict::Warn,
            format!("a token it never issued was answered {}; expected a provider error", state_name(state)),
        ),
    }
    let token_for_cancel = token.clone();
    let cancelled = observe(harness, Script::Status { status: 200, retry_after_secs: None }, |plugin, _| async move {
        plugin.cancel(&token_for_cancel).await
    })
    .await;
    match &cancelled.result {
        Ok(()) => report.add("cancel", Verdict::Pass, "accepted"),
        Err(CallError::Provider(e)) => report.add("cancel", Verdict::Pass, labelled(e)),
        Err(other) => report.add("cancel", Verdict::Fail, format!("the call failed in the sandbox: {other}")),
    }
}

/// Where a canary value shows up in what the operator or model would see.
fn leaked<T>(harness: &dyn Harness, seen: &Observed<T>, error: Option<&str>) -> Option<String> {
    for canary in harness.canaries() {
        if error.is_some_and(|e| e.contains(&canary)) {
            return Some("the error message".into());
        }
        if seen.logs.iter().any(|line| line.contains(&canary)) {
            return Some("the plugin's log".into());
        }
        if seen.progress.as_ref().is_some_and(|p| p.message.contains(&canary)) {
            return Some("a progress message".into());
        }
    }
    None
}

/// `kind: message`, without repeating a kind the message already starts with.
fn labelled(error: &ProviderError) -> String {
    let text = error.to_string();
    if text.starts_with(kind(error)) { text } else { format!("{}: {text}", kind(error)) }
}

/// The WIT name of a provider-error case.
pub fn kind(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::InvalidRequest { .. } => "invalid-request",
        ProviderError::Unsupported { .. } => "unsupported",
        ProviderError::Unauthorized { .. } => "unauthorized",
        ProviderError::ContentBlocked { .. } => "content-blocked",
        ProviderError::RateLimited { .. } => "rate-limited",
        ProviderError::Upstream { .. } => "upstream",
        ProviderError::Timeout { .. } => "timeout",
        ProviderError::Unavailable { .. } => "unavailable",
        ProviderError::Internal { .. } => "internal",
    }
}

fn state_name(state: &JobState) -> &'static str {
    match state {
        JobState::Queued(_) => "queued",
        JobState::Running { .. } => "running",
        JobState::Done(_) => "done",
        JobState::Failed(_) => "failed",
    }
}
