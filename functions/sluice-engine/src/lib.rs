//! Sluice's imperative shell: the part of every function between AWS and the core.
//! It decodes events, loads executions, applies the core's `step` through the store,
//! runs the resulting commands against the adapters, and renders what people read.

pub mod artifacts;
pub mod changelog;
pub mod config;
mod deploy;
pub mod engine;
pub mod error;
pub mod events;
pub mod expire;
mod gate;
mod handlers;
pub mod html;
pub mod measure;
pub mod messages;
pub mod operator;
/// A pipeline's path filters, part of its definition.
pub use sluice_definition::paths;
pub mod release;
pub mod site;
mod smoke;
pub mod subscribers;
pub mod token;
pub mod verify;
mod window;

pub use config::Config;
pub use engine::{Adapters, Clock, Decided, Engine, Parts, WaitPolicy};
pub use error::EngineError;
#[cfg(feature = "lambda")]
pub mod approval;
#[cfg(feature = "lambda")]
pub mod runtime;
pub mod sweep;
