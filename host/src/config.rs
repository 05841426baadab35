//! `plugins.toml`: the deployment file, parsed strictly (unknown fields are
//! errors) into [`Deployment`], with every error naming file, line, column
//! and a fix. Built-in plugins' settings that would fail only after a
//! paid request are checked too ([`builtin_settings`]).
//!
//! ```toml
//! [defaults]
//! provider = "placeholder"          # used when a request names none
//!
//! [plugins.placeholder]
//! builtin = "placeholder"           # or: path = "x.wasm", url = "…" + sha256 = "…", or oci = "…" + digest = "sha256:…"
//!
//! [plugins.openai]
//! builtin = "openai"
//! allowed_hosts = ["https://api.openai.com"]
//! [plugins.openai.secrets.OPENAI_API_KEY]
//! env = "OPENAI_API_KEY"             # or env = ["GEMINI_API_KEY", "GOOGLE_API_KEY"], or file = "/run/secrets/k"
//! hosts = ["https://api.openai.com"] # the only hosts this secret is ever sent to
//! [plugins.openai.config]
//! base_url = "https://api.openai.com/v1"
//! ```

mod auth;
mod builtin_settings;
pub use auth::{AuthSettings, LoginSettings};
mod plugin_source;
mod routing;
pub use routing::{AUTO, RoutingSettings};

use crate::egress::allowed_hosts::AllowedHost;
use crate::egress::secrets::SecretSpec;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The `plugins.toml` shipped with Easel; used when no file is given and
/// none exists in the working directory.
pub const EMBEDDED_PLUGINS_TOML: &str = include_str!("../../plugins.toml");

/// A whole deployment file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub preview: PreviewSettings,
    #[serde(default)]
    pub inputs: InputSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    /// `[caps]`: spending caps per user and overall ([`crate::ledger::Caps`]).
    #[serde(default)]
    pub caps: crate::ledger::Caps,
    /// Plugins by id (the id is the provider name users see).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginEntry>,
    /// Where the file came from (not part of TOML).
    #[serde(skip)]
    pub origin: ConfigOrigin,
}

/// `[defaults]`: routing and waiting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Provider used when a request names none; must be a `[plugins.*]` id.
    pub provider: Option<Spanned<String>>,
    /// How long a tool call waits for a generation before it returns a job
    /// id instead, seconds. Claude Desktop drops calls after ~45–60 s.
    #[serde(default = "default_wait_secs")]
    pub wait_secs: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { provider: None, wait_secs: default_wait_secs() }
    }
}

fn default_wait_secs() -> u64 {
    40
}

/// `[store]`: where images live.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Store root; relative paths are relative to this file. Default: the
    /// user's data directory (`~/.local/share/easel` on Linux).
    pub dir: Option<PathBuf>,
}

/// `[preview]`: the budget for pixels inside tool results.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PreviewSettings {
    /// Longest edge of an inline preview, pixels.
    #[serde(default = "default_max_edge")]
    pub max_edge: u32,
    /// Most bytes of image data (before base64) in one tool result.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        PreviewSettings { max_edge: default_max_edge(), max_bytes: default_max_bytes() }
    }
}

fn default_max_edge() -> u32 {
    512
}
fn default_max_bytes() -> usize {
    400 * 1024
}

/// `[server]`: how the MCP surface is offered.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Offer only the tools that change nothing (`list_*`, `show_image`,
    /// `get_generation_status`, `get_usage`) and no prompts; `easel serve --read-only`
    /// sets it too.
    #[serde(default)]
    pub read_only: bool,
    /// What a paid call does when the client cannot be asked to confirm
    /// the spend (it offers no elicitation): `"proceed"` (the default over
    /// stdio) or `"refuse"` (the default over HTTP).
    #[serde(default)]
    pub unconfirmed_spend: Option<UnconfirmedSpend>,
    /// The scheme and host clients reach this server at, behind a proxy
    /// (`https://easel.example.com`): the OAuth resource is
    /// `{public_url}/mcp`, and results link images under it. Default: the
    /// address `easel serve` binds.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long the signed `/i/` links in results stay valid when the HTTP
    /// server requires authentication, seconds (default 86400).
    #[serde(default)]
    pub link_lifetime_secs: Option<u64>,
    /// `[server.auth]`: OAuth sign-in over HTTP ([`crate::auth`]).
    #[serde(default)]
    pub auth: Option<AuthSettings>,
}

