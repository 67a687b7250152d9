//! The local CodeCommit and CodeBuild answer the real AWS SDK clients: what the
//! functions call through `AWS_ENDPOINT_URL_CODECOMMIT` / `_CODEBUILD` must decode
//! exactly as it would from AWS, errors included.

use std::sync::{Arc, Mutex};

use sluice::local::bus::Bus;
use sluice::local::codebuild::{Builds, Settings};
use sluice::local::demo::git;
use sluice::local::git::Repository;
use sluice::local::server::{Outbox, Shared, router};
use sluice::local::{Console, sdk_config};

struct Served {
    url: String,
    commit: String,
    _dir: tempfile::TempDir,
    _task: tokio::task::JoinHandle<()>,
}

/// A repository with one pushed commit, served on a loopback port.
async fn serve() -> Served {
    let dir = tempfile::tempdir().expect("temporary directory");
    let repository = Repository::create(&dir.path().join("repos"), "hello-api", "master")
        .await
        .expect("repository");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    std::fs::write(work.join("README"), "hello\n").expect("file");
    for args in [
        vec!["init", "--quiet", "--initial-branch=master"],
        vec!["config", "user.name", "Ada Developer"],
        vec!["config", "user.email", "ada@example.com"],
        vec!["add", "README"],
        vec!["commit", "--quiet", "-m", "first: <b>bold</b>\n\nbody line"],
    ] {
        git(&work, &args).await.expect("git");
    }
    let origin = repository.path.to_string_lossy().into_owned();
    git(&work, &["push", "--quiet", &origin, "master"])
        .await
        .expect("push");
    let commit = git(&work, &["rev-parse", "HEAD"]).await.expect("rev-parse");

    // Nothing here reaches the emulator: these clients are never called.
    let sdk = sdk_config("http://127.0.0.1:9").await;
    let console = Console::new();
    let bus = Bus::new(&sdk, "000000000000", console.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let builds = Builds::new(
        Settings {
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
            driver_url: url.clone(),
            state: dir.path().join("state"),
            cache: dir.path().join("cache"),
        },
        &sdk,
        vec![repository.clone()],
        bus,
        console.clone(),
    );
    let shared = Shared {
        repositories: vec![repository],
        builds,
        outbox: Outbox::new(
            dir.path().join("outbox"),
            aws_sdk_sns::Client::new(&sdk),
            console,
        ),
        state: dir.path().join("state"),
        emulator: "http://127.0.0.1:9".into(),
        approval_host: Arc::new(Mutex::new(None)),
        http: reqwest::Client::new(),
    };
    let app = router(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served {
        url,
        commit,
        _dir: dir,
        _task: task,
    }
}

async fn client_config(url: &str) -> aws_config::SdkConfig {
    sdk_config(url).await
}

#[tokio::test]
async fn get_commit_and_get_branch_answer_from_git() {
    let served = serve().await;
    let codecommit = aws_sdk_codecommit::Client::new(&client_config(&served.url).await);
    let out = codecommit
        .get_commit()
        .repository_name("hello-api")
        .commit_id(&served.commit)
        .send()
        .await
        .expect("GetCommit");
    let commit = out.commit().expect("a commit");
    assert_eq!(commit.commit_id(), Some(served.commit.as_str()));
    assert_eq!(
        commit.author().and_then(|a| a.name()),
        Some("Ada Developer")
    );
    assert_eq!(
        commit.author().and_then(|a| a.email()),
        Some("ada@example.com")
    );
    assert_eq!(commit.message(), Some("first: <b>bold</b>\n\nbody line"));

    let branch = codecommit
        .get_branch()
        .repository_name("hello-api")
        .branch_name("master")
        .send()
        .await
        .expect("GetBranch");
    assert_eq!(
        branch.branch().and_then(|b| b.commit_id()),
        Some(served.commit.as_str())
    );
}

#[tokio::test]
async fn unknown_commits_branches_and_repositories_are_the_sdks_typed_errors() {
    let served = serve().await;
    let codecommit = aws_sdk_codecommit::Client::new(&client_config(&served.url).await);
    let err = codecommit
        .get_commit()
        .repository_name("hello-api")
        .commit_id("0".repeat(40))
        .send()
        .await
        .expect_err("no such commit");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_commit_id_does_not_exist_exception()),
        "{err:?}"
    );
    let err = codecommit
        .get_commit()
        .repository_name("hello-api")
        .commit_id("--upload-pack=touch /tmp/x")
        .send()
        .await
        .expect_err("not a commit id");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_commit_id_exception()),
        "{err:?}"
    );
    let err = codecommit
        .get_branch()
        .repository_name("hello-api")
        .branch_name("nope")
        .send()
        .await
        .expect_err("no such branch");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_branch_does_not_exist_exception()),
        "{err:?}"
    );
    let err = codecommit
        .get_commit()
        .repository_name("other")
        .commit_id(&served.commit)
        .send()
        .await
        .expect_err("no such repository");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_repository_does_not_exist_exception()),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_builds_are_reported_as_not_found() {
    let served = serve().await;
    let codebuild = aws_sdk_codebuild::Client::new(&client_config(&served.url).await);
    let out = codebuild
        .batch_get_builds()
        .ids("proj:00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .expect("BatchGetBuilds");
    assert!(out.builds().is_empty());
    assert_eq!(
        out.builds_not_found(),
        ["proj:00000000-0000-4000-8000-000000000000"]
    );
    let err = codebuild
        .stop_build()
        .id("proj:00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .expect_err("no such build");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );
}
