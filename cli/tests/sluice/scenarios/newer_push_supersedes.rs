//! A newer push supersedes the one waiting at production's gate; then staging is
//! rolled back, and the DORA metrics, the HTML report, the functions' metrics, the
//! dashboard and the alarms say what happened. The first story on its pipeline: the
//! metrics it reads are of its own deliveries.

use sluice_core::Status;
use sluice_local::demo;

use super::browser::Driver;
use super::harness::{Run, SETTLE};

pub(super) async fn story(run: &Run) {
    run.begin("a newer push supersedes").await;
    let first = run.push().await;
    let first_at_gate = run.at_gate(&first).await;
    let first_link = run.approval_link(&first_at_gate).await;

    run.change("template.yaml", "Default: hello", "Default: hi");
    let second = run.commit("hello-api: a shorter greeting").await;
    run.push().await;
    let second_at_gate = run.at_gate(&second).await;

    let first_now = run.follow(&first, SETTLE, |e| e.status.is_terminal()).await;
    assert_eq!(first_now.status, Status::Superseded);
    assert_eq!(first_now.superseded_by.as_ref(), Some(&second_at_gate.id));
    let (status, _) = demo::call(&first_link).await.expect("open the old link");
    assert_eq!(status, 410, "the old link is gone");
    assert_eq!(
        demo::decide(&first_link, "approve", "late")
            .await
            .expect("post"),
        410
    );

    let second_link = run.approval_link(&second_at_gate).await;
    assert_eq!(
        demo::decide(&second_link, "approve", "ops")
            .await
            .expect("approve"),
        200
    );
    let done = run
        .follow(&second, SETTLE, |e| e.status.is_terminal())
        .await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    assert_eq!(
        run.stack_status("hello-api-production").await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // The stand-in's IAM user has no boundary line: each stage created it under the
    // stage's own boundary, which Sluice put in the template it pinned and handed to
    // each stack as its PermissionsBoundary parameter.
    let iam = aws_sdk_iam::Client::new(&run.local.sdk);
    for stage in &done.stages {
        let stack = format!("hello-api-{}", stage.name);
        let boundary = run
            .stack_parameter(&stack, "PermissionsBoundary")
            .await
            .unwrap_or_else(|| panic!("{stack} has no PermissionsBoundary parameter"));
        assert_eq!(
            Some(boundary.as_str()),
            stage.boundary_arn.as_deref(),
            "{stack}"
        );
        let user = iam
            .get_user()
            .user_name(format!("{stack}-auditor"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{stack}'s user: {e:?}"));
        let given = user
            .user()
            .and_then(|u| u.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn());
        assert_eq!(given, Some(boundary.as_str()), "{stack}'s user");
    }

    // Staging is rolled back to the first commit: shown first, then deployed.
    assert_eq!(
        run.stack_parameter("hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hi")
    );
    let olga = run.person("sluice-operators", "olga").await;
    let (ok, said) = run.sluice(&olga, &["rollback", "staging", "--yes"]);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("back to commit {}", &first[..12])),
        "{said}"
    );
    assert!(said.contains("It will change 1 resource:"), "{said}");
    assert!(said.contains("approved staging of execution"), "{said}");
    let rolled_back = run
        .follow(&first, SETTLE, |e| {
            e.rollback_of.is_some() && e.status.is_terminal()
        })
        .await;
    assert_eq!(
        rolled_back.status,
        Status::Succeeded,
        "{:?}",
        rolled_back.reason
    );
    assert_eq!(rolled_back.rollback_of.as_ref(), Some(&first_now.id));
    let decision = rolled_back.stages[0]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone())
        .expect("confirmed");
    assert_eq!(decision.by, olga.arn);
    assert_eq!(
        run.stack_parameter("hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hello")
    );
    assert_eq!(
        run.stack_parameter("hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some("hi"),
        "production is left alone"
    );

    // By DORA's keys: two changes reached staging, and the second was rolled back
    // (and so recovered from); production got one deployment and no failure.
    for (stage, deployments, rolled_back, rate, recovered) in
        [("staging", 2, 1, 0.5, 1), ("production", 1, 0, 0.0, 0)]
    {
        let (ok, said) = run.sluice(&olga, &["metrics", "--stage", stage, "--format", "json"]);
        assert!(ok, "{said}");
        let json = &said[said.find('{').unwrap_or(0)..=said.rfind('}').unwrap_or(0)];
        let report: serde_json::Value = serde_json::from_str(json).expect("a JSON report");
        assert_eq!(report["deployments"], deployments, "{stage}: {report}");
        assert_eq!(report["rolled_back"], rolled_back, "{stage}: {report}");
        assert_eq!(report["failed"], 0, "{stage}: {report}");
        assert_eq!(
            report["change_failure_rate"].as_f64(),
            Some(rate),
            "{stage}: {report}"
        );
        assert_eq!(
            report["recovery_time"]["count"], recovered,
            "{stage}: {report}"
        );
        assert_eq!(report["not_recovered"], 0, "{stage}: {report}");
    }

    // The same over time, as a page of charts, opened in a browser: a chart of each
    // key for each stage, drawn, with the same figures.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("report.html");
    let (ok, said) = run.sluice(&olga, &["report", "--html", &page.to_string_lossy()]);
    assert!(ok && said.contains("Wrote"), "{said}");
    let driver = Driver::start();
    let browser = driver.client().await;
    browser
        .goto(&format!("file://{}", page.display()))
        .await
        .expect("open the report");
    let charts = browser
        .execute(
            r#"const stages = {};
            for (const section of document.querySelectorAll('section.stage')) {
              const charts = {};
              for (const svg of section.querySelectorAll('svg.chart')) {
                const bars = [...svg.querySelectorAll('rect.bar')];
                charts[svg.dataset.metric] = {
                  drawn: svg.getBoundingClientRect().width > 100,
                  total: bars.reduce((n, b) => n + Number(b.dataset.value), 0),
                };
              }
              stages[section.dataset.stage] = charts;
            }
            return stages;"#,
            vec![],
        )
        .await
        .expect("read the charts");
    browser.close().await.expect("close the browser");
    for (stage, deployments, failure_pct) in [("staging", 2.0, 50.0), ("production", 1.0, 0.0)] {
        let of = &charts[stage];
        for metric in [
            "deployments",
            "lead-time",
            "change-failure-rate",
            "recovery-time",
            "approval-wait",
        ] {
            assert_eq!(of[metric]["drawn"], true, "{stage} {metric}: {charts}");
        }
        assert_eq!(
            of["deployments"]["total"].as_f64(),
            Some(deployments),
            "{stage}: {charts}"
        );
        assert_eq!(
            of["change-failure-rate"]["total"].as_f64(),
            Some(failure_pct),
            "{stage}: {charts}"
        );
    }

    // The functions wrote their metrics to their logs in Embedded Metric Format, as
    // CloudWatch reads them: deployments and the rollback by stage, and how long
    // staging took to be restored, in the Sluice namespace.
    let documents = run
        .local
        .emf_documents()
        .await
        .expect("the functions' metrics");
    let about_staging = |name: &str| {
        documents.iter().any(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Sluice"
                && d["pipeline"] == "sluice"
                && d["stage"] == "staging"
                && !d[name].is_null()
        })
    };
    for name in [
        "Deployments",
        "Rollbacks",
        "RestoreSeconds",
        "LeadTimeSeconds",
    ] {
        assert!(
            about_staging(name),
            "no EMF document with staging's {name}: {documents:?}"
        );
    }

    // What the template gives an operator to look at, as the emulator made it: the
    // dashboard, with its widgets, and an alarm per stage.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&run.local.sdk);
    let dashboard = cloudwatch
        .get_dashboard()
        .dashboard_name("sluice-sluice")
        .send()
        .await
        .expect("the dashboard");
    let body: serde_json::Value =
        serde_json::from_str(dashboard.dashboard_body().unwrap_or_default())
            .expect("the dashboard's body is JSON");
    let titles: Vec<&str> = body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter_map(|w| w["properties"]["title"].as_str())
        .collect();
    for wanted in [
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate and time to restore",
        "Executions by outcome",
        "Approval wait",
        "Build time",
        "Between steps",
        "Failed events",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(wanted)),
            "no widget {wanted}: {titles:?}"
        );
    }
    let query = body["widgets"]
        .as_array()
        .and_then(|w| w.iter().find_map(|w| w["properties"]["query"].as_str()))
        .expect("the failure rate's query");
    assert!(
        query.starts_with("SOURCE '/aws/lambda/sluice-sluice-source' | "),
        "{query}"
    );
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_name_prefix("sluice-")
        .send()
        .await
        .expect("DescribeAlarms");
    let names: Vec<&str> = alarms
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    for wanted in [
        "sluice-sluice-staging-deploy-failed",
        "sluice-sluice-production-deploy-failed",
        "sluice-sluice-production-approval-waiting",
        "sluice-sluice-execution-stuck",
    ] {
        assert!(names.contains(&wanted), "no alarm {wanted}: {names:?}");
    }
}
