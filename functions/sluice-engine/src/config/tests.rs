//! Tests of reading the configuration from the environment: the definition's JSON
//! form, and what the Sluice stack made.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

const DEFINITION: &str = "
name: sluice
application: hello
source:
  repository: hello-api
  paths: {include: [api/]}
stages:
  - name: dev
  - name: staging
    retries: {max: 2}
  - name: production
    approval: true
    account: '444455556666'
approval:
  emails: [approvers@example.com]
  timeout_hours: 24
retention: {releases_kept: 3, artifact_days: 10}
";

fn complete() -> Vec<(&'static str, String)> {
    let definition = Definition::from_yaml("sluice.yaml", DEFINITION).expect("a good definition");
    vec![
        ("SLUICE_PIPELINE", "sluice".to_owned()),
        ("SLUICE_DEFINITION", definition.encoded()),
        (
            "SLUICE_STAGE_ROLE_PREFIX",
            "arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-".to_owned(),
        ),
        (
            "SLUICE_STAGE_BOUNDARY_PREFIX",
            "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-".to_owned(),
        ),
        ("SLUICE_BUCKET", "bucket".to_owned()),
        (
            "SLUICE_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:sluice".to_owned(),
        ),
        ("SLUICE_BUILD_PROJECT", "hello-build".to_owned()),
        (
            "SLUICE_APPROVAL_URL",
            "https://x.lambda-url.us-east-1.on.aws/".to_owned(),
        ),
    ]
}

fn with(var: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut vars: Vec<_> = complete().into_iter().filter(|(k, _)| *k != var).collect();
    vars.push((var, value.to_owned()));
    vars
}

#[test]
fn the_definition_and_the_stack_make_the_configuration() {
    let config = Config::from_lookup(env(&complete())).expect("a configuration");
    let pipeline = &config.pipeline;
    assert_eq!(pipeline.name, "sluice");
    assert_eq!(pipeline.branch, "master");
    let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "production"]);
    assert_eq!(pipeline.stages[1].retry.as_ref().map(|r| r.max), Some(2));
    // The stages in this account run as the roles the stack made for them.
    assert_eq!(
        pipeline.stages[0].execution_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-dev-execution")
    );
    // The remote one as those templates/deploy-target.yaml made.
    assert_eq!(
        pipeline.stages[2].role_arn.as_deref(),
        Some("arn:aws:iam::444455556666:role/sluice/hello-production-sluice-deploy")
    );
    assert_eq!(config.approval_timeout, Duration::from_secs(24 * 3600));
    assert_eq!(config.releases_kept, 3);
    assert_eq!(config.retention, chrono::TimeDelta::days(10));
    assert_eq!(
        config.approval_url.as_deref(),
        Some("https://x.lambda-url.us-east-1.on.aws")
    );
    assert!(!config.paths.is_everything());
}

#[test]
fn each_problem_names_its_variable() {
    for (vars, wanted) in [
        (
            complete()
                .into_iter()
                .filter(|(k, _)| *k != "SLUICE_DEFINITION")
                .collect(),
            "SLUICE_DEFINITION is not set",
        ),
        (
            with("SLUICE_DEFINITION", "{not json"),
            "SLUICE_DEFINITION is invalid",
        ),
        (
            with("SLUICE_PIPELINE", "other"),
            "names the pipeline \"sluice\", but the Sluice stack running it is \"other\"",
        ),
        (
            with("SLUICE_APPROVAL_URL", "ftp://x"),
            "SLUICE_APPROVAL_URL is invalid",
        ),
        (
            complete()
                .into_iter()
                .filter(|(k, _)| *k != "SLUICE_BUCKET")
                .collect(),
            "SLUICE_BUCKET is not set",
        ),
    ] {
        let err = Config::from_lookup(env(&vars)).expect_err(wanted);
        assert!(err.to_string().contains(wanted), "{err}");
    }
}

#[test]
fn a_definition_that_breaks_a_rule_is_refused_with_its_field() {
    let definition = Definition::from_yaml("sluice.yaml", DEFINITION).expect("good");
    // A JSON form edited by hand after it was checked: a stage with retries past the most.
    let edited =
        sluice_definition::encode(&definition.to_json().replace("\"max\":2", "\"max\":99"));
    let err = Config::from_lookup(env(&with("SLUICE_DEFINITION", &edited))).expect_err("refused");
    assert!(err.to_string().contains("stages[1].retries.max"), "{err}");
}

#[test]
fn without_an_approval_page_there_is_no_link() {
    let config = Config::from_lookup(env(&with("SLUICE_APPROVAL_URL", "none"))).expect("good");
    assert!(!config.approval_page);
    assert_eq!(config.approval_url, None);
}
