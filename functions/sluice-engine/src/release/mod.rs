//! What a release deploys, found and fixed in its template: every location of code
//! or of a definition, refused when Sluice cannot pin it, and rewritten to name the
//! release's own copy by key and version, so nothing CloudFormation or Lambda fetches
//! later can differ from what was built, tested and approved.

use serde_yaml_ng::Value as Yaml;

mod find;
mod locate;
mod rewrite;

pub use find::{Found, locations};
pub use locate::parse_location;
pub use rewrite::{Copy, object_url, rewrite};

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

#[cfg(test)]
mod tests;
