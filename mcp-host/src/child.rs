//! Child processes this host starts (MCP servers) and how they are stopped: the stdio
//! transport's shutdown sequence, the same one the proxy follows for its wrapped server
//! (`trace_proxy::child`, where it lives).

pub(crate) use trace_proxy::child::{EXIT_GRACE, Stage, describe_exit, exit_status, stop};
