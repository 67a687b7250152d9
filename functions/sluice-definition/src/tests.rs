//! The definition read from files a person could write: every good file in
//! `tests/fixtures/definitions/good` lowers to a pipeline, and every bad one in
//! `bad/` is refused with the message its first line gives (`# error: <start>`),
//! which names the file, line, column and field.

use std::path::{Path, PathBuf};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/definitions")
}

fn files(kind: &str) -> Vec<(String, String)> {
    let dir = fixtures().join(kind);
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = format!(
                "{kind}/{}",
                path.file_name().and_then(|n| n.to_str()).expect("a name")
            );
            let text = std::fs::read_to_string(&path).expect("read the fixture");
            (name, text)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no fixtures in {}", dir.display());
    found
}

#[test]
fn every_good_file_is_a_pipeline() {
    for (name, text) in files("good") {
        let definition =
            Definition::from_yaml(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pipeline = definition
            .pipeline(&Deployment::default())
            .unwrap_or_else(|p| panic!("{name}: {p:?}"));
        assert_eq!(pipeline.stages.len(), definition.raw().stages.len());
        // The functions' form reads back as the same pipeline.
        let again = Definition::from_json(&definition.to_json()).expect("its JSON form reads");
        assert_eq!(
            again.pipeline(&Deployment::default()),
            Ok(pipeline),
            "{name}"
        );
    }
}

#[test]
fn every_bad_file_is_refused_where_it_goes_wrong() {
    let mut wrong = Vec::new();
    for (name, text) in files("bad") {
        let wanted = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{name} does not start with `# error: <message>`"));
        match Definition::from_yaml(&name, &text) {
            Ok(_) => wrong.push(format!("{name} was accepted")),
            Err(e) if !e.to_string().starts_with(wanted) => {
                wrong.push(format!("{name}:\n  said:   {e}\n  wanted: {wanted}…"));
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_stage_keeps_its_own_options() {
    let text = std::fs::read_to_string(fixtures().join("good/everything.yaml")).expect("read");
    let definition = Definition::from_yaml("everything.yaml", &text).expect("good");
    let roles = Deployment {
        stack: None,
        role_prefix: Some("arn:aws:iam::111122223333:role/sluice-".to_owned()),
        boundary_prefix: Some("arn:aws:iam::111122223333:policy/sluice-".to_owned()),
    };
    let pipeline = definition.pipeline(&roles).expect("lowers");
    let [dev, staging, web, production] = &pipeline.stages[..] else {
        panic!("four stages: {:?}", pipeline.stages);
    };
    assert!(dev.smoke_gates && dev.test.is_none());
    assert_eq!(
        dev.retry.as_ref().map(|r| (r.max, r.base_seconds)),
        Some((3, 30))
    );
    assert_eq!(
        staging.test.as_ref().map(|t| t.buildspec.as_str()),
        Some("buildspec-test.yml")
    );
    assert_eq!(staging.watch.as_ref().map(|w| w.minutes), Some(15));
    // Two stages, two different sets of windows.
    assert!(staging.window.is_some() && production.window.is_some());
    assert_ne!(staging.window, production.window);
    // A site stage with a test of its own.
    assert!(web.site.is_some() && web.test.is_some());
    assert!(production.requires_approval && production.self_approval);
    assert_eq!(
        production.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/sluice/hello-api-production-sluice-deploy")
    );
    assert_eq!(
        staging.execution_role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/sluice-staging-execution")
    );
    assert_eq!(
        staging.boundary_arn.as_deref(),
        Some("arn:aws:iam::111122223333:policy/sluice-staging-boundary")
    );
    assert_eq!(pipeline.branch, "main");
    let raw = definition.raw();
    assert_eq!(raw.build.compute, raw::Compute::Lambda);
    assert_eq!(raw.build.template, "outputSamTemplate.yaml");
}

#[test]
fn defaults_are_filled_in() {
    let text = std::fs::read_to_string(fixtures().join("good/minimal.yaml")).expect("read");
    let raw = Definition::from_yaml("minimal.yaml", &text)
        .expect("good")
        .raw()
        .clone();
    assert_eq!(raw.source.branch, "master");
    assert_eq!(raw.build.buildspec, "buildspec.yml");
    assert_eq!(raw.build.template, "packaged.yaml");
    assert_eq!(raw.build.configuration, "{stage}.json");
    assert_eq!(raw.build.timeout_minutes, 30);
    assert_eq!(raw.approval.timeout_hours, 168);
    assert_eq!(raw.retention.releases_kept, 5);
}

#[test]
fn every_flat_parameter_of_the_template_before_has_an_equivalent() {
    for (flat, now) in FLAT_PARAMETERS {
        assert!(!now.is_empty(), "{flat}");
        assert_eq!(flat_parameter(flat), Some(now));
    }
    assert_eq!(flat_parameter("stages"), None);
}

/// `docs/sluice.schema.json` is the schema these types make: regenerate it with
/// `sluice definition schema > docs/sluice.schema.json` after changing them.
#[test]
fn the_published_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sluice.schema.json");
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    let published: serde_json::Value = serde_json::from_str(&published).unwrap_or_default();
    assert!(
        published == schema(),
        "{} is not the schema of the definition's types: run \
         `cargo run -p sluice -- definition schema > docs/sluice.schema.json`",
        path.display()
    );
}

#[test]
fn every_good_file_gives_the_stack_its_parameters_within_its_quotas() {
    for (name, text) in files("good") {
        let definition = Definition::from_yaml(&name, &text).expect("good");
        let parameters = definition
            .parameters()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = &parameters
            .iter()
            .find(|(key, _)| *key == "Definition")
            .expect("the Definition parameter")
            .1;
        assert!(
            encoded.len() <= ENCODED_MAX,
            "{name}: {} bytes",
            encoded.len()
        );
        let again = Definition::from_encoded(encoded).expect("it reads back");
        assert_eq!(
            again.pipeline(&Deployment::default()),
            definition.pipeline(&Deployment::default()),
            "{name}"
        );
    }
}

#[test]
fn a_forged_definition_parameter_is_refused_not_inflated_without_bound() {
    let bomb = encode(&" ".repeat(1024 * 1024));
    let err = Definition::from_encoded(&bomb).expect_err("refused");
    assert!(err.message.contains("does not inflate"), "{err}");
    let err = Definition::from_encoded("not base64!").expect_err("refused");
    assert!(err.message.contains("is not base64"), "{err}");
}

/// Sluice's own stage configurations (deploy/*.json, for a pipeline that delivers
/// Sluice) carry the parameters of their definitions (deploy/*.yaml): regenerate one
/// with `sluice definition parameters deploy/<stage>.yaml`.
#[test]
fn sluices_own_stage_configurations_carry_their_definitions() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    for stage in ["staging", "production"] {
        let text = std::fs::read_to_string(deploy.join(format!("{stage}.yaml"))).expect("read");
        let definition = Definition::from_yaml(stage, &text).expect("a good definition");
        let json = std::fs::read_to_string(deploy.join(format!("{stage}.json"))).expect("read");
        let config: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        for (key, value) in definition.parameters().expect("parameters") {
            assert_eq!(
                config["Parameters"][key].as_str(),
                Some(value.as_str()),
                "deploy/{stage}.json's {key} is not deploy/{stage}.yaml's"
            );
        }
    }
}
