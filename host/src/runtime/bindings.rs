//! Host bindings for `easel:image-provider@0.1.0`, generated from `wit/v0.1.0`.
//!
//! Imports are async (egress does I/O) and trappable (a host failure can
//! abort the guest); exports are called with `call_*(...).await`.

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "image-provider",
    imports: { default: async | trappable },
    exports: { default: async },
});
