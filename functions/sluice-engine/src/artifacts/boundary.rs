//! The stage's permissions boundary on every IAM role and user a template creates.
//! Sluice puts it there when it pins the build, so an application needs no line for
//! it: each place that gives an identity its boundary and gives none gets
//! `PermissionsBoundary: {Ref: PermissionsBoundary}`, and the template the parameter,
//! which every change set fills in with its stage's boundary. The pinned template is
//! the one every stage deploys; only the parameter's value differs between stages.

use serde_yaml_ng::{Mapping, Value as Yaml};
use sluice_core::StageName;

use super::{ArtifactError, template, unusable};

/// The template parameter that carries the stage's permissions boundary: declared
/// by the application or, where it does not, by Sluice in the pinned template.
pub const BOUNDARY_PARAMETER: &str = "PermissionsBoundary";
/// The property that gives an identity its boundary, in CloudFormation and in SAM.
const PROPERTY: &str = "PermissionsBoundary";

/// SAM's state machine events that make a role under the state machine's boundary,
/// even when the state machine has a role of its own.
const STATE_MACHINE_EVENTS_WITH_ROLES: &[&str] =
    &["Schedule", "CloudWatchEvent", "EventBridgeRule", "Api"];

/// A place in the template that gives one or more IAM roles or users their boundary.
struct Site {
    /// What it is, for people: `Worker (AWS::IAM::Role)`.
    what: String,
    /// The keys from the template's root to the mapping that holds the property.
    path: Vec<String>,
}

impl Site {
    fn value<'t>(&self, template: &'t Yaml) -> Option<&'t Yaml> {
        let mut at = template;
        for key in &self.path {
            at = at.get(key.as_str())?;
        }
        at.get(PROPERTY).filter(|v| !v.is_null())
    }
}

/// Every place in `template` that gives an IAM role or user its boundary: a role or
/// user; a SAM function without a `Role` (or SAM's `Globals: Function:`, where the
/// function gives none itself); a SAM state machine without a `Role`, or with events
/// whose roles SAM makes under its boundary; a `ScheduleV2` event without a `RoleArn`.
/// SAM documents no boundary for the roles it makes for a `DeploymentPreference`,
/// an `AWS::Serverless::GraphQLApi` or a `CapacityProvider`: those roles the stage
/// cannot create, and CloudFormation says so when it tries.
fn sites(template: &Yaml) -> Vec<Site> {
    let Some(resources) = template.get("Resources").and_then(Yaml::as_mapping) else {
        return Vec::new();
    };
    let globals = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get(PROPERTY))
        .is_some_and(|v| !v.is_null());
    let mut found = Vec::new();
    let mut from_globals = false;
    for (id, resource) in resources {
        let Some(id) = id.as_str() else { continue };
        let kind = resource
            .get("Type")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        let properties = resource.get("Properties");
        let has = |name: &str| properties.and_then(|p| p.get(name)).is_some();
        let events = properties
            .and_then(|p| p.get("Events"))
            .and_then(Yaml::as_mapping);
        let event_kinds = || {
            events
                .into_iter()
                .flatten()
                .filter_map(|(_, e)| e.get("Type").and_then(Yaml::as_str))
        };
        let own = match kind {
            "AWS::IAM::Role" | "AWS::IAM::User" => true,
            "AWS::Serverless::Function" if !has("Role") => {
                let inherits = globals && properties.and_then(|p| p.get(PROPERTY)).is_none();
                from_globals |= inherits;
                !inherits
            }
            "AWS::Serverless::StateMachine" => {
                !has("Role") || event_kinds().any(|k| STATE_MACHINE_EVENTS_WITH_ROLES.contains(&k))
            }
            _ => false,
        };
        if own {
            found.push(Site {
                what: format!("{id} ({kind})"),
                path: vec!["Resources".into(), id.into(), "Properties".into()],
            });
        }
        if !matches!(
            kind,
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine"
        ) {
            continue;
        }
        for (event, body) in events.into_iter().flatten() {
            let Some(event) = event.as_str() else {
                continue;
            };
            let schedule = body.get("Type").and_then(Yaml::as_str) == Some("ScheduleV2");
            if schedule
                && body
                    .get("Properties")
                    .and_then(|p| p.get("RoleArn"))
                    .is_none()
            {
                found.push(Site {
                    what: format!("{event}, a ScheduleV2 event of {id}"),
                    path: ["Resources", id, "Properties", "Events", event, "Properties"]
                        .map(String::from)
                        .to_vec(),
                });
            }
        }
    }
    if from_globals {
        found.push(Site {
            what: "Globals: Function:".into(),
            path: vec!["Globals".into(), "Function".into()],
        });
    }
    found
}

