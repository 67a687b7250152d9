//! Commit details (CodeCommit): who wrote a commit, and what it says.

use std::future::Future;

use crate::aws::AwsError;

/// What a person wants to know about a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub author: Option<String>,
    pub message: Option<String>,
    /// The commits it was made on, first parent first (two or more: a merge).
    pub parents: Vec<String>,
}

/// The files a push changed, read until one of them was wanted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedFiles {
    /// The first changed file that was wanted, if any was.
    pub found: Option<String>,
    /// How many changed paths were looked at (a rename's two names count twice).
    pub examined: usize,
    /// The first few paths looked at, for a log line.
    pub sample: Vec<String>,
}

/// How many paths [`ChangedFiles::sample`] keeps.
pub const SAMPLE_MAX: usize = 5;

impl ChangedFiles {
    /// Looks at one changed path; true once a wanted one was found.
    pub fn look_at(&mut self, path: &str, wanted: &(dyn Fn(&str) -> bool + Send + Sync)) -> bool {
        self.examined += 1;
        if self.sample.len() < SAMPLE_MAX {
            self.sample.push(path.to_owned());
        }
        if wanted(path) {
            self.found = Some(path.to_owned());
        }
        self.found.is_some()
    }
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

    /// The files changed between commits `before` and `after` (CodeCommit's
    /// `GetDifferences`), read until one is `wanted`.
    fn find_changed_file(
        &self,
        repository: &str,
        before: &str,
        after: &str,
        wanted: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> impl Future<Output = Result<ChangedFiles, AwsError>> + Send;
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
            parents: commit.map(|c| c.parents().to_vec()).unwrap_or_default(),
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

    async fn find_changed_file(
        &self,
        repository: &str,
        before: &str,
        after: &str,
        wanted: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<ChangedFiles, AwsError> {
        let mut pages = self
            .client
            .get_differences()
            .repository_name(repository)
            .before_commit_specifier(before)
            .after_commit_specifier(after)
            .into_paginator()
            .send();
        let mut changed = ChangedFiles::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("GetDifferences", e))?;
            for difference in page.differences() {
                let names = [difference.before_blob(), difference.after_blob()]
                    .into_iter()
                    .flatten()
                    .filter_map(|blob| blob.path());
                let mut seen: Option<&str> = None;
                for path in names {
                    // A modified file has the same name before and after.
                    if seen == Some(path) {
                        continue;
                    }
                    seen = Some(path);
                    if changed.look_at(path, wanted) {
                        return Ok(changed);
                    }
                }
            }
        }
        Ok(changed)
    }
}
