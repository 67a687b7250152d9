//! Sluice against the emulated AWS, one binary: each test starts its own pinned
//! MiniStack (`sluice_tests::Emulator`), one module per area.

mod adapters;
mod approval;
mod patterns;
mod pipeline;
mod store;
