use super::records::{BuildRecord, PhaseRecord};
use super::runner::build_path;
use super::*;
use crate::bus::envelope;
use sluice_core::Event;
use sluice_engine::events::{BuildChange, decode_build};

#[test]
fn a_builds_path_starts_with_the_tools_that_exist() {
    let tools = tempfile::tempdir().expect("a directory");
    let missing = tools.path().join("not-installed");
    let path = build_path(&[missing.clone(), tools.path().to_owned()]);
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    assert_eq!(dirs.first(), Some(&tools.path().to_owned()), "{path}");
    assert!(!dirs.contains(&missing), "{path}");
    let own = std::env::var_os("PATH").unwrap_or_default();
    assert!(path.ends_with(&*own.to_string_lossy()), "{path}");
}

fn record(status: &str, phases: Vec<PhaseRecord>) -> BuildRecord {
    BuildRecord {
        id: "proj:0b8c6f0e-1111-4222-8333-444455556666".into(),
        arn: "arn:aws:codebuild:us-east-1:000000000000:build/proj:0b8c6f0e-1111-4222-8333-444455556666".into(),
        number: 1,
        project: "proj".into(),
        source_version: "a".repeat(40),
        source_location: "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/app".into(),
        buildspec: "buildspec.yml".into(),
        status: status.into(),
        current_phase: "BUILD".into(),
        phases,
        start: 1_800_000_000.0,
        end: None,
        environment: vec![("SLUICE_EXECUTION_ID".into(), "8204670692466-ae188c6dc706".into())],
        artifact_location: None,
        log_url: "http://127.0.0.1:1/builds/0b8c6f0e/log".into(),
        initiator: "sluice".into(),
        timeout_minutes: 30,
    }
}

fn decode(build: &BuildRecord) -> Event {
    let event = envelope(
        "aws.codebuild",
        "CodeBuild Build State Change",
        "us-east-1",
        "000000000000",
        vec![build.arn.clone()],
        build.event_detail(),
    );
    match decode_build(event, "proj").expect("Sluice decodes the local build event") {
        BuildChange::Ours { event, .. } => *event,
        other => panic!("not ours: {other:?}"),
    }
}

#[test]
fn the_events_of_a_local_build_decode_as_the_functions_read_them() {
    let started = decode(&record("IN_PROGRESS", vec![]));
    assert!(
        matches!(&started, Event::BuildStarted { build_id, .. } if build_id == "proj:0b8c6f0e-1111-4222-8333-444455556666"),
        "{started:?}"
    );
    let failed = record(
        "FAILED",
        vec![PhaseRecord {
            phase_type: "PRE_BUILD".into(),
            status: Some("FAILED".into()),
            start: 1_800_000_001.0,
            end: Some(1_800_000_002.0),
            contexts: vec![(
                "COMMAND_EXECUTION_ERROR".into(),
                "Error while executing command: cargo test. Reason: exit status 101".into(),
            )],
        }],
    );
    match decode(&failed) {
        Event::BuildFailed {
            reason, log_url, ..
        } => {
            assert!(
                reason.contains("PRE_BUILD") && reason.contains("cargo test"),
                "{reason}"
            );
            assert_eq!(
                log_url.as_deref(),
                Some("http://127.0.0.1:1/builds/0b8c6f0e/log")
            );
        }
        other => panic!("{other:?}"),
    }
}
