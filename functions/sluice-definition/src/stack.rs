//! What the Sluice stack is given of a definition: the definition itself, for its
//! functions (compressed: a Lambda function's environment and a CloudFormation
//! parameter each hold 4 KB), and the few settings CloudFormation itself needs to
//! make the stack's resources (each stage's roles, the build project, the topic's
//! subscriptions, the alarms), derived here and nowhere else.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::raw::Page;
use crate::{Definition, DefinitionError};

/// The most bytes the definition's JSON may inflate to: far over any real one, so
/// that a forged parameter cannot make a function inflate without bound.
const INFLATED_MAX: usize = 256 * 1024;

/// The most a parameter value or a function's whole environment holds.
pub const ENCODED_MAX: usize = 3 * 1024;

/// `json` deflated, in base64: how the stack carries a definition's JSON.
pub fn encode(json: &str) -> String {
    STANDARD.encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 9))
}

impl Definition {
    /// The definition as the functions receive it (`SLUICE_DEFINITION`, the stack's
    /// `Definition` parameter): its JSON, deflated, in base64.
    pub fn encoded(&self) -> String {
        encode(&self.to_json())
    }

    /// Reads what [`Definition::encoded`] wrote.
    pub fn from_encoded(text: &str) -> Result<Definition, DefinitionError> {
        let failed = |message: String| DefinitionError {
            file: "SLUICE_DEFINITION".to_owned(),
            place: None,
            field: None,
            message,
        };
        let deflated = STANDARD.decode(text.trim()).map_err(|e| {
            failed(format!(
                "is not base64 ({e}); deploy it as `sluice definition parameters` writes it"
            ))
        })?;
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, INFLATED_MAX)
            .map_err(|e| failed(format!("does not inflate ({:?}); deploy it as `sluice definition parameters` writes it", e.status)))?;
        let json =
            String::from_utf8(json).map_err(|_| failed("is not UTF-8 once inflated".to_owned()))?;
        Definition::from_json(&json)
    }

    /// The Sluice stack's parameters for this definition: `Definition` and what
    /// CloudFormation derives resources from. The stack's own `AdministratorArn` is
    /// not among them: it is who installs Sluice, not what the pipeline is.
    pub fn parameters(&self) -> Result<Vec<(&'static str, String)>, DefinitionError> {
        let raw = &self.raw;
        let refuse = |field: &str, message: String| DefinitionError {
            file: "the definition".to_owned(),
            place: None,
            field: Some(field.to_owned()),
            message,
        };
        let encoded = self.encoded();
        if encoded.len() > ENCODED_MAX {
            return Err(refuse(
                "stages",
                format!(
                    "the definition is {} bytes as the functions receive it, over the {ENCODED_MAX} \
                     a function's environment leaves it; shorten its lists (path patterns, alarm \
                     names) or split the pipeline",
                    encoded.len()
                ),
            ));
        }
        let names = |keep: &dyn Fn(&crate::raw::Stage) -> bool| {
            raw.stages
                .iter()
                .filter(|s| keep(s))
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        // The stack grants site stages one bucket pattern (and one distribution):
        // each site stage must name the same, '*' standing for the stage.
        let shared = |field: &str, of: &dyn Fn(&crate::raw::Site) -> Option<String>| {
            let mut values = raw
                .stages
                .iter()
                .filter_map(|s| s.site.as_ref())
                .map(of)
                .collect::<Vec<_>>();
            values.dedup();
            match values.as_slice() {
                [] => Ok(String::new()),
                [one] => Ok(one.clone().unwrap_or_default()),
                _ => Err(refuse(
                    field,
                    format!(
                        "the site stages name different values ({}); the Sluice stack grants \
                         them one, '*' standing for the stage (such as hello-web-*)",
                        values
                            .iter()
                            .map(|v| v.clone().unwrap_or_else(|| "none".to_owned()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        };
        let remote: Vec<(&str, &str)> = raw
            .stages
            .iter()
            .filter_map(|s| s.account.as_deref().map(|a| (s.name.as_str(), a)))
            .collect();
        Ok(vec![
            ("Definition", encoded),
            ("RepositoryName", raw.source.repository.clone()),
            ("CreateRepository", raw.source.create.to_string()),
            ("BranchName", raw.source.branch.clone()),
            ("ApplicationName", raw.application.clone()),
            ("Stages", names(&|_| true)),
            ("ApprovalStages", names(&|s| s.approval)),
            ("ApprovalEmails", raw.approval.emails.join(",")),
            (
                "ApprovalPage",
                match raw.approval.page {
                    Page::Link => "link",
                    Page::None => "none",
                }
                .to_owned(),
            ),
            (
                "RemoteStages",
                remote.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(","),
            ),
            (
                "RemoteAccountIds",
                remote.iter().map(|(_, a)| *a).collect::<Vec<_>>().join(","),
            ),
            ("BuildSpec", raw.build.buildspec.clone()),
            ("SiteStages", names(&|s| s.site.is_some())),
            (
                "SiteBucket",
                shared("stages[].site.bucket", &|s| Some(s.bucket.clone()))?,
            ),
            (
                "SiteDistribution",
                shared("stages[].site.distribution", &|s| s.distribution.clone())?,
            ),
            ("TestStages", names(&|s| s.test.is_some())),
            ("AlarmStages", names(&|s| s.alarms.is_some())),
            (
                "ArtifactRetentionDays",
                raw.retention.artifact_days.to_string(),
            ),
            ("LogRetentionDays", raw.retention.log_days.to_string()),
            (
                "ApprovalAlarmMinutes",
                raw.approval.alarm_minutes.to_string(),
            ),
            ("StuckAlarmMinutes", raw.alarms.stuck_minutes.to_string()),
        ])
    }
}
