//! Shared by the JSON-RPC error suites.

pub(crate) mod cases;
