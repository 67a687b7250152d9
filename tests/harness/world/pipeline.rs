//! The pipeline every world delivers: its configuration, the time it starts at, the
//! commits pushed to it and the operator who gives it commands.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use sluice_core::{ExecutionId, Timestamp};
use sluice_engine::Config;
use sluice_engine::operator::{Action, OperatorCommand};

pub const STAGING: &str = "hello-staging";
pub const PRODUCTION: &str = "hello-production";
/// The operator who gives commands in the tests.
pub const OPS: &str = "arn:aws:sts::123456789012:assumed-role/operators/olga";

/// The pipeline's configuration: staging, then production behind an approval.
pub fn config() -> Config {
    config_with(&[])
}

/// The same configuration, with more variables (or others in place of its own).
pub fn config_with(more: &[(&'static str, &str)]) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("SLUICE_PIPELINE", "hello".to_owned()),
        ("SLUICE_REPOSITORY", "hello-api".to_owned()),
        // Stacks are <application>-<stage>: STAGING and PRODUCTION.
        ("SLUICE_APPLICATION", "hello".to_owned()),
        ("SLUICE_STAGES", "staging,production".to_owned()),
        ("SLUICE_APPROVAL_STAGES", "production".to_owned()),
        ("SLUICE_BUCKET", "sluice-artifacts".to_owned()),
        (
            "SLUICE_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:sluice".to_owned(),
        ),
        ("SLUICE_BUILD_PROJECT", "hello-api-build".to_owned()),
        ("SLUICE_APPROVAL_URL", "https://approve.example".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]);
    vars.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// The time every test starts at.
pub fn start_time() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

/// A commit id made from a small number, for readable tests.
pub fn commit(n: u32) -> String {
    format!("{n:08x}{}", "c0ffee00".repeat(4))
}

/// An operator command to `config()`'s pipeline, with a nonce of its own.
pub fn command(action: Action) -> OperatorCommand {
    OperatorCommand::new(&config().pipeline.name, action, start_time())
}

/// The operator action `name` for `execution` (or, for a release, `commit`).
pub fn action(name: &str, execution: &ExecutionId, commit: Option<&str>) -> Action {
    use sluice_engine::operator::{Cancel, Decide, Release, Resend, Retry};
    let execution = execution.clone();
    let decide = || Decide {
        execution: execution.clone(),
        stage: None,
        comment: None,
    };
    match name {
        "approve" => Action::Approve(decide()),
        "reject" => Action::Reject(decide()),
        "resend" => Action::Resend(Resend {
            execution,
            stage: None,
        }),
        "retry" => Action::Retry(Retry { execution }),
        "cancel" => Action::Cancel(Cancel { execution }),
        "release" => Action::Release(Release {
            commit: commit.map(|c| sluice_core::CommitId::parse(c).expect("a commit id")),
        }),
        other => panic!("no operator action {other}"),
    }
}
