//! One repository, two applications in their own folders, a pipeline each: every
//! push starts only the pipeline whose files it changed; the front-end is a static
//! site, uploaded, approved, and rolled back.

use std::time::Duration;

use sluice_core::Status;
use sluice_local::demo::{self, Checkout, awaits_approval, follow_in};
use sluice_local::{Console, Local, Options, Sibling};

use super::harness::{GATE, SETTLE, person, sluice_in, stack_parameter, workspace};

/// Waits until a function of pipeline `stack` has logged a line containing every one
/// of `parts`.
async fn logged(local: &Local, stack: &str, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let lines = local
            .function_logs_of(stack)
            .await
            .expect("read the functions' logs");
        if let Some(line) = lines
            .into_iter()
            .find(|l| parts.iter().all(|p| l.message.contains(p)))
        {
            return line.message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no function of {stack} logged a line with {parts:?} within {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A repository holding two applications, each a copy of the quick app in its own
/// folder (`api/`, `web/`) built by its own buildspec there, and a README.
fn two_applications(into: &std::path::Path) {
    let quick = workspace().join("tests/fixtures/quick-app");
    // The front-end: a static site, built by copying it into the artifact's site/.
    let web = into.join("web");
    std::fs::create_dir_all(&web).expect("folder");
    for (name, text) in [
        ("index.html", "<h1>hello</h1>\n"),
        ("extra.txt", "soon gone\n"),
        (
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p site\n      \
             - cp web/index.html web/*.txt site/\nartifacts:\n  files:\n    - 'site/**/*'\n  \
             name: $SLUICE_EXECUTION_ID\n",
        ),
    ] {
        std::fs::write(web.join(name), text).expect("write the site");
    }
    for part in ["api"] {
        let dir = into.join(part);
        std::fs::create_dir_all(&dir).expect("folder");
        for entry in std::fs::read_dir(&quick).expect("the quick app") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("a file name");
            std::fs::copy(&path, dir.join(name)).expect("copy");
        }
        let spec = std::fs::read_to_string(dir.join("buildspec.yml")).expect("buildspec");
        let in_folder = spec
            .replacen(
                "  install:\n    commands:\n",
                &format!("  install:\n    commands:\n      - cd {part}\n"),
                1,
            )
            .replacen(
                "artifacts:\n",
                &format!("artifacts:\n  base-directory: {part}\n"),
                1,
            );
        assert_eq!(
            in_folder.matches(&format!(" {part}\n")).count(),
            2,
            "the quick app's buildspec changed: update this test"
        );
        std::fs::write(dir.join("buildspec.yml"), in_folder).expect("write buildspec");
    }
    std::fs::write(into.join("README.md"), "# Hello\n").expect("readme");
}

/// Replaces `from` by `to` in `file` of the checkout.
fn edit(checkout: &Checkout, file: &str, from: &str, to: &str) {
    let path = checkout.dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    let changed = text.replacen(from, to, 1);
    assert_ne!(text, changed, "{file} holds no {from:?}: update this test");
    std::fs::write(&path, changed).expect("write");
}

/// The commits pipeline `stack` has executions of, newest first.
async fn delivered(local: &Local, stack: &str) -> Vec<String> {
    let store = local.store_of(stack).expect("store");
    store
        .recent(100)
        .await
        .expect("executions")
        .iter()
        .map(|e| e.commit.id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_repository_feeds_two_pipelines_each_started_by_its_own_files_only() {
    const API: &str = "sluice";
    const WEB: &str = "hello-web-pipeline";
    let dir = tempfile::Builder::new()
        .prefix("sluice-local-e2e-")
        .tempdir()
        .expect("temporary directory");
    let workspace = workspace().canonicalize().expect("workspace");
    let mut options = Options::new(workspace, dir.path().join("state"));
    options.function_build = sluice_local::stack::FunctionBuild::WithTests;
    options.set_stages("staging", None).expect("stages");
    options.set_paths("api/", "**/*.md").expect("path filters");
    options.buildspec = "api/buildspec.yml".into();
    options
        .add_sibling(
            Sibling::parse(&format!(
                "stack={WEB} application=hello-web stages=staging,production approval=production \
                 sites=staging,production bucket=hello-web-* include=web/ exclude=**/*.md \
                 buildspec=web/buildspec.yml"
            ))
            .expect("a sibling"),
        )
        .expect("a valid second pipeline");
    assert!(API == options.stack);
    let console = Console::new();
    console.hide_build_logs();
    let local = Local::start(options, console)
        .await
        .expect("local mode starts");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&local.sdk)
            .force_path_style(true)
            .build(),
    );
    for stage in ["staging", "production"] {
        local
            .create_site_bucket(&format!("hello-web-{stage}"))
            .await
            .expect("the site's bucket");
    }
    let source = dir.path().join("source");
    two_applications(&source);
    let checkout = Checkout::create(
        &local.repository,
        "master",
        &source,
        &dir.path().join("work"),
        "two applications",
    )
    .await
    .expect("checkout");

    // The branch is new: both pipelines deliver its first push.
    let first = checkout.push().await.expect("first push");
    let done = follow_in(&local, API, &first, GATE, |e| e.status.is_terminal())
        .await
        .expect("the first execution finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    let page = approve_site(&local, &first).await;
    assert!(page.contains("Add") && page.contains("extra.txt"), "{page}");
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hello</h1>\n".into())
    );

    // The front-end only: its pipeline delivers it, the back-end's says why not. The
    // site in staging shows the new text at once, and the removed file is gone; the
    // approval page for production lists both changes.
    edit(&checkout, "web/index.html", "hello", "hi");
    std::fs::remove_file(checkout.dir.join("web/extra.txt")).expect("remove");
    std::fs::write(checkout.dir.join("web/new.txt"), "new\n").expect("add");
    let web = checkout
        .commit("web: a shorter greeting")
        .await
        .expect("commit");
    checkout.push().await.expect("push");
    let page = approve_site(&local, &web).await;
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "extra.txt").await.0,
        404
    );
    for line in ["Change", "index.html", "Remove", "extra.txt", "new.txt"] {
        assert!(page.contains(line), "{line} not on the page: {page}");
    }
    assert_eq!(
        site_page(&local, "hello-web-production", "new.txt").await,
        (200, "new\n".into())
    );
    let line = logged(&local, API, &["push ignored", "web/index.html"]).await;
    assert!(line.contains("include api/; exclude **/*.md"), "{line}");
    // Its emails say which of the two pipelines sent them.
    local
        .outbox
        .wait_for(SETTLE, |m| {
            m.subject
                .starts_with("[hello-api hello-web-pipeline] approval needed for production")
        })
        .await
        .expect("the front-end pipeline's email names it");
    // And the back-end's reach the outbox too: it takes every pipeline's topic.
    local
        .outbox
        .wait_for(SETTLE, |m| {
            m.subject
                .starts_with("[hello-api sluice] deployed to staging")
        })
        .await
        .expect("the back-end pipeline's email reaches the outbox");

    // The back-end only: the reverse.
    edit(
        &checkout,
        "api/template.yaml",
        "Default: hello",
        "Default: hey",
    );
    let api = checkout
        .commit("api: another greeting")
        .await
        .expect("commit");
    checkout.push().await.expect("push");
    let done = follow_in(&local, API, &api, GATE, |e| e.status.is_terminal())
        .await
        .expect("the back-end's execution finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    logged(&local, WEB, &["push ignored", "api/template.yaml"]).await;

    // Notes in both folders, excluded by both: neither pipeline runs.
    for part in ["api", "web"] {
        std::fs::write(checkout.dir.join(part).join("CHANGES.md"), "- greetings\n")
            .expect("write notes");
    }
    let notes = checkout.commit("docs: changes").await.expect("commit");
    checkout.push().await.expect("push");
    for stack in [API, WEB] {
        logged(
            &local,
            stack,
            &["push ignored", "api/CHANGES.md, web/CHANGES.md"],
        )
        .await;
    }

    assert_eq!(
        delivered(&local, API).await,
        [api, first.clone()],
        "not {web} nor {notes}"
    );
    assert_eq!(
        delivered(&local, WEB).await,
        [web.clone(), first],
        "not {notes}"
    );
    assert_eq!(
        stack_parameter(&local, "hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hey")
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hi</h1>\n".into())
    );

    // A failed upload: one of the build's files is gone by the time production is
    // approved. The deploy stops there, before the entry document, and production
    // keeps serving the previous site.
    edit(&checkout, "web/index.html", "hi", "hey");
    std::fs::write(checkout.dir.join("web/more.txt"), "more\n").expect("add");
    let more = checkout.commit("web: more").await.expect("commit");
    checkout.push().await.expect("push");
    let artifacts = local.sibling_outputs[WEB]["ArtifactBucketName"].clone();
    let (_, failed) = decide_site(&local, &more, async |at_gate| {
        let artifact = at_gate.artifact.as_ref().expect("the pinned artifact");
        let pinned = artifact
            .site
            .iter()
            .find(|f| f.path == "site/more.txt")
            .expect("more.txt was pinned");
        s3.delete_object()
            .bucket(&artifacts)
            .key(&pinned.object.key)
            .set_version_id(pinned.object.version.clone())
            .send()
            .await
            .expect("the build's file deleted");
    })
    .await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.reason.unwrap_or_default();
    assert!(
        reason.contains("upload of more.txt")
            && reason.contains("the previous site is still served"),
        "{reason}"
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "more.txt")
            .await
            .0,
        404
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hey</h1>\n".into())
    );

    // Staging rolled back: the previous files again, and the newer one gone.
    let operator = person(&local, "sluice-operators", "olga").await;
    let (ok, said) = sluice_in(
        &local,
        WEB,
        &artifacts,
        &operator,
        &["rollback", "staging", "--yes"],
    );
    assert!(ok, "{said}");
    assert!(
        said.contains(
            "It will change 2 files: 0 added, 1 changed, 1 removed in bucket hello-web-staging"
        ),
        "{said}"
    );
    let rolled_back = follow_in(&local, WEB, &web, SETTLE, |e| {
        e.rollback_of.is_some() && e.status.is_terminal()
    })
    .await
    .expect("the rollback finishes");
    assert_eq!(
        rolled_back.status,
        Status::Succeeded,
        "{:?}",
        rolled_back.reason
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "more.txt").await.0,
        404
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "new.txt").await,
        (200, "new\n".into())
    );
}

