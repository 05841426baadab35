//! The registry of configured plugins: loads each (in the background, so
//! startup never waits on a compile), runs capability discovery
//! (`describe`) with its own deadline and caches it (refreshed in the
//! background, so a slow `describe` delays nobody once it has answered),
//! knows which are unconfigured and why, applies price overrides, and
//! routes a request to a provider and model.

pub mod auto;
mod reload;
pub(crate) mod source;

pub use auto::AutoRoute;
pub use reload::{Fingerprint, ReloadReport};

use crate::config::{Deployment, PluginEntry};
use crate::egress::EgressPolicy;
use crate::egress::secrets::SecretSet;
use crate::field_error::FieldError;
use crate::model::{Lifecycle, ModelInfo, Operation, ProviderInfo};
use crate::runtime::state::PluginContext;
use crate::runtime::{Limits, Plugin, Runtime};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, watch};

/// How long a failed `describe` is used before it is tried again.
const DESCRIBE_RETRY: Duration = Duration::from_secs(15);

/// How long a successful `describe` is used before it is refreshed (in the
/// background; the old description keeps answering meanwhile).
pub const DESCRIBE_TTL: Duration = Duration::from_secs(600);

/// Longest one `describe` may run once the plugin is loaded (compiling it
/// is not counted), whatever the plugin's `timeout_secs`; past it the
/// provider is unavailable, saying so.
pub const DESCRIBE_DEADLINE: Duration = Duration::from_secs(30);

/// Longest `list_providers` waits for a provider that has never described
/// itself yet; it then shows as unavailable ("still describing itself").
pub const LIST_WAIT: Duration = Duration::from_secs(15);

/// One `describe` outcome and when it was had.
type Described = Option<(Instant, Result<ProviderInfo, String>)>;

/// Whether a provider can take requests.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Status {
    Ready,
    /// Loaded, but a secret is missing; the reason says which and how to set it.
    Unconfigured(String),
    /// `enabled = false` in plugins.toml.
    Disabled,
    /// Failed to load or to describe itself (e.g. backend down).
    Unavailable(String),
}

/// One `[plugins.ID]` entry and what became of it.
pub struct Provider {
    pub id: String,
    unconfigured: Option<String>,
    /// Read once at start; moved into the egress policy when the plugin loads.
    secrets: std::sync::Mutex<Option<SecretSet>>,
    plugin: OnceCell<Result<Arc<Plugin>, String>>,
    /// The latest `describe` outcome; waiters watch it.
    info: watch::Sender<Described>,
    /// A `describe` is running (at most one per provider at a time).
    describing: AtomicBool,
    runtime: Arc<Runtime>,
    cache_dir: PathBuf,
    deployment: Arc<Deployment>,
    /// What this provider was built from, to tell on reload whether it changed.
    fingerprint: Fingerprint,
}

/// A request's destination after routing.
#[derive(Clone)]
pub struct Route {
    pub provider: Arc<Provider>,
    pub plugin: Arc<Plugin>,
    pub info: ProviderInfo,
    pub model: ModelInfo,
}

/// What `list_providers` shows for one provider.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProviderSummary {
    pub id: String,
    #[serde(flatten)]
    pub status: Status,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub default_model: Option<String>,
    pub models: Vec<ModelSummary>,
    pub is_default: bool,
    /// Calls are confirmed with the user first (`paid` in plugins.toml).
    pub paid: bool,
}

/// A model line in `list_providers`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelSummary {
    pub id: String,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub lifecycle: Lifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_image_usd: Option<f64>,
}

