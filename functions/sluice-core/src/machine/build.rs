//! The build: the commit's CodeBuild build starts, succeeds or fails, and its artifact
//! is recorded before the first stage starts.

use super::{Rejected, Run};
use crate::BuildId;
use crate::event::Command;
use crate::model::{Artifact, BuildStatus, Status};

impl Run {
    pub(super) fn build_started(
        &mut self,
        build_id: BuildId,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        self.check_build(&build_id)?;
        if self.execution.build.status == BuildStatus::Requested {
            self.record_build(build_id, log_url);
            self.execution.build.status = BuildStatus::Running;
            let what = format!("build {} started", self.build_name());
            self.log(what);
        }
        Ok(())
    }

    /// Cancelled before CodeBuild answered StartBuild, there was no build
    /// to stop; the one that starts now is stopped, once.
    pub(super) fn build_started_after_cancel(
        &mut self,
        build_id: BuildId,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        if self.execution.status != Status::Cancelled || self.execution.build.id.is_some() {
            return Ok(());
        }
        self.check_build(&build_id)?;
        self.record_build(build_id.clone(), log_url);
        let what = format!(
            "build {} started after the cancel; stopping it",
            self.build_name()
        );
        self.log(what);
        self.commands.push(Command::StopBuild { build_id });
        Ok(())
    }

    pub(super) fn build_succeeded(
        &mut self,
        build_id: BuildId,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        self.check_build(&build_id)?;
        if self.execution.status == Status::Building
            && self.execution.build.status != BuildStatus::Succeeded
        {
            self.record_build(build_id, log_url);
            self.execution.build.status = BuildStatus::Succeeded;
            let what = format!("build {} succeeded", self.build_name());
            self.log(what);
            self.commands.push(Command::PinArtifact);
        }
        Ok(())
    }

    pub(super) fn artifact_pinned(&mut self, artifact: Artifact) {
        if self.awaits_artifact() {
            let count = artifact.objects().count();
            self.execution.artifact = Some(artifact);
            self.execution.status = Status::Deploying;
            self.log(format!("artifact recorded ({count} objects)"));
            self.begin_stage(0);
        }
    }

    pub(super) fn artifact_rejected(&mut self, reason: String) {
        if self.awaits_artifact() {
            self.fail(
                None,
                format!("the build's artifact cannot be deployed: {reason}"),
            );
        }
    }

    pub(super) fn artifact_not_pinned(&mut self) {
        if self.awaits_artifact() {
            self.log("artifact not recorded yet, recording it".into());
            self.commands.push(Command::PinArtifact);
        }
    }

    pub(super) fn build_failed(
        &mut self,
        build_id: Option<BuildId>,
        reason: String,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        if let Some(id) = &build_id {
            self.check_build(id)?;
        }
        if self.execution.status == Status::Building
            && self.execution.build.status != BuildStatus::Succeeded
        {
            if let Some(id) = build_id {
                self.record_build(id, log_url);
            }
            self.execution.build.status = BuildStatus::Failed;
            self.execution.build.reason = Some(reason.clone());
            self.fail(None, format!("build failed: {reason}"));
        }
        Ok(())
    }

    pub(super) fn build_never_started(&mut self) {
        if self.execution.build.status == BuildStatus::Requested {
            self.execution.build.status = BuildStatus::Failed;
            let reason = "the build was never started: CodeBuild has no record of it; \
                          push again to retry"
                .to_owned();
            self.execution.build.reason = Some(reason.clone());
            self.fail(None, reason);
        }
    }

    /// Built, and waiting for its artifact to be recorded.
    fn awaits_artifact(&self) -> bool {
        self.execution.status == Status::Building
            && self.execution.build.status == BuildStatus::Succeeded
            && self.execution.artifact.is_none()
    }

    /// A build event for another build than the one recorded cannot be ours.
    fn check_build(&self, build_id: &BuildId) -> Result<(), Rejected> {
        match &self.execution.build.id {
            Some(known) if known != build_id => Err(Rejected::ForeignBuild {
                expected: known.clone(),
                got: build_id.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn record_build(&mut self, build_id: BuildId, log_url: Option<String>) {
        let build = &mut self.execution.build;
        build.id = Some(build_id);
        if log_url.is_some() {
            build.log_url = log_url;
        }
        self.changed = true;
    }

    fn build_name(&self) -> &str {
        self.execution.build.id.as_deref().unwrap_or("(unknown)")
    }
}
