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
    /// What the build runs on, where the pipeline's definition asks for other than
    /// the project's own (`None`).
    pub machine: Option<Machine>,
}

/// A build's machine, as StartBuild's overrides name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// CodeBuild's compute type: `BUILD_GENERAL1_SMALL`, `BUILD_LAMBDA_2GB`, ...
    pub compute_type: String,
    /// CodeBuild's environment type: `ARM_CONTAINER` or `ARM_LAMBDA_CONTAINER`.
    pub environment_type: String,
    pub image: String,
    pub timeout_minutes: u32,
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
            let hint = if contexts.iter().any(|c| packaged_elsewhere(c)) {
                PACKAGE_HINT
            } else {
                ""
            };
            if detail.is_empty() {
                format!("phase {phase} {phase_status}{hint}")
            } else {
                format!("phase {phase} {phase_status}: {detail}{hint}")
            }
        }
        None => format!("build {status}"),
    };
    (reason, cause)
}

/// What a build that packaged elsewhere is told. Its role may write only under its
/// upload prefix in Sluice's bucket: S3 answers any other bucket or prefix with
/// AccessDenied, which CodeBuild reports as the command's exit status.
const PACKAGE_HINT: &str = ". A build may package only into the bucket named in \
    SLUICE_ARTIFACT_BUCKET, under the prefix in SLUICE_ARTIFACT_PREFIX: --s3-bucket \
    \"$SLUICE_ARTIFACT_BUCKET\" --s3-prefix \"${SLUICE_ARTIFACT_PREFIX}code\"";

/// Whether a failed phase's context shows a build packaging somewhere it may not.
/// CodeBuild's context says only which command failed and its exit status ("Error
/// while executing command: <command>. Reason: exit status 255"), never S3's answer;
/// so it is a packaging command (`aws cloudformation package`, `sam package`, `sam
/// deploy`) that does not name both variables. An AccessDenied in a context is
/// CodeBuild's own (uploading the artifacts, fetching the source), not the
/// buildspec's, and gets no such hint.
fn packaged_elsewhere(context: &str) -> bool {
    let Some((_, command)) = context.split_once("Error while executing command: ") else {
        return false;
    };
    let command = command
        .rsplit_once(". Reason: ")
        .map_or(command, |(command, _)| command);
    let packages = ["cloudformation package", "sam package", "sam deploy"]
        .iter()
        .any(|p| command.contains(p));
    packages
        && !(command.contains("SLUICE_ARTIFACT_BUCKET")
            && command.contains("SLUICE_ARTIFACT_PREFIX"))
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

    fn failed_with(command: &str) -> String {
        let phases = vec![(
            "BUILD".to_owned(),
            "FAILED".to_owned(),
            vec![format!(
                "COMMAND_EXECUTION_ERROR: Error while executing command: {command}. Reason: exit status 255"
            )],
        )];
        failure("FAILED", &phases).0
    }

    /// The CodePipeline tutorial's buildspec packages into the application's own
    /// bucket, which the build's role may not write; CodeBuild reports only the
    /// command and "exit status 255", so the reason names the variable to use.
    #[test]
    fn packaging_into_another_bucket_is_told_which_bucket_a_build_may_use() {
        for elsewhere in [
            "aws cloudformation package --template-file template.yaml --s3-bucket my-bucket --output-template-file outputSamTemplate.yaml",
            "sam package --resolve-s3 --output-template-file packaged.yaml",
            // The right bucket, but at its root: outside the build's prefix.
            "aws cloudformation package --template-file template.yaml --s3-bucket $SLUICE_ARTIFACT_BUCKET --output-template-file packaged.yaml",
        ] {
            let reason = failed_with(elsewhere);
            assert!(
                reason.starts_with("phase BUILD FAILED: COMMAND_EXECUTION_ERROR"),
                "{reason}"
            );
            assert!(
                reason.ends_with(
                    "A build may package only into the bucket named in SLUICE_ARTIFACT_BUCKET, \
                     under the prefix in SLUICE_ARTIFACT_PREFIX: --s3-bucket \"$SLUICE_ARTIFACT_BUCKET\" \
                     --s3-prefix \"${SLUICE_ARTIFACT_PREFIX}code\""
                ),
                "{reason}"
            );
        }
        for other in [
            "sam package --s3-bucket \"$SLUICE_ARTIFACT_BUCKET\" --s3-prefix \"${SLUICE_ARTIFACT_PREFIX}code\" --output-template-file packaged.yaml",
            "cargo test --locked",
        ] {
            let reason = failed_with(other);
            assert!(!reason.contains("SLUICE_ARTIFACT_PREFIX:"), "{reason}");
        }
        let phases = vec![(
            "UPLOAD_ARTIFACTS".to_owned(),
            "FAILED".to_owned(),
            vec!["CLIENT_ERROR: AccessDenied: Access Denied status code: 403".to_owned()],
        )];
        assert!(
            !failure("FAILED", &phases)
                .0
                .contains("SLUICE_ARTIFACT_BUCKET")
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
