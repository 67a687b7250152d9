//! Tests of the messages' subjects, change lines and changelogs.

use sluice_core::{ChangeAction, Replacement, ResourceChange, StageName};

use super::*;

#[test]
fn a_changelog_that_could_not_be_worked_out_says_so() {
    let stage = StageName::parse("production").expect("a stage");
    let sections = changelog_sections(&stage, None);
    assert_eq!(
        sections,
        [(
            "The commits this adds to production could not be listed.".to_owned(),
            Vec::new()
        )]
    );
}

#[test]
fn subjects_are_one_ascii_line_under_100_characters() {
    let s = subject(&format!(
        "[repo] deployed: caf\u{e9}\nnext {}",
        "x".repeat(200)
    ));
    assert!(s.len() < 100, "{}", s.len());
    assert!(s.is_ascii());
    assert!(!s.contains('\n'));
    assert!(s.starts_with("[repo] deployed: caf? next"));
    assert!(s.ends_with("..."));
}

#[test]
fn replacements_are_flagged() {
    let lines = change_lines(&[
        ResourceChange {
            logical_id: "Table".into(),
            resource_type: "AWS::DynamoDB::Table".into(),
            action: ChangeAction::Modify,
            replacement: Replacement::Always,
            stack: None,
        },
        ResourceChange {
            logical_id: "HelloFunction".into(),
            resource_type: "AWS::Lambda::Function".into(),
            action: ChangeAction::Add,
            replacement: Replacement::Never,
            stack: None,
        },
    ]);
    assert!(
        lines.contains("Modify  Table          AWS::DynamoDB::Table  ** REPLACEMENT **"),
        "{lines}"
    );
    assert!(
        lines.contains("Add     HelloFunction  AWS::Lambda::Function\n"),
        "{lines}"
    );
}
