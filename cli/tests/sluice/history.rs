//! What the `sluice` binary reads from a pipeline's history (`metrics`, `report`) and
//! what an operator's command names from it before it is signed, against the
//! emulated S3.

use chrono::{TimeZone, Utc};
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{Commit, CommitId, Pipeline, Push};
use sluice_tests::Emulator;

use crate::commands::{hello_pipeline, refused, sluice, text};

/// `sluice metrics` over documents as the functions leave them: a deployment, a
/// failure fixed by the next one, and an execution still waiting.
#[tokio::test]
async fn metrics_computes_the_four_keys_from_the_documents() {
    use sluice_core::StageStatus;
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    let now = Utc::now();
    let hours = |h: i64| now - chrono::Duration::hours(h);
    // (commit digit, pushed hours ago, production's end: status and hours ago)
    let history = [
        ('1', 50, Some((StageStatus::Succeeded, 48))),
        ('2', 30, Some((StageStatus::Failed, 29))),
        ('3', 27, Some((StageStatus::Succeeded, 26))),
        ('4', 2, None),
        // Long ago: outside the window.
        ('5', 24 * 60, Some((StageStatus::Succeeded, 24 * 60 - 1))),
    ];
    for (digit, pushed, production) in history {
        let commit = Commit {
            id: CommitId::parse(&digit.to_string().repeat(40)).unwrap(),
            author: None,
            message: None,
        };
        let mut e = sluice_core::start(
            &pipeline,
            Push::new("hello-api", "master", commit, hours(pushed)),
            hours(pushed),
        )
        .expect("an execution")
        .execution;
        e.stages[0].started_at = Some(hours(pushed) + chrono::Duration::minutes(5));
        if let Some((status, ended)) = production {
            e.stages[1].status = status;
            e.stages[1].finished_at = Some(hours(ended));
        }
        store.insert(&e).await.expect("insert");
    }

    let out = sluice(
        &emulator,
        &bucket,
        &["metrics", "--since", "30d", "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["stage"], "production");
    assert_eq!(report["deployments"], 2);
    // Lead times 2h and 1h: nearest-rank median 1h, p90 2h.
    assert_eq!(report["lead_time"]["median_seconds"], 3600);
    assert_eq!(report["lead_time"]["p90_seconds"], 7200);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["change_failure_rate"].as_f64(), Some(1.0 / 3.0));
    // The failure 29h ago was fixed by the deployment 26h ago.
    assert_eq!(report["recovery_time"]["median_seconds"], 3 * 3600);
    assert_eq!(report["build_time"]["median_seconds"], 300);

    let table = sluice(&emulator, &bucket, &["metrics"]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let out = text(&table.stdout);
    assert!(
        out.contains("Deployment frequency    2 deployments, 0.07 a day"),
        "{out}"
    );
    assert!(
        out.contains("Change failure rate     33%  (1 failed + 0 rolled back, of 3 changes)"),
        "{out}"
    );
    assert!(out.contains("Definitions"), "{out}");

    refused(
        &emulator,
        &bucket,
        &[
            (
                vec!["metrics", "--stage", "qa"],
                "has a stage qa; its stages: staging, production",
            ),
            (
                vec!["metrics", "--since", "3y"],
                "the unit must be m, h, d or w",
            ),
        ],
    );

    // The same as a page of charts: a section per stage, production's deployments
    // chart adding up to the two deployments (the browser test is in local.rs).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("report.html");
    let path = page.to_string_lossy().into_owned();
    let out = sluice(&emulator, &bucket, &["report", "--html", &path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 stages (staging, production)"),
        "{}",
        text(&out.stdout)
    );
    let html = std::fs::read_to_string(&page).expect("the page");
    let production = &html[html.find("data-stage=\"production\"").expect("production")..];
    let chart = &production[production
        .find("data-metric=\"deployments\"")
        .expect("chart")..];
    let chart = &chart[..chart.find("</svg>").expect("end of chart")];
    let total: f64 = chart
        .split("data-value=\"")
        .skip(1)
        .filter_map(|rest| rest[..rest.find('"')?].parse::<f64>().ok())
        .sum();
    assert_eq!(total, 2.0, "{chart}");
    assert!(
        html.contains("default-src 'none'"),
        "the page may fetch nothing"
    );
    refused(
        &emulator,
        &bucket,
        &[
            (
                vec!["report", "--html", "/no/such/dir/report.html"],
                "the directory /no/such/dir does not exist",
            ),
            (
                vec!["report", "--html", &path, "--stage", "qa"],
                "has no stage qa; its stages: staging, production",
            ),
        ],
    );
}

/// A delivery of commit `digit` × 40 at `at` that went live on every stage.
fn delivered(
    pipeline: &Pipeline,
    digit: char,
    at: chrono::DateTime<Utc>,
) -> sluice_core::Execution {
    let commit = Commit {
        id: CommitId::parse(&digit.to_string().repeat(40)).unwrap(),
        author: None,
        message: None,
    };
    let mut e = sluice_core::start(pipeline, Push::new("hello-api", "master", commit, at), at)
        .expect("an execution")
        .execution;
    e.artifact = Some(sluice_core::Artifact::default());
    for stage in &mut e.stages {
        stage.status = sluice_core::StageStatus::Succeeded;
    }
    e.status = sluice_core::Status::Succeeded;
    e
}

#[tokio::test]
async fn a_rollback_or_a_decision_is_signed_naming_its_target_as_the_state_says_now() {
    use sluice_core::StageName;
    use sluice_engine::operator::{Action, Decide, Rollback};
    let emulator = Emulator::start();
    let (bucket, pipeline, store) = hello_pipeline(&emulator).await;
    let sdk = emulator.sdk_config().await;
    let store_now = || {
        Ok(ExecutionStore::new(
            S3Objects::new(aws_sdk_s3::Client::new(&sdk), bucket.clone()),
            &pipeline,
        ))
    };

    // Nothing went live yet: refused here, before anything is signed or sent.
    let mut rollback = Action::Rollback(Rollback {
        stage: StageName::parse("production").expect("a stage name"),
        to: None,
    });
    let refused = sluice::operate::explicit_targets(&mut rollback, store_now, "hello", &sdk)
        .await
        .expect_err("nothing to roll back to");
    assert!(
        refused
            .to_string()
            .contains("nothing was ever deployed to production"),
        "{refused:#}"
    );

    // Commit a, then b twice: production goes back to a, by its execution's id.
    let a = delivered(
        &pipeline,
        'a',
        Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
    );
    let b = delivered(
        &pipeline,
        'b',
        Utc.with_ymd_and_hms(2026, 5, 2, 9, 0, 0).unwrap(),
    );
    let b_again = delivered(
        &pipeline,
        'b',
        Utc.with_ymd_and_hms(2026, 5, 3, 9, 0, 0).unwrap(),
    );
    for e in [&b_again, &a, &b] {
        store.insert(e).await.expect("insert");
    }
    sluice::operate::explicit_targets(&mut rollback, store_now, "hello", &sdk)
        .await
        .expect("a target");
    assert_eq!(
        rollback,
        Action::Rollback(Rollback {
            stage: StageName::parse("production").expect("a stage name"),
            to: Some(a.id.clone()),
        })
    );

    // An approval without --stage names the stage waiting now; with none waiting it
    // is refused here.
    let mut waiting = delivered(&pipeline, 'c', Utc::now());
    waiting.status = sluice_core::Status::Deploying;
    waiting.stages[1].status = sluice_core::StageStatus::AwaitingApproval;
    store.insert(&waiting).await.expect("insert");
    let mut approve = Action::Approve(Decide {
        execution: waiting.id.clone(),
        stage: None,
        comment: None,
    });
    sluice::operate::explicit_targets(&mut approve, store_now, "hello", &sdk)
        .await
        .expect("the stage waiting");
    assert!(
        matches!(&approve, Action::Approve(Decide { stage: Some(s), .. }) if s.as_str() == "production"),
        "{approve:?}"
    );
    let mut approve = Action::Approve(Decide {
        execution: a.id.clone(),
        stage: None,
        comment: None,
    });
    let refused = sluice::operate::explicit_targets(&mut approve, store_now, "hello", &sdk)
        .await
        .expect_err("nothing waits");
    assert!(
        refused
            .to_string()
            .contains("no stage is waiting for approval"),
        "{refused:#}"
    );
}
