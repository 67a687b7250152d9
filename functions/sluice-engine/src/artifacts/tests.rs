//! Tests of the permissions boundary Sluice puts on the IAM roles and users a template
//! creates, and of the parameter each change set fills in with the stage's.

use serde_yaml_ng::Value as Yaml;
use sluice_core::StageName;

use super::ArtifactError;
use super::boundary::{boundary_parameter, put_boundary};
use super::template::{self, Format};

const STAGING: &str = "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-staging-boundary";
const PRODUCTION: &str =
    "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-production-boundary";

fn staging() -> StageName {
    StageName::parse("staging").unwrap()
}

fn production() -> StageName {
    StageName::parse("production").unwrap()
}

/// `text` as Sluice pins it for staging and production with their boundaries:
/// whether it changed, and the template it deploys.
fn pinned(text: &str) -> Result<(bool, String), String> {
    let (staging, production) = (staging(), production());
    let stages = [(&staging, Some(STAGING)), (&production, Some(PRODUCTION))];
    let (mut template, format) = template::parse(text)?;
    let changed = put_boundary(&mut template, &stages)?;
    Ok((changed, template::write(&template, format, text)?))
}

fn parsed(text: &str) -> Yaml {
    template::parse(text).unwrap().0
}

/// The boundary `path` (keys from the root) gives in `text`.
fn boundary_at<'t>(template: &'t Yaml, path: &[&str]) -> Option<&'t Yaml> {
    let mut at = template;
    for key in path {
        at = at.get(*key)?;
    }
    at.get("PermissionsBoundary")
}

fn refers(value: Option<&Yaml>) -> bool {
    value.and_then(|v| v.get("Ref")).and_then(Yaml::as_str) == Some("PermissionsBoundary")
}

/// The application without a boundary line, and what Sluice deploys of it:
/// `tests/fixtures/boundary/`, which `tests/policy/boundary.test.mjs` tries against
/// each stage's execution role. `SLUICE_BLESS=1` writes what Sluice makes now.
#[test]
fn the_fixture_application_is_pinned_as_the_policy_tests_expect() {
    let (changed, written) = pinned(include_str!(
        "../../../../tests/fixtures/boundary/template.yaml"
    ))
    .unwrap();
    assert!(changed);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/boundary/pinned.yaml"
    );
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(path, &written).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        written, expected,
        "pinned.yaml is not what Sluice pins; if the change is meant, run the test with \
         SLUICE_BLESS=1 and review the fixture's diff"
    );
}

#[test]
fn every_role_and_user_the_template_creates_gets_the_boundary() {
    let text = "Resources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
                InlineCode: x\n      Events:\n        Nightly:\n          Type: ScheduleV2\n          \
                Properties:\n            ScheduleExpression: rate(1 day)\n        Given:\n          \
                Type: ScheduleV2\n          Properties:\n            ScheduleExpression: rate(1 day)\n            \
                RoleArn: arn:aws:iam::123456789012:role/hello-staging-scheduler\n  \
                Owned:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: x\n      \
                Role: !GetAtt Worker.Arn\n  \
                Flow:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      \
                Definition: {StartAt: A, States: {A: {Type: Succeed}}}\n  \
                Timed:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      \
                Role: !GetAtt Worker.Arn\n      Events:\n        Hourly:\n          Type: Schedule\n          \
                Properties:\n            Schedule: rate(1 hour)\n  \
                Quiet:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      \
                Role: !GetAtt Worker.Arn\n  \
                Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n  \
                Auditor:\n    Type: AWS::IAM::User\n  \
                Queue:\n    Type: AWS::SQS::Queue\n";
    let (changed, written) = pinned(text).unwrap();
    assert!(changed);
    let template = parsed(&written);
    for path in [
        &["Resources", "Api", "Properties"][..],
        &[
            "Resources",
            "Api",
            "Properties",
            "Events",
            "Nightly",
            "Properties",
        ],
        &["Resources", "Flow", "Properties"],
        // Its own role, but SAM makes one for its schedule under its boundary.
        &["Resources", "Timed", "Properties"],
        &["Resources", "Worker", "Properties"],
        // A user with no Properties at all gets them.
        &["Resources", "Auditor", "Properties"],
    ] {
        assert!(refers(boundary_at(&template, path)), "{path:?}:\n{written}");
    }
    for path in [
        &["Resources", "Owned", "Properties"][..],
        &[
            "Resources",
            "Api",
            "Properties",
            "Events",
            "Given",
            "Properties",
        ],
        &["Resources", "Quiet", "Properties"],
        &["Resources", "Queue", "Properties"],
    ] {
        assert!(
            boundary_at(&template, path).is_none(),
            "{path:?}:\n{written}"
        );
    }
    let parameter = &template["Parameters"]["PermissionsBoundary"];
    assert_eq!(parameter["Type"].as_str(), Some("String"));
    // No default: a change set without the stage's boundary fails, it never
    // deploys the roles unbounded.
    assert!(parameter.get("Default").is_none(), "{written}");
}

