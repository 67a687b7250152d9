//! The CodeBuild fake: a build per idempotency token, run until told how it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_core::BuildId;

use super::{Faults, lock};
use crate::aws::AwsError;
use crate::builder::{BuildOutcome, BuildReport, BuildRequest, Builder, StartedBuild};

/// CodeBuild: builds start once per idempotency token and run until told how they end.
#[derive(Clone, Default)]
pub struct MemoryBuilder {
    requests: Arc<Mutex<Vec<BuildRequest>>>,
    /// How many of `requests` CodeBuild no longer matches by token: it keeps an
    /// idempotency token five minutes only.
    forgotten: Arc<Mutex<usize>>,
    outcomes: Arc<Mutex<HashMap<String, BuildOutcome>>>,
    stopped: Arc<Mutex<Vec<String>>>,
    faults: Faults,
}

impl MemoryBuilder {
    /// A builder whose calls fail as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Every build started, in order (one per idempotency token).
    pub fn requests(&self) -> Vec<BuildRequest> {
        lock(&self.requests).clone()
    }

    /// What `BatchGetBuilds` says about `build_id` from now on.
    pub fn set_outcome(&self, build_id: &str, outcome: BuildOutcome) {
        lock(&self.outcomes).insert(build_id.to_owned(), outcome);
    }

    /// Every build stopped, in order.
    pub fn stopped(&self) -> Vec<String> {
        lock(&self.stopped).clone()
    }

    /// Five minutes pass for CodeBuild: it forgets every idempotency token so far, and
    /// a start with one of them starts another build.
    /// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html
    pub fn forget_tokens(&self) {
        *lock(&self.forgotten) = lock(&self.requests).len();
    }

    /// The id of the build started for `token`, if one was.
    pub fn build_for(&self, token: &str) -> Option<String> {
        lock(&self.requests)
            .iter()
            .position(|r| r.idempotency_token == token)
            .map(|i| build_id(i + 1))
    }
}

fn build_id(n: usize) -> String {
    format!("sluice-build:{n:08}")
}

impl Builder for MemoryBuilder {
    async fn start_build(&self, request: BuildRequest) -> Result<StartedBuild, AwsError> {
        self.faults.check("StartBuild")?;
        let n = {
            let forgotten = *lock(&self.forgotten);
            let mut requests = lock(&self.requests);
            match requests
                .iter()
                .enumerate()
                .skip(forgotten)
                .position(|(_, r)| r.idempotency_token == request.idempotency_token)
            {
                Some(i) => forgotten + i + 1,
                None => {
                    requests.push(request);
                    requests.len()
                }
            }
        };
        self.faults.check_after("StartBuild")?;
        Ok(StartedBuild {
            id: BuildId::new(build_id(n)),
            log_url: Some(format!("https://logs.example/{}", build_id(n))),
        })
    }

    async fn builds(&self, ids: Vec<BuildId>) -> Result<Vec<BuildReport>, AwsError> {
        self.faults.check("BatchGetBuilds")?;
        let requests = lock(&self.requests);
        let outcomes = lock(&self.outcomes);
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                let n = (1..=requests.len()).find(|n| build_id(*n) == *id)?;
                Some(BuildReport {
                    outcome: outcomes
                        .get(id.as_str())
                        .cloned()
                        .unwrap_or(BuildOutcome::InProgress),
                    log_url: Some(format!("https://logs.example/{id}")),
                    environment: requests[n - 1].environment.clone(),
                    id,
                })
            })
            .collect())
    }

    async fn find_build(
        &self,
        _project: &str,
        execution: &str,
    ) -> Result<Option<StartedBuild>, AwsError> {
        self.faults.check("ListBuildsForProject")?;
        let ids: Vec<BuildId> = (1..=lock(&self.requests).len())
            .rev()
            .map(|n| BuildId::new(build_id(n)))
            .collect();
        let reports = self.builds(ids).await?;
        Ok(crate::builder::build_of(&reports, execution))
    }

    async fn stop_build(&self, id: &BuildId) -> Result<(), AwsError> {
        let id = id.as_str();
        self.faults.check("StopBuild")?;
        let mut outcomes = lock(&self.outcomes);
        if !outcomes.contains_key(id) {
            outcomes.insert(
                id.to_owned(),
                BuildOutcome::Failed {
                    reason: "build STOPPED".into(),
                    cause: sluice_core::Cause::Change,
                },
            );
        }
        lock(&self.stopped).push(id.to_owned());
        Ok(())
    }
}
