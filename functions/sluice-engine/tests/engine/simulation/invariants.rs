//! The invariants of a finished simulated run: each promise the engine keeps under
//! chaos, a function of its own, and `check`, which runs them all.

use std::collections::BTreeMap;

use sluice_adapters::deployer::ExecutionOutcome;
use sluice_core::{BuildStatus, Execution, ExecutionId, StageStatus, Status};

use super::*;

/// The invariants of one finished run, each a function of its own below.
pub(super) async fn check(sim: &Sim) -> Result<(), String> {
    let executions = sim.executions().await;
    let e = &executions;
    builds_at_most_as_asked(sim, e)?;
    executions_at_most_as_asked(sim, e)?;
    change_sets_execute_once(sim, e)?;
    a_stage_succeeds_by_its_own_change_set(sim, e)?;
    production_deploys_only_approved_executions(sim, e)?;
    production_s_site_gets_only_approved_files(sim, e)?;
    the_decision_page_tells_the_truth(sim, e)?;
    operator_answers_tell_the_truth(sim, e)?;
    the_last_push_is_never_dropped(sim, e)?;
    the_site_ends_on_the_newest_release(sim, e)?;
    tests_gate_staging(sim, e)?;
    only_pinned_code_runs(sim, e)?;
    each_stack_ends_on_the_newest_allowed(sim, e)?;
    deploys_start_inside_windows(sim, e)?;
    nothing_is_left_stuck(sim, e).await?;
    Ok(())
}

/// The executions by id.
fn by_id(executions: &[Execution]) -> BTreeMap<ExecutionId, &Execution> {
    executions.iter().map(|e| (e.id.clone(), e)).collect()
}

/// How many times each commit was asked for: pushed (with path filters, by a push
/// that changed the paths), released or retried by an operator command not refused.
fn asked(sim: &Sim, executions: &[Execution]) -> BTreeMap<String, u32> {
    let by_id = by_id(executions);
    // With path filters, only pushes that changed the paths ask for anything.
    let mut asked = if sim.filtered {
        sim.relevant.clone()
    } else {
        sim.pushes.clone()
    };
    for call in &sim.operator_calls {
        let refused = matches!(&call.answer, Ok(a) if !a.ok);
        let commit = match (&call.commit, &call.execution) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(id)) if call.action == "retry" => {
                by_id.get(id).map(|e| e.commit.id.to_string())
            }
            _ => None,
        };
        if let (false, Some(c)) = (refused, commit) {
            *asked.entry(c).or_default() += 1;
        }
    }
    asked
}

