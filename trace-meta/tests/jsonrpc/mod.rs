//! Shared by the JSON-RPC error suites.

pub mod cases;
