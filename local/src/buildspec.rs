//! The parts of a CodeBuild buildspec (versions 0.1 and 0.2) that `sluice local` runs.
//! <https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec-ref-versions>

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// A parsed buildspec.
#[derive(Debug, Default)]
pub struct Buildspec {
    pub version: Version,
    pub variables: Vec<(String, String)>,
    /// The install phase's `runtime-versions`: runtime and version, as written.
    pub runtime_versions: Vec<(String, String)>,
    /// `install`, `pre_build`, `build`, `post_build`, in that order, when present.
    pub phases: Vec<(PhaseName, Phase)>,
    pub artifacts: Option<Artifacts>,
}

/// The buildspec versions CodeBuild runs. They differ in how commands share a shell,
/// and in how variables are spelled (0.1's `environment_variables: plaintext:` became
/// 0.2's `env: variables:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// Each command runs in a shell of its own: a `cd` or an `export` is gone by the
    /// next command.
    V0_1,
    /// All the commands of a build run in one shell session.
    #[default]
    V0_2,
}

impl Version {
    /// As a buildspec writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1",
            Self::V0_2 => "0.2",
        }
    }
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

/// Version 0.1's spelling of `env`.
#[derive(Deserialize)]
struct RawEnvironmentVariables {
    #[serde(default)]
    plaintext: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Raw {
    version: Option<Value>,
    env: Option<RawEnv>,
    environment_variables: Option<RawEnvironmentVariables>,
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
    /// Parses the buildspec `file` holds, or says in a sentence that names the file
    /// and the field what is wrong with it and what would be accepted.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let raw: Raw = serde_yaml_ng::from_str(text)
            .with_context(|| format!("{file} is not a buildspec CodeBuild can read"))?;
        let version = match raw
            .version
            .as_ref()
            .filter(|v| !v.is_null())
            .map(|v| (v, scalar(v)))
        {
            Some((_, Some(v))) if v == "0.1" => Version::V0_1,
            Some((_, Some(v))) if v == "0.2" => Version::V0_2,
            None => bail!(
                "{file} has no `version`; CodeBuild runs buildspec versions 0.1 and 0.2 \
                 (write `version: 0.2`)"
            ),
            Some((value, _)) => bail!(
                "{file} says `version: {}`, which CodeBuild does not run; write `version: 0.2` \
                 (all commands of a build in one shell) or `version: 0.1` (each command in a \
                 shell of its own)",
                shown(value)
            ),
        };
        let (variables, field) = match (version, raw.env, raw.environment_variables) {
            (Version::V0_1, Some(_), _) => bail!(
                "{file} is version 0.1 and has an `env` section, which is version 0.2's; \
                 in version 0.1 variables go under `environment_variables: plaintext:` \
                 (or write `version: 0.2`)"
            ),
            (Version::V0_2, _, Some(_)) => bail!(
                "{file} is version 0.2 and has an `environment_variables` section, which is \
                 version 0.1's; in version 0.2 variables go under `env: variables:`"
            ),
            (Version::V0_1, None, e) => (
                e.map(|e| e.plaintext).unwrap_or_default(),
                "environment_variables: plaintext:",
            ),
            (Version::V0_2, e, None) => (
                e.map(|e| e.variables).unwrap_or_default(),
                "env: variables:",
            ),
        };
        let variables = variables
            .into_iter()
            .map(|(name, value)| match scalar(&value) {
                Some(value) => Ok((name, value)),
                None => Err(anyhow!(
                    "{file} gives `{field} {name}` a {}; a variable's value is a string, \
                     number or boolean",
                    kind(&value)
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut phases = raw.phases;
        let unknown: Vec<_> = phases
            .keys()
            .filter(|k| !PhaseName::ALL.iter().any(|p| p.key() == k.as_str()))
            .map(|k| format!("`{k}`"))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "{file} has phase(s) {} under `phases`, which CodeBuild does not run; the \
                 phases are install, pre_build, build and post_build",
                unknown.join(", ")
            );
        }
        let mut runtime_versions = Vec::new();
        if let Some(install) = phases.get(PhaseName::Install.key()) {
            for (runtime, version) in &install.runtime_versions {
                let version = scalar(version).with_context(|| {
                    format!(
                        "{file} gives `runtime-versions: {runtime}` a {}; it takes a version, \
                         such as 3.12 or latest",
                        kind(version)
                    )
                })?;
                runtime_versions.push((runtime.clone(), version));
            }
        }
        let phases = PhaseName::ALL
            .iter()
            .filter_map(|p| phases.remove(p.key()).map(|phase| (*p, phase)))
            .collect();
        // Version 0.1's `artifacts: type:` (deprecated in 0.2) is read and ignored, as
        // CodeBuild ignores it: where artifacts go is the project's, or StartBuild's.
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
            version,
            variables,
            runtime_versions,
            phases,
            artifacts,
        })
    }
}

