//! The requests in flight through the proxy, in both directions, and their spans.
//!
//! A request opens a span when the proxy reads it and the span ends when the proxy has
//! relayed its response. In between, the request's entry is where notifications that
//! belong to it (`notifications/progress` by progress token, `notifications/cancelled` by
//! request id) are recorded as span events. Notifications that belong to no request
//! become short spans of their own.
//!
//! Span names and attributes are a client's, because the proxy is the one that sends the
//! request on: trace-meta's [`RequestSpan::client`] names them (`mcp-tool-{tool}` for
//! `tools/call`, `{method} {target}` otherwise), kind CLIENT. Its parent is the trace
//! context in the request's `_meta` when there is a valid one, otherwise it is a root.

use std::{collections::HashMap, sync::Mutex};

use opentelemetry::{
    Context, KeyValue,
    global::BoxedTracer,
    trace::{SpanKind, Status, TraceContextExt, Tracer},
};
use serde_json::value::RawValue;
use trace_meta::{
    NetworkTransport, RequestSpan, attributes as attr, propagation,
    span_return::{self, SpanRequest},
};

use crate::message::{
    Envelope, ErrorObject, ObjectMembers, RequestMeta, Target, ToolResult, canonical, id_attribute,
    inject_trace_context, replace_members,
};

/// `_meta` key under which 2026-07-28 requests carry the protocol version.
const PROTOCOL_VERSION_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// Which way a request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// From the client (host) to the wrapped server: `tools/call`, `resources/read`, ...
    ToServer,
    /// From the wrapped server to the client: sampling, elicitation, roots.
    ToClient,
}

/// One request waiting for its response.
struct InFlight {
    /// The id as it was written, for an error answer the proxy may have to send.
    id_raw: String,
    method: String,
    /// The span's context (with the parent's baggage); `None` when tracing is off.
    cx: Option<Context>,
    progress_token: Option<String>,
    /// The spans of the call were asked for (SEP-2448): by the client (with the
    /// recording of the proxy's own span for its answer), or by the proxy.
    returning: Option<Returning>,
}

/// Who asked for a call's spans.
enum Returning {
    /// The proxy did: what the server returns is the proxy's to export, and the client
    /// gets the answer as it would without the proxy.
    Proxy,
    /// The client did: the proxy exports the server's spans too, and the client gets them
    /// after the proxy's own span, which links them to the client's.
    Client(Option<span_return::Recording>),
}

/// What became of a response to a request whose spans were asked for.
pub(crate) enum Answer {
    /// No spans were asked for: relay the line, then [`Ledger::finish_request`].
    Plain,
    /// The request's span has ended; relay this line instead when there is one.
    Finished(Option<String>),
}

#[derive(Default)]
struct Tables {
    to_server: HashMap<String, InFlight>,
    to_client: HashMap<String, InFlight>,
    /// Progress token → the request that named it.
    progress: HashMap<String, (Direction, String)>,
    /// The version the `initialize` response named.
    protocol_version: Option<String>,
}

