//! trace-view: every process's spans as one picture, with no backend.
//!
//! It reads OTLP (a saved OTLP/JSON file: an `ExportTraceServiceRequest`, or JSON Lines of
//! them as an OpenTelemetry Collector's file exporter writes; or spans posted to its local
//! OTLP/HTTP receiver) and draws them. One model, several pictures, one file per job:
//! - [`span`]: the span model, [`Span`] (one span flattened out of its resource and scope,
//!   ids in hex, attributes as JSON values), and [`rows`], the one place that turns OTLP
//!   into spans; the workspace's test suites read spans with it too;
//! - this module: [`traces`], the spans grouped by trace in start order;
//! - [`layout`]: a trace laid out for display: tree order (children by start time), depth,
//!   spans whose parent is missing, bar offsets and widths as fractions of the trace, and
//!   the time axis's ticks;
//! - [`tree`]: the terminal tree ([`render`], [`render_all`]);
//! - [`html`]: a self-contained HTML page, one section per trace ([`html::write_page`]);
//! - [`otlp_json`]: OTLP/JSON files: a writer ([`write_otlp_json`]) and a lenient reader of
//!   saved and exported traces ([`load_otlp_json`]);
//! - `receiver` (cargo feature `receiver`, on by default): a local OTLP/HTTP receiver on
//!   127.0.0.1 where several processes' spans meet; the only part that needs tokio.
//!
//! `mcp-host` prints its runs with it (`--trace-html`, `mcp-host view`); it knows nothing of
//! MCP beyond the attribute names it shows.

pub mod html;
pub mod layout;
pub mod otlp_json;
#[cfg(feature = "receiver")]
pub mod receiver;
pub mod span;
pub mod tree;

use std::{collections::HashMap, fmt::Write as _};

/// The attribute keys the view reads (OpenTelemetry, MCP and Confident AI conventions).
pub(crate) mod attr {
    pub(crate) const SERVICE_NAME: &str = "service.name";
    pub(crate) const PROCESS_PID: &str = "process.pid";
    pub(crate) const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
    #[cfg(feature = "receiver")]
    pub(crate) const MCP_METHOD_NAME: &str = "mcp.method.name";
    #[cfg(feature = "receiver")]
    pub(crate) const NETWORK_TRANSPORT: &str = "network.transport";
    pub(crate) const CONFIDENT_SPAN_TYPE: &str = "confident.span.type";
    pub(crate) const CONFIDENT_TRACE_NAME: &str = "confident.trace.name";
    pub(crate) const CONFIDENT_TRACE_INPUT: &str = "confident.trace.input";
    pub(crate) const CONFIDENT_TRACE_OUTPUT: &str = "confident.trace.output";
}

pub use otlp_json::{load_otlp_json, write_otlp_json};
pub use span::{Span, rows};
pub use tree::{render, render_all};

/// The spans of each trace in `rows`, in the order they came, the traces ordered by their
/// first span's start (ties by trace id).
pub fn traces(rows: &[Span]) -> Vec<(&str, Vec<&Span>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(&str, Vec<&Span>)> = Vec::new();
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
    ) -> Span {
        Span {
            trace_id: hex(&[trace; 16]),
            span_id: hex(&[id; 8]),
            parent_span_id: if parent == 0 {
                String::new()
            } else {
                hex(&[parent; 8])
            },
            name: name.into(),
            service: service.into(),
            start: 1_700_000_000_000_000_000 + start_micros * 1000,
            end: 1_700_000_000_000_000_000 + (start_micros + took_micros) * 1000,
            ..Span::default()
        }
    }

    /// `span` with the attribute `key` set to `value`.
    pub(crate) fn with(mut span: Span, key: &str, value: &str) -> Span {
        span.attributes.insert(key.into(), value.into());
        span
    }

    /// `span` as the CLIENT side of a call to `tool`.
    pub(crate) fn calling(span: Span, tool: &str) -> Span {
        Span {
            kind: span::SpanKind::Client,
            ..with(span, attr::GEN_AI_TOOL_NAME, tool)
        }
    }

    /// Every feature of the tree in one trace: nesting, a service change, an error, a span
    /// type, an orphan, a label too long for its dots, and a second, smaller trace.
    pub(crate) fn fixture() -> Vec<Span> {
        let root = span(1, 1, 0, "mcp-agent", "mcp-host", 0, 50_000);
        let root = with(root, attr::CONFIDENT_SPAN_TYPE, "agent");
        let root = with(root, attr::CONFIDENT_TRACE_NAME, "mcp-tool-orchestration");
        let call = span(
            1,
            3,
            1,
            "mcp-tool-query_database",
            "mcp-host",
            20_000,
            4_000,
        );
        let mut call = calling(
            with(call, attr::CONFIDENT_SPAN_TYPE, "tool"),
            "query_database",
        );
        call.status_code = span::StatusCode::Error;
        call.status_message = "database is locked ".repeat(6);
        let read = calling(
            span(1, 2, 1, "mcp-tool-read_file", "mcp-host", 5_000, 2_500),
            "read_file",
        );
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
        assert_eq!(groups[0].0, hex(&[1; 16]));
        assert_eq!(groups[0].1.len(), 8);
        assert_eq!(groups[1].0, hex(&[2; 16]));
        assert_eq!(groups[1].1[0].name, "other-root");
    }
}
