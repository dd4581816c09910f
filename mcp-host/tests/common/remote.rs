//! Servers run as separate `--http` processes on ephemeral loopback ports, for the suites
//! that reach them by URL.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use test_support::{data::data_dir, env::clean_env, process::wait_timeout};

use super::HOST;

/// A server started with `--http 127.0.0.1:0`, its URL read from its stderr.
pub(crate) struct Remote {
    pub child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl Remote {
    pub(crate) fn start(name: &str, args: &[String], otlp: &str, token: Option<&str>) -> Self {
        Self::start_with_env(name, args, otlp, token, &[])
    }

    /// `otlp`: where it exports; empty for nowhere.
    pub(crate) fn start_with_env(
        name: &str,
        args: &[String],
        otlp: &str,
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(HOST);
        clean_env(&mut command);
        command
            .args(["__serve", name, "--http", "127.0.0.1:0"])
            .args(args)
            .env_remove("MCP_SERVER_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env("MCP_SERVER_TOKEN", token);
        }
        if !otlp.is_empty() {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("starting a server");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name} did not announce its URL: {first:?}"))
            .to_owned();
        let rest = Arc::new(Mutex::new(String::new()));
        let sink = rest.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        Self {
            child,
            url,
            stderr: rest,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and the exit within 3 s (spans flushed on the way out).
    pub(crate) fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = wait_timeout(&mut self.child, Duration::from_secs(3));
        assert!(status.is_some(), "a server ignored SIGTERM");
        let status = status.unwrap();
        assert!(
            status.success(),
            "a server exits cleanly on SIGTERM: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn file_server_args() -> Vec<String> {
    vec!["--root".into(), data_dir().display().to_string()]
}

pub(crate) fn db_server_args() -> Vec<String> {
    vec![
        "--load".into(),
        format!("sales={}", data_dir().join("sales.csv").display()),
    ]
}
