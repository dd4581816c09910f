//! trace-view: every process's spans as one picture, with no backend.
//!
//! It reads OTLP (a saved OTLP/JSON file: an `ExportTraceServiceRequest`, or JSON Lines of
//! them as an OpenTelemetry Collector's file exporter writes; or spans posted to its local
//! OTLP/HTTP receiver) and draws them. One model, several pictures, one file per job:
//! - this module: the shared span model, [`SpanRow`] (one span flattened out of its
//!   resource and scope), and [`traces`], the spans grouped by trace in start order;
//! - [`layout`]: a trace laid out for display: tree order (children by start time), depth,
//!   spans whose parent is missing, bar offsets and widths as fractions of the trace, and
//!   the time axis's ticks;
//! - [`tree`]: the terminal tree ([`render`], [`render_all`]);
//! - [`html`]: a self-contained HTML page, one section per trace ([`html::write_page`]);
//! - [`otlp_json`]: OTLP/JSON files: a writer ([`write_otlp_json`]) and a lenient reader of
//!   saved and exported traces ([`load_otlp_json`]);
//! - [`receiver`]: a local OTLP/HTTP receiver on 127.0.0.1 where several processes' spans
//!   meet.
//!
//! `mcp-host` prints its runs with it (`--trace-html`, `mcp-host view`); it knows nothing of
//! MCP beyond the attribute names it shows.

pub mod html;
pub mod layout;
pub mod otlp_json;
pub mod receiver;
pub mod tree;

use std::{collections::HashMap, fmt::Write as _};

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{ResourceSpans, span::SpanKind, status::StatusCode},
};

/// The attribute keys the view reads (OpenTelemetry, MCP and Confident AI conventions).
pub(crate) mod attr {
    pub(crate) const SERVICE_NAME: &str = "service.name";
    pub(crate) const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
    pub(crate) const MCP_METHOD_NAME: &str = "mcp.method.name";
    pub(crate) const NETWORK_TRANSPORT: &str = "network.transport";
    pub(crate) const CONFIDENT_SPAN_TYPE: &str = "confident.span.type";
    pub(crate) const CONFIDENT_TRACE_NAME: &str = "confident.trace.name";
    pub(crate) const CONFIDENT_TRACE_INPUT: &str = "confident.trace.input";
    pub(crate) const CONFIDENT_TRACE_OUTPUT: &str = "confident.trace.output";
}

pub use otlp_json::{load_otlp_json, write_otlp_json};
pub use tree::{render, render_all};

/// One span, flattened out of its resource and scope.
#[derive(Debug, Clone, Default)]
pub struct SpanRow {
    /// The trace id, 16 bytes in a well-formed span.
    pub trace_id: Vec<u8>,
    /// The span id, 8 bytes in a well-formed span.
    pub span_id: Vec<u8>,
    /// The parent's span id; empty for a root.
    pub parent_span_id: Vec<u8>,
    /// The span's name.
    pub name: String,
    /// `service.name` of its resource (`unknown` without one).
    pub service: String,
    /// `confident.span.type` (`agent`, `tool`, `llm`), when set.
    pub span_type: Option<String>,
    /// Start, nanoseconds since the Unix epoch.
    pub start: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end: u64,
    /// The status message of a span whose status is ERROR.
    pub error: Option<String>,
    /// `confident.trace.name`, when set (on the root).
    pub trace_name: Option<String>,
    /// `gen_ai.tool.name` of a CLIENT span: the host's side of a tool call.
    pub called_tool: Option<String>,
    /// Where the span sits in the `ResourceSpans` it was read from.
    pub origin: Origin,
}

/// Indices of a span in the `ResourceSpans` [`rows`] read it from:
/// `resource_spans[resource].scope_spans[scope].spans[span]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// Index of its `ResourceSpans`.
    pub resource: usize,
    /// Index of its `ScopeSpans` within the resource.
    pub scope: usize,
    /// Index of the span within the scope.
    pub span: usize,
}

pub(crate) fn string_value(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

pub(crate) fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| string_value(&kv.value))
}

