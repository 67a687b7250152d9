//! The builder over CodeBuild, which only the functions use.

use aws_sdk_codebuild::config::http::HttpResponse;
use aws_sdk_codebuild::error::SdkError;
use aws_sdk_codebuild::operation::start_build::StartBuildError;
use aws_sdk_codebuild::types::{
    ArtifactNamespace, ArtifactPackaging, ArtifactsType, Build, ComputeType, EnvironmentType,
    EnvironmentVariable, EnvironmentVariableType, ProjectArtifacts, StatusType,
};

use sluice_core::BuildId;

use crate::aws::AwsError;

use super::{BuildOutcome, BuildReport, BuildRequest, Builder, StartedBuild, build_of, failure};

/// CodeBuild.
#[derive(Clone, Debug)]
pub struct CodeBuild {
    client: aws_sdk_codebuild::Client,
}

impl CodeBuild {
    /// Builds through `client`.
    pub fn new(client: aws_sdk_codebuild::Client) -> Self {
        Self { client }
    }
}

fn report(build: &Build) -> Option<BuildReport> {
    let id = BuildId::new(build.id()?);
    let status = build.build_status();
    let outcome = match status {
        Some(StatusType::Succeeded) => BuildOutcome::Succeeded,
        Some(StatusType::InProgress) | None => BuildOutcome::InProgress,
        Some(other) => {
            let phases: Vec<_> = build
                .phases()
                .iter()
                .map(|p| {
                    (
                        p.phase_type()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                        p.phase_status()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        p.contexts()
                            .iter()
                            .filter_map(|c| match (c.status_code(), c.message()) {
                                (Some(code), Some(m)) => Some(format!("{code}: {m}")),
                                (None, Some(m)) => Some(m.to_owned()),
                                (Some(code), None) => Some(code.to_owned()),
                                (None, None) => None,
                            })
                            .collect(),
                    )
                })
                .collect();
            let (reason, cause) = failure(other.as_str(), &phases);
            BuildOutcome::Failed { reason, cause }
        }
    };
    let environment = build
        .environment()
        .map(|e| e.environment_variables())
        .unwrap_or_default()
        .iter()
        .map(|v| (v.name().to_owned(), v.value().to_owned()))
        .collect();
    Some(BuildReport {
        id,
        outcome,
        log_url: build.logs().and_then(|l| l.deep_link()).map(str::to_owned),
        environment,
    })
}

impl Builder for CodeBuild {
    async fn start_build(&self, request: BuildRequest) -> Result<StartedBuild, AwsError> {
        let mut call = self
            .client
            .start_build()
            .project_name(&request.project)
            .source_version(&request.source_version)
            .idempotency_token(&request.idempotency_token);
        for (name, value) in &request.environment {
            let variable = EnvironmentVariable::builder()
                .name(name)
                .value(value)
                .r#type(EnvironmentVariableType::Plaintext)
                .build()
                .map_err(|e| AwsError::invalid_response("StartBuild", e.to_string()))?;
            call = call.environment_variables_override(variable);
        }
        if let Some(buildspec) = &request.buildspec {
            // A test leaves nothing: it must not overwrite the build's own artifact.
            let artifacts = ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .map_err(|e| AwsError::invalid_response("StartBuild", e.to_string()))?;
            call = call
                .buildspec_override(buildspec)
                .artifacts_override(artifacts);
        }
        if let Some(upload) = &request.upload {
            // The name given here, not the buildspec's: a build cannot choose to
            // upload where another build's artifact is.
            let artifacts = ProjectArtifacts::builder()
                .r#type(ArtifactsType::S3)
                .location(&upload.bucket)
                .path(&upload.path)
                .name(&upload.name)
                .namespace_type(ArtifactNamespace::None)
                .packaging(ArtifactPackaging::None)
                .override_artifact_name(false)
                .encryption_disabled(true)
                .build()
                .map_err(|e| AwsError::invalid_response("StartBuild", e.to_string()))?;
            call = call.artifacts_override(artifacts);
        }
        if let Some(machine) = &request.machine {
            call = call
                .compute_type_override(ComputeType::from(machine.compute_type.as_str()))
                .environment_type_override(EnvironmentType::from(machine.environment_type.as_str()))
                .image_override(&machine.image)
                .timeout_in_minutes_override(i32::try_from(machine.timeout_minutes).unwrap_or(480));
        }
        let output = call.send().await.map_err(start_build_error)?;
        let build = output
            .build_value()
            .ok_or_else(|| AwsError::invalid_response("StartBuild", "no build in the answer"))?;
        let id = build
            .id()
            .ok_or_else(|| AwsError::invalid_response("StartBuild", "the build has no id"))?;
        Ok(StartedBuild {
            id: BuildId::new(id),
            log_url: build.logs().and_then(|l| l.deep_link()).map(str::to_owned),
        })
    }

    async fn builds(&self, ids: Vec<BuildId>) -> Result<Vec<BuildReport>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .batch_get_builds()
            .set_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("BatchGetBuilds", e))?;
        Ok(output.builds().iter().filter_map(report).collect())
    }

    async fn find_build(
        &self,
        project: &str,
        execution: &str,
    ) -> Result<Option<StartedBuild>, AwsError> {
        let listed = self
            .client
            .list_builds_for_project()
            .project_name(project)
            .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListBuildsForProject", e))?;
        let ids: Vec<BuildId> = listed.ids().iter().take(100).map(BuildId::new).collect();
        // BatchGetBuilds takes a hundred ids at a time and answers in no set order.
        let mut reports = self.builds(ids.clone()).await?;
        reports.sort_by_key(|r| ids.iter().position(|id| id == &r.id));
        Ok(build_of(&reports, execution))
    }

    async fn stop_build(&self, id: &BuildId) -> Result<(), AwsError> {
        match self.client.stop_build().id(id.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = AwsError::from_sdk("StopBuild", e);
                // CodeBuild refuses to stop a build that already ended.
                if err.code.as_deref() == Some("InvalidInputException") {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// A refused `StartBuild`. `AccountLimitExceededException` there means the account's
/// concurrent-build quota is full (new accounts have a small one): a build ending
/// frees a place, so it is worth trying again, not a failure of the commit.
fn start_build_error(err: SdkError<StartBuildError, HttpResponse>) -> AwsError {
    let mut err = AwsError::from_sdk("StartBuild", err);
    if err.code.as_deref() == Some("AccountLimitExceededException") {
        err.retryable = true;
    }
    err
}

#[cfg(test)]
mod tests {
    use aws_sdk_codebuild::error::ErrorMetadata;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn refused(code: &str) -> AwsError {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("refused")
            .build();
        let response = HttpResponse::new(400.try_into().expect("a status"), SdkBody::from(""));
        start_build_error(SdkError::service_error(
            StartBuildError::generic(meta),
            response,
        ))
    }

    #[test]
    fn a_full_build_quota_is_tried_again_and_a_missing_project_is_not() {
        assert!(refused("AccountLimitExceededException").retryable);
        assert!(!refused("ResourceNotFoundException").retryable);
        assert!(!refused("InvalidInputException").retryable);
    }
}
