//! The scripted walk through local mode that `make demo` runs, and the steps the
//! end-to-end tests share with it: push the example, follow the execution, approve
//! through the page, call the deployed API.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sluice_core::{Execution, StageStatus, Status};

use super::Local;
use super::git::Repository;
use super::server::Email;

/// Runs `git` in `dir`, failing with its message.
pub async fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .context("cannot run git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        // Build output and local tools are not part of the application's source.
        if matches!(
            name.to_str(),
            Some("target" | ".aws-sam" | ".build-tools" | ".git")
        ) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

/// A developer's clone of the local repository, started from `example`.
pub struct Checkout {
    pub dir: PathBuf,
    branch: String,
}

impl Checkout {
    /// Copies `example` into `dir` as a new git repository whose `origin` is the
    /// local CodeCommit repository, with one commit.
    pub async fn from_example(local: &Local, example: &Path, dir: &Path) -> Result<Self> {
        Self::create(
            &local.repository,
            &local.options.branch,
            example,
            dir,
            "hello-api: first delivery",
        )
        .await
    }

    /// Copies `source` into `dir` as a new git repository on `branch` whose `origin`
    /// is `repository`, with one commit saying `message`.
    pub async fn create(
        repository: &Repository,
        branch: &str,
        source: &Path,
        dir: &Path,
        message: &str,
    ) -> Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        copy_tree(source, dir)?;
        git(
            dir,
            &["init", "--quiet", &format!("--initial-branch={branch}")],
        )
        .await?;
        git(dir, &["config", "user.name", "Ada Developer"]).await?;
        git(dir, &["config", "user.email", "ada@example.com"]).await?;
        git(dir, &["config", "commit.gpgsign", "false"]).await?;
        let origin = repository.path.to_string_lossy().into_owned();
        git(dir, &["remote", "add", "origin", &origin]).await?;
        git(dir, &["add", "--all"]).await?;
        git(dir, &["commit", "--quiet", "-m", message]).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            branch: branch.to_owned(),
        })
    }

    /// Puts the checkout's files back as `source` has them (what is not in `source`
    /// is removed), without committing: a fresh start on the same branch.
    pub fn restore(&self, source: &Path) -> Result<()> {
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?
        {
            let entry = entry?;
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        copy_tree(source, &self.dir)
    }

    /// Commits every change with `message`; returns the commit id.
    pub async fn commit(&self, message: &str) -> Result<String> {
        git(&self.dir, &["add", "--all"]).await?;
        git(
            &self.dir,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        )
        .await?;
        git(&self.dir, &["rev-parse", "HEAD"]).await
    }

    /// Pushes the branch to the local CodeCommit; returns the pushed commit.
    pub async fn push(&self) -> Result<String> {
        git(&self.dir, &["push", "--quiet", "origin", &self.branch]).await?;
        git(&self.dir, &["rev-parse", "HEAD"]).await
    }

    /// Moves the branch of the local CodeCommit to `commit`, one of this checkout's.
    pub async fn push_commit(&self, commit: &str) -> Result<()> {
        let refspec = format!("{commit}:refs/heads/{}", self.branch);
        git(&self.dir, &["push", "--quiet", "origin", &refspec]).await?;
        Ok(())
    }
}

/// How many of the newest executions [`follow`] looks through for a commit's.
const FOLLOWED: usize = 100;

/// Waits until the execution of `commit` exists and satisfies `done`, printing each
/// change of its state; fails after `timeout`.
pub async fn follow(
    local: &Local,
    commit: &str,
    timeout: Duration,
    done: impl Fn(&Execution) -> bool,
) -> Result<Execution> {
    follow_in(local, &local.options.stack, commit, timeout, done).await
}

