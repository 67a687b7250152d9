//! The local CodeCommit's storage: a bare git repository on disk, whose
//! `post-receive` hook records each push for [`super::bus`] to turn into events.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::process::Command;

/// A repository served by the local CodeCommit.
#[derive(Clone, Debug)]
pub struct Repository {
    pub name: String,
    pub path: PathBuf,
    pushes: PathBuf,
}

/// One ref update, as the hook saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub reference: String,
}

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Whether `name` is a repository name CodeCommit accepts.
pub fn valid_repository_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != ".."
}

/// Whether `id` looks like a full commit id; anything else never reaches git.
pub fn valid_commit_id(id: &str) -> bool {
    id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether `name` is a branch name git accepts (checked without running git).
pub fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

async fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .with_context(|| format!("cannot run git {}", args.join(" ")))
}

impl Repository {
    /// Creates the bare repository `<root>/<name>.git` (or opens it) with the hook.
    pub async fn create(root: &Path, name: &str, branch: &str) -> Result<Self> {
        if !valid_repository_name(name) {
            bail!("{name:?} is not a repository name (letters, digits, '.', '_', '-')");
        }
        let path = root.join(format!("{name}.git"));
        let pushes = root.join(format!("{name}.pushes"));
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        if !path.join("HEAD").exists() {
            let out = Command::new("git")
                .args(["init", "--quiet", "--bare"])
                .arg(format!("--initial-branch={branch}"))
                .arg(&path)
                .output()
                .await
                .context("cannot run git (is it installed?)")?;
            if !out.status.success() {
                bail!("git init failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let pushes_text = pushes
            .to_str()
            .context("the state directory's path is not UTF-8")?;
        if pushes_text.contains('\'') {
            bail!("the state directory's path must not contain a quote: {pushes_text}");
        }
        let hook = path.join("hooks/post-receive");
        // git gives the hook one "<old> <new> <ref>" line per updated ref.
        std::fs::write(&hook, format!("#!/bin/sh\ncat >> '{pushes_text}'\n"))
            .with_context(|| format!("cannot write {}", hook.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
        if !pushes.exists() {
            std::fs::write(&pushes, "")?;
        }
        Ok(Self {
            name: name.to_owned(),
            path,
            pushes,
        })
    }

    /// Pushes recorded after byte `offset` of the log, and the offset after them.
    pub fn pushes_since(&self, offset: u64) -> Result<(Vec<RefUpdate>, u64)> {
        let text = std::fs::read(&self.pushes)
            .with_context(|| format!("cannot read {}", self.pushes.display()))?;
        let start = (offset as usize).min(text.len());
        // Only whole lines: the hook may be writing the rest.
        let end = text[start..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(start, |i| start + i + 1);
        let updates = String::from_utf8_lossy(&text[start..end])
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                Some(RefUpdate {
                    old: parts.next()?.to_owned(),
                    new: parts.next()?.to_owned(),
                    reference: parts.next()?.to_owned(),
                })
            })
            .collect();
        Ok((updates, end as u64))
    }

    /// The size of the push log now: pushes before it are not news.
    pub fn pushes_offset(&self) -> u64 {
        std::fs::metadata(&self.pushes).map_or(0, |m| m.len())
    }

    /// A commit as CodeCommit's `GetCommit` gives it, or `None` if there is none.
    pub async fn commit(&self, id: &str) -> Result<Option<Value>> {
        if !valid_commit_id(id) {
            return Ok(None);
        }
        let format = "%H%x00%T%x00%P%x00%an%x00%ae%x00%at %ad%x00%cn%x00%ce%x00%ct %cd%x00%B";
        let out = git(
            &self.path,
            &[
                "show",
                "--no-patch",
                "--date=format:%z",
                &format!("--format={format}"),
                &format!("{id}^{{commit}}"),
                "--",
            ],
        )
        .await?;
        if !out.status.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.splitn(10, '\0').collect();
        if f.len() < 10 {
            bail!("git printed an unexpected commit format: {text:?}");
        }
        let parents: Vec<&str> = f[2].split_whitespace().collect();
        Ok(Some(json!({
            "commitId": f[0],
            "treeId": f[1],
            "parents": parents,
            "author": {"name": f[3], "email": f[4], "date": f[5]},
            "committer": {"name": f[6], "email": f[7], "date": f[8]},
            "message": f[9].trim_end_matches('\n'),
            "additionalData": "",
        })))
    }

    /// The best common ancestor of two commits, as `GetMergeCommit`'s `baseCommitId`;
    /// `None` if either is not a commit of this repository or they share no history.
    pub async fn merge_base(&self, a: &str, b: &str) -> Result<Option<String>> {
        if !valid_commit_id(a) || !valid_commit_id(b) {
            return Ok(None);
        }
        let out = git(&self.path, &["merge-base", a, b]).await?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The files that differ from commit `before` (the empty tree if `None`) to
    /// commit `after`, as `GetDifferences` lists them: renames as a deletion and an
    /// addition, folders expanded. `None` if either is not a commit here.
    pub async fn differences(
        &self,
        before: Option<&str>,
        after: &str,
    ) -> Result<Option<Vec<Value>>> {
        // git's empty tree: what a commit with no parent is compared with.
        const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let before = match before {
            Some(id) if self.commit(id).await?.is_some() => id,
            Some(_) => return Ok(None),
            None => EMPTY_TREE,
        };
        if self.commit(after).await?.is_none() {
            return Ok(None);
        }
        let out = git(
            &self.path,
            &[
                "diff-tree",
                "-r",
                "-z",
                "--no-renames",
                "--no-abbrev",
                before,
                after,
            ],
        )
        .await?;
        if !out.status.success() {
            bail!(
                "git diff-tree failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // ":<old mode> <new mode> <old blob> <new blob> <status>" NUL "<path>" NUL, …
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split('\0').filter(|f| !f.is_empty());
        let mut differences = Vec::new();
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            let [old_mode, new_mode, old_blob, new_blob, status] = parts[..] else {
                bail!("git diff-tree printed an unexpected line: {meta:?}");
            };
            let blob = |mode: &str, id: &str| json!({"blobId": id, "path": path, "mode": mode});
            let difference = match status.chars().next() {
                Some('A') => json!({"afterBlob": blob(new_mode, new_blob), "changeType": "A"}),
                Some('D') => json!({"beforeBlob": blob(old_mode, old_blob), "changeType": "D"}),
                _ => json!({
                    "beforeBlob": blob(old_mode, old_blob),
                    "afterBlob": blob(new_mode, new_blob),
                    "changeType": "M",
                }),
            };
            differences.push(difference);
        }
        Ok(Some(differences))
    }

    /// The commit a branch points at, if the branch exists.
    pub async fn branch(&self, branch: &str) -> Result<Option<String>> {
        if !valid_branch_name(branch) {
            return Ok(None);
        }
        let out = git(
            &self.path,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}^{{commit}}"),
            ],
        )
        .await?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }
}

impl RefUpdate {
    /// The `CodeCommit Repository State Change` detail for this update.
    pub fn detail(&self, repository: &str, repository_id: &str) -> Value {
        let (kind, name) = match self.reference.strip_prefix("refs/heads/") {
            Some(b) => ("branch", b),
            None => (
                "tag",
                self.reference
                    .strip_prefix("refs/tags/")
                    .unwrap_or(&self.reference),
            ),
        };
        let event = if self.old == ZERO {
            "referenceCreated"
        } else if self.new == ZERO {
            "referenceDeleted"
        } else {
            "referenceUpdated"
        };
        let mut detail = json!({
            "callerUserArn": "arn:aws:iam::000000000000:user/local",
            "event": event,
            "referenceFullName": self.reference,
            "referenceName": name,
            "referenceType": kind,
            "repositoryId": repository_id,
            "repositoryName": repository,
        });
        if self.new != ZERO {
            detail["commitId"] = json!(self.new);
        }
        if self.old != ZERO {
            detail["oldCommitId"] = json!(self.old);
        }
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_reach_git_as_options_are_refused() {
        assert!(valid_branch_name("master"));
        assert!(valid_branch_name("feature/x"));
        assert!(!valid_branch_name("--upload-pack=sh"));
        assert!(!valid_branch_name("a..b"));
        assert!(!valid_commit_id("HEAD"));
        assert!(!valid_commit_id("--all"));
        assert!(valid_commit_id(&"a".repeat(40)));
        assert!(!valid_repository_name("../x"));
    }

    #[test]
    fn a_first_push_creates_and_a_later_one_updates() {
        let created = RefUpdate {
            old: ZERO.into(),
            new: "b".repeat(40),
            reference: "refs/heads/master".into(),
        };
        let d = created.detail("hello-api", "id");
        assert_eq!(d["event"], "referenceCreated");
        assert_eq!(d["referenceName"], "master");
        assert!(d.get("oldCommitId").is_none());
        let updated = RefUpdate {
            old: "a".repeat(40),
            ..created
        };
        let d = updated.detail("hello-api", "id");
        assert_eq!(d["event"], "referenceUpdated");
        assert_eq!(d["oldCommitId"], "a".repeat(40));
    }
}
