//! The sandbox's import policy: which interfaces a plugin may import, and
//! the WASI core the host links for them.
//!
//! | import                         | linked as                                   |
//! |--------------------------------|---------------------------------------------|
//! | `easel:image-provider/*`       | the host's egress, log, progress, config    |
//! | `wasi:io/*`, `wasi:clocks/*`   | wasmtime-wasi                               |
//! | `wasi:random/*`                | wasmtime-wasi                               |
//! | `wasi:cli/*`                   | empty environment and arguments, stdin empty, stdout discarded, stderr captured |
//! | `wasi:filesystem/*`            | **refused** at load                         |
//! | `wasi:sockets/*`, `wasi:http/*`| **refused** at load (and never linked)      |
//! | anything else                  | **refused** at load                         |

use super::state::PluginState;
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{Result, bail};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::random::WasiRandom;

/// Interface prefixes a plugin may import (`plugins check` reports against the same list).
pub const ALLOWED: [&str; 5] = ["easel:image-provider/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:cli/"];

/// Refuse components that import anything outside [`ALLOWED`], naming it.
pub fn check(engine: &Engine, component: &Component) -> Result<()> {
    let ty = component.component_type();
    let mut refused = Vec::new();
    for (name, item) in ty.imports(engine) {
        if !ALLOWED.iter().any(|prefix| name.starts_with(prefix)) {
            let what = match item.ty {
                ComponentItem::ComponentInstance(_) => "interface",
                ComponentItem::ComponentFunc(_) => "function",
                _ => "item",
            };
            refused.push(format!("{what} `{name}`"));
        }
    }
    if !refused.is_empty() {
        bail!(
            "it imports {}, which the sandbox does not provide (plugins get no filesystem, sockets or wasi:http; HTTP goes through easel:image-provider/egress)",
            refused.join(", ")
        );
    }
    Ok(())
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Link io, clocks, random and cli — and nothing else — from wasmtime-wasi.
pub fn link_wasi_core(linker: &mut Linker<PluginState>) -> Result<()> {
    type T = PluginState;
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    wasmtime_wasi_io::bindings::wasi::io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    wasmtime_wasi_io::bindings::wasi::io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, <T as wasmtime_wasi::clocks::WasiClocksView>::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, <T as wasmtime_wasi::clocks::WasiClocksView>::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, <T as wasmtime_wasi::random::WasiRandomView>::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, <T as wasmtime_wasi::random::WasiRandomView>::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, <T as wasmtime_wasi::random::WasiRandomView>::random)?;
    let cli_view = <T as wasmtime_wasi::cli::WasiCliView>::cli;
    cli::exit::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, cli_view)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, cli_view)?;
    Ok(())
}
