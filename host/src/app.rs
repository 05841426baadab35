//! The application context: the deployment, plugin registry, image store,
//! input resolver and job engine, wired once by [`App::boot`] for the CLI
//! (`easel serve`, `generate`, `plugins`), the tests and `easel-bench`.

use crate::config::Deployment;
use crate::inputs::InputResolver;
use crate::jobs::Jobs;
use crate::providers::Registry;
use crate::runtime::Runtime;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the host keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The image store (images, sidecars, jobs).
    pub store: PathBuf,
    /// Compiled plugins (`compiled/`) and downloaded `.wasm` sources.
    pub cache: PathBuf,
}

impl Paths {
    /// The given directories, else: the store from the deployment's
    /// `[store] dir` (relative to the config file) or the user data
    /// directory, the cache in the user cache directory (`…/easel`).
    pub fn resolve(deployment: &Deployment, store: Option<PathBuf>, cache: Option<PathBuf>) -> Paths {
        let cache = cache.unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("easel"));
        let store = store
            .or_else(|| deployment.store.dir.as_ref().map(|d| deployment.resolve_path(d)))
            .unwrap_or_else(Store::default_root);
        Paths { store, cache }
    }

    /// `dir/store` and `dir/cache` (tests, benchmarks).
    pub fn under(dir: &Path) -> Paths {
        Paths { store: dir.join("store"), cache: dir.join("cache") }
    }
}

/// Everything a command or an MCP server needs, shared behind an `Arc`.
pub struct App {
    /// The deployment the host booted with (a reload applies only its
    /// `[plugins]` and `[defaults] provider`; see [`App::reload`]).
    pub deployment: Arc<Deployment>,
    pub jobs: Arc<Jobs>,
    /// Told after each reload that changed the providers (MCP sessions
    /// forward it as list-changed notifications).
    surface: tokio::sync::broadcast::Sender<()>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl App {
    /// Open the store, start the runtime (compile cache in
    /// `paths.cache/compiled`) and the registry, and build the job engine.
    /// With `preload`, every enabled plugin is loaded and described in the
    /// background at once; otherwise on first use.
    ///
    /// Errors: the store cannot be opened or created, or the wasmtime
    /// engine cannot start.
    pub fn boot(deployment: impl Into<Arc<Deployment>>, paths: &Paths, preload: bool) -> Result<Arc<App>> {
        let deployment = deployment.into();
        let store = Store::open(&paths.store)
            .with_context(|| format!("opening the image store at {}", paths.store.display()))?
            .with_previews(deployment.preview);
        let runtime = Runtime::new(Some(paths.cache.join("compiled")))?;
        let registry = Registry::start(deployment.clone(), runtime, paths.cache.clone(), preload);
        let inputs = InputResolver::new(store.clone(), &deployment.inputs, &deployment.origin.base_dir);
        let ledger = crate::ledger::Ledger::open(store.root())?;
        let preferences = Arc::new(crate::preferences::Preferences::open(store.root())?);
        let jobs = Jobs::new(registry, store, inputs);
        jobs.attach_ledger(ledger, deployment.caps);
        jobs.attach_preferences(preferences);
        let (surface, _) = tokio::sync::broadcast::channel(4);
        Ok(Arc::new(App { jobs, deployment, surface, reloading: tokio::sync::Mutex::new(()) }))
    }

    /// The current registry (replaced by a reload; hold it for one operation).
    pub fn registry(&self) -> Arc<Registry> {
        self.jobs.registry()
    }

    /// Apply a re-read `plugins.toml`: providers whose entry, component
    /// file and secrets are unchanged keep running as they are; new ones
    /// load, changed ones are rebuilt, removed ones take no new requests
    /// (calls and jobs already routed finish on what they hold). Sessions
    /// are told through [`App::surface_changes`] when the providers changed.
    /// Sections other than `[plugins]` and `[defaults] provider` are named
    /// in the report as needing a restart.
    pub async fn reload(&self, next: Deployment) -> crate::providers::ReloadReport {
        let _one = self.reloading.lock().await;
        let (registry, report) = self.registry().reload(&self.deployment, Arc::new(next), true);
        self.jobs.swap_registry(registry);
        if report.surface_changed() {
            let _ = self.surface.send(());
        }
        report
    }

    /// A receiver told once per reload that changed the providers.
    pub fn surface_changes(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.surface.subscribe()
    }

    pub fn store(&self) -> &Store {
        self.jobs.store()
    }

    pub fn inputs(&self) -> &InputResolver {
        self.jobs.inputs()
    }
}
