//! The engine's integration tests, one binary: the whole pipeline in memory (the
//! engine over the adapters' in-memory fakes, `support::World`), one module per area.

mod support;

mod after_deploy;
mod metrics;
mod paths;
mod regressions;
mod releases;
mod simulation;
mod sites;
