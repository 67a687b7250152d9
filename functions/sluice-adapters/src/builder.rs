//! Builds: starting a commit's build and asking how builds went (CodeBuild).

use std::future::Future;

use sluice_core::{BuildId, Cause};

use crate::aws::AwsError;

/// A build to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    pub project: String,
    /// The commit to build.
    pub source_version: String,
    /// Repeating a request with the same token starts no second build.
    pub idempotency_token: String,
    pub environment: Vec<(String, String)>,
    /// Set for a build that runs another buildspec of the repository than the
    /// project's (a post-deploy test), and leaves no artifact.
    pub buildspec: Option<String>,
    /// Where the build leaves its artifact, whatever its buildspec names it; the
    /// project's own setting if `None`.
    pub upload: Option<Upload>,
}

/// An S3 folder a build's artifact goes to: `s3://bucket/path/name/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    pub path: String,
    pub name: String,
}

/// A build that was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedBuild {
    pub id: BuildId,
    pub log_url: Option<String>,
}

/// How a build went, as far as is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildOutcome {
    InProgress,
    Succeeded,
    /// Failed, stopped, faulted or timed out; `reason` names the phase, and `cause`
    /// says whether the build machine failed rather than what it ran.
    Failed {
        reason: String,
        cause: Cause,
    },
}

/// One build's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildReport {
    pub id: BuildId,
    pub outcome: BuildOutcome,
    pub log_url: Option<String>,
    /// The build's environment variables, StartBuild's overrides among them.
    pub environment: Vec<(String, String)>,
}

/// Starts and inspects builds.
pub trait Builder: Clone + Send + Sync + 'static {
    fn start_build(
        &self,
        request: BuildRequest,
    ) -> impl Future<Output = Result<StartedBuild, AwsError>> + Send;

    /// Reports for the builds that exist among `ids`.
    fn builds(
        &self,
        ids: Vec<BuildId>,
    ) -> impl Future<Output = Result<Vec<BuildReport>, AwsError>> + Send;

    /// Stops a build; stopping a finished build does nothing.
    fn stop_build(&self, id: &BuildId) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The newest build of `project` among its latest hundred that was started for
    /// execution `execution` (its `SLUICE_EXECUTION_ID`), not as a post-deploy test.
    /// CodeBuild keeps an idempotency token five minutes: a start taken up later
    /// looks here first, or it would start a second build.
    fn find_build(
        &self,
        project: &str,
        execution: &str,
    ) -> impl Future<Output = Result<Option<StartedBuild>, AwsError>> + Send;
}

/// The build among `reports` started for execution `execution`, not as a test.
pub fn build_of(reports: &[BuildReport], execution: &str) -> Option<StartedBuild> {
    let has = |r: &BuildReport, name: &str| r.environment.iter().any(|(n, _)| n == name);
    reports
        .iter()
        .find(|r| {
            r.environment
                .iter()
                .any(|(n, v)| n == "SLUICE_EXECUTION_ID" && v == execution)
                && !has(r, "SLUICE_TEST_STAGE")
        })
        .map(|r| StartedBuild {
            id: r.id.clone(),
            log_url: r.log_url.clone(),
        })
}

/// Build phases that end before the buildspec runs: a failure in one of them is the
/// build machine's (no capacity, an image that did not pull, a source not fetched),
/// not the application's. CodeBuild's `BuildPhaseType` values.
const BEFORE_THE_BUILDSPEC: [&str; 4] = ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE"];

/// Why a finished build failed, in words: the first phase that did not succeed; and
/// its cause, from CodeBuild's own values: a build that ended in `FAULT` (CodeBuild's
/// error, not the buildspec's) or failed before the buildspec ran was the moment's.
/// `status` is the build's `StatusType`, `phases` each phase's `BuildPhaseType`,
/// its `StatusType` and its contexts.
pub fn failure(status: &str, phases: &[(String, String, Vec<String>)]) -> (String, Cause) {
    let failed = phases
        .iter()
        .find(|(_, phase_status, _)| phase_status != "SUCCEEDED" && !phase_status.is_empty());
    let machine = status == "FAULT"
        || failed.is_some_and(|(phase, _, _)| BEFORE_THE_BUILDSPEC.contains(&phase.as_str()));
    let cause = if machine {
        Cause::Moment
    } else {
        Cause::Change
    };
    let reason = match failed {
        Some((phase, phase_status, contexts)) => {
            let detail = contexts
                .iter()
                .filter(|c| !c.trim().is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if detail.is_empty() {
                format!("phase {phase} {phase_status}")
            } else {
                format!("phase {phase} {phase_status}: {detail}")
            }
        }
        None => format!("build {status}"),
    };
    (reason, cause)
}

#[cfg(feature = "codebuild")]
mod codebuild;
#[cfg(feature = "codebuild")]
pub use codebuild::CodeBuild;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_names_the_first_phase_that_did_not_succeed() {
        let phases = vec![
            ("INSTALL".into(), "SUCCEEDED".into(), vec![]),
            (
                "BUILD".into(),
                "FAILED".into(),
                vec![
                    "COMMAND_EXECUTION_ERROR: Error while executing command: cargo test. Reason: exit status 101"
                        .into(),
                ],
            ),
            ("POST_BUILD".into(), "SUCCEEDED".into(), vec![]),
        ];
        assert_eq!(
            failure("FAILED", &phases),
            (
                "phase BUILD FAILED: COMMAND_EXECUTION_ERROR: Error while executing command: cargo test. Reason: exit status 101"
                    .to_owned(),
                Cause::Change
            )
        );
        assert_eq!(
            failure("TIMED_OUT", &[]),
            ("build TIMED_OUT".to_owned(), Cause::Change)
        );
    }

    #[test]
    fn a_build_machine_that_failed_before_the_buildspec_or_faulted_is_the_moment() {
        for phase in ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE"] {
            let phases = vec![(
                phase.to_owned(),
                "FAILED".to_owned(),
                vec!["BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE: unable to pull".to_owned()],
            )];
            assert_eq!(failure("FAILED", &phases).1, Cause::Moment, "{phase}");
        }
        assert_eq!(
            failure("FAULT", &[]),
            ("build FAULT".to_owned(), Cause::Moment)
        );
        // The words alone decide nothing: a test that prints "PROVISIONING" failed.
        let phases = vec![(
            "BUILD".to_owned(),
            "FAILED".to_owned(),
            vec!["phase PROVISIONING FAILED: Rate exceeded".to_owned()],
        )];
        assert_eq!(failure("FAILED", &phases).1, Cause::Change);
    }
}