/// `[server] unconfirmed_spend`: see [`ServerSettings::unconfirmed_spend`].
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnconfirmedSpend {
    Proceed,
    Refuse,
}

/// `[inputs]`: where input images (for edits) may come from besides the store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSettings {
    /// Directories whose files may be given by path (relative to this file).
    /// Empty (the default): no local paths.
    #[serde(default)]
    pub allowed_dirs: Vec<PathBuf>,
    /// Private or loopback hosts that image URLs may point at (public hosts
    /// are always allowed; same forms as `allowed_hosts`).
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedHost>,
    /// Largest input image accepted, MiB (default 32).
    #[serde(default = "default_input_mib")]
    pub max_mib: u64,
}

fn default_input_mib() -> u64 {
    32
}

impl Default for InputSettings {
    fn default() -> Self {
        InputSettings { allowed_dirs: Vec::new(), allowed_hosts: Vec::new(), max_mib: default_input_mib() }
    }
}

/// One `[plugins.ID]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// A plugin compiled into the `easel` binary, e.g. `"placeholder"`.
    pub builtin: Option<Spanned<String>>,
    /// A `.wasm` component file; relative to this file.
    pub path: Option<Spanned<PathBuf>>,
    /// Download location of a `.wasm` component (needs `sha256`).
    pub url: Option<Spanned<String>>,
    /// Hex sha256 the downloaded file must have.
    pub sha256: Option<Spanned<String>>,
    /// An OCI registry artifact, `REGISTRY/REPOSITORY:TAG` (needs `digest`).
    pub oci: Option<Spanned<String>>,
    /// `sha256:<hex>` the `oci` artifact's manifest must have.
    pub digest: Option<Spanned<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the plugin may send HTTP requests; empty denies everything.
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedHost>,
    /// Secrets by the name the plugin references (`{{secret:NAME}}`).
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretEntry>,
    /// Non-secret settings passed to the plugin's `config` import.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Wall-clock limit of one plugin call, seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Linear-memory limit of one instance, MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// Most calls into this plugin at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Largest HTTP response body the plugin may receive, MiB.
    #[serde(default = "default_max_response_mib")]
    pub max_response_mib: u64,
    /// Price per image in USD by model id, overriding the plugin's figures.
    #[serde(default)]
    pub prices: BTreeMap<String, f64>,
    /// Whether calls cost money, so an MCP client is asked to confirm each
    /// one first (elicitation). Default: paid when `allowed_hosts` names a
    /// public host (a cloud API), free when every host is loopback or
    /// private (self-hosted ComfyUI, SD WebUI, a test fake) or there are none.
    #[serde(default)]
    pub paid: Option<bool>,
}

impl PluginEntry {
    /// [`PluginEntry::paid`], its default worked out.
    pub fn is_paid(&self) -> bool {
        self.paid.unwrap_or_else(|| self.allowed_hosts.iter().any(|host| host.is_public()))
    }
}

fn yes() -> bool {
    true
}
fn default_timeout_secs() -> u64 {
    120
}
fn default_memory_mib() -> u64 {
    256
}
fn default_concurrency() -> usize {
    4
}
fn default_max_response_mib() -> u64 {
    64
}

/// Where a secret's value comes from and where it may go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    /// Environment variable(s) to read, first set one wins.
    #[serde(default)]
    pub env: OneOrMany,
    /// A file holding the value (trailing newline trimmed).
    pub file: Option<PathBuf>,
    /// Hosts (same forms as `allowed_hosts`) the value may be sent to.
    pub hosts: Vec<AllowedHost>,
}

impl SecretEntry {
    /// This entry as egress takes it.
    pub fn spec(&self) -> SecretSpec {
        SecretSpec { env: self.env.iter().cloned().collect(), file: self.file.clone(), hosts: self.hosts.clone() }
    }
}

/// A string or a list of strings.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        let slice: &[String] = match self {
            OneOrMany::None => &[],
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        };
        slice.iter()
    }
}

/// Where a deployment came from, for error messages and relative paths.
#[derive(Debug, Clone, Default)]
pub struct ConfigOrigin {
    /// Display name: a path, or `<embedded plugins.toml>`.
    pub name: String,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// The text, kept to turn byte spans into line/column.
    pub text: String,
}