/// Flattens everything received into rows.
pub fn rows(resource_spans: &[ResourceSpans]) -> Vec<SpanRow> {
    let mut rows = Vec::new();
    for (r, resource) in resource_spans.iter().enumerate() {
        let service = service_name(resource);
        for (s, scope) in resource.scope_spans.iter().enumerate() {
            for (i, span) in scope.spans.iter().enumerate() {
                let error = span
                    .status
                    .as_ref()
                    .filter(|s| s.code == StatusCode::Error as i32)
                    .map(|s| s.message.clone());
                rows.push(SpanRow {
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    parent_span_id: span.parent_span_id.clone(),
                    name: span.name.clone(),
                    service: service.clone(),
                    span_type: attribute(&span.attributes, attr::CONFIDENT_SPAN_TYPE),
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    error,
                    trace_name: attribute(&span.attributes, attr::CONFIDENT_TRACE_NAME),
                    called_tool: (span.kind == SpanKind::Client as i32)
                        .then(|| attribute(&span.attributes, attr::GEN_AI_TOOL_NAME))
                        .flatten(),
                    origin: Origin {
                        resource: r,
                        scope: s,
                        span: i,
                    },
                });
            }
        }
    }
    rows
}

/// `service.name` of a resource, `unknown` without one.
pub(crate) fn service_name(resource: &ResourceSpans) -> String {
    resource
        .resource
        .as_ref()
        .and_then(|r| attribute(&r.attributes, attr::SERVICE_NAME))
        .unwrap_or_else(|| "unknown".into())
}

/// The spans of each trace in `rows`, in the order they came, the traces ordered by their
/// first span's start (ties by trace id).
pub fn traces(rows: &[SpanRow]) -> Vec<(&[u8], Vec<&SpanRow>)> {
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut groups: Vec<(&[u8], Vec<&SpanRow>)> = Vec::new();
    for row in rows {
        let at = *index.entry(&row.trace_id).or_insert_with(|| {
            groups.push((&row.trace_id, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(row);
    }
    groups.sort_by_key(|(id, spans)| (spans.iter().map(|r| r.start).min(), *id));
    groups
}

/// Lower-case hex of `bytes`, as OTLP/JSON and W3C Trace Context write ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A duration for people: `391µs`, `2.6ms`, `1.25s`.
pub fn duration(nanos: u64) -> String {
    let micros = nanos as f64 / 1_000.0;
    if micros < 1_000.0 {
        format!("{micros:.0}µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1}ms", micros / 1_000.0)
    } else {
        format!("{:.2}s", micros / 1_000_000.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A span of trace `trace` with id `id` under `parent` (0: none), times in µs from a
    /// fixed instant.
    pub(crate) fn span(
        trace: u8,
        id: u8,
        parent: u8,
        name: &str,
        service: &str,
        start_micros: u64,
        took_micros: u64,
    ) -> SpanRow {
        SpanRow {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: name.into(),
            service: service.into(),
            start: 1_700_000_000_000_000_000 + start_micros * 1000,
            end: 1_700_000_000_000_000_000 + (start_micros + took_micros) * 1000,
            ..SpanRow::default()
        }
    }

    /// Every feature of the tree in one trace: nesting, a service change, an error, a span
    /// type, an orphan, a label too long for its dots, and a second, smaller trace.
    pub(crate) fn fixture() -> Vec<SpanRow> {
        let mut root = span(1, 1, 0, "mcp-agent", "mcp-host", 0, 50_000);
        root.span_type = Some("agent".into());
        root.trace_name = Some("mcp-tool-orchestration".into());
        let mut call = span(
            1,
            3,
            1,
            "mcp-tool-query_database",
            "mcp-host",
            20_000,
            4_000,
        );
        call.span_type = Some("tool".into());
        call.called_tool = Some("query_database".into());
        call.error = Some("database is locked ".repeat(6));
        let mut read = span(1, 2, 1, "mcp-tool-read_file", "mcp-host", 5_000, 2_500);
        read.called_tool = Some("read_file".into());
        vec![
            span(2, 9, 0, "other-root", "mcp-host", 0, 10),
            call,
            span(1, 4, 3, "tool-query_database", "db-server", 21_000, 1_500),
            read,
            root,
            span(1, 5, 2, "tool-read_file", "file-server", 5_500, 391),
            span(
                1,
                6,
                2,
                "a-span-with-a-name-long-enough-to-leave-no-room-for-dots",
                "file-server",
                6_000,
                2_000,
            ),
            span(1, 7, 42, "late-child", "db-server", 49_000, 2_000),
            span(1, 8, 1, "llm-summarize", "mcp-host", 48_000, 234),
        ]
    }

    #[test]
    fn traces_are_grouped_in_start_order() {
        let mut rows = fixture();
        // Trace 2 starts 1 µs after trace 1 now.
        rows[0].start += 1_000;
        rows[0].end += 1_000;
        let groups = traces(&rows);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, [1; 16]);
        assert_eq!(groups[0].1.len(), 8);
        assert_eq!(groups[1].0, [2; 16]);
        assert_eq!(groups[1].1[0].name, "other-root");
    }
}
