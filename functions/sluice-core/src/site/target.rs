//! Where a site stage deploys: its bucket, its CloudFront distribution, its folder
//! of the artifact and its entry document, from the pipeline's configuration.

use serde::{Deserialize, Serialize};

use super::plan::plain_relative;
use crate::ids::InvalidId;
use crate::ids::StageName;

/// The bucket a site stage deploys to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SiteBucket {
    /// A bucket by name.
    Named { name: String },
    /// The bucket a stack's output names, read when the stage is prepared: a bucket
    /// the back-end's stack creates (`hello-api-staging:WebsiteBucket`).
    Output { stack: String, output: String },
}

impl std::fmt::Display for SiteBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteBucket::Named { name } => write!(f, "bucket {name}"),
            SiteBucket::Output { stack, output } => {
                write!(f, "the bucket of stack {stack}'s output {output}")
            }
        }
    }
}

/// The CloudFront distribution in front of a site, whose caches a deploy clears.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SiteDistribution {
    /// A distribution by id (`E2QWRUHAPOMQZL`).
    Id { id: String },
    /// The distribution a stack's output names (`hello-api-staging:DistributionId`).
    Output { stack: String, output: String },
}

impl std::fmt::Display for SiteDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteDistribution::Id { id } => write!(f, "distribution {id}"),
            SiteDistribution::Output { stack, output } => {
                write!(f, "the distribution of stack {stack}'s output {output}")
            }
        }
    }
}

/// Whether `id` looks like a CloudFront distribution id.
pub fn is_distribution_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// What a site stage deploys, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteTarget {
    pub bucket: SiteBucket,
    /// The distribution whose caches are cleared of the changed files, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<SiteDistribution>,
    /// The artifact's folder that holds the site, such as `site` or `site/staging`.
    pub folder: String,
    /// The page served for the site's root, such as `index.html`; uploaded last.
    pub entry_document: String,
}

/// How a configuration names the stage in a pattern.
pub const STAGE_PLACEHOLDER: char = '*';

fn config_error(what: &'static str, value: &str, expected: &'static str) -> InvalidId {
    InvalidId {
        what,
        value: value.chars().take(140).collect(),
        expected,
    }
}

/// Whether `name` is an S3 bucket name (the rules for new buckets).
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

fn is_stack_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl SiteTarget {
    /// The site target of `stage` from the configuration's patterns, where `*`
    /// stands for the stage's name: `bucket` is a bucket name (`hello-web-*`) or a
    /// stack and its output (`hello-api-*:WebsiteBucket`); `folder` is the artifact's
    /// folder (`site`, or `site/*` for a site built per stage).
    pub fn for_stage(
        stage: &StageName,
        bucket: &str,
        folder: &str,
        entry_document: &str,
    ) -> Result<Self, InvalidId> {
        let fill = |pattern: &str| pattern.replace(STAGE_PLACEHOLDER, stage.as_str());
        let bucket = match bucket.split_once(':') {
            Some((stack, output)) => {
                let (stack, output) = stack_output(
                    stage,
                    stack,
                    output,
                    ("site bucket's stack", "site bucket's stack output"),
                )?;
                SiteBucket::Output { stack, output }
            }
            None => {
                let name = fill(bucket.trim());
                if !is_bucket_name(&name) {
                    return Err(config_error(
                        "site bucket",
                        &name,
                        "a bucket name (3-63 characters of a-z, 0-9, '-' and '.'), or <stack>:<Output> for the bucket a stack's output names; '*' stands for the stage",
                    ));
                }
                SiteBucket::Named { name }
            }
        };
        let folder = fill(folder.trim().trim_end_matches('/'));
        if !plain_relative(&folder) || folder.len() > 200 {
            return Err(config_error(
                "site folder",
                &folder,
                "a relative folder of the build's artifact, such as site or site/*",
            ));
        }
        let entry_document = entry_document.trim();
        if !plain_relative(entry_document) || entry_document.len() > 200 {
            return Err(config_error(
                "site entry document",
                entry_document,
                "a file of the site, such as index.html",
            ));
        }
        Ok(Self {
            bucket,
            distribution: None,
            folder,
            entry_document: entry_document.to_owned(),
        })
    }

    /// The same target, clearing the caches of the CloudFront distribution
    /// `distribution` names after each deploy: an id (`E2QWRUHAPOMQZL`), or
    /// `<stack>:<Output>` with `*` standing for the stage.
    pub fn with_distribution(
        mut self,
        stage: &StageName,
        distribution: &str,
    ) -> Result<Self, InvalidId> {
        let distribution = distribution.trim();
        self.distribution = Some(match distribution.split_once(':') {
            Some((stack, output)) => {
                let (stack, output) = stack_output(
                    stage,
                    stack,
                    output,
                    (
                        "site distribution's stack",
                        "site distribution's stack output",
                    ),
                )?;
                SiteDistribution::Output { stack, output }
            }
            None if is_distribution_id(distribution) => SiteDistribution::Id {
                id: distribution.to_owned(),
            },
            None => {
                return Err(config_error(
                    "site distribution",
                    distribution,
                    "a CloudFront distribution id (capital letters and digits), or \
                     <stack>:<Output> for the one a stack's output names; '*' stands for the stage",
                ));
            }
        });
        Ok(self)
    }
}