impl Provider {
    /// The provider for `[plugins.ID]` of `deployment`, its secrets read now
    /// (nothing is loaded yet).
    fn new(
        id: &str,
        deployment: &Arc<Deployment>,
        runtime: &Arc<Runtime>,
        cache_dir: &std::path::Path,
    ) -> Arc<Provider> {
        let entry = &deployment.plugins[id];
        let specs = entry.secrets.iter().map(|(name, secret)| (name.clone(), secret.spec()));
        let secrets = SecretSet::load(id, specs, &deployment.origin.base_dir);
        let missing = secrets.missing();
        let unconfigured = (!missing.is_empty()).then(|| {
            missing
                .iter()
                .map(|(name, source)| {
                    format!("secret {name} is not set (looked in {source}); set it and restart easel")
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        let fingerprint = Fingerprint::of(id, deployment, &secrets);
        Arc::new(Provider {
            id: id.to_string(),
            unconfigured,
            secrets: std::sync::Mutex::new(Some(secrets)),
            plugin: OnceCell::new(),
            info: watch::Sender::new(None),
            describing: AtomicBool::new(false),
            runtime: runtime.clone(),
            cache_dir: cache_dir.to_path_buf(),
            deployment: deployment.clone(),
            fingerprint,
        })
    }

    /// Whether its entry is enabled (`enabled = false` turns it off).
    pub fn enabled(&self) -> bool {
        self.entry().enabled
    }

    /// Whether its calls cost money ([`PluginEntry::is_paid`]).
    pub fn paid(&self) -> bool {
        self.entry().is_paid()
    }

    /// This provider's `[plugins.ID]` entry.
    fn entry(&self) -> &PluginEntry {
        &self.deployment.plugins[&self.id]
    }

    /// The loaded plugin (loads on first use; startup preloads in the background).
    pub async fn plugin(&self) -> Result<Arc<Plugin>, String> {
        self.plugin.get_or_init(|| self.load()).await.clone()
    }

    async fn load(&self) -> Result<Arc<Plugin>, String> {
        let started = Instant::now();
        let bytes = source::component_bytes(&self.id, self.entry(), &self.deployment, &self.cache_dir)
            .await
            .map_err(|e| e.to_string())?;
        let runtime = self.runtime.clone();
        let id = self.id.clone();
        let pre = tokio::task::spawn_blocking(move || runtime.prepare(&id, &bytes))
            .await
            .map_err(|e| format!("loading plugin `{}` panicked: {e}", self.id))?
            .map_err(|e| format!("{e:#}"))?;
        let entry = self.entry();
        let secrets = self.secrets.lock().unwrap().take().unwrap_or_default();
        let egress = EgressPolicy::new(
            &self.id,
            entry.allowed_hosts.clone(),
            secrets,
            entry.max_response_mib << 20,
            Duration::from_secs(entry.timeout_secs),
        );
        let config = entry
            .config
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        toml::Value::String(s) => s.clone(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    },
                )
            })
            .collect();
        let limits = Limits {
            timeout: Duration::from_secs(entry.timeout_secs),
            memory_bytes: (entry.memory_mib << 20) as usize,
            concurrency: entry.concurrency,
            transfer_bytes: ((entry.max_response_mib << 21) as usize).max(crate::runtime::call::MIN_TRANSFER_BYTES),
        };
        tracing::debug!(plugin = %self.id, "loaded in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
        Ok(Plugin::new(pre, PluginContext::new(&self.id, egress, config), limits))
    }

    /// Capability discovery: the cached description, waiting (up to
    /// [`DESCRIBE_DEADLINE`]) only when there has never been one. A stale
    /// one (older than [`DESCRIBE_TTL`], or a failure older than 15 s) is
    /// returned at once while a refresh runs in the background. No lock is
    /// held while a plugin runs.
    pub async fn info(self: &Arc<Self>) -> Result<ProviderInfo, String> {
        self.info_within(DESCRIBE_DEADLINE + Duration::from_secs(1)).await
    }

    /// [`Provider::info`], waiting at most `wait` for a first description.
    pub async fn info_within(self: &Arc<Self>, wait: Duration) -> Result<ProviderInfo, String> {
        let current = self.info.borrow().clone();
        let stale = match &current {
            None => true,
            Some((at, Ok(_))) => at.elapsed() >= DESCRIBE_TTL,
            Some((at, Err(_))) => at.elapsed() >= DESCRIBE_RETRY,
        };
        if stale {
            self.refresh_in_background();
        }
        if let Some((_, result)) = current {
            return result;
        }
        let mut described = self.info.subscribe();
        match tokio::time::timeout(wait, described.wait_for(Option::is_some)).await {
            Ok(Ok(value)) => value.as_ref().map(|(_, r)| r.clone()).expect("waited for a value"),
            _ => Err(format!(
                "plugin `{}` is still starting: it has not described itself within {:.0} s; try again shortly",
                self.id,
                wait.as_secs_f64()
            )),
        }
    }

    /// Start one `describe` on its own task unless one is running.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.describing.swap(true, Ordering::AcqRel) {
            return;
        }
        let provider = self.clone();
        tokio::spawn(async move {
            // The deadline starts once the plugin is loaded: compiling a large
            // component (a Python one takes seconds) on a first start is not
            // the plugin's fault, and the compile is bounded on its own.
            let loaded = provider.plugin().await.map(|_| ());
            let described = async {
                loaded?;
                provider.describe().await
            };
            let result = match tokio::time::timeout(DESCRIBE_DEADLINE, described).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "plugin `{}` did not describe itself within {} s (describe must answer quickly; it is retried in the background)",
                    provider.id,
                    DESCRIBE_DEADLINE.as_secs()
                )),
            };
            provider.info.send_replace(Some((Instant::now(), result)));
            provider.describing.store(false, Ordering::Release);
        });
    }

    /// Load the plugin and run `describe` once, checking what it says.
    async fn describe(&self) -> Result<ProviderInfo, String> {
        let plugin = self.plugin().await?;
        let info = plugin.describe().await.map_err(|e| e.to_string())?;
        let problems = info.problems();
        if problems.is_empty() {
            Ok(self.with_prices(info))
        } else {
            Err(format!("plugin `{}` describes itself inconsistently: {}", self.id, problems.join("; ")))
        }
    }

    fn with_prices(&self, mut info: ProviderInfo) -> ProviderInfo {
        for model in &mut info.models {
            if let Some(price) = self.entry().prices.get(&model.id) {
                model.price_per_image_usd = Some(*price);
            }
        }
        info
    }

    /// Ready, unconfigured, disabled or unavailable (runs discovery if needed).
    pub async fn status(self: &Arc<Self>) -> Status {
        self.status_within(DESCRIBE_DEADLINE + Duration::from_secs(1)).await
    }

    /// [`Provider::status`], waiting at most `wait` for a first description.
    pub async fn status_within(self: &Arc<Self>, wait: Duration) -> Status {
        if !self.entry().enabled {
            return Status::Disabled;
        }
        if let Err(e) = self.info_within(wait).await {
            return Status::Unavailable(e);
        }
        match &self.unconfigured {
            Some(reason) => Status::Unconfigured(reason.clone()),
            None => Status::Ready,
        }
    }
}

