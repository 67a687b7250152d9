//! The CodeCommit fake: commits, the branch's head, and the differences between commits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::aws::AwsError;
use crate::commits::{ChangedFiles, CommitInfo, CommitReader};

/// Two commits, before and after.
type CommitPair = (String, String);
/// A commit and the files it changed.
type CommitFiles = (String, Vec<String>);

/// CodeCommit: commit details by id, with a default for commits not described, and
/// the watched branch's head.
#[derive(Clone, Default)]
pub struct MemoryCommits {
    commits: Arc<Mutex<HashMap<String, CommitInfo>>>,
    head: Arc<Mutex<Option<String>>>,
    /// Commits not on the branch (every other commit is an ancestor of its head).
    elsewhere: Arc<Mutex<Vec<String>>>,
    /// The files changed between two commits, by (before, after); a pair not
    /// described changed `template.yaml`.
    changes: Arc<Mutex<HashMap<CommitPair, Vec<String>>>>,
    /// How many times the changes between two commits were asked for.
    difference_calls: Arc<Mutex<usize>>,
    /// The error code `GetDifferences` answers instead, while set, and whether a
    /// retry may help.
    differences_fail: Arc<Mutex<Option<(String, bool)>>>,
    /// Calls answered before `GetDifferences` fails, and the error code then.
    differences_fail_after: Arc<Mutex<Option<(usize, String)>>>,
    /// A linear history, oldest first: each commit and the files it changed from
    /// the one before. Between two of its commits, the changes are those of every
    /// commit after the older one, up to the newer one.
    history: Arc<Mutex<Vec<CommitFiles>>>,
    /// Each commit's parents, where known: from the linear history, or set.
    parents: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl MemoryCommits {
    /// CodeCommit no longer says where the branch points.
    pub fn clear_head(&self) {
        *lock(&self.head) = None;
    }

    /// Points the branch at `commit_id`, as a push does.
    pub fn set_head(&self, commit_id: &str) {
        *lock(&self.head) = Some(commit_id.to_owned());
    }

    /// Puts `commit_id` on another branch only: it is no ancestor of the watched one.
    pub fn off_branch(&self, commit_id: &str) {
        lock(&self.elsewhere).push(commit_id.to_owned());
    }

    /// Says that going from `before` to `after` changed `paths`.
    pub fn set_changes(&self, before: &str, after: &str, paths: &[&str]) {
        lock(&self.changes).insert(
            (before.to_owned(), after.to_owned()),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// `GetDifferences` fails with error `code` from now on, a retry helping or not
    /// as `retryable` says (`None`: it answers again).
    pub fn fail_differences(&self, failure: Option<(&str, bool)>) {
        *lock(&self.differences_fail) =
            failure.map(|(code, retryable)| (code.to_owned(), retryable));
    }

    /// Adds `commit` to the linear history, changing `paths` from the commit before.
    pub fn append_history(&self, commit: &str, paths: &[&str]) {
        let mut history = lock(&self.history);
        let parents = history
            .last()
            .map(|(p, _)| vec![p.clone()])
            .unwrap_or_default();
        lock(&self.parents).insert(commit.to_owned(), parents);
        history.push((
            commit.to_owned(),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        ));
    }

    /// Makes `commit` a commit on `parents` (two or more: a merge).
    pub fn set_parents(&self, commit: &str, parents: &[&str]) {
        lock(&self.parents).insert(
            commit.to_owned(),
            parents.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// `commit` and every commit it descends from, as far as parents are known,
    /// nearest first.
    fn ancestry(&self, commit: &str) -> Vec<String> {
        let parents = lock(&self.parents);
        let mut found = vec![commit.to_owned()];
        let mut at = 0;
        while let Some(c) = found.get(at).cloned() {
            for p in parents.get(&c).into_iter().flatten() {
                if !found.contains(p) {
                    found.push(p.clone());
                }
            }
            at += 1;
        }
        found
    }

    /// `GetDifferences` answers `calls` more times, then fails with `code` (no
    /// retry helps).
    pub fn fail_differences_after(&self, calls: usize, code: &str) {
        *lock(&self.differences_fail_after) = Some((calls, code.to_owned()));
    }

    /// How many times `GetDifferences` was called.
    pub fn difference_calls(&self) -> usize {
        *lock(&self.difference_calls)
    }

    /// Describes a commit.
    pub fn insert(&self, commit_id: &str, author: &str, message: &str) {
        lock(&self.commits).insert(
            commit_id.to_owned(),
            CommitInfo {
                author: Some(author.to_owned()),
                message: Some(message.to_owned()),
                parents: Vec::new(),
            },
        );
    }
}

impl CommitReader for MemoryCommits {
    async fn commit(&self, _repository: &str, commit_id: &str) -> Result<CommitInfo, AwsError> {
        let mut info = lock(&self.commits)
            .get(commit_id)
            .cloned()
            .unwrap_or(CommitInfo {
                author: Some("Ada Lovelace <ada@example.com>".into()),
                message: Some("Say hello".into()),
                parents: Vec::new(),
            });
        info.parents = lock(&self.parents)
            .get(commit_id)
            .cloned()
            .unwrap_or_default();
        Ok(info)
    }

    async fn branch_head(
        &self,
        _repository: &str,
        _branch: &str,
    ) -> Result<Option<String>, AwsError> {
        Ok(lock(&self.head).clone())
    }

    async fn merge_base(
        &self,
        _repository: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, AwsError> {
        let known = {
            let parents = lock(&self.parents);
            parents.contains_key(a) && parents.contains_key(b)
        };
        if known {
            // The nearest of a's ancestors that is also one of b's.
            let of_b = self.ancestry(b);
            return Ok(self.ancestry(a).into_iter().find(|c| of_b.contains(c)));
        }
        let elsewhere = lock(&self.elsewhere);
        let on_branch = |c: &str| !elsewhere.iter().any(|e| e == c);
        Ok(match (on_branch(a), on_branch(b)) {
            (true, true) => Some(a.to_owned()),
            _ => None,
        })
    }

    async fn find_changed_file(
        &self,
        _repository: &str,
        before: &str,
        after: &str,
        wanted: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<ChangedFiles, AwsError> {
        *lock(&self.difference_calls) += 1;
        if let Some((left, code)) = lock(&self.differences_fail_after).as_mut() {
            if *left == 0 {
                return Err(AwsError::service(
                    "GetDifferences",
                    code,
                    "injected failure",
                    false,
                ));
            }
            *left -= 1;
        }
        if let Some((code, retryable)) = lock(&self.differences_fail).clone() {
            return Err(AwsError::service(
                "GetDifferences",
                &code,
                "injected failure",
                retryable,
            ));
        }
        let history = lock(&self.history);
        let at = |c: &str| history.iter().position(|(h, _)| h == c);
        let paths = match (at(before), at(after)) {
            (Some(a), Some(b)) => {
                let mut paths: Vec<String> = history[a.min(b) + 1..=a.max(b)]
                    .iter()
                    .flat_map(|(_, p)| p.iter().cloned())
                    .collect();
                paths.sort();
                paths.dedup();
                paths
            }
            _ => lock(&self.changes)
                .get(&(before.to_owned(), after.to_owned()))
                .cloned()
                .unwrap_or_else(|| vec!["template.yaml".to_owned()]),
        };
        drop(history);
        let mut changed = ChangedFiles::default();
        for path in paths {
            if changed.look_at(&path, wanted) {
                break;
            }
        }
        Ok(changed)
    }
}
