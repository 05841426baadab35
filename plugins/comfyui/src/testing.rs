//! Test support (cfg(test) only): a scripted [`Host`] with canned
//! responses per `METHOD path-prefix` (the last one repeats) and every
//! request and progress message recorded.

use crate::types::{EgressError, Host, HttpRequest, HttpResponse, Level};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Canned answers for one route, consumed in order (the last repeats).
pub type Responses = Vec<Result<HttpResponse, EgressError>>;

pub const BASE: &str = "http://127.0.0.1:8188";

#[derive(Default)]
pub struct Mock {
    pub config: HashMap<String, String>,
    /// `("GET", "/history/")` → responses, the last one repeats.
    pub routes: RefCell<Vec<(String, String, Responses)>>,
    pub requests: RefCell<Vec<HttpRequest>>,
    pub progress: RefCell<Vec<String>>,
    pub counter: Cell<u64>,
}

impl Mock {
    pub fn new() -> Mock {
        let mut m = Mock::default();
        m.config.insert("base_url".into(), BASE.into());
        m
    }

    pub fn route(&self, method: &str, prefix: &str, responses: Responses) {
        self.routes.borrow_mut().push((method.into(), prefix.into(), responses));
    }

    pub fn json(&self, method: &str, prefix: &str, status: u16, body: Value) {
        self.route(method, prefix, vec![Ok(resp(status, body))]);
    }

    pub fn sent(&self, method: &str, prefix: &str) -> Vec<HttpRequest> {
        self.requests.borrow().iter().filter(|r| r.method == method && r.url.starts_with(&format!("{BASE}{prefix}"))).cloned().collect()
    }
}

pub fn resp(status: u16, body: Value) -> HttpResponse {
    HttpResponse { status, headers: vec![("content-type".into(), "application/json".into())], body: serde_json::to_vec(&body).unwrap() }
}

impl Host for Mock {
    fn fetch(&self, request: HttpRequest) -> Result<HttpResponse, EgressError> {
        self.requests.borrow_mut().push(request.clone());
        let path = request.url.strip_prefix(BASE).unwrap_or(&request.url).to_string();
        let mut routes = self.routes.borrow_mut();
        let route = routes
            .iter_mut()
            .find(|(m, p, _)| *m == request.method && path.starts_with(p.as_str()))
            .unwrap_or_else(|| panic!("no route for {} {path}", request.method));
        if route.2.len() > 1 { route.2.remove(0) } else { route.2[0].clone() }
    }
    fn secret_configured(&self, _name: &str) -> bool {
        false
    }
    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
    fn progress(&self, _fraction: Option<f32>, message: &str) {
        self.progress.borrow_mut().push(message.into());
    }
    fn log(&self, _level: Level, _message: &str) {}
    fn random_u64(&self) -> u64 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get() * 1000
    }
}
