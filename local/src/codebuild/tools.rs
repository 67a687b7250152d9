//! What a build finds on its `PATH`. First a directory of its own holding links to
//! the tools CodeBuild's standard image has and this machine may lack (`aws`, `sam`,
//! `cargo-lambda` and the `zig` it links with), each alone: never the virtual
//! environments they are installed in, whose `pip` and `python` would let a
//! buildspec's `pip install` change Sluice's own tools. Then the runtimes the
//! buildspec's `runtime-versions` asks for, where this machine has them, and the
//! machine's own `PATH`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

/// The tools a build gets, by the name it calls them and the file that provides them
/// in the tool directories (`zig` is the `ziglang` package's launcher).
const TOOLS: &[(&str, &str)] = &[
    ("aws", "aws"),
    ("sam", "sam"),
    ("cargo-lambda", "cargo-lambda"),
    ("zig", "python-zig"),
];

/// How long a runtime's `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Fills `bin` (created, and expected empty) with links to the [`TOOLS`] found in
/// `sources`, the first source that has one winning, and with the runtimes
/// `runtime_versions` asks for where this machine has them. Returns the lines the
/// build's log shows about the runtimes.
pub(super) async fn prepare(
    bin: &Path,
    sources: &[PathBuf],
    runtime_versions: &[(String, String)],
) -> Result<Vec<String>> {
    tokio::fs::create_dir_all(bin)
        .await
        .with_context(|| format!("cannot create {}", bin.display()))?;
    for (name, file) in TOOLS {
        if let Some(found) = sources.iter().map(|d| d.join(file)).find(|p| p.is_file()) {
            link(&found, &bin.join(name)).await?;
        }
    }
    let mut lines = Vec::new();
    for (runtime, version) in runtime_versions {
        lines.push(runtime_line(bin, runtime, version).await?);
    }
    Ok(lines)
}

async fn link(target: &Path, at: &Path) -> Result<()> {
    tokio::fs::symlink(target, at)
        .await
        .with_context(|| format!("cannot link {} to {}", at.display(), target.display()))
}

/// The `PATH` a build runs with: `bin`, then this process's own `PATH`.
pub(super) fn build_path(bin: &Path) -> String {
    let own = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin.to_owned()).chain(std::env::split_paths(&own));
    std::env::join_paths(dirs)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| own.to_string_lossy().into_owned())
}

/// The command a runtime of `runtime-versions` answers to, and the arguments that
/// make it print its version.
fn probe(runtime: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match runtime {
        "python" => ("python3", &["--version"]),
        "nodejs" => ("node", &["--version"]),
        "golang" => ("go", &["version"]),
        "java" => ("java", &["-version"]),
        "ruby" => ("ruby", &["--version"]),
        "php" => ("php", &["--version"]),
        "dotnet" => ("dotnet", &["--version"]),
        _ => return None,
    })
}

/// Where `program` is on this process's `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    let own = std::env::var_os("PATH")?;
    std::env::split_paths(&own)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The first version number (`3.11.9`, `20.11.0`, `1.22.1`) in what `program`
/// prints for `args`, standard error included (Java's goes there).
async fn version_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = tokio::time::timeout(
        VERSION_TIMEOUT,
        tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    first_version(&text)
}

/// The first run of digits and dots in `text` that starts with a digit.
fn first_version(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let version: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    Some(version.trim_end_matches('.').to_owned())
}

/// Whether `found` satisfies `asked` (`latest`, `3`, `3.12`, `corretto17`).
fn satisfies(found: &str, asked: &str) -> bool {
    let asked = asked.trim_start_matches(|c: char| !c.is_ascii_digit());
    if asked.is_empty() {
        // `latest`, or a name without a number: whatever the machine has.
        return true;
    }
    found == asked
        || found
            .strip_prefix(asked)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Honours one entry of `runtime-versions`, and says in one log line what the build
/// runs with.
async fn runtime_line(bin: &Path, runtime: &str, asked: &str) -> Result<String> {
    let Some((program, args)) = probe(runtime) else {
        return Ok(format!(
            "[Container] runtime-versions: {runtime} is not a runtime sluice local knows \
             (python, nodejs, golang, java, ruby, php, dotnet); the build runs with what \
             this machine has on its PATH"
        ));
    };
    // Python's versions live side by side (`python3.12`): the one asked for, where the
    // machine has it, is the build's `python`, `python3` and `pip`.
    if runtime == "python" {
        let minor = asked.trim_start_matches(|c: char| !c.is_ascii_digit());
        if minor.contains('.')
            && let Some(exact) = on_path(&format!("python{minor}"))
            && let Some(version) = version_of(&exact, args).await
        {
            for name in ["python", "python3"] {
                link(&exact, &bin.join(name)).await?;
            }
            for name in ["pip", "pip3"] {
                let python = super::shell::shell_quote(&exact.to_string_lossy());
                let script = format!("#!/bin/sh\nexec {python} -m pip \"$@\"\n");
                write_executable(&bin.join(name), &script).await?;
            }
            return Ok(format!(
                "[Container] Runtime python {asked}: {} (Python {version})",
                exact.display()
            ));
        }
    }
    let found = match on_path(program) {
        Some(path) => version_of(&path, args).await,
        None => None,
    };
    Ok(match found {
        Some(version) if satisfies(&version, asked) => {
            format!("[Container] Runtime {runtime} {asked}: this machine's {program} {version}")
        }
        Some(version) => format!(
            "[Container] runtime-versions: {runtime} {asked} is not on this machine; \
             the build runs with its {program} {version}"
        ),
        None => format!(
            "[Container] runtime-versions: {runtime} {asked} is not on this machine, \
             nor any {program}; commands that need it will fail"
        ),
    })
}

async fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::write(path, text)
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .await
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_runtimes_print_and_matched_by_prefix() {
        assert_eq!(first_version("Python 3.11.9\n").as_deref(), Some("3.11.9"));
        assert_eq!(first_version("v20.11.0").as_deref(), Some("20.11.0"));
        assert_eq!(
            first_version("go version go1.22.1 linux/amd64").as_deref(),
            Some("1.22.1")
        );
        assert!(satisfies("3.11.9", "3.11"));
        assert!(satisfies("3.11.9", "3"));
        assert!(satisfies("20.11.0", "latest"));
        assert!(satisfies("17.0.2", "corretto17"));
        assert!(!satisfies("3.11.9", "3.1"));
        assert!(!satisfies("20.11.0", "18"));
    }
}
