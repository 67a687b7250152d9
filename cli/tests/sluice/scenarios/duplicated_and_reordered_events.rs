//! The soak: events duplicated and reordered, faults injected, a storm of pushes;
//! nothing lost, nothing done twice.

use std::time::Duration;

use sluice_core::Status;
use sluice_local::Local;
use sluice_local::bus::Redelivery;
use sluice_local::demo::{self, approval_email, follow};

use super::harness::{App, Run, SETTLE, workspace};

/// A count from the environment (`make soak` raises them), or `default`.
fn soak_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a count")),
        Err(_) => default,
    }
}

/// How often a stack reached a new state by an update or its creation: the number
/// of change sets CloudFormation executed on it.
async fn stack_deployments(local: &Local, stack: &str) -> usize {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let mut count = 0;
    let mut next = None;
    loop {
        let page = cloudformation
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(next)
            .send()
            .await
            .expect("stack events");
        count += page
            .stack_events()
            .iter()
            .filter(|e| e.logical_resource_id() == Some(stack))
            .filter(|e| {
                matches!(
                    e.resource_status().map(|s| s.as_str()),
                    Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
                )
            })
            .count();
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return count;
        }
    }
}

/// The short soak (`make test`; `make soak` runs it long): every event delivered one to
/// three times in shuffled order, a tenth of the functions' AWS requests throttled or
/// failed, pushes one at a time and then a storm of pushes; when it settles, one
/// execution per commit, each ended or the newest at the gate, no build or deployment
/// twice, production on the newest approved commit, and nothing in the failed-events
/// queue.
#[tokio::test(flavor = "multi_thread")]
async fn duplicated_and_reordered_events_and_a_push_storm_lose_and_repeat_nothing() {
    let sequential = soak_count("SLUICE_SOAK_PUSHES", 3);
    let storm = soak_count("SLUICE_SOAK_STORM", 5);
    let share: f64 = std::env::var("SLUICE_SOAK_FAULTS").map_or(0.1, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("SLUICE_SOAK_FAULTS={v:?} is not a share"))
    });
    let redelivery = Redelivery {
        copies: 3,
        max_delay: Duration::from_millis(1500),
    };
    let workspace = workspace().canonicalize().expect("workspace");
    let faults = sluice_local::faults::Faults::new(share, &workspace).expect("a valid share");
    let run = Run::start_configured(App::Quick, "staging,production", |options| {
        options.redelivery = Some(redelivery);
        options.faults = Some(faults);
        // The fault proxy re-addresses each request, which breaks its signature once
        // the emulator checks signatures (IAM evaluated): this scenario is about
        // faults and redelivery, so it runs without.
        options.iam = false;
    })
    .await;
    let mut commits = Vec::new();

    // One push at a time: each reaches the gate, taking it from the one before.
    for i in 0..sequential {
        let commit = run.commit_greeting(&format!("soak-{i}")).await;
        run.push().await;
        run.at_gate(&commit).await;
        commits.push(commit);
    }
    // A storm: commits made first, then each pushed on its own, as fast as git goes.
    let mut storm_commits = Vec::new();
    for i in 0..storm {
        storm_commits.push(run.commit_greeting(&format!("storm-{i}")).await);
    }
    let storm_began = std::time::Instant::now();
    for commit in &storm_commits {
        run.checkout.push_commit(commit).await.expect("push");
    }
    let storm_took = storm_began.elapsed();
    commits.extend(storm_commits);
    let newest = commits.last().expect("a commit").clone();
    let greeting = format!("storm-{}", storm.saturating_sub(1));

    // Settling, with the sweeper's pass as its schedule would run it: the newest
    // waits at the gate with a live link; every other one ends.
    run.local.sweep().await.expect("a sweep");
    let at_gate = run.at_gate(&newest).await;
    for commit in &commits[..commits.len() - 1] {
        let ended = follow(&run.local, commit, SETTLE, |e| e.status.is_terminal())
            .await
            .expect("every older execution ends");
        assert_ne!(ended.status, Status::Failed, "{commit}: {:?}", ended.reason);
    }
    let link = approval_email(&run.local, at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the newest's approval email")
        .approval_link()
        .expect("a link");
    assert_eq!(demo::call(&link).await.expect("open the link").0, 200);
    assert_eq!(
        demo::decide(&link, "approve", "soak")
            .await
            .expect("approve"),
        200
    );
    let done = follow(&run.local, &newest, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the newest finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);

    // One execution per commit, whatever the copies of its push.
    let executions = run
        .local
        .store()
        .expect("store")
        .recent(1000)
        .await
        .expect("executions");
    let mut per_commit = std::collections::HashMap::new();
    for e in &executions {
        *per_commit.entry(e.commit.id.to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_commit.len(), commits.len(), "an execution per commit");
    assert!(per_commit.values().all(|&n| n == 1), "{per_commit:?}");
    assert!(executions.iter().all(|e| e.status.is_terminal()));

    // No build twice: one per execution that built.
    let builds = run.local.builds_per_execution();
    assert!(
        builds.values().all(|&n| n == 1),
        "builds per execution: {builds:?}"
    );

    // No deployment twice: each stack changed once per stage that deployed.
    let mut deployed = Vec::new();
    for stage in ["staging", "production"] {
        let expected = executions
            .iter()
            .filter_map(|e| e.stages.iter().find(|s| s.name.as_str() == stage))
            .filter(|s| s.status == sluice_core::StageStatus::Succeeded)
            .count();
        let stack = format!("hello-api-{stage}");
        let actual = stack_deployments(&run.local, &stack).await;
        assert_eq!(
            actual, expected,
            "{stack}: deployments against stages that deployed"
        );
        deployed.push((stage, actual));
    }
    assert_eq!(
        run.stack_parameter("hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some(greeting.as_str()),
        "production runs the newest approved commit"
    );

    // Nothing failed for good.
    let sqs = aws_sdk_sqs::Client::new(&run.local.sdk);
    let queue = run
        .local
        .output("FailedEventsQueueUrl")
        .expect("queue output");
    let failed = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("read the failed-events queue");
    let failed: Vec<_> = failed.messages().iter().filter_map(|m| m.body()).collect();
    assert!(failed.is_empty(), "failed events: {failed:#?}");

    let superseded = executions
        .iter()
        .filter(|e| e.status == Status::Superseded)
        .count();
    let faults = run
        .local
        .fault_stats()
        .await
        .expect("the proxy's statistics")
        .expect("faults were injected");
    assert!(
        faults.requests.faulted > 0,
        "the proxy failed none of the functions' {} requests",
        faults.requests.total
    );
    let per_service = faults
        .by_service
        .iter()
        .map(|s| format!("{} {}/{}", s.service, s.faulted, s.requests))
        .collect::<Vec<_>>()
        .join(", ");
    let table = [
        ("pushes, one at a time", sequential.to_string()),
        ("pushes in the storm", storm.to_string()),
        (
            "storm pushed within",
            format!("{:.1} s", storm_took.as_secs_f64()),
        ),
        (
            "event copies (1-3 each, 0-1.5 s apart)",
            run.local.invocations().to_string(),
        ),
        (
            "functions' AWS requests failed (throttled or 500)",
            format!("{} of {}", faults.requests.faulted, faults.requests.total),
        ),
        ("  per service, failed/all", per_service),
        ("executions (one per commit)", executions.len().to_string()),
        (
            "superseded / succeeded",
            format!("{superseded} / {}", executions.len() - superseded),
        ),
        (
            "builds (each execution at most once)",
            builds.values().sum::<usize>().to_string(),
        ),
        (
            "deployments staging / production",
            format!("{} / {}", deployed[0].1, deployed[1].1),
        ),
        ("failed events queued", failed.len().to_string()),
    ];
    println!("\nsoak: injected and checked");
    for (what, value) in table {
        println!("{what:<50} {value}");
    }
    println!(
        "\n{}",
        handler_table(
            &run.local
                .emf_documents()
                .await
                .expect("the functions' metrics")
        )
    );
}

/// Per function, from the metrics the functions logged: invocations, the AWS requests
/// each made (the SDK interceptor's count), how long each took, and from an event to
/// the request that moved the delivery on.
fn handler_table(documents: &[serde_json::Value]) -> String {
    let mut per_function: std::collections::BTreeMap<String, [Vec<f64>; 3]> = Default::default();
    let values = |v: &serde_json::Value| -> Vec<f64> {
        match v {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_f64()).collect(),
            other => other.as_f64().into_iter().collect(),
        }
    };
    for d in documents {
        let Some(function) = d["function"].as_str() else {
            continue;
        };
        let entry = per_function.entry(function.to_owned()).or_default();
        entry[0].extend(values(&d["AwsCalls"]));
        entry[1].extend(values(&d["HandlerMilliseconds"]));
        entry[2].extend(values(&d["StepDelayMilliseconds"]));
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mut out = format!(
        "{:<10} {:>12} {:>18} {:>19} {:>26}\n",
        "function",
        "invocations",
        "AWS calls p50/max",
        "handler ms p50/max",
        "event to step ms p50/max"
    );
    for (function, [calls, ms, step]) in per_function {
        let step = if step.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.0} / {:.0}", median(&step), max(&step))
        };
        out.push_str(&format!(
            "{function:<10} {:>12} {:>18} {:>19} {step:>26}\n",
            ms.len(),
            format!("{:.0} / {:.0}", median(&calls), max(&calls)),
            format!("{:.0} / {:.0}", median(&ms), max(&ms)),
        ));
    }
    out
}