#[test]
fn functions_that_take_their_boundary_from_the_globals_keep_it() {
    // As examples/hello-api declares it, and any template written for Sluice before.
    let hello = include_str!("../../../../examples/hello-api/template.yaml");
    assert!(!pinned(hello).unwrap().0, "pinned as written");
    let parameter = boundary_parameter(hello, &staging(), Some(STAGING)).unwrap();
    assert_eq!(
        parameter,
        Some(("PermissionsBoundary".to_owned(), STAGING.to_owned()))
    );
    // Globals without a boundary: each function gets its own.
    let text = "Globals:\n  Function:\n    Runtime: python3.12\nResources:\n  Api:\n    \
                Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: x\n";
    let template = parsed(&pinned(text).unwrap().1);
    assert!(refers(boundary_at(
        &template,
        &["Resources", "Api", "Properties"]
    )));
    assert!(boundary_at(&template, &["Globals", "Function"]).is_none());
}

#[test]
fn an_explicit_parameter_is_kept_and_used_for_what_lacks_the_boundary() {
    let text = "Parameters:\n  PermissionsBoundary:\n    Type: String\n    Default: ''\n\
                Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
                AssumeRolePolicyDocument: {}\n      PermissionsBoundary: !Ref PermissionsBoundary\n  \
                Forgotten:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n";
    let (changed, written) = pinned(text).unwrap();
    assert!(changed);
    let template = parsed(&written);
    assert!(refers(boundary_at(
        &template,
        &["Resources", "Forgotten", "Properties"]
    )));
    assert!(written.contains("PermissionsBoundary: !Ref PermissionsBoundary"));
    // The application's own declaration, default and all.
    assert_eq!(
        template["Parameters"]["PermissionsBoundary"]["Default"].as_str(),
        Some("")
    );
    let parameter = boundary_parameter(&written, &production(), Some(PRODUCTION)).unwrap();
    assert_eq!(
        parameter,
        Some(("PermissionsBoundary".to_owned(), PRODUCTION.to_owned()))
    );
}

#[test]
fn a_boundary_that_is_not_the_stages_is_refused_saying_what_to_do() {
    let cases = [
        (
            "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
             PermissionsBoundary: arn:aws:iam::123456789012:policy/mine\n",
            "Worker (AWS::IAM::Role) gives arn:aws:iam::123456789012:policy/mine",
        ),
        (
            "Globals:\n  Function:\n    PermissionsBoundary: arn:aws:iam::123456789012:policy/mine\n\
             Resources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             InlineCode: x\n",
            "Globals: Function: gives arn:aws:iam::123456789012:policy/mine",
        ),
        (
            "Resources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             InlineCode: x\n      PermissionsBoundary: !ImportValue shared-boundary\n",
            "Api (AWS::Serverless::Function) gives a value an intrinsic function computes",
        ),
        (
            "Resources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             InlineCode: x\n      Events:\n        Nightly:\n          Type: ScheduleV2\n          \
             Properties:\n            PermissionsBoundary: arn:aws:iam::123456789012:policy/mine\n",
            "Nightly, a ScheduleV2 event of Api gives arn:aws:iam::123456789012:policy/mine",
        ),
    ];
    for (text, says) in cases {
        let why = pinned(text).unwrap_err();
        assert!(why.contains(says), "{why}");
        assert!(
            why.contains(&format!("the staging stage's is {STAGING}")),
            "{why}"
        );
        assert!(
            why.contains("remove these PermissionsBoundary lines"),
            "{why}"
        );
        assert!(why.contains("!Ref PermissionsBoundary"), "{why}");
    }
    // The one boundary every stage has, written out: kept as it is.
    let text = format!(
        "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
         PermissionsBoundary: {STAGING}\n"
    );
    let (mut template, _) = template::parse(&text).unwrap();
    let staging = staging();
    assert_eq!(
        put_boundary(&mut template, &[(&staging, Some(STAGING))]),
        Ok(false)
    );
    assert_eq!(
        boundary_parameter(&text, &staging, Some(STAGING)).unwrap(),
        None
    );
}

