//! What a release deploys, found and fixed in its template: every location of code
//! or of a definition, refused when Sluice cannot pin it, and rewritten to name the
//! release's own copy by key and version, so nothing CloudFormation or Lambda fetches
//! later can differ from what was built, tested and approved.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value as Yaml};

/// How a property gives a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// SAM's `CodeUri`, `ContentUri`, `DefinitionUri`: `s3://bucket/key` or
    /// `{Bucket, Key, Version}`.
    SamUri,
    /// A URL of an object: `TemplateURL`, an application's `Location`.
    Url,
    /// A Lambda function's or layer's `{S3Bucket, S3Key, S3ObjectVersion}`, or an
    /// image, or inline code.
    Code,
    /// `{Bucket, Key, Version}` of API Gateway and Step Functions.
    BucketKey,
    /// A container image, which must be named by digest.
    Image,
}

/// Every property that gives the location of code or of a definition.
const LOCATIONS: &[(&str, &str, Form)] = &[
    ("AWS::Serverless::Function", "CodeUri", Form::SamUri),
    ("AWS::Serverless::Function", "ImageUri", Form::Image),
    ("AWS::Serverless::LayerVersion", "ContentUri", Form::SamUri),
    ("AWS::Serverless::Api", "DefinitionUri", Form::SamUri),
    ("AWS::Serverless::HttpApi", "DefinitionUri", Form::SamUri),
    (
        "AWS::Serverless::StateMachine",
        "DefinitionUri",
        Form::SamUri,
    ),
    ("AWS::Serverless::Application", "Location", Form::Url),
    ("AWS::Lambda::Function", "Code", Form::Code),
    ("AWS::Lambda::LayerVersion", "Content", Form::Code),
    ("AWS::CloudFormation::Stack", "TemplateURL", Form::Url),
    (
        "AWS::ApiGateway::RestApi",
        "BodyS3Location",
        Form::BucketKey,
    ),
    ("AWS::ApiGatewayV2::Api", "BodyS3Location", Form::BucketKey),
    (
        "AWS::StepFunctions::StateMachine",
        "DefinitionS3Location",
        Form::BucketKey,
    ),
];

/// Where the template's objects live, and where a build may have put them.
pub struct Bucket<'a> {
    pub name: &'a str,
    /// The build's upload area: `artifacts/<pipeline>/<id>-<upload>/`.
    pub upload: &'a str,
    /// For URLs: `https://<bucket>.s3.<region>.<suffix>/`.
    pub region: &'a str,
    pub dns_suffix: &'a str,
}

/// The HTTPS address of version `version` of object `key` of bucket `bucket` in
/// `region`, whose partition's domain is `dns_suffix`.
pub fn object_url(
    bucket: &str,
    region: &str,
    dns_suffix: &str,
    key: &str,
    version: Option<&str>,
) -> String {
    let version = version
        .map(|v| format!("?versionId={}", urlencoding::encode(v)))
        .unwrap_or_default();
    format!("https://{bucket}.s3.{region}.{dns_suffix}/{key}{version}")
}

/// A release's copy of one object: where it is, which version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    pub key: String,
    pub version: Option<String>,
    pub sha256: String,
}

/// One location found in the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The logical id of the resource (or `Globals`).
    pub resource: String,
    pub property: &'static str,
    /// The key in the build's upload; `None` for an image named by digest or
    /// inline code.
    pub key: Option<String>,
    /// Whether it is a Lambda function's code.
    pub function_code: bool,
}

/// Every location the template gives, each in the build's upload (or an image
/// named by digest); the first that is not is refused with what to do.
pub fn locations(template: &Yaml, bucket: &Bucket<'_>) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    for (resource, kind, property, form, value) in properties(template) {
        let key = locate(value, form, bucket)
            .map_err(|why| format!("{resource} ({kind}) {property} {why}"))?;
        found.push(Found {
            resource,
            property,
            key,
            function_code: matches!(
                (kind.as_str(), property),
                ("AWS::Serverless::Function", "CodeUri") | ("AWS::Lambda::Function", "Code")
            ),
        });
    }
    let mut stray = Vec::new();
    mentions(template, bucket, "", &mut stray);
    // Mentions the known properties account for are fine; any other is an object
    // deployed by a path Sluice cannot pin.
    let known: Vec<&str> = found.iter().filter_map(|f| f.key.as_deref()).collect();
    if let Some((path, key)) = stray
        .into_iter()
        .find(|(_, k)| !known.contains(&k.as_str()))
    {
        return Err(format!(
            "{path} names s3://{}/{key}, in a way Sluice cannot pin to the release (only \
             the code and definition properties of functions, layers, APIs, state machines \
             and nested stacks are); give it through one of those, or inline",
            bucket.name
        ));
    }
    Ok(found)
}

