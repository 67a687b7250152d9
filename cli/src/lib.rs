//! Sluice's command line as a library: the renderers behind `sluice status` and
//! `sluice show`, the caller's identity, and `sluice local`, the whole pipeline on one machine.

pub mod doctor;
pub mod identity;
pub mod local;
pub mod logs;
pub mod metrics;
pub mod operate;
pub mod render;
pub mod report;
pub mod verify;
pub mod watch;
