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
    pub deployment: Arc<Deployment>,
    pub jobs: Arc<Jobs>,
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
        Ok(Arc::new(App { jobs: Jobs::new(registry, store, inputs), deployment }))
    }

    pub fn registry(&self) -> &Arc<Registry> {
        self.jobs.registry()
    }

    pub fn store(&self) -> &Store {
        self.jobs.store()
    }

    pub fn inputs(&self) -> &InputResolver {
        self.jobs.inputs()
    }
}
