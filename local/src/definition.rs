//! Local mode's flags as what they stand for: a pipeline definition, of the same
//! shape as `sluice.yaml`, checked where every definition is checked and deployed as
//! every definition is (its stack parameters from `Definition::parameters`).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use sluice_definition::Definition;
use sluice_definition::raw::{
    self, Approval, Build, Paths, Raw, Retries, Site, Source, Stage, Test, Watch, Windows,
};

use crate::{LOCAL_APPROVERS, Options, Sibling};

/// `--retries`: one count for every stage (`2`), or `stage=count` for each
/// (`staging=3,production=1`); empty for none.
fn retries_of(text: &str, stages: &[String]) -> Result<BTreeMap<String, u32>> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let count = |n: &str| {
        n.trim()
            .parse::<u32>()
            .map_err(|_| anyhow!("{n:?} is not a number of retries"))
    };
    let mut per_stage = BTreeMap::new();
    match items.as_slice() {
        [] => {}
        [all] if !all.contains('=') => {
            let n = count(all)?;
            for stage in stages {
                per_stage.insert(stage.clone(), n);
            }
        }
        items => {
            for item in items {
                let Some((stage, n)) = item.split_once('=') else {
                    bail!(
                        "{item:?} is not STAGE=COUNT; give one number for every stage (2), or \
                         STAGE=COUNT for each (staging=3,production=1)"
                    );
                };
                let stage = stage.trim();
                if !stages.iter().any(|s| s == stage) {
                    bail!("{stage:?} is not one of the stages ({})", stages.join(", "));
                }
                if per_stage.insert(stage.to_owned(), count(n)?).is_some() {
                    bail!("{stage:?} is listed twice");
                }
            }
        }
    }
    Ok(per_stage)
}

/// Names every stage in `listed` must be one of `stages`, for the flag `flag`.
fn known(flag: &str, listed: &[String], stages: &[String]) -> Result<()> {
    match listed.iter().find(|l| !stages.contains(l)) {
        Some(unknown) => bail!(
            "{flag} names {unknown:?}, which is not one of the stages ({})",
            stages.join(", ")
        ),
        None => Ok(()),
    }
}

