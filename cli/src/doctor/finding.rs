//! What one check of `sluice doctor` finds.

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Problem,
    /// Nothing to check yet (no event of the kind has been logged).
    NotYet,
}

/// One check's result: what it found and, for a problem, what to do.
#[derive(Clone, Debug)]
pub struct Finding {
    pub check: String,
    pub outcome: Outcome,
    pub says: String,
    pub fix: Option<String>,
}

impl Finding {
    pub(super) fn ok(check: impl Into<String>, says: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Ok,
            says: says.into(),
            fix: None,
        }
    }

    pub(super) fn problem(
        check: impl Into<String>,
        says: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Problem,
            says: says.into(),
            fix: Some(fix.into()),
        }
    }

    pub(super) fn not_yet(check: impl Into<String>, says: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::NotYet,
            says: says.into(),
            fix: None,
        }
    }
}

/// The fix for a check the caller's credentials may not make.
pub(super) const NEEDS_OPERATOR_POLICY: &str =
    "hold the stack's OperatorPolicy (output OperatorPolicyArn) to run this check";
