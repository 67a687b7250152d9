//! Commit details (CodeCommit): who wrote a commit, and what it says.

use std::future::Future;

use crate::aws::AwsError;

/// What a person wants to know about a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub author: Option<String>,
    pub message: Option<String>,
}

/// Reads commits and branches.
pub trait CommitReader: Clone + Send + Sync + 'static {
    fn commit(
        &self,
        repository: &str,
        commit_id: &str,
    ) -> impl Future<Output = Result<CommitInfo, AwsError>> + Send;

    /// The commit the branch points to now, if the branch exists.
    fn branch_head(
        &self,
        repository: &str,
        branch: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    /// The best common ancestor of commits `a` and `b`, if they have one. `a` is on
    /// the branch whose head is `b` exactly when this is `a`.
    fn merge_base(
        &self,
        repository: &str,
        a: &str,
        b: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// CodeCommit.
#[derive(Clone, Debug)]
pub struct CodeCommit {
    client: aws_sdk_codecommit::Client,
}

impl CodeCommit {
    /// Reads commits through `client`.
    pub fn new(client: aws_sdk_codecommit::Client) -> Self {
        Self { client }
    }
}

impl CommitReader for CodeCommit {
    async fn commit(&self, repository: &str, commit_id: &str) -> Result<CommitInfo, AwsError> {
        let output = self
            .client
            .get_commit()
            .repository_name(repository)
            .commit_id(commit_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetCommit", e))?;
        let commit = output.commit();
        let author = commit
            .and_then(|c| c.author())
            .map(|a| match (a.name(), a.email()) {
                (Some(name), Some(email)) => format!("{name} <{email}>"),
                (Some(name), None) => name.to_owned(),
                (None, Some(email)) => email.to_owned(),
                (None, None) => "unknown".to_owned(),
            });
        Ok(CommitInfo {
            author,
            message: commit
                .and_then(|c| c.message())
                .map(|m| m.trim_end().to_owned()),
        })
    }

    async fn branch_head(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<String>, AwsError> {
        match self
            .client
            .get_branch()
            .repository_name(repository)
            .branch_name(branch)
            .send()
            .await
        {
            Ok(output) => Ok(output
                .branch()
                .and_then(|b| b.commit_id())
                .map(str::to_owned)),
            Err(e) => {
                let err = AwsError::from_sdk("GetBranch", e);
                if err.code.as_deref() == Some("BranchDoesNotExistException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn merge_base(
        &self,
        repository: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, AwsError> {
        match self
            .client
            .get_merge_commit()
            .repository_name(repository)
            .source_commit_specifier(a)
            .destination_commit_specifier(b)
            .send()
            .await
        {
            Ok(output) => Ok(output.base_commit_id().map(str::to_owned)),
            Err(e) => {
                let err = AwsError::from_sdk("GetMergeCommit", e);
                if err.code.as_deref() == Some("NoCommonAncestorException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}
