//! In-memory stand-ins for the two services the emulator lacks: CodeBuild builds
//! that run, and CodeCommit. Everything else in the tests is the emulated AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_adapters::AwsError;
use sluice_adapters::builder::{BuildOutcome, BuildReport, BuildRequest, Builder, StartedBuild};
use sluice_adapters::commits::{CommitInfo, CommitReader};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records every build request; builds are in progress until a test says otherwise.
#[derive(Clone, Default)]
pub struct FakeBuilder {
    requests: Arc<Mutex<Vec<BuildRequest>>>,
    outcomes: Arc<Mutex<HashMap<String, BuildOutcome>>>,
}

impl FakeBuilder {
    /// Every `StartBuild` request so far.
    pub fn requests(&self) -> Vec<BuildRequest> {
        lock(&self.requests).clone()
    }

    /// What `BatchGetBuilds` will say about `build_id` from now on.
    pub fn set_outcome(&self, build_id: &str, outcome: BuildOutcome) {
        lock(&self.outcomes).insert(build_id.to_owned(), outcome);
    }
}

impl Builder for FakeBuilder {
    async fn start_build(&self, request: BuildRequest) -> Result<StartedBuild, AwsError> {
        let mut requests = lock(&self.requests);
        // CodeBuild's idempotency token: the same token gives the same build.
        let n = requests
            .iter()
            .position(|r| r.idempotency_token == request.idempotency_token)
            .unwrap_or_else(|| {
                requests.push(request);
                requests.len() - 1
            })
            + 1;
        Ok(StartedBuild {
            id: format!("hello-api-build:{n}"),
            log_url: Some(format!("https://logs.example/hello-api-build/{n}")),
        })
    }

    async fn builds(&self, ids: Vec<String>) -> Result<Vec<BuildReport>, AwsError> {
        let outcomes = lock(&self.outcomes);
        Ok(ids
            .into_iter()
            .map(|id| BuildReport {
                outcome: outcomes
                    .get(&id)
                    .cloned()
                    .unwrap_or(BuildOutcome::InProgress),
                log_url: Some(format!("https://logs.example/{id}")),
                id,
            })
            .collect())
    }
}

/// Commit details by commit id, with a default for commits not described.
#[derive(Clone, Default)]
pub struct FakeCommits {
    commits: Arc<Mutex<HashMap<String, CommitInfo>>>,
}

impl FakeCommits {
    /// Describes a commit.
    pub fn insert(&self, commit_id: &str, author: &str, message: &str) {
        lock(&self.commits).insert(
            commit_id.to_owned(),
            CommitInfo {
                author: Some(author.to_owned()),
                message: Some(message.to_owned()),
            },
        );
    }
}

impl CommitReader for FakeCommits {
    async fn commit(&self, _repository: &str, commit_id: &str) -> Result<CommitInfo, AwsError> {
        Ok(lock(&self.commits)
            .get(commit_id)
            .cloned()
            .unwrap_or(CommitInfo {
                author: Some("Ada Lovelace <ada@example.com>".into()),
                message: Some("Say hello".into()),
            }))
    }
}