impl ConfigOrigin {
    /// An error at `span` of this file.
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>, fix: impl Into<String>) -> ConfigError {
        let (line, column) = span.map(|s| line_column(&self.text, s.start)).unwrap_or((0, 0));
        let snippet = (line > 0).then(|| self.text.lines().nth(line - 1).unwrap_or("").to_string());
        ConfigError { file: self.name.clone(), line, column, message: message.into(), fix: fix.into(), snippet }
    }
}

/// A problem in `plugins.toml`, rendered as
/// `file:line:column: message` + the line + `fix: …`.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when no position applies.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
    pub fix: String,
    pub snippet: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n  {:>4} | {}\n       | {}^", self.line, snippet, " ".repeat(self.column.saturating_sub(1)))?;
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// (line, column), 1-based; (0, 0) when unknown.
    pub fn position(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Deployment {
    /// Read and validate a file.
    ///
    /// Errors: unreadable file, TOML syntax, unknown or mistyped fields,
    /// bad host patterns, a plugin with no or two sources, an unknown
    /// default provider — each with position and fix.
    pub fn load(path: &Path) -> Result<Deployment, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
            fix: "pass an existing file with --config, or omit it to use the embedded default".into(),
            snippet: None,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, ConfigOrigin { name: path.display().to_string(), base_dir, text: text.clone() })
    }

    /// The shipped default (`plugins.toml` at build time).
    pub fn embedded() -> Deployment {
        let origin = ConfigOrigin {
            name: "<embedded plugins.toml>".into(),
            base_dir: std::env::current_dir().unwrap_or_default(),
            text: EMBEDDED_PLUGINS_TOML.into(),
        };
        Self::parse(EMBEDDED_PLUGINS_TOML, origin).expect("the embedded plugins.toml is valid (checked by tests)")
    }

    /// Parse `text` (see [`Deployment::load`] for the errors).
    pub fn parse(text: &str, origin: ConfigOrigin) -> Result<Deployment, ConfigError> {
        let mut deployment: Deployment = toml::from_str(text).map_err(|e| {
            let fix = fix_for_toml_error(e.message());
            let span = e.span().map(|span| entry_span(text, span, e.message()));
            origin.error(span, e.message().trim().to_string(), fix)
        })?;
        for (id, entry) in &deployment.plugins {
            entry.validate(id, &origin)?;
        }
        builtin_settings::check(&deployment, text, &origin)?;
        in_range("[inputs] max_mib", deployment.inputs.max_mib, 4096, &origin)?;
        routing::check(&deployment, &origin)?;
        if let Some(provider) = &deployment.defaults.provider
            && !deployment.plugins.contains_key(provider.get_ref())
        {
            return Err(origin.error(
                Some(provider.span()),
                format!("default provider `{}` is not a plugin in this file", provider.get_ref()),
                format!("add a [plugins.{}] table or set one of: {}", provider.get_ref(), known(&deployment)),
            ));
        }
        deployment.origin = origin;
        Ok(deployment)
    }

    /// Resolve a path from this file (relative to its directory).
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.origin.base_dir.join(path) }
    }
}

/// `value` must be 1..=`max`; the error names the setting and the range.
fn in_range(name: &str, value: u64, max: u64, origin: &ConfigOrigin) -> Result<(), ConfigError> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(origin.error(
        None,
        format!("{name} = {value} is out of range (1 to {max})"),
        format!("set it between 1 and {max}, or remove it to use the default"),
    ))
}

