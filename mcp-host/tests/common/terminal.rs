//! A program on a pseudo-terminal, as a person at a terminal runs it.

use std::{
    io::{Read as _, Write as _},
    os::fd::{AsFd as _, AsRawFd as _, OwnedFd},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// `command` on a new pseudo-terminal (its stdin and stdout; stderr stays a pipe), in a
/// session of its own with the terminal as its controlling terminal, so that Ctrl-C typed
/// on the terminal is SIGINT to it.
pub(crate) struct OnTerminal {
    pub child: std::process::Child,
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
}

impl OnTerminal {
    pub(crate) fn spawn(mut command: Command) -> Self {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap()
            .into();
        let slave_fd = slave.as_raw_fd();
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt as _;
            command.pre_exec(move || {
                rustix::process::setsid()?;
                let fd = std::os::fd::BorrowedFd::borrow_raw(slave_fd);
                rustix::process::ioctl_tiocsctty(fd)?;
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        drop(slave);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in
                std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok)
            {
                eprintln!("[host stderr] {line}");
            }
        });
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // EIO once the child and every copy of the slave are gone.
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let _ = master.as_fd();
        Self {
            child,
            master,
            screen,
        }
    }

    /// Types `keys` as a person would.
    pub(crate) fn type_keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until the screen shows `text` (after `from` bytes), at most 20 s; returns the
    /// position after it.
    pub(crate) fn wait_for(&self, text: &str, from: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen.lock().unwrap().clone();
            if let Some(at) = screen.get(from..).and_then(|s| s.find(text)) {
                return from + at + text.len();
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
