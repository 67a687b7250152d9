//! How a build's commands run: in one shell session across the build (buildspec 0.2)
//! or each in a shell of its own (0.1), as CodeBuild runs them; and what a failed
//! command's output tells the person reading the log.
//! <https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-cmd.html>

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, anyhow};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::buildspec::Version;

use super::runner::Log;
use super::{Builds, lock};

/// The exit status a command gets when its build was stopped before it ran.
pub(super) const STOPPED_EXIT: i32 = 143;

/// Where a build's commands keep what carries from one to the next.
pub(super) enum Shell<'a> {
    /// Version 0.2: one shell session. Each command is its own `bash`, so the state a
    /// session would keep (its exports, its working directory) is saved after each
    /// command and restored before the next.
    Session {
        env_file: &'a Path,
        dir_file: &'a Path,
    },
    /// Version 0.1: each command starts afresh, from the source directory, with the
    /// build's environment and nothing a command before it changed.
    Own { dir: &'a Path },
}

impl<'a> Shell<'a> {
    /// The shell `version` runs commands in; `src` is where each starts.
    pub(super) fn of(
        version: Version,
        src: &'a Path,
        env_file: &'a Path,
        dir_file: &'a Path,
    ) -> Self {
        match version {
            Version::V0_1 => Self::Own { dir: src },
            Version::V0_2 => Self::Session { env_file, dir_file },
        }
    }

    /// The `bash -c` script that runs `command` in this shell.
    pub(super) fn script(&self, command: &str, succeeding: bool) -> String {
        let succeeding = u8::from(succeeding);
        match self {
            Self::Session { env_file, dir_file } => format!(
                "exec 2>&1\n. {env_file} 2>/dev/null\nexport CODEBUILD_BUILD_SUCCEEDING={succeeding}\n\
                 cd \"$(cat {dir_file})\" || exit 1\n\
                 trap '__rc=$?; export -p > {env_file}; pwd > {dir_file}; exit $__rc' EXIT\n{command}\n",
                env_file = shell_quote(&env_file.to_string_lossy()),
                dir_file = shell_quote(&dir_file.to_string_lossy()),
            ),
            Self::Own { dir } => format!(
                "exec 2>&1\nexport CODEBUILD_BUILD_SUCCEEDING={succeeding}\n\
                 cd {dir} || exit 1\n{command}\n",
                dir = shell_quote(&dir.to_string_lossy()),
            ),
        }
    }
}

/// How a command ended.
pub(super) struct Ran {
    pub(super) code: i32,
    /// Whether its output shows S3 refusing a bucket: access denied, or no such bucket.
    pub(super) s3_refused: bool,
}

/// What S3, the AWS CLI and the SAM CLI print when a bucket refuses an upload or
/// does not exist.
const S3_REFUSALS: &[&str] = &[
    "AccessDenied",
    "Access Denied",
    "NoSuchBucket",
    "The specified bucket does not exist",
    "S3 Bucket does not exist",
    "AllAccessDisabled",
];

fn s3_refusal(line: &str) -> bool {
    S3_REFUSALS.iter().any(|r| line.contains(r))
}

/// The log line that says where a Sluice build may upload, after a command whose
/// output showed S3 refusing it; `None` for a build Sluice did not start (no
/// `SLUICE_ARTIFACT_BUCKET`).
pub(super) fn s3_hint(env: &[(String, String)]) -> Option<String> {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let bucket = var("SLUICE_ARTIFACT_BUCKET")?;
    let prefix = var("SLUICE_ARTIFACT_PREFIX").unwrap_or_default();
    Some(format!(
        "[Sluice] S3 refused this command. A Sluice build may upload only into the bucket \
         named in SLUICE_ARTIFACT_BUCKET ({bucket}), under the prefix in \
         SLUICE_ARTIFACT_PREFIX ({prefix}): package with --s3-bucket \
         \"$SLUICE_ARTIFACT_BUCKET\" --s3-prefix \"${{SLUICE_ARTIFACT_PREFIX}}code\"."
    ))
}

pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl Builds {
    /// Runs one command of build `id` in `shell`, its output going to `log`.
    pub(super) async fn command(
        &self,
        id: &str,
        command: &str,
        env: &[(String, String)],
        succeeding: bool,
        shell: &Shell<'_>,
        log: &mut Log,
    ) -> Result<Ran> {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("-c")
            .arg(shell.script(command, succeeding))
            .env_remove("AWS_PROFILE")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "CODEBUILD_BUILD_SUCCEEDING",
                if succeeding { "1" } else { "0" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // SAFETY: setsid is async-signal-safe; the command gets its own process group,
        // so StopBuild and timeouts stop everything it started.
        unsafe {
            cmd.as_std_mut().pre_exec(|| {
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        if self.stopped(id) {
            return Ok(Ran {
                code: STOPPED_EXIT,
                s3_refused: false,
            });
        }
        let mut child = cmd.spawn().context("cannot run bash")?;
        if let Some(pid) = child.id() {
            lock(&self.inner.processes).insert(id.to_owned(), pid);
        }
        // A StopBuild between the check above and the insert found nothing to stop.
        if self.stopped(id) {
            self.kill(id);
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no output pipe"))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut s3_refused = false;
        while let Some(line) = lines.next_line().await.unwrap_or(None) {
            s3_refused |= s3_refusal(&line);
            log.line(&line).await;
        }
        let status = child.wait().await?;
        lock(&self.inner.processes).remove(id);
        Ok(Ran {
            code: status.code().unwrap_or(-1),
            s3_refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `commands` one after another in `shell`, as a build runs them, and
    /// returns what each printed.
    fn run(shell: &Shell<'_>, commands: &[&str]) -> Vec<String> {
        commands
            .iter()
            .map(|command| {
                let out = std::process::Command::new("bash")
                    .arg("-c")
                    .arg(shell.script(command, true))
                    .output()
                    .expect("bash runs");
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            })
            .collect()
    }

    fn dirs() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a directory");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).expect("src/sub");
        std::fs::write(dir.path().join("env.sh"), "").expect("env");
        std::fs::write(dir.path().join("cwd"), src.to_string_lossy().as_bytes()).expect("cwd");
        (dir, src)
    }

    const COMMANDS: &[&str] = &[
        "cd sub && export CARRIED=yes",
        "echo \"dir=$(basename \"$PWD\") carried=${CARRIED:-no}\"",
    ];

    /// CodeBuild runs each command of a 0.1 buildspec in a shell of its own: a `cd`
    /// or an `export` in one command is not seen by the next.
    #[test]
    fn in_version_0_1_nothing_carries_from_one_command_to_the_next() {
        let (dir, src) = dirs();
        let (env_file, dir_file) = (dir.path().join("env.sh"), dir.path().join("cwd"));
        let shell = Shell::of(Version::V0_1, &src, &env_file, &dir_file);
        assert_eq!(run(&shell, COMMANDS)[1], "dir=src carried=no");
    }

    #[test]
    fn in_version_0_2_exports_and_the_directory_carry_over() {
        let (dir, src) = dirs();
        let (env_file, dir_file) = (dir.path().join("env.sh"), dir.path().join("cwd"));
        let shell = Shell::of(Version::V0_2, &src, &env_file, &dir_file);
        assert_eq!(run(&shell, COMMANDS)[1], "dir=sub carried=yes");
    }

    #[test]
    fn what_s3_prints_when_it_refuses_a_bucket_is_told_apart() {
        for line in [
            "upload failed: ./x to s3://theirs/x An error occurred (AccessDenied) when calling the PutObject operation: Access Denied",
            "An error occurred (NoSuchBucket) when calling the PutObject operation: The specified bucket does not exist",
            "Error: Unable to upload artifact hello referenced by CodeUri parameter of Fn resource.\nS3 Bucket does not exist.",
        ] {
            assert!(s3_refusal(line), "{line}");
        }
        assert!(!s3_refusal("Successfully packaged artifacts"));
        let env = vec![
            (
                "SLUICE_ARTIFACT_BUCKET".to_owned(),
                "sluice-bucket".to_owned(),
            ),
            (
                "SLUICE_ARTIFACT_PREFIX".to_owned(),
                "artifacts/p/e-1/".to_owned(),
            ),
        ];
        let hint = s3_hint(&env).expect("a Sluice build gets the hint");
        assert!(
            hint.contains("SLUICE_ARTIFACT_BUCKET (sluice-bucket)")
                && hint.contains("SLUICE_ARTIFACT_PREFIX (artifacts/p/e-1/)"),
            "{hint}"
        );
        assert_eq!(s3_hint(&[]), None, "a build Sluice did not start");
    }
}
