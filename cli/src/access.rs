//! The caller's AWS configuration, checked before the first request: a missing region
//! or missing credentials is said with what to run, instead of the five lines the
//! SDK's provider chain gives (or its last provider's "IMDS is disabled").

use aws_config::SdkConfig;
use aws_config::imds::client::error::ImdsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;

/// Why the caller's AWS configuration cannot make a request.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No region in the environment or the profile.
    #[error(
        "no AWS region: run `export AWS_REGION=<region>` with the Sluice stack's region \
         (such as eu-west-1){}",
        in_profile(.profile.as_deref())
    )]
    NoRegion { profile: Option<String> },
    /// No provider in the chain had credentials.
    #[error("{}", no_credentials(.profile.as_deref()))]
    NoCredentials {
        profile: Option<String>,
        #[source]
        source: CredentialsError,
    },
    /// A provider found something, but could not turn it into credentials: a profile
    /// that does not exist, an SSO session that expired.
    #[error(
        "your AWS credentials cannot be used{}: {}; {}",
        .profile.as_deref().map(|p| format!(" (profile {p})")).unwrap_or_default(),
        innermost(.source),
        sign_in(.profile.as_deref())
    )]
    Unusable {
        profile: Option<String>,
        #[source]
        source: CredentialsError,
    },
}

/// Checks that `sdk` has a region and that its credentials load, once, before any
/// request; `profile` is the AWS_PROFILE in effect, for the advice.
pub async fn check(sdk: &SdkConfig, profile: Option<String>) -> Result<(), AccessError> {
    if sdk.region().is_none() {
        return Err(AccessError::NoRegion { profile });
    }
    let Some(provider) = sdk.credentials_provider() else {
        return Err(AccessError::NoCredentials {
            profile,
            source: CredentialsError::not_loaded("no credentials provider is configured"),
        });
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(source) => Err(classify(source, profile)),
    }
}

/// Whether `source` says there were no credentials, or unusable ones. The instance
/// metadata service is the chain's last resort: its refusal, off EC2, means that
/// nothing else had credentials either.
fn classify(source: CredentialsError, profile: Option<String>) -> AccessError {
    match source {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::ProviderTimedOut(_) => {
            AccessError::NoCredentials { profile, source }
        }
        _ if from_instance_metadata(&source) => AccessError::NoCredentials { profile, source },
        _ => AccessError::Unusable { profile, source },
    }
}

fn from_instance_metadata(error: &CredentialsError) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<ImdsError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn in_profile(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!(", or `aws configure set region <region> --profile {p}`"),
        None => ", or set `region` in your AWS profile".to_owned(),
    }
}

fn no_credentials(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("no AWS credentials for profile {p}: {}", sign_in(Some(p))),
        None => format!("no AWS credentials: {}", sign_in(None)),
    }
}

fn sign_in(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!(
            "sign in with `aws sso login --profile {p}` (or check the profile with \
             `aws configure list --profile {p}`)"
        ),
        None => "sign in with `aws sso login --profile <profile>` and `export \
                 AWS_PROFILE=<profile>`, or set up access keys with `aws configure`"
            .to_owned(),
    }
}

/// What the provider itself said, without the chain's wrappers around it.
fn innermost(error: &CredentialsError) -> String {
    let mut said = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        said = cause.to_string();
        source = cause.source();
    }
    said.trim_end_matches(['.', ' ']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_region_says_what_to_export() {
        let said = AccessError::NoRegion { profile: None }.to_string();
        assert!(said.contains("export AWS_REGION="), "{said}");
        let said = AccessError::NoRegion {
            profile: Some("dev".into()),
        }
        .to_string();
        assert!(
            said.contains("aws configure set region <region> --profile dev"),
            "{said}"
        );
    }

    #[test]
    fn missing_credentials_say_how_to_sign_in_and_hide_the_chain() {
        let chain = CredentialsError::not_loaded(
            "failed to load IMDS session token: IMDS is disabled or the caller has \
             insufficient permissions",
        );
        let said = classify(chain, Some("dev".into())).to_string();
        assert_eq!(
            said,
            "no AWS credentials for profile dev: sign in with `aws sso login --profile dev` \
             (or check the profile with `aws configure list --profile dev`)"
        );
        assert!(!said.contains("IMDS"));
    }

    #[test]
    fn unusable_credentials_say_what_the_provider_said_once() {
        let expired = CredentialsError::provider_error("the SSO session has expired");
        let said = classify(expired, None).to_string();
        assert!(
            said.starts_with("your AWS credentials cannot be used: the SSO session has expired; sign in with `aws sso login"),
            "{said}"
        );
    }
}