#[test]
fn short_forms_survive_the_boundary() {
    let text = "Conditions:\n  IsProd: !Equals [!Ref Stage, production]\nResources:\n  \
                Worker:\n    Type: AWS::IAM::Role\n    Condition: IsProd\n    Properties:\n      \
                RoleName: !Sub ${AWS::StackName}-worker\n      \
                AssumeRolePolicyDocument: !If [IsProd, {}, !Ref AWS::NoValue]\n      \
                ManagedPolicyArns: [!GetAtt Policy.PolicyArn, !ImportValue shared]\n  \
                Policy:\n    Type: AWS::IAM::ManagedPolicy\n";
    let (changed, written) = pinned(text).unwrap();
    assert!(changed);
    for form in [
        "IsProd: !Equals",
        "- !Ref Stage",
        "RoleName: !Sub ${AWS::StackName}-worker",
        "AssumeRolePolicyDocument: !If",
        "!Ref AWS::NoValue",
        "- !GetAtt Policy.PolicyArn",
        "- !ImportValue shared",
    ] {
        assert!(written.contains(form), "{form} lost:\n{written}");
    }
    // Everything but the boundary reads back as the build left it.
    let mut template = parsed(&written);
    let added = template["Resources"]["Worker"]["Properties"]
        .as_mapping_mut()
        .unwrap()
        .remove("PermissionsBoundary");
    assert!(refers(added.as_ref()));
    template.as_mapping_mut().unwrap().remove("Parameters");
    assert_eq!(template, parsed(text));
}

#[test]
fn a_json_template_gets_the_boundary_and_stays_json() {
    let text = r#"{"AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Api": {"Type": "AWS::Serverless::Function",
        "Properties": {"InlineCode": "x", "Environment": {"Variables": {"DEBUG": "no"}}}}}}"#;
    let (_, format) = template::parse(text).unwrap();
    assert_eq!(format, Format::Json);
    let (changed, written) = pinned(text).unwrap();
    assert!(changed);
    let json: serde_json::Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(
        json["Resources"]["Api"]["Properties"]["PermissionsBoundary"],
        serde_json::json!({"Ref": "PermissionsBoundary"})
    );
    assert_eq!(json["Parameters"]["PermissionsBoundary"]["Type"], "String");
    // Declared before the resources, where people look for parameters.
    assert!(written.find("\"Parameters\"") < written.find("\"Resources\""));
    assert_eq!(
        json["Resources"]["Api"]["Properties"]["Environment"]["Variables"]["DEBUG"],
        "no"
    );
}

#[test]
fn stages_without_a_boundary_leave_the_template_as_it_is() {
    let text = "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n";
    let (staging, production) = (staging(), production());
    let (mut template, _) = template::parse(text).unwrap();
    assert_eq!(
        put_boundary(&mut template, &[(&staging, None), (&production, None)]),
        Ok(false)
    );
    assert_eq!(template, parsed(text));
    assert_eq!(boundary_parameter(text, &staging, None).unwrap(), None);
    // Some with and some without: one template cannot serve both.
    let why = put_boundary(
        &mut template,
        &[(&staging, None), (&production, Some(PRODUCTION))],
    )
    .unwrap_err();
    assert!(
        why.contains("the staging stage has no permissions boundary"),
        "{why}"
    );
    // And a template that creates no identity needs none.
    let text = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";
    assert!(!pinned(text).unwrap().0);
    assert_eq!(
        boundary_parameter(text, &staging, Some(STAGING)).unwrap(),
        None
    );
}

#[test]
fn a_resource_named_like_the_parameter_is_refused() {
    let text = "Resources:\n  PermissionsBoundary:\n    Type: AWS::IAM::ManagedPolicy\n  \
                Worker:\n    Type: AWS::IAM::Role\n";
    let why = pinned(text).unwrap_err();
    assert!(
        why.contains("a resource named PermissionsBoundary"),
        "{why}"
    );
    assert!(why.contains("rename the resource"), "{why}");
}

#[test]
fn a_release_pinned_without_the_boundary_is_refused_at_its_change_set() {
    let text = "Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n  \
                Worker:\n    Type: AWS::IAM::Role\n  Given:\n    \
                Type: AWS::Serverless::Function\n    Properties:\n      Role: arn:aws:iam::1:role/x\n";
    let Err(ArtifactError::Unusable(reason)) = boundary_parameter(text, &staging(), Some(STAGING))
    else {
        panic!("a template that creates roles without the boundary must be refused");
    };
    assert!(
        reason.contains("(Hello (AWS::Serverless::Function), Worker (AWS::IAM::Role))"),
        "{reason}"
    );
    assert!(
        reason.contains("staging stage's permissions boundary"),
        "{reason}"
    );
    assert!(reason.contains("Push again"), "{reason}");
}
