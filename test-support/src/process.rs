//! Child processes a test started: waiting for their exit with a limit.

use std::{
    process::{Child, ExitStatus},
    time::{Duration, Instant},
};

/// Waits up to `limit` for `child` to exit, checking every 10 ms; returns its status, or
/// `None` if it is still running (the caller decides whether to kill it and how to fail).
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on a child of the test") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