/// The same, in pipeline `stack` (the first or a sibling).
pub async fn follow_in(
    local: &Local,
    stack: &str,
    commit: &str,
    timeout: Duration,
    done: impl Fn(&Execution) -> bool,
) -> Result<Execution> {
    let store = local.store_of(stack)?;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        // The newest first, so a commit delivered again (a rollback, a release) is
        // found in its newest execution; 100 covers the soak's 50 pushes.
        let recent = store.recent(FOLLOWED).await?;
        if let Some(e) = recent.into_iter().find(|e| e.commit.id.as_str() == commit) {
            let summary = summary(&e);
            if summary != last {
                let topic = if stack == local.options.stack {
                    "pipeline"
                } else {
                    stack
                };
                local.console.say(topic, format!("{} {summary}", e.id));
                last = summary;
            }
            if done(&e) {
                return Ok(e);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the execution of {commit} did not get there within {timeout:?} (last seen: {last})"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn summary(e: &Execution) -> String {
    let stages: Vec<String> = e
        .stages
        .iter()
        .map(|s| format!("{}={}", s.name, s.status))
        .collect();
    format!("{} · {}", e.status, stages.join(" "))
}

/// Whether `e` waits at the approval gate of `stage`.
pub fn awaits_approval(e: &Execution, stage: &str) -> bool {
    e.stages
        .iter()
        .any(|s| s.name.as_str() == stage && s.status == StageStatus::AwaitingApproval)
}

/// The approval email for `stage` of `execution` (of local mode's first pipeline).
pub async fn approval_email(
    local: &Local,
    execution: &str,
    stage: &str,
    timeout: Duration,
) -> Result<Email> {
    approval_email_in(local, &local.options.stack, execution, stage, timeout).await
}

/// The approval email for `stage` of `execution` of pipeline `stack`: pipelines fed
/// by one repository give a push the same execution id, so the link's address
/// (each pipeline's own) tells them apart.
pub async fn approval_email_in(
    local: &Local,
    stack: &str,
    execution: &str,
    stage: &str,
    timeout: Duration,
) -> Result<Email> {
    let base = local
        .approval_bases
        .get(stack)
        .with_context(|| format!("local mode runs no pipeline {stack}"))?;
    let wanted = format!("{base}/approvals/{execution}/{stage}?");
    local
        .outbox
        .wait_for(timeout, |m| {
            m.approval_link().is_some_and(|l| l.starts_with(&wanted))
        })
        .await
        .with_context(|| format!("no approval email for {stage} of {execution} in {stack}"))
}

/// Decides through the page as a browser would: GET the link, then POST its form.
/// Returns the HTTP status of the POST.
pub async fn decide(link: &str, decision: &str, name: &str) -> Result<u16> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let page = http.get(link).send().await?;
    if !page.status().is_success() {
        return Ok(page.status().as_u16());
    }
    let token = link
        .split_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or(t).to_owned())
        .context("the link has no token")?;
    let action = link.split_once('?').map_or(link, |(a, _)| a);
    let answer = http
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&decision={}&name={}",
            form_encode(&token),
            form_encode(decision),
            form_encode(name)
        ))
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

/// `text` encoded for an `application/x-www-form-urlencoded` body.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Calls `url` and returns the status and body.
pub async fn call(url: &str) -> Result<(u16, String)> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    let answer = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot call {url}"))?;
    let status = answer.status().as_u16();
    Ok((status, answer.text().await.unwrap_or_default()))
}

/// How long the first build of the example may take on a slow machine.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The front-end of the demo: `examples/hello-web`, in the repository's `web/`
/// folder, delivered by its own pipeline to a site per stage.
pub struct Front<'a> {
    /// The example's folder.
    pub example: &'a Path,
    /// Its pipeline's stack (a sibling of local mode's first pipeline).
    pub stack: &'a str,
}

/// The sibling pipeline `sluice demo` adds for hello-web: its `web/` files only, a
/// site per stage built into `site/<stage>/`, production after an approval.
pub const FRONT_PIPELINE: &str = "stack=hello-web-pipeline application=hello-web \
     stages=staging,production approval=production sites=staging,production \
     bucket=hello-web-* folder=site/* include=web/ buildspec=web/buildspec.yml";

/// The demo: push the application, follow it through every stage, approve each gate
/// (automatically, or by a click on the emailed link), call the last stage. With a
/// front-end, its site follows: pointed at each stage's API, delivered, and its
/// address printed. Returns the last stage's answer.
pub async fn run(
    local: &Local,
    example: &Path,
    front: Option<Front<'_>>,
    auto_approve: bool,
) -> Result<String> {
    let console = &local.console;
    let work = local.options.state.join("work");
    let source = match &front {
        None => example.to_path_buf(),
        // One repository: the API at its root, the site's sources under web/.
        Some(front) => {
            let both = work.join("source");
            if both.exists() {
                std::fs::remove_dir_all(&both)
                    .with_context(|| format!("cannot clear {}", both.display()))?;
            }
            copy_tree(example, &both)?;
            copy_tree(front.example, &both.join("web"))?;
            for stage in local.sibling_stages(front.stack)? {
                local
                    .create_site_bucket(&format!("hello-web-{stage}"))
                    .await?;
            }
            both
        }
    };
    let checkout = Checkout::create(
        &local.repository,
        &local.options.branch,
        &source,
        &work.join(&local.options.repository),
        "hello-api: first delivery",
    )
    .await?;
    let commit = checkout.push().await?;
    console.say(
        "demo",
        format!("pushed {} to {}", &commit[..12], local.options.branch),
    );
    let stack = local.options.stack.clone();
    deliver(local, &stack, &commit, auto_approve, async |stage| {
        match local.application_url(&local.options.stack_of(stage)).await {
            Ok((output, url)) => {
                let (_, answer) = call(&url).await?;
                console.say("demo", format!("{stage} answers ({output}): {answer}"));
            }
            Err(e) => console.say("demo", format!("{stage} deployed; {e:#}")),
        }
        Ok(())
    })
    .await?;
    let last = local
        .options
        .stages
        .last()
        .context("the pipeline has no stages")?;
    let url = match local.application_url(&local.options.stack_of(last)).await {
        Ok((_, url)) => url,
        // Not every application is an API: delivered is what the demo promised.
        Err(e) => return Ok(format!("(delivered; nothing to call: {e:#})")),
    };
    let (status, answer) = call(&url).await?;
    if status != 200 {
        bail!("{last} answered {status}: {answer}");
    }
    if let Some(front) = front {
        deliver_front(local, &checkout, front.stack, auto_approve).await?;
    }
    Ok(answer)
}

