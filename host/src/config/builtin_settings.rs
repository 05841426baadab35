//! Checks of built-in plugins' `[plugins.ID.config]` settings that would
//! otherwise fail only after a request was sent (and perhaps paid for):
//! Replicate's `download_auth` without the token bound to Replicate's file
//! host, and a Gemini `base_url` without its API version. Each error names
//! the file, the line of the setting and the fix, like the other
//! `plugins.toml` errors. Only enabled plugins are checked.

use super::{ConfigError, ConfigOrigin, Deployment, PluginEntry};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::ops::Range;

/// Where Replicate serves output files (Replicate's HTTP API docs: outputs
/// are HTTPS URLs on `replicate.delivery`, historically also subdomains):
/// (the `hosts` entry to add, a URL it must cover).
const REPLICATE_FILE_HOSTS: [(&str, &str); 2] = [
    ("https://replicate.delivery", "https://replicate.delivery/"),
    ("https://*.replicate.delivery", "https://pbxt.replicate.delivery/"),
];
/// API versions Gemini's REST paths start with (google-genai: `v1beta`,
/// `v1`; `v1alpha` for preview features).
const GEMINI_VERSIONS: [&str; 3] = ["v1beta", "v1", "v1alpha"];

/// Only the config tables, with the position of every value.
#[derive(Deserialize, Default)]
struct Positions {
    #[serde(default)]
    plugins: BTreeMap<String, PluginPositions>,
}

#[derive(Deserialize, Default)]
struct PluginPositions {
    #[serde(default)]
    config: BTreeMap<String, Spanned<toml::Value>>,
}

/// Check every enabled built-in whose settings we know. `text` is the
/// file, already parsed once into `deployment` (so it is valid TOML).
pub fn check(deployment: &Deployment, text: &str, origin: &ConfigOrigin) -> Result<(), ConfigError> {
    let positions: Positions = toml::from_str(text).unwrap_or_default();
    for (id, entry) in &deployment.plugins {
        if !entry.enabled {
            continue;
        }
        let spans = positions.plugins.get(id);
        let span = |key: &str| spans.and_then(|p| p.config.get(key)).map(Spanned::span);
        match entry.builtin.as_ref().map(|b| b.get_ref().as_str()) {
            Some("replicate") => replicate(id, entry, &span("download_auth"), origin)?,
            Some("gemini") => gemini(id, entry, &span("base_url"), origin)?,
            _ => {}
        }
    }
    Ok(())
}

/// `download_auth = true` sends the token with every output download; the
/// host fills it in only toward the secret's `hosts`, so without Replicate's
/// file host there the download fails after the prediction was paid for.
fn replicate(
    id: &str,
    entry: &PluginEntry,
    span: &Option<Range<usize>>,
    origin: &ConfigOrigin,
) -> Result<(), ConfigError> {
    let Some(value) = entry.config.get("download_auth") else { return Ok(()) };
    let on = match value {
        toml::Value::Boolean(b) => *b,
        toml::Value::String(s) if matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1") => true,
        toml::Value::String(s) if matches!(s.trim().to_ascii_lowercase().as_str(), "false" | "no" | "0") => false,
        other => {
            return Err(origin.error(
                span.clone(),
                format!("[plugins.{id}.config] download_auth = {other} is not true or false"),
                "write `download_auth = true` or `download_auth = false`",
            ));
        }
    };
    if !on {
        return Ok(());
    }
    const SECRET: &str = "REPLICATE_API_TOKEN";
    let missing: Vec<&str> = REPLICATE_FILE_HOSTS
        .iter()
        .filter(|(_, probe)| {
            let url = url::Url::parse(probe).expect("a valid constant URL");
            !entry.secrets.get(SECRET).is_some_and(|secret| secret.hosts.iter().any(|allowed| allowed.matches(&url)))
        })
        .map(|(entry, _)| *entry)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(origin.error(
        span.clone(),
        format!(
            "[plugins.{id}.config] download_auth = true sends {SECRET} with output downloads, but the secret is not bound to Replicate's file host ({}): every download would fail after the prediction was paid for",
            missing.join(", ")
        ),
        format!(
            "add \"https://replicate.delivery\", \"https://*.replicate.delivery\" to `hosts` in [plugins.{id}.secrets.{SECRET}] (and to allowed_hosts), or remove download_auth"
        ),
    ))
}

