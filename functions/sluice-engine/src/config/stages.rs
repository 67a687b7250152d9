//! The pipeline's stages, in order, read from `SLUICE_STAGES` and the variables beside it.

use sluice_core::site::SiteTarget;
use sluice_core::{ConfigError, StageConfig};

use super::{ConfigProblem, account_ids, list};

/// The stages in order, from the template's stage parameters:
///
/// - `SLUICE_STAGES`: the names, in order; stage `s` deploys stack `<application>-<s>`.
/// - `SLUICE_APPROVAL_STAGES`: the names of the stages that wait for approval.
/// - `SLUICE_SELF_APPROVAL_STAGES`: those of them where whoever started an execution
///   may approve it with their own identity (none by default).
/// - `SLUICE_REMOTE_STAGES` and `SLUICE_REMOTE_ACCOUNTS`: stages in other accounts and,
///   in the same order, their accounts, where `templates/deploy-target.yaml` created
///   the roles (`role/sluice/<stack>-sluice-deploy`, `…-sluice-execution`) and the
///   boundary (`policy/sluice/<stack>-boundary`).
/// - `SLUICE_STAGE_ROLE_PREFIX` and `SLUICE_STAGE_BOUNDARY_PREFIX`: the ARNs, up to the
///   stage's name, of the execution roles and boundaries the Sluice stack creates for
///   its stages in this account (`<prefix><stage>-execution`, `<prefix><stage>-boundary`).
///   Without them a stage deploys with the deploying function's own permissions, which
///   only the tests do.
/// - `SLUICE_SITE_STAGES`: the stages that deploy a static website instead of a stack,
///   to `SLUICE_SITE_BUCKET` (a bucket name, or `<stack>:<Output>`; `*` stands for the
///   stage), the files of the artifact's `SLUICE_SITE_FOLDER` (default `site`), entry
///   document `SLUICE_SITE_ENTRY_DOCUMENT` (default `index.html`), clearing the caches
///   of CloudFront distribution `SLUICE_SITE_DISTRIBUTION` (an id, or `<stack>:<Output>`)
///   after each deploy, if set.
pub(super) fn stages(
    get: &impl Fn(&str) -> Option<String>,
    application: &str,
    names: &str,
) -> Result<Vec<StageConfig>, ConfigProblem> {
    let optional = |name: &str| get(name).unwrap_or_default();
    let names = list(names);
    let approval = optional("SLUICE_APPROVAL_STAGES");
    let approval = list(&approval);
    let remote_stages = optional("SLUICE_REMOTE_STAGES");
    let remote_stages = list(&remote_stages);
    let remote_accounts = optional("SLUICE_REMOTE_ACCOUNTS");
    let remote_accounts = account_ids("SLUICE_REMOTE_ACCOUNTS", &remote_accounts)?;
    // The names first, so that a bad one is reported as itself.
    if names.is_empty() {
        return Err(ConfigProblem::Pipeline(ConfigError::NoStages));
    }
    for (i, name) in names.iter().enumerate() {
        StageConfig::new(name, &format!("{application}-{name}"), None, false)
            .map_err(ConfigProblem::Pipeline)?;
        if names[..i].contains(name) {
            return Err(ConfigProblem::Pipeline(ConfigError::DuplicateStage(
                (*name).to_owned(),
            )));
        }
    }
    let unknown = |variable: &'static str, listed: &[&str]| match listed
        .iter()
        .find(|s| !names.contains(s))
    {
        Some(stage) => Err(ConfigProblem::Invalid {
            name: variable,
            reason: format!(
                "{stage:?} is not one of the stages ({}); list only stages of SLUICE_STAGES",
                names.join(", ")
            ),
        }),
        None => Ok(()),
    };
    unknown("SLUICE_APPROVAL_STAGES", &approval)?;
    unknown("SLUICE_REMOTE_STAGES", &remote_stages)?;
    let self_approval = optional("SLUICE_SELF_APPROVAL_STAGES");
    let self_approval = list(&self_approval);
    unknown("SLUICE_SELF_APPROVAL_STAGES", &self_approval)?;
    if let Some(stage) = self_approval.iter().find(|s| !approval.contains(s)) {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_SELF_APPROVAL_STAGES",
            reason: format!(
                "{stage:?} waits for no approval (SLUICE_APPROVAL_STAGES), so no one approves \
                 there, themselves or not; list only stages that wait for approval"
            ),
        });
    }
    let site_stages = optional("SLUICE_SITE_STAGES");
    let site_stages = list(&site_stages);
    unknown("SLUICE_SITE_STAGES", &site_stages)?;
    let site_bucket = optional("SLUICE_SITE_BUCKET");
    if !site_stages.is_empty() && site_bucket.trim().is_empty() {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_SITE_BUCKET",
            reason: format!(
                "the site stages ({}) need a bucket: a name such as hello-web-*, or a stack's \
                 output such as hello-api-*:WebsiteBucket ('*' stands for the stage)",
                site_stages.join(", ")
            ),
        });
    }
    let site_folder = get("SLUICE_SITE_FOLDER")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "site".to_owned());
    let site_distribution = optional("SLUICE_SITE_DISTRIBUTION");
    let site_entry = get("SLUICE_SITE_ENTRY_DOCUMENT")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "index.html".to_owned());
    if let Some((_, twice)) = remote_stages
        .iter()
        .enumerate()
        .find(|(i, s)| remote_stages[..*i].contains(s))
    {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_REMOTE_STAGES",
            reason: format!("{twice:?} is listed twice; a stage is in one account"),
        });
    }
    if remote_stages.len() != remote_accounts.len() {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_REMOTE_ACCOUNTS",
            reason: format!(
                "{} accounts for {} remote stages ({}); give one account ID per remote stage, in the same order",
                remote_accounts.len(),
                remote_stages.len(),
                remote_stages.join(", ")
            ),
        });
    }
    let role_prefix = optional("SLUICE_STAGE_ROLE_PREFIX");
    let boundary_prefix = optional("SLUICE_STAGE_BOUNDARY_PREFIX");
    // The partition of this deployment, which the remote stages share.
    let partition = role_prefix
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    let mut stages = Vec::new();
    for name in &names {
        let stack = format!("{application}-{name}");
        let remote = remote_stages
            .iter()
            .position(|s| s == name)
            .map(|i| remote_accounts[i]);
        let deploy_role = remote.map(|account| {
            format!("arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-deploy")
        });
        let mut stage = StageConfig::new(
            name,
            &stack,
            deploy_role.as_deref(),
            approval.contains(name),
        )
        .map_err(ConfigProblem::Pipeline)?;
        stage.self_approval = self_approval.contains(name);
        let (execution_role, boundary) = match remote {
            Some(account) => (
                Some(format!(
                    "arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-execution"
                )),
                Some(format!(
                    "arn:{partition}:iam::{account}:policy/sluice/{stack}-boundary"
                )),
            ),
            None => (
                (!role_prefix.is_empty()).then(|| format!("{role_prefix}{name}-execution")),
                (!boundary_prefix.is_empty()).then(|| format!("{boundary_prefix}{name}-boundary")),
            ),
        };
        if let Some(role) = execution_role {
            stage = stage
                .with_execution_role(&role)
                .map_err(ConfigProblem::Pipeline)?;
        }
        if let Some(boundary) = boundary {
            stage = stage
                .with_boundary(&boundary)
                .map_err(ConfigProblem::Pipeline)?;
        }
        if site_stages.contains(name) {
            let mut site =
                SiteTarget::for_stage(&stage.name, &site_bucket, &site_folder, &site_entry)
                    .map_err(|e| ConfigProblem::Pipeline(e.into()))?;
            if !site_distribution.trim().is_empty() {
                site = site
                    .with_distribution(&stage.name, &site_distribution)
                    .map_err(|e| ConfigProblem::Pipeline(e.into()))?;
            }
            stage = stage.with_site(site);
        }
        stages.push(stage);
    }
    Ok(stages)
}
