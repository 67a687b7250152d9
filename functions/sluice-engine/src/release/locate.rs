//! Where one location points, and why Sluice cannot pin it when it cannot: outside
//! the build's upload or the bucket, computed, an image by tag.

use serde_yaml_ng::Value as Yaml;

use super::{Bucket, Form};

const PACKAGE: &str = "package the template with `sam package --s3-bucket \
     \"$SLUICE_ARTIFACT_BUCKET\" --s3-prefix \"${SLUICE_ARTIFACT_PREFIX}code\"` in the \
     buildspec, so Sluice copies what it points to into the release";

/// The key in the build's upload that `value` gives in `form`; `None` where there
/// is nothing to copy (an image by digest, inline code); or why it cannot be pinned.
pub(super) fn locate(
    value: &Yaml,
    form: Form,
    bucket: &Bucket<'_>,
) -> Result<Option<String>, String> {
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
