//! One error for "this field is wrong": the argument at fault (when there
//! is one) and what to do about it. Produced where the fault is found
//! (argument checks, routing, validation, inputs, the provider's own
//! `invalid-request`), rendered once by `mcp` (`structuredContent.error =
//! {field, message}`) and by the CLI (`invalid --field: …`).

/// A refused request. `field` is the MCP argument name (`width`,
/// `images[1].image`, `params.background`), `None` for a failure that no
/// argument can fix (a provider outage, a full disk).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn field(field: &str, message: impl Into<String>) -> FieldError {
        FieldError { field: Some(field.into()), message: message.into() }
    }

    /// An error about no argument in particular.
    pub fn other(message: impl Into<String>) -> FieldError {
        FieldError { field: None, message: message.into() }
    }
}