/// Every configured provider.
pub struct Registry {
    providers: Vec<Arc<Provider>>,
    default_provider: Option<String>,
    /// `[routing]`, for `provider: "auto"` (`auto`).
    routing: crate::config::RoutingSettings,
    runtime: Arc<Runtime>,
    cache_dir: PathBuf,
}

/// Load and describe `providers` in the background, logging failures.
fn preload_all<'a>(providers: impl Iterator<Item = &'a Arc<Provider>>) {
    for provider in providers {
        let provider = provider.clone();
        tokio::spawn(async move {
            if let Err(e) = provider.info().await {
                tracing::warn!(plugin = %provider.id, "not available: {}", crate::runtime::logs::sanitize(&e, crate::runtime::logs::MAX_LOG_CHARS));
            }
        });
    }
}

impl Registry {
    /// Build the registry and start loading every enabled plugin in the
    /// background (must run inside a tokio runtime).
    pub fn start(
        deployment: Arc<Deployment>,
        runtime: Arc<Runtime>,
        cache_dir: PathBuf,
        preload: bool,
    ) -> Arc<Registry> {
        let providers: Vec<Arc<Provider>> =
            deployment.plugins.keys().map(|id| Provider::new(id, &deployment, &runtime, &cache_dir)).collect();
        if preload {
            preload_all(providers.iter().filter(|p| p.entry().enabled));
        }
        let default_provider = deployment.defaults.provider.as_ref().map(|p| p.get_ref().clone());
        let routing = deployment.routing.clone();
        Arc::new(Registry { providers, default_provider, routing, runtime, cache_dir })
    }

    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The provider used when a request names none: `[defaults] provider`,
    /// else the first enabled one that has its secrets.
    pub fn default_provider(&self) -> Option<&str> {
        self.default_provider.as_deref().or_else(|| {
            let usable = |p: &&Arc<Provider>| p.entry().enabled && p.unconfigured.is_none();
            self.providers
                .iter()
                .find(usable)
                .or_else(|| self.providers.iter().find(|p| p.entry().enabled))
                .map(|p| p.id.as_str())
        })
    }