/// At most one build per push, release or retry (post-deploy tests aside).
fn builds_at_most_as_asked(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let asked = asked(sim, executions);
    let mut builds: BTreeMap<String, u32> = BTreeMap::new();
    for r in sim
        .builder
        .requests()
        .into_iter()
        .filter(|r| r.buildspec.is_none())
    {
        *builds.entry(r.source_version).or_default() += 1;
    }
    for (c, n) in &builds {
        let asked = asked.get(c).copied().unwrap_or(0);
        if *n > asked {
            return Err(format!(
                "{n} builds of {c}, asked for {asked} times (pushes {:?}, that counted {:?}; history {:?}; executions {:#?})",
                sim.pushes,
                sim.relevant,
                sim.history,
                executions
                    .iter()
                    .filter(|e| e.commit.id.as_str() == c)
                    .map(|e| (&e.id, &e.timeline))
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// One execution per push or release of a commit, however often and in whatever
/// order its event arrived (rollbacks are the operator's own executions).
fn executions_at_most_as_asked(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let asked = asked(sim, executions);
    let mut per_commit: BTreeMap<String, u32> = BTreeMap::new();
    for e in executions.iter().filter(|e| e.rollback_of.is_none()) {
        *per_commit.entry(e.commit.id.to_string()).or_default() += 1;
    }
    for (c, n) in &per_commit {
        let asked = asked.get(c).copied().unwrap_or(0);
        if *n > asked {
            return Err(format!(
                "{n} executions of {c}, pushed or released {asked} times"
            ));
        }
    }
    Ok(())
}

/// Each change set executed at most once; no double execute failed a stage.
fn change_sets_execute_once(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let executed = sim.deployer.executed_change_sets();
    let ids: BTreeSet<_> = executed.iter().map(|(id, ..)| id).collect();
    if ids.len() != executed.len() {
        return Err("a change set was executed twice".into());
    }
    for e in executions {
        if let Some(r) = e
            .reason
            .as_deref()
            .filter(|r| r.contains("InvalidChangeSetStatus"))
        {
            return Err(format!("{} failed on a second execute: {r}", e.id));
        }
    }
    Ok(())
}

/// A stage succeeded only if its own change set ran and its stack completed.
fn a_stage_succeeds_by_its_own_change_set(
    sim: &Sim,
    executions: &[Execution],
) -> Result<(), String> {
    let executed = sim.deployer.executed_change_sets();
    for e in executions {
        for s in e
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Succeeded && s.site.is_none())
        {
            let own = executed.iter().find(|(id, ..)| {
                s.change_set_id
                    .as_ref()
                    .is_some_and(|c| c.to_string() == *id)
            });
            match own {
                Some((_, _, stack, ExecutionOutcome::Succeeded)) if *stack == s.stack_name => {}
                other => {
                    return Err(format!(
                        "{} {} succeeded, but its change set {:?} ran as {other:?}",
                        e.id, s.name, s.change_set_id
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Production never deployed without a valid approval of that execution.
fn production_deploys_only_approved_executions(
    sim: &Sim,
    executions: &[Execution],
) -> Result<(), String> {
    let by_id = by_id(executions);
    let executed = sim.deployer.executed_change_sets();
    for (_, name, stack, _) in executed.iter().filter(|(.., stack, _)| stack == PRODUCTION) {
        let _ = stack;
        let owner = by_id
            .iter()
            .find(|(id, _)| {
                name == &format!("sluice-{id}-production")
                    || name.starts_with(&format!("sluice-{id}-production-r"))
            })
            .map(|(_, e)| *e)
            .ok_or_else(|| format!("production change set {name} belongs to no execution"))?;
        let approved = stage_of(owner, "production")
            .approval
            .as_ref()
            .and_then(|a| a.decision.as_ref())
            .is_some_and(|d| d.approved);
        if !approved {
            return Err(format!(
                "{} deployed production without an approval",
                owner.id
            ));
        }
    }
    Ok(())
}

/// Production's site got only files of executions approved there (a rollback's
/// are those of the execution it deploys again, approved when it ran).
fn production_s_site_gets_only_approved_files(
    sim: &Sim,
    executions: &[Execution],
) -> Result<(), String> {
    for (bucket, key) in sim.deployer.site_uploads() {
        if bucket != SITE {
            return Err(format!("a site was deployed to {bucket}, not {SITE}"));
        }
        let approved_here = |e: &Execution| {
            stage_of(e, "production")
                .approval
                .as_ref()
                .and_then(|a| a.decision.as_ref())
                .is_some_and(|d| d.approved)
        };
        // Releases are by content: the same bytes may belong to several executions,
        // and one of them approved is the bytes approved.
        let owners: Vec<&Execution> = executions
            .iter()
            .filter(|e| {
                e.artifact
                    .as_ref()
                    .is_some_and(|a| a.site.iter().any(|s| s.object.key == key))
            })
            .collect();
        if owners.is_empty() {
            return Err(format!(
                "{key} was deployed to {SITE} but belongs to no execution"
            ));
        }
        let approved = owners.iter().any(|owner| {
            approved_here(owner)
                || executions
                    .iter()
                    .any(|r| r.rollback_of.as_ref() == Some(&owner.id) && approved_here(r))
        });
        if !approved {
            return Err(format!(
                "{key} went to production's site without an approval of any execution it \
                 belongs to ({})",
                owners
                    .iter()
                    .map(|o| o.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// What the decision page answered matches the saved state.
fn the_decision_page_tells_the_truth(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let by_id = by_id(executions);
    for d in &sim.decisions {
        let e = by_id
            .get(&d.execution)
            .ok_or_else(|| format!("decision for unknown {}", d.execution))?;
        let saved = e
            .stage(&d.stage)
            .and_then(|s| s.approval.as_ref())
            .and_then(|a| a.decision.as_ref())
            .filter(|decision| decision.by == d.name);
        let says_approved = d.status == 200 && d.page.contains("<h1>Approved");
        let says_rejected = d.status == 200 && d.page.contains("<h1>Rejected");
        let says_nothing_decided = d.page.contains("Nothing was decided");
        let unconfirmed = d.page.contains("<h1>Decision not confirmed");
        let truthful = match saved {
            Some(s) if s.approved => says_approved || unconfirmed,
            Some(_) => says_rejected || unconfirmed,
            None => !says_approved && !says_rejected,
        } && !(saved.is_some() && says_nothing_decided);
        if !truthful {
            return Err(format!(
                "the page told {} ({}): {}; saved: {saved:?}",
                d.name, d.status, d.page
            ));
        }
    }
    Ok(())
}

/// What an operator command answered matches the saved state: a decision it
/// reported is recorded as the caller's, by identity; one it refused is not; a
/// cancel or retry it reported is in the timeline as the caller's, and a refused
/// one is not; a release it reported started an execution the caller asked for.
fn operator_answers_tell_the_truth(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let by_id = by_id(executions);
    for call in &sim.operator_calls {
        let ok = matches!(&call.answer, Ok(a) if a.ok);
        let refused = matches!(&call.answer, Ok(a) if !a.ok);
        // The caller's whole ARN: "op-1" is not "op-11" (seed 26676 of 40,000).
        let by_caller = |e: &Execution, what: &str| {
            let said = format!("{what} {}", call.caller);
            e.timeline.iter().any(|l| {
                l.what.match_indices(&said).any(|(at, _)| {
                    !l.what[at + said.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                })
            })
        };
        let Some(id) = &call.execution else {
            let released = executions.iter().any(|e| by_caller(e, "asked for by"));
            if (ok && !released) || (refused && released) {
                return Err(format!(
                    "release by {} answered {:?}; an execution of it exists: {released}",
                    call.caller, call.answer
                ));
            }
            continue;
        };
        let e = by_id
            .get(id)
            .ok_or_else(|| format!("operator call for unknown {id}"))?;
        let saved = e
            .stages
            .iter()
            .filter_map(|s| s.approval.as_ref()?.decision.as_ref())
            .find(|d| d.by == call.caller);
        let truthful = match (call.action, saved) {
            ("approve", Some(d)) => d.approved && d.by_identity && !refused,
            ("reject", Some(d)) => !d.approved && d.by_identity && !refused,
            ("approve" | "reject", None) => !ok,
            (_, Some(_)) => false,
            ("resend", None) => !ok || e.stages.iter().any(|s| !s.replaced_links.is_empty()),
            ("cancel", None) => {
                let cancelled =
                    e.reason.as_deref() == Some(&format!("cancelled by {}", call.caller));
                (ok && cancelled && e.status == Status::Cancelled)
                    || (refused && !cancelled)
                    || call.answer.is_err()
            }
            ("retry", None) => {
                let retried = by_caller(e, "retried by");
                (ok && retried) || (refused && !retried) || call.answer.is_err()
            }
            _ => false,
        };
        if !truthful {
            return Err(format!(
                "{} by {} on {id} answered {:?}; saved: {saved:?}; timeline {:#?}",
                call.action, call.caller, call.answer, e.timeline
            ));
        }
    }
    Ok(())
}

/// The last push (with path filters, the last that changed the paths) is never
/// dropped at the source: nothing after it can deliver its change in its place.
/// (A push whose every copy was lost, to the failed-events queue, is the
/// operator's to release: it has no execution whatever the filters.)
fn the_last_push_is_never_dropped(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let last = sim
        .last_relevant
        .as_ref()
        .filter(|(push, _)| sim.handled_pushes.contains(push))
        .map(|(_, c)| c.as_str());
    if let Some(last) = last {
        let kept = executions.iter().any(|e| {
            e.commit.id.as_str() == last
                && !e
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("the branch already points to"))
        });
        if !kept {
            return Err(format!(
                "{last}, the last push to change the paths, has no execution that delivers it \
                 (pushes {:?}, that counted {:?}; history {:?}; executions {:#?})",
                sim.pushes,
                sim.relevant,
                sim.history,
                executions
                    .iter()
                    .map(|e| (&e.id, e.status, &e.reason, e.timeline.first()))
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// Production's site ends as the newest execution to pass production built it:
/// its page, and no file of another build.
fn the_site_ends_on_the_newest_release(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    let by_id = by_id(executions);
    if sim.site {
        let newest = executions
            .iter()
            .filter(|e| stage_of(e, "production").status.is_passed())
            .min_by(|a, b| a.id.cmp(&b.id));
        let served = sim.deployer.site(SITE);
        if let Some(newest) = newest {
            let built = newest.rollback_of.as_ref().unwrap_or(&newest.id);
            // Each file served is the release's copy of that path, by content.
            let release: BTreeMap<&str, &str> = by_id
                .get(built)
                .and_then(|e| e.artifact.as_ref())
                .map(|a| {
                    a.site_files("site")
                        .map(|(path, o)| (path, o.object.key.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            let stray: Vec<_> = served
                .iter()
                .filter(|(path, o)| o.source.as_deref() != release.get(path.as_str()).copied())
                .map(|(key, o)| (key, o.source.clone()))
                .collect();
            if !stray.is_empty() || !served.contains_key("index.html") {
                return Err(format!(
                    "{SITE} serves {stray:?} beside the files of {built}, the newest to pass production ({})",
                    newest.id
                ));
            }
        }
    }
    Ok(())
}

/// With post-deploy tests: staging passed only with its test passed, never for a
/// bad release; a failed test rolled staging back, or says why it could not (only
/// when no release had gone live there before), and nothing after it started.
fn tests_gate_staging(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    if sim.tested {
        for e in executions {
            let s = stage_of(e, "staging");
            let test = s.test_run.as_ref().map(|r| r.status);
            let what = format!("{} staging {} (test {test:?})", e.id, s.status);
            if s.status == StageStatus::Succeeded
                && (test != Some(BuildStatus::Succeeded) || bad(e.commit.id.as_str()))
            {
                return Err(format!("{what} passed without passing its test"));
            }
            if s.status == StageStatus::Succeeded
                && s.watch_until
                    .zip(s.finished_at)
                    .is_none_or(|(until, finished)| until > finished)
            {
                return Err(format!(
                    "{what} passed before its watch ended ({:?}, finished {:?})",
                    s.watch_until, s.finished_at
                ));
            }
            if !matches!(
                s.status,
                StageStatus::RolledBack | StageStatus::RollbackFailed
            ) {
                continue;
            }
            let by_alarm = s
                .rollback
                .as_ref()
                .is_some_and(|r| r.trigger.starts_with(&format!("alarm {ALARM}")));
            if test != Some(BuildStatus::Failed) && !by_alarm {
                return Err(format!(
                    "{what} was rolled back without a failed test or an alarm"
                ));
            }
            if s.retries > 2 {
                return Err(format!("{what} was retried {} times, of 2", s.retries));
            }
            if stage_of(e, "production").status != StageStatus::Pending {
                return Err(format!("{what}, yet production went on"));
            }
            let started = s.rollback.as_ref().map(|r| r.started_at);
            let live_before = executions.iter().find(|o| {
                let t = stage_of(o, "staging");
                o.id != e.id
                    && t.status.is_passed()
                    && t.finished_at.zip(started).is_some_and(|(f, r)| f < r)
            });
            if let (StageStatus::RollbackFailed, Some(o)) = (s.status, live_before) {
                return Err(format!(
                    "{what}: its rollback failed ({:?}), though {} was live before",
                    s.reason, o.id
                ));
            }
        }
    }
    Ok(())
}

/// Every byte a stage ever ran is a byte pinned for an execution of the commit
/// whose template named it: nothing a build wrote after its pin, or over another
/// execution's upload, ever runs (nor does CloudFormation's rollback fetch it).
fn only_pinned_code_runs(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    for (stack, template, code) in sim.deployer.fetched_code() {
        let Some(bytes) = code.get("HelloFunction") else {
            return Err(format!("{stack} deployed no code with {template:?}"));
        };
        let digest = sluice_adapters::sha256_hex(bytes);
        let pinned = executions.iter().any(|e| {
            template.contains(&format!("template of {}", e.commit.id))
                && e.artifact.as_ref().is_some_and(|a| {
                    a.functions
                        .iter()
                        .any(|(id, sha)| id == "HelloFunction" && *sha == digest)
                })
        });
        if bytes == FORGED || !pinned {
            return Err(format!(
                "{stack} ran {:?}, which no execution of its template pinned ({template:?})",
                String::from_utf8_lossy(bytes)
            ));
        }
    }
    Ok(())
}

/// Each stack ends on the newest commit that was allowed to reach it.
fn each_stack_ends_on_the_newest_allowed(
    sim: &Sim,
    executions: &[Execution],
) -> Result<(), String> {
    for (stage, stack) in [("staging", STAGING), ("production", PRODUCTION)] {
        let newest = executions
            .iter()
            .filter(|e| stage_of(e, stage).status.is_passed())
            .min_by(|a, b| a.id.cmp(&b.id));
        if let Some(newest) = newest {
            let want = stage_of(newest, stage)
                .change_set_id
                .as_ref()
                .and_then(|id| sim.deployer.change_set_template(&id.to_string()));
            let live = sim.deployer.template(stack);
            if want.is_some() && live != want {
                return Err(format!(
                    "{stack} runs {live:?}, but the newest execution to pass {stage} is {} ({want:?})",
                    newest.id
                ));
            }
        }
    }
    Ok(())
}

/// A stage with windows started each deploy inside them: the core said "deploying"
/// only at a time a window was open (a rollback puts back what was live, at once).
fn deploys_start_inside_windows(_sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    for e in executions.iter().filter(|e| e.rollback_of.is_none()) {
        for s in &e.stages {
            let Some(window) = &s.window else { continue };
            let prefix = format!("{}: ", s.name);
            if let Some(outside) = e.timeline.iter().find(|l| {
                l.what.starts_with(&prefix)
                    && l.what.ends_with(", deploying")
                    && !window.is_open(l.at)
            }) {
                return Err(format!(
                    "{} {} started a deploy outside its windows, at {}: {}",
                    e.id, s.name, outside.at, outside.what
                ));
            }
        }
    }
    Ok(())
}

/// Once the sweeper has run, everything in flight waits for a person: a link was
/// sent for its gate.
async fn nothing_is_left_stuck(sim: &Sim, executions: &[Execution]) -> Result<(), String> {
    for e in executions.iter().filter(|e| !e.status.is_terminal()) {
        let waiting = e.current_stage().is_some_and(|s| {
            s.status == StageStatus::AwaitingApproval
                && s.approval
                    .as_ref()
                    .is_some_and(|a| a.sent_at.is_some() && a.decision.is_none())
        });
        if !waiting {
            let lane = match e.current_stage() {
                Some(s) => format!("{:?}", sim.engine.lanes.get(&s.name).await),
                None => String::new(),
            };
            let others: Vec<_> = executions
                .iter()
                .map(|o| {
                    format!(
                        "{} {} {:?}",
                        o.id,
                        o.status,
                        o.stages
                            .iter()
                            .map(|s| s.status.as_str())
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            return Err(format!(
                "{} is stuck after the sweeper ran: {}; lane {lane}; executions {others:?}; timeline {:#?}",
                e.id, e.status, e.timeline
            ));
        }
    }
    Ok(())
}