impl Tables {
    fn table(&mut self, direction: Direction) -> &mut HashMap<String, InFlight> {
        match direction {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }
}

/// The requests in flight and the tracer their spans come from.
pub(crate) struct Ledger {
    tracer: Option<BoxedTracer>,
    /// Whether the proxy asks the server for the spans of its calls (SEP-2448).
    span_return: bool,
    tables: Mutex<Tables>,
}

/// A client request that never got its answer, for the error the proxy sends instead.
pub(crate) struct Unanswered {
    /// The request's id as it was written.
    pub id_raw: String,
    /// Its method.
    pub method: String,
}

impl Ledger {
    /// A ledger whose spans come from `tracer`; `None` relays without tracing. With
    /// `span_return`, each `tools/call` and `resources/read` asks the server for its spans.
    pub(crate) fn new(tracer: Option<BoxedTracer>, span_return: bool) -> Self {
        Self {
            tracer,
            span_return,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while the lock is held leaves only bookkeeping behind; keep relaying.
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a request read from one side and returns the line to send to the other
    /// side when it must change (the proxy span's context in `_meta`), `None` to relay it
    /// as it is.
    pub(crate) fn start_request(
        &self,
        direction: Direction,
        envelope: &Envelope<'_>,
        line: &str,
    ) -> Option<String> {
        let (Some(id), Some(method)) = (envelope.id, envelope.method.as_deref()) else {
            return None;
        };
        let params = envelope.params.and_then(ObjectMembers::parse);
        let meta = params.as_ref().map(RequestMeta::of).unwrap_or_default();
        let progress_token = meta.members.get("progressToken").map(canonical);
        let key = canonical(id);

        let mut edited = None;
        let mut returning = None;
        let cx = self.tracer.as_ref().map(|tracer| {
            let parent = propagation::extract(&meta.trace_context());
            let target = Target::of(params.as_ref());
            let RequestSpan {
                name,
                mut attributes,
                ..
            } = RequestSpan::client(method, target.params());
            attributes.push(KeyValue::new(attr::JSONRPC_REQUEST_ID, id_attribute(id)));
            attributes.push(KeyValue::new(
                attr::NETWORK_TRANSPORT,
                NetworkTransport::Pipe.as_str(),
            ));
            let version = meta
                .members
                .get_str(PROTOCOL_VERSION_META_KEY)
                .or_else(|| self.tables().protocol_version.clone());
            if let Some(version) = version {
                attributes.push(KeyValue::new(attr::MCP_PROTOCOL_VERSION, version));
            }
            let span = tracer
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent);
            let cx = parent.with_span(span);
            if cx.span().span_context().is_valid() {
                let mut carrier = rmcp::model::MetaObject::default();
                propagation::inject(&cx, &mut carrier);
                if self.span_return
                    && direction == Direction::ToServer
                    && matches!(method, "tools/call" | "resources/read")
                {
                    let client_wrote = meta.members.get(span_return::META_KEY).is_some();
                    returning = match client_asked(&meta) {
                        Some(asked) => Some(Returning::Client(span_return::Recording::start(
                            cx.span().span_context(),
                            asked,
                        ))),
                        // The client said what it wants (`request: false`): left alone.
                        None if client_wrote => None,
                        None => {
                            SpanRequest { detailed: true }.insert_into(&mut carrier.0);
                            Some(Returning::Proxy)
                        }
                    };
                }
                let members: Vec<String> = carrier
                    .iter()
                    .map(|(key, value)| {
                        format!("{}:{value}", serde_json::Value::from(key.as_str()))
                    })
                    .collect();
                edited =
                    inject_trace_context(line, params.as_ref(), envelope.params, &meta, &members);
            }
            cx
        });

        let mut tables = self.tables();
        if let Some(token) = &progress_token {
            tables
                .progress
                .insert(token.clone(), (direction, key.clone()));
        }
        let replaced = tables.table(direction).insert(
            key,
            InFlight {
                id_raw: id.get().to_owned(),
                method: method.to_owned(),
                cx,
                progress_token,
                returning,
            },
        );
        if let Some(replaced) = replaced {
            // An id reused while still in flight: the first request's response can no
            // longer be told apart. Close its span rather than leave it open forever.
            end_with_error(
                &replaced,
                "duplicate_id",
                "a request with the same id was sent before this one was answered",
            );
        }
        edited
    }

    /// For the response to a client request whose spans were asked for: takes the spans
    /// the server returned into this process's pipeline (once checked: see trace-meta's
    /// `span_return::ingest`), ends the request's span, and returns the line to relay
    /// instead of `line`: without the spans when the proxy asked, with the proxy's own span
    /// before them when the client did. [`Answer::Plain`] for any other message.
    pub(crate) fn answer(&self, envelope: &Envelope<'_>, line: &str) -> Answer {
        let Some(id) = envelope.id else {
            return Answer::Plain;
        };
        let cx = {
            let tables = self.tables();
            match tables.to_server.get(&canonical(id)) {
                Some(InFlight {
                    cx: Some(cx),
                    returning: Some(_),
                    ..
                }) => cx.clone(),
                _ => return Answer::Plain,
            }
        };
        let meta_raw = answer_meta(envelope);
        let meta: Option<serde_json::Map<String, serde_json::Value>> =
            meta_raw.and_then(|raw| serde_json::from_str(raw.get()).ok());
        let relayed = meta.as_ref().and_then(|meta| {
            match span_return::ingest(meta, cx.span().span_context())? {
                Ok(_) => Some(relayed_spans(meta)),
                Err(rejected) => {
                    tracing::warn!(
                        target: "trace_proxy",
                        "dropped the spans the wrapped server returned for request {}: {rejected}",
                        id_attribute(id)
                    );
                    None
                }
            }
        });
        let returning = self.finish_entry(Direction::ToServer, envelope);
        let (Some(meta_raw), Some(members)) = (meta_raw, meta_raw.and_then(ObjectMembers::parse))
        else {
            return Answer::Finished(None);
        };
        let ours =
            |key: &str| key == span_return::META_KEY || key == span_return::EXPORTED_META_KEY;
        let injected = match returning {
            Some(Returning::Client(Some(recording))) => {
                let (groups, exported) = relayed.unwrap_or_default();
                recording
                    .finish(&groups, &exported)
                    .into_iter()
                    .map(|(key, value)| format!("{}:{value}", serde_json::Value::from(key)))
                    .collect::<Vec<_>>()
                    .join(",")
            }
            // The client asked, but this process keeps no spans (or the span was not
            // sampled): the server's answer goes on as it came.
            Some(Returning::Client(None)) => return Answer::Finished(None),
            _ if !members.members.iter().any(|(key, _)| ours(key)) => {
                return Answer::Finished(None);
            }
            _ => String::new(),
        };
        Answer::Finished(replace_members(line, meta_raw, &members, ours, &injected))
    }

    /// Records the response to a request that travelled in `direction` and ends its span.
    pub(crate) fn finish_request(&self, direction: Direction, envelope: &Envelope<'_>) {
        self.finish_entry(direction, envelope);
    }

    /// [`finish_request`](Self::finish_request), returning who asked for the request's
    /// spans.
    fn finish_entry(&self, direction: Direction, envelope: &Envelope<'_>) -> Option<Returning> {
        let id = envelope.id?;
        let entry = {
            let mut tables = self.tables();
            let entry = tables.table(direction).remove(&canonical(id))?;
            if let Some(token) = &entry.progress_token {
                tables.progress.remove(token);
            }
            let negotiated = (entry.method == "initialize")
                .then(|| envelope.result.and_then(protocol_version_of))
                .flatten();
            if let Some(version) = &negotiated {
                tables.protocol_version = Some(version.clone());
            }
            (entry, negotiated)
        };
        let (mut entry, negotiated) = entry;
        let returning = entry.returning.take();
        let Some(cx) = &entry.cx else {
            return returning;
        };
        let span = cx.span();
        if let Some(version) = negotiated {
            span.set_attribute(KeyValue::new(attr::MCP_PROTOCOL_VERSION, version));
        }
        if let Some(error) = envelope.error {
            let error: ErrorObject = serde_json::from_str(error.get()).unwrap_or(ErrorObject {
                code: None,
                message: None,
            });
            let code = error
                .code
                .map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            span.set_attribute(KeyValue::new(attr::ERROR_TYPE, code.clone()));
            if error.code.is_some() {
                span.set_attribute(KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, code));
            }
            span.set_status(Status::error(error.message.unwrap_or_default()));
        } else if entry.method == "tools/call"
            && let Some(result) = envelope.result
            && let Ok(result) = serde_json::from_str::<ToolResult>(result.get())
        {
            let (attributes, status) =
                trace_meta::content::tool_output(result.text(), result.is_error == Some(true));
            for kv in attributes {
                span.set_attribute(kv);
            }
            if status != Status::Unset {
                span.set_status(status);
            }
        }
        span.end();
        returning
    }

