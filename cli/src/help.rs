//! `sluice --help` as a person scans it: the commands in groups, one line each, then
//! the environment the commands read and a few examples. Each command's own help
//! (its summary, details and examples) lives with the command.

use std::fmt::Write;

/// The groups of `sluice --help`, in order, each with its commands in order. A
/// command in none of them is listed under "More", so none is ever hidden.
const GROUPS: &[(&str, &[&str])] = &[
    ("Try it locally", &["local", "demo"]),
    (
        "See",
        &[
            "status", "show", "watch", "logs", "metrics", "report", "verify",
        ],
    ),
    ("Decide", &["approve", "reject", "resend"]),
    (
        "Operate",
        &["release", "retry", "cancel", "rollback", "note"],
    ),
    ("Set up", &["definition", "doctor", "completions"]),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SLUICE_PIPELINE",
        "The pipeline, as --pipeline: the name of its Sluice stack (default: sluice)",
    ),
    (
        "SLUICE_BUCKET",
        "The bucket of its state, as --bucket: the stack's ArtifactBucketName output",
    ),
    (
        "AWS_PROFILE",
        "The AWS CLI profile to sign in with (`aws sso login --profile NAME`)",
    ),
    (
        "AWS_REGION",
        "The Sluice stack's region, if the profile has none",
    ),
    (
        "AWS_ENDPOINT_URL",
        "One endpoint for every AWS service, such as the emulator's for sluice local",
    ),
];

const EXAMPLES: &[&str] = &[
    "sluice status",
    "sluice watch",
    "sluice approve 8203300362271-0123456789ab --comment \"change set checked\"",
];

/// `sluice local`'s help, kept here while local mode's owners change its file.
pub mod local {
    pub const ABOUT: &str = "Run the whole pipeline on this machine until Ctrl-C";
    pub const LONG_ABOUT: &str = "\
Run the whole pipeline on this machine until Ctrl-C

The emulator, Sluice's functions deployed into it, a local CodeCommit and a local \
CodeBuild: push to the local repository it names and watch the pipeline deliver, with \
`sluice status` and `sluice watch` in another terminal. Run it from the Sluice \
checkout. A pipeline is described by --definition, or by the flags that describe one \
(--stages, --approval and those after them).";
    pub const EXAMPLES: &str = "\
Examples:
  $ sluice local
  $ sluice local --app examples/hello-api
  $ sluice local --app path/to/app --definition path/to/app/sluice.yaml";
}

/// `command` with its subcommands listed in groups, its environment and examples
/// after them; each subcommand's help as [`one_help`] makes it.
pub fn grouped(command: clap::Command) -> clap::Command {
    let header = command.get_styles().get_header().to_owned();
    let heading = |text: &str| format!("{}{text}:{}", header.render(), header.render_reset());
    let listed: Vec<(String, String)> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_owned(), about)
        })
        .collect();
    let width = listed.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut commands = String::new();
    let mut more: Vec<&(String, String)> = listed
        .iter()
        .filter(|(n, _)| !GROUPS.iter().any(|(_, g)| g.contains(&n.as_str())))
        .collect();
    let groups = GROUPS.iter().map(|(title, names)| {
        let members: Vec<&(String, String)> = names
            .iter()
            .filter_map(|n| listed.iter().find(|(l, _)| l == n))
            .collect();
        (*title, members)
    });
    for (title, members) in groups.chain([("More", std::mem::take(&mut more))]) {
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(commands, "{}", heading(title));
        for (name, about) in members {
            let _ = writeln!(commands, "  {name:<width$}  {about}");
        }
        commands.push('\n');
    }
    let width = ENVIRONMENT.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut after = format!("{}\n", heading("Environment"));
    for (name, what) in ENVIRONMENT {
        let _ = writeln!(after, "  {name:<width$}  {what}");
    }
    let _ = writeln!(after, "\n{}", heading("Examples"));
    for example in EXAMPLES {
        let _ = writeln!(after, "  $ {example}");
    }
    let _ = write!(
        after,
        "\nRun `sluice COMMAND --help` for a command's details and examples."
    );
    let template = format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{commands}{}\n{{options}}{{after-help}}",
        heading("Options")
    );
    let mut command = command.help_template(template).after_help(after);
    let names: Vec<String> = listed.into_iter().map(|(n, _)| n).collect();
    for name in names {
        command = command.mut_subcommand(name, one_help);
    }
    command
}

/// A command's help, and its subcommands': its summary, then its details (the doc
/// comment's other paragraphs) before its usage, in one help for -h and --help alike,
/// its arguments one a line; its "Examples:" heading styled as clap styles "Usage:".
fn one_help(mut command: clap::Command) -> clap::Command {
    if let Some(long) = command.get_long_about().map(|a| a.to_string()) {
        command = command.long_about(None::<&str>);
        if let Some((_, details)) = long.split_once("\n\n") {
            command = command.before_help(details.to_owned());
        }
    }
    command = command.help_template(
        "{about-with-newline}\n{before-help}{usage-heading} {usage}\n\n{all-args}{after-help}",
    );
    let header = command.get_styles().get_header().to_owned();
    if let Some(after) = command.get_after_help().map(|a| a.to_string())
        && let Some(rest) = after.strip_prefix("Examples:")
    {
        let styled = format!(
            "{}Examples:{}{rest}",
            header.render(),
            header.render_reset()
        );
        command = command.after_help(styled);
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, one_help);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_in_one_group_and_every_group_names_commands() {
        let command = crate::command_line();
        let names: Vec<&str> = command
            .get_subcommands()
            .map(|c| c.get_name())
            .filter(|n| *n != "help")
            .collect();
        let grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, g)| g.iter().copied()).collect();
        for name in &names {
            let times = grouped.iter().filter(|g| *g == name).count();
            assert_eq!(times, 1, "{name} is in {times} groups");
        }
        for name in grouped {
            // Local mode's commands exist only with the `local` feature.
            let optional = ["local", "demo"].contains(&name) && !cfg!(feature = "local");
            assert!(names.contains(&name) || optional, "no command {name}");
        }
    }
}
