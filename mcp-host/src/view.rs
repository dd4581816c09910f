//! The local trace view: the unified span tree of all processes, printed after a run, and the
//! OTLP/JSON dump of `--trace-json`.

use std::{collections::HashMap, fmt::Write as _, path::Path};

use trace_meta::attributes as attr;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{ResourceSpans, span::SpanKind, status::StatusCode},
};

/// One span, flattened out of its resource and scope.
#[derive(Debug, Clone)]
pub struct SpanRow {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    pub service: String,
    pub span_type: Option<String>,
    pub start: u64,
    pub end: u64,
    pub error: Option<String>,
    pub trace_name: Option<String>,
    /// `gen_ai.tool.name` of a CLIENT span: the host's side of a tool call.
    pub called_tool: Option<String>,
}

fn string_value(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| string_value(&kv.value))
}

/// Flattens everything received into rows.
pub fn rows(resource_spans: &[ResourceSpans]) -> Vec<SpanRow> {
    let mut rows = Vec::new();
    for resource in resource_spans {
        let service = resource
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, attr::SERVICE_NAME))
            .unwrap_or_else(|| "unknown".into());
        for scope in &resource.scope_spans {
            for span in &scope.spans {
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
                });
            }
        }
    }
    rows
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn duration(nanos: u64) -> String {
    let micros = nanos as f64 / 1_000.0;
    if micros < 1_000.0 {
        format!("{micros:.0}µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1}ms", micros / 1_000.0)
    } else {
        format!("{:.2}s", micros / 1_000_000.0)
    }
}

const LABEL_WIDTH: usize = 56;
const BAR_WIDTH: usize = 24;

/// Renders the tree of the trace whose root is `root_name` (the latest such root), or of the
/// largest trace when there is none. Spans whose parent never arrived are shown at the top
/// level of their trace, marked, rather than dropped.
pub fn render(rows: &[SpanRow], root_name: &str) -> String {
    let Some(trace_id) = rows
        .iter()
        .filter(|r| r.name == root_name && r.parent_span_id.is_empty())
        .max_by_key(|r| r.start)
        .map(|r| r.trace_id.clone())
        .or_else(|| {
            let mut counts: HashMap<&[u8], usize> = HashMap::new();
            for row in rows {
                *counts.entry(&row.trace_id).or_default() += 1;
            }
            counts
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(t, _)| t.to_vec())
        })
    else {
        return "Trace: no spans were received\n".to_owned();
    };
    let trace: Vec<&SpanRow> = rows.iter().filter(|r| r.trace_id == trace_id).collect();
    let ids: std::collections::HashSet<&[u8]> =
        trace.iter().map(|r| r.span_id.as_slice()).collect();
    let mut children: HashMap<&[u8], Vec<&SpanRow>> = HashMap::new();
    let mut tops = Vec::new();
    for row in &trace {
        if row.parent_span_id.is_empty() || !ids.contains(row.parent_span_id.as_slice()) {
            tops.push(*row);
        } else {
            children.entry(&row.parent_span_id).or_default().push(*row);
        }
    }
    tops.sort_by_key(|r| r.start);
    for list in children.values_mut() {
        list.sort_by_key(|r| r.start);
    }
    let begin = trace.iter().map(|r| r.start).min().unwrap_or(0);
    let finish = trace
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(begin)
        .max(begin + 1);
    let mut services: Vec<&str> = Vec::new();
    for row in &trace {
        if !services.contains(&row.service.as_str()) {
            services.push(&row.service);
        }
    }
    let name = tops
        .iter()
        .find_map(|r| r.trace_name.clone())
        .unwrap_or_else(|| tops.first().map(|r| r.name.clone()).unwrap_or_default());

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Trace: {name}  (trace id {}, {} spans, services: {})",
        hex(&trace_id),
        trace.len(),
        services.join(", ")
    );
    let view = View {
        children: &children,
        begin,
        span: finish - begin,
    };
    let count = tops.len();
    for (i, top) in tops.iter().enumerate() {
        let orphan = !top.parent_span_id.is_empty();
        view.line(&mut out, top, "", i + 1 == count, None, orphan);
    }
    out.push_str(&tool_latencies(&trace));
    out
}

/// One line of the tool calls in `trace` by tool, in order of first call: how many, the
/// median and the slowest, as the caller saw them (its CLIENT spans). Empty without calls.
fn tool_latencies(trace: &[&SpanRow]) -> String {
    let mut calls: Vec<(&str, Vec<u64>)> = Vec::new();
    let mut ordered: Vec<&&SpanRow> = trace.iter().filter(|r| r.called_tool.is_some()).collect();
    ordered.sort_by_key(|r| r.start);
    for row in ordered {
        let tool = row.called_tool.as_deref().unwrap_or_default();
        let took = row.end.saturating_sub(row.start);
        match calls.iter_mut().find(|(name, _)| *name == tool) {
            Some((_, times)) => times.push(took),
            None => calls.push((tool, vec![took])),
        }
    }
    if calls.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = calls
        .into_iter()
        .map(|(tool, mut times)| {
            times.sort_unstable();
            let median = times[(times.len() - 1) / 2];
            let slowest = times[times.len() - 1];
            match times.len() {
                1 => format!("{tool} 1× {}", duration(median)),
                n => format!(
                    "{tool} {n}× median {} max {}",
                    duration(median),
                    duration(slowest)
                ),
            }
        })
        .collect();
    format!("Tool calls: {}\n", parts.join(", "))
}

