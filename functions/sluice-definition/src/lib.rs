//! A pipeline's one definition (`sluice.yaml`): the source, the build and the
//! stages in order, each with its own options. Read and checked here, in one place,
//! the way ripgrep turns its low-level arguments into high-level ones: the file's
//! shape ([`raw`]) first, then the core's [`Pipeline`] made of it ([`lower`]). A
//! problem is reported with the file, line and field that say it.
//!
//! The functions, local mode and the CLI read this one shape; its JSON Schema
//! ([`schema`]) is published as `docs/sluice.schema.json`.

use sluice_core::Pipeline;

mod locate;
mod lower;
pub mod paths;
pub mod raw;
mod stack;

pub use locate::{Place, Places};
pub use lower::{Deployment, Problem};
pub use raw::Raw;
pub use stack::{ENCODED_MAX, encode};

/// The longest a build runs unless the definition says otherwise, in minutes: the
/// build project's own timeout.
pub const BUILD_MINUTES: u32 = 30;

/// The image of a build machine unless the definition names one: the build
/// project's own, CodeBuild's Amazon Linux arm64 standard image.
pub const STANDARD_IMAGE: &str = "aws/codebuild/amazonlinux-aarch64-standard:3.0";

/// A definition that cannot be used: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.shown())]
pub struct DefinitionError {
    /// The file, as the person named it.
    pub file: String,
    pub place: Option<Place>,
    /// The field, as a path (`stages[1].windows.when`), where known.
    pub field: Option<String>,
    pub message: String,
}

impl DefinitionError {
    fn shown(&self) -> String {
        let mut shown = self.file.clone();
        if let Some(place) = self.place {
            shown.push_str(&format!(":{}:{}", place.line, place.column));
        }
        shown.push_str(": ");
        if let Some(field) = &self.field {
            shown.push_str(field);
            shown.push_str(": ");
        }
        shown.push_str(&self.message);
        shown
    }
}

/// A checked definition.
#[derive(Clone, Debug)]
pub struct Definition {
    raw: Raw,
}

/// The stack parameters of Sluice before the definition, and where the definition
/// says the same: a file (or a command line) using one is refused with its
/// equivalent.
pub const FLAT_PARAMETERS: [(&str, &str); 37] = [
    ("RepositoryName", "source.repository"),
    ("CreateRepository", "source.create"),
    ("BranchName", "source.branch"),
    ("ApprovalEmails", "approval.emails"),
    ("ApplicationName", "application"),
    ("Stages", "stages, a list of `- name: <stage>`"),
    (
        "ApprovalStages",
        "`approval: true` on each stage that waits",
    ),
    ("SelfApprovalStages", "`self_approval: true` on the stage"),
    (
        "RemoteStages",
        "`account: <12 digits>` on each stage in another account",
    ),
    (
        "RemoteAccountIds",
        "`account: <12 digits>` on each stage in another account",
    ),
    ("BuildSpec", "build.buildspec"),
    ("IncludePaths", "source.paths.include"),
    ("ExcludePaths", "source.paths.exclude"),
    ("SiteStages", "`site: {bucket: ...}` on each site stage"),
    ("SiteBucket", "site.bucket on each site stage"),
    ("SiteFolder", "site.folder on each site stage"),
    ("SiteDistribution", "site.distribution on each site stage"),
    (
        "SiteEntryDocument",
        "site.entry_document on each site stage",
    ),
    (
        "TestStages",
        "`test: smoke` or `test: {buildspec: ...}` on each tested stage",
    ),
    ("TestBuildspec", "test.buildspec on each tested stage"),
    ("Retries", "retries.max on each stage"),
    (
        "RetryBackoffSeconds",
        "retries.backoff_seconds on each stage",
    ),
    (
        "AlarmStages",
        "`alarms: {names: [...]}` on each watched stage",
    ),
    ("AlarmNames", "alarms.names on each watched stage"),
    ("AlarmWatchMinutes", "alarms.minutes on each watched stage"),
    (
        "WindowStages",
        "`windows: {when: ...}` on each stage with windows",
    ),
    ("DeployWindows", "windows.when on each stage with windows"),
    (
        "WindowTimeZone",
        "windows.time_zone on each stage with windows",
    ),
    ("OperatorAccountIds", "operator_accounts"),
    ("ApprovalPage", "approval.page"),
    ("ApprovalTimeoutHours", "approval.timeout_hours"),
    ("ArtifactRetentionDays", "retention.artifact_days"),
    ("ReleasesKept", "retention.releases_kept"),
    ("LogRetentionDays", "retention.log_days"),
    ("ApprovalAlarmMinutes", "approval.alarm_minutes"),
    ("StuckAlarmMinutes", "alarms.stuck_minutes"),
    (
        "LocalDriverUrl",
        "nothing: local mode sets its own endpoints",
    ),
];

