//! The arm64 packages `make build` left in `.aws-sam/build`: each function's
//! `bootstrap`, and its size zipped as Lambda receives it.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Package {
    pub function: String,
    pub binary_bytes: u64,
    pub zipped_bytes: u64,
}

/// The packages under `build`, or `None` when `make build` has not run.
pub fn measure(build: &Path) -> anyhow::Result<Option<Vec<Package>>> {
    let Ok(entries) = std::fs::read_dir(build) else {
        return Ok(None);
    };
    let mut packages = Vec::new();
    for entry in entries {
        let dir = entry?.path();
        let bootstrap = dir.join("bootstrap");
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `-Shared`: SAM builds one package for functions sharing their code (the
        // operator's and the approvers' functions).
        let function = name.ends_with("Function") || name.ends_with("Function-Shared");
        if !function || !bootstrap.is_file() {
            continue;
        }
        let data = std::fs::read(&bootstrap)
            .with_context(|| format!("reading {}", bootstrap.display()))?;
        let mut zipped = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zipped.start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(0o755),
        )?;
        zipped.write_all(&data)?;
        let zipped = zipped.finish()?.into_inner();
        packages.push(Package {
            function: name,
            binary_bytes: data.len() as u64,
            zipped_bytes: zipped.len() as u64,
        });
    }
    packages.sort_by(|a, b| a.function.cmp(&b.function));
    Ok((!packages.is_empty()).then_some(packages))
}
