//! The wasmtime host: one [`Engine`] with epoch interruption (a 10 ms
//! ticker), a compile cache on disk, an import policy checked at load, an
//! [`ProviderPre`] per plugin (for the WIT version it was built against),
//! and a fresh `Store` per call
//! ([`call`]). Measured here: loading a cached component ≈ 0.2 ms,
//! instantiating ≈ 30 µs; compiling a small one ≈ 40–100 ms.

pub mod bindings;
pub mod call;
mod convert;
pub mod executor;
pub mod guest;
pub mod imports;
pub mod limiter;
pub mod logs;
mod since_v0_1;
mod since_v0_2;
pub mod state;
mod streams;

use guest::ProviderPre;
use sha2::{Digest, Sha256};
use state::PluginState;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Result;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine};

pub use call::{CallError, Limits, Plugin};

/// Interval of the epoch ticker; deadlines are checked at this grain.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Stack available to guest code (deep recursion traps past it).
pub const MAX_WASM_STACK: usize = 1 << 20;

/// The engine, linker and compile cache shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    /// Held while a component compiles: one compile at a time (each one
    /// already uses every core), so a first start's peak memory is one
    /// compile's, not one per plugin.
    compiling: std::sync::Mutex<()>,
}

impl Runtime {
    /// Build the engine and start its epoch ticker (a thread that lives as
    /// long as the process). `cache_dir` holds compiled components; `None`
    /// disables the cache.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<Runtime>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).context("creating the wasmtime engine")?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("easel-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("starting the epoch ticker")?;
        let mut linker = Linker::new(&engine);
        imports::link_wasi_core(&mut linker)?;
        bindings::v0_3::ImageProvider::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        bindings::v0_2::ImageProvider::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        bindings::v0_1::ImageProvider::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        Ok(Arc::new(Runtime { engine, linker, cache_dir, compiling: Default::default() }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile (or load from cache), check imports, and pre-instantiate.
    ///
    /// Errors: not a component, an import outside the sandbox (named in the
    /// message), or exports that do not match `image-provider`.
    pub fn prepare(&self, name: &str, wasm: &[u8]) -> Result<ProviderPre> {
        let component = self.compile_cached(wasm).with_context(|| format!("compiling plugin `{name}`"))?;
        imports::check(&self.engine, &component).with_context(|| format!("plugin `{name}` is refused"))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .with_context(|| format!("plugin `{name}` does not fit the image-provider world"))?;
        ProviderPre::new(pre).with_context(|| format!("plugin `{name}` does not fit the image-provider world"))
    }

    /// `<cache>/<sha256(wasm)>-<engine hash>.cwasm`; recompiles when the
    /// file is missing or fails to deserialize. A fresh compile is written to
    /// the cache and then used from there (memory-mapped, like a warm start),
    /// so the compiler's copy is freed.
    fn compile_cached(&self, wasm: &[u8]) -> Result<Component> {
        let Some(dir) = &self.cache_dir else {
            let _one_at_a_time = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
            return Component::new(&self.engine, wasm);
        };
        let path = self.cache_path(dir, wasm);
        if let Some(component) = self.load_compiled(&path) {
            return Ok(component);
        }
        let _one_at_a_time = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        // Another load of the same bytes may have compiled it while we waited.
        if let Some(component) = self.load_compiled(&path) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, wasm)?;
        if let Err(error) = write_atomically(dir, &path, &component.serialize()?) {
            tracing::warn!("cannot write compile cache {}: {error:#}", path.display());
            return Ok(component);
        }
        drop(component);
        release_freed_memory();
        self.load_compiled(&path).map_or_else(|| Component::new(&self.engine, wasm), Ok)
    }

    fn cache_path(&self, dir: &Path, wasm: &[u8]) -> PathBuf {
        dir.join(format!("{}-{}.cwasm", digest_of(wasm), self.engine_hash()))
    }

    /// Compile `wasm` (or load it from the compile cache) without checking
    /// its imports or exports: `plugins check` inspects it first. The flag
    /// is `true` when it was compiled now, `false` when the cache had it.
    pub fn compile(&self, wasm: &[u8]) -> Result<(Component, bool)> {
        let cached = self.cache_dir.as_deref().is_some_and(|dir| self.cache_path(dir, wasm).exists());
        Ok((self.compile_cached(wasm)?, !cached))
    }

    /// The compiled component at `path`, if it is there and deserializes.
    fn load_compiled(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: only files this process family wrote (named by content
        // hash and engine hash, written atomically) are deserialized.
        match unsafe { Component::deserialize_file(&self.engine, path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!("recompiling: cached {} unusable: {error:#}", path.display());
                None
            }
        }
    }

    fn engine_hash(&self) -> String {
        struct ShaHasher(Sha256);
        impl Hasher for ShaHasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut hasher = ShaHasher(Sha256::new());
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        hex::encode(&hasher.0.finalize()[..8])
    }
}

/// Hand the memory a compile freed back to the operating system: glibc's
/// allocator keeps freed memory of its per-thread arenas resident (tens of
/// MiB after a cranelift compile) until asked to trim.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas
    // to the kernel; it touches no allocation in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// The component bytes of a built-in plugin.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTIN_PLUGINS.iter().find(|(n, _, _)| *n == name).map(|(_, bytes, _)| *bytes)
}

/// sha256 of `wasm` as hex: precomputed for the built-ins' own bytes (so a
/// warm start never pages them in), computed for anything else.
fn digest_of(wasm: &[u8]) -> String {
    match BUILTIN_PLUGINS.iter().find(|(_, bytes, _)| std::ptr::eq(*bytes, wasm)) {
        Some((_, _, digest)) => digest.to_string(),
        None => hex::encode(Sha256::digest(wasm)),
    }
}
