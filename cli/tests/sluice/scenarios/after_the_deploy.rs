//! After a deploy: post-deploy tests, their retries, production's alarm watch and
//! its deploy windows decide what goes live.

use std::time::Duration;

use sluice_core::Status;
use sluice_local::Local;
use sluice_local::demo::{approval_email, awaits_approval, follow};

use super::harness::{App, GATE, Run, SETTLE};

/// What the quick application deployed as `stack` serves: the greeting in the SSM
/// parameter its output `GreetingName` names, as its users (and its test) read it.
async fn served(local: &Local, stack: &str) -> String {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let described = sluice_local::stack::describe(&cloudformation, stack)
        .await
        .expect("describe the stack")
        .unwrap_or_else(|| panic!("no stack {stack}"));
    let name = described
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("GreetingName"))
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("{stack} has no output GreetingName"))
        .to_owned();
    aws_sdk_ssm::Client::new(&local.sdk)
        .get_parameter()
        .name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("read {name}: {e:?}"))
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_owned()
}

/// Deploys to staging are tested by the quick app's `buildspec-test.yml`, which reads
/// the greeting staging serves: a release that passes goes on to the gate; one that
/// serves a broken greeting is rolled back (its failure is the application's: it is
/// not retried), and staging serves the earlier one again. A test whose build machine
/// never came up is retried, and passes. Production is watched through an alarm for
/// a minute after each deploy: a quiet minute passes it, an alarm rolls it back.
/// Production deploys only on Saturdays from 10:00 to 18:00 in Paris, where the
/// functions' clock starts: a release approved after the window closed waits for the
/// next one, and deploys when the clock reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn after_the_deploy_tests_retries_alarms_and_windows_decide_what_goes_live() {
    let run = Run::start_configured(App::Quick, "staging,production", |options| {
        options
            .set_tests("staging", "buildspec-test.yml")
            .expect("valid test settings");
        options
            .set_retries("staging=2", 1)
            .expect("valid retry settings");
        options
            .set_watch("production", "hello-api-*-errors", 1)
            .expect("valid watch settings");
        options
            .set_windows("production", "Sat 10:00-18:00", "Europe/Paris")
            .expect("valid windows");
        options.clock = Some(at("2027-01-16T09:05:00Z"));
    })
    .await;
    let stack = "hello-api-staging";

    // The first release passes its test and waits at the production gate.
    let good = run.push().await;
    let passed = follow(&run.local, &good, GATE, |e| {
        e.status.is_terminal() || awaits_approval(e, "production")
    })
    .await
    .expect("the execution reaches the production gate");
    let test = passed.stages[0]
        .test_run
        .clone()
        .expect("the post-deploy test ran");
    let log = read_test_log(&run, &test);
    assert!(
        awaits_approval(&passed, "production"),
        "{:?}\n{log}",
        passed.reason
    );
    assert_eq!(test.status, sluice_core::BuildStatus::Succeeded);
    assert!(log.contains("staging serves: hello from staging"), "{log}");

    // A release whose greeting is broken passes its unit test and deploys, but its
    // post-deploy test finds it broken: staging goes back to the first release.
    let bad = run.commit_greeting("broken").await;
    run.push().await;
    let failed = follow(&run.local, &bad, GATE, |e| e.status.is_terminal())
        .await
        .expect("the release is rolled back");
    assert_eq!(failed.status, Status::Failed, "{:?}", failed.reason);
    let s = &failed.stages[0];
    assert_eq!(
        s.status,
        sluice_core::StageStatus::RolledBack,
        "{:?}",
        s.reason
    );
    assert_eq!(failed.stages[1].status, sluice_core::StageStatus::Pending);
    assert_eq!(
        s.retries, 0,
        "a failed test is the application's: not retried"
    );
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("post-deploy test failed: phase BUILD FAILED"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "rolled back: commit {} (execution {}) is live on staging again",
            &good[..12],
            passed.id
        )),
        "{reason}"
    );
    let log = read_test_log(&run, s.test_run.as_ref().expect("test ran"));
    assert!(
        log.contains("smoke test FAILED: the greeting is broken"),
        "{log}"
    );
    run.stack_reaches(stack, "UPDATE_COMPLETE").await;
    assert_eq!(
        served(&run.local, stack).await,
        "hello from staging",
        "staging serves the first release's greeting again"
    );

    // `sluice show` tells the story: what ran, what it found, what is live now.
    let reader = run.person("sluice-operators", "olga").await;
    let (ok, shown) = run.sluice(&reader, &["show", failed.id.as_str()]);
    assert!(ok, "{shown}");
    for line in [
        "rolled back",
        "post-deploy test buildspec-test.yml failed after",
        "test log: ",
        &format!(
            "; commit {} (execution {}) is live again",
            &good[..12],
            passed.id
        ),
    ] {
        assert!(shown.contains(line), "{line:?} missing from:\n{shown}");
    }
    let mail = run
        .local
        .outbox
        .wait_for(SETTLE, |m| m.subject.contains("FAILED at staging"))
        .await
        .expect("the failure is announced");
    assert!(mail.body.contains("Live again:    commit"), "{}", mail.body);

    // A good release whose test's build machine cannot be provisioned: the test is
    // retried on the sweeper's pass after its wait, without a new deploy, and passes.
    run.local.fail_build_provisioning("buildspec-test.yml", 1);
    let fixed = run.commit_greeting("hi").await;
    run.push().await;
    let waiting = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || e.stages[0].status == sluice_core::StageStatus::Retrying
    })
    .await
    .expect("the faulted test waits to be retried");
    let s = &waiting.stages[0];
    assert_eq!(
        s.status,
        sluice_core::StageStatus::Retrying,
        "{:?}",
        waiting.reason
    );
    let pending = s.retrying.clone().expect("a retry is due");
    assert!(
        pending.reason.contains("phase PROVISIONING"),
        "{}",
        pending.reason
    );
    let retried = sweep_until(&run, &fixed, |e| {
        e.stages[0].status != sluice_core::StageStatus::Retrying
    })
    .await;
    let passed = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || awaits_approval(e, "production")
    })
    .await
    .expect("the retried test passes");
    let s = &passed.stages[0];
    assert!(
        awaits_approval(&passed, "production"),
        "{:?}",
        passed.reason
    );
    assert_eq!(
        (s.retries, s.attempt),
        (1, 0),
        "the test ran again, the deploy did not"
    );
    assert_eq!(s.test_run.as_ref().map(|r| r.attempt), Some(1));
    assert_eq!(retried.stages[0].retries, 1);
    assert_eq!(
        run.stack_parameter(stack, "Greeting").await.as_deref(),
        Some("hi")
    );

    // Production is watched through its errors alarm for a minute after each deploy:
    // a quiet minute passes it.
    let alarm = "hello-api-production-errors";
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&run.local.sdk);
    cloudwatch
        .put_metric_alarm()
        .alarm_name(alarm)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(0.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("create the alarm");
    let operator = run.person("sluice-operators", "olga").await;
    let (ok, said) = run.sluice(&operator, &["approve", passed.id.as_str()]);
    assert!(ok, "{said}");
    let watching = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::Verifying
    })
    .await
    .expect("production is watched");
    assert_eq!(
        watching.stages[1].status,
        sluice_core::StageStatus::Verifying,
        "{:?}",
        watching.reason
    );
    let live = sweep_until(&run, &fixed, |e| e.status.is_terminal()).await;
    assert_eq!(live.status, Status::Succeeded, "{:?}", live.reason);

    // The next release sets the alarm off during its watch: production goes back.
    let next = run.commit_greeting("hey").await;
    run.push().await;
    let gate = run.at_gate(&next).await;
    // Its approval names what production gains: read from the repository by the
    // function that asked for it, under its own role (issue 30, item 4).
    let email = approval_email(&run.local, gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the approval email");
    let gains = format!(
        "What production gains (1 commit since {}, newest first):",
        &fixed[..12]
    );
    assert!(email.body.contains(&gains), "{}", email.body);
    assert!(
        email.body.contains(&format!("{} ", &next[..12])) && email.body.contains(": soak: hey"),
        "{}",
        email.body
    );
    let (ok, said) = run.sluice(&operator, &["approve", gate.id.as_str()]);
    assert!(ok, "{said}");
    follow(&run.local, &next, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::Verifying
    })
    .await
    .expect("production is watched");
    assert_eq!(
        run.stack_parameter("hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some("hey")
    );
    cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [4.0] was greater than the threshold (0.0).")
        .send()
        .await
        .expect("set the alarm off");
    let rolled = sweep_until(&run, &next, |e| e.status.is_terminal()).await;
    let p = &rolled.stages[1];
    assert_eq!(
        p.status,
        sluice_core::StageStatus::RolledBack,
        "{:?}",
        rolled.reason
    );
    let reason = rolled.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "alarm {alarm} went into ALARM during the watch: Threshold Crossed"
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "commit {} (execution {}) is live on production again",
            &fixed[..12],
            live.id
        )),
        "{reason}"
    );
    run.stack_reaches("hello-api-production", "UPDATE_COMPLETE")
        .await;
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "hi from production",
        "production serves the release before again"
    );

    // Saturday evening, after the window closed: a release is approved, and waits.
    cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("quiet again")
        .send()
        .await
        .expect("quiet the alarm");
    run.local
        .set_clock(at("2027-01-16T17:30:00Z"))
        .expect("move the clock");
    let late = run.commit_greeting("bonsoir").await;
    run.push().await;
    let gate = run.at_gate(&late).await;
    let (ok, said) = run.sluice(&operator, &["approve", gate.id.as_str()]);
    assert!(ok, "{said}");
    let opens = "Sat 23 Jan 2027 10:00 CET (09:00 UTC)";
    assert!(
        said.contains(&format!(
            "it deploys when its window (Sat 10:00-18:00 (Europe/Paris)) opens, {opens}"
        )),
        "{said}"
    );
    let waiting = follow(&run.local, &late, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::AwaitingWindow
    })
    .await
    .expect("production waits for its window");
    assert_eq!(
        waiting.stages[1].status,
        sluice_core::StageStatus::AwaitingWindow,
        "{:?}",
        waiting.reason
    );
    // The sweeper finds nothing to do before the window opens.
    run.local.sweep().await.expect("a sweep");
    let (ok, shown) = run.sluice(&reader, &["show", waiting.id.as_str()]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains(&format!(
            "waiting for the window Sat 10:00-18:00 (Europe/Paris): opens {opens}"
        )),
        "{shown}"
    );
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "hi from production",
        "nothing deploys outside the window"
    );

    // Next Saturday morning, the window opens: the approved release deploys, is
    // watched, and stays.
    run.local
        .set_clock(at("2027-01-23T09:00:30Z"))
        .expect("move the clock");
    let live = sweep_until(&run, &late, |e| e.status.is_terminal()).await;
    assert_eq!(live.status, Status::Succeeded, "{:?}", live.reason);
    let deployed_at = live
        .timeline
        .iter()
        .find(|l| l.what == "production: window open, deploying")
        .map(|l| l.at)
        .expect("the timeline says the window opened");
    assert!(deployed_at >= at("2027-01-23T09:00:00Z"), "{deployed_at}");
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "bonsoir from production"
    );
}

fn at(s: &str) -> sluice_core::Timestamp {
    s.parse().expect("a timestamp")
}

/// Runs the sweeper, as its schedule would, until the execution of `commit` is `done`.
async fn sweep_until(
    run: &Run,
    commit: &str,
    done: impl Fn(&sluice_core::Execution) -> bool,
) -> sluice_core::Execution {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        run.local.sweep().await.expect("a sweep");
        let now = follow(&run.local, commit, SETTLE, |_| true)
            .await
            .expect("the execution");
        if done(&now) {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never moved {} on: {:?}",
            now.id,
            now.timeline.last()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The log of a post-deploy test that ran under `sluice local`.
fn read_test_log(run: &Run, test: &sluice_core::TestRun) -> String {
    let build = test.build_id.as_deref().expect("the test's build id");
    let uuid = build.split_once(':').map_or(build, |(_, uuid)| uuid);
    let path = run
        .local
        .options
        .state
        .join("builds")
        .join(uuid)
        .join("build.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
