//! What happens after each stage's deploy, and when it may deploy: its test,
//! retries, alarm watch and deployment windows.

use sluice_core::{
    DEFAULT_TEST_BUILDSPEC, DeployWindows, PostDeployTest, RetryPolicy, StageConfig,
};

use super::{ConfigProblem, list, stages_named, whole_number};

/// How long a stage's alarms are watched, when `SLUICE_ALARM_WATCH_MINUTES` does not say.
const DEFAULT_WATCH_MINUTES: u32 = 10;

/// The first automatic retry's wait, when `SLUICE_RETRY_SECONDS` does not say.
const DEFAULT_RETRY_SECONDS: u32 = 60;

/// `SLUICE_TEST_STAGES` read: the stages tested by a build (`staging`), and those
/// whose built-in smoke check gates them (`staging=smoke`). A stage is listed once.
fn test_kinds(value: &str) -> Result<(Vec<&str>, Vec<&str>), ConfigProblem> {
    let bad = |reason: String| ConfigProblem::Invalid {
        name: "SLUICE_TEST_STAGES",
        reason,
    };
    let (mut tested, mut smoked) = (Vec::new(), Vec::new());
    for entry in list(value) {
        let (stage, smoke) = match entry.split_once('=') {
            None => (entry, false),
            Some((stage, "smoke")) => (stage.trim(), true),
            Some((stage, other)) => {
                return Err(bad(format!(
                    "{entry:?}: a stage is listed as {stage} (tested by a build of \
                     TestBuildspec) or as {stage}=smoke (its smoke check gates it), not \
                     ={other}"
                )));
            }
        };
        if tested.contains(&stage) || smoked.contains(&stage) {
            return Err(bad(format!("{stage} is listed more than once")));
        }
        if smoke {
            smoked.push(stage);
        } else {
            tested.push(stage);
        }
    }
    Ok((tested, smoked))
}

/// What happens after each stage's deploy, from the template's parameters:
///
/// - `SLUICE_TEST_STAGES`: the stages whose deploy is tested by a build of the same
///   commit running `SLUICE_TEST_BUILDSPEC` (default `buildspec-test.yml`), with the
///   stack's outputs in its environment; a failed test rolls the stage back. A stage
///   listed as `stage=smoke` is instead gated by the built-in smoke check, which every
///   other untested stack stage runs too, only to warn: an address among the stack's
///   outputs answering 5xx, or not at all, rolls it back.
/// - `SLUICE_RETRIES`: how many times a stage retries a failure worth retrying, on
///   its own: `2` for every stage, or per stage (`staging=3,production=1`); none when
///   empty. The first retry waits `SLUICE_RETRY_SECONDS` (default 60), each next one
///   twice as long as the one before.
pub(super) fn after_deploy(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let names: Vec<String> = stages.iter().map(|s| s.name.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let listed = get("SLUICE_TEST_STAGES").unwrap_or_default();
    let (tested, smoked) = test_kinds(&listed)?;
    stages_named("SLUICE_TEST_STAGES", &tested.join(","), stages)?;
    stages_named("SLUICE_TEST_STAGES", &smoked.join(","), stages)?;
    let buildspec = get("SLUICE_TEST_BUILDSPEC")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_BUILDSPEC.to_owned());
    let test = PostDeployTest::new(buildspec.trim()).map_err(|e| ConfigProblem::Invalid {
        name: "SLUICE_TEST_BUILDSPEC",
        reason: e.to_string(),
    })?;
    for stage in stages.iter_mut() {
        if !tested.contains(&stage.name.as_str()) {
            continue;
        }
        if stage.site.is_some() {
            return Err(ConfigProblem::Invalid {
                name: "SLUICE_TEST_STAGES",
                reason: format!(
                    "{} is a site stage (SLUICE_SITE_STAGES); post-deploy tests and their \
                     rollbacks are for stack stages only, for now",
                    stage.name
                ),
            });
        }
        stage.test = Some(test.clone());
    }
    for stage in stages.iter_mut() {
        if !smoked.contains(&stage.name.as_str()) {
            continue;
        }
        if stage.site.is_some() {
            return Err(ConfigProblem::Invalid {
                name: "SLUICE_TEST_STAGES",
                reason: format!(
                    "{}=smoke: {} is a site stage (SLUICE_SITE_STAGES), and the smoke check \
                     calls a stack's outputs",
                    stage.name, stage.name
                ),
            });
        }
        stage.smoke_gates = true;
    }
    let retries = get("SLUICE_RETRIES").unwrap_or_default();
    let base = whole_number::<u32>(
        &get,
        "SLUICE_RETRY_SECONDS",
        1..=3600,
        "seconds",
        DEFAULT_RETRY_SECONDS,
    )?;
    let bad_retries = |reason: String| ConfigProblem::Invalid {
        name: "SLUICE_RETRIES",
        reason,
    };
    let count = |n: &str| {
        n.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= sluice_core::RETRIES_MAX)
            .ok_or_else(|| {
                bad_retries(format!(
                    "{n:?} is not a number of retries from 0 to {}",
                    sluice_core::RETRIES_MAX
                ))
            })
    };
    let mut per_stage: Vec<(String, u32)> = Vec::new();
    match list(&retries).as_slice() {
        [] => {}
        [all] if !all.contains('=') => {
            let n = count(all)?;
            per_stage = names.iter().map(|s| ((*s).to_owned(), n)).collect();
        }
        items => {
            for item in items {
                let Some((stage, n)) = item.split_once('=') else {
                    return Err(bad_retries(format!(
                        "{item:?} is not STAGE=COUNT; give one number for every stage (2), or \
                         STAGE=COUNT for each (staging=3,production=1)"
                    )));
                };
                let stage = stage.trim();
                if !names.contains(&stage) {
                    return Err(bad_retries(format!(
                        "{stage:?} is not one of the stages ({})",
                        names.join(", ")
                    )));
                }
                if per_stage.iter().any(|(s, _)| s == stage) {
                    return Err(bad_retries(format!("{stage:?} is listed twice")));
                }
                per_stage.push((stage.to_owned(), count(n)?));
            }
        }
    }
    for stage in stages.iter_mut() {
        if let Some((_, n)) = per_stage.iter().find(|(s, _)| s == stage.name.as_str())
            && *n > 0
        {
            stage.retry = Some(RetryPolicy::new(*n, base).map_err(ConfigProblem::Pipeline)?);
        }
    }
    Ok(())
}

