//! The IAM roles and users a template creates, named under their stage's stack (the
//! boundary they are created under is `boundary.rs`'s).

use serde_yaml_ng::Value as Yaml;

/// An IAM role or user a template creates: a role or user resource, or a SAM
/// function or state machine without a role of its own (SAM makes it, `<id>Role`).
struct Identity<'a> {
    id: &'a str,
    kind: &'a str,
    /// The logical id CloudFormation names it after.
    generated: String,
    /// The name the template gives it, if any, and the property that gives it.
    named: Option<&'a Yaml>,
    name_property: &'static str,
    /// The property that would put it under a path, and its value.
    path_property: &'static str,
    path: Option<&'a Yaml>,
}

/// The IAM identities `template` creates.
fn identities(template: &Yaml) -> Vec<Identity<'_>> {
    let Some(resources) = template.get("Resources").and_then(Yaml::as_mapping) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (id, resource) in resources {
        let Some(id) = id.as_str() else { continue };
        let kind = resource
            .get("Type")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        let property = |name: &str| resource.get("Properties").and_then(|p| p.get(name));
        let (generated, named, name_property, path_property) = match kind {
            "AWS::IAM::Role" => (id.to_owned(), property("RoleName"), "RoleName", "Path"),
            "AWS::IAM::User" => (id.to_owned(), property("UserName"), "UserName", "Path"),
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine"
                if property("Role").is_none() =>
            {
                (format!("{id}Role"), None, "Role", "RolePath")
            }
            _ => continue,
        };
        found.push(Identity {
            id,
            kind,
            generated,
            named,
            name_property,
            path_property,
            path: property(path_property),
        });
    }
    found
}

/// IAM's longest role or user name.
const IAM_NAME_MAX: usize = 64;
/// The random part CloudFormation appends to a name it generates, with its '-'.
const GENERATED_SUFFIX: usize = 14;

/// Refuses a template whose IAM roles or users would not be named under each stage's
/// stack (`<application>-<stage>-`), the only names a stage's role may create. An
/// unnamed one is named `<stack>-<logical id>-<random>` by CloudFormation, which
/// shortens a name over IAM's 64 characters and may cut the stack's part (what it
/// keeps is not documented, so any name that needs shortening is refused); SAM names
/// a function's or state machine's own role after it, `<id>Role`. A name the
/// template gives must start with the stack's: literally, or `${AWS::StackName}-`.
pub(super) fn identity_names_fit(template: &Yaml, stacks: &[&str]) -> Result<(), String> {
    let mut wrong = Vec::new();
    let global_path = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("RolePath"));
    if global_path.is_some_and(|p| p.as_str() != Some("/")) {
        wrong.push(
            "Globals: Function: RolePath puts the functions' roles under a path; the stage \
             creates IAM identities at the root path only, so leave out RolePath"
                .to_owned(),
        );
    }
    for identity in identities(template) {
        let Identity {
            id,
            kind,
            generated,
            named,
            name_property,
            path_property: path,
            path: path_value,
        } = identity;
        // The stage may create identities at the root path only (its policy names
        // `role/<application>-<stage>-*`): one under a path would be refused.
        if let Some(p) = path_value.filter(|p| p.as_str() != Some("/")) {
            let shown = p.as_str().unwrap_or("an intrinsic function");
            wrong.push(format!(
                "{id} ({kind}): its {path} is {shown}; the stage creates IAM identities at the \
                 root path only, so leave out {path}"
            ));
        }
        for stack in stacks {
            let prefix = format!("{stack}-");
            match named {
                None => {
                    let length = prefix.len() + generated.len() + GENERATED_SUFFIX;
                    if length > IAM_NAME_MAX {
                        let fix = if name_property == "Role" {
                            "give it a Role of its own (an AWS::IAM::Role with \
                             `RoleName: !Sub ${AWS::StackName}-<short>`)"
                                .to_owned()
                        } else {
                            format!("give it `{name_property}: !Sub ${{AWS::StackName}}-<short>`")
                        };
                        wrong.push(format!(
                            "{id} ({kind}): in {stack}, CloudFormation would name its IAM \
                             identity {prefix}{generated}-<13 random>, {length} characters, over \
                             IAM's {IAM_NAME_MAX}; shortened, it may lose the {prefix} prefix \
                             the stage may create identities under. Use a shorter logical id, \
                             or {fix} (RoleName or UserName keeps the prefix)"
                        ));
                    }
                }
                Some(name) => {
                    // (`as_str` would read through a `!Sub` tag: the intrinsic first.)
                    let fits = match (sub_text(name), name) {
                        (Some(text), _) => {
                            text.starts_with("${AWS::StackName}-") || text.starts_with(&prefix)
                        }
                        (None, Yaml::String(literal)) => literal.starts_with(&prefix),
                        // Another intrinsic: its value is not known before the deploy.
                        (None, _) => true,
                    };
                    if !fits {
                        wrong.push(format!(
                            "{id} ({kind}): its {name_property} must start with {prefix}, the \
                             only names the stage may create identities under; write \
                             `{name_property}: !Sub ${{AWS::StackName}}-<name>`"
                        ));
                    }
                }
            }
        }
    }
    wrong.dedup();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the template's IAM identities would not be named under their stage's stack: {}",
        wrong.join("; ")
    ))
}

/// The text of a `!Sub` / `Fn::Sub` (its first form or the string of its list form);
/// `None` for any other value, whose name cannot be known before the deploy.
fn sub_text(value: &Yaml) -> Option<&str> {
    let inner = match value {
        Yaml::Tagged(tagged) if tagged.tag == "Sub" => &tagged.value,
        Yaml::Mapping(m) => m.get("Fn::Sub")?,
        _ => return None,
    };
    match inner {
        Yaml::String(s) => Some(s),
        Yaml::Sequence(items) => items.first()?.as_str(),
        _ => None,
    }
}