/// The template with every location replaced by the release's copy of its object,
/// by key and version, in the form the property takes.
pub fn rewrite(
    template: &Yaml,
    bucket: &Bucket<'_>,
    copies: &BTreeMap<String, Copy>,
) -> Result<Yaml, String> {
    let mut rewritten = template.clone();
    let targets: Vec<(String, &'static str, Form)> = properties(template)
        .into_iter()
        .map(|(resource, _, property, form, _)| (resource, property, form))
        .collect();
    for (resource, property, form) in targets {
        let Some(value) = property_mut(&mut rewritten, &resource, property) else {
            continue;
        };
        let Some(key) = locate(value, form, bucket)? else {
            continue;
        };
        let Some(copy) = copies.get(&key) else {
            return Err(format!("{resource} {property}: no release copy of {key}"));
        };
        *value = pinned(form, bucket, copy);
    }
    Ok(rewritten)
}

fn pinned(form: Form, bucket: &Bucket<'_>, copy: &Copy) -> Yaml {
    let mapping = |b: &str, k: &str, v: &str| {
        let mut m = Mapping::new();
        m.insert(b.into(), bucket.name.into());
        m.insert(k.into(), copy.key.as_str().into());
        if let Some(version) = &copy.version {
            m.insert(v.into(), version.as_str().into());
        }
        Yaml::Mapping(m)
    };
    match form {
        Form::SamUri | Form::BucketKey => mapping("Bucket", "Key", "Version"),
        Form::Code => mapping("S3Bucket", "S3Key", "S3ObjectVersion"),
        Form::Url => Yaml::String(object_url(
            bucket.name,
            bucket.region,
            bucket.dns_suffix,
            &copy.key,
            copy.version.as_deref(),
        )),
        // Not rewritten: an image by digest is pinned already.
        Form::Image => Yaml::Null,
    }
}

type Property<'t> = (String, String, &'static str, Form, &'t Yaml);

/// Each location-giving property present in the template, with its resource.
fn properties(template: &Yaml) -> Vec<Property<'_>> {
    let mut out = Vec::new();
    if let Some(Yaml::Mapping(resources)) = template.get("Resources") {
        for (id, resource) in resources {
            let id = id.as_str().unwrap_or_default().to_owned();
            let kind = resource
                .get("Type")
                .and_then(Yaml::as_str)
                .unwrap_or_default();
            let Some(props) = resource.get("Properties") else {
                continue;
            };
            for (k, property, form) in LOCATIONS {
                if *k == kind
                    && let Some(value) = props.get(*property)
                {
                    out.push((id.clone(), kind.to_owned(), *property, *form, value));
                }
            }
        }
    }
    // SAM's globals give every function its code unless the function does.
    if let Some(value) = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("CodeUri"))
    {
        let kind = "Globals".to_owned();
        out.push(("Globals".into(), kind, "CodeUri", Form::SamUri, value));
    }
    out
}

fn property_mut<'t>(
    template: &'t mut Yaml,
    resource: &str,
    property: &str,
) -> Option<&'t mut Yaml> {
    if resource == "Globals" {
        return template
            .get_mut("Globals")?
            .get_mut("Function")?
            .get_mut(property);
    }
    template
        .get_mut("Resources")?
        .get_mut(resource)?
        .get_mut("Properties")?
        .get_mut(property)
}

const PACKAGE: &str = "package the template with `sam package --s3-bucket \
     \"$SLUICE_ARTIFACT_BUCKET\" --s3-prefix \"${SLUICE_ARTIFACT_PREFIX}code\"` in the \
     buildspec, so Sluice copies what it points to into the release";

