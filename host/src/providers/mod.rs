//! The registry of configured plugins: loads each (in the background, so
//! startup never waits on a compile), runs capability discovery
//! (`describe`), knows which are unconfigured and why, applies price
//! overrides, and routes a request to a provider and model.

mod source;

use crate::config::{Deployment, PluginEntry};
use crate::egress::secrets::SecretSet;
use crate::egress::EgressPolicy;
use crate::model::{Lifecycle, ModelInfo, ProviderInfo};
use crate::runtime::state::PluginContext;
use crate::runtime::{Limits, Plugin, Runtime};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

/// How long a failed `describe` is remembered before it is tried again.
const DESCRIBE_RETRY: Duration = Duration::from_secs(15);

/// Whether a provider can take requests.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    info: Mutex<Option<(Instant, Result<ProviderInfo, String>)>>,
    runtime: Arc<Runtime>,
    cache_dir: PathBuf,
    deployment: Arc<Deployment>,
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
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSummary {
    pub id: String,
    #[serde(flatten)]
    pub status: Status,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub default_model: Option<String>,
    pub models: Vec<ModelSummary>,
    pub is_default: bool,
}

/// A model line in `list_providers`.
#[derive(Debug, Clone, Serialize)]
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

/// Why a request could not be routed; `field` names the argument at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RouteError {
    pub field: &'static str,
    pub message: String,
}

