//! Built without the `metrics` feature: the recording points of the client, the server and
//! the stdio session cost nothing.

// Recorded where client and server spans end: with neither role built, nothing records.
#![cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]

use crate::{
    NetworkTransport,
    request::{Outcome, RequestSpan, Side},
};

/// Stands in for the duration of one request.
pub(crate) struct OperationMetric;

impl OperationMetric {
    pub(crate) fn start(
        _side: Side,
        _described: &RequestSpan,
        _transport: NetworkTransport,
        _protocol_version: Option<String>,
    ) -> Self {
        Self
    }

    pub(crate) fn finish(self, _outcome: &Outcome) {}
}

/// Stands in for the timer of one session.
#[allow(dead_code)]
pub(crate) struct SessionTimer;

#[allow(dead_code)]
impl SessionTimer {
    pub(crate) fn server(_transport: NetworkTransport) -> Self {
        Self
    }

    pub(crate) fn with_protocol_version(self, _version: impl ToString) -> Self {
        self
    }
}
