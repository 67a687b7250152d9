//! The `sluice` binary against the emulated S3, reading state the store wrote.

use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{Commit, CommitId, Event, Pipeline, Push};
use sluice_tests::Emulator;

/// `sluice args` against the emulator, with nothing from this machine's AWS setup.
pub(crate) fn sluice_command(emulator: &Emulator, bucket: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("SLUICE_BUCKET", bucket)
        .env("SLUICE_PIPELINE", "hello");
    command
}

pub(crate) fn sluice(emulator: &Emulator, bucket: &str, args: &[&str]) -> Output {
    sluice_command(emulator, bucket, args)
        .output()
        .expect("run sluice")
}

/// Runs each of `cases` and checks that it fails, saying what it is expected to say.
pub(crate) fn refused(emulator: &Emulator, bucket: &str, cases: &[(Vec<&str>, &str)]) {
    for (args, expected) in cases {
        let output = sluice(emulator, bucket, args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// A fresh bucket, and the store of the pipeline `hello` in it.
pub(crate) async fn hello_pipeline(
    emulator: &Emulator,
) -> (String, Pipeline, ExecutionStore<S3Objects>) {
    let bucket = emulator.fresh_bucket().await;
    let pipeline = Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap();
    let store = ExecutionStore::new(
        S3Objects::new(emulator.s3().await, bucket.clone()),
        &pipeline,
    );
    (bucket, pipeline, store)
}

/// The execution of a push at `at` of the commit `digit` × 40, with `message`.
pub(crate) async fn pushed(
    store: &ExecutionStore<S3Objects>,
    pipeline: &Pipeline,
    digit: char,
    message: Option<&str>,
    at: chrono::DateTime<Utc>,
) -> sluice_core::ExecutionId {
    let commit = Commit {
        id: CommitId::parse(&digit.to_string().repeat(40)).unwrap(),
        author: None,
        message: message.map(str::to_owned),
    };
    store
        .create(pipeline, Push::new("hello-api", "master", commit, at), at)
        .await
        .expect("create")
        .execution
        .id
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn status_and_show_read_what_the_functions_wrote() {
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
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
        cause: sluice_core::Cause::Change,
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
async fn a_note_is_signed_with_the_callers_identity_and_shown() {
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let id = pushed(&store, &pipeline, 'a', None, at).await;

    let added = sluice(
        &emulator,
        &bucket,
        &[
            "note",
            id.as_str(),
            "Rolled back by hand\u{1b}[2J; see INC-42",
        ],
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let said = text(&added.stdout);
    assert!(
        said.starts_with(&format!("Note added to {id} by arn:aws:")),
        "{said}"
    );

    let saved = store.load(&id).await.expect("load").expect("exists");
    assert_eq!(saved.notes.len(), 1);
    assert!(
        saved.notes[0].author.starts_with("arn:aws:"),
        "{:?}",
        saved.notes
    );
    assert_eq!(saved.notes[0].text, "Rolled back by hand; see INC-42");

    let show = text(&sluice(&emulator, &bucket, &["show", id.as_str()]).stdout);
    assert!(
        show.contains(&format!("note by {}", saved.notes[0].author))
            && show.contains("Rolled back by hand; see INC-42"),
        "{show}"
    );

    refused(
        &emulator,
        &bucket,
        &[
            (vec!["note", id.as_str(), "  "], "the note is empty"),
            (
                vec!["note", "9999999999998-0123456789ab", "hello"],
                "has no execution 9999999999998-0123456789ab",
            ),
        ],
    );
    let long = "x".repeat(2001);
    let too_long = sluice(&emulator, &bucket, &["note", id.as_str(), &long]);
    assert!(!too_long.status.success());
    assert!(
        text(&too_long.stderr).contains("note not added: a note needs a text of 1 to 2000"),
        "{}",
        text(&too_long.stderr)
    );
    let after = store.load(&id).await.expect("load").expect("exists");
    assert_eq!(after.notes, saved.notes, "refused notes change nothing");
}

#[tokio::test]
async fn mistakes_are_explained_and_fail() {
    let emulator = Emulator::start();
    let bucket = emulator.fresh_bucket().await;
    refused(
        &emulator,
        &bucket,
        &[
            (
                vec!["show", "not-an-id"],
                "\"not-an-id\" is not an execution id",
            ),
            (
                vec!["show", "9999999999998-0123456789ab"],
                "has no execution 9999999999998-0123456789ab",
            ),
            (vec!["status", "-n", "0"], "0 is not in 1..=1000"),
        ],
    );
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

#[tokio::test]
async fn watch_follows_an_execution_live_and_exits_by_how_it_ended() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let id = pushed(
        &store,
        &pipeline,
        'c',
        Some("Make it faster\n\nlong story"),
        at,
    )
    .await;

    let mut child = sluice_command(&emulator, &bucket, &["watch", id.as_str()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sluice watch");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    // Once it has said what it watches, everything after is news to it.
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        out.read_line(&mut line).expect("first line");
        (line, out)
    });
    let (first, mut out) = tokio::time::timeout(std::time::Duration::from_secs(60), first)
        .await
        .expect("watch starts")
        .expect("reader");
    assert!(first.contains(&format!("watching {id}")), "{first}");
    assert!(
        first.contains("Make it faster") && !first.contains("long story"),
        "{first}"
    );

    let started = Event::BuildStarted {
        build_id: "hello-api-build:7".into(),
        log_url: None,
    };
    store.apply(&id, started, at).await.expect("apply");
    let failed = Event::BuildFailed {
        build_id: Some("hello-api-build:7".into()),
        reason: "phase BUILD FAILED: cargo test".into(),
        cause: sluice_core::Cause::Change,
        log_url: None,
    };
    store.apply(&id, failed, at).await.expect("apply");

    let rest = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("output");
        (rest, child.wait().expect("exit"))
    });
    let (rest, status) = tokio::time::timeout(std::time::Duration::from_secs(60), rest)
        .await
        .expect("watch ends with the execution")
        .expect("reader");
    assert_eq!(status.code(), Some(1), "a failed execution exits 1: {rest}");
    assert!(rest.contains("phase BUILD FAILED: cargo test"), "{rest}");
    assert!(rest.contains("failed · build=failed"), "{rest}");
    assert!(
        rest.trim_end().ends_with(&format!(
            "{id} failed: build failed: phase BUILD FAILED: cargo test"
        )),
        "{rest}"
    );

    let missing = sluice(&emulator, &bucket, &["watch", "1800000000000-0123456789ab"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing.stderr).contains("no execution"),
        "{}",
        text(&missing.stderr)
    );
}

/// `sluice local` refuses a bad stage list or application before it starts anything,
/// and says what is wrong.
#[test]
fn local_mode_refuses_bad_stages_and_applications_before_starting() {
    let dir = tempfile::tempdir().expect("a directory");
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let state = dir.path().join("state");
    let no_buildspec = dir.path().join("my-app");
    std::fs::create_dir_all(&no_buildspec).expect("an application directory");
    std::fs::write(no_buildspec.join("template.yaml"), "Resources: {}\n").expect("a template");
    let badly_named = dir.path().join("my_app");
    std::fs::create_dir_all(&badly_named).expect("an application directory");
    for file in ["template.yaml", "buildspec.yml"] {
        std::fs::write(badly_named.join(file), "x: 1\n").expect("a file");
    }
    let cases: [(Vec<String>, &str); 9] = [
        (
            vec!["--stages".into(), "dev,Prod".into()],
            r#"invalid stage name "Prod""#,
        ),
        (
            vec![
                "--stages".into(),
                "dev,production".into(),
                "--approval".into(),
                "prod".into(),
            ],
            r#"--approval names "prod", which is not one of the stages (dev, production)"#,
        ),
        (
            vec![
                "--app".into(),
                dir.path().join("absent").display().to_string(),
            ],
            "--app: there is no directory",
        ),
        (
            vec!["--app".into(), no_buildspec.display().to_string()],
            "has no buildspec.yml",
        ),
        (
            vec!["--app".into(), badly_named.display().to_string()],
            r#"the directory name "my_app" names the repository and the stacks"#,
        ),
        (
            vec![
                "--app".into(),
                badly_named.display().to_string(),
                "--buildspec".into(),
                "api/buildspec.yml".into(),
            ],
            "has no api/buildspec.yml",
        ),
        (
            vec!["--include-paths".into(), "/api".into()],
            "starts with '/' or './'",
        ),
        (
            vec!["--sibling".into(), "stack=web".into()],
            "needs stack=NAME and application=NAME",
        ),
        (
            vec![
                "--sibling".into(),
                "stack=sluice-web application=hello-web".into(),
            ],
            r#"pipeline "sluice-web" clashes with pipeline "sluice""#,
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["local", "--workspace", workspace, "--state"])
            .arg(&state)
            .args(&args)
            .output()
            .expect("run sluice");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!state.exists(), "{args:?} started local mode");
    }
}
