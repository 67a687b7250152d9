//! Tests of reading the configuration from the environment.

use std::collections::HashMap;

use sluice_core::DeployWindows;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn complete() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SLUICE_PIPELINE", "sluice"),
        ("SLUICE_REPOSITORY", "hello-api"),
        ("SLUICE_APPLICATION", "hello"),
        ("SLUICE_STAGES", "dev,staging,production"),
        ("SLUICE_APPROVAL_STAGES", "production"),
        ("SLUICE_REMOTE_STAGES", "production"),
        ("SLUICE_REMOTE_ACCOUNTS", "444455556666"),
        (
            "SLUICE_STAGE_ROLE_PREFIX",
            "arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-",
        ),
        (
            "SLUICE_STAGE_BOUNDARY_PREFIX",
            "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-",
        ),
        ("SLUICE_BUCKET", "bucket"),
        (
            "SLUICE_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:sluice",
        ),
        ("SLUICE_BUILD_PROJECT", "hello-build"),
        (
            "SLUICE_APPROVAL_URL",
            "https://x.lambda-url.us-east-1.on.aws/",
        ),
    ]
}

fn with(var: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut vars: Vec<_> = complete().into_iter().filter(|(k, _)| *k != var).collect();
    vars.push((var, value));
    vars
}

#[test]
fn a_complete_environment_gives_defaults_where_silent() {
    let config = Config::from_lookup(env(&complete())).unwrap();
    assert_eq!(config.pipeline.branch, "master");
    assert_eq!(config.approval_timeout, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        config.approval_url.as_deref(),
        Some("https://x.lambda-url.us-east-1.on.aws")
    );
    let names: Vec<_> = config
        .pipeline
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "production"]);
    let gated: Vec<_> = config
        .pipeline
        .stages
        .iter()
        .map(|s| s.requires_approval)
        .collect();
    assert_eq!(gated, [false, false, true]);
    let staging = &config.pipeline.stages[1];
    assert_eq!(staging.stack_name, "hello-staging");
    assert_eq!(staging.role_arn, None);
    assert_eq!(
        staging.execution_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-staging-execution")
    );
    assert_eq!(
        staging.boundary_arn.as_deref(),
        Some("arn:aws:iam::123456789012:policy/sluice/sluice/sluice-staging-boundary")
    );
    // Production is in the account deploy-target.yaml prepared.
    let prod = &config.pipeline.stages[2];
    assert_eq!(
        prod.role_arn.as_deref(),
        Some("arn:aws:iam::444455556666:role/sluice/hello-production-sluice-deploy")
    );
    assert_eq!(
        prod.execution_role_arn.as_deref(),
        Some("arn:aws:iam::444455556666:role/sluice/hello-production-sluice-execution")
    );
    assert_eq!(
        prod.boundary_arn.as_deref(),
        Some("arn:aws:iam::444455556666:policy/sluice/hello-production-boundary")
    );
}

#[test]
fn one_stage_and_no_gate_is_a_pipeline() {
    let mut vars = with("SLUICE_STAGES", "live");
    vars.retain(|(k, _)| !k.contains("APPROVAL_STAGES") && !k.contains("REMOTE"));
    vars.push(("SLUICE_APPROVAL_STAGES", ""));
    let config = Config::from_lookup(env(&vars)).unwrap();
    assert_eq!(config.pipeline.stages.len(), 1);
    assert_eq!(config.pipeline.stages[0].stack_name, "hello-live");
    assert!(!config.pipeline.stages[0].requires_approval);
}