/// What the definition says in place of the flat stack parameter `name`, if it was one.
pub fn flat_parameter(name: &str) -> Option<&'static str> {
    FLAT_PARAMETERS
        .iter()
        .find(|(flat, _)| *flat == name)
        .map(|(_, now)| *now)
}

impl Definition {
    /// Reads and checks the definition `text`, from the file `file` (for messages).
    pub fn from_yaml(file: &str, text: &str) -> Result<Definition, DefinitionError> {
        let places = Places::of(text);
        let error =
            |field: Option<String>, place: Option<Place>, message: String| DefinitionError {
                file: file.to_owned(),
                place: place.or_else(|| field.as_deref().and_then(|f| places.find(f))),
                field,
                message,
            };
        // A file written for the stack parameters of before is told what to write now.
        if let Ok(serde_yaml_ng::Value::Mapping(top)) =
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
        {
            for key in top.keys().filter_map(serde_yaml_ng::Value::as_str) {
                if let Some(now) = flat_parameter(key) {
                    return Err(error(
                        Some(key.to_owned()),
                        None,
                        format!(
                            "is a stack parameter of Sluice before its pipeline definition; \
                             the definition says it as {now}"
                        ),
                    ));
                }
            }
        }
        let raw: Raw = serde_yaml_ng::from_str(text).map_err(|e| {
            let place = e.location().map(|l| Place {
                line: l.line(),
                column: l.column(),
            });
            let message = e.to_string();
            // serde_yaml_ng says "<path>: <what> at line L column C"; the place is
            // said once, in front.
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_owned(),
                None => message,
            };
            let (field, message) = match message.split_once(": ") {
                Some((path, what)) if !path.contains(' ') => {
                    (Some(path.to_owned()), what.to_owned())
                }
                _ => (None, message),
            };
            error(field, place, message)
        })?;
        let definition = Definition { raw };
        definition
            .pipeline(&Deployment::default())
            .map_err(|p| error(Some(p.field), None, p.message))?;
        Ok(definition)
    }

    /// The definition `raw`, made by a program rather than read from a file (`what`
    /// names it in messages), checked as a file's is.
    pub fn from_raw(what: &str, raw: Raw) -> Result<Definition, DefinitionError> {
        let definition = Definition { raw };
        definition
            .pipeline(&Deployment::default())
            .map_err(|p| DefinitionError {
                file: what.to_owned(),
                place: None,
                field: Some(p.field),
                message: p.message,
            })?;
        Ok(definition)
    }

    /// The definition as the functions receive it: compact JSON of the same shape,
    /// every default filled in.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.raw).unwrap_or_default()
    }

    /// Reads the JSON form [`Definition::to_json`] wrote (the functions' environment).
    pub fn from_json(text: &str) -> Result<Definition, DefinitionError> {
        let failed = |field: Option<String>, message: String| DefinitionError {
            file: "SLUICE_DEFINITION".to_owned(),
            place: None,
            field,
            message,
        };
        let raw: Raw = serde_json::from_str(text).map_err(|e| failed(None, e.to_string()))?;
        let definition = Definition { raw };
        definition
            .pipeline(&Deployment::default())
            .map_err(|p| failed(Some(p.field), p.message))?;
        Ok(definition)
    }

    /// The pipeline, its stages' roles where `roles` puts them.
    pub fn pipeline(&self, roles: &Deployment) -> Result<Pipeline, Problem> {
        lower::pipeline(&self.raw, roles)
    }

    /// The definition as written, every default filled in.
    pub fn raw(&self) -> &Raw {
        &self.raw
    }
}

/// The JSON Schema of a definition file.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Raw)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