/// What a place gives as its boundary.
enum Given {
    Nothing,
    /// The parameter, or the one boundary every stage has.
    TheStages,
    /// Something else, described for people.
    Other(String),
}

fn given(value: Option<&Yaml>, boundaries: &[&str]) -> Given {
    match value {
        None => Given::Nothing,
        Some(v) if refers_to_parameter(v) => Given::TheStages,
        Some(Yaml::String(arn)) if boundaries.iter().all(|b| b == arn) => Given::TheStages,
        Some(Yaml::String(arn)) => Given::Other(arn.clone()),
        Some(_) => Given::Other("a value an intrinsic function computes".into()),
    }
}

/// Whether `value` refers to the boundary parameter anywhere: `!Ref`, `Ref:`, or a
/// `!Sub` that names it (as `!If [HasBoundary, !Ref PermissionsBoundary, ...]` does).
/// What it evaluates to is the execution role's to check: it creates identities
/// under its stage's boundary only.
fn refers_to_parameter(value: &Yaml) -> bool {
    let names = |v: &Yaml| v.as_str() == Some(BOUNDARY_PARAMETER);
    let subs = |v: &Yaml| {
        let text = match v {
            Yaml::Sequence(items) => items.first(),
            other => Some(other),
        };
        text.and_then(Yaml::as_str)
            .is_some_and(|t| t.contains(&format!("${{{BOUNDARY_PARAMETER}}}")))
    };
    match value {
        Yaml::Tagged(t) if t.tag == "Ref" && names(&t.value) => true,
        Yaml::Tagged(t) if t.tag == "Sub" && subs(&t.value) => true,
        Yaml::Tagged(t) => refers_to_parameter(&t.value),
        Yaml::Mapping(m) => {
            m.get("Ref").is_some_and(names)
                || m.get("Fn::Sub").is_some_and(subs)
                || m.values().any(refers_to_parameter)
        }
        Yaml::Sequence(items) => items.iter().any(refers_to_parameter),
        _ => false,
    }
}

fn declared(template: &Yaml) -> bool {
    template
        .get("Parameters")
        .is_some_and(|p| p.get(BOUNDARY_PARAMETER).is_some())
}

/// Puts the stages' permissions boundary on every IAM role and user `template`
/// creates without one, and declares the parameter that carries it; whether the
/// template changed. `stages` are the stages that deploy it, with their boundaries.
/// Refused: a boundary the template gives that is not the stage's (a literal ARN
/// of another policy, or a value computed some other way), which the stage's
/// execution role would refuse half-way through the deploy; and stages of which some
/// have a boundary and some none, which one template cannot serve.
pub(super) fn put_boundary(
    template: &mut Yaml,
    stages: &[(&StageName, Option<&str>)],
) -> Result<bool, String> {
    let sites = sites(template);
    let boundaries: Vec<&str> = stages.iter().filter_map(|(_, b)| *b).collect();
    // No stage has one (only tests configure stages so): nothing to put.
    if sites.is_empty() || boundaries.is_empty() {
        return Ok(false);
    }
    if let Some((without, _)) = stages.iter().find(|(_, b)| b.is_none()) {
        return Err(format!(
            "the template creates IAM roles or users ({}), and the {without} stage has no \
             permissions boundary while others have one; every stage deploys the same \
             template, so give every stage a boundary (SLUICE_STAGE_BOUNDARY_PREFIX)",
            whats(&sites)
        ));
    }
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for site in sites {
        match given(site.value(template), &boundaries) {
            Given::Nothing => missing.push(site),
            Given::TheStages => {}
            Given::Other(what) => wrong.push(format!("{} gives {what}", site.what)),
        }
    }
    if !wrong.is_empty() {
        let theirs: Vec<String> = stages
            .iter()
            .map(|(stage, b)| format!("the {stage} stage's is {}", b.unwrap_or_default()))
            .collect();
        return Err(format!(
            "the template gives IAM roles or users a permissions boundary other than their \
             stage's: {}. Sluice puts each stage's own boundary on every IAM role and user \
             the template creates ({}), and the stage creates them under no other: remove \
             these PermissionsBoundary lines, or write `PermissionsBoundary: !Ref \
             {BOUNDARY_PARAMETER}`, the parameter Sluice fills in",
            wrong.join("; "),
            theirs.join(", ")
        ));
    }
    if missing.is_empty() {
        return Ok(false);
    }
    if !declared(template) {
        declare(template)?;
    }
    for site in missing {
        let holder = holder_mut(template, &site.path).ok_or_else(|| {
            format!(
                "{} cannot be given the stage's permissions boundary: its {} is not a \
                 mapping",
                site.what,
                site.path.last().map(String::as_str).unwrap_or_default()
            )
        })?;
        let mut reference = Mapping::new();
        reference.insert("Ref".into(), BOUNDARY_PARAMETER.into());
        holder.insert(PROPERTY.into(), Yaml::Mapping(reference));
    }
    Ok(true)
}

