//! The local CodeCommit and CodeBuild answer the real AWS SDK clients: what the
//! functions call through `AWS_ENDPOINT_URL_CODECOMMIT` / `_CODEBUILD` must decode
//! exactly as it would from AWS, errors included. And the driver serves buckets as
//! S3's website endpoint would.

use sluice_adapters::commits::CommitReader;
use sluice_local::sdk_config;

use crate::support::{self, Driver};

/// A repository with one pushed commit, served on a loopback port. Nothing here
/// reaches an emulator: the driver's own AWS clients are never called.
async fn serve() -> Driver {
    let sdk = sdk_config("http://127.0.0.1:9").await;
    support::driver(
        &sdk,
        "http://127.0.0.1:9",
        "hello-api",
        &[("README", "hello\n")],
        "first: <b>bold</b>\n\nbody line",
    )
    .await
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

/// A second commit on the served branch: README renamed, files added in folders.
async fn second_commit(served: &Driver) -> String {
    let work = served.dir.path().join("work");
    let git = |args: &'static [&'static str]| {
        let work = work.clone();
        async move { sluice_local::demo::git(&work, args).await.expect("git") }
    };
    git(&["mv", "README", "README.md"]).await;
    for (path, text) in [
        ("api/src/main.rs", "fn main() {}\n"),
        ("web/index.html", "<p>hi</p>\n"),
    ] {
        let path = work.join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
        std::fs::write(path, text).expect("file");
    }
    git(&["add", "--all"]).await;
    git(&["commit", "--quiet", "-m", "second"]).await;
    git(&["push", "--quiet", "origin", "master"]).await;
    git(&["rev-parse", "HEAD"]).await
}

#[tokio::test]
async fn get_differences_lists_a_pushs_files_page_by_page() {
    let served = serve().await;
    let after = second_commit(&served).await;
    let codecommit = aws_sdk_codecommit::Client::new(&client_config(&served.url).await);
    let mut pages = codecommit
        .get_differences()
        .repository_name("hello-api")
        .before_commit_specifier(&served.commit)
        .after_commit_specifier(&after)
        .max_results(3)
        .into_paginator()
        .send();
    let mut seen = Vec::new();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        count += 1;
        for d in page.expect("GetDifferences").differences() {
            let path = |b: Option<&aws_sdk_codecommit::types::BlobMetadata>| {
                b.and_then(|b| b.path()).map(str::to_owned)
            };
            seen.push((
                d.change_type().map(|c| c.as_str().to_owned()),
                path(d.before_blob()),
                path(d.after_blob()),
            ));
        }
    }
    let entry = |c: &str, before: Option<&str>, after: Option<&str>| {
        (
            Some(c.to_owned()),
            before.map(str::to_owned),
            after.map(str::to_owned),
        )
    };
    assert_eq!(
        seen,
        [
            entry("D", Some("README"), None),
            entry("A", None, Some("README.md")),
            entry("A", None, Some("api/src/main.rs")),
            entry("A", None, Some("web/index.html")),
        ],
        "a rename is a deletion and an addition"
    );
    assert_eq!(count, 2, "four differences, three to a page");

    // What the source function asks: reading stops at the first wanted file.
    let reader = sluice_adapters::commits::CodeCommit::new(codecommit.clone());
    let web = reader
        .find_changed_file("hello-api", &served.commit, &after, &|p| {
            p.starts_with("web/")
        })
        .await
        .expect("read");
    assert_eq!(web.found.as_deref(), Some("web/index.html"));
    let docs = reader
        .find_changed_file("hello-api", &served.commit, &after, &|p| {
            p.starts_with("docs/")
        })
        .await
        .expect("read");
    assert_eq!((docs.found, docs.examined), (None, 4));

    let err = codecommit
        .get_differences()
        .repository_name("hello-api")
        .before_commit_specifier("0".repeat(40))
        .after_commit_specifier(&after)
        .send()
        .await
        .expect_err("no such commit");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_commit_does_not_exist_exception()),
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

/// The emulator stores a bucket's website configuration but does not serve it; the
/// driver's `/sites/<bucket>/` does, as S3's website endpoint would.
#[tokio::test]
async fn a_bucket_is_served_as_a_website_with_index_and_error_documents() {
    let emulator = sluice_tests::Emulator::start();
    let sdk = emulator.sdk_config().await;
    let served = support::driver(
        &sdk,
        &emulator.endpoint(),
        "hello-web",
        &[("README", "hi\n")],
        "first",
    )
    .await;
    let s3 = emulator.s3().await;
    let site = emulator.fresh_bucket().await;
    let plain = emulator.fresh_bucket().await;
    s3.put_bucket_website()
        .bucket(&site)
        .website_configuration(
            aws_sdk_s3::types::WebsiteConfiguration::builder()
                .index_document(
                    aws_sdk_s3::types::IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .expect("index"),
                )
                .error_document(
                    aws_sdk_s3::types::ErrorDocument::builder()
                        .key("404.html")
                        .build()
                        .expect("error"),
                )
                .build(),
        )
        .send()
        .await
        .expect("website configuration");
    for (key, body, kind) in [
        ("index.html", "home", "text/html; charset=utf-8"),
        ("docs/index.html", "docs", "text/html; charset=utf-8"),
        ("404.html", "not here", "text/html; charset=utf-8"),
        ("app.js", "js", "text/javascript; charset=utf-8"),
    ] {
        s3.put_object()
            .bucket(&site)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .content_type(kind)
            .cache_control("no-cache")
            .send()
            .await
            .expect("put");
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", served.url);
        async move {
            let answer = http.get(url).send().await.expect("get");
            let status = answer.status().as_u16();
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (kind, cache, location) = (
                header("content-type"),
                header("cache-control"),
                header("location"),
            );
            let body = answer.text().await.expect("body");
            (status, body, kind, cache, location)
        }
    };
    let (status, body, kind, cache, _) = get(format!("/sites/{site}/")).await;
    assert_eq!((status, body.as_str()), (200, "home"));
    assert_eq!(kind.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(cache.as_deref(), Some("no-cache"));
    assert_eq!(get(format!("/sites/{site}")).await.1, "home");
    let (_, body, kind, ..) = get(format!("/sites/{site}/app.js")).await;
    assert_eq!(
        (body.as_str(), kind.as_deref()),
        ("js", Some("text/javascript; charset=utf-8"))
    );
    let (status, _, _, _, location) = get(format!("/sites/{site}/docs")).await;
    assert_eq!(status, 302);
    assert_eq!(location, Some(format!("/sites/{site}/docs/")));
    assert_eq!(get(format!("/sites/{site}/docs/")).await.1, "docs");
    let (status, body, ..) = get(format!("/sites/{site}/gone.html")).await;
    assert_eq!((status, body.as_str()), (404, "not here"));
    let (status, body, ..) = get(format!("/sites/{plain}/")).await;
    assert_eq!(status, 404);
    assert!(body.contains("NoSuchWebsiteConfiguration"), "{body}");
}
