//! Tests of the boundary parameter a template is given for the IAM identities it creates.

use sluice_core::StageName;

use super::ArtifactError;
use super::identities::boundary_parameter;

const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-staging-boundary";

fn staging() -> StageName {
    StageName::parse("staging").unwrap()
}

#[test]
fn a_template_that_asks_for_the_boundary_gets_the_stages() {
    let template = "Parameters:\n  PermissionsBoundary:\n    Type: String\n\
                    Globals:\n  Function:\n    PermissionsBoundary: !Ref PermissionsBoundary\n\
                    Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n";
    let parameter = boundary_parameter(template, &staging(), Some(BOUNDARY)).unwrap();
    assert_eq!(
        parameter,
        Some(("PermissionsBoundary".to_owned(), BOUNDARY.to_owned()))
    );
    // No boundary configured (a stage that brings its own role): nothing to pass.
    assert_eq!(
        boundary_parameter(template, &staging(), None).unwrap(),
        None
    );
}

#[test]
fn a_template_that_creates_roles_without_the_boundary_is_refused_with_the_fix() {
    let template = "Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n  \
                    Worker:\n    Type: AWS::IAM::Role\n  Given:\n    \
                    Type: AWS::Serverless::Function\n    Properties:\n      Role: arn:aws:iam::1:role/x\n";
    let Err(ArtifactError::Unusable(reason)) =
        boundary_parameter(template, &staging(), Some(BOUNDARY))
    else {
        panic!("a template that creates roles without the boundary must be refused");
    };
    assert!(reason.contains("(Hello, Worker)"), "{reason}");
    assert!(
        reason.contains("PermissionsBoundary: !Ref PermissionsBoundary"),
        "{reason}"
    );
    assert!(reason.contains("staging stage"), "{reason}");
}

#[test]
fn a_template_without_identities_needs_no_boundary() {
    let template = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";
    assert_eq!(
        boundary_parameter(template, &staging(), Some(BOUNDARY)).unwrap(),
        None
    );
}
