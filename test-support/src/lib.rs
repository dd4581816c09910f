//! Fixtures shared by the test suites of this workspace, one copy each.
//!
//! Its one job: give every crate's tests the same setup, so a suite says what it checks and
//! not how it builds its surroundings. It is a `[dev-dependencies]` entry only; no library
//! or binary of the workspace depends on it.
//!
//! - [`data`]: where the sample data (`examples/data`) is.
//! - [`echo`]: a minimal MCP server whose tools answer what a test expects.
//! - [`in_process`]: a client and a traced server in one process.
//! - [`env`](mod@env): child-process commands without the variables that would send their spans or
//!   logs somewhere the test does not expect.
//! - [`loopback`]: a small HTTP/1 server on `127.0.0.1` for fakes (a model endpoint, a trace
//!   backend).
//! - [`otlp`]: a loopback OTLP/HTTP trace backend that records what it receives and can
//!   misbehave on request.
//! - [`postgres`]: a throwaway PostgreSQL server with the sample data and a read-only role.
//! - [`process`]: waiting for a child process's exit with a time limit.
//! - [`proxy`]: a stdio MCP proxy driven line by line as its client, and a collector that
//!   keeps the whole spans it exports.
//! - [`telemetry`]: an in-memory span exporter installed as the process's telemetry, and
//!   attribute look-ups on the spans it keeps.
//!
//! Helpers that belong to one crate's binaries (starting `mcp-host`, its OTLP/JSON files)
//! stay in that crate's `tests/`.

#![warn(missing_docs)]

pub mod data;
pub mod echo;
pub mod env;
pub mod in_process;
pub mod loopback;
pub mod otlp;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod telemetry;
