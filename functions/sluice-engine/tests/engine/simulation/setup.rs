//! A run's pipeline and in-memory AWS, drawn from its seed, and its clock.

use super::*;

impl Sim {
    pub(super) fn new(seed: u64) -> Self {
        let mut fakes = Fakes::new();
        let objects = MemoryObjects::new();
        fakes.deployer = fakes.deployer.fetching_code_from(objects.clone());
        let mut rng = fastrand::Rng::with_seed(seed);
        // A third of the runs: a hostile build loops beside the pipeline, writing
        // over every upload it can reach (its own random source, so that the runs
        // of every other seed stay as they were).
        let hostile = seed
            .is_multiple_of(3)
            .then(|| fastrand::Rng::with_seed(seed ^ 0x0bad_b01d));
        // A third of the runs: a pipeline fed by part of its repository.
        let filtered = rng.u32(0..3) == 0;
        // A quarter: production is a static site, deployed to its bucket.
        let site = rng.u32(0..4) == 0;
        // A third of the others: staging's deploys are tested.
        let tested = !site && rng.u32(0..3) == 0;
        // Tested runs also retry staging's throttled deploys, twice, and watch its
        // errors alarm, which goes off now and then.
        let mut staging = String::new();
        let mut production = String::from("    approval: true\n");
        if site {
            production.push_str(&format!("    site: {{bucket: {SITE}}}\n"));
        } else if tested {
            staging.push_str(&format!(
                "    test: {{buildspec: buildspec-test.yml}}\n    retries: {{max: 2}}\n    \
                 alarms: {{names: [{ALARM}]}}\n"
            ));
        }
        // A third of all runs: production, or every stage, deploys only in windows.
        // Drawn apart, so that the other runs of a seed stay as they were.
        let mut draw = fastrand::Rng::with_seed(seed ^ 0x77_1d_0e);
        let windowed = match draw.u32(0..6) {
            0 => vec![&mut production],
            1 => vec![&mut staging, &mut production],
            _ => Vec::new(),
        };
        for stage in windowed {
            stage.push_str(&format!(
                "    windows: {{when: '{WINDOWS}', time_zone: Europe/Paris}}\n"
            ));
        }
        let definition = format!(
            "name: hello\napplication: hello\nsource: {{repository: hello-api}}\n\
             approval: {{emails: [approvers@example.com]}}\nstages:\n  - name: staging\n\
             {staging}  - name: production\n{production}"
        );
        let mut config = sluice_tests::world::config_of(&definition, &[]);
        fakes.deployer.set_alarm(ALARM, "OK", "quiet");
        if site {
            // What production served before Sluice.
            fakes
                .deployer
                .put_site_object(SITE, "index.html", "before", 6);
        }
        if filtered {
            config.paths = sluice_engine::paths::PathFilter::new(&["api/"], &["**/*.md"])
                .expect("valid patterns");
        }
        let engine = fakes.engine_of(
            config,
            SimObjects {
                inner: objects.clone(),
                faults: fakes.faults.clone(),
            },
            WaitPolicy {
                first: std::time::Duration::from_millis(10),
                max_interval: std::time::Duration::from_millis(50),
                budget: std::time::Duration::from_millis(200),
            },
        );
        Self {
            rng,
            hostile,
            engine,
            objects,
            builder: fakes.builder,
            deployer: fakes.deployer,
            notifier: fakes.notifier,
            commits: fakes.commits,
            faults: fakes.faults,
            clock: fakes.clock,
            pending: Vec::new(),
            stack_events: Vec::new(),
            pushed: 0,
            pushes: BTreeMap::new(),
            head: None,
            filtered,
            site,
            tested,
            relevant: BTreeMap::new(),
            last_relevant: None,
            handled_pushes: BTreeSet::new(),
            history: Vec::new(),
            finished_builds: BTreeSet::new(),
            used_links: BTreeSet::new(),
            decisions: Vec::new(),
            operator_calls: Vec::new(),
        }
    }

    pub(super) fn now(&self) -> Timestamp {
        *lock(&self.clock)
    }

    pub(super) fn advance(&self, by: Duration) {
        *lock(&self.clock) += by;
    }
}
