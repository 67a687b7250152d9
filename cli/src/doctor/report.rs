//! The findings as `sluice doctor` prints them.

use super::finding::{Finding, Outcome};

/// The findings as a person reads them, and the problem count.
pub fn render(pipeline: &str, findings: &[Finding]) -> (String, usize) {
    let mut out = format!("sluice doctor: pipeline {pipeline}\n");
    for f in findings {
        let label = match f.outcome {
            Outcome::Ok => "ok",
            Outcome::Problem => "PROBLEM",
            Outcome::NotYet => "not yet",
        };
        out.push_str(&format!("  {label:<8} {}: {}\n", f.check, f.says));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("           fix: {fix}\n"));
        }
    }
    let problems = findings
        .iter()
        .filter(|f| f.outcome == Outcome::Problem)
        .count();
    out.push_str(&match problems {
        0 => "No problems found.\n".to_owned(),
        1 => "1 problem found.\n".to_owned(),
        n => format!("{n} problems found.\n"),
    });
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_counted_and_each_says_its_fix() {
        let findings = [
            Finding::ok("stack", "sluice is UPDATE_COMPLETE"),
            Finding::problem("alarm", "no action", "enable it"),
            Finding::not_yet("events: x", "none yet"),
        ];
        let (text, problems) = render("sluice", &findings);
        assert_eq!(problems, 1);
        assert!(
            text.contains("PROBLEM  alarm: no action\n           fix: enable it"),
            "{text}"
        );
        assert!(text.contains("1 problem found."), "{text}");
    }
}
