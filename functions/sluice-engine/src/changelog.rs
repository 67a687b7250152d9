//! What an approval lets in: the commits between the release a stage runs now and
//! the one it is asked to deploy, read from the repository's history.

use std::collections::{HashSet, VecDeque};

use sluice_adapters::aws::AwsError;
use sluice_adapters::commits::CommitReader;
use sluice_core::{CHANGELOG_MAX, Changelog, CommitId, CommitLine};

/// The commits `new` has that `live` does not, and those `live` has that `new` does
/// not (a rollback), newest first, at most [`CHANGELOG_MAX`] each. `live` is `None`
/// for a stage's first deploy.
pub async fn between<C: CommitReader>(
    commits: &C,
    repository: &str,
    live: Option<&CommitId>,
    new: &CommitId,
) -> Result<Changelog, AwsError> {
    let Some(live) = live else {
        return Ok(Changelog::default());
    };
    let mut changelog = Changelog {
        live: Some(live.clone()),
        ..Changelog::default()
    };
    if live == new {
        return Ok(changelog);
    }
    let (added, more) = only_in(commits, repository, new.as_str(), live.as_str()).await?;
    let (removed, fewer) = only_in(commits, repository, live.as_str(), new.as_str()).await?;
    changelog.added = added;
    changelog.removed = removed;
    changelog.truncated = more || fewer;
    Ok(changelog)
}

/// The most CodeCommit requests one side of a changelog makes: a pusher shapes the
/// history (merges of many parents, each an ancestor to ask about), and the gate waits.
pub const CALLS_MAX: usize = 2 * CHANGELOG_MAX + 2;
/// The parents of a merge that are followed; a merge of more says the list is cut.
const PARENTS_FOLLOWED: usize = 2;

/// The commits reachable from `tip` that are not ancestors of `other` (nor `other`
/// itself), breadth first from `tip`, and whether there were more than listed: more
/// than [`CHANGELOG_MAX`], more than [`CALLS_MAX`] requests' worth, or parents of a
/// merge of more than two. Each commit is asked whether it is an ancestor of `other`,
/// so a merged branch forked before `other` lists only its own commits.
async fn only_in<C: CommitReader>(
    commits: &C,
    repository: &str,
    tip: &str,
    other: &str,
) -> Result<(Vec<CommitLine>, bool), AwsError> {
    let base = commits.merge_base(repository, tip, other).await?;
    let mut calls = 1;
    let mut cut = false;
    let mut listed = Vec::new();
    let mut queue = VecDeque::from([tip.to_owned()]);
    let mut seen = HashSet::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id.clone()) || id == other || base.as_deref() == Some(id.as_str()) {
            continue;
        }
        let Ok(commit) = CommitId::parse(&id) else {
            // Not a commit id CodeCommit would give: nothing to list or follow.
            continue;
        };
        if listed.len() == CHANGELOG_MAX || calls + 2 > CALLS_MAX {
            return Ok((listed, true));
        }
        if id != tip {
            calls += 1;
            if commits.merge_base(repository, &id, other).await?.as_deref() == Some(&id) {
                // An ancestor of `other`: already there.
                continue;
            }
        }
        calls += 1;
        let info = commits.commit(repository, &id).await?;
        listed.push(CommitLine {
            id: commit,
            author: info.author,
            subject: info
                .message
                .as_deref()
                .and_then(|m| m.lines().next())
                .map(str::to_owned),
        });
        cut |= info.parents.len() > PARENTS_FOLLOWED;
        queue.extend(info.parents.into_iter().take(PARENTS_FOLLOWED));
    }
    Ok((listed, cut))
}

#[cfg(test)]
mod tests {
    use sluice_adapters::memory::MemoryCommits;

    use super::*;

    fn id(n: u32) -> String {
        format!("{n:08x}{}", "0abc0def".repeat(4))
    }

    fn commit_id(n: u32) -> CommitId {
        CommitId::parse(&id(n)).expect("a commit id")
    }

    fn listed(lines: &[CommitLine]) -> Vec<String> {
        lines.iter().map(|c| c.id.as_str().to_owned()).collect()
    }

    /// main: 1 - 2 - 4 (merge of 3), with 3 forked from 1 on a branch.
    fn merged_history() -> MemoryCommits {
        let commits = MemoryCommits::default();
        commits.set_parents(&id(1), &[]);
        commits.set_parents(&id(2), &[&id(1)]);
        commits.set_parents(&id(3), &[&id(1)]);
        commits.set_parents(&id(4), &[&id(2), &id(3)]);
        commits.insert(
            &id(2),
            "Grace <grace@example.com>",
            "Fix the parser\n\nIt was wrong.",
        );
        commits
    }

