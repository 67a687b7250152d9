//! The stand-in application the end-to-end stories deliver (`tests/fixtures/quick-app`),
//! pinned as the engine pins it: what the emulator then creates must pass Sluice's
//! rules first, or every story on its pipeline fails at the build.

use serde_yaml_ng::Value as Yaml;
use sluice_adapters::deployer::Template;
use sluice_core::{StageName, Status};
use sluice_tests::world::{World, commit, config_with};

/// Where the Sluice stack keeps each stage's boundary: `<prefix><stage>-boundary`.
const BOUNDARY_PREFIX: &str = "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-";

/// Its IAM user, written with no boundary line and named under the stack, is pinned
/// under each stage's boundary; its names fit each stage's stack.
#[tokio::test]
async fn the_quick_apps_user_is_pinned_under_each_stages_boundary() {
    let world = World::of(config_with(&[(
        "SLUICE_STAGE_BOUNDARY_PREFIX",
        BOUNDARY_PREFIX,
    )]));
    let template = include_str!("../../../../tests/fixtures/quick-app/template.yaml");
    assert!(!template.contains("PermissionsBoundary"), "{template}");
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, template).await;
    let a = world.execution(&a.id).await;
    assert_ne!(a.status, Status::Failed, "{:?}", a.reason);
    for stage in ["staging", "production"] {
        let spec = sluice_engine::artifacts::change_set_spec(
            &world.objects,
            &world.engine.config,
            &a,
            &StageName::parse(stage).unwrap(),
        )
        .await
        .unwrap_or_else(|_| panic!("{stage}'s change set"));
        assert_eq!(
            spec.parameters.get("PermissionsBoundary"),
            Some(&format!("{BOUNDARY_PREFIX}{stage}-boundary"))
        );
        let Template::Body(body) = spec.template else {
            panic!("a small template goes in the change set's body");
        };
        let pinned: Yaml = serde_yaml_ng::from_str(&body).unwrap();
        let user = &pinned["Resources"]["Auditor"]["Properties"];
        assert_eq!(
            user["PermissionsBoundary"]["Ref"].as_str(),
            Some("PermissionsBoundary"),
            "{body}"
        );
    }
}