    /// Records a notification that travelled in `direction`: as an event on the request it
    /// belongs to, or as a short span of its own.
    pub(crate) fn notification(&self, direction: Direction, envelope: &Envelope<'_>) {
        let Some(tracer) = &self.tracer else { return };
        let Some(method) = envelope.method.as_deref() else {
            return;
        };
        let params = envelope.params.and_then(ObjectMembers::parse);
        let get = |key: &str| params.as_ref().and_then(|p| p.get(key));
        let mut attributes = vec![KeyValue::new(attr::MCP_METHOD_NAME, method.to_owned())];
        let owner = match method {
            "notifications/progress" => {
                for (key, name) in [
                    ("progress", attr::MCP_PROGRESS_PROGRESS),
                    ("total", attr::MCP_PROGRESS_TOTAL),
                ] {
                    if let Some(number) = get(key).and_then(|raw| raw.get().parse::<f64>().ok()) {
                        attributes.push(KeyValue::new(name, number));
                    }
                }
                if let Some(message) = params.as_ref().and_then(|p| p.get_str("message")) {
                    attributes.push(KeyValue::new(attr::MCP_PROGRESS_MESSAGE, message));
                }
                get("progressToken")
                    .map(canonical)
                    .and_then(|token| self.tables().progress.get(&token).cloned())
            }
            // A cancellation names a request its own sender sent, which travelled the
            // same way.
            "notifications/cancelled" => {
                if let Some(reason) = params.as_ref().and_then(|p| p.get_str("reason")) {
                    attributes.push(KeyValue::new(attr::MCP_CANCELLED_REASON, reason));
                }
                get("requestId").map(|id| (direction, canonical(id)))
            }
            _ => None,
        };

        if let Some((owner_direction, key)) = owner {
            let mut tables = self.tables();
            if method == "notifications/cancelled" {
                if let Some(entry) = tables.table(owner_direction).remove(&key) {
                    if let Some(token) = &entry.progress_token {
                        tables.progress.remove(token);
                    }
                    drop(tables);
                    if let Some(cx) = &entry.cx {
                        cx.span().add_event(method.to_owned(), attributes);
                    }
                    end_with_error(&entry, "cancelled", "the request was cancelled");
                    return;
                }
            } else if let Some(cx) = tables
                .table(owner_direction)
                .get(&key)
                .and_then(|entry| entry.cx.as_ref())
            {
                cx.span().add_event(method.to_owned(), attributes);
                return;
            }
        }

        // Belongs to no request in flight: a short span, parented on its own `_meta`.
        let meta = params.as_ref().map(RequestMeta::of).unwrap_or_default();
        let parent = propagation::extract(&meta.trace_context());
        attributes.push(KeyValue::new(
            attr::NETWORK_TRANSPORT,
            NetworkTransport::Pipe.as_str(),
        ));
        let mut span = tracer
            .span_builder(method.to_owned())
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        opentelemetry::trace::Span::end(&mut span);
    }

