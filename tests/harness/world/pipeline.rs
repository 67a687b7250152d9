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

/// The pipeline every world delivers unless told otherwise: staging, then
/// production behind an approval. Stacks are `<application>-<stage>`: STAGING and
/// PRODUCTION.
pub const DEFINITION: &str = "
name: hello
application: hello
source: {repository: hello-api}
approval: {emails: [approvers@example.com]}
stages:
  - name: staging
  - name: production
    approval: true
";

/// The pipeline's configuration: [`DEFINITION`], deployed.
pub fn config() -> Config {
    config_with(&[])
}

/// The same, with the Sluice stack's variables `more` in place of the tests' own.
pub fn config_with(more: &[(&'static str, &str)]) -> Config {
    config_of(DEFINITION, more)
}

/// The pipeline `definition` (a `sluice.yaml`), deployed by a Sluice stack whose
/// variables are the tests' own, or `more` in their place.
pub fn config_of(definition: &str, more: &[(&'static str, &str)]) -> Config {
    let definition = sluice_definition::Definition::from_yaml("sluice.yaml", definition)
        .unwrap_or_else(|e| panic!("the test's definition: {e}"));
    let mut vars: HashMap<&str, String> = HashMap::from([
        (
            "SLUICE_PIPELINE",
            definition
                .raw()
                .name
                .clone()
                .unwrap_or_else(|| "hello".to_owned()),
        ),
        ("SLUICE_DEFINITION", definition.encoded()),
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