/// The status and text of `path` of the site `bucket` serves, through local mode's
/// website endpoint.
async fn site_page(local: &Local, bucket: &str, path: &str) -> (u16, String) {
    let url = format!("{}/sites/{bucket}/{path}", local.driver_url);
    let answer = reqwest::get(&url).await.expect("the site answers");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

/// Waits for the front-end's execution of `commit` to reach production's gate, reads
/// the approval page, approves there, and waits for the execution to succeed; returns
/// the page.
async fn approve_site(local: &Local, commit: &str) -> String {
    let (page, done) = decide_site(local, commit, async |_| {}).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    page
}

/// Waits for the front-end's execution of `commit` to reach production's gate, calls
/// `meanwhile` with it, reads the approval page, approves there, and waits for the
/// execution to finish; returns the page and the finished execution.
async fn decide_site(
    local: &Local,
    commit: &str,
    meanwhile: impl AsyncFnOnce(&sluice_core::Execution),
) -> (String, sluice_core::Execution) {
    const WEB: &str = "hello-web-pipeline";
    let at_gate = follow_in(local, WEB, commit, GATE, |e| {
        awaits_approval(e, "production") || e.status.is_terminal()
    })
    .await
    .expect("the front-end reaches its gate");
    assert!(
        awaits_approval(&at_gate, "production"),
        "{:?}",
        at_gate.reason
    );
    meanwhile(&at_gate).await;
    let link = demo::approval_email_in(local, WEB, at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the approval email")
        .approval_link()
        .expect("a link");
    let page = reqwest::get(&link)
        .await
        .expect("the page")
        .text()
        .await
        .expect("its text");
    let status = demo::decide(&link, "approve", "Ada")
        .await
        .expect("the decision");
    assert_eq!(status, 200);
    let done = follow_in(local, WEB, commit, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the front-end finishes");
    (page, done)
}
