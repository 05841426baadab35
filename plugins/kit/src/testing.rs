//! A scripted [`Host`] for native flow tests: `fetch` answers come from a
//! queue the test fills, and every request, progress report and log line is
//! recorded for the test to check. Not built for wasm32.

use crate::types::{EgressError, Host, HttpRequest, HttpResponse, Level};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

/// A [`Host`] that answers `fetch` from [`answers`](Self::answers) in order
/// and panics with "an answer is scripted" when the queue runs dry, so a
/// test that makes one request too many fails at that request.
#[derive(Default)]
pub struct ScriptedHost {
    /// `[plugins.NAME.config]` entries, as [`Host::config`] returns them.
    pub config: BTreeMap<String, String>,
    /// The secret names [`Host::secret_configured`] says are set.
    pub secrets: Vec<String>,
    /// What the next `fetch` calls return, first first.
    pub answers: RefCell<VecDeque<Result<HttpResponse, EgressError>>>,
    /// Every request the plugin sent, in order.
    pub sent: RefCell<Vec<HttpRequest>>,
    /// Every progress report: (fraction 0.0..=1.0, message).
    pub progress: RefCell<Vec<(Option<f32>, String)>>,
    /// Every log line.
    pub logs: RefCell<Vec<(Level, String)>>,
}

impl ScriptedHost {
    /// A host with `secret` configured and `config` set, e.g.
    /// `ScriptedHost::new("FAL_KEY", &[("queue_url", "http://127.0.0.1:9/")])`.
    pub fn new(secret: &str, config: &[(&str, &str)]) -> ScriptedHost {
        ScriptedHost {
            secrets: vec![secret.to_string()],
            config: config.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect(),
            ..ScriptedHost::default()
        }
    }

    /// Queue an answer with `status` and a text body, no headers.
    pub fn answer(&self, status: u16, body: &str) {
        self.answer_with(status, &[], body.as_bytes());
    }

    /// Queue an answer with `status`, `headers` and raw `body` bytes.
    pub fn answer_with(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let headers = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        self.answers.borrow_mut().push_back(Ok(HttpResponse { status, headers, body: body.to_vec() }));
    }

    /// Queue an egress failure (what the host returns when it refuses or
    /// cannot complete a request).
    pub fn fail(&self, error: EgressError) {
        self.answers.borrow_mut().push_back(Err(error));
    }

    /// The `index`th request sent (panics if there is none).
    pub fn request(&self, index: usize) -> HttpRequest {
        self.sent.borrow().get(index).cloned().unwrap_or_else(|| panic!("no request #{index} was sent"))
    }
}

impl Host for ScriptedHost {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError> {
        self.sent.borrow_mut().push(request);
        self.answers.borrow_mut().pop_front().expect("an answer is scripted")
    }
    fn secret_configured(&self, name: &str) -> bool {
        self.secrets.iter().any(|secret| secret == name)
    }
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
    fn progress(&self, fraction: Option<f32>, message: &str) {
        self.progress.borrow_mut().push((fraction, message.into()));
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.into()));
    }
}
