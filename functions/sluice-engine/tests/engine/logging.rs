//! What the functions log of each event they receive: one line an operator reads in
//! CloudWatch, whatever the event.

use sluice_engine::events::describe;
use sluice_tests::world::{config, fixture};

/// Every kind of event the pipeline receives is described in plain sentences: no
/// run of spaces left by a string broken across source lines.
#[test]
fn each_event_is_described_in_one_clean_line() {
    let config = config();
    let mut unnamed = fixture("codebuild-succeeded.json");
    unnamed["detail"]["additional-information"]["environment"]["environment-variables"] =
        serde_json::json!([]);
    let mut events: Vec<(String, serde_json::Value)> = vec![("unnamed build".into(), unnamed)];
    for name in [
        "codebuild-succeeded.json",
        "codebuild-failed.json",
        "codebuild-in-progress.json",
        "codebuild-stopped.json",
        "codebuild-other-project.json",
        "cloudformation-update-complete.json",
        "cloudformation-rollback-in-progress.json",
        "codecommit-branch-updated.json",
        "codecommit-tag-created.json",
    ] {
        events.push((name.into(), fixture(name)));
    }
    for (name, event) in events {
        let line = describe(event, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!line.contains("  "), "{name}: {line:?}");
        assert!(!line.contains('\n'), "{name}: {line:?}");
        if name == "unnamed build" {
            assert!(
                line.contains("Sluice asks CodeBuild which execution it is for"),
                "{line}"
            );
        }
    }
}
