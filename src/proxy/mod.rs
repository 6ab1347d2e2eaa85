//! The proxy: [`handler`] runs one request through the decision step, [`forward`] sends a
//! permitted one to the engine over the pooled [`upstream`] client, [`hijack`] joins upgraded
//! connections, and [`redact`] removes fields from JSON responses. [`body`] is the one body type
//! that flows through all of them.

pub mod body;
pub mod forward;
pub mod handler;
pub mod hijack;
pub mod redact;
pub mod upstream;

pub use handler::{handle, Gateway, Limits};
