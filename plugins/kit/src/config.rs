//! Reading `[plugins.NAME.config]`: the host hands every value over as
//! text (strings as they are, other TOML values as JSON text, WIT
//! `config.get`); these helpers parse URLs, lists, numbers, booleans and
//! tables out of it, and word the refusal of a bad value.

use crate::types::{Host, ProviderError};
use serde_json::{Map, Value};

/// A config string, trimmed, `None` when absent or empty.
pub fn config_str(host: &dyn Host, key: &str) -> Option<String> {
    host.config(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A config URL without surrounding quotes or its trailing slashes, or
/// `default` when the key is absent or empty. Not checked further: a
/// plugin that needs http(s) says so itself.
pub fn config_url(host: &dyn Host, key: &str, default: &str) -> String {
    host.config(key)
        .map(|u| u.trim().trim_matches('"').trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string()
}

/// A config value that is a list: JSON array text (`["a","b"]`, how the
/// host passes a TOML array) or a comma-separated string; items trimmed,
/// empty ones dropped.
pub fn config_list(host: &dyn Host, key: &str) -> Vec<String> {
    let Some(raw) = host.config(key) else { return vec![] };
    if let Ok(list) = serde_json::from_str::<Vec<String>>(&raw) {
        return list.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// A config value that is a whole number (TOML integer or a numeric
/// string); `None` when absent or not a number.
pub fn config_u64(host: &dyn Host, key: &str) -> Option<u64> {
    host.config(key)?.trim().trim_matches('"').parse().ok()
}

/// A config value that is a boolean (TOML bool, or `true`/`yes`/`1`,
/// `false`/`no`/`0` as a string); `None` when absent or neither.
pub fn config_bool(host: &dyn Host, key: &str) -> Option<bool> {
    match host.config(key)?.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A config value that is a JSON object: a TOML table arrives as JSON text;
/// a string holding JSON object text works too. Absent is an empty object;
/// anything else is [`bad_config`].
pub fn config_object(host: &dyn Host, key: &str) -> Result<Map<String, Value>, ProviderError> {
    let Some(raw) = config_str(host, key) else { return Ok(Map::new()) };
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(bad_config(key, "a table (JSON object)")),
        },
        _ => Err(bad_config(key, "a table (JSON object)")),
    }
}

/// `invalid-request` (no field: the fault is the operator's, not the
/// caller's) for a config key that is not what it must be.
pub fn bad_config(key: &str, expected: &str) -> ProviderError {
    ProviderError::invalid(
        None,
        format!("config key `{key}` must be {expected}; fix [plugins.<name>.config] in plugins.toml"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedHost;

    #[test]
    fn values_parse() {
        let host = ScriptedHost::new(
            "",
            &[
                ("url", " \"http://h:1/\" "),
                ("list", r#"["a", " b ", ""]"#),
                ("csv", "a, b,,c"),
                ("n", "\"42\""),
                ("b", "yes"),
                ("t", r#"{"x": 1}"#),
            ],
        );
        assert_eq!(config_url(&host, "url", "http://d"), "http://h:1");
        assert_eq!(config_url(&host, "none", "http://d/"), "http://d");
        assert_eq!(config_list(&host, "list"), ["a", "b"]);
        assert_eq!(config_list(&host, "csv"), ["a", "b", "c"]);
        assert_eq!(config_u64(&host, "n"), Some(42));
        assert_eq!(config_bool(&host, "b"), Some(true));
        assert_eq!(config_object(&host, "t").unwrap().get("x"), Some(&serde_json::json!(1)));
        assert!(config_object(&host, "n").is_err());
        assert!(config_object(&host, "none").unwrap().is_empty());
    }
}