/// A YAML value as the buildspec wrote it, on one line.
fn shown(value: &Value) -> String {
    match scalar(value) {
        Some(s) => s,
        None => serde_yaml_ng::to_string(value)
            .map(|s| s.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

/// What kind of YAML value `value` is, in words.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null value",
        Value::Bool(_) | Value::Number(_) | Value::String(_) => "scalar",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
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
        let spec = Buildspec::parse("buildspec.yml", text).expect("the example's buildspec parses");
        let order: Vec<_> = spec.phases.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, PhaseName::ALL.to_vec());
        // Named by Sluice's StartBuild, not by the buildspec, as CodePipeline's are.
        let artifacts = spec.artifacts.expect("it declares artifacts");
        assert_eq!(artifacts.name, None);
        assert!(!artifacts.discard_paths);
        assert!(artifacts.files.contains(&"packaged.yaml".to_owned()));
    }

    #[test]
    fn version_0_1_is_read_with_its_own_spelling_of_variables() {
        let text = "version: 0.1\nenvironment_variables:\n  plaintext:\n    GREETING: hi\n    \
                    COUNT: 3\nphases:\n  build:\n    commands: [make]\nartifacts:\n  type: zip\n  \
                    files: [outputSamTemplate.yaml]\n";
        let spec = Buildspec::parse("buildspec.yml", text).expect("CodeBuild runs 0.1");
        assert_eq!(spec.version, Version::V0_1);
        assert_eq!(
            spec.variables,
            vec![
                ("COUNT".to_owned(), "3".to_owned()),
                ("GREETING".to_owned(), "hi".to_owned())
            ]
        );
        let artifacts = spec.artifacts.expect("artifacts");
        assert_eq!(artifacts.files, vec!["outputSamTemplate.yaml".to_owned()]);
        assert_eq!(artifacts.name, None);
        let quoted = Buildspec::parse("b.yml", "version: \"0.2\"\nphases: {}\n").expect("0.2");
        assert_eq!(quoted.version, Version::V0_2);
    }

    /// Each refusal is a sentence that names the file, the field and what would do;
    /// never a Rust value (a refused 0.1 once printed `Some("0.1")`).
    #[test]
    fn bad_buildspecs_are_refused_naming_the_file_the_field_and_what_is_accepted() {
        let refused = |text: &str| {
            let message = format!(
                "{:#}",
                Buildspec::parse("ci/buildspec.yml", text).unwrap_err()
            );
            assert!(message.starts_with("ci/buildspec.yml "), "{message}");
            assert!(!message.contains("Some("), "{message}");
            message
        };
        let message = refused("version: 0.3\nphases: {}\n");
        assert!(
            message.contains("`version: 0.3`")
                && message.contains("`version: 0.2`")
                && message.contains("`version: 0.1`"),
            "{message}"
        );
        let message = refused("phases: {}\n");
        assert!(
            message.contains("no `version`") && message.contains("0.1 and 0.2"),
            "{message}"
        );
        let message = refused("version: 0.2\nphases:\n  compile:\n    commands: [make]\n");
        assert!(
            message.contains("`compile`")
                && message.contains("`phases`")
                && message.contains("pre_build"),
            "{message}"
        );
        let message = refused("version: 0.2\nenv:\n  variables:\n    LIST: [a, b]\n");
        assert!(
            message.contains("`env: variables: LIST` a list")
                && message.contains("string, number or boolean"),
            "{message}"
        );
        let message = refused("version: 0.1\nenv:\n  variables:\n    A: b\n");
        assert!(
            message.contains("`environment_variables: plaintext:`"),
            "{message}"
        );
        let message = refused("version: 0.2\nenvironment_variables:\n  plaintext:\n    A: b\n");
        assert!(message.contains("`env: variables:`"), "{message}");
        let message = refused(
            "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: [3]\n",
        );
        assert!(
            message.contains("`runtime-versions: python`") && message.contains("3.12 or latest"),
            "{message}"
        );
        let message = refused("phases: [");
        assert!(
            message.contains("not a buildspec CodeBuild can read"),
            "{message}"
        );
    }

    #[test]
    fn variables_expand_in_both_spellings() {
        let lookup = |n: &str| (n == "ID").then(|| "42".to_owned());
        assert_eq!(expand("$ID", lookup), "42");
        assert_eq!(expand("a-${ID}-b $NOPE.", lookup), "a-42-b .");
        assert_eq!(expand("cost $", lookup), "cost $");
    }
}
