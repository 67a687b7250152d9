//! Which failures are worth retrying: those of the moment (throttling, a service's
//! own error, a stack busy with another update, a build machine that never ran the
//! buildspec), told apart from those of the application (a failed test, a template
//! CloudFormation refuses, a resource that failed to create), which happen again.
//! Decided from the reason as AWS and CodeBuild worded it, which is all a stage's
//! failure keeps.

/// What AWS says when it is the moment, not the request, that is wrong.
const OF_THE_MOMENT: &[&str] = &[
    "rate exceeded",
    "throttl",
    "too many requests",
    "toomanyrequests",
    "status code: 429",
    "status code: 500",
    "status code: 502",
    "status code: 503",
    "status code: 504",
    "service unavailable",
    "serviceunavailable",
    "internal failure",
    "internalfailure",
    "internal error",
    "internalerror",
    "request limit exceeded",
    "slow down",
    "please try again",
    // A stack busy with another operation refuses a change set until it ends.
    "_in_progress state and can not be updated",
    "_in_progress state and cannot be updated",
];

/// Build phases that end before the buildspec runs: their failure is the build
/// machine's, not the application's.
const BEFORE_THE_BUILDSPEC: &[&str] = &[
    "phase SUBMITTED ",
    "phase QUEUED ",
    "phase PROVISIONING ",
    "phase DOWNLOAD_SOURCE ",
];

/// Whether a failure, as its reason words it, is worth retrying.
pub fn is_transient(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    OF_THE_MOMENT.iter().any(|p| lower.contains(p))
        || BEFORE_THE_BUILDSPEC.iter().any(|p| reason.contains(p))
        || reason.contains("build FAULT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_the_moment_are_retried() {
        for reason in [
            "stack hello-staging is UPDATE_ROLLBACK_COMPLETE: HelloFunction: Rate exceeded (Service: Lambda, Status Code: 429)",
            "change set failed: Throttling: Rate exceeded",
            "could not execute change set x: ServiceUnavailable: try later",
            "Stack:arn:aws:cloudformation:us-east-1:1:stack/hello-staging/1 is in UPDATE_IN_PROGRESS state and can not be updated.",
            "phase PROVISIONING FAILED: BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE: unable to pull",
            "phase DOWNLOAD_SOURCE FAILED: CLIENT_ERROR: repository not reachable",
            "build FAULT",
        ] {
            assert!(is_transient(reason), "{reason}");
        }
    }

    #[test]
    fn failures_of_the_application_are_not() {
        for reason in [
            "phase BUILD FAILED: COMMAND_EXECUTION_ERROR: Error while executing command: sh smoke.sh. Reason: exit status 1",
            "phase INSTALL FAILED: YAML_FILE_ERROR: the buildspec is not valid YAML",
            "change set failed: Template format error: Unresolved resource dependencies [Missing]",
            "stack hello-staging is UPDATE_ROLLBACK_COMPLETE: HelloFunction: Resource handler returned message: \"Runtime nodejs4 is not supported\"",
            "build TIMED_OUT",
        ] {
            assert!(!is_transient(reason), "{reason}");
        }
    }
}
