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

/// The commits reachable from `tip` that are not ancestors of `other` (nor `other`
/// itself), breadth first from `tip`, and whether there were more than
/// [`CHANGELOG_MAX`]. Each commit is asked whether it is an ancestor of `other`, so a
/// merged branch forked before `other` lists only its own commits.
async fn only_in<C: CommitReader>(
    commits: &C,
    repository: &str,
    tip: &str,
    other: &str,
) -> Result<(Vec<CommitLine>, bool), AwsError> {
    let base = commits.merge_base(repository, tip, other).await?;
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
        let ancestor_of_other =
            id != tip && commits.merge_base(repository, &id, other).await?.as_deref() == Some(&id);
        if ancestor_of_other {
            continue;
        }
        if listed.len() == CHANGELOG_MAX {
            return Ok((listed, true));
        }
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
        queue.extend(info.parents);
    }
    Ok((listed, false))
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
