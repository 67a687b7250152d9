//! The parts of a CodeBuild buildspec (version 0.2) that `sluice local` runs.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// A parsed buildspec.
#[derive(Debug, Default)]
pub struct Buildspec {
    pub variables: Vec<(String, String)>,
    /// The install phase's `runtime-versions`: runtime and version, as written.
    pub runtime_versions: Vec<(String, String)>,
    /// `install`, `pre_build`, `build`, `post_build`, in that order, when present.
    pub phases: Vec<(PhaseName, Phase)>,
    pub artifacts: Option<Artifacts>,
}

/// The four phases a buildspec may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] = [Self::Install, Self::PreBuild, Self::Build, Self::PostBuild];

    /// The key in the buildspec.
    pub fn key(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::PreBuild => "pre_build",
            Self::Build => "build",
            Self::PostBuild => "post_build",
        }
    }

    /// CodeBuild's phase type.
    pub fn phase_type(self) -> &'static str {
        match self {
            Self::Install => "INSTALL",
            Self::PreBuild => "PRE_BUILD",
            Self::Build => "BUILD",
            Self::PostBuild => "POST_BUILD",
        }
    }
}

/// One phase's commands.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Phase {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub finally: Vec<String>,
    /// `ABORT` (the default) or `CONTINUE`.
    #[serde(default)]
    pub on_failure: Option<String>,
    /// The runtimes the build asks for (the install phase's only).
    #[serde(default)]
    runtime_versions: BTreeMap<String, Value>,
}

impl Phase {
    /// Whether a failure of this phase lets the next phases run.
    pub fn continues_on_failure(&self) -> bool {
        self.on_failure
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("CONTINUE"))
    }
}

/// What to upload after a successful build.
#[derive(Debug, Default)]
pub struct Artifacts {
    pub files: Vec<String>,
    pub name: Option<String>,
    pub discard_paths: bool,
    pub base_directory: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawArtifacts {
    #[serde(default)]
    files: Vec<String>,
    name: Option<String>,
    discard_paths: Option<Value>,
    base_directory: Option<String>,
}

#[derive(Deserialize)]
struct RawEnv {
    #[serde(default)]
    variables: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Raw {
    version: Value,
    env: Option<RawEnv>,
    #[serde(default)]
    phases: BTreeMap<String, Phase>,
    artifacts: Option<RawArtifacts>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Buildspec {
    /// Parses a buildspec, saying what is wrong with it if it cannot be run.
    pub fn parse(text: &str) -> Result<Self> {
        let raw: Raw = serde_yaml_ng::from_str(text).context("the buildspec is not valid YAML")?;
        match scalar(&raw.version).as_deref() {
            Some("0.2") => {}
            other => bail!("buildspec version {other:?} is not supported here; use version: 0.2"),
        }
        let mut variables = Vec::new();
        for (name, value) in raw.env.map(|e| e.variables).unwrap_or_default() {
            let value = scalar(&value).with_context(|| {
                format!("env variable {name} must be a string, number or boolean")
            })?;
            variables.push((name, value));
        }
        let mut phases = raw.phases;
        let unknown: Vec<_> = phases
            .keys()
            .filter(|k| !PhaseName::ALL.iter().any(|p| p.key() == k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            bail!(
                "unknown buildspec phase(s) {}; the phases are install, pre_build, build, post_build",
                unknown.join(", ")
            );
        }
        let mut runtime_versions = Vec::new();
        if let Some(install) = phases.get(PhaseName::Install.key()) {
            for (runtime, version) in &install.runtime_versions {
                let version = scalar(version).with_context(|| {
                    format!(
                        "runtime-versions: {runtime} must name a version, such as 3.12 or latest"
                    )
                })?;
                runtime_versions.push((runtime.clone(), version));
            }
        }
        let phases = PhaseName::ALL
            .iter()
            .filter_map(|p| phases.remove(p.key()).map(|phase| (*p, phase)))
            .collect();
        let artifacts = raw.artifacts.map(|a| Artifacts {
            files: a.files,
            name: a.name,
            discard_paths: a
                .discard_paths
                .as_ref()
                .and_then(scalar)
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true")),
            base_directory: a.base_directory,
        });
        Ok(Self {
            variables,
            runtime_versions,
            phases,
            artifacts,
        })
    }
}

/// Replaces `$NAME` and `${NAME}` in `text` with values from `lookup` (empty when unset).
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name).unwrap_or_default());
            rest = &after[consumed..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_buildspec_parses_with_its_phases_in_order() {
        let text = include_str!("../../examples/hello-api/buildspec.yml");
        let spec = Buildspec::parse(text).expect("the example's buildspec parses");
        let order: Vec<_> = spec.phases.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, PhaseName::ALL.to_vec());
        let artifacts = spec.artifacts.expect("it declares artifacts");
        assert!(artifacts.discard_paths);
        assert_eq!(artifacts.name.as_deref(), Some("$SLUICE_EXECUTION_ID"));
        assert!(artifacts.files.contains(&"packaged.yaml".to_owned()));
    }

    #[test]
    fn bad_buildspecs_are_refused_with_the_reason() {
        let err = Buildspec::parse("version: 0.1\nphases: {}\n").unwrap_err();
        assert!(err.to_string().contains("0.2"), "{err}");
        let err = Buildspec::parse("version: 0.2\nphases:\n  compile:\n    commands: [make]\n")
            .unwrap_err();
        assert!(err.to_string().contains("compile"), "{err}");
        assert!(Buildspec::parse("phases: [").is_err());
    }

    #[test]
    fn variables_expand_in_both_spellings() {
        let lookup = |n: &str| (n == "ID").then(|| "42".to_owned());
        assert_eq!(expand("$ID", lookup), "42");
        assert_eq!(expand("a-${ID}-b $NOPE.", lookup), "a-42-b .");
        assert_eq!(expand("cost $", lookup), "cost $");
    }
}