#[test]
fn a_bad_stage_list_says_what_is_wrong() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let err = said(with("SLUICE_STAGES", "staging,Prod"));
    assert!(err.contains(r#"stage name "Prod""#), "{err}");
    let err = said(with("SLUICE_STAGES", "staging,staging"));
    assert!(err.contains(r#""staging" is listed twice"#), "{err}");
    let err = said(with("SLUICE_STAGES", " , "));
    assert!(
        err.contains("no stages") || err.contains("at least one"),
        "{err}"
    );
    let err = said(with("SLUICE_APPROVAL_STAGES", "prod"));
    assert!(
        err.contains(r#"SLUICE_APPROVAL_STAGES is invalid: "prod" is not one of the stages (dev, staging, production)"#),
        "{err}"
    );
    let err = said(with("SLUICE_REMOTE_ACCOUNTS", "444455556666,777788889999"));
    assert!(
        err.contains("2 accounts for 1 remote stages (production)"),
        "{err}"
    );
    let mut vars = with("SLUICE_REMOTE_STAGES", "production,production");
    vars.retain(|(k, _)| *k != "SLUICE_REMOTE_ACCOUNTS");
    vars.push(("SLUICE_REMOTE_ACCOUNTS", "444455556666,777788889999"));
    let err = said(vars);
    assert!(err.contains(r#""production" is listed twice"#), "{err}");
    let err = said(with("SLUICE_REMOTE_ACCOUNTS", "4444-5555"));
    assert!(
        err.contains(r#""4444-5555" is not a 12-digit AWS account ID"#),
        "{err}"
    );
    let mut vars = with("SLUICE_STAGES", "prod,prod-eu");
    vars.retain(|(k, _)| !k.contains("APPROVAL_STAGES") && !k.contains("REMOTE"));
    let err = said(vars);
    assert!(err.contains("begins with stage"), "{err}");
}

#[test]
fn site_stages_deploy_their_bucket_and_bad_site_settings_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let mut vars = with("SLUICE_SITE_STAGES", "staging,production");
    vars.push(("SLUICE_SITE_BUCKET", "hello-api-*:WebsiteBucket"));
    vars.push(("SLUICE_SITE_FOLDER", "site/*"));
    let config = Config::from_lookup(env(&vars)).unwrap();
    let sites: Vec<_> = config
        .pipeline
        .stages
        .iter()
        .map(|s| {
            s.site
                .as_ref()
                .map(|t| (t.bucket.to_string(), t.folder.clone()))
        })
        .collect();
    assert_eq!(
        sites,
        [
            None,
            Some((
                "the bucket of stack hello-api-staging's output WebsiteBucket".into(),
                "site/staging".into()
            )),
            Some((
                "the bucket of stack hello-api-production's output WebsiteBucket".into(),
                "site/production".into()
            )),
        ]
    );
    let err = said(with("SLUICE_SITE_STAGES", "staging"));
    assert!(
        err.contains("SLUICE_SITE_BUCKET is invalid: the site stages (staging) need a bucket"),
        "{err}"
    );
    let err = said(with("SLUICE_SITE_STAGES", "web"));
    assert!(
        err.contains(r#"SLUICE_SITE_STAGES is invalid: "web" is not one of"#),
        "{err}"
    );
    let mut vars = with("SLUICE_SITE_STAGES", "staging");
    vars.push(("SLUICE_SITE_BUCKET", "Hello_Web"));
    let err = said(vars);
    assert!(err.contains(r#"invalid site bucket "Hello_Web""#), "{err}");
}

#[test]
fn tested_stages_run_the_test_buildspec_and_bad_test_settings_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let tests = |config: Config| -> Vec<Option<String>> {
        let stages = config.pipeline.stages;
        stages
            .into_iter()
            .map(|s| s.test.map(|t| t.buildspec))
            .collect()
    };
    let config = Config::from_lookup(env(&with("SLUICE_TEST_STAGES", "staging, production")));
    assert_eq!(
        tests(config.unwrap()),
        [
            None,
            Some("buildspec-test.yml".into()),
            Some("buildspec-test.yml".into())
        ]
    );
    let mut vars = with("SLUICE_TEST_STAGES", "dev");
    vars.push(("SLUICE_TEST_BUILDSPEC", "tests/smoke.yaml"));
    let config = Config::from_lookup(env(&vars));
    assert_eq!(
        tests(config.unwrap()),
        [Some("tests/smoke.yaml".into()), None, None]
    );

    let err = said(with("SLUICE_TEST_STAGES", "qa"));
    assert!(
        err.contains(r#"SLUICE_TEST_STAGES is invalid: "qa" is not one of the stages"#),
        "{err}"
    );
    for bad in [
        "../buildspec.yml",
        "/etc/buildspec.yml",
        "buildspec.sh",
        "a b.yml",
    ] {
        let mut vars = with("SLUICE_TEST_STAGES", "dev");
        vars.push(("SLUICE_TEST_BUILDSPEC", bad));
        let err = said(vars);
        assert!(
            err.contains("SLUICE_TEST_BUILDSPEC is invalid: invalid test buildspec"),
            "{bad}: {err}"
        );
    }
    let mut vars = with("SLUICE_TEST_STAGES", "staging");
    vars.push(("SLUICE_SITE_STAGES", "staging"));
    vars.push(("SLUICE_SITE_BUCKET", "hello-web-*"));
    let err = said(vars);
    assert!(err.contains("staging is a site stage"), "{err}");
}

#[test]
fn a_stage_listed_as_smoke_is_gated_by_its_smoke_check_and_bad_entries_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let config =
        Config::from_lookup(env(&with("SLUICE_TEST_STAGES", "dev, staging=smoke"))).expect("valid");
    let kinds: Vec<(bool, bool)> = config
        .pipeline
        .stages
        .iter()
        .map(|s| (s.test.is_some(), s.smoke_gates))
        .collect();
    assert_eq!(kinds, [(true, false), (false, true), (false, false)]);
    for (value, expected) in [
        (
            "staging=fast",
            "staging=smoke (its smoke check gates it), not =fast",
        ),
        ("staging,staging=smoke", "staging is listed more than once"),
        ("qa=smoke", r#""qa" is not one of the stages"#),
    ] {
        let err = said(with("SLUICE_TEST_STAGES", value));
        assert!(err.contains(expected), "{value}: {err}");
    }
    let mut vars = with("SLUICE_TEST_STAGES", "staging=smoke");
    vars.push(("SLUICE_SITE_STAGES", "staging"));
    vars.push(("SLUICE_SITE_BUCKET", "hello-web-*"));
    let err = said(vars);
    assert!(err.contains("staging is a site stage"), "{err}");
}

#[test]
fn retries_are_read_for_every_stage_or_each_and_bad_ones_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let retries = |vars: Vec<(&'static str, &'static str)>| -> Vec<Option<(u32, u32)>> {
        let config = Config::from_lookup(env(&vars)).expect("valid");
        let stages = config.pipeline.stages;
        stages
            .into_iter()
            .map(|s| s.retry.map(|r| (r.max, r.base_seconds)))
            .collect()
    };
    assert_eq!(retries(complete()), [None, None, None]);
    assert_eq!(
        retries(with("SLUICE_RETRIES", "2")),
        [Some((2, 60)), Some((2, 60)), Some((2, 60))]
    );
    let mut vars = with("SLUICE_RETRIES", "staging=3, production=0");
    vars.push(("SLUICE_RETRY_SECONDS", "5"));
    assert_eq!(retries(vars), [None, Some((3, 5)), None]);
    for (value, says) in [
        ("qa=1", r#""qa" is not one of the stages"#),
        ("staging", r#""staging" is not a number of retries"#),
        ("staging=1,dev", r#""dev" is not STAGE=COUNT"#),
        ("11", "from 0 to 10"),
        ("dev=1,dev=2", "listed twice"),
    ] {
        let err = said(with("SLUICE_RETRIES", value));
        assert!(
            err.contains("SLUICE_RETRIES is invalid") && err.contains(says),
            "{value}: {err}"
        );
    }
    let mut vars = with("SLUICE_RETRIES", "1");
    vars.push(("SLUICE_RETRY_SECONDS", "0"));
    assert!(said(vars).contains("SLUICE_RETRY_SECONDS is invalid"));
}

#[test]
fn watched_stages_name_their_own_alarms_and_bad_watches_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let mut vars = with("SLUICE_ALARM_STAGES", "dev,staging");
    vars.push(("SLUICE_ALARM_NAMES", "hello-api-*-errors, shared-latency"));
    let config = Config::from_lookup(env(&vars)).expect("valid");
    let watches: Vec<_> = config
        .pipeline
        .stages
        .iter()
        .map(|s| s.watch.clone().map(|w| (w.alarms, w.minutes)))
        .collect();
    assert_eq!(
        watches,
        [
            Some((
                vec!["hello-api-dev-errors".into(), "shared-latency".into()],
                10
            )),
            Some((
                vec!["hello-api-staging-errors".into(), "shared-latency".into()],
                10
            )),
            None,
        ]
    );
    let err = said(with("SLUICE_ALARM_STAGES", "staging"));
    assert!(
        err.contains("SLUICE_ALARM_NAMES is invalid: the watched stages (staging) need alarms"),
        "{err}"
    );
    let mut vars = with("SLUICE_ALARM_STAGES", "qa");
    vars.push(("SLUICE_ALARM_NAMES", "x"));
    assert!(said(vars).contains(r#"SLUICE_ALARM_STAGES is invalid: "qa" is not one of"#));
    let mut vars = with("SLUICE_ALARM_STAGES", "dev");
    vars.push(("SLUICE_ALARM_NAMES", "x"));
    vars.push(("SLUICE_ALARM_WATCH_MINUTES", "0"));
    assert!(said(vars).contains("SLUICE_ALARM_WATCH_MINUTES is invalid"));
}

#[test]
fn each_problem_names_its_variable() {
    for missing in [
        "SLUICE_PIPELINE",
        "SLUICE_APPLICATION",
        "SLUICE_STAGES",
        "SLUICE_BUCKET",
        "SLUICE_TOPIC_ARN",
    ] {
        let vars: Vec<_> = complete()
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains(missing), "{err}");
    }
    let err =
        Config::from_lookup(env(&with("SLUICE_APPROVAL_URL", "lambda-url.example"))).unwrap_err();
    assert!(err.to_string().contains("SLUICE_APPROVAL_URL"), "{err}");

    let err = Config::from_lookup(env(&with("SLUICE_APPROVAL_TIMEOUT_HOURS", "soon"))).unwrap_err();
    assert!(
        err.to_string().contains("SLUICE_APPROVAL_TIMEOUT_HOURS"),
        "{err}"
    );

    // Retention: what is kept, and for how long.
    let config = Config::from_lookup(env(&with("SLUICE_RELEASES_KEPT", "3"))).unwrap();
    assert_eq!(config.releases_kept, 3);
    assert_eq!(config.retention, chrono::TimeDelta::days(30));
    for (name, value) in [
        ("SLUICE_RELEASES_KEPT", "0"),
        ("SLUICE_ARTIFACT_RETENTION_DAYS", "a month"),
    ] {
        let err = Config::from_lookup(env(&with(name, value))).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        assert!(err.to_string().contains("whole number"), "{err}");
    }
}

#[test]
fn path_filters_are_read_and_a_bad_one_names_its_variable() {
    let config = Config::from_lookup(env(&complete())).expect("valid");
    assert!(config.paths.is_everything());

    let mut vars = with("SLUICE_INCLUDE_PATHS", "api/, template.yaml");
    vars.push(("SLUICE_EXCLUDE_PATHS", "**/*.md"));
    let config = Config::from_lookup(env(&vars)).expect("valid");
    assert!(config.paths.counts("api/src/main.rs"));
    assert!(!config.paths.counts("api/README.md"));
    assert!(!config.paths.counts("web/index.html"));

    let err = Config::from_lookup(env(&with("SLUICE_INCLUDE_PATHS", "api/,/web")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("SLUICE_INCLUDE_PATHS"), "{err}");
    assert!(err.contains("\"/web\""), "{err}");
    let err = Config::from_lookup(env(&with("SLUICE_EXCLUDE_PATHS", "docs/[")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("SLUICE_EXCLUDE_PATHS"), "{err}");
}

#[test]
fn windowed_stages_share_the_windows_and_bad_windows_are_refused() {
    let said = |vars: Vec<(&'static str, &'static str)>| {
        sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
    };
    let mut vars = with("SLUICE_WINDOW_STAGES", "production");
    vars.push(("SLUICE_WINDOWS", "Mon-Thu 09:00-16:00, Fri 09:00-12:00"));
    vars.push(("SLUICE_WINDOW_TIME_ZONE", "Europe/London"));
    let config = Config::from_lookup(env(&vars)).expect("valid");
    let windows: Vec<_> = config
        .pipeline
        .stages
        .iter()
        .map(|s| s.window.as_ref().map(DeployWindows::describe))
        .collect();
    assert_eq!(
        windows,
        [
            None,
            None,
            Some("Mon-Thu 09:00-16:00, Fri 09:00-12:00 (Europe/London)".to_owned())
        ]
    );
    let mut vars = with("SLUICE_WINDOW_STAGES", "staging");
    vars.push(("SLUICE_WINDOWS", "daily 22:00-06:00"));
    let config = Config::from_lookup(env(&vars)).expect("UTC when no zone is named");
    assert_eq!(
        config.pipeline.stages[1]
            .window
            .as_ref()
            .map(DeployWindows::describe),
        Some("daily 22:00-06:00 (UTC)".to_owned())
    );
    for (extra, says) in [
        (
            vec![],
            "SLUICE_WINDOWS is invalid: the stages with windows (staging) need",
        ),
        (
            vec![("SLUICE_WINDOWS", "weekdays 9-5")],
            "SLUICE_WINDOWS is invalid: invalid deployment window \"weekdays 9-5\"",
        ),
        (
            vec![
                ("SLUICE_WINDOWS", "Mon 09:00-10:00"),
                ("SLUICE_WINDOW_TIME_ZONE", "London"),
            ],
            "SLUICE_WINDOW_TIME_ZONE is invalid: invalid time zone \"London\"",
        ),
    ] {
        let mut vars = with("SLUICE_WINDOW_STAGES", "staging");
        vars.extend(extra);
        let err = said(vars);
        assert!(err.contains(says), "{err}");
    }
    let mut vars = with("SLUICE_WINDOW_STAGES", "qa");
    vars.push(("SLUICE_WINDOWS", "Mon 09:00-10:00"));
    assert!(said(vars).contains(r#"SLUICE_WINDOW_STAGES is invalid: "qa" is not one of"#));
}
