//! The actor: what happens during a run, each action drawn from the run's random
//! source (pushes, deliveries, builds and deployments ending, approvers' and
//! operators' decisions, the hostile build, alarms, sweeps), and the chaotic phase
//! that picks them.

use super::*;

/// The template a commit's build leaves: sometimes one that CloudFormation refuses,
/// or one whose deployment rolls back.
/// The template a build of `commit` leaves, its function's code uploaded under
/// `prefix`; now and then one whose change set or deployment fails.
fn template_of(commit: &str, prefix: &str, rng: &mut fastrand::Rng) -> String {
    let description = match rng.u32(0..100) {
        0..4 => format!("template of {commit} {FAIL_CHANGE_SET}"),
        4..9 => format!("template of {commit} {FAIL_DEPLOY}"),
        _ => format!("template of {commit}"),
    };
    template_with_code(&description, &format!("{prefix}code/fn.zip"))
}

fn template_with_code(description: &str, code: &str) -> String {
    format!(
        "Description: {description}\nResources:\n  HelloFunction:\n    \
         Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: s3://sluice-artifacts/{code}\n"
    )
}

impl Sim {
    /// From now on, about `per_mille` of all AWS calls fail before acting, and as
    /// many lose their answer after acting.
    fn chaos(&mut self, per_mille: u32) {
        let mut before = fastrand::Rng::with_seed(self.rng.u64(..));
        let mut after = fastrand::Rng::with_seed(self.rng.u64(..));
        let fail = move |op: &'static str, rng: &mut fastrand::Rng| {
            (rng.u32(0..1000) < per_mille)
                .then(|| AwsError::service(op, "InternalError", "injected by the simulation", true))
        };
        self.faults.set(move |op| fail(op, &mut before));
        self.faults.set_after(move |op| fail(op, &mut after));
    }

    pub(super) fn send(&mut self, function: Function, event: Value) {
        self.pending.push(Delivery {
            function,
            event,
            attempt: 1,
            copies: 1,
            push: None,
        });
    }

    fn push(&mut self) {
        // Mostly new commits; sometimes a commit pushed before, pushed again.
        let n = if self.pushed > 0 && self.rng.u32(0..5) == 0 {
            self.rng.u32(1..=self.pushed)
        } else {
            self.pushed + 1
        };
        self.pushed += 1;
        let c = commit(n);
        *self.pushes.entry(c.clone()).or_default() += 1;
        if !self.history.iter().any(|(h, _)| *h == c) {
            // A new commit: the API, documents (outside the paths), or both.
            let files: &[&str] = match self.rng.u32(0..10) {
                0..4 => &["api/src/lib.rs"],
                4..8 => &["docs/guide.md", "api/README.md"],
                _ => &["api/src/lib.rs", "docs/guide.md"],
            };
            self.commits.append_history(&c, files);
            self.history
                .push((c.clone(), files.contains(&"api/src/lib.rs")));
        }
        // Whether this push changed the API since the branch's old commit. An event
        // without the old commit (the branch new, or the same commit again, which
        // the events below send as a branch created anew) is always delivered.
        let counts = !self.filtered
            || match self.head.as_deref().filter(|old| *old != c) {
                None => true,
                Some(old) => {
                    let at = |x: &str| self.history.iter().position(|(h, _)| h == x);
                    match (at(old), at(&c)) {
                        (Some(a), Some(b)) => self.history[a.min(b) + 1..=a.max(b)]
                            .iter()
                            .any(|(_, api)| *api),
                        _ => true,
                    }
                }
            };
        if counts {
            *self.relevant.entry(c.clone()).or_default() += 1;
            self.last_relevant = Some((self.pushed, c.clone()));
        }
        self.commits.set_head(&c);
        // As CodeCommit says it: the commit the branch moved from. Pushes between two
        // clock steps share their second, so their order hangs on it.
        let mut event = match self.head.replace(c.clone()) {
            Some(old) if old != c => World::push_from(&c, &old, self.now()),
            _ => World::push_event(&c, self.now()),
        };
        // EventBridge's id: one per push, kept by every copy and retry of it.
        event["id"] = Value::String(format!("push-{}", self.pushed));
        self.pending.push(Delivery {
            function: Function::Source,
            event,
            attempt: 1,
            copies: 1,
            push: Some(self.pushed),
        });
    }

    async fn handle(&self, delivery: &Delivery) -> bool {
        let event = delivery.event.clone();
        let handled = match delivery.function {
            Function::Source => Box::pin(self.engine.on_push(event)).await,
            Function::Build => Box::pin(self.engine.on_build(event)).await,
            Function::Deploy => Box::pin(self.engine.on_stack(event)).await,
            Function::Alarm => Box::pin(self.engine.on_alarm(event)).await,
        };
        handled.is_ok()
    }

    /// Delivers one pending event, chosen at random: maybe lost, maybe duplicated;
    /// a failed handler is retried as Lambda does, then given up.
    pub(super) async fn deliver(&mut self, lossless: bool) {
        if self.pending.is_empty() {
            return;
        }
        let i = self.rng.usize(..self.pending.len());
        let delivery = self.pending.swap_remove(i);
        let roll = self.rng.u32(0..100);
        if !lossless && roll < 4 {
            return;
        }
        if !lossless && roll < 20 && delivery.copies < 3 {
            self.pending.push(Delivery {
                copies: delivery.copies + 1,
                ..delivery.clone()
            });
        }
        let handled = self.handle(&delivery).await;
        if let (true, Some(push)) = (handled, delivery.push) {
            self.handled_pushes.insert(push);
        }
        if !handled {
            // After its third attempt Lambda gives up (to the failed-events queue):
            // the sweeper must repair whatever the event would have done.
            if delivery.attempt < 3 {
                self.pending.push(Delivery {
                    attempt: delivery.attempt + 1,
                    ..delivery
                });
            }
        }
    }

    /// A build that CodeBuild runs ends: it leaves its artifact and succeeds, or fails.
    pub(super) async fn finish_build(&mut self, always_succeed: bool) {
        let running: Vec<_> = self
            .builder
            .requests()
            .into_iter()
            .filter_map(|r| {
                let id = self.builder.build_for(&r.idempotency_token)?;
                (!self.finished_builds.contains(&id) && !self.builder.stopped().contains(&id))
                    .then_some((r, id))
            })
            .collect();
        if running.is_empty() {
            return;
        }
        let (request, build_id) = running[self.rng.usize(..running.len())].clone();
        self.finished_builds.insert(build_id.clone());
        let execution = request
            .environment
            .iter()
            .find(|(name, _)| name == "SLUICE_EXECUTION_ID")
            .and_then(|(_, id)| ExecutionId::parse(id).ok())
            .expect("every build names its execution");
        if request.buildspec.is_some() {
            // A post-deploy test: it fails for a bad release, and now and then on
            // its own; it leaves nothing.
            let stage = request
                .environment
                .iter()
                .find(|(name, _)| name == "SLUICE_TEST_STAGE")
                .map(|(_, stage)| stage.clone())
                .expect("a test names its stage");
            let fails =
                bad(&request.source_version) || (!always_succeed && self.rng.u32(0..100) < 5);
            let (outcome, fixture) = match fails {
                true => (
                    BuildOutcome::Failed {
                        reason: "phase BUILD FAILED: smoke test".into(),
                        cause: sluice_core::Cause::Change,
                    },
                    "codebuild-failed.json",
                ),
                false => (BuildOutcome::Succeeded, "codebuild-succeeded.json"),
            };
            self.builder.set_outcome(&build_id, outcome);
            let event = test_build_event(fixture, &execution, &build_id, &stage);
            self.send(Function::Build, event);
            return;
        }
        if !always_succeed && self.rng.u32(0..100) < 10 {
            self.builder.set_outcome(
                &build_id,
                BuildOutcome::Failed {
                    reason: "phase BUILD FAILED".into(),
                    cause: sluice_core::Cause::Change,
                },
            );
            let event = build_event("codebuild-failed.json", &execution, &build_id);
            self.send(Function::Build, event);
            return;
        }
        // Where the build was told to upload, as a real build is.
        let prefix = request
            .environment
            .iter()
            .find(|(name, _)| name == "SLUICE_ARTIFACT_PREFIX")
            .map(|(_, prefix)| prefix.clone())
            .expect("a build is told where to upload");
        let template = template_of(&request.source_version, &prefix, &mut self.rng);
        let commit = &request.source_version;
        let mut files = vec![
            ("packaged.yaml".to_owned(), template),
            ("code/fn.zip".to_owned(), format!("code of {commit}")),
            (
                "production.json".to_owned(),
                r#"{"Parameters": {}}"#.to_owned(),
            ),
        ];
        if self.site {
            // Each commit's page, and a style sheet named after it: every deploy
            // changes one file, adds one and removes the last commit's.
            files.push(("site/index.html".into(), format!("page of {commit}")));
            files.push((format!("site/{}.css", &commit[..8]), "css".into()));
        }
        for (name, body) in files {
            let key = format!("{prefix}{name}");
            let condition = match self.objects.get(&key).await.expect("memory") {
                Some(o) => Condition::Matches(o.etag),
                None => Condition::Absent,
            };
            self.objects
                .put(&key, body.into_bytes(), condition)
                .await
                .expect("memory");
        }
        self.builder.set_outcome(&build_id, BuildOutcome::Succeeded);
        let event = build_event("codebuild-succeeded.json", &execution, &build_id);
        self.send(Function::Build, event);
    }

    /// A deployment CloudFormation runs ends, and its event is sent; sometimes an
    /// old stack event is sent again.
    fn settle_stack(&mut self) {
        if !self.stack_events.is_empty() && self.rng.u32(0..4) == 0 {
            let old = self.stack_events[self.rng.usize(..self.stack_events.len())].clone();
            self.send(Function::Deploy, old);
            return;
        }
        let deploying = self.deployer.deploying();
        if deploying.is_empty() {
            return;
        }
        let stack = &deploying[self.rng.usize(..deploying.len())];
        // Staging, which retries, is throttled now and then (a production deploy
        // retried by an operator asks for a new approval, which the checks of
        // decisions below do not follow).
        if self.tested && stack == STAGING && self.rng.u32(0..6) == 0 {
            self.deployer.throttle_next_deploy(stack);
        }
        if let Some(settled) = self.deployer.settle(stack) {
            let event = World::stack_event(&settled.stack_id, &settled.status);
            self.stack_events.push(event.clone());
            self.send(Function::Deploy, event);
        }
    }

    /// An approver opens a link from an email (a fresh one, mostly) and decides.
    async fn decide(&mut self) {
        let links: Vec<String> = self
            .notifier
            .sent()
            .iter()
            .flat_map(|m| {
                m.body
                    .split_whitespace()
                    .filter(|w| w.contains("/approvals/"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let fresh: Vec<_> = links
            .iter()
            .filter(|l| !self.used_links.contains(*l))
            .cloned()
            .collect();
        let pool = if fresh.is_empty() || self.rng.u32(0..10) == 0 {
            links
        } else {
            fresh
        };
        if pool.is_empty() {
            return;
        }
        let link = pool[self.rng.usize(..pool.len())].clone();
        self.used_links.insert(link.clone());
        let rest = link.trim_start_matches("https://approve.example");
        let Some((path, query)) = rest.split_once('?') else {
            return;
        };
        let token = query.trim_start_matches("token=");
        let mut parts = path.trim_start_matches("/approvals/").split('/');
        let (Some(id), Some(stage)) = (parts.next(), parts.next()) else {
            return;
        };
        let name = format!("approver-{}", self.decisions.len());
        let decision = if self.rng.u32(0..100) < 80 {
            "approve"
        } else {
            "reject"
        };
        let form = format!("token={token}&decision={decision}&name={name}");
        let request = lambda_http::request::from_str(
            &World::request("POST", path, "", Some(&form)).to_string(),
        )
        .expect("request");
        let response = Box::pin(sluice_engine::approval::handle(&self.engine, request)).await;
        let status = response.status().as_u16();
        let page = match response.into_body() {
            lambda_http::Body::Text(t) => t,
            _ => String::new(),
        };
        self.decisions.push(Decision {
            execution: ExecutionId::parse(id).expect("link id"),
            stage: StageName::parse(stage).expect("link stage"),
            name,
            status,
            page,
        });
    }

    /// An operator approves, rejects, resends, retries or cancels from a terminal, for
    /// any execution, or releases any commit pushed so far.
    async fn operate(&mut self) {
        let executions = self.engine.store.recent(20).await.unwrap_or_default();
        if executions.is_empty() {
            return;
        }
        let execution = executions[self.rng.usize(..executions.len())].id.clone();
        let caller = format!(
            "arn:aws:iam::123456789012:user/op-{}",
            self.operator_calls.len()
        );
        let action = match self.rng.u32(0..12) {
            0..4 => "approve",
            4..6 => "reject",
            6..8 => "resend",
            8..10 => "retry",
            10 => "cancel",
            _ => "release",
        };
        let released = commit(self.rng.u32(1..=self.pushed.max(1)));
        let commit = (action == "release").then_some(released);
        let nonce: [u8; 16] = std::array::from_fn(|_| self.rng.u8(..));
        let command = OperatorCommand::with_nonce(
            &self.engine.config.pipeline.name,
            sluice_tests::world::action(action, &execution, commit.as_deref()),
            self.now(),
            &nonce,
        );
        let answer = Box::pin(self.engine.operate(&caller, command))
            .await
            .map_err(|e| e.to_string());
        self.operator_calls.push(OperatorCall {
            execution: commit.is_none().then_some(execution),
            commit,
            caller,
            action,
            answer,
        });
    }

    /// The hostile build writes over an execution's upload where it can be guessed
    /// to be (from its id), and, as if it had found it, over the real one once the
    /// release is pinned: neither may ever run.
    async fn attack(&mut self) {
        let executions = self.engine.store.recent(20).await.unwrap_or_default();
        let Some(rng) = self.hostile.as_mut() else {
            return;
        };
        if executions.is_empty() {
            return;
        }
        let victim = &executions[rng.usize(..executions.len())];
        let guessed = format!("artifacts/hello/{}/", victim.id);
        let forged = format!("{guessed}code/fn.zip");
        self.objects.overwrite(&forged, FORGED.to_vec());
        let template = template_with_code(&format!("template of {}", victim.commit.id), &forged);
        self.objects
            .overwrite(&format!("{guessed}packaged.yaml"), template.into_bytes());
        if victim.artifact.is_some() {
            let upload = self.engine.config.artifact_prefix(victim);
            self.objects
                .overwrite(&format!("{upload}code/fn.zip"), FORGED.to_vec());
        }
    }

    /// Staging's errors alarm goes off, or quiets down; its state change is sent.
    fn flip_alarm(&mut self) {
        let state = if self.rng.bool() { "ALARM" } else { "OK" };
        self.deployer.set_alarm(ALARM, state, "Threshold Crossed");
        let event = serde_json::json!({
            "version": "0", "id": format!("alarm-{}", self.rng.u32(..)),
            "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2026-11-20T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {"alarmName": ALARM, "state": {"value": state, "reason": "Threshold Crossed"}}
        });
        self.send(Function::Alarm, event);
    }

    async fn sweep(&mut self) {
        if self.rng.bool() {
            let _ = Box::pin(self.engine.sweep(50)).await;
        } else {
            let (a, b) = (self.engine.sweep(50), self.engine.sweep(50));
            let _ = Box::pin(async { tokio::join!(a, b) }).await;
        }
    }

    pub(super) async fn chaotic_phase(&mut self) {
        let rate = self.rng.u32(0..30);
        self.chaos(rate);
        for _ in 0..STEPS {
            if self.hostile.as_mut().is_some_and(|r| r.u32(0..4) == 0) {
                self.attack().await;
            }
            match self.rng.u32(0..100) {
                0..8 if self.pushed < PUSHES => self.push(),
                0..40 => self.deliver(false).await,
                40..52 => self.finish_build(false).await,
                52..64 => self.settle_stack(),
                64..69 => self.decide().await,
                69..72 => self.operate().await,
                72..74 if self.tested => self.flip_alarm(),
                72..84 => self.sweep().await,
                _ => {
                    let minutes = self.rng.i64(1..=10);
                    self.advance(Duration::minutes(minutes));
                }
            }
        }
        self.faults.clear();
    }
}
