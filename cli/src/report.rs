//! `sluice report --html FILE`: DORA's four keys and the rest over time, as one
//! self-contained HTML page, so a person can look instead of read. The figures are
//! `sluice_core::metrics::report`'s, for each day, week or month of the window; the
//! charts are inline SVG bars. The page loads nothing: its Content-Security-Policy
//! forbids every fetch.

use chrono::Duration;
use sluice_core::metrics::{Report, report};
use sluice_core::{Execution, StageName, Timestamp};
use sluice_engine::html::escape;

use crate::metrics::{DEFINITIONS, rows};

/// The width of the bars' periods for a window: hours up to two days, days up to a
/// month, weeks up to half a year, then 30 days.
pub fn period_for(window: Duration) -> Duration {
    if window <= Duration::days(2) {
        Duration::hours(1)
    } else if window <= Duration::days(31) {
        Duration::days(1)
    } else if window <= Duration::days(183) {
        Duration::weeks(1)
    } else {
        Duration::days(30)
    }
}

/// One bar: its period's label and value, if the period has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
}

/// The periods `[from, to)` is cut into, newest last; the last may be shorter.
fn periods(from: Timestamp, to: Timestamp, period: Duration) -> Vec<(Timestamp, Timestamp)> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + period).min(to);
        out.push((start, end));
        start = end;
    }
    out
}

fn hours(seconds: Option<i64>) -> Option<f64> {
    seconds.map(|s| s as f64 / 3600.0)
}

/// A value and its unit, the unit in the singular for exactly one: `1 hour`, `1.5 hours`.
fn measured(value: f64, unit: &str) -> String {
    let shown = figure(value);
    match (shown.as_str(), unit.strip_suffix('s')) {
        ("1", Some(one)) => format!("{shown} {one}"),
        _ => format!("{shown} {unit}"),
    }
}

/// A number as a label shows it: whole when it is or when large, else with a
/// decimal or two.
fn figure(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 10.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `max` (1 for nothing).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= max)
        .unwrap_or(10.0 * power)
}

