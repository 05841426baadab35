//! The per-policy answer cache a plugin asks for on a GET with the request
//! header `Easel-Cache: max-age=SECONDS` (the host strips it before
//! sending): a 200 answer of at most [`MAX_CACHED_BODY`] bytes is kept for
//! that long (at most [`MAX_AGE`]) and given to later identical GETs of
//! the same plugin without a network round trip. Plugins run in a fresh
//! instance per call, so this is how a model's schema (Replicate's
//! `openapi_schema`, fal's OpenAPI document) is fetched once, not on every
//! submit.
//!
//! The key is the URL and every header as sent, secrets filled in (hashed
//! with sha256, never kept in clear), so a changed key or a different
//! account never gets another's answer; the policy is per plugin, so
//! plugins never share entries; answers are stored after redaction.

use super::EgressResponse;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The request header that asks for caching (case-insensitive).
pub const CACHE_HEADER: &str = "easel-cache";

/// Longest an answer is kept, whatever the plugin asks.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Largest body kept, bytes.
pub const MAX_CACHED_BODY: usize = 1 << 20;

/// Most answers kept per plugin; the oldest goes first.
pub const MAX_ENTRIES: usize = 64;

/// The cache of one egress policy.
#[derive(Debug, Default)]
pub struct ResponseCache {
    entries: Mutex<HashMap<[u8; 32], (Instant, EgressResponse)>>,
}

/// How long a request asks its answer to be kept: `Some` for a GET
/// carrying `Easel-Cache: max-age=N` with N > 0; the header is removed
/// from `headers` either way.
///
/// Errors: the header on another method, or a value that is not
/// `max-age=<seconds>` (text for `InvalidRequest`).
pub fn requested_age(method: &str, headers: &mut Vec<(String, String)>) -> Result<Option<Duration>, String> {
    let Some(at) = headers.iter().position(|(name, _)| name.trim().eq_ignore_ascii_case(CACHE_HEADER)) else {
        return Ok(None);
    };
    let (_, value) = headers.remove(at);
    if !method.eq_ignore_ascii_case("GET") {
        return Err(format!("`Easel-Cache` applies to GET only, not {method}"));
    }
    let seconds = value
        .trim()
        .strip_prefix("max-age=")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("`Easel-Cache: {value}` should read `max-age=<seconds>`"))?;
    Ok((seconds > 0).then(|| Duration::from_secs(seconds).min(MAX_AGE)))
}

/// The cache key of a request as sent.
pub fn key(url: &str, headers: &[(String, String)]) -> [u8; 32] {
    let mut sorted: Vec<(String, &str)> = headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.as_str())).collect();
    sorted.sort();
    let mut hash = Sha256::new();
    hash.update(url.as_bytes());
    for (name, value) in sorted {
        hash.update([0]);
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(value.as_bytes());
    }
    hash.finalize().into()
}

impl ResponseCache {
    /// A fresh answer for `key`, if one is kept.
    pub fn get(&self, key: &[u8; 32]) -> Option<EgressResponse> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((expires, response)) if *expires > Instant::now() => Some(response.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keep `response` under `key` for `age`, if it is a 200 small enough.
    pub fn put(&self, key: [u8; 32], age: Duration, response: &EgressResponse) {
        if response.status != 200 || response.body.len() > MAX_CACHED_BODY {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        entries.retain(|_, (expires, _)| *expires > now);
        while entries.len() >= MAX_ENTRIES {
            let Some(oldest) = entries.iter().min_by_key(|(_, (expires, _))| *expires).map(|(k, _)| *k) else { break };
            entries.remove(&oldest);
        }
        entries.insert(key, (now + age, response.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &[u8]) -> EgressResponse {
        EgressResponse { status: 200, headers: vec![], body: body.to_vec() }
    }

    #[test]
    fn only_a_get_with_a_well_formed_max_age_asks_and_the_header_never_leaves() {
        let mut headers = vec![("Easel-Cache".to_string(), "max-age=600".to_string()), ("a".into(), "b".into())];
        assert_eq!(requested_age("GET", &mut headers).unwrap(), Some(Duration::from_secs(600)));
        assert_eq!(headers, vec![("a".to_string(), "b".to_string())]);
        let mut long = vec![("easel-cache".to_string(), "max-age=99999999".to_string())];
        assert_eq!(requested_age("get", &mut long).unwrap(), Some(MAX_AGE));
        assert!(requested_age("POST", &mut vec![("Easel-Cache".into(), "max-age=5".into())]).is_err());
        assert!(requested_age("GET", &mut vec![("Easel-Cache".into(), "forever".into())]).is_err());
        assert_eq!(requested_age("GET", &mut vec![("Easel-Cache".into(), "max-age=0".into())]).unwrap(), None);
        assert_eq!(requested_age("GET", &mut vec![]).unwrap(), None);
    }

    #[test]
    fn answers_are_kept_per_url_and_headers_and_only_when_ok_and_small() {
        let cache = ResponseCache::default();
        let with_key = |k: &str| key("https://api/x", &[("Authorization".into(), format!("Bearer {k}"))]);
        cache.put(with_key("one"), Duration::from_secs(60), &ok(b"schema"));
        assert_eq!(cache.get(&with_key("one")).unwrap().body, b"schema");
        assert!(cache.get(&with_key("two")).is_none(), "another key never reads this answer");
        assert!(cache.get(&key("https://api/y", &[])).is_none());
        let mut failed = ok(b"nope");
        failed.status = 404;
        cache.put(key("https://api/404", &[]), Duration::from_secs(60), &failed);
        assert!(cache.get(&key("https://api/404", &[])).is_none());
        cache.put(key("https://api/big", &[]), Duration::from_secs(60), &ok(&vec![0; MAX_CACHED_BODY + 1]));
        assert!(cache.get(&key("https://api/big", &[])).is_none());
        cache.put(key("https://api/old", &[]), Duration::ZERO, &ok(b"stale"));
        assert!(cache.get(&key("https://api/old", &[])).is_none(), "an expired answer is not given");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ResponseCache::default();
        for n in 0..(MAX_ENTRIES + 10) {
            cache.put(key(&format!("https://api/{n}"), &[]), Duration::from_secs(60 + n as u64), &ok(b"x"));
        }
        assert_eq!(cache.entries.lock().unwrap().len(), MAX_ENTRIES);
        assert!(cache.get(&key("https://api/0", &[])).is_none(), "the oldest went first");
        assert!(cache.get(&key(&format!("https://api/{}", MAX_ENTRIES + 9), &[])).is_some());
    }
}
