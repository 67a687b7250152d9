//! The `sluice` binary against the emulated S3, reading state the store wrote.

use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{Commit, CommitId, Event, Pipeline, Push};
use sluice_tests::Emulator;

fn sluice(emulator: &Emulator, bucket: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("SLUICE_BUCKET", bucket)
        .env("SLUICE_PIPELINE", "hello")
        .output()
        .expect("run sluice")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn status_and_show_read_what_the_functions_wrote() {
    let emulator = Emulator::start();
    let bucket = emulator.fresh_bucket().await;
    let pipeline = Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap();
    let store = ExecutionStore::new(
        S3Objects::new(emulator.s3().await, bucket.clone()),
        &pipeline,
    );
    let t = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    let mut ids = Vec::new();
    for (i, author) in [
        "Ada Lovelace <ada@example.com>",
        "Grace Hopper <grace@example.com>",
    ]
    .iter()
    .enumerate()
    {
        let commit = Commit {
            id: CommitId::parse(&format!("{}", i + 1).repeat(40)).unwrap(),
            author: Some((*author).to_owned()),
            message: Some("Say hello".into()),
        };
        let created = store
            .create(
                &pipeline,
                Push::new("hello-api", "master", commit, t(i as i64 * 60)),
                t(i as i64 * 60),
            )
            .await
            .expect("create");
        ids.push(created.execution.id);
    }
    let failed = Event::BuildFailed {
        build_id: Some("hello-api-build:1".into()),
        reason: "phase BUILD FAILED: cargo test".into(),
        log_url: Some("https://logs.example/1".into()),
    };
    store.apply(&ids[0], failed, t(90)).await.expect("apply");

    let status = sluice(&emulator, &bucket, &["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let out = text(&status.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("EXECUTION") && lines[0].contains("STAGING  PRODUCTION"),
        "{out}"
    );
    assert!(
        lines[1].contains("222222222222") && lines[1].contains("Grace Hopper"),
        "newest first: {out}"
    );
    assert!(
        lines[2].contains("Ada Lovelace") && lines[2].contains("failed"),
        "{out}"
    );

    let show = sluice(&emulator, &bucket, &["show", ids[0].as_str()]);
    assert!(show.status.success(), "{}", text(&show.stderr));
    let out = text(&show.stdout);
    assert!(out.contains("Status      failed after 1m30s"), "{out}");
    assert!(out.contains("log: https://logs.example/1"), "{out}");
    assert!(
        out.contains("Reason      build failed: phase BUILD FAILED: cargo test"),
        "{out}"
    );
    assert!(
        out.contains("push of 111111111111 to master received"),
        "{out}"
    );
}

#[tokio::test]
async fn mistakes_are_explained_and_fail() {
    let emulator = Emulator::start();
    let bucket = emulator.fresh_bucket().await;
    for (args, expected) in [
        (vec!["show", "not-an-id"], "invalid execution id"),
        (
            vec!["show", "9999999999998-0123456789ab"],
            "has no execution 9999999999998-0123456789ab",
        ),
        (vec!["status", "-n", "0"], "0 is not in 1..=1000"),
    ] {
        let output = sluice(&emulator, &bucket, &args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let no_bucket = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("status")
        .env_remove("SLUICE_BUCKET")
        .output()
        .expect("run sluice");
    assert!(!no_bucket.status.success());
    assert!(
        text(&no_bucket.stderr).contains("SLUICE_BUCKET"),
        "{}",
        text(&no_bucket.stderr)
    );
}
