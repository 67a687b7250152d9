//! The template rewritten to name the release's own copy of each object, by key and
//! version.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::locate::locate;
use super::{Bucket, Form, properties};

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