    /// Ends every span still open, as failed with `reason`, and returns the client requests
    /// that were never answered, so that the proxy can answer them.
    pub(crate) fn abandon_all(&self, reason: &str) -> Vec<Unanswered> {
        let (to_server, to_client) = {
            let mut tables = self.tables();
            tables.progress.clear();
            (
                std::mem::take(&mut tables.to_server),
                std::mem::take(&mut tables.to_client),
            )
        };
        for entry in to_client.values() {
            end_with_error(entry, "transport_closed", reason);
        }
        let mut unanswered: Vec<Unanswered> = to_server
            .into_values()
            .map(|entry| {
                end_with_error(&entry, "transport_closed", reason);
                Unanswered {
                    id_raw: entry.id_raw,
                    method: entry.method,
                }
            })
            .collect();
        unanswered.sort_by(|a, b| a.id_raw.cmp(&b.id_raw));
        unanswered
    }
}

/// What the client asked for in `_meta.otel`, if it asked.
fn client_asked(meta: &RequestMeta<'_>) -> Option<SpanRequest> {
    let otel = meta.members.get(span_return::META_KEY)?;
    let otel: serde_json::Value = serde_json::from_str(otel.get()).ok()?;
    let mut map = serde_json::Map::new();
    map.insert(span_return::META_KEY.to_owned(), otel);
    SpanRequest::from_meta(&map)
}

/// The `_meta` of a response: `result._meta`, or `error.data._meta`.
fn answer_meta<'a>(envelope: &Envelope<'a>) -> Option<&'a RawValue> {
    if let Some(result) = envelope.result {
        return ObjectMembers::parse(result)?.get("_meta");
    }
    let data = ObjectMembers::parse(envelope.error?)?.get("data")?;
    ObjectMembers::parse(data)?.get("_meta")
}

/// The checked `resourceSpans` a server returned and the destinations it says it exported
/// them to.
fn relayed_spans(
    meta: &serde_json::Map<String, serde_json::Value>,
) -> (Vec<serde_json::Value>, Vec<String>) {
    let groups = meta[span_return::META_KEY]["traces"]["resourceSpans"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let exported = meta
        .get(span_return::EXPORTED_META_KEY)
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .take(16)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (groups, exported)
}

fn end_with_error(entry: &InFlight, kind: &'static str, message: &str) {
    if let Some(cx) = &entry.cx {
        let span = cx.span();
        span.set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
        span.set_status(Status::error(message.to_owned()));
        span.end();
    }
}

/// `result.protocolVersion` of an `initialize` response.
fn protocol_version_of(result: &RawValue) -> Option<String> {
    ObjectMembers::parse(result)?.get_str("protocolVersion")
}
