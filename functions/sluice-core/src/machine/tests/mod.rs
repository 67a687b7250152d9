//! The state machine's tests, by area; the helpers they share are here.

use chrono::{Duration, TimeZone, Utc};

use super::*;
pub(super) use crate::ChangeSetId;
use crate::config::{Pipeline, StageConfig};
use crate::event::Via;
use crate::ids::{CommitId, TokenHash};
use crate::model::{
    Artifact, ArtifactObject, ChangeAction, Decision, Replacement, ResourceChange, StageStatus,
};
use crate::smoke::{Answer, Findings, Probe};
use crate::transient::Cause;

const COMMIT: &str = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
const TOKEN: &str = "the-token";

/// [`super::step`], with the shell answering a smoke check it asks for at once: the
/// stack's one address answers 200. Most tests here are about what comes before or
/// after a stage passes; the smoke check's own tests call `crate::machine::step` itself.
fn step(execution: &Execution, event: Event, now: Timestamp) -> Result<Transition, Rejected> {
    let mut tr = super::step(execution, event, now)?;
    let asked: Vec<StageName> = tr
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::SmokeCheck { stage } => Some(stage.clone()),
            _ => None,
        })
        .collect();
    for stage in asked {
        tr.commands
            .retain(|c| !matches!(c, Command::SmokeCheck { stage: s } if *s == stage));
        let findings = smoke_answered(200);
        let next = super::step(&tr.execution, Event::SmokeChecked { stage, findings }, now)?;
        tr.execution = next.execution;
        tr.commands.extend(next.commands);
    }
    Ok(tr)
}

/// What a smoke check finds when the stack's one address answers `code`.
fn smoke_answered(code: u16) -> Findings {
    Findings {
        probes: vec![Probe::new(
            "ApiUrl",
            "https://abc.execute-api.us-east-1.amazonaws.com/Prod/",
            Answer::Status { code },
        )],
        ..Findings::default()
    }
}

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap()
}

fn stage(name: &str) -> StageName {
    StageName::parse(name).unwrap()
}

fn change() -> ResourceChange {
    ResourceChange {
        logical_id: "HelloFunction".into(),
        resource_type: "AWS::Lambda::Function".into(),
        action: ChangeAction::Modify,
        replacement: Replacement::Never,
        stack: None,
    }
}

fn started() -> Execution {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: Some("Ada".into()),
        message: Some("Say hello".into()),
    };
    start(
        &pipeline(),
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap()
    .execution
}

/// A push of [`COMMIT`] (no author or message) started on `pipeline`, at `t(0)`.
fn started_on(pipeline: &Pipeline) -> Execution {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    start(
        pipeline,
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap()
    .execution
}

/// Applies events in order at one-second intervals, panicking on a rejection.
fn after(events: Vec<Event>) -> Execution {
    let mut exec = started();
    for (i, event) in events.into_iter().enumerate() {
        exec = step(&exec, event, t(i as i64 + 1)).unwrap().execution;
    }
    exec
}

fn build_ok() -> Event {
    Event::BuildSucceeded {
        build_id: "hello:1".into(),
        log_url: Some("https://logs/1".into()),
    }
}

fn pinned() -> Event {
    let object = |key: &str| ArtifactObject {
        key: key.into(),
        etag: "\"e\"".into(),
        version: Some("v1".into()),
        ..Default::default()
    };
    Event::ArtifactPinned {
        artifact: Artifact {
            template: Some(object("packaged.yaml")),
            configurations: vec![(stage("staging"), object("staging.json"))],
            code: vec![object("code.zip")],
            site: Vec::new(),
            ..Default::default()
        },
    }
}

fn ready(name: &str) -> Event {
    Event::ChangeSetReady {
        stage: stage(name),
        change_set_id: format!("cs-{name}").into(),
        changes: vec![change()],
    }
}

fn deployed(name: &str) -> Event {
    Event::StackUpdateCompleted { stage: stage(name) }
}

fn requested() -> Event {
    Event::ApprovalRequested {
        stage: stage("production"),
        token_sha256: TokenHash::of(TOKEN),
        expires_at: t(7 * 24 * 3600),
    }
}

fn sent() -> Event {
    Event::ApprovalSent {
        stage: stage("production"),
        token_sha256: TokenHash::of(TOKEN),
    }
}

fn granted(token: &str) -> Event {
    Event::ApprovalGranted {
        stage: stage("production"),
        via: Via::Link {
            token_sha256: TokenHash::of(token),
        },
        by: "Grace".into(),
        comment: None,
    }
}

fn rejected(token: &str) -> Event {
    Event::ApprovalRejected {
        stage: stage("production"),
        via: Via::Link {
            token_sha256: TokenHash::of(token),
        },
        by: "Grace".into(),
        comment: Some("not on a Friday".into()),
    }
}

fn at_gate() -> Execution {
    after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        ready("production"),
        requested(),
        sent(),
    ])
}

fn statuses(exec: &Execution) -> (Status, Vec<StageStatus>) {
    (exec.status, exec.stages.iter().map(|s| s.status).collect())
}

use StageStatus as S;

const OPERATOR: &str = "arn:aws:sts::123456789012:assumed-role/ops/kim";

fn cancelled() -> Event {
    Event::Cancelled {
        by: OPERATOR.into(),
    }
}

fn retried() -> Event {
    Event::Retried {
        by: OPERATOR.into(),
    }
}

mod after;
mod approval;
mod deploy;
mod operator;
mod record;
mod smoke;
mod start;
mod transitions;
