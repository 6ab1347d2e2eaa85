//! The input document and everything that goes into it, in the order it is built:
//! [`path`] canonicalises the request target, [`routes`] names the action, [`schema`] and
//! [`body`] read the body the way the engine reads it, [`binds`] gathers host paths, and
//! [`document`] assembles the JSON a policy evaluates.

pub mod binds;
pub mod body;
pub mod document;
pub mod path;
pub mod routes;
pub mod schema;

pub use document::{build, classify, BodyInput, Classified, InputDocument};
