use super::records::{BuildRecord, PhaseRecord};
use super::*;
use crate::bus::envelope;
use sluice_core::Event;
use sluice_engine::events::{BuildChange, decode_build};

fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{text}\n")).expect("write a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A buildspec's `pip install` once landed in Sluice's own tool environment, whose
/// `bin` came first on the build's PATH. Now a build sees the tools, not their pip.
#[tokio::test]
async fn a_builds_pip_install_cannot_change_sluices_own_tools() {
    let dir = tempfile::tempdir().expect("a directory");
    let venv = dir.path().join("venv/bin");
    std::fs::create_dir_all(&venv).expect("venv");
    let marker = dir.path().join("venv-changed");
    write_script(&venv.join("sam"), "echo sam from the tools");
    write_script(&venv.join("pip"), &format!("touch '{}'", marker.display()));
    write_script(
        &venv.join("python3"),
        &format!("touch '{}'", marker.display()),
    );
    let bin = dir.path().join("build/bin");
    let lines = tools::prepare(&bin, std::slice::from_ref(&venv), &[])
        .await
        .expect("prepared");
    assert!(lines.is_empty(), "{lines:?}");
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "pip install something >/dev/null 2>&1; python3 -c 1 >/dev/null 2>&1; sam",
        ])
        .env("PATH", tools::build_path(&bin))
        .output()
        .expect("sh runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sam from the tools"
    );
    assert!(
        !marker.exists(),
        "the build ran the tools' own pip or python"
    );
}

#[tokio::test]
async fn runtime_versions_pick_the_python_asked_for_and_say_what_the_machine_lacks() {
    let python = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .expect("python3 on PATH (make needs it too)");
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .expect("python3 runs");
    let minor = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dir = tempfile::tempdir().expect("a directory");
    let bin = dir.path().join("bin");
    let asked = vec![
        ("python".to_owned(), minor.clone()),
        ("nodejs".to_owned(), "999".to_owned()),
        ("cobol".to_owned(), "85".to_owned()),
    ];
    let lines = tools::prepare(&bin, &[], &asked).await.expect("prepared");
    assert!(
        lines[0].starts_with(&format!("[Container] Runtime python {minor}: ")),
        "{lines:?}"
    );
    let out = std::process::Command::new(bin.join("python3"))
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .expect("the build's python3 runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), minor);
    assert!(bin.join("pip").is_file(), "pip runs that python's pip");
    assert!(
        lines[1].contains("nodejs 999 is not on this machine"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("cobol is not a runtime sluice local knows"),
        "{lines:?}"
    );
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
