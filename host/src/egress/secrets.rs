//! Secrets: values read once from the environment or a file, referenced by
//! plugins as `{{secret:NAME}}`, substituted only into requests to hosts the
//! operator bound the secret to, and redacted from everything returned.

use super::allowed_hosts::AllowedHost;
use super::{EgressError, origin};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use url::Url;

const OPEN: &str = "{{secret:";
const CLOSE: &str = "}}";

/// Where one secret's value is read from and where it may be sent: what
/// a `[plugins.ID.secrets.NAME]` table says, parsed.
#[derive(Debug, Clone, Default)]
pub struct SecretSpec {
    /// Environment variables to read, first set (non-blank) one wins.
    pub env: Vec<String>,
    /// A file holding the value (trailing whitespace trimmed), read when no
    /// variable is set.
    pub file: Option<PathBuf>,
    /// The only hosts the value is ever substituted toward.
    pub hosts: Vec<AllowedHost>,
}

/// One configured secret.
pub struct Secret {
    value: Option<String>,
    /// Where the value is read from, for messages (`env OPENAI_API_KEY`).
    pub source: String,
    pub hosts: Vec<AllowedHost>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, set: {})", self.source, self.value.is_some())
    }
}

/// The secrets of one plugin, by name.
#[derive(Debug, Default)]
pub struct SecretSet {
    plugin: String,
    secrets: BTreeMap<String, Secret>,
}