    #[tokio::test]
    async fn a_merge_lists_both_sides_newest_first_and_nothing_the_stage_runs() {
        let commits = merged_history();
        let log = between(&commits, "r", Some(&commit_id(1)), &commit_id(4))
            .await
            .expect("changelog");
        assert_eq!(listed(&log.added), [id(4), id(2), id(3)]);
        assert!(log.removed.is_empty() && !log.truncated);
        let grace = &log.added[1];
        assert_eq!(grace.author.as_deref(), Some("Grace <grace@example.com>"));
        assert_eq!(grace.subject.as_deref(), Some("Fix the parser"));
    }

    #[tokio::test]
    async fn going_back_lists_what_the_stage_loses() {
        let commits = merged_history();
        let log = between(&commits, "r", Some(&commit_id(4)), &commit_id(2))
            .await
            .expect("changelog");
        assert!(log.added.is_empty());
        assert_eq!(listed(&log.removed), [id(4), id(3)]);
    }

    #[tokio::test]
    async fn a_branch_forked_before_the_live_release_lists_only_its_own_commits() {
        // 1 - 2 (live) - 5 (merge of 3); 3 forked from 1.
        let commits = merged_history();
        commits.set_parents(&id(5), &[&id(2), &id(3)]);
        let log = between(&commits, "r", Some(&commit_id(2)), &commit_id(5))
            .await
            .expect("changelog");
        assert_eq!(listed(&log.added), [id(5), id(3)]);
    }

    #[tokio::test]
    async fn a_long_history_is_cut_and_says_so() {
        let commits = MemoryCommits::default();
        for n in 1..=30 {
            commits.append_history(&id(n), &["template.yaml"]);
        }
        let log = between(&commits, "r", Some(&commit_id(1)), &commit_id(30))
            .await
            .expect("changelog");
        assert_eq!(log.added.len(), CHANGELOG_MAX);
        assert_eq!(log.added[0].id, commit_id(30));
        assert!(log.truncated);
        let short = between(&commits, "r", Some(&commit_id(27)), &commit_id(30))
            .await
            .expect("changelog");
        assert_eq!(listed(&short.added), [id(30), id(29), id(28)]);
        assert!(!short.truncated);
    }

    /// CodeCommit, counting the requests made of it.
    #[derive(Clone, Default)]
    struct Counted {
        inner: MemoryCommits,
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Counted {
        fn count(&self) {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl CommitReader for Counted {
        async fn commit(
            &self,
            r: &str,
            c: &str,
        ) -> Result<sluice_adapters::commits::CommitInfo, AwsError> {
            self.count();
            self.inner.commit(r, c).await
        }
        async fn branch_head(&self, r: &str, b: &str) -> Result<Option<String>, AwsError> {
            self.count();
            self.inner.branch_head(r, b).await
        }
        async fn merge_base(&self, r: &str, a: &str, b: &str) -> Result<Option<String>, AwsError> {
            self.count();
            self.inner.merge_base(r, a, b).await
        }
        async fn find_changed_file(
            &self,
            r: &str,
            a: &str,
            b: &str,
            wanted: &(dyn Fn(&str) -> bool + Send + Sync),
        ) -> Result<sluice_adapters::commits::ChangedFiles, AwsError> {
            self.count();
            self.inner.find_changed_file(r, a, b, wanted).await
        }
    }

    /// A pusher's octopus merge of 199 commits production already runs, each of which
    /// would be asked about: the requests stay bounded, and the list says it is cut.
    #[tokio::test]
    async fn a_crafted_history_costs_a_bounded_number_of_requests() {
        let commits = Counted::default();
        commits.inner.append_history(&id(1), &["a"]);
        for n in 2..=200 {
            commits.inner.append_history(&id(n), &["a"]);
        }
        let parents: Vec<String> = (2..=200).rev().map(id).collect();
        let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
        commits.inner.set_parents(&id(500), &parents);
        let log = between(&commits, "r", Some(&commit_id(200)), &commit_id(500))
            .await
            .expect("changelog");
        assert_eq!(listed(&log.added), [id(500)]);
        assert!(log.truncated);
        let calls = commits.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(calls <= 2 * CALLS_MAX, "{calls} requests");
    }

    #[tokio::test]
    async fn nothing_live_is_a_first_deploy_and_the_same_commit_is_nothing_new() {
        let commits = merged_history();
        let first = between(&commits, "r", None, &commit_id(4))
            .await
            .expect("log");
        assert_eq!(first, Changelog::default());
        let same = between(&commits, "r", Some(&commit_id(4)), &commit_id(4))
            .await
            .expect("log");
        assert_eq!(same.live, Some(commit_id(4)));
        assert!(same.added.is_empty() && same.removed.is_empty());
    }
}