fn whats(sites: &[Site]) -> String {
    let whats: Vec<&str> = sites.iter().map(|s| s.what.as_str()).collect();
    whats.join(", ")
}

/// The mapping at `path`, made where the template has nothing there yet.
fn holder_mut<'t>(template: &'t mut Yaml, path: &[String]) -> Option<&'t mut Mapping> {
    let mut at = template;
    for key in path {
        let mapping = at.as_mapping_mut()?;
        if mapping.get(key.as_str()).is_none_or(Yaml::is_null) {
            mapping.insert(key.as_str().into(), Yaml::Mapping(Mapping::new()));
        }
        at = mapping.get_mut(key.as_str())?;
    }
    at.as_mapping_mut()
}

/// Declares the boundary parameter, before the sections that use parameters.
fn declare(template: &mut Yaml) -> Result<(), String> {
    let clash = template
        .get("Resources")
        .is_some_and(|r| r.get(BOUNDARY_PARAMETER).is_some());
    if clash {
        return Err(format!(
            "the template has a resource named {BOUNDARY_PARAMETER}, the name of the \
             parameter through which Sluice gives its IAM roles and users the stage's \
             permissions boundary; rename the resource"
        ));
    }
    let mut parameter = Mapping::new();
    parameter.insert("Type".into(), "String".into());
    parameter.insert(
        "Description".into(),
        "The stage's permissions boundary, on every IAM role and user of the template; \
         put there and filled in by Sluice."
            .into(),
    );
    let Some(root) = template.as_mapping_mut() else {
        return Err("the template is not a mapping of sections".into());
    };
    if let Some(parameters) = root.get_mut("Parameters") {
        let Some(parameters) = parameters.as_mapping_mut() else {
            return Err("the template's Parameters is not a mapping".into());
        };
        parameters.insert(BOUNDARY_PARAMETER.into(), Yaml::Mapping(parameter));
        return Ok(());
    }
    let mut parameters = Mapping::new();
    parameters.insert(BOUNDARY_PARAMETER.into(), Yaml::Mapping(parameter));
    const AFTER: &[&str] = &[
        "Rules",
        "Mappings",
        "Conditions",
        "Globals",
        "Resources",
        "Outputs",
    ];
    let mut sections = Mapping::new();
    let mut parameters = Some(Yaml::Mapping(parameters));
    for (key, value) in std::mem::take(root) {
        if key.as_str().is_some_and(|k| AFTER.contains(&k))
            && let Some(p) = parameters.take()
        {
            sections.insert("Parameters".into(), p);
        }
        sections.insert(key, value);
    }
    if let Some(p) = parameters {
        sections.insert("Parameters".into(), p);
    }
    *root = sections;
    Ok(())
}

/// The parameter that hands the stage's `boundary` to the pinned `template`:
/// `None` where the stage has none, or the template needs none. A template that
/// creates IAM identities without it (a release pinned before Sluice put the
/// boundary in) could not be deployed: the execution role creates identities only
/// under the boundary, so it is refused here.
pub(super) fn boundary_parameter(
    template: &str,
    stage: &StageName,
    boundary: Option<&str>,
) -> Result<Option<(String, String)>, ArtifactError> {
    let Some(boundary) = boundary else {
        return Ok(None);
    };
    let (parsed, _) = template::parse(template)
        .map_err(|why| unusable(format!("the release's template {why}")))?;
    if declared(&parsed) {
        return Ok(Some((BOUNDARY_PARAMETER.to_owned(), boundary.to_owned())));
    }
    let without: Vec<Site> = sites(&parsed)
        .into_iter()
        .filter(|s| !matches!(given(s.value(&parsed), &[boundary]), Given::TheStages))
        .collect();
    if without.is_empty() {
        return Ok(None);
    }
    Err(unusable(format!(
        "the release's template creates IAM roles or users ({}) without the {stage} \
         stage's permissions boundary, which the stage creates them under: it was pinned \
         before Sluice put the boundary in. Push again to build it anew",
        whats(&without)
    )))
}