fn known(deployment: &Deployment) -> String {
    deployment.plugins.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Where in `span` (a list toml reports as a whole) the entry a
/// ``bad host `ENTRY`: …`` error names is written: the span of its quoted
/// string, or `span` itself when it cannot be found.
fn entry_span(text: &str, span: Range<usize>, message: &str) -> Range<usize> {
    let Some(entry) =
        message.strip_prefix("bad host `").and_then(|rest| rest.split_once("`: ")).map(|(entry, _)| entry)
    else {
        return span;
    };
    let Some(within) = text.get(span.clone()) else { return span };
    ['"', '\''].iter().find_map(|quote| within.find(&format!("{quote}{entry}{quote}"))).map_or(span.clone(), |at| {
        let start = span.start + at;
        start..start + entry.len() + 2
    })
}

fn fix_for_toml_error(message: &str) -> String {
    if message.starts_with("bad host `") {
        "write `https://host`, `https://*.suffix`, `http://127.0.0.1:PORT` or `host:port`".into()
    } else if message.contains("unknown field") {
        "remove the field or rename it to one of the expected names".into()
    } else if message.contains("missing field") {
        "add the missing field".into()
    } else if message.contains("invalid type") {
        "give the value the expected type (quote strings, use [ ] for lists)".into()
    } else {
        "fix the TOML syntax at this position (strings need quotes, tables are [name], lists are [a, b])".into()
    }
}

impl PluginEntry {
    fn validate(&self, id: &str, origin: &ConfigOrigin) -> Result<(), ConfigError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err(origin.error(
                None,
                format!("plugin id `{id}` must be lower-case letters, digits, `-` or `_`"),
                format!("rename [plugins.{id}]"),
            ));
        }
        plugin_source::check(self, id, origin)?;
        // Upper bounds: wasm32 memory ends at 4 GiB, and MiB figures are
        // shifted into byte counts, which must not wrap.
        let limits = [
            ("memory_mib", self.memory_mib, 4096),
            ("timeout_secs", self.timeout_secs, 86_400),
            ("concurrency", self.concurrency as u64, 1024),
            ("max_response_mib", self.max_response_mib, 4096),
        ];
        for (name, value, max) in limits {
            in_range(&format!("[plugins.{id}] {name}"), value, max, origin)?;
        }
        for (name, secret) in &self.secrets {
            if matches!(secret.env, OneOrMany::None) && secret.file.is_none() {
                return Err(origin.error(
                    None,
                    format!("secret `{name}` of [plugins.{id}] has no source"),
                    format!("add `env = \"{name}\"` or `file = \"/path/to/secret\"`"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Deployment, ConfigError> {
        Deployment::parse(text, ConfigOrigin { name: "plugins.toml".into(), base_dir: ".".into(), text: text.into() })
    }

    #[test]
    fn embedded_default_is_valid_and_enables_the_placeholder() {
        let deployment = Deployment::embedded();
        let placeholder = &deployment.plugins["placeholder"];
        assert!(placeholder.enabled);
        assert_eq!(deployment.defaults.provider.as_ref().map(|p| p.get_ref().as_str()), Some("placeholder"));
    }

    #[test]
    fn unknown_field_names_line_column_and_fix() {
        let err = parse("[plugins.x]\nbuiltin = \"placeholder\"\ntimeout = 3\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1), "{err}");
        assert!(err.message.contains("unknown field `timeout`"), "{err}");
        assert!(err.to_string().contains("fix: remove the field"), "{err}");
    }

    #[test]
    fn syntax_error_points_at_the_line() {
        let err = parse("[plugins.x]\nbuiltin = placeholder\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.to_string().contains("fix:"), "{err}");
    }

    #[test]
    fn bad_host_pattern_is_refused_with_its_position() {
        let err = parse("[plugins.x]\nbuiltin = \"x\"\nallowed_hosts = [\"https://*\"]\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("bad host"), "{err}");
    }

    #[test]
    fn a_bad_allowed_hosts_entry_anywhere_names_file_line_column_and_the_fix() {
        for (text, line, column, entry) in [
            (
                "[plugins.x]\nbuiltin = \"x\"\nallowed_hosts = [\"https://api.x.com\", \"ftp://x.com\"]\n",
                3,
                39,
                "ftp://x.com",
            ),
            ("[inputs]\nallowed_hosts = [\"http://10.0.0.1/images\"]\n", 2, 18, "http://10.0.0.1/images"),
            (
                "[plugins.x]\nbuiltin = \"x\"\nallowed_hosts = [\n  \"https://api.x.com\",\n  'https://*',\n]\n",
                5,
                3,
                "https://*",
            ),
            (
                "[plugins.x]\nbuiltin = \"x\"\n[plugins.x.secrets.K]\nenv = \"K\"\nhosts = [\"https://a.*.com\"]\n",
                5,
                10,
                "https://a.*.com",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!((err.file.as_str(), err.line, err.column), ("plugins.toml", line, column), "{err}");
            let shown = err.to_string();
            assert!(shown.starts_with(&format!("plugins.toml:{line}:{column}: bad host `{entry}`: ")), "{shown}");
            assert!(
                shown.contains("fix: write `https://host`, `https://*.suffix`, `http://127.0.0.1:PORT` or `host:port`"),
                "{shown}"
            );
        }
        let ok = parse("[inputs]\nallowed_hosts = [\"http://127.0.0.1:8188\"]\n").unwrap();
        assert!(
            ok.inputs.allowed_hosts[0].matches(&"http://127.0.0.1:8188/x.png".parse().unwrap()),
            "entries are parsed at load"
        );
    }

    #[test]
    fn limits_out_of_range_are_refused_naming_the_setting() {
        for (line, expected) in [
            ("memory_mib = 0", "[plugins.placeholder] memory_mib = 0 is out of range (1 to 4096)"),
            ("max_response_mib = 17592186044416", "max_response_mib = 17592186044416 is out of range (1 to 4096)"),
            ("timeout_secs = 100000", "timeout_secs = 100000 is out of range (1 to 86400)"),
        ] {
            let text = format!("[plugins.placeholder]\nbuiltin = \"placeholder\"\n{line}\n");
            let err = parse(&text).unwrap_err();
            assert!(err.message.contains(expected) && err.fix.contains("between 1 and"), "{line}: {err}");
        }
    }

    #[test]
    fn unknown_default_provider_is_refused() {
        let err = parse("[defaults]\nprovider = \"nope\"\n[plugins.x]\nbuiltin = \"x\"\n").unwrap_err();
        assert!(err.message.contains("`nope`"), "{err}");
        assert!(err.fix.contains("x"), "{err}");
    }

    #[test]
    fn missing_component_file_is_named_with_its_line() {
        let err = parse("[plugins.x]\npath = \"nowhere/x.wasm\"\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("does not exist"), "{err}");
        assert!(parse("[plugins.x]\npath = \"nowhere/x.wasm\"\nenabled = false\n").is_ok());
    }

    #[test]
    fn url_source_needs_sha256() {
        let err = parse("[plugins.x]\nurl = \"https://e.com/x.wasm\"\n").unwrap_err();
        assert!(err.message.contains("sha256"), "{err}");
    }

    #[test]
    fn an_oci_source_needs_a_sha256_digest_and_names_the_line() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let ok = format!("[plugins.x]\noci = \"127.0.0.1:5000/acme/x:1.0\"\ndigest = \"{digest}\"\n");
        assert!(parse(&ok).is_ok(), "{:?}", parse(&ok).err());
        let err = parse("[plugins.x]\noci = \"ghcr.io/acme/x:1.0\"\n").unwrap_err();
        assert!(err.message.contains("pulls ghcr.io/acme/x:1.0 without `digest`"), "{err}");
        assert_eq!(err.line, 2, "{err}");
        let err = parse("[plugins.x]\noci = \"ghcr.io/acme/x:1.0\"\ndigest = \"abc\"\n").unwrap_err();
        assert!(err.message.contains("digest must be `sha256:` and 64 hex digits") && err.line == 3, "{err}");
        let err = parse("[plugins.x]\noci = \"x\"\ndigest = \"{digest}\"\n".replace("{digest}", &digest).as_str())
            .unwrap_err();
        assert!(err.message.contains("is not an OCI reference"), "{err}");
        let err =
            parse(&format!("[plugins.x]\noci = \"a.io/x:1\"\nurl = \"https://a.io/x.wasm\"\ndigest = \"{digest}\"\n"))
                .unwrap_err();
        assert!(err.message.contains("more than one of builtin, path, url and oci"), "{err}");
        let other = format!("sha256:{}", "cd".repeat(32));
        let err = parse(&format!("[plugins.x]\noci = \"a.io/x@{other}\"\ndigest = \"{digest}\"\n")).unwrap_err();
        assert!(err.message.contains(&format!("oci names {other}, but digest is {digest}")), "{err}");
    }

    #[test]
    fn secret_accepts_one_or_many_env_names() {
        let d = parse(
            "[plugins.g]\nbuiltin = \"g\"\n[plugins.g.secrets.K]\nenv = [\"A\", \"B\"]\nhosts = [\"https://g.com\"]\n",
        )
        .unwrap();
        assert_eq!(d.plugins["g"].secrets["K"].env.iter().count(), 2);
    }
}
