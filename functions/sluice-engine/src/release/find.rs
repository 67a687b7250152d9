//! Finding every location of code or of a definition a template gives, and refusing
//! a template that names an object of the bucket anywhere else.

use serde_yaml_ng::Value as Yaml;

use super::locate::{locate, parse_location};
use super::{Bucket, properties};

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
