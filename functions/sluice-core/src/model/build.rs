//! The commit's build, and the artifact it left: what every stage deploys.

use crate::BuildId;
use serde::{Deserialize, Serialize};

use super::is_zero;
use crate::ids::{StageName, Timestamp};

/// Where the build stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// `StartBuild` was asked for; no build id is known yet.
    Requested,
    Running,
    Succeeded,
    Failed,
}

impl BuildStatus {
    /// The status in words, as people read it.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Requested => "requested",
            BuildStatus::Running => "running",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CodeBuild build of the commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub status: BuildStatus,
    pub id: Option<BuildId>,
    pub log_url: Option<String>,
    pub reason: Option<String>,
    /// How many times the build was retried (`sluice retry`); 0 for the first build.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// When this attempt's build was asked for, if not when the execution was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    /// The secret part of the build's upload area, `artifacts/<pipeline>/<id>-<upload>/`:
    /// no other build can find, read or overwrite what this one uploads. Executions
    /// from before it existed upload to `artifacts/<pipeline>/<id>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// One object of a build's artifact: since releases, the release's copy of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactObject {
    /// The key in Sluice's bucket.
    pub key: String,
    pub etag: String,
    /// The S3 version id, in a versioned bucket.
    pub version: Option<String>,
    /// The SHA-256 of its bytes (lowercase hex): set for a release's copies, which
    /// live at `releases/<pipeline>/sha256/<digest>` and are written only by Sluice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One file of a site in the build's artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteObject {
    /// Its path in the artifact, such as `site/index.html`.
    pub path: String,
    pub size: u64,
    pub object: ArtifactObject,
}

/// What an execution deploys, recorded once when its build succeeded: every stage
/// deploys these objects and no others, so what an approver saw is what goes live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// `packaged.yaml`; a pipeline of site stages only has none.
    pub template: Option<ArtifactObject>,
    /// `<stage>.json` of each stage that has one.
    pub configurations: Vec<(StageName, ArtifactObject)>,
    /// Every object of the bucket that the template points to (code, definitions).
    pub code: Vec<ArtifactObject>,
    /// Every file of the site stages' folders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site: Vec<SiteObject>,
    /// The release's manifest (`releases/<pipeline>/manifests/<id>.json`): what was
    /// built, from which commit and build, every object's digest and version. Set for
    /// releases made since Sluice copies builds into releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ArtifactObject>,
    /// The SHA-256 of each Lambda function's code, by the logical id of the resource
    /// that deploys it: what `GetFunction`'s `CodeSha256` says once it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<(String, String)>,
}

impl Artifact {
    /// Every object of the artifact.
    pub fn objects(&self) -> impl Iterator<Item = &ArtifactObject> {
        self.template
            .iter()
            .chain(self.configurations.iter().map(|(_, o)| o))
            .chain(&self.code)
            .chain(self.site.iter().map(|s| &s.object))
    }

    /// The files of the site in `folder`, each with its path in the site.
    pub fn site_files<'a>(
        &'a self,
        folder: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a SiteObject)> + 'a {
        self.site.iter().filter_map(move |s| {
            let path = s.path.strip_prefix(folder)?.strip_prefix('/')?;
            Some((path, s))
        })
    }

    /// The configuration object of `stage`, if the build left one.
    pub fn configuration(&self, stage: &StageName) -> Option<&ArtifactObject> {
        self.configurations
            .iter()
            .find(|(s, _)| s == stage)
            .map(|(_, o)| o)
    }
}
