//! The functions' metrics: a delivery through the engine, with the Embedded Metric
//! Format recorder the functions install, writes the documents CloudWatch turns into
//! the `Sluice` namespace's metrics, with their dimensions. The recorder is global to
//! a process, and the other tests of this binary record too: the delivery runs alone,
//! in a child process of this binary.

use chrono::Duration;
use serde_json::Value;
use sluice_tests::world::{PRODUCTION, STAGING, World, commit};

/// The metric `name` with exactly the dimensions `dimensions` (besides `pipeline`),
/// from the flushed documents: its value(s).
fn metric<'a>(docs: &'a [Value], name: &str, dimensions: &[(&str, &str)]) -> Option<&'a Value> {
    docs.iter().find_map(|doc| {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        let names: Vec<&str> = directive["Metrics"]
            .as_array()?
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        let keys: Vec<&str> = directive["Dimensions"][0]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let wanted: Vec<&str> = std::iter::once("pipeline")
            .chain(dimensions.iter().map(|(k, _)| *k))
            .collect();
        let same_keys = keys.len() == wanted.len() && wanted.iter().all(|k| keys.contains(k));
        let same_values = doc["pipeline"] == "hello"
            && dimensions.iter().all(|(k, v)| doc[*k] == *v)
            && directive["Namespace"] == "Sluice";
        (names.contains(&name) && same_keys && same_values).then(|| &doc[name])
    })
}

/// Set in the child process that runs [`a_delivery_alone`].
const ALONE: &str = "SLUICE_METRICS_ALONE";