impl Options {
    /// The definition of `pipeline` (the first, or a sibling), as its flags say it.
    pub fn definition_of(&self, pipeline: &Sibling) -> Result<Definition> {
        let first = pipeline.stack == self.stack;
        if first && let Some(raw) = &self.definition {
            return Definition::from_raw(&format!("the definition of {}", self.stack), raw.clone())
                .map_err(|e| anyhow!("{e}"));
        }
        let stages = &pipeline.stages;
        known("approval", &pipeline.approval_stages, stages)?;
        known("sites", &pipeline.site_stages, stages)?;
        // `stage` or `stage=smoke`.
        let mut tests = BTreeMap::new();
        for entry in &pipeline.test_stages {
            let (stage, smoke) = match entry.split_once('=') {
                None => (entry.as_str(), false),
                Some((stage, "smoke")) => (stage.trim(), true),
                Some(_) => {
                    bail!("{entry:?}: list a stage as STAGE (tested by a build) or STAGE=smoke")
                }
            };
            if tests.insert(stage.to_owned(), smoke).is_some() {
                bail!("{stage} is listed more than once among the tested stages");
            }
        }
        let tested: Vec<String> = tests.keys().cloned().collect();
        known("the tested stages", &tested, stages)?;
        // The retries, watches and windows are the first pipeline's (`--retries`,
        // `--alarm-stages`, `--window-stages`).
        let retries = match first {
            true => retries_of(&self.retries, stages)?,
            false => BTreeMap::new(),
        };
        let (watched, windowed) = match first {
            true => (self.alarm_stages.clone(), self.window_stages.clone()),
            false => (Vec::new(), Vec::new()),
        };
        known("--alarm-stages", &watched, stages)?;
        known("--window-stages", &windowed, stages)?;
        let stages = stages
            .iter()
            .map(|name| Stage {
                name: name.clone(),
                approval: pipeline.approval_stages.contains(name),
                self_approval: false,
                account: None,
                test: tests.get(name).map(|smoke| match smoke {
                    true => Test::Smoke(raw::SmokeOnly::Smoke),
                    false => Test::Build {
                        buildspec: pipeline.test_buildspec.clone(),
                    },
                }),
                retries: retries.get(name).map(|max| Retries {
                    max: *max,
                    backoff_seconds: self.retry_seconds,
                }),
                alarms: watched.contains(name).then(|| Watch {
                    names: self
                        .alarm_names
                        .iter()
                        .map(|a| a.replace('*', name))
                        .collect(),
                    minutes: self.watch_minutes,
                }),
                windows: windowed.contains(name).then(|| Windows {
                    when: self.windows.clone(),
                    time_zone: self.window_time_zone.clone(),
                }),
                site: pipeline.site_stages.contains(name).then(|| Site {
                    bucket: pipeline.site_bucket.clone(),
                    folder: pipeline.site_folder.clone(),
                    entry_document: "index.html".to_owned(),
                    distribution: Some(pipeline.site_distribution.clone())
                        .filter(|d| !d.is_empty()),
                }),
            })
            .collect();
        let raw = Raw {
            name: Some(pipeline.stack.clone()),
            application: pipeline.application.clone(),
            source: Source {
                repository: self.repository.clone(),
                branch: self.branch.clone(),
                create: false,
                paths: Paths {
                    include: pipeline.include_paths.clone(),
                    exclude: pipeline.exclude_paths.clone(),
                },
            },
            build: Build {
                buildspec: pipeline.buildspec.clone(),
                ..Build::default()
            },
            stages,
            approval: Approval {
                // The outbox reads the topic over HTTP; an address is what a pipeline
                // with a gate needs (its email goes nowhere here).
                emails: vec![LOCAL_APPROVERS.to_owned()],
                ..Approval::default()
            },
            retention: raw::Retention::default(),
            alarms: raw::Alarms::default(),
            operator_accounts: Vec::new(),
        };
        Definition::from_raw(&format!("pipeline {}", pipeline.stack), raw)
            .map_err(|e| anyhow!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn options() -> Options {
        Options::new(PathBuf::from("/nowhere"), PathBuf::from("/nowhere/state"))
    }

    #[test]
    fn the_flags_are_a_definition_each_stage_with_its_own() {
        let mut options = options();
        options.retries = "staging=3".into();
        options.alarm_stages = vec!["staging".into()];
        options.alarm_names = vec!["hello-api-*-errors".into()];
        options.window_stages = vec!["production".into()];
        options.windows = "Mon-Fri 09:00-17:00".into();
        options.test_stages = vec!["staging=smoke".into()];
        let definition = options
            .definition_of(&options.first_pipeline())
            .expect("a definition");
        let pipeline = definition
            .pipeline(&sluice_definition::Deployment::default())
            .expect("a pipeline");
        let [staging, production] = &pipeline.stages[..] else {
            panic!("{:?}", pipeline.stages)
        };
        assert_eq!(staging.retry.as_ref().map(|r| r.max), Some(3));
        assert!(staging.smoke_gates);
        assert_eq!(
            staging.watch.as_ref().map(|w| w.alarms.clone()),
            Some(vec!["hello-api-staging-errors".to_owned()])
        );
        assert!(production.requires_approval && production.window.is_some());
        assert!(staging.window.is_none());
    }

    #[test]
    fn a_bad_flag_is_refused_with_what_is_wrong() {
        let mut options = options();
        options.retries = "staging=3,nowhere=1".into();
        let err = options
            .definition_of(&options.first_pipeline())
            .expect_err("refused");
        assert!(
            err.to_string()
                .contains("\"nowhere\" is not one of the stages"),
            "{err}"
        );
        let mut options = self::options();
        options.window_stages = vec!["production".into()];
        options.windows = "whenever".into();
        let err = options
            .definition_of(&options.first_pipeline())
            .expect_err("refused");
        assert!(err.to_string().contains("stages[1].windows.when"), "{err}");
    }
}

/// The flags that describe a pipeline, given beside `sluice local --definition`:
/// each says again, in the definition's shape, one thing the definition says, and
/// replaces it there. A flag not given leaves the definition as it is.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--stages`: the stages in this order; a stage the definition has keeps its
    /// options, a new one has none.
    pub stages: Option<Vec<String>>,
    /// `--approval`: exactly these stages wait for approval.
    pub approval: Option<Vec<String>>,
    /// `--include-paths`, `--exclude-paths`.
    pub include_paths: Option<Vec<String>>,
    pub exclude_paths: Option<Vec<String>>,
    /// `--buildspec`.
    pub buildspec: Option<String>,
    /// `--test-stages` (`stage` or `stage=smoke`) and `--test-buildspec`: these
    /// stages' tests.
    pub tests: Option<(Vec<String>, String)>,
    /// `--retries` (`2` or `stage=count,...`) and `--retry-seconds`.
    pub retries: Option<(String, u32)>,
    /// `--alarm-stages`, `--alarm-names` (`*` for the stage), `--watch-minutes`.
    pub watch: Option<(Vec<String>, Vec<String>, u32)>,
    /// `--window-stages`, `--windows`, `--window-time-zone`.
    pub windows: Option<(Vec<String>, String, String)>,
}

impl Overrides {
    /// `raw` with these flags' say in place of its own; checked by the caller.
    pub fn apply(&self, raw: &mut Raw) -> Result<()> {
        if let Some(names) = &self.stages {
            let mut stages = Vec::new();
            for name in names {
                let kept = raw.stages.iter().find(|s| &s.name == name).cloned();
                stages.push(kept.unwrap_or_else(|| Stage {
                    name: name.clone(),
                    approval: false,
                    self_approval: false,
                    account: None,
                    test: None,
                    retries: None,
                    alarms: None,
                    windows: None,
                    site: None,
                }));
            }
            raw.stages = stages;
        }
        let names: Vec<String> = raw.stages.iter().map(|s| s.name.clone()).collect();
        if let Some(approval) = &self.approval {
            known("--approval", approval, &names)?;
            for stage in &mut raw.stages {
                stage.approval = approval.contains(&stage.name);
                stage.self_approval &= stage.approval;
            }
        }
        if let Some(include) = &self.include_paths {
            raw.source.paths.include = include.clone();
        }
        if let Some(exclude) = &self.exclude_paths {
            raw.source.paths.exclude = exclude.clone();
        }
        if let Some(buildspec) = &self.buildspec {
            raw.build.buildspec = buildspec.clone();
        }
        if let Some((tested, buildspec)) = &self.tests {
            for entry in tested {
                let (name, smoke) = match entry.split_once('=') {
                    None => (entry.as_str(), false),
                    Some((name, "smoke")) => (name.trim(), true),
                    Some(_) => bail!(
                        "--test-stages: {entry:?}: list a stage as STAGE (tested by a build) or \
                         STAGE=smoke"
                    ),
                };
                let stage = stage_named(raw, "--test-stages", name)?;
                stage.test = Some(match smoke {
                    true => Test::Smoke(raw::SmokeOnly::Smoke),
                    false => Test::Build {
                        buildspec: buildspec.clone(),
                    },
                });
            }
        }
        if let Some((retries, seconds)) = &self.retries {
            for (name, max) in retries_of(retries, &names)? {
                stage_named(raw, "--retries", &name)?.retries = Some(Retries {
                    max,
                    backoff_seconds: *seconds,
                });
            }
        }
        if let Some((watched, alarms, minutes)) = &self.watch {
            for name in watched {
                stage_named(raw, "--alarm-stages", name)?.alarms = Some(Watch {
                    names: alarms.iter().map(|a| a.replace('*', name)).collect(),
                    minutes: *minutes,
                });
            }
        }
        if let Some((windowed, when, time_zone)) = &self.windows {
            for name in windowed {
                stage_named(raw, "--window-stages", name)?.windows = Some(Windows {
                    when: when.clone(),
                    time_zone: time_zone.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The stage `name` of `raw`, which `flag` names.
fn stage_named<'a>(raw: &'a mut Raw, flag: &str, name: &str) -> Result<&'a mut Stage> {
    let names: Vec<String> = raw.stages.iter().map(|s| s.name.clone()).collect();
    raw.stages
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            anyhow!(
                "{flag} names {name:?}, which is not one of the definition's stages ({})",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod overrides {
    use super::*;

    fn raw() -> Raw {
        Definition::from_yaml(
            "sluice.yaml",
            "application: hello-api\nsource: {repository: hello-api}\n\
             approval: {emails: [approvers@example.com]}\nstages:\n\
             - {name: staging, retries: {max: 1}}\n- {name: production, approval: true}\n",
        )
        .expect("a good definition")
        .raw()
        .clone()
    }

    #[test]
    fn a_flag_replaces_what_the_definition_says_of_the_same_thing_and_nothing_else() {
        let mut raw = raw();
        Overrides {
            stages: Some(vec!["dev".into(), "staging".into(), "production".into()]),
            windows: Some((
                vec!["production".into()],
                "Mon-Fri 09:00-17:00".into(),
                "UTC".into(),
            )),
            tests: Some((vec!["dev=smoke".into()], "unused.yml".into())),
            ..Overrides::default()
        }
        .apply(&mut raw)
        .expect("applies");
        let names: Vec<&str> = raw.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["dev", "staging", "production"]);
        // Kept from the definition: staging's retries, production's approval.
        assert_eq!(raw.stages[1].retries.as_ref().map(|r| r.max), Some(1));
        assert!(raw.stages[2].approval);
        assert!(raw.stages[2].windows.is_some());
        assert!(matches!(raw.stages[0].test, Some(Test::Smoke(_))));
        let definition = Definition::from_raw("the overridden definition", raw).expect("good");
        assert_eq!(definition.raw().stages.len(), 3);
    }

    #[test]
    fn a_flag_naming_a_stage_the_definition_has_not_is_refused() {
        let mut raw = raw();
        let err = Overrides {
            retries: Some(("nowhere=2".into(), 60)),
            ..Overrides::default()
        }
        .apply(&mut raw)
        .expect_err("refused");
        assert!(
            err.to_string()
                .contains("\"nowhere\" is not one of the stages"),
            "{err}"
        );
        let err = Overrides {
            watch: Some((vec!["qa".into()], vec!["*-errors".into()], 10)),
            ..Overrides::default()
        }
        .apply(&mut raw)
        .expect_err("refused");
        assert!(
            err.to_string().contains("--alarm-stages names \"qa\""),
            "{err}"
        );
    }
}
