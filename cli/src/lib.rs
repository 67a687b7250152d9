//! Sluice's command line as a library: the renderers behind `sluice status` and
//! `sluice show`, the caller's identity, and the other commands' work (local mode is the
//! `sluice-local` crate).

pub mod access;
pub mod doctor;
pub mod identity;
pub mod logs;
pub mod metrics;
pub mod operate;
pub mod render;
pub mod report;
pub mod verify;
pub mod watch;
