//! The static half of `plugins check`: is the file a component, which
//! `easel:image-provider` version it exports, and which of its imports the
//! sandbox refuses, each with why and how to build without it.

use wasmtime::Engine;
use wasmtime::component::Component;

/// WIT versions of `easel:image-provider` this host loads.
pub const SUPPORTED_WIT_VERSIONS: [&str; 3] = ["0.1.0", "0.2.0", "0.3.0"];

/// What the first eight bytes of a `.wasm` file say it is.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind {
    Component,
    /// A core module (`wasm32-unknown-unknown`, `wasm32-wasip1`, or a
    /// component tool's intermediate output).
    CoreModule,
    NotWasm,
}

/// Classify `bytes` by the wasm preamble (`\0asm` + version/layer: 1,0,0,0
/// for a core module, 0x0d,0,1,0 for a component — component model binary format).
pub fn file_kind(bytes: &[u8]) -> FileKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => FileKind::CoreModule,
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => FileKind::Component,
        _ => FileKind::NotWasm,
    }
}

/// The version in the component's `easel:image-provider/provider@X`
/// export, or the names it does export (for the message) when it has none.
pub fn wit_version(engine: &Engine, component: &Component) -> Result<String, Vec<String>> {
    let exports: Vec<String> = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
    exports
        .iter()
        .find_map(|name| name.strip_prefix("easel:image-provider/provider@").map(str::to_string))
        .ok_or(exports)
}

/// One import and the sandbox's verdict on it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportVerdict {
    pub name: String,
    /// `None`: linked by the host. `Some(why)`: refused at load, and why.
    pub refused: Option<String>,
}

/// Every import of `component` with its verdict (the same policy the host
/// applies at load: `runtime::imports`).
pub fn imports(engine: &Engine, component: &Component) -> Vec<ImportVerdict> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| ImportVerdict { name: name.to_string(), refused: refusal(name) })
        .collect()
}

/// Why the sandbox refuses an import named `name`, or `None` if it links it.
fn refusal(name: &str) -> Option<String> {
    if crate::runtime::imports::ALLOWED.iter().any(|prefix| name.starts_with(prefix)) {
        return None;
    }
    let why = if name.starts_with("wasi:filesystem/") {
        "plugins get no filesystem: input images arrive as bytes in the request, and results go back as bytes or URLs"
    } else if name.starts_with("wasi:sockets/") {
        "plugins get no sockets: HTTP goes through easel:image-provider/egress, which applies the operator's allow-list and fills in secrets"
    } else if name.starts_with("wasi:http/") {
        "wasi:http is not linked: use easel:image-provider/egress.fetch (same allow-list, secrets and caps)"
    } else {
        "the host provides only easel:image-provider/* and the WASI core (io, clocks, random, cli)"
    };
    Some(why.to_string())
}

/// How to build without WASI imports the sandbox refuses, per toolchain.
pub const BUILD_HINTS: &str = "Python: `componentize-py … componentize --stub-wasi app -o x.wasm`; JavaScript: `componentize-js … -d stdio http fetch-event`; Rust: use wasm32-wasip2 and do no file or socket I/O (std::fs, std::net, std::env::var pull them in)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_tells_a_component_from_a_core_module() {
        assert_eq!(file_kind(b"\0asm\x01\0\0\0rest"), FileKind::CoreModule);
        assert_eq!(file_kind(b"\0asm\x0d\0\x01\0rest"), FileKind::Component);
        assert_eq!(file_kind(b"PK\x03\x04zip file"), FileKind::NotWasm);
        assert_eq!(file_kind(b"\0as"), FileKind::NotWasm);
    }

    #[test]
    fn refused_imports_say_why_and_the_core_is_linked() {
        assert!(refusal("wasi:io/streams@0.2.9").is_none());
        assert!(refusal("easel:image-provider/egress@0.2.0").is_none());
        assert!(refusal("wasi:filesystem/preopens@0.2.9").unwrap().contains("no filesystem"));
        assert!(refusal("wasi:sockets/tcp@0.2.9").unwrap().contains("egress"));
        assert!(refusal("wasi:http/outgoing-handler@0.2.9").unwrap().contains("egress.fetch"));
        assert!(refusal("acme:spy/keylogger").unwrap().contains("provides only"));
    }
}
