//! An execution begins: a push starts one, an operator asks for a release or a rollback.

use super::*;

#[test]
fn a_push_creates_a_building_execution_and_asks_for_one_build() {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let tr = start(
        &pipeline(),
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap();
    assert_eq!(
        tr.commands,
        [Command::StartBuild, Command::Notify(Notice::Started)]
    );
    assert_eq!(
        statuses(&tr.execution),
        (Status::Building, vec![S::Pending, S::Pending])
    );
    assert_eq!(
        tr.execution.id,
        ExecutionId::new(t(0), &tr.execution.commit.id)
    );
}

#[test]
fn pushes_elsewhere_are_not_watched() {
    let commit = || Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    for (repo, branch) in [("other", "master"), ("hello-api", "feature")] {
        let err = start(&pipeline(), Push::new(repo, branch, commit(), t(0)), t(0)).unwrap_err();
        assert!(matches!(err, Rejected::NotWatched { .. }), "{err}");
        assert!(err.to_string().contains("hello-api/master"), "{err}");
    }
}

#[test]
fn two_pipelines_building_one_push_ask_for_two_builds() {
    let back_end = started();
    let front_end = start(
        &Pipeline::with_default_stages("hello-web", "hello-api", "master", "hello-web").unwrap(),
        Push::new("hello-api", "master", back_end.commit.clone(), t(0)),
        t(0),
    )
    .unwrap()
    .execution;
    assert_eq!(back_end.id, front_end.id, "the same push, the same time");
    assert_ne!(
        back_end.build_token(),
        front_end.build_token(),
        "CodeBuild would answer the second pipeline with the first one's build"
    );
}

#[test]
fn a_release_is_recorded_as_asked_for_by_the_operator() {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let mut push = Push::new("hello-api", "master", commit, t(0));
    push.released_by = Some(OPERATOR.into());
    let e = start(&pipeline(), push, t(0)).unwrap().execution;
    assert_eq!(
        e.timeline[0].what,
        format!("release of f00dfeedf00d on master asked for by {OPERATOR}")
    );
}

#[test]
fn a_rollback_deploys_an_earlier_artifact_to_one_stage_behind_a_confirmation() {
    let source = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    let tr = rollback(&pipeline(), &source, &stage("staging"), OPERATOR, t(100)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::CreateChangeSet {
            stage: stage("staging")
        }]
    );
    let e = tr.execution;
    assert_ne!(e.id, source.id);
    assert_eq!(e.rollback_of.as_ref(), Some(&source.id));
    assert_eq!(
        e.artifact, source.artifact,
        "the pinned artifact, as it was"
    );
    assert_eq!(e.stages.len(), 1);
    assert!(
        e.stages[0].requires_approval,
        "staging has no gate; a rollback does"
    );
    assert_eq!(e.status, Status::Deploying);
    // Ready, it waits for someone to confirm; confirmed, it deploys.
    let waiting = step(&e, ready("staging"), t(101)).unwrap();
    assert_eq!(waiting.execution.stages[0].status, S::AwaitingApproval);
    assert!(waiting.commands.contains(&Command::RequestApproval {
        stage: stage("staging")
    }));
    assert!(e.timeline[0].what.contains(&format!(
        "rollback of staging to f00dfeedf00d (execution {})",
        source.id
    )));

    let unbuilt = step(&started(), build_ok(), t(1)).unwrap().execution;
    let refused = rollback(&pipeline(), &unbuilt, &stage("staging"), OPERATOR, t(2)).unwrap_err();
    assert!(matches!(refused, Rejected::NoArtifact(_)), "{refused}");
    let refused = rollback(&pipeline(), &source, &stage("qa"), OPERATOR, t(2)).unwrap_err();
    assert!(matches!(refused, Rejected::UnknownStage(_)), "{refused}");
}
