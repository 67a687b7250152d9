//! What AWS names the work Sluice starts: a CodeBuild build, and a stage's planned
//! deploy (a CloudFormation change set, or a site stage's bucket). Kept as the
//! strings AWS gives; each is its own type, so one is never passed for another.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::site::is_bucket_name;

/// A CodeBuild build's id, `project:uuid`, as StartBuild answers it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BuildId(String);

impl BuildId {
    /// The id CodeBuild gave (StartBuild's answer, or an event's `build-id` without
    /// its ARN prefix).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a stage's deploy is, once planned: a CloudFormation change set (its ARN, as
/// CreateChangeSet answers it), or, for a site stage, the bucket its plan was made
/// against (fixed then, so a bucket read from a stack's output is not read again
/// between the approval and the deploy). Recorded as the change set's ARN or as
/// `s3://<bucket>/`, as state has always held it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChangeSetId {
    /// A CloudFormation change set.
    Stack(String),
    /// A site stage's bucket.
    Site { bucket: String },
}

impl ChangeSetId {
    /// The change set CloudFormation named `id`.
    pub fn stack(id: impl Into<String>) -> Self {
        Self::Stack(id.into())
    }

    /// A site stage's deploy to `bucket`.
    pub fn site(bucket: impl Into<String>) -> Self {
        Self::Site {
            bucket: bucket.into(),
        }
    }

    /// The bucket a site stage's deploy was planned against, if this is one.
    pub fn site_bucket(&self) -> Option<&str> {
        match self {
            Self::Site { bucket } => Some(bucket),
            Self::Stack(_) => None,
        }
    }

    /// The CloudFormation change set, if this is one.
    pub fn change_set(&self) -> Option<&str> {
        match self {
            Self::Stack(id) => Some(id),
            Self::Site { .. } => None,
        }
    }
}

impl From<String> for ChangeSetId {
    fn from(recorded: String) -> Self {
        let bucket = recorded
            .strip_prefix("s3://")
            .and_then(|r| r.strip_suffix('/'))
            .filter(|b| is_bucket_name(b));
        match bucket {
            Some(bucket) => Self::site(bucket),
            None => Self::Stack(recorded),
        }
    }
}

impl From<ChangeSetId> for String {
    fn from(id: ChangeSetId) -> Self {
        id.to_string()
    }
}

impl fmt::Display for ChangeSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stack(id) => f.write_str(id),
            Self::Site { bucket } => write!(f, "s3://{bucket}/"),
        }
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for BuildId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for BuildId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for BuildId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<String> for BuildId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for BuildId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<&str> for ChangeSetId {
    fn from(recorded: &str) -> Self {
        Self::from(recorded.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_deploy_reads_back_as_state_has_always_held_it() {
        let arn = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/sluice-1/abc";
        let stack: ChangeSetId = serde_json::from_value(serde_json::json!(arn)).unwrap();
        assert_eq!(stack.change_set(), Some(arn));
        assert_eq!(stack.site_bucket(), None);
        assert_eq!(
            serde_json::to_value(&stack).unwrap(),
            serde_json::json!(arn)
        );

        let site: ChangeSetId =
            serde_json::from_value(serde_json::json!("s3://hello-web-staging/")).unwrap();
        assert_eq!(site, ChangeSetId::site("hello-web-staging"));
        assert_eq!(site.site_bucket(), Some("hello-web-staging"));
        assert_eq!(
            serde_json::to_value(&site).unwrap(),
            serde_json::json!("s3://hello-web-staging/")
        );
        // Not a bucket: kept as it was recorded, never taken for a site.
        for odd in ["s3://Bad_Bucket/", "s3://a/b/", "s3://hello-web"] {
            assert_eq!(ChangeSetId::from(odd).site_bucket(), None, "{odd}");
            assert_eq!(ChangeSetId::from(odd).to_string(), odd);
        }
        let build: BuildId = serde_json::from_value(serde_json::json!("hello:1-2")).unwrap();
        assert_eq!(build.as_str(), "hello:1-2");
        assert_eq!(
            serde_json::to_value(&build).unwrap(),
            serde_json::json!("hello:1-2")
        );
    }
}
