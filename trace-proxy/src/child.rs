//! How a child stdio server is stopped: the stdio transport's shutdown sequence, in one
//! place for the proxy's wrapped server and the servers `mcp-host` starts.
//!
//! The ladder, each rung [`EXIT_GRACE`] long:
//! 1. its stdin is closed (the end of the session) and it may exit on its own;
//! 2. then SIGTERM to its process group (each child leads its own, so a server started
//!    through `npx`, `uvx` or `sh -c` gets it too);
//! 3. then SIGKILL.
//!
//! Also here: the words and exit codes for how a child ended.

use std::{
    os::unix::process::ExitStatusExt as _,
    process::{ExitCode, ExitStatus},
    time::Duration,
};

use tokio::process::Child;

/// How long a child gets at each rung of the ladder.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Where a child's shutdown stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Its stdin is closed; next: SIGTERM.
    StdinClosed,
    /// It was sent a stop signal; next: SIGKILL.
    Signalled,
    /// It was killed; nothing more to do but reap it.
    Killed,
}

impl Stage {
    /// The next rung: sends its signal to `child` and says which stage that is. `who`
    /// names the child in the one message this prints (when it must be killed).
    pub fn escalate(self, child: &Child, who: &str) -> Self {
        match self {
            Self::StdinClosed => {
                signal_group(child, libc::SIGTERM);
                Self::Signalled
            }
            Self::Signalled | Self::Killed => {
                if self == Self::Signalled {
                    eprintln!("{who} did not exit after a stop signal; killing it");
                }
                signal_group(child, libc::SIGKILL);
                Self::Killed
            }
        }
    }
}

/// Waits for `child` to exit, climbing the ladder from `stage`: returns how it ended.
pub async fn stop(child: &mut Child, mut stage: Stage, who: &str) -> Option<ExitStatus> {
    loop {
        if let Some(status) = exit_status(child, EXIT_GRACE).await {
            return Some(status);
        }
        if stage == Stage::Killed {
            let _ = child.kill().await;
            return child.try_wait().ok().flatten();
        }
        stage = stage.escalate(child, who);
    }
}

/// The child's exit status, waiting up to `wait` for it to exit.
pub async fn exit_status(child: &mut Child, wait: Duration) -> Option<ExitStatus> {
    tokio::time::timeout(wait, child.wait()).await.ok()?.ok()
}

/// Sends `signal` to a child's process group (each child leads its own).
pub fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: `kill` has no memory effects; the group is our own unreaped child's.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

/// How a child ended, in words: `exited with status 3`, `was killed by signal 9`.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

/// The exit code that passes a child's status on: the same code, or 128 + N for signal N.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(signal)) => ExitCode::from((128 + signal) as u8),
        _ => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_words_and_codes() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), ExitCode::from(3));
        assert_eq!(
            exit_code(ExitStatus::from_raw(libc::SIGTERM)),
            ExitCode::from(143)
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGKILL)),
            "was killed by signal 9"
        );
    }
}
