//! Sluice's command line as a library: the renderers behind `sluice status` and
//! `sluice show`, and `sluice local`, the whole pipeline on one machine.

pub mod local;
pub mod render;
