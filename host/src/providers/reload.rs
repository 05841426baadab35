//! What a re-read `plugins.toml` changes: each provider's [`Fingerprint`]
//! (its `[plugins.ID]` table, its component file when it comes from a
//! `path`, and a digest of its secret values) tells unchanged providers
//! from changed ones, and [`Registry::reload`] builds the next registry:
//! unchanged providers are carried over whole (loaded component, cached
//! description, running calls), changed and new ones start fresh, removed
//! ones are dropped from it while calls already routed to them finish on
//! the `Arc` they hold.

use super::{Provider, Registry, preload_all};
use crate::config::Deployment;
use crate::egress::secrets::SecretSet;
use std::sync::Arc;
use std::time::SystemTime;

/// What one provider was built from; equal fingerprints mean a reload
/// keeps the provider as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// The `[plugins.ID]` table as TOML values (positions in the file ignored).
    entry: Option<toml::Value>,
    /// For a `path` source: the component file's length and modification time.
    file: Option<(u64, Option<SystemTime>)>,
    /// sha256 over the secrets' names and values (never the values themselves).
    secrets: [u8; 32],
}

impl Fingerprint {
    /// The fingerprint of `[plugins.ID]` in `deployment`, with `secrets` as read.
    pub fn of(id: &str, deployment: &Deployment, secrets: &SecretSet) -> Fingerprint {
        let table: Option<toml::Table> = toml::from_str(&deployment.origin.text).ok();
        let entry = table.and_then(|t| t.get("plugins")?.get(id).cloned());
        let file = deployment.plugins[id].path.as_ref().map(|path| {
            let meta = std::fs::metadata(deployment.resolve_path(path.get_ref())).ok();
            (meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()))
        });
        Fingerprint { entry, file, secrets: secrets.digest() }
    }
}

/// What a reload did, for the log and for deciding which MCP list-changed
/// notifications to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Whether the default provider (`[defaults] provider`, or the first usable) changed.
    pub default_changed: bool,
    /// Top-level sections whose changes wait for a restart (`store`, `inputs`, …).
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// Whether what clients see of the providers changed.
    pub fn surface_changed(&self) -> bool {
        !self.added.is_empty() || !self.changed.is_empty() || !self.removed.is_empty() || self.default_changed
    }
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ids: &[String]| if ids.is_empty() { "none".to_string() } else { ids.join(", ") };
        write!(
            f,
            "added {}; changed {}; removed {}; unchanged {}",
            list(&self.added),
            list(&self.changed),
            list(&self.removed),
            list(&self.unchanged)
        )?;
        if self.default_changed {
            write!(f, "; the default provider changed")?;
        }
        if !self.needs_restart.is_empty() {
            write!(f, "; changes to [{}] take effect after a restart", self.needs_restart.join("], ["))?;
        }
        Ok(())
    }
}

impl Registry {
    /// The registry for `deployment`, carrying over every provider of this
    /// one whose [`Fingerprint`] is unchanged; new and changed providers are
    /// loaded in the background when `preload`. `running` is the deployment
    /// this registry serves, to name sections a reload does not apply.
    pub fn reload(
        &self,
        running: &Deployment,
        deployment: Arc<Deployment>,
        preload: bool,
    ) -> (Arc<Registry>, ReloadReport) {
        let mut report = ReloadReport::default();
        let mut providers = Vec::new();
        for id in deployment.plugins.keys() {
            let fresh = Provider::new(id, &deployment, &self.runtime, &self.cache_dir);
            match self.get(id) {
                Some(old) if old.fingerprint == fresh.fingerprint => {
                    report.unchanged.push(id.clone());
                    providers.push(old.clone());
                }
                Some(_) => {
                    report.changed.push(id.clone());
                    providers.push(fresh);
                }
                None => {
                    report.added.push(id.clone());
                    providers.push(fresh);
                }
            }
        }
        report.removed =
            self.providers.iter().filter(|p| !deployment.plugins.contains_key(&p.id)).map(|p| p.id.clone()).collect();
        if preload {
            let started = |p: &&Arc<Provider>| report.added.contains(&p.id) || report.changed.contains(&p.id);
            preload_all(providers.iter().filter(started).filter(|p| p.entry().enabled));
        }
        let default_provider = deployment.defaults.provider.as_ref().map(|p| p.get_ref().clone());
        let next = Arc::new(Registry {
            providers,
            default_provider,
            routing: deployment.routing.clone(),
            runtime: self.runtime.clone(),
            cache_dir: self.cache_dir.clone(),
        });
        report.default_changed = next.default_provider() != self.default_provider();
        report.needs_restart = sections_changed(running, &deployment);
        (next, report)
    }
}

/// Top-level sections other than `plugins` and `routing` (and `[defaults]
/// provider`, which a reload applies) that differ between the two files.
fn sections_changed(running: &Deployment, next: &Deployment) -> Vec<String> {
    let table = |d: &Deployment| -> toml::Table {
        let mut table: toml::Table = toml::from_str(&d.origin.text).unwrap_or_default();
        table.remove("plugins");
        table.remove("routing");
        if let Some(toml::Value::Table(defaults)) = table.get_mut("defaults") {
            defaults.remove("provider");
        }
        table
    };
    let (before, after) = (table(running), table(next));
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|name| before.get(name) != after.get(name));
    names
}