struct View<'a> {
    children: &'a HashMap<&'a [u8], Vec<&'a SpanRow>>,
    begin: u64,
    span: u64,
}

impl View<'_> {
    fn line(
        &self,
        out: &mut String,
        row: &SpanRow,
        prefix: &str,
        last: bool,
        parent_service: Option<&str>,
        orphan: bool,
    ) {
        let branch = if last { "└── " } else { "├── " };
        let mut label = format!("{prefix}{branch}{}", row.name);
        if parent_service != Some(row.service.as_str()) {
            let _ = write!(label, " ({})", row.service);
        }
        if orphan {
            label.push_str(" [parent span missing]");
        }
        let width = label.chars().count();
        let dots = if width + 2 < LABEL_WIDTH {
            format!(" {} ", ".".repeat(LABEL_WIDTH - width - 2))
        } else {
            " ".to_owned()
        };
        let elapsed = row.end.saturating_sub(row.start);
        let offset = ((row.start.saturating_sub(self.begin)) as f64 / self.span as f64
            * BAR_WIDTH as f64) as usize;
        let length = ((elapsed as f64 / self.span as f64 * BAR_WIDTH as f64).round() as usize)
            .clamp(1, BAR_WIDTH - offset.min(BAR_WIDTH - 1));
        let bar = format!(
            "{}{}",
            " ".repeat(offset.min(BAR_WIDTH - 1)),
            "█".repeat(length)
        );
        let kind = row
            .span_type
            .as_deref()
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "{label}{dots}{:>8}  |{bar:<BAR_WIDTH$}|{kind}",
            duration(elapsed)
        );
        if let Some(message) = &row.error {
            let message: String = message.chars().take(80).collect();
            let _ = write!(out, "  ERROR: {message}");
        }
        out.push('\n');

        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        if let Some(list) = self.children.get(row.span_id.as_slice()) {
            for (i, child) in list.iter().enumerate() {
                self.line(
                    out,
                    child,
                    &child_prefix,
                    i + 1 == list.len(),
                    Some(&row.service),
                    false,
                );
            }
        }
    }
}

/// Writes every collected span as one OTLP/JSON `ExportTraceServiceRequest`.
pub fn write_otlp_json(path: &Path, resource_spans: Vec<ResourceSpans>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let request = ExportTraceServiceRequest { resource_spans };
    let json = serde_json::to_vec_pretty(&request).context("encoding spans as OTLP/JSON")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: Option<&str>, start: u64, took_micros: u64) -> SpanRow {
        SpanRow {
            trace_id: vec![1],
            span_id: vec![start as u8],
            parent_span_id: Vec::new(),
            name: String::new(),
            service: "mcp-host".into(),
            span_type: None,
            start,
            end: start + took_micros * 1000,
            error: None,
            trace_name: None,
            called_tool: tool.map(str::to_owned),
        }
    }

    /// A span of trace `trace` with id `id` under `parent` (0: none).
    #[allow(clippy::too_many_arguments)]
    fn span(
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
            span_type: None,
            start: 1_700_000_000_000_000_000 + start_micros * 1000,
            end: 1_700_000_000_000_000_000 + (start_micros + took_micros) * 1000,
            error: None,
            trace_name: None,
            called_tool: None,
        }
    }

    /// Every feature of the tree in one trace: nesting, a service change, an error, a span
    /// type, an orphan, a label too long for its dots, and a second, smaller trace.
    pub(super) fn fixture() -> Vec<SpanRow> {
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
    fn tree_is_unchanged() {
        let rows = fixture();
        let tree = render(&rows, "mcp-agent");
        // The tree exactly as the host printed it before the page existed.
        let expected = r#"
Trace: mcp-tool-orchestration  (trace id 01010101010101010101010101010101, 8 spans, services: mcp-host, db-server, file-server)
├── mcp-agent (mcp-host) ..............................   50.0ms  |████████████████████████| agent
│   ├── mcp-tool-read_file ............................    2.5ms  |  █                     |
│   │   ├── tool-read_file (file-server) ..............    391µs  |  █                     |
│   │   └── a-span-with-a-name-long-enough-to-leave-no-room-for-dots (file-server)    2.0ms  |  █                     |
│   ├── mcp-tool-query_database .......................    4.0ms  |         ██             | tool  ERROR: database is locked database is locked database is locked database is locked data
│   │   └── tool-query_database (db-server) ...........    1.5ms  |         █              |
│   └── llm-summarize .................................    234µs  |                      █ |
└── late-child (db-server) [parent span missing] ......    2.0ms  |                       █|
Tool calls: read_file 1× 2.5ms, query_database 1× 4.0ms
"#;
        assert_eq!(tree, expected.strip_prefix('\n').unwrap_or(expected));
    }

    #[test]
    fn tool_calls_are_summarised_per_tool_in_call_order() {
        let rows = [
            call(Some("read_file"), 1, 300),
            call(Some("query_database"), 2, 1500),
            call(None, 3, 9000),
            call(Some("read_file"), 4, 100),
            call(Some("read_file"), 5, 200),
        ];
        let trace: Vec<&SpanRow> = rows.iter().collect();
        assert_eq!(
            tool_latencies(&trace),
            "Tool calls: read_file 3× median 200µs max 300µs, query_database 1× 1.5ms\n"
        );
        assert_eq!(tool_latencies(&trace[2..3]), "");
    }
}