#[test]
fn a_delivery_writes_its_metrics_in_embedded_metric_format() {
    let test = "metrics::a_delivery_alone";
    let exe = std::env::current_exe().expect("this test binary");
    let out = std::process::Command::new(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ALONE, "1")
        .output()
        .expect("the test binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("test {test} ... ok")),
        "{test} failed in its own process:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run alone, in its own process, by a_delivery_writes_its_metrics_in_embedded_metric_format"]
async fn a_delivery_alone() {
    assert!(
        std::env::var_os(ALONE).is_some(),
        "run by a_delivery_writes_its_metrics_in_embedded_metric_format: the recorder is global"
    );
    sluice_engine::measure::install("hello");
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.advance(Duration::minutes(20));
    // The sweeper's pass sees the request waiting for 20 minutes.
    world.engine.sweep(10).await.expect("sweep");
    let (status, _) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    world.advance(Duration::minutes(3));
    world
        .deliver_stack(world.settle(PRODUCTION))
        .await
        .expect("stack event handled");

    let mut out = Vec::new();
    sluice_engine::measure::flush(&mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line one JSON document"))
        .collect();

    for outcome in ["started", "succeeded"] {
        assert_eq!(
            metric(&docs, "Executions", &[("outcome", outcome)]),
            Some(&Value::from(1)),
            "{outcome}: {text}"
        );
    }
    for stage in ["staging", "production"] {
        assert_eq!(
            metric(&docs, "Deployments", &[("stage", stage)]),
            Some(&Value::from(1)),
            "{stage}: {text}"
        );
        assert!(
            metric(&docs, "LeadTimeSeconds", &[("stage", stage)]).is_some(),
            "{stage}: {text}"
        );
    }
    // Approved 20 minutes after the request.
    let wait = metric(&docs, "ApprovalWaitSeconds", &[("stage", "production")]);
    let seconds = wait.and_then(|w| w.as_f64().or_else(|| w[0].as_f64()));
    assert_eq!(seconds, Some(1200.0), "{text}");
    assert!(metric(&docs, "BuildSeconds", &[]).is_some(), "{text}");
    let pending = metric(&docs, "ApprovalPendingMinutes", &[("stage", "production")]);
    let minutes = pending.and_then(|w| w.as_f64().or_else(|| w[0].as_f64()));
    assert_eq!(minutes, Some(20.0), "{text}");
    // Nothing else is recorded twice: a second flush has nothing new.
    let mut again = Vec::new();
    sluice_engine::measure::flush(&mut again);
    let again = String::from_utf8(again).expect("UTF-8");
    assert!(
        !again.contains("\"Executions\":1"),
        "counted again: {again}"
    );

    // A change that fails at staging, then one that fixes it 10 minutes later: one
    // failed deployment, and the stage restored after 600 s.
    let broken = world.push(&commit(2)).await;
    let template = format!("template of 2 {}", sluice_adapters::memory::FAIL_DEPLOY);
    world.build_succeeds(&broken, &template).await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    world.advance(Duration::minutes(10));
    let fix = world.push(&commit(3)).await;
    world.build_succeeds(&fix, "template of 3").await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");

    // A build that has said nothing for 45 minutes: the sweeper sees it stalled.
    let quiet = world.push(&commit(4)).await;
    world.advance(Duration::minutes(45));
    world.engine.sweep(10).await.expect("sweep");
    assert!(!world.execution(&quiet.id).await.status.is_terminal());

    let docs = flushed();
    let text = serde_json::to_string(&docs).expect("JSON");
    let stalled = metric(&docs, "StalledMinutes", &[]);
    let minutes = stalled.and_then(|w| w.as_f64().or_else(|| w[0].as_f64()));
    assert_eq!(minutes, Some(45.0), "{text}");
    let staging = [("stage", "staging")];
    assert_eq!(
        metric(&docs, "FailedDeployments", &staging),
        Some(&Value::from(1)),
        "{text}"
    );
    let restored = metric(&docs, "RestoreSeconds", &staging);
    let seconds = restored.and_then(|w| w.as_f64().or_else(|| w[0].as_f64()));
    assert_eq!(seconds, Some(600.0), "{text}");
    assert_eq!(
        metric(&docs, "Deployments", &staging),
        Some(&Value::from(1)),
        "{text}"
    );
    assert_eq!(
        metric(&docs, "Executions", &[("outcome", "failed")]),
        Some(&Value::from(1)),
        "{text}"
    );
}

/// What the recorder wrote since the last flush, one JSON document per line.
fn flushed() -> Vec<Value> {
    let mut out = Vec::new();
    sluice_engine::measure::flush(&mut out);
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line one JSON document"))
        .collect()
}

/// The names a text gives after each occurrence of `marker`, up to the first
/// character that cannot be in a metric name.
fn names_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn the_dashboard_and_the_alarms_name_only_metrics_the_functions_write() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let template = std::fs::read_to_string(path).expect("template.yaml");
    // Alarms: a Sluice-namespace alarm's MetricName follows its Namespace line.
    let alarm_metrics: Vec<&str> = template
        .match_indices("Namespace: Sluice\n")
        .filter_map(|(i, _)| names_after(&template[i..], "MetricName: ").first().copied())
        .collect();
    // The dashboard: SEARCH terms, and metrics listed as ["Sluice", "<name>", ...].
    let searched = names_after(&template, "MetricName=\\\"");
    let listed = names_after(&template, "[\"Sluice\", \"");
    let named: Vec<&str> = alarm_metrics
        .iter()
        .chain(&searched)
        .chain(&listed)
        .copied()
        .collect();
    for wanted in [
        "FailedDeployments",
        "ApprovalPendingMinutes",
        "StalledMinutes",
    ] {
        assert!(
            alarm_metrics.contains(&wanted),
            "no alarm on {wanted}: {alarm_metrics:?}"
        );
    }
    for wanted in [
        "Deployments",
        "LeadTimeSeconds",
        "Executions",
        "EventDelayMilliseconds",
        "StepDelayMilliseconds",
    ] {
        assert!(
            searched.contains(&wanted),
            "no widget of {wanted}: {searched:?}"
        );
    }
    for name in named {
        assert!(
            sluice_engine::measure::ALL.contains(&name),
            "template.yaml names the metric {name}, which no function writes"
        );
    }
}
