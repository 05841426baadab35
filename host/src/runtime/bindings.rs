//! Host bindings for every WIT version the host loads, one module each,
//! generated from `wit/v*`: [`v0_1`] (`easel:image-provider@0.1.0`),
//! [`v0_2`] (`@0.2.0`) and [`v0_3`] (`@0.3.0`, the [`latest`]). The host
//! implements the latest imports (`runtime::state`, `runtime::streams`);
//! `runtime::since_v0_2` implements 0.2.0's by delegating to them and
//! converts 0.2.0's exports up to the latest, and `runtime::since_v0_1`
//! does the same from 0.1.0 to 0.2.0 (the shape of Zed's
//! `wasm_host/wit/since_v*.rs`).
//!
//! Imports are async (egress does I/O) and trappable (a host failure can
//! abort the guest); exports are called with `call_*(...).await`.

/// `easel:image-provider@0.1.0`, generated from `wit/v0.1.0`.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
        world: "image-provider",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `easel:image-provider@0.2.0`, generated from `wit/v0.2.0`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "image-provider",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "easel:image-provider/streams.event-stream": crate::egress::streams::EventStream,
            "easel:image-provider/streams.websocket": crate::egress::streams::WebSocket,
        },
    });
}

/// `easel:image-provider@0.3.0`, generated from `wit/v0.3.0`.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.3.0",
        world: "image-provider",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "easel:image-provider/streams.event-stream": crate::egress::streams::EventStream,
            "easel:image-provider/streams.websocket": crate::egress::streams::WebSocket,
        },
    });
}

pub use v0_3 as latest;
