//! The build records: each build and its phases as `BatchGetBuilds` reports them,
//! kept up to date as the runner goes, and the state change events they send.

use serde_json::{Value, json};

use crate::bus::envelope;

use super::{Builds, event_time, lock, now};

/// A phase's outcome, as CodeBuild reports it.
#[derive(Clone, Debug)]
pub(super) struct PhaseRecord {
    pub(super) phase_type: String,
    pub(super) status: Option<String>,
    pub(super) start: f64,
    pub(super) end: Option<f64>,
    pub(super) contexts: Vec<(String, String)>,
}

/// One build, as `BatchGetBuilds` returns it.
#[derive(Clone, Debug)]
pub(super) struct BuildRecord {
    pub(super) id: String,
    pub(super) arn: String,
    pub(super) number: u64,
    pub(super) project: String,
    pub(super) source_version: String,
    pub(super) source_location: String,
    pub(super) buildspec: String,
    pub(super) status: String,
    pub(super) current_phase: String,
    pub(super) phases: Vec<PhaseRecord>,
    pub(super) start: f64,
    pub(super) end: Option<f64>,
    pub(super) environment: Vec<(String, String)>,
    pub(super) artifact_location: Option<String>,
    pub(super) log_url: String,
    pub(super) initiator: String,
    pub(super) timeout_minutes: i32,
}

impl Builds {
    pub(super) fn update(&self, id: &str, f: impl FnOnce(&mut BuildRecord)) -> Option<BuildRecord> {
        let mut builds = lock(&self.inner.builds);
        let build = builds.get_mut(id)?;
        f(build);
        Some(build.clone())
    }

    pub(super) fn begin_phase(&self, id: &str, phase: &str) {
        self.update(id, |b| {
            if let Some(last) = b.phases.last_mut()
                && last.end.is_none()
            {
                last.end = Some(now());
                last.status.get_or_insert_with(|| "SUCCEEDED".into());
            }
            b.current_phase = phase.to_owned();
            b.phases.push(PhaseRecord {
                phase_type: phase.to_owned(),
                status: None,
                start: now(),
                end: None,
                contexts: vec![],
            });
        });
    }

    pub(super) fn end_phase(&self, id: &str, failure: Option<(String, String)>) {
        self.update(id, |b| {
            if let Some(last) = b.phases.last_mut() {
                last.end = Some(now());
                match failure {
                    Some(context) => {
                        last.status = Some("FAILED".into());
                        last.contexts.push(context);
                    }
                    None => last.status = Some("SUCCEEDED".into()),
                }
            }
        });
    }

    pub(super) async fn emit(&self, id: &str) {
        let Some(build) = lock(&self.inner.builds).get(id).cloned() else {
            return;
        };
        let event = envelope(
            "aws.codebuild",
            "CodeBuild Build State Change",
            &self.inner.settings.region,
            &self.inner.settings.account,
            vec![build.arn.clone()],
            build.event_detail(),
        );
        self.inner.bus.deliver_or_warn(&event).await;
    }
}

impl BuildRecord {
    pub(super) fn to_json(&self) -> Value {
        let mut build = json!({
            "id": self.id,
            "arn": self.arn,
            "buildNumber": self.number,
            "startTime": self.start,
            "currentPhase": self.current_phase,
            "buildStatus": self.status,
            "sourceVersion": self.source_version,
            "resolvedSourceVersion": self.source_version,
            "projectName": self.project,
            "buildComplete": self.end.is_some(),
            "initiator": self.initiator,
            "timeoutInMinutes": self.timeout_minutes,
            "source": {"type": "CODECOMMIT", "location": self.source_location, "buildspec": self.buildspec},
            "logs": {"groupName": format!("/aws/codebuild/{}", self.project), "streamName": self.id.rsplit(':').next().unwrap_or_default(), "deepLink": self.log_url},
            "environment": {
                "type": "LINUX_CONTAINER", "image": "local", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": self.environment.iter().map(|(n, v)| json!({"name": n, "value": v, "type": "PLAINTEXT"})).collect::<Vec<_>>(),
            },
            "phases": self.phases.iter().map(|p| {
                let mut phase = json!({"phaseType": p.phase_type, "startTime": p.start});
                if let Some(s) = &p.status { phase["phaseStatus"] = json!(s); }
                if let Some(e) = p.end {
                    phase["endTime"] = json!(e);
                    phase["durationInSeconds"] = json!((e - p.start).round() as i64);
                }
                phase["contexts"] = json!(p.contexts.iter().map(|(c, m)| json!({"statusCode": c, "message": m})).collect::<Vec<_>>());
                phase
            }).collect::<Vec<_>>(),
        });
        if let Some(end) = self.end {
            build["endTime"] = json!(end);
        }
        if let Some(location) = &self.artifact_location {
            build["artifacts"] = json!({"location": location});
        }
        build
    }

    pub(super) fn event_detail(&self) -> Value {
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                let mut phase = json!({
                    "phase-context": p.contexts.iter().map(|(c, m)| format!("{c}: {m}")).collect::<Vec<_>>(),
                    "start-time": event_time(p.start),
                    "phase-type": p.phase_type,
                });
                if let Some(end) = p.end {
                    phase["end-time"] = json!(event_time(end));
                    phase["duration-in-seconds"] = json!((end - p.start).round() as i64);
                }
                if let Some(s) = &p.status {
                    phase["phase-status"] = json!(s);
                }
                phase
            })
            .collect();
        let mut info = json!({
            "environment": {
                "image": "local", "privileged-mode": false, "compute-type": "BUILD_GENERAL1_SMALL", "type": "LINUX_CONTAINER",
                "environment-variables": self.environment.iter().map(|(n, v)| json!({"name": n, "type": "PLAINTEXT", "value": v})).collect::<Vec<_>>(),
            },
            "timeout-in-minutes": self.timeout_minutes,
            "build-complete": self.end.is_some(),
            "initiator": self.initiator,
            "build-start-time": event_time(self.start),
            "source": {"location": self.source_location, "type": "CODECOMMIT", "buildspec": self.buildspec},
            "source-version": self.source_version,
            "logs": {
                "group-name": format!("/aws/codebuild/{}", self.project),
                "stream-name": self.id.rsplit(':').next().unwrap_or_default(),
                "deep-link": self.log_url,
            },
            "phases": phases,
            "queued-timeout-in-minutes": 480,
            "build-number": self.number,
        });
        // CodeBuild names the artifact location in every event, failed builds too.
        info["artifact"] = json!({"location": self.artifact_location.clone().unwrap_or_default()});
        json!({
            "build-status": self.status,
            "project-name": self.project,
            "build-id": self.arn,
            "additional-information": info,
            "current-phase": self.current_phase,
            "current-phase-context": "[: ]",
            "version": "1",
        })
    }
}