    /// Wait until every enabled provider has loaded (compiled, or read from
    /// the compile cache) or failed to: the CLI's `plugins list` waits for
    /// this, the MCP tools do not.
    pub async fn load_all(&self) {
        let loads = self.providers.iter().filter(|p| p.entry().enabled).map(|p| p.plugin());
        futures::future::join_all(loads).await;
    }

    /// Everything `list_providers` shows, in config order. Providers are
    /// asked at once, not one after another, and one that has never
    /// described itself is waited for at most [`LIST_WAIT`].
    pub async fn summaries(&self) -> Vec<ProviderSummary> {
        let default = self.default_provider().map(str::to_string);
        let summaries = self.providers.iter().map(|provider| {
            let is_default = default.as_deref() == Some(provider.id.as_str());
            async move {
                let status = provider.status_within(LIST_WAIT).await;
                let info =
                    if provider.entry().enabled { provider.info_within(Duration::ZERO).await.ok() } else { None };
                ProviderSummary {
                    id: provider.id.clone(),
                    status,
                    display_name: info.as_ref().map(|i| i.display_name.clone()),
                    description: info.as_ref().map(|i| i.description.clone()),
                    default_model: info.as_ref().map(|i| i.default_model.clone()),
                    models: info.map(|i| i.models.iter().map(model_summary).collect()).unwrap_or_default(),
                    is_default,
                    paid: provider.paid(),
                }
            }
        });
        futures::future::join_all(summaries).await
    }

    /// Pick provider and model. With neither, the default provider's default
    /// model; with only a model, the first ready provider that has it.
    pub async fn route(&self, provider: Option<&str>, model: Option<&str>) -> Result<Route, FieldError> {
        self.route_for(provider, model, None).await
    }

    /// [`Registry::route`] for a request that needs `operation`: without a
    /// model, the provider's default model when it can do it, else the
    /// provider's first model that can (so `upscale_image` reaches the
    /// upscaler, not the text-to-image default).
    ///
    /// Errors: as `route`, and a chosen provider or model that cannot do
    /// `operation` (an inpaint also goes to a model that can edit), naming a
    /// configured provider and model that can.
    pub async fn route_for(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        operation: Option<Operation>,
    ) -> Result<Route, FieldError> {
        let route = self.route_model(provider, model, operation).await?;
        let Some(operation) = operation else { return Ok(route) };
        if can_do(&route.model, operation) {
            return Ok(route);
        }
        let verb = format!("{operation:?}").to_lowercase();
        let instead = match self.first_model_where(|m| able(m, operation)).await {
            Some((provider, model)) => format!("provider `{provider}` model `{model}` can"),
            None => format!("no configured provider has a model that can {verb}"),
        };
        let (field, message) = match model {
            Some(_) => ("model", format!("model `{}` cannot {verb}; {instead}", route.model.id)),
            None => ("provider", format!("provider `{}` has no model that can {verb}; {instead}", route.provider.id)),
        };
        Err(FieldError::field(field, message))
    }

    /// The first ready provider that has a model taking control images (see
    /// [`ModelInfo::control_types`]), with that model: what an error names
    /// when a request's control image went to a model without them.
    pub async fn takes_control(&self) -> Option<(String, String)> {
        self.first_model_where(|m| m.lifecycle != Lifecycle::Retired && !m.control_types().is_empty()).await
    }