/// A bar chart in SVG: `title` over bars of `unit`; periods without a value have no
/// bar. `metric` names it for tests and styles.
pub fn bar_chart(metric: &str, title: &str, unit: &str, bars: &[Bar]) -> String {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 220.0;
    const LEFT: f64 = 52.0;
    const RIGHT: f64 = 8.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 40.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = nice_ceiling(bars.iter().filter_map(|b| b.value).fold(0.0, f64::max));
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(1.0);
    // At most about twelve labels under the bars.
    let every = bars.len().div_ceil(12).max(1);

    let mut svg = format!(
        "<svg class=\"chart\" data-metric=\"{metric}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{title} ({unit})\" xmlns=\"http://www.w3.org/2000/svg\">",
        metric = escape(metric),
        title = escape(title),
        unit = escape(unit),
    );
    // The value axis: 0, half and the top.
    for fraction in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - fraction);
        svg.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            figure(max * fraction)
        ));
    }
    svg.push_str(&format!(
        "<text class=\"axis\" x=\"4\" y=\"{}\" transform=\"rotate(-90 4 {})\" \
         text-anchor=\"middle\" dominant-baseline=\"hanging\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(unit)
    ));
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        if let Some(value) = bar.value {
            let h = (value / max * plot_h).max(if value > 0.0 { 1.0 } else { 0.0 });
            svg.push_str(&format!(
                "<rect class=\"bar\" data-value=\"{value}\" x=\"{x:.1}\" y=\"{:.1}\" \
                 width=\"{bar_w:.1}\" height=\"{h:.1}\"><title>{}: {}</title></rect>",
                TOP + plot_h - h,
                escape(&bar.label),
                escape(&measured(value, unit))
            ));
        }
        if i % every == 0 {
            svg.push_str(&format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                HEIGHT - BOTTOM + 16.0,
                escape(&bar.label)
            ));
        }
    }
    if bars.iter().all(|b| b.value.is_none()) {
        svg.push_str(&format!(
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">nothing in this window</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        ));
    }
    svg.push_str("</svg>");
    format!(
        "<figure><figcaption>{}</figcaption>{svg}</figure>",
        escape(title)
    )
}

/// The figures over the whole window, as `sluice metrics` prints them.
fn summary(r: &Report) -> String {
    let mut table = String::from("<table class=\"keys\">");
    for (name, value) in rows(r) {
        table.push_str(&format!(
            "<tr><th scope=\"row\">{name}</th><td>{}</td></tr>",
            escape(&value)
        ));
    }
    table.push_str("</table>");
    table
}

/// The page for `stages` of pipeline `pipeline` over `[from, to)`, from `executions`
/// (which may reach back before `from`, to find what was live and what recovered).
pub fn html(
    pipeline: &str,
    executions: &[Execution],
    stages: &[StageName],
    from: Timestamp,
    to: Timestamp,
) -> String {
    let period = period_for(to - from);
    let label_format = if period < Duration::days(1) {
        "%b %d %H:00"
    } else {
        "%b %d"
    };
    let cuts = periods(from, to, period);
    // Each period's figures for a stage, computed once for all its charts.
    let periodic = |stage: &StageName| -> Vec<(String, Report)> {
        cuts.iter()
            .map(|(start, end)| {
                let label = start.format(label_format).to_string();
                (label, report(executions, stage, *start, *end))
            })
            .collect()
    };
    let bars = |reports: &[(String, Report)], value: &dyn Fn(&Report) -> Option<f64>| -> Vec<Bar> {
        reports
            .iter()
            .map(|(label, r)| Bar {
                label: label.clone(),
                value: value(r),
            })
            .collect()
    };
    let period_word = match period.num_hours() {
        1 => "hour",
        24 => "day",
        168 => "week",
        _ => "30 days",
    };

    let mut body = String::new();
    // Build time does not depend on the stage: charted once, from the first stage's.
    let mut builds = None;
    for stage in stages {
        let reports = periodic(stage);
        let whole = report(executions, stage, from, to);
        let id = escape(stage.as_str());
        body.push_str(&format!(
            "<section class=\"stage\" data-stage=\"{id}\"><h2>{id}</h2>{}<div class=\"charts\">",
            summary(&whole)
        ));
        let charts: [(&str, String, &str, Vec<Bar>); 5] = [
            (
                "deployments",
                format!("Deployments per {period_word}"),
                "deployments",
                bars(&reports, &|r| Some(r.deployments as f64)),
            ),
            (
                "lead-time",
                "Lead time for changes, median".to_owned(),
                "hours",
                bars(&reports, &|r| hours(r.lead_time.median_seconds)),
            ),
            (
                "change-failure-rate",
                "Change failure rate".to_owned(),
                "%",
                bars(&reports, &|r| r.change_failure_rate.map(|x| x * 100.0)),
            ),
            (
                "recovery-time",
                "Recovery time, median".to_owned(),
                "hours",
                bars(&reports, &|r| hours(r.recovery_time.median_seconds)),
            ),
            (
                "approval-wait",
                "Approval wait, median".to_owned(),
                "hours",
                bars(&reports, &|r| hours(r.approval_wait.median_seconds)),
            ),
        ];
        for (metric, title, unit, bars) in &charts {
            body.push_str(&bar_chart(metric, title, unit, bars));
        }
        body.push_str("</div></section>");
        if builds.is_none() {
            builds = Some(bars(&reports, &|r| {
                r.build_time.median_seconds.map(|s| s as f64 / 60.0)
            }));
        }
    }
    if let Some(builds) = builds {
        body.push_str(&format!(
            "<section class=\"builds\"><h2>Builds</h2><div class=\"charts\">{}</div></section>",
            bar_chart("build-time", "Build time, median", "minutes", &builds)
        ));
    }
    let definitions: String = DEFINITIONS
        .iter()
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    let title = format!("Sluice: how pipeline {pipeline} delivers");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <header><h1>{title}</h1><p>{} to {} UTC, per {period_word}; {} read.</p></header>\
         {body}<section class=\"definitions\"><h2>Definitions</h2><ul>{definitions}</ul></section>\
         </body></html>\n",
        from.format("%Y-%m-%d %H:%M"),
        to.format("%Y-%m-%d %H:%M"),
        crate::render::counted(executions.len(), "execution"),
        title = escape(&title),
    )
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:1340px;padding:0 1rem;color:#1b1f24}\
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}\
table.keys{border-collapse:collapse;margin:.5rem 0}table.keys th{text-align:left;padding:.2rem 1rem .2rem 0;font-weight:600}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}\
figure{margin:0}figcaption{font-weight:600;margin:.3rem 0}\
svg.chart{width:100%;height:auto}.bar{fill:#2f81f7}.grid{stroke:#d0d7de}\
.axis{font-size:11px;fill:#57606a}.empty{font-size:13px;fill:#8c959f}\
.definitions li{margin:.2rem 0}";

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(values: &[Option<f64>]) -> Vec<Bar> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Bar {
                label: format!("day {i}"),
                value: *v,
            })
            .collect()
    }

    #[test]
    fn a_chart_has_a_bar_for_each_period_with_a_value_scaled_to_a_round_top() {
        let svg = bar_chart(
            "lead-time",
            "Lead time",
            "hours",
            &bars(&[Some(3.0), None, Some(1.5)]),
        );
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2, "{svg}");
        // The top of the axis is 5 (the nice ceiling of 3), so 3 is 60% of the height.
        assert!(svg.contains(">5</text>"), "{svg}");
        assert!(svg.contains("<title>day 0: 3 hours</title>"), "{svg}");
        assert!(svg.contains("<title>day 2: 1.5 hours</title>"), "{svg}");
        let one = bar_chart(
            "deployments",
            "Deployments",
            "deployments",
            &bars(&[Some(1.0)]),
        );
        assert!(one.contains("<title>day 0: 1 deployment</title>"), "{one}");
        assert!(!svg.contains("nothing in this window"));
        let empty = bar_chart("lead-time", "Lead time", "hours", &bars(&[None, None]));
        assert!(empty.contains("nothing in this window"), "{empty}");
        assert_eq!(empty.matches("<rect").count(), 0);
    }

    #[test]
    fn text_in_a_chart_is_escaped() {
        let svg = bar_chart(
            "x",
            "<b>\"t\"</b>",
            "a&b",
            &[Bar {
                label: "<script>".into(),
                value: Some(1.0),
            }],
        );
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;") && svg.contains("a&amp;b"),
            "{svg}"
        );
    }

    #[test]
    fn ceilings_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }

    #[test]
    fn the_window_is_cut_into_periods_that_fit_it() {
        assert_eq!(period_for(Duration::hours(12)), Duration::hours(1));
        assert_eq!(period_for(Duration::days(30)), Duration::days(1));
        assert_eq!(period_for(Duration::days(90)), Duration::weeks(1));
        assert_eq!(period_for(Duration::days(365)), Duration::days(30));
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let cut = periods(t, t + Duration::hours(25), Duration::hours(10));
        assert_eq!(cut.len(), 3);
        assert_eq!(cut[2], (t + Duration::hours(20), t + Duration::hours(25)));
    }
}
