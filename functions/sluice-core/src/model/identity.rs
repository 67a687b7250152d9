//! Whether two ARNs name one person, for the rule that no one approves their own
//! execution where a stage forbids it.

/// Whether two ARNs name the same AWS identity, as STS and CodeCommit give them: the
/// same IAM user (user names are unique in an account, whatever their path, and
/// case-insensitive), the same role session (the role, case-insensitive, and the
/// session name: two people in one role are two sessions), the same account root or
/// federated user. IAM Identity Center names each session after its user, whatever
/// the permission set, so two of its roles (`AWSReservedSSO_…`) with one session name
/// are one person. Anything else only if the ARNs are equal.
pub fn same_identity(a: &str, b: &str) -> bool {
    type Principal<'a> = (&'a str, &'a str, String, Option<&'a str>);
    fn principal(arn: &str) -> Option<Principal<'_>> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let resource = parts.next()?;
        let mut path = resource.split('/');
        let kind = path.next()?;
        let name = match kind {
            "user" => resource.rsplit('/').next()?.to_lowercase(),
            // One Identity Center user, whichever permission set: see the session.
            "assumed-role"
                if resource
                    .to_lowercase()
                    .starts_with("assumed-role/awsreservedsso_") =>
            {
                path.next()?;
                "(iam identity center)".to_owned()
            }
            "assumed-role" => path.next()?.to_lowercase(),
            "federated-user" => path.next()?.to_owned(),
            "root" => String::new(),
            _ => return None,
        };
        let session = (kind == "assumed-role").then(|| path.next()).flatten();
        if kind == "assumed-role" && session.is_none() {
            return None;
        }
        Some((partition, account, format!("{kind}/{name}"), session))
    }
    match (principal(a), principal(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::same_identity;

    #[test]
    fn identities_are_the_same_person_not_the_same_role() {
        let same = [
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:iam::111122223333:user/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/team/ada",
                "arn:aws:iam::111122223333:user/Ada",
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/Dev/alice",
                "arn:aws:sts::111122223333:assumed-role/dev/alice",
            ),
            (
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:root",
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/ada@example.com",
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_fedcba9876543210/ada@example.com",
            ),
        ];
        for (a, b) in same {
            assert!(same_identity(a, b), "{a} and {b} are one identity");
        }
        let different = [
            (
                "arn:aws:sts::111122223333:assumed-role/Dev/alice",
                "arn:aws:sts::111122223333:assumed-role/Dev/bob",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:iam::444455556666:user/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:sts::111122223333:assumed-role/ada/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws-cn:iam::111122223333:user/ada",
            ),
            ("not an arn", "arn:aws:iam::111122223333:user/ada"),
            (
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/ada@example.com",
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/bob@example.com",
            ),
        ];
        for (a, b) in different {
            assert!(!same_identity(a, b), "{a} and {b} are two identities");
        }
    }
}
