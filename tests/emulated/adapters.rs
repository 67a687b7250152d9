//! The AWS adapters that the pipeline tests replace or bypass, against the emulator.

use sluice_adapters::builder::{BuildOutcome, BuildRequest, Builder, CodeBuild};
use sluice_adapters::deployer::{
    ChangeSetSpec, ChangeSetState, CloudFormation, Deployer, Target, Template,
};
use sluice_tests::Emulator;
use sluice_tests::world::APP_TEMPLATE;

#[tokio::test]
async fn codebuild_starts_a_build_and_reports_how_it_went() {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let client = aws_sdk_codebuild::Client::new(&sdk);
    client
        .create_project()
        .name("hello-api-build")
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::Codecommit)
                .location("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/hello-api")
                .build()
                .expect("source"),
        )
        .artifacts(
            aws_sdk_codebuild::types::ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
                .build()
                .expect("artifacts"),
        )
        .environment(
            aws_sdk_codebuild::types::ProjectEnvironment::builder()
                .r#type(aws_sdk_codebuild::types::EnvironmentType::ArmContainer)
                .image("aws/codebuild/amazonlinux-aarch64-standard:3.0")
                .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
                .build()
                .expect("environment"),
        )
        .service_role("arn:aws:iam::000000000000:role/codebuild")
        .send()
        .await
        .expect("create project");
    let builder = CodeBuild::new(client);
    let request = BuildRequest {
        project: "hello-api-build".into(),
        source_version: "1".repeat(40),
        idempotency_token: "9999999999999-111111111111".into(),
        environment: vec![(
            "SLUICE_EXECUTION_ID".into(),
            "9999999999999-111111111111".into(),
        )],
        buildspec: None,
        upload: None,
        machine: None,
    };
    let started = builder.start_build(request).await.expect("start");
    assert!(started.id.starts_with("hello-api-build:"), "{}", started.id);
    let reports = builder
        .builds(vec![started.id.clone()])
        .await
        .expect("report");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].id, started.id);
    assert_ne!(
        reports[0].outcome,
        BuildOutcome::InProgress,
        "the emulator finishes builds at once"
    );
    assert!(builder.builds(Vec::new()).await.expect("no ids").is_empty());
}

