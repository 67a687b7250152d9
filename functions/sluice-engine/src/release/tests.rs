//! Tests of finding, refusing and rewriting the locations a template gives.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;

use super::*;

#[test]
fn an_object_is_addressed_in_its_regions_partition_and_version() {
    let suffix = sluice_adapters::caller::dns_suffix("cn-north-1");
    assert_eq!(
        object_url(
            "art",
            "cn-north-1",
            suffix,
            "releases/p/sha256/ab",
            Some("v+1/2")
        ),
        "https://art.s3.cn-north-1.amazonaws.com.cn/releases/p/sha256/ab?versionId=v%2B1%2F2"
    );
    assert_eq!(
        object_url("art", "eu-west-1", "amazonaws.com", "k", None),
        "https://art.s3.eu-west-1.amazonaws.com/k"
    );
}

const UPLOAD: &str = "artifacts/p/1-secret/";

fn bucket() -> Bucket<'static> {
    Bucket {
        name: "art",
        upload: UPLOAD,
        region: "eu-west-1",
        dns_suffix: "amazonaws.com",
    }
}

fn yaml(text: &str) -> Yaml {
    serde_yaml_ng::from_str(text).unwrap()
}

const EVERY_FORM: &str = r#"
Globals:
  Function:
    Runtime: provided.al2023
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://art/artifacts/p/1-secret/code/abc
  Raw:
    Type: AWS::Lambda::Function
    Properties:
      Code: {S3Bucket: art, S3Key: artifacts/p/1-secret/code/def}
  Nested:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://s3.eu-west-1.amazonaws.com/art/artifacts/p/1-secret/code/ghi.template
  Api:
    Type: AWS::Serverless::Api
    Properties:
      DefinitionUri: {Bucket: art, Key: artifacts/p/1-secret/code/jkl}
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: s3://art/artifacts/p/1-secret/code/mno?versionId=old
  Image:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: 1.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  Inline:
    Type: AWS::Lambda::Function
    Properties:
      Code: {ZipFile: "exports.handler = async () => 1"}
"#;

#[test]
fn every_form_of_location_is_found_and_pinned_to_the_release_copy() {
    let template = yaml(EVERY_FORM);
    let found = locations(&template, &bucket()).unwrap();
    let mut keys: Vec<&str> = found.iter().filter_map(|f| f.key.as_deref()).collect();
    keys.sort_unstable();
    let expected: Vec<String> = ["abc", "def", "ghi.template", "jkl", "mno"]
        .iter()
        .map(|k| format!("{UPLOAD}code/{k}"))
        .collect();
    assert_eq!(keys, expected);
    let copies: BTreeMap<String, Copy> = keys
        .iter()
        .map(|k| {
            let digest = k.rsplit('/').next().unwrap();
            let copy = Copy {
                key: format!("releases/p/sha256/{digest}"),
                version: Some(format!("v-{digest}")),
                sha256: digest.to_owned(),
            };
            ((*k).to_owned(), copy)
        })
        .collect();
    let out = rewrite(&template, &bucket(), &copies).unwrap();
    let text = serde_yaml_ng::to_string(&out).unwrap();
    assert!(!text.contains("artifacts/"), "{text}");
    let r = &out["Resources"];
    assert_eq!(
        r["Fn"]["Properties"]["CodeUri"],
        yaml("{Bucket: art, Key: releases/p/sha256/abc, Version: v-abc}")
    );
    assert_eq!(
        r["Raw"]["Properties"]["Code"],
        yaml("{S3Bucket: art, S3Key: releases/p/sha256/def, S3ObjectVersion: v-def}")
    );
    assert_eq!(
        r["Nested"]["Properties"]["TemplateURL"],
        Yaml::String(
            "https://art.s3.eu-west-1.amazonaws.com/releases/p/sha256/ghi.template?versionId=v-ghi.template"
                .into()
        )
    );
    assert_eq!(
        r["Layer"]["Properties"]["ContentUri"],
        yaml("{Bucket: art, Key: releases/p/sha256/mno, Version: v-mno}")
    );
    assert_eq!(r["Image"], template["Resources"]["Image"]);
    assert_eq!(r["Inline"], template["Resources"]["Inline"]);
    let code: Vec<&str> = found
        .iter()
        .filter(|f| f.function_code)
        .map(|f| f.resource.as_str())
        .collect();
    assert_eq!(code, ["Fn", "Raw", "Inline"]);
}

fn refusal(text: &str) -> String {
    locations(&yaml(text), &bucket()).expect_err("the template must be refused")
}

#[test]
fn code_outside_sluices_bucket_is_refused_naming_the_resource_and_property() {
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: s3://another-bucket/f.zip\n",
    );
    assert!(why.starts_with("Fn (AWS::Serverless::Function) CodeUri points to s3://another-bucket/f.zip, outside Sluice's bucket"), "{why}");
    assert!(why.contains("sam package"), "{why}");
    let why = refusal(
        "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
         TemplateURL: https://elsewhere.s3.amazonaws.com/child.yaml\n",
    );
    assert!(
        why.starts_with(
            "Child (AWS::CloudFormation::Stack) TemplateURL points to s3://elsewhere/child.yaml"
        ),
        "{why}"
    );
    let why = refusal(
        "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
         TemplateURL: https://example.com/child.yaml\n",
    );
    assert!(
        why.contains("points to https://example.com/child.yaml, outside"),
        "{why}"
    );
}

#[test]
fn another_builds_upload_an_unpackaged_path_a_tag_and_an_intrinsic_are_refused() {
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: s3://art/artifacts/p/2-other/code/abc\n",
    );
    assert!(
        why.contains("outside this build's upload (artifacts/p/1-secret/)"),
        "{why}"
    );
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: src/\n",
    );
    assert!(why.contains("a path on the build machine"), "{why}");
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         ImageUri: 1.dkr.ecr.eu-west-1.amazonaws.com/app:latest\n",
    );
    assert!(why.contains("by tag"), "{why}");
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
         Code: {S3Bucket: !Ref Where, S3Key: k}\n",
    );
    assert!(why.contains("intrinsic function"), "{why}");
    let why = refusal(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: !Sub s3://art/artifacts/p/1-secret/code/abc\n",
    );
    assert!(why.contains("intrinsic function"), "{why}");
}

#[test]
fn an_object_of_the_bucket_named_where_sluice_cannot_pin_it_is_refused() {
    let why = refusal(
        "Resources:\n  Job:\n    Type: AWS::Glue::Job\n    Properties:\n      \
         Command: {ScriptLocation: s3://art/artifacts/p/1-secret/code/job.py}\n",
    );
    assert!(why.starts_with("Resources.Job.Properties.Command.ScriptLocation names s3://art/artifacts/p/1-secret/code/job.py"), "{why}");
}