    /// The first ready provider (the default first) and its first listed
    /// model for which `wanted` holds.
    async fn first_model_where(&self, wanted: impl Fn(&ModelInfo) -> bool) -> Option<(String, String)> {
        let default = self.default_provider();
        let ordered = self
            .providers
            .iter()
            .filter(|p| Some(p.id.as_str()) == default)
            .chain(self.providers.iter().filter(|p| Some(p.id.as_str()) != default));
        for provider in ordered {
            if provider.status().await != Status::Ready {
                continue;
            }
            let Ok(info) = provider.info().await else { continue };
            if let Some(model) = info.models.iter().find(|m| wanted(m)) {
                return Some((provider.id.clone(), model.id.clone()));
            }
        }
        None
    }

    async fn route_model(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        operation: Option<Operation>,
    ) -> Result<Route, FieldError> {
        let provider = match (provider, model) {
            (Some(id), _) => self.get(id).cloned().ok_or_else(|| {
                FieldError::field(
                    "provider",
                    format!("unknown provider `{id}`; configured providers: {}", self.names()),
                )
            })?,
            (None, Some(model)) => self.provider_with_model(model).await?,
            (None, None) => {
                let id = self
                    .default_provider()
                    .ok_or_else(|| FieldError::field("provider", "no provider is enabled in plugins.toml"))?;
                self.get(id).cloned().expect("the default provider is configured")
            }
        };
        match provider.status().await {
            Status::Ready => {}
            Status::Disabled => {
                return Err(FieldError::field(
                    "provider",
                    format!(
                        "provider `{}` is disabled in plugins.toml (set enabled = true in [plugins.{}])",
                        provider.id, provider.id
                    ),
                ));
            }
            Status::Unconfigured(reason) | Status::Unavailable(reason) => {
                return Err(FieldError::field(
                    "provider",
                    format!("provider `{}` cannot take requests: {reason}", provider.id),
                ));
            }
        }
        let info = provider.info().await.map_err(|message| FieldError::field("provider", message))?;
        let plugin = provider.plugin().await.map_err(|message| FieldError::field("provider", message))?;
        let model = match model {
            Some(name) => info.find_model(name).map(|m| m.into_owned()).ok_or_else(|| {
                FieldError::field(
                    "model",
                    format!(
                        "provider `{}` has no model `{name}`; its models: {}",
                        provider.id,
                        info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?,
            None if operation.is_some_and(|op| {
                info.find_model(&info.default_model).is_none_or(|m| !can_do(&m, op))
                    && info.models.iter().any(|m| able(m, op))
            }) =>
            {
                let op = operation.expect("checked above");
                info.models.iter().find(|m| able(m, op)).cloned().expect("checked above")
            }
            None => info.find_model(&info.default_model).map(|m| m.into_owned()).ok_or_else(|| {
                FieldError::field(
                    "model",
                    format!(
                        "provider `{}` names a default model `{}` it does not list",
                        provider.id, info.default_model
                    ),
                )
            })?,
        };
        Ok(Route { provider, plugin, info, model })
    }

    async fn provider_with_model(&self, model: &str) -> Result<Arc<Provider>, FieldError> {
        for provider in &self.providers {
            if provider.status().await == Status::Ready
                && let Ok(info) = provider.info().await
                && info.find_model(model).is_some()
            {
                return Ok(provider.clone());
            }
        }
        Err(FieldError::field("model", format!("no ready provider offers model `{model}`; see list_providers")))
    }

    fn names(&self) -> String {
        self.providers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Whether `model` takes requests for `operation` (a mask goes with an edit
/// to a model that cannot inpaint).
fn can_do(model: &ModelInfo, operation: Operation) -> bool {
    model.operations.contains(&operation)
        || (operation == Operation::Inpaint && model.operations.contains(&Operation::Edit))
}

/// Whether `model` is one to route `operation` to by itself: it lists the
/// operation, is not retired, and is a real id (not a `*` pattern).
fn able(model: &ModelInfo, operation: Operation) -> bool {
    can_do(model, operation) && model.lifecycle != Lifecycle::Retired && !model.id.contains('*')
}

fn model_summary(model: &ModelInfo) -> ModelSummary {
    ModelSummary {
        id: model.id.clone(),
        display_name: model.display_name.clone(),
        aliases: model.aliases.clone(),
        lifecycle: model.lifecycle,
        replacement: model.replacement.clone(),
        price_per_image_usd: model.price_per_image_usd,
    }
}
