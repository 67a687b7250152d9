//! The engine's integration tests, one binary: the whole pipeline in memory (the
//! engine over the adapters' in-memory fakes, `sluice_tests::world::World`, the
//! harness the tests against the emulator share), one module per area.

mod after_deploy;
mod layout;
mod logging;
mod machines;
mod metrics;
mod paths;
mod quick_app;
mod regressions;
mod releases;
mod simulation;
mod sites;
mod template;
