//! `sluice metrics`: DORA's four keys for one stage, computed from the execution
//! documents (`sluice_core::metrics`), as a table with the definitions, or as JSON.

use anyhow::{Result, bail};
use chrono::Duration;
use sluice_core::metrics::{Report, Spread};

use crate::render::{counted, duration};

/// How far back to read beyond the window's start: an execution pushed before the
/// window can still deploy inside it after waiting for approval (links last a week by
/// default).
pub const LOOKBACK: Duration = Duration::days(7);

/// Parses `30d`, `12h`, `90m` or `2w`.
pub fn parse_since(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = match number.parse() {
        Ok(n) if n > 0 && n <= 100_000 => n,
        _ => {
            bail!("expected a positive number and a unit, such as 30d, 12h or 2w")
        }
    };
    Ok(match unit {
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => bail!("the unit must be m, h, d or w (minutes, hours, days, weeks)"),
    })
}

/// What the figures mean, printed under the table and the report's charts.
pub const DEFINITIONS: &[&str] = &[
    "A change is an execution of a push or release; rollbacks are not changes.",
    "Deployment: a change whose stage succeeded in the window (no-change stages are not counted).",
    "Lead time: from Sluice receiving the push to the stage finishing.",
    "Change failure: the stage failed in the window, or a rollback of the stage was asked for \
     while the change was live there; the rate is over changes that deployed or failed there.",
    "Recovery time: from a failure (or the rolled-back change going live) to the next \
     successful deployment of the stage, rollbacks included.",
    "Approval wait: approval request to decision. Build time: build asked for to first stage started.",
    "Percentiles are nearest-rank.",
];

/// The median and 90th percentile of `s`, and how many they are of, as `what` counts them.
fn spread(s: &Spread, what: impl Fn(usize) -> String) -> String {
    match (s.median_seconds, s.p90_seconds) {
        (Some(median), Some(p90)) => format!(
            "median {}, p90 {}  ({})",
            duration(Duration::seconds(median)),
            duration(Duration::seconds(p90)),
            what(s.count)
        ),
        _ => format!("none yet  ({})", what(0)),
    }
}

fn recovered(n: usize) -> String {
    format!("{n} recovered")
}

/// The figures of a report, named, as the table and the HTML report show them.
pub fn rows(r: &Report) -> [(&'static str, String); 6] {
    let rate = match r.change_failure_rate {
        Some(rate) => format!(
            "{:.0}%  ({} failed + {} rolled back, of {})",
            rate * 100.0,
            r.failed,
            r.rolled_back,
            counted(r.changes_reaching_stage, "change")
        ),
        None => "none yet  (no change reached the stage)".to_owned(),
    };
    let recovery = if r.not_recovered > 0 {
        format!(
            "{}; {} not recovered yet",
            spread(&r.recovery_time, recovered),
            r.not_recovered
        )
    } else {
        spread(&r.recovery_time, recovered)
    };
    [
        (
            "Deployment frequency",
            format!(
                "{}, {:.2} a day",
                counted(r.deployments, "deployment"),
                r.deployments_per_day
            ),
        ),
        (
            "Lead time for changes",
            spread(&r.lead_time, |n| counted(n, "deployment")),
        ),
        ("Change failure rate", rate),
        ("Recovery time", recovery),
        (
            "Approval wait",
            spread(&r.approval_wait, |n| counted(n, "decision")),
        ),
        ("Build time", spread(&r.build_time, |n| counted(n, "build"))),
    ]
}

/// The report as a table, with the definitions under it.
pub fn table(pipeline: &str, r: &Report) -> String {
    let mut out = format!(
        "Pipeline {pipeline}, stage {}, {} to {}\n\n",
        r.stage,
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M UTC")
    );
    for (name, value) in rows(r) {
        out.push_str(&format!("  {name:<23} {value}\n"));
    }
    out.push_str("\nDefinitions\n");
    for definition in DEFINITIONS {
        out.push_str(&format!("  {definition}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_since("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_since("2w").unwrap(), Duration::weeks(2));
        for bad in ["", "d", "30", "0d", "-3d", "30 days", "3y"] {
            let err = parse_since(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("expected a positive number") || err.starts_with("the unit must"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn one_of_a_thing_is_counted_in_the_singular() {
        let one = Spread {
            count: 1,
            median_seconds: Some(60),
            p90_seconds: Some(60),
        };
        let now = chrono::Utc::now();
        let report = Report {
            stage: "production".into(),
            from: now - Duration::days(30),
            to: now,
            deployments: 1,
            deployments_per_day: 1.0 / 30.0,
            lead_time: one.clone(),
            changes_reaching_stage: 1,
            failed: 0,
            rolled_back: 0,
            change_failure_rate: Some(0.0),
            recovery_time: Spread::default(),
            not_recovered: 0,
            approval_wait: one.clone(),
            build_time: one,
        };
        let out = table("p", &report);
        for line in [
            "Deployment frequency    1 deployment, 0.03 a day",
            "(1 deployment)",
            "of 1 change)",
            "(1 decision)",
            "(1 build)",
            "none yet  (0 recovered)",
        ] {
            assert!(out.contains(line), "{line:?} missing from\n{out}");
        }
    }
}