/// The alarm watch of each stage, from the template's parameters:
///
/// - `SLUICE_ALARM_STAGES`: the stages whose deploys are watched, after their test.
/// - `SLUICE_ALARM_NAMES`: the CloudWatch alarms (in Sluice's account) they watch,
///   comma-separated, `*` standing for the stage (`hello-api-*-errors`).
/// - `SLUICE_ALARM_WATCH_MINUTES`: how long (default 10).
pub(super) fn alarm_watch(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let watched = get("SLUICE_ALARM_STAGES").unwrap_or_default();
    let watched = stages_named("SLUICE_ALARM_STAGES", &watched, stages)?;
    if watched.is_empty() {
        return Ok(());
    }
    let invalid = |name: &'static str, reason: String| ConfigProblem::Invalid { name, reason };
    let alarms = get("SLUICE_ALARM_NAMES").unwrap_or_default();
    let alarms = list(&alarms);
    if alarms.is_empty() {
        return Err(invalid(
            "SLUICE_ALARM_NAMES",
            format!(
                "the watched stages ({}) need alarms to watch: CloudWatch alarm names, '*' \
                 standing for the stage, such as hello-api-*-errors",
                watched.join(", ")
            ),
        ));
    }
    let minutes = match get("SLUICE_ALARM_WATCH_MINUTES").filter(|v| !v.trim().is_empty()) {
        None => DEFAULT_WATCH_MINUTES,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            invalid(
                "SLUICE_ALARM_WATCH_MINUTES",
                format!("{v:?} is not a whole number of minutes from 1 to 1440"),
            )
        })?,
    };
    for stage in stages
        .iter_mut()
        .filter(|s| watched.contains(&s.name.as_str()))
    {
        let why_not = match (&stage.site, &stage.role_arn) {
            (Some(_), _) => Some("a site stage (SLUICE_SITE_STAGES)"),
            (_, Some(_)) => Some("in another account (SLUICE_REMOTE_STAGES)"),
            _ => None,
        };
        if let Some(why) = why_not {
            return Err(invalid(
                "SLUICE_ALARM_STAGES",
                format!(
                    "{} is {why}; alarm watches are for stack stages in Sluice's account, for now",
                    stage.name
                ),
            ));
        }
        let named = alarms
            .iter()
            .map(|a| a.replace('*', stage.name.as_str()))
            .collect();
        let watch = sluice_core::AlarmWatch::new(named, minutes).map_err(|e| {
            invalid(
                if e.to_string().contains("watch time") {
                    "SLUICE_ALARM_WATCH_MINUTES"
                } else {
                    "SLUICE_ALARM_NAMES"
                },
                e.to_string(),
            )
        })?;
        stage.watch = Some(watch);
    }
    Ok(())
}

/// The deployment windows, from the template's parameters:
///
/// - `SLUICE_WINDOW_STAGES`: the stages that deploy only inside the windows.
/// - `SLUICE_WINDOWS`: the windows, such as `Mon-Thu 09:00-16:00, Fri 09:00-12:00`.
/// - `SLUICE_WINDOW_TIME_ZONE`: the IANA time zone they are in (default `UTC`).
pub(super) fn deploy_windows(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let listed = get("SLUICE_WINDOW_STAGES").unwrap_or_default();
    let listed = stages_named("SLUICE_WINDOW_STAGES", &listed, stages)?;
    if listed.is_empty() {
        return Ok(());
    }
    let invalid = |name: &'static str, reason: String| ConfigProblem::Invalid { name, reason };
    let spans = get("SLUICE_WINDOWS").unwrap_or_default();
    if spans.trim().is_empty() {
        return Err(invalid(
            "SLUICE_WINDOWS",
            format!(
                "the stages with windows ({}) need their windows, such as `Mon-Fri 09:00-17:00`",
                listed.join(", ")
            ),
        ));
    }
    let zone = get("SLUICE_WINDOW_TIME_ZONE")
        .filter(|z| !z.trim().is_empty())
        .unwrap_or_else(|| "UTC".to_owned());
    let window = DeployWindows::parse(&spans, &zone).map_err(|e| {
        invalid(
            if e.to_string().contains("time zone") {
                "SLUICE_WINDOW_TIME_ZONE"
            } else {
                "SLUICE_WINDOWS"
            },
            e.to_string(),
        )
    })?;
    for stage in stages
        .iter_mut()
        .filter(|s| listed.contains(&s.name.as_str()))
    {
        stage.window = Some(window.clone());
    }
    Ok(())
}
