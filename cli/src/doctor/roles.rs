//! The stages' execution roles, and whether CloudFormation can assume them.

use serde_json::Value;
use sluice_adapters::aws::chain;

use super::finding::{Finding, NEEDS_OPERATOR_POLICY};

/// Whether CloudFormation can assume `stage`'s execution role: it exists, and its
/// trust lets cloudformation.amazonaws.com assume it with no condition (CloudFormation
/// presents no source context for a stack's service role).
pub(super) async fn stage_role(iam: &aws_sdk_iam::Client, pipeline: &str, stage: &str) -> Finding {
    let check = format!("stage role {stage}");
    let name = format!("{pipeline}-{stage}-execution");
    let role = match iam.get_role().role_name(&name).send().await {
        Ok(out) => out.role,
        Err(e) => {
            let missing = e
                .as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception());
            return if missing {
                Finding::problem(
                    check,
                    format!("there is no role {name}: the stage cannot deploy"),
                    "deploy the Sluice stack again; it creates each stage's role",
                )
            } else {
                Finding::problem(
                    check,
                    format!("cannot read the role {name}: {}", chain(&e)),
                    NEEDS_OPERATOR_POLICY,
                )
            };
        }
    };
    let document = role
        .as_ref()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default();
    match trust_for_cloudformation(document) {
        Ok(()) => Finding::ok(
            check,
            format!("CloudFormation may assume {name} (its trust has no condition)"),
        ),
        Err(why) => Finding::problem(
            check,
            format!("CloudFormation cannot assume {name}: {why}"),
            "deploy the Sluice stack again: template.yaml trusts cloudformation.amazonaws.com \
             with no condition, as CloudFormation documents a stack's service role",
        ),
    }
}

/// Whether a trust policy (as IAM returns it: URL-encoded JSON) lets CloudFormation
/// assume the role for a stack; if not, why.
pub fn trust_for_cloudformation(document: &str) -> Result<(), String> {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    let policy: Value = serde_json::from_str(&decoded)
        .map_err(|e| format!("its trust policy is not JSON ({e})"))?;
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return Err("its trust policy has no statement".into()),
    };
    let listed = |value: &Value, wanted: &[&str]| match value {
        Value::String(s) => wanted.contains(&s.as_str()),
        Value::Array(list) => list
            .iter()
            .any(|v| v.as_str().is_some_and(|s| wanted.contains(&s))),
        _ => false,
    };
    let mut conditioned = Vec::new();
    for statement in &statements {
        let allows = statement["Effect"] == "Allow"
            && listed(
                &statement["Principal"]["Service"],
                &["cloudformation.amazonaws.com"],
            )
            && listed(&statement["Action"], &["sts:AssumeRole", "sts:*", "*"]);
        if !allows {
            continue;
        }
        match statement.get("Condition").and_then(Value::as_object) {
            Some(condition) if !condition.is_empty() => {
                for test in condition.values().filter_map(Value::as_object) {
                    conditioned.extend(test.keys().cloned());
                }
            }
            _ => return Ok(()),
        }
    }
    if conditioned.is_empty() {
        Err("its trust does not let cloudformation.amazonaws.com assume it".into())
    } else {
        Err(format!(
            "its trust lets cloudformation.amazonaws.com assume it only under a condition \
             on {}, which CloudFormation does not present for a stack's service role",
            conditioned.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_cloudformation_can_meet_has_no_condition() {
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudformation.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(trust_for_cloudformation(plain), Ok(()));
        // IAM returns the document URL-encoded.
        let encoded: String =
            percent_encoding::utf8_percent_encode(plain, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(trust_for_cloudformation(&encoded), Ok(()));
        let conditioned = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["cloudformation.amazonaws.com"]},"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}}"#;
        let why = trust_for_cloudformation(conditioned).unwrap_err();
        assert!(why.contains("aws:SourceAccount"), "{why}");
        let lambda = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let why = trust_for_cloudformation(lambda).unwrap_err();
        assert!(why.contains("does not let cloudformation"), "{why}");
        assert!(trust_for_cloudformation("not json").is_err());
    }
}