/// Gemini's paths are `{base_url}/models/{model}:generateContent` with the
/// API version as the last segment of `base_url`; without it requests go to
/// `/models/…`, which Google (or a gateway) answers with some other error.
fn gemini(
    id: &str,
    entry: &PluginEntry,
    span: &Option<Range<usize>>,
    origin: &ConfigOrigin,
) -> Result<(), ConfigError> {
    let Some(value) = entry.config.get("base_url") else { return Ok(()) };
    let fix =
        "end it with the API version, e.g. base_url = \"https://generativelanguage.googleapis.com/v1beta\" (or /v1)";
    let toml::Value::String(text) = value else {
        return Err(origin.error(span.clone(), format!("[plugins.{id}.config] base_url must be a string URL"), fix));
    };
    let url = url::Url::parse(text.trim()).map_err(|e| {
        origin.error(span.clone(), format!("[plugins.{id}.config] base_url `{text}` is not a URL: {e}"), fix)
    })?;
    let last = url.path().trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if GEMINI_VERSIONS.contains(&last) {
        return Ok(());
    }
    Err(origin.error(
        span.clone(),
        format!(
            "[plugins.{id}.config] base_url `{text}` does not end in a Gemini API version (/v1beta or /v1): requests would go to {}/models/…, which Gemini does not serve",
            text.trim_end_matches('/')
        ),
        fix,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigOrigin, Deployment};

    fn parse(text: &str) -> Result<Deployment, super::ConfigError> {
        Deployment::parse(text, ConfigOrigin { name: "plugins.toml".into(), base_dir: ".".into(), text: text.into() })
    }

    const REPLICATE: &str = "[plugins.replicate]\nbuiltin = \"replicate\"\nallowed_hosts = [\"https://api.replicate.com\", \"https://replicate.delivery\", \"https://*.replicate.delivery\"]\n[plugins.replicate.secrets.REPLICATE_API_TOKEN]\nenv = \"REPLICATE_API_TOKEN\"\n";

    #[test]
    fn replicate_download_auth_without_the_file_host_bound_is_refused_at_load_naming_line_and_fix() {
        let text = format!(
            "{REPLICATE}hosts = [\"https://api.replicate.com\"]\n[plugins.replicate.config]\ndownload_auth = true\n"
        );
        let err = parse(&text).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("plugins.toml", 8), "{err}");
        assert!(
            err.message.contains("download_auth = true")
                && err.message.contains("(https://replicate.delivery, https://*.replicate.delivery)"),
            "{err}"
        );
        assert!(
            err.fix.contains("[plugins.replicate.secrets.REPLICATE_API_TOKEN]")
                && err.fix.contains("\"https://*.replicate.delivery\""),
            "{err}"
        );
        // The same as a string, as the issue reported it.
        let text = format!(
            "{REPLICATE}hosts = [\"https://api.replicate.com\"]\n[plugins.replicate.config]\ndownload_auth = \"true\"\n"
        );
        assert!(parse(&text).unwrap_err().message.contains("download_auth"));
        let text = format!(
            "{REPLICATE}hosts = [\"https://api.replicate.com\"]\n[plugins.replicate.config]\ndownload_auth = \"maybe\"\n"
        );
        assert!(parse(&text).unwrap_err().message.contains("is not true or false"));
    }

    #[test]
    fn replicate_download_auth_with_the_file_hosts_bound_or_off_loads() {
        let bound = "hosts = [\"https://api.replicate.com\", \"https://replicate.delivery\", \"https://*.replicate.delivery\"]\n";
        assert!(parse(&format!("{REPLICATE}{bound}[plugins.replicate.config]\ndownload_auth = true\n")).is_ok());
        let unbound = "hosts = [\"https://api.replicate.com\"]\n";
        assert!(parse(&format!("{REPLICATE}{unbound}[plugins.replicate.config]\ndownload_auth = false\n")).is_ok());
        assert!(parse(&format!("{REPLICATE}{unbound}")).is_ok());
        // A disabled entry is not checked (nothing can be paid for).
        let disabled = format!("{REPLICATE}{unbound}[plugins.replicate.config]\ndownload_auth = true\n")
            .replace("builtin = \"replicate\"\n", "builtin = \"replicate\"\nenabled = false\n");
        assert!(parse(&disabled).is_ok());
    }

    const GEMINI: &str = "[plugins.gemini]\nbuiltin = \"gemini\"\nallowed_hosts = [\"https://generativelanguage.googleapis.com\"]\n[plugins.gemini.config]\n";

    #[test]
    fn a_gemini_base_url_without_its_api_version_is_refused_at_load_naming_line_and_fix() {
        for bad in [
            "https://generativelanguage.googleapis.com",
            "https://generativelanguage.googleapis.com/",
            "http://127.0.0.1:9/v2",
        ] {
            let err = parse(&format!("{GEMINI}base_url = \"{bad}\"\n")).unwrap_err();
            assert_eq!(err.line, 5, "{err}");
            assert!(err.message.contains("does not end in a Gemini API version") && err.message.contains(bad), "{err}");
            assert!(err.fix.contains("/v1beta"), "{err}");
        }
        assert!(parse(&format!("{GEMINI}base_url = \"not a url\"\n")).unwrap_err().message.contains("is not a URL"));
        for good in [
            "https://generativelanguage.googleapis.com/v1beta",
            "https://generativelanguage.googleapis.com/v1/",
            "http://127.0.0.1:9/proxy/v1alpha",
        ] {
            assert!(parse(&format!("{GEMINI}base_url = \"{good}\"\n")).is_ok(), "{good}");
        }
    }
}
