//! The `sluice` CLI's integration tests, one binary, one module per area: the command
//! against the emulated S3 (`commands`, over a pipeline's history, `history`, and what
//! it prints for scripts and debugging, `output`), the local CodeBuild (`builds`) and
//! the APIs local mode answers (`protocols`), both over `support`'s driver, and the
//! end-to-end scenarios through `sluice local`, one file each over one harness
//! (`scenarios`).

mod support;

mod builds;
mod commands;
mod history;
mod output;
mod protocols;
mod scenarios;