impl Provider {
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
            .map_err(|e| format!("{e:#}"))?;
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
            entry.allow.clone(),
            secrets,
            entry.max_response_mib << 20,
            Duration::from_secs(entry.timeout_secs),
        );
        let config = entry
            .config
            .iter()
            .map(|(k, v)| (k.clone(), match v {
                toml::Value::String(s) => s.clone(),
                other => serde_json::to_string(other).unwrap_or_default(),
            }))
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

    /// Capability discovery, cached (failures are retried after a while).
    pub async fn info(&self) -> Result<ProviderInfo, String> {
        let mut cached = self.info.lock().await;
        if let Some((at, result)) = cached.as_ref() {
            if result.is_ok() || at.elapsed() < DESCRIBE_RETRY {
                return result.clone();
            }
        }
        let result = match self.plugin().await {
            Ok(plugin) => plugin.describe().await.map_err(|e| e.to_string()).and_then(|info| {
                let problems = info.problems();
                if problems.is_empty() {
                    Ok(self.with_prices(info))
                } else {
                    Err(format!("plugin `{}` describes itself inconsistently: {}", self.id, problems.join("; ")))
                }
            }),
            Err(e) => Err(e),
        };
        *cached = Some((Instant::now(), result.clone()));
        result
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
    pub async fn status(&self) -> Status {
        if !self.entry().enabled {
            return Status::Disabled;
        }
        if let Err(e) = self.info().await {
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
}

impl Registry {
    /// Build the registry and start loading every enabled plugin in the
    /// background (must run inside a tokio runtime).
    pub fn start(deployment: Arc<Deployment>, runtime: Arc<Runtime>, cache_dir: PathBuf, preload: bool) -> Arc<Registry> {
        let providers: Vec<Arc<Provider>> = deployment
            .plugins
            .iter()
            .map(|(id, entry)| {
                let secrets = SecretSet::load(id, &entry.secrets, &deployment.origin.base_dir);
                let missing = secrets.missing();
                let unconfigured = (!missing.is_empty()).then(|| {
                    missing
                        .iter()
                        .map(|(name, source)| format!("secret {name} is not set (looked in {source}); set it and restart easel"))
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                Arc::new(Provider {
                    id: id.clone(),
                    unconfigured,
                    secrets: std::sync::Mutex::new(Some(secrets)),
                    plugin: OnceCell::new(),
                    info: Mutex::new(None),
                    runtime: runtime.clone(),
                    cache_dir: cache_dir.clone(),
                    deployment: deployment.clone(),
                })
            })
            .collect();
        if preload {
            for provider in providers.iter().filter(|p| p.entry().enabled) {
                let provider = provider.clone();
                tokio::spawn(async move {
                    if let Err(e) = provider.info().await {
                        tracing::warn!(plugin = %provider.id, "not available: {e}");
                    }
                });
            }
        }
        let default_provider = deployment.defaults.provider.as_ref().map(|p| p.get_ref().clone());
        Arc::new(Registry { providers, default_provider })
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
            self.providers.iter().find(usable).or_else(|| self.providers.iter().find(|p| p.entry().enabled)).map(|p| p.id.as_str())
        })
    }

    /// Everything `list_providers` shows, in config order.
    pub async fn summaries(&self) -> Vec<ProviderSummary> {
        let mut out = Vec::new();
        for provider in &self.providers {
            let status = provider.status().await;
            let info = if provider.entry().enabled { provider.info().await.ok() } else { None };
            out.push(ProviderSummary {
                id: provider.id.clone(),
                status,
                display_name: info.as_ref().map(|i| i.display_name.clone()),
                description: info.as_ref().map(|i| i.description.clone()),
                default_model: info.as_ref().map(|i| i.default_model.clone()),
                models: info.map(|i| i.models.iter().map(model_summary).collect()).unwrap_or_default(),
                is_default: self.default_provider() == Some(provider.id.as_str()),
            });
        }
        out
    }

    /// Pick provider and model. With neither, the default provider's default
    /// model; with only a model, the first ready provider that has it.
    pub async fn route(&self, provider: Option<&str>, model: Option<&str>) -> Result<Route, RouteError> {
        let provider = match (provider, model) {
            (Some(id), _) => self.get(id).cloned().ok_or_else(|| RouteError {
                field: "provider",
                message: format!("unknown provider `{id}`; configured providers: {}", self.names()),
            })?,
            (None, Some(model)) => self.provider_with_model(model).await?,
            (None, None) => {
                let id = self.default_provider().ok_or_else(|| RouteError {
                    field: "provider",
                    message: "no provider is enabled in plugins.toml".into(),
                })?;
                self.get(id).cloned().expect("the default provider is configured")
            }
        };
        match provider.status().await {
            Status::Ready => {}
            Status::Disabled => {
                return Err(RouteError {
                    field: "provider",
                    message: format!("provider `{}` is disabled in plugins.toml (set enabled = true in [plugins.{}])", provider.id, provider.id),
                });
            }
            Status::Unconfigured(reason) | Status::Unavailable(reason) => {
                return Err(RouteError { field: "provider", message: format!("provider `{}` cannot take requests: {reason}", provider.id) });
            }
        }
        let info = provider.info().await.map_err(|message| RouteError { field: "provider", message })?;
        let plugin = provider.plugin().await.map_err(|message| RouteError { field: "provider", message })?;
        let model = match model {
            Some(name) => info.find_model(name).map(|m| m.into_owned()).ok_or_else(|| RouteError {
                field: "model",
                message: format!(
                    "provider `{}` has no model `{name}`; its models: {}",
                    provider.id,
                    info.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?,
            None => info.find_model(&info.default_model).map(|m| m.into_owned()).ok_or_else(|| RouteError {
                field: "model",
                message: format!("provider `{}` names a default model `{}` it does not list", provider.id, info.default_model),
            })?,
        };
        Ok(Route { provider, plugin, info, model })
    }

    async fn provider_with_model(&self, model: &str) -> Result<Arc<Provider>, RouteError> {
        for provider in &self.providers {
            if provider.status().await == Status::Ready {
                if let Ok(info) = provider.info().await {
                    if info.find_model(model).is_some() {
                        return Ok(provider.clone());
                    }
                }
            }
        }
        Err(RouteError { field: "model", message: format!("no ready provider offers model `{model}`; see list_providers") })
    }

    fn names(&self) -> String {
        self.providers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
    }
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