/// A stack (its pattern filled in with the stage) and one of its outputs; the labels
/// name each in an error.
fn stack_output(
    stage: &StageName,
    stack: &str,
    output: &str,
    (stack_label, output_label): (&'static str, &'static str),
) -> Result<(String, String), InvalidId> {
    let stack = stack.trim().replace(STAGE_PLACEHOLDER, stage.as_str());
    let output = output.trim();
    if !is_stack_name(&stack) {
        return Err(config_error(
            stack_label,
            &stack,
            "a stack name: 1-128 characters of A-Z, a-z, 0-9 and '-', starting with a letter",
        ));
    }
    let output_ok =
        (1..=255).contains(&output.len()) && output.bytes().all(|b| b.is_ascii_alphanumeric());
    if !output_ok {
        return Err(config_error(
            output_label,
            output,
            "an output's logical name, letters and digits, such as WebsiteBucket",
        ));
    }
    Ok((stack, output.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_targets_name_the_stage_and_refuse_what_is_not_a_bucket() {
        let staging = StageName::parse("staging").unwrap();
        let site = SiteTarget::for_stage(&staging, "hello-web-*", "site/*/", "index.html").unwrap();
        assert_eq!(
            site.bucket,
            SiteBucket::Named {
                name: "hello-web-staging".into()
            }
        );
        assert_eq!(site.folder, "site/staging");
        let site =
            SiteTarget::for_stage(&staging, "hello-api-*:WebsiteBucket", "site", "index.html")
                .unwrap();
        assert_eq!(
            site.bucket,
            SiteBucket::Output {
                stack: "hello-api-staging".into(),
                output: "WebsiteBucket".into()
            }
        );
        for (bucket, folder, entry, says) in [
            ("Hello_Web", "site", "index.html", "site bucket"),
            ("ab", "site", "index.html", "site bucket"),
            ("1stack:Out", "site", "index.html", "site bucket's stack"),
            ("stack:Out-put", "site", "index.html", "stack output"),
            ("web", "../up", "index.html", "site folder"),
            ("web", "/abs", "index.html", "site folder"),
            ("web", "site", "", "entry document"),
        ] {
            let err = SiteTarget::for_stage(&staging, bucket, folder, entry).unwrap_err();
            assert!(
                err.to_string().contains(says),
                "{bucket} {folder} {entry}: {err}"
            );
        }
    }

    #[test]
    fn a_distribution_is_an_id_or_a_stacks_output() {
        let production = StageName::parse("production").unwrap();
        let site = || SiteTarget::for_stage(&production, "web-*", "site", "index.html").unwrap();
        let by_id = site()
            .with_distribution(&production, "E2QWRUHAPOMQZL")
            .unwrap();
        assert_eq!(
            by_id.distribution,
            Some(SiteDistribution::Id {
                id: "E2QWRUHAPOMQZL".into()
            })
        );
        let by_output = site()
            .with_distribution(&production, "hello-api-*:DistributionId")
            .unwrap();
        assert_eq!(
            by_output.distribution.map(|d| d.to_string()).as_deref(),
            Some("the distribution of stack hello-api-production's output DistributionId")
        );
        for bad in ["e2qwru", "E2/../x", "1stack:Out", "stack:"] {
            let err = site().with_distribution(&production, bad).unwrap_err();
            assert!(
                err.to_string().contains("site distribution"),
                "{bad}: {err}"
            );
        }
    }
}
