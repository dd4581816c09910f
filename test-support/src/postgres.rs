//! A throwaway PostgreSQL server for one test: its own data directory in a temporary
//! folder, a loopback port, the sample `sales` table, a read-only role, every statement in
//! its log. It stops when the fixture is dropped (a panicking test included) and, as a
//! second line, when the thread that started it ends (`PR_SET_PDEATHSIG`).
//!
//! It runs Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`, or `PG_BIN`). When
//! the tests run as root (as CI does), the server runs as the `postgres` user, since
//! PostgreSQL refuses root. Without PostgreSQL, [`Postgres::start`] returns `None` and the
//! test says it skipped, unless `MCP_TRACE_REQUIRE_POSTGRES=1` (set by `.ci/run`), which
//! makes a missing server a failure.

use std::{
    fs,
    net::TcpListener,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::data::sales_csv;

/// The role the tools connect as: it may connect, use `public` and read its tables.
pub const READER: &str = "mcp_reader";
/// [`READER`]'s password (a test value; it must never appear in a span or a log).
pub const READER_PASSWORD: &str = "pw-0f1e2d3c-never-logged";
/// The database the fixture creates and fills.
pub const DATABASE: &str = "sales";

/// A running PostgreSQL server (see the module doc).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    tls: bool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where PostgreSQL's programs are: `PG_BIN`, else the newest Debian version installed.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// Whether a missing PostgreSQL fails the test instead of skipping it.
fn required() -> bool {
    std::env::var("MCP_TRACE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

impl Postgres {
    /// Starts a server with the sample data loaded, or returns `None` (with a note on
    /// stderr) when PostgreSQL is not installed and not required.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// [`start`](Self::start) with TLS on: a certificate for `localhost` (DNS name only,
    /// no IP address) signed by a CA of its own, whose certificate is
    /// [`ca_path`](Self::ca_path). Made with the `openssl` program.
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true)
    }

    /// The CA certificate of [`start_tls`](Self::start_tls) (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(tls: bool) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                !required(),
                "MCP_TRACE_REQUIRE_POSTGRES=1 but no PostgreSQL under /usr/lib/postgresql (set PG_BIN)"
            );
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("mcp-trace-pg-")
            .tempdir()
            .expect("a temporary folder");
        // SAFETY: geteuid has no preconditions.
        let owner = (unsafe { libc::geteuid() } == 0).then(postgres_user);
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        let password_file = dir.path().join("pw");
        fs::write(&password_file, "admin-pw\n").expect("password file");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&password_file, Some(uid), Some(gid)).expect("chown");
        }
        let mut server = Self {
            bin,
            port: free_port(),
            owner,
            child: None,
            tls: false,
            dir,
        };
        run(
            server
                .command("initdb")
                .arg("-D")
                .arg(server.data())
                .args(["-U", "postgres", "-N", "-E", "UTF8", "--locale=C"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", password_file.display())),
            "initdb",
        );
        if tls {
            server.make_certificates();
        }
        server.tls = tls;
        server.launch();
        server.load_sample();
        Some(server)
    }

    /// The data directory.
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The statement log, every statement as the server received it.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The statement log's text so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for [`READER`] over TCP on loopback.
    pub fn reader_url(&self) -> String {
        format!(
            "postgres://{READER}:{READER_PASSWORD}@127.0.0.1:{}/{DATABASE}?sslmode=disable",
            self.port
        )
    }

    /// A URL for the superuser `postgres` (password `admin-pw`) over TCP on loopback.
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://postgres:admin-pw@127.0.0.1:{}/{DATABASE}?sslmode=disable",
            self.port
        )
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C");
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Starts (or restarts) the server process and waits until it accepts connections.
    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(self.log_path(), Some(uid), Some(gid)).expect("chown");
        }
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("port={}", self.port)])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=60"])
            .args(["-c", "log_statement=all", "-c", "log_min_messages=warning"])
            .args(["-c", "log_line_prefix=%m [%p] %a "])
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if self.tls {
            command
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    self.dir.path().join("server.pem").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    self.dir.path().join("server.key").display()
                ));
        }
        // SAFETY: prctl with PR_SET_PDEATHSIG is async-signal-safe; nothing else runs here.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                Ok(())
            });
        }
        self.child = Some(command.spawn().expect("postgres starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let socket = self.dir.path().join(format!(".s.PGSQL.{}", self.port));
        loop {
            if socket.exists() && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ready = self
                    .psql("postgres")
                    .args(["-c", "SELECT 1"])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if ready {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("postgres exited at start ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 30 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ]);
        command
    }

    /// Runs `sql` as the superuser in [`DATABASE`] (psql over the Unix socket) and returns
    /// what it printed (unaligned, tuples only); panics with psql's error on failure.
    pub fn admin(&self, sql: &str) -> String {
        run(
            self.psql(DATABASE).args(["-c", sql]),
            &format!("psql {sql:?}"),
        )
        .trim()
        .to_owned()
    }

    fn load_sample(&self) {
        run(
            self.psql("postgres")
                .args(["-c", &format!("CREATE DATABASE {DATABASE}")]),
            "psql CREATE DATABASE",
        );
        self.admin(
            "CREATE TABLE sales (year integer NOT NULL, month integer NOT NULL, \
             quarter text NOT NULL, region text NOT NULL, product text NOT NULL, \
             units integer NOT NULL, revenue numeric(12, 2) NOT NULL)",
        );
        let csv = sales_csv().canonicalize().expect("sales.csv");
        self.admin(&format!(
            "\\copy sales FROM '{}' WITH (FORMAT csv, HEADER true)",
            csv.display()
        ));
        // The password stays out of the statement log: a second command of the same
        // session, after logging is turned off for it.
        run(
            self.psql(DATABASE)
                .args(["-c", "SET log_statement = 'none'"])
                .args([
                    "-c",
                    &format!("CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}'"),
                ]),
            "psql CREATE ROLE",
        );
        self.admin(&format!(
            "CREATE EXTENSION pg_stat_statements; \
             GRANT CONNECT ON DATABASE {DATABASE} TO {READER}; \
             GRANT USAGE ON SCHEMA public TO {READER}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER}; \
             ANALYZE sales"
        ));
    }

    /// A CA and a server certificate for `localhost` signed by it, with `openssl`.
    fn make_certificates(&self) {
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            run(
                Command::new("openssl").current_dir(dir).args(args),
                "openssl (apt-get install openssl)",
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mcp-trace test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extension file");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        let key = dir.join("server.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
        if let Some((uid, gid)) = self.owner {
            for file in ["server.key", "server.pem"] {
                std::os::unix::fs::chown(dir.join(file), Some(uid), Some(gid)).expect("chown");
            }
        }
    }

    /// Stops the server (fast shutdown: sessions are ended) and waits for it.
    pub fn stop(&mut self) {
        self.signal_and_wait(libc::SIGINT, Duration::from_secs(20));
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Sends the server `signal` and waits up to `limit` for its exit, then kills it.
    fn signal_and_wait(&mut self, signal: libc::c_int, limit: Duration) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill with a valid pid of our own child.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
            if crate::process::wait_timeout(&mut child, limit).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate shutdown: nothing in a throwaway server needs a checkpoint.
        self.signal_and_wait(libc::SIGQUIT, Duration::from_secs(10));
    }
}

/// Runs `command` to its end and returns its stdout; panics with its stderr when it fails.
fn run(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what} did not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The uid and gid of the `postgres` user (from /etc/passwd).
fn postgres_user() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres")).then(|| {
                (
                    fields[2].parse().expect("uid"),
                    fields[3].parse().expect("gid"),
                )
            })
        })
        .expect("running as root, PostgreSQL needs the postgres user (apt-get install postgresql creates it)")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