/// The key in the build's upload that `value` gives in `form`; `None` where there
/// is nothing to copy (an image by digest, inline code); or why it cannot be pinned.
fn locate(value: &Yaml, form: Form, bucket: &Bucket<'_>) -> Result<Option<String>, String> {
    let computed = || {
        format!(
            "is computed by an intrinsic function, so Sluice cannot tell what it deploys \
             before CloudFormation does; give the literal location ({PACKAGE})"
        )
    };
    if matches!(value, Yaml::Tagged(_)) || is_intrinsic(value) {
        return Err(computed());
    }
    let (b, k) = match (form, value) {
        (Form::Image, Yaml::String(image)) => return by_digest(image).map(|()| None),
        (Form::SamUri | Form::Url, Yaml::String(s)) => return in_upload_str(s, bucket).map(Some),
        (Form::SamUri | Form::BucketKey, Yaml::Mapping(_)) => ("Bucket", "Key"),
        (Form::Code, Yaml::Mapping(m)) => {
            if m.contains_key("ZipFile") {
                return Ok(None);
            }
            if let Some(image) = m.get("ImageUri") {
                return match image {
                    Yaml::String(image) => by_digest(image).map(|()| None),
                    _ => Err(computed()),
                };
            }
            ("S3Bucket", "S3Key")
        }
        (Form::Url, Yaml::Mapping(m)) if m.contains_key("ApplicationId") => {
            return Err(
                "is an application of the Serverless Application Repository, which Sluice \
                 cannot copy into the release; put the application's template in the \
                 repository and deploy it as a nested stack"
                    .to_owned(),
            );
        }
        _ => return Err(format!("is not a location Sluice understands; {PACKAGE}")),
    };
    match (value.get(b), value.get(k)) {
        (Some(Yaml::String(b)), Some(Yaml::String(k))) => in_upload(b, k, bucket).map(Some),
        (Some(_), Some(_)) => Err(computed()),
        _ => Err(format!("names no {b} and {k}; {PACKAGE}")),
    }
}

fn is_intrinsic(value: &Yaml) -> bool {
    value.as_mapping().is_some_and(|m| {
        m.keys()
            .filter_map(Yaml::as_str)
            .any(|k| k == "Ref" || k.starts_with("Fn::"))
    })
}

fn by_digest(image: &str) -> Result<(), String> {
    let pinned = image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
    if pinned {
        Ok(())
    } else {
        Err(format!(
            "names the image {image} by tag, and a tag can be moved to other code after the \
             approval; name it by digest (repository@sha256:...), as `sam package` does"
        ))
    }
}

fn in_upload_str(location: &str, bucket: &Bucket<'_>) -> Result<String, String> {
    if let Some((b, k)) = parse_location(location) {
        return in_upload(&b, &k, bucket);
    }
    if !location.contains("://") {
        return Err(format!(
            "is {location}, a path on the build machine: the template was not packaged; \
             {PACKAGE}"
        ));
    }
    Err(format!(
        "points to {location}, outside Sluice's bucket: it could change after the staging \
         test and the approval, and Sluice cannot pin it; {PACKAGE}"
    ))
}

fn in_upload(b: &str, key: &str, bucket: &Bucket<'_>) -> Result<String, String> {
    if b != bucket.name {
        return Err(format!(
            "points to s3://{b}/{key}, outside Sluice's bucket: it could change after the \
             staging test and the approval, and Sluice cannot pin it; {PACKAGE}"
        ));
    }
    if !key.starts_with(bucket.upload) || key.contains("/../") {
        return Err(format!(
            "points to s3://{b}/{key}, outside this build's upload ({}), so not to what \
             this build made; {PACKAGE}",
            bucket.upload
        ));
    }
    Ok(key.to_owned())
}

/// The bucket and key an S3 location names: `s3://bucket/key`, or an https URL in
/// path or virtual-host style (any version in the query is dropped: the release
/// pins its own).
pub fn parse_location(location: &str) -> Option<(String, String)> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let rest = rest.split('?').next()?;
        let (b, k) = rest.split_once('/')?;
        return Some((b.to_owned(), k.to_owned()));
    }
    let rest = location.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split('?').next()?;
    let (before, _) = host.split_once(".amazonaws.")?;
    if let Some((b, _)) = before.split_once(".s3") {
        return Some((b.to_owned(), path.to_owned()));
    }
    if before.starts_with("s3") {
        let (b, k) = path.split_once('/')?;
        return Some((b.to_owned(), k.to_owned()));
    }
    None
}

/// Every string or `Bucket`/`Key` pair anywhere in the template that names an object
/// of the bucket, with where it is.
fn mentions(value: &Yaml, bucket: &Bucket<'_>, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Yaml::String(s) => {
            if let Some((b, k)) = parse_location(s)
                && b == bucket.name
            {
                out.push((path.to_owned(), k));
            }
        }
        Yaml::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                mentions(item, bucket, &format!("{path}[{i}]"), out);
            }
        }
        Yaml::Mapping(map) => {
            for (b, k) in [("S3Bucket", "S3Key"), ("Bucket", "Key")] {
                if let (Some(Yaml::String(b)), Some(Yaml::String(k))) = (map.get(b), map.get(k))
                    && b == bucket.name
                {
                    out.push((path.to_owned(), k.clone()));
                }
            }
            for (key, value) in map {
                let name = key.as_str().unwrap_or("?");
                let path = if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                };
                mentions(value, bucket, &path, out);
            }
        }
        Yaml::Tagged(tagged) => mentions(&tagged.value, bucket, path, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
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
}