/// Points hello-web at each stage's API (its stage configuration, as a developer
/// would write it), pushes, and follows its pipeline to production.
async fn deliver_front(
    local: &Local,
    checkout: &Checkout,
    stack: &str,
    auto_approve: bool,
) -> Result<()> {
    let console = &local.console;
    let mut urls = std::collections::HashMap::new();
    for stage in local.sibling_stages(stack)? {
        let url = match local.application_url(&local.options.stack_of(&stage)).await {
            Ok((_, url)) => url,
            Err(_) => String::new(),
        };
        urls.insert(stage.clone(), url.clone());
        let config = serde_json::json!({ "ApiUrl": url });
        std::fs::write(
            checkout.dir.join("web").join(format!("{stage}.json")),
            format!("{config}\n"),
        )
        .context("cannot write hello-web's stage configuration")?;
    }
    let commit = checkout
        .commit("hello-web: call each stage's hello-api")
        .await?;
    checkout.push().await?;
    console.say(
        "demo",
        format!(
            "pushed {}: hello-web calls each stage's API; only its pipeline runs",
            &commit[..12]
        ),
    );
    deliver(local, stack, &commit, auto_approve, async |stage| {
        let bucket = format!("hello-web-{stage}");
        let address = format!("{}/sites/{bucket}/", local.driver_url);
        let (status, page) = call(&address).await?;
        if status != 200 {
            bail!("the {stage} site answered {status}: {page}");
        }
        let api = urls.get(stage).map(String::as_str).unwrap_or_default();
        if !page.contains(api) {
            bail!("the {stage} site's page does not call {api}:\n{page}");
        }
        console.say(
            "demo",
            format!("hello-web {stage}: {address} (its page calls {api})"),
        );
        Ok(())
    })
    .await
}

/// Follows pipeline `stack`'s execution of `commit` to its end, approving each gate
/// (automatically, or by a click on the emailed link), and calls `deployed` once for
/// each stage that succeeds.
async fn deliver(
    local: &Local,
    stack: &str,
    commit: &str,
    auto_approve: bool,
    deployed: impl AsyncFn(&str) -> Result<()>,
) -> Result<()> {
    let console = &local.console;
    let mut decided: Vec<String> = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    loop {
        // The build first; after a gate, a person may take their time.
        let timeout = if decided.is_empty() {
            BUILD_TIMEOUT
        } else {
            Duration::from_secs(24 * 3600)
        };
        let seen = follow_in(local, stack, commit, timeout, |e| {
            e.status.is_terminal() || waiting_stage(e).is_some_and(|s| !decided.contains(&s))
        })
        .await?;
        for stage in seen
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Succeeded)
        {
            if !shown.contains(&stage.name.to_string()) {
                shown.push(stage.name.to_string());
                deployed(stage.name.as_str()).await?;
            }
        }
        if seen.status.is_terminal() {
            if seen.status != Status::Succeeded {
                bail!(
                    "{stack}'s execution ended {}: {}",
                    seen.status,
                    seen.reason.clone().unwrap_or_default()
                );
            }
            return Ok(());
        }
        let Some(stage) = waiting_stage(&seen) else {
            continue;
        };
        let email = approval_email_in(
            local,
            stack,
            seen.id.as_str(),
            &stage,
            Duration::from_secs(60),
        )
        .await?;
        let link = email
            .approval_link()
            .ok_or_else(|| anyhow!("the approval email has no link"))?;
        if auto_approve {
            console.say(
                "demo",
                format!("DEMO_AUTO_APPROVE=1: approving {stage} of {stack} through the page"),
            );
            let status = decide(&link, "approve", "demo").await?;
            if status != 200 {
                bail!("the approval page answered {status} to the approval");
            }
        } else {
            console.say("demo", "");
            console.say(
                "demo",
                format!(
                    "Open this link to see what will change in {stage} ({stack}), and approve:"
                ),
            );
            console.say("demo", format!("  {link}"));
            console.say("demo", "(waiting for your decision)");
        }
        decided.push(stage);
    }
}

/// The stage `e` waits at for approval, if any.
pub fn waiting_stage(e: &Execution) -> Option<String> {
    e.stages
        .iter()
        .find(|s| s.status == StageStatus::AwaitingApproval)
        .map(|s| s.name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(
            form_encode("Grace Hopper & co=1"),
            "Grace+Hopper+%26+co%3D1"
        );
        assert_eq!(form_encode("a-Z_0.~"), "a-Z_0.~");
    }
}