#[tokio::test]
async fn cloudformation_through_an_assumed_role_creates_and_describes_change_sets() {
    let emulator = Emulator::start();
    let deployer = CloudFormation::new(&emulator.sdk_config().await);
    let target = Target {
        stack_name: "hello-staging",
        role_arn: Some("arn:aws:iam::000000000000:role/sluice-deployer"),
    };
    assert_eq!(deployer.stack(target).await.expect("describe"), None);
    let spec = ChangeSetSpec {
        change_set_name: "sluice-9999999999999-111111111111-staging".into(),
        template: Template::Body(APP_TEMPLATE.into()),
        parameters: [("StageName".to_owned(), "staging".to_owned())].into(),
        tags: [("app".to_owned(), "hello".to_owned())].into(),
        execution_role_arn: None,
        description: "test".into(),
    };
    deployer
        .create_change_set(target, &spec)
        .await
        .expect("create");
    // Creating it again (a retried delivery) is not an error.
    deployer
        .create_change_set(target, &spec)
        .await
        .expect("create again");
    let state = deployer
        .change_set(target, &spec.change_set_name)
        .await
        .expect("describe change set");
    match state {
        ChangeSetState::Ready { changes, .. } => {
            assert!(
                changes.iter().any(|c| c.logical_id == "HelloFunction"),
                "{changes:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        deployer
            .change_set(target, "no-such-change-set")
            .await
            .expect("describe"),
        ChangeSetState::Missing
    );
    deployer
        .delete_change_set(target, &spec.change_set_name)
        .await
        .expect("delete");
    deployer
        .delete_change_set(target, &spec.change_set_name)
        .await
        .expect("deleting twice is fine");
}

/// The bucket side of a site stage (issue 15): a site planned against what the bucket
/// serves, deployed in order from the build's pinned files; a failed upload stops the
/// deploy before the entry document and the deletions, so the old site keeps serving.
#[tokio::test]
async fn a_site_deploys_in_order_from_pinned_files_and_a_failure_leaves_the_old_one() {
    use sluice_adapters::site::{S3Site, SiteSource};
    use sluice_core::site::{FileAction, SiteFile, plan};
    use std::collections::HashMap;

    let emulator = Emulator::start();
    let s3 = emulator.s3().await;
    let artifacts = emulator.fresh_versioned_bucket().await;
    let website = emulator.fresh_bucket().await;
    let put = |bucket: String, key: &'static str, body: &'static str| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .expect("put")
                .version_id()
                .map(str::to_owned)
        }
    };
    let get = |key: &'static str| {
        let (s3, website) = (s3.clone(), website.clone());
        async move {
            let out = s3.get_object().bucket(website).key(key).send().await.ok()?;
            let (content_type, cache) = (
                out.content_type().map(str::to_owned),
                out.cache_control().map(str::to_owned),
            );
            let body = out.body.collect().await.ok()?.into_bytes();
            Some((
                String::from_utf8_lossy(&body).into_owned(),
                content_type,
                cache,
            ))
        }
    };
    for (key, body) in [
        ("index.html", "<p>old</p>"),
        ("style.css", "v1"),
        ("old.png", "png"),
    ] {
        put(website.clone(), key, body).await;
    }
    // The build's site; then someone overwrites a file after the build was pinned.
    let prefix = "artifacts/p/e1/site/";
    let mut versions = HashMap::new();
    for (path, key, body) in [
        ("index.html", "artifacts/p/e1/site/index.html", "<p>new</p>"),
        ("style.css", "artifacts/p/e1/site/style.css", "v2"),
        (
            "assets/app.3f9a2b1c.js",
            "artifacts/p/e1/site/assets/app.3f9a2b1c.js",
            "js",
        ),
    ] {
        versions.insert(path.to_owned(), put(artifacts.clone(), key, body).await);
    }
    let site = S3Site::new(s3.clone());
    let built = site.live_objects(&artifacts, prefix).await.expect("list");
    put(
        artifacts.clone(),
        "artifacts/p/e1/site/index.html",
        "<p>tampered</p>",
    )
    .await;

    let files: Vec<SiteFile> = built
        .iter()
        .map(|o| SiteFile {
            path: o.key.trim_start_matches(prefix).to_owned(),
            size: o.size,
            md5: o.etag.trim_matches('"').to_owned(),
            sha256: None,
        })
        .collect();
    let sources: HashMap<String, SiteSource> = built
        .iter()
        .map(|o| {
            let path = o.key.trim_start_matches(prefix).to_owned();
            let source = SiteSource {
                bucket: artifacts.clone(),
                key: o.key.clone(),
                version: versions.get(&path).cloned().flatten(),
                etag: o.etag.clone(),
                size: o.size,
            };
            (path, source)
        })
        .collect();
    let live = site.live_objects(&website, "").await.expect("list");
    let planned = plan(&files, &live, "", "index.html").expect("a plan");
    let changes: Vec<(&str, FileAction)> = planned
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.action))
        .collect();
    assert_eq!(
        changes,
        [
            ("assets/app.3f9a2b1c.js", FileAction::Add),
            ("index.html", FileAction::Change),
            ("old.png", FileAction::Remove),
            ("style.css", FileAction::Change),
        ]
    );

    // style.css cannot be copied: the deploy stops there.
    let mut broken = sources.clone();
    if let Some(s) = broken.get_mut("style.css") {
        s.key = "artifacts/p/e1/site/missing.css".into();
        s.version = None;
    }
    let failed = site
        .deploy(&website, &planned, &broken)
        .await
        .expect_err("a source is missing");
    assert_eq!(
        (failed.step.as_str(), failed.uploaded, failed.deleted),
        ("upload of style.css", 1, 0),
        "{failed}"
    );
    assert_eq!(
        get("index.html").await.map(|g| g.0).as_deref(),
        Some("<p>old</p>")
    );
    assert!(get("old.png").await.is_some(), "nothing deleted");

    let done = site
        .deploy(&website, &planned, &sources)
        .await
        .expect("deploy");
    assert_eq!((done.uploaded.len(), done.deleted), (3, 1));
    // The ETag each copy's answer gives is the one a listing shows: what the site's
    // record keeps to know the file by its content later.
    let listed = site.live_objects(&website, "").await.expect("list");
    for (key, etag) in &done.uploaded {
        let shown = listed
            .iter()
            .find(|o| &o.key == key)
            .map(|o| o.etag.as_str());
        assert_eq!(shown, Some(etag.as_str()), "{key}");
    }
    let (index, content_type, cache) = get("index.html").await.expect("index");
    assert_eq!(
        index, "<p>new</p>",
        "the pinned version, not the tampered one"
    );
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(cache.as_deref(), Some("no-cache"));
    let (_, _, cache) = get("assets/app.3f9a2b1c.js").await.expect("asset");
    assert_eq!(
        cache.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(get("old.png").await.is_none(), "the removed file is gone");
    let live = site.live_objects(&website, "").await.expect("list");
    assert!(
        plan(&files, &live, "", "index.html")
            .expect("a plan")
            .is_empty(),
        "deployed again, the same site changes nothing"
    );
}

/// A site stage's distribution: the deployer asks CloudFront to clear the changed
/// paths, and asking again with the same reference is the same invalidation.
#[tokio::test]
async fn the_deployer_clears_a_distributions_caches_once_per_deploy() {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig,
        ViewerProtocolPolicy,
    };
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);
    let origin = Origin::builder()
        .id("site")
        .domain_name("hello-web-production.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .expect("origin");
    let config = DistributionConfig::builder()
        .caller_reference("hello-web-production")
        .comment("hello-web")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .expect("cache behavior"),
        )
        .build()
        .expect("distribution config");
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("a distribution");
    let id = created
        .distribution()
        .map(|d| d.id().to_owned())
        .expect("its id");

    let deployer = CloudFormation::new(&sdk);
    let paths = vec!["/".to_owned(), "/index.html".to_owned()];
    let first = deployer
        .invalidate(None, &id, &paths, "8204484184946-0f090c0a28ae-production-0")
        .await
        .expect("an invalidation");
    assert!(!first.is_empty());
    let listed = cloudfront
        .list_invalidations()
        .distribution_id(&id)
        .send()
        .await
        .expect("invalidations");
    let items = listed
        .invalidation_list()
        .map(|l| l.items())
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{items:?}");
    let got = cloudfront
        .get_invalidation()
        .distribution_id(&id)
        .id(&first)
        .send()
        .await
        .expect("the invalidation");
    let asked = got
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .and_then(|b| b.paths())
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    assert_eq!(asked, paths);

    let unknown = deployer
        .invalidate(None, "ENOSUCHDIST", &paths, "another")
        .await
        .expect_err("no such distribution");
    assert!(!unknown.retryable, "{unknown}");
}