impl SecretSet {
    /// Read each secret's value from its env var(s) or file (`specs` by
    /// the name plugins reference; relative files from `base_dir`). A
    /// missing value is not an error here: the plugin loads as unconfigured.
    pub fn load(plugin: &str, specs: impl IntoIterator<Item = (String, SecretSpec)>, base_dir: &Path) -> SecretSet {
        let secrets = specs
            .into_iter()
            .map(|(name, spec)| {
                let from_env = spec.env.iter().find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()));
                let from_file = || {
                    let path =
                        spec.file.as_ref().map(|p| if p.is_absolute() { p.clone() } else { base_dir.join(p) })?;
                    std::fs::read_to_string(path).ok().map(|v| v.trim_end().to_string()).filter(|v| !v.is_empty())
                };
                let value = from_env.or_else(from_file);
                let mut sources: Vec<String> = spec.env.iter().map(|v| format!("env {v}")).collect();
                if let Some(file) = &spec.file {
                    sources.push(format!("file {}", file.display()));
                }
                (name, Secret { value, source: sources.join(" or "), hosts: spec.hosts })
            })
            .collect();
        SecretSet { plugin: plugin.into(), secrets }
    }

    /// Secrets with the given values (by name), each bound to `hosts`:
    /// `plugins check` gives each declared secret a canary value.
    pub fn literal(
        plugin: &str,
        values: impl IntoIterator<Item = (String, String)>,
        hosts: &[AllowedHost],
    ) -> SecretSet {
        let secrets = values
            .into_iter()
            .map(|(name, value)| {
                (name, Secret { value: Some(value), source: "plugins check".into(), hosts: hosts.to_vec() })
            })
            .collect();
        SecretSet { plugin: plugin.into(), secrets }
    }

    /// Names of secrets that have no value, with where they are looked for.
    pub fn missing(&self) -> Vec<(String, String)> {
        self.secrets.iter().filter(|(_, s)| s.value.is_none()).map(|(n, s)| (n.clone(), s.source.clone())).collect()
    }

    /// sha256 over every secret's name and value (unset ones included as
    /// such): tells a reload whether any value changed, without keeping one.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (name, secret) in &self.secrets {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            match &secret.value {
                Some(value) => {
                    hasher.update([1]);
                    hasher.update((value.len() as u64).to_le_bytes());
                    hasher.update(value.as_bytes());
                }
                None => hasher.update([0]),
            }
        }
        hasher.finalize().into()
    }

    /// Whether `name` is declared and has a value (what the `egress`
    /// import's `secret-configured` answers; never the value).
    pub fn is_configured(&self, name: &str) -> bool {
        self.secrets.get(name).is_some_and(|s| s.value.is_some())
    }

    /// Whether any of these secrets is bound to the host of `url` (set or
    /// not): requests there may carry a secret, so what comes back may
    /// reflect one.
    pub fn is_bound_to(&self, url: &Url) -> bool {
        self.secrets.values().any(|s| s.hosts.iter().any(|h| h.matches(url)))
    }

    /// Replace every `{{secret:NAME}}` in `text` for a request to `url`.
    pub fn substitute(&self, text: &str, url: &Url) -> Result<String, EgressError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let end = after
                .find(CLOSE)
                .ok_or_else(|| EgressError::InvalidRequest("unterminated `{{secret:` reference".into()))?;
            out.push_str(self.value_for(after[..end].trim(), url)?);
            rest = &after[end + CLOSE.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// [`SecretSet::substitute`] for a body; non-UTF-8 bodies pass unchanged.
    pub fn substitute_bytes(&self, body: &[u8], url: &Url) -> Result<Vec<u8>, EgressError> {
        match std::str::from_utf8(body) {
            Ok(text) if text.contains(OPEN) => Ok(self.substitute(text, url)?.into_bytes()),
            _ => Ok(body.to_vec()),
        }
    }

    fn value_for(&self, name: &str, url: &Url) -> Result<&str, EgressError> {
        let plugin = &self.plugin;
        let secret = self.secrets.get(name).ok_or_else(|| {
            EgressError::SecretUnavailable(format!(
                "plugin `{plugin}` referenced secret `{name}`, which [plugins.{plugin}.secrets] does not declare"
            ))
        })?;
        if !secret.hosts.iter().any(|h| h.matches(url)) {
            let bound = secret.hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(EgressError::SecretUnavailable(format!(
                "secret `{name}` may not be sent to {} (it is bound to: {}); if that host should get it, add \"{}\" to hosts in [plugins.{plugin}.secrets.{name}]",
                origin(url),
                if bound.is_empty() { "no host" } else { &bound },
                AllowedHost::suggestion_for(url)
            )));
        }
        secret
            .value
            .as_deref()
            .ok_or_else(|| EgressError::SecretUnavailable(format!("secret `{name}` is not set; set {}", secret.source)))
    }

    /// Replace secret values in `text` with `[redacted:NAME]`.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (name, secret) in &self.secrets {
            if let Some(value) = secret.value.as_deref().filter(|v| v.len() >= 4)
                && text.contains(value)
            {
                text = text.replace(value, &format!("[redacted:{name}]"));
            }
        }
        text
    }

    /// [`SecretSet::redact`] over raw bytes (bodies need not be UTF-8). The
    /// search is `memchr`'s SIMD substring finder (a body of megabytes is
    /// scanned at memory speed); a body without a secret is returned as it
    /// is, uncopied.
    pub fn redact_bytes(&self, mut body: Vec<u8>) -> Vec<u8> {
        for (name, secret) in &self.secrets {
            let Some(value) = secret.value.as_deref().filter(|v| v.len() >= 4) else { continue };
            let finder = memchr::memmem::Finder::new(value.as_bytes());
            let mut found = finder.find_iter(&body).peekable();
            if found.peek().is_none() {
                continue;
            }
            let marker = format!("[redacted:{name}]").into_bytes();
            let mut out = Vec::with_capacity(body.len());
            let mut copied = 0;
            for at in found {
                // Overlapping matches (a secret that repeats inside itself)
                // are already covered by the previous marker.
                if at < copied {
                    continue;
                }
                out.extend_from_slice(&body[copied..at]);
                out.extend_from_slice(&marker);
                copied = at + value.len();
            }
            out.extend_from_slice(&body[copied..]);
            body = out;
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(value: Option<&str>) -> SecretSet {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "KEY".to_string(),
            Secret {
                value: value.map(String::from),
                source: "env KEY".into(),
                hosts: vec!["https://api.example.com".parse().unwrap()],
            },
        );
        SecretSet { plugin: "p".into(), secrets }
    }

    #[test]
    fn substitutes_only_toward_bound_hosts() {
        let s = set(Some("sk-123456"));
        let ok = s.substitute("Bearer {{secret:KEY}}", &"https://api.example.com/v1".parse().unwrap()).unwrap();
        assert_eq!(ok, "Bearer sk-123456");
        let err = s.substitute("Bearer {{secret:KEY}}", &"https://evil.example.net/".parse().unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("may not be sent to https://evil.example.net"), "{text}");
        assert!(!text.contains("sk-123456"));
    }

    #[test]
    fn undeclared_and_unset_secrets_are_refused() {
        let s = set(None);
        let url: Url = "https://api.example.com/".parse().unwrap();
        assert!(s.substitute("{{secret:OTHER}}", &url).unwrap_err().to_string().contains("does not declare"));
        assert!(s.substitute("{{secret:KEY}}", &url).unwrap_err().to_string().contains("not set; set env KEY"));
    }

    #[test]
    fn redacts_values_in_text_and_bytes() {
        let s = set(Some("sk-123456"));
        assert_eq!(s.redact("echo sk-123456!"), "echo [redacted:KEY]!");
        assert_eq!(s.redact_bytes(b"a sk-123456 b sk-123456".to_vec()), b"a [redacted:KEY] b [redacted:KEY]".to_vec());
        assert_eq!(s.redact_bytes(b"sk-123456sk-123456".to_vec()), b"[redacted:KEY][redacted:KEY]".to_vec());
        assert_eq!(s.redact_bytes(b"sk-12345 sk-1234567".to_vec()), b"sk-12345 [redacted:KEY]7".to_vec());
    }

    #[test]
    fn a_secret_anywhere_in_a_megabyte_body_is_redacted_and_a_clean_body_is_untouched() {
        let s = set(Some("sk-123456"));
        let mut body = vec![b'A'; 3 << 20];
        let clean = body.clone();
        assert_eq!(s.redact_bytes(body.clone()), clean);
        body.splice(1 << 20..(1 << 20) + 9, *b"sk-123456");
        body.extend_from_slice(b"sk-123456");
        let redacted = s.redact_bytes(body);
        let text = String::from_utf8(redacted).unwrap();
        assert_eq!(text.matches("[redacted:KEY]").count(), 2);
        assert!(!text.contains("sk-123456"));
        assert_eq!(text.len(), (3 << 20) - 9 + 2 * "[redacted:KEY]".len());
        // A secret that overlaps itself is replaced left to right, as text replace does.
        let aaaa = set(Some("aaaa"));
        assert_eq!(aaaa.redact_bytes(b"aaaaaa".to_vec()), aaaa.redact("aaaaaa").into_bytes());
    }
}
