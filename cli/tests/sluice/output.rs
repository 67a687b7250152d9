//! What the `sluice` binary gives scripts and people debugging it, against the emulated
//! S3: `--json` on `status`, `show` and `watch`, `-v`'s SDK lines, and the completion
//! scripts.

use std::process::Command;

use chrono::{TimeZone, Utc};
use sluice_core::{Event, Execution};
use sluice_tests::Emulator;

use crate::commands::{hello_pipeline, pushed, sluice, text};

#[tokio::test]
async fn json_prints_the_executions_as_the_state_stores_them() {
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
    let older = pushed(&store, &pipeline, 'a', Some("First"), at(0)).await;
    let newer = pushed(&store, &pipeline, 'b', Some("Second"), at(60)).await;
    let failed = Event::BuildFailed {
        build_id: Some("hello-api-build:1".into()),
        reason: "phase BUILD FAILED".into(),
        cause: sluice_core::Cause::Change,
        log_url: None,
    };
    store.apply(&older, failed, at(90)).await.expect("apply");

    let out = sluice(&emulator, &bucket, &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Vec<Execution> = serde_json::from_slice(&out.stdout).expect("executions");
    let ids: Vec<_> = listed.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, [newer.clone(), older.clone()], "newest first");
    assert_eq!(
        listed[1],
        store.load(&older).await.expect("load").expect("stored"),
        "as stored"
    );

    let out = sluice(&emulator, &bucket, &["show", older.as_str(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Execution = serde_json::from_slice(&out.stdout).expect("an execution");
    assert_eq!(shown, listed[1]);

    // It ended: one document, the last, and the exit status says how it ended.
    let out = sluice(&emulator, &bucket, &["watch", older.as_str(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let watched: Execution = serde_json::from_str(lines[0]).expect("one document a line");
    assert_eq!(watched, listed[1]);
}

#[tokio::test]
async fn verbose_shows_the_sdks_requests_and_quiet_shows_none() {
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    pushed(&store, &pipeline, 'c', None, Utc::now()).await;

    let quiet = sluice(&emulator, &bucket, &["status"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "");

    let verbose = sluice(&emulator, &bucket, &["status", "-v"]);
    assert!(verbose.status.success(), "{}", text(&verbose.stderr));
    let said = text(&verbose.stderr);
    assert!(said.contains("ListObjectsV2"), "{said}");
    assert!(said.contains("aws_smithy_runtime"), "{said}");
    assert_eq!(verbose.stdout, quiet.stdout, "-v changes stderr only");
}

#[test]
fn completions_are_printed_for_each_shell_without_aws() {
    for (shell, says) in [
        ("bash", "_sluice()"),
        ("zsh", "#compdef sluice"),
        ("fish", "complete -c sluice"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["completions", shell])
            .env_clear()
            .output()
            .expect("run sluice");
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(says), "{shell}: {script}");
        for command in ["approve", "watch", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
}
