//! The terminal tree: one trace's spans as an indented tree with a bar per span, the way
//! the host prints it after a command and `mcp-host view FILE` prints a saved trace.

use std::{collections::HashMap, fmt::Write as _};

use super::{
    Span, duration,
    layout::{TraceLayout, layout},
    traces,
};

const LABEL_WIDTH: usize = 56;
const BAR_WIDTH: usize = 24;

/// Renders the tree of the trace `trace_id` (a command's). Spans whose parent never
/// arrived are shown at the top level of their trace, marked, rather than dropped.
pub fn render(rows: &[Span], trace_id: opentelemetry::trace::TraceId) -> String {
    let id = trace_id.to_string();
    let trace: Vec<&Span> = rows.iter().filter(|r| r.trace_id == id).collect();
    if trace.is_empty() {
        return "Trace: no spans were received\n".to_owned();
    }
    render_trace(&trace)
}

/// Renders every trace in `rows`, in start order, one tree after the other with a blank
/// line between them. A file holding one trace prints exactly what [`render`] printed for
/// it after the command.
pub fn render_all(rows: &[Span]) -> String {
    let trees: Vec<String> = traces(rows)
        .iter()
        .map(|(_, trace)| render_trace(trace))
        .collect();
    if trees.is_empty() {
        return "Trace: no spans were received\n".to_owned();
    }
    trees.join("\n")
}

/// The tree of one trace's spans (all of the same trace id), with its header line and the
/// tool-call summary under it.
pub fn render_trace(trace: &[&Span]) -> String {
    let Some(first) = trace.first() else {
        return "Trace: no spans were received\n".to_owned();
    };
    let laid = layout(trace);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Trace: {}  (trace id {}, {} {}, services: {})",
        laid.name,
        first.trace_id,
        trace.len(),
        if trace.len() == 1 { "span" } else { "spans" },
        laid.services.join(", ")
    );
    // Whether each open ancestor level was the last of its siblings: its column shows a
    // gap, else a line.
    let mut lasts: Vec<bool> = Vec::new();
    for placed in &laid.rows {
        lasts.truncate(placed.depth);
        let prefix: String = lasts
            .iter()
            .map(|&last| if last { "    " } else { "│   " })
            .collect();
        let parent_service = placed.parent.map(|p| laid.rows[p].row.service.as_str());
        line(
            &mut out,
            &laid,
            placed.row,
            &prefix,
            placed.last,
            parent_service,
            placed.orphan,
        );
        lasts.push(placed.last);
    }
    out.push_str(&tool_latencies(trace));
    out
}

/// One line of the tool calls in `trace` by tool, in order of first call: how many, the
/// median and the slowest, as the caller saw them (its CLIENT spans). A call relayed on
/// (by `mcp-host proxy`, or any server that calls another) is the same call: only the
/// outermost CLIENT span counts. Empty without calls.
fn tool_latencies(trace: &[&Span]) -> String {
    let by_id: HashMap<&str, &Span> = trace.iter().map(|r| (r.span_id.as_str(), *r)).collect();
    let relayed = |row: &Span| {
        let mut parent = by_id.get(row.parent_span_id.as_str());
        // Bounded: a hostile file may hold a cycle.
        for _ in 0..trace.len() {
            let Some(ancestor) = parent else { return false };
            if ancestor.called_tool().is_some() {
                return true;
            }
            parent = by_id.get(ancestor.parent_span_id.as_str());
        }
        false
    };
    let mut calls: Vec<(String, Vec<u64>)> = Vec::new();
    let mut ordered: Vec<(&&Span, String)> = trace
        .iter()
        .filter(|r| !relayed(r))
        .filter_map(|r| Some((r, r.called_tool()?)))
        .collect();
    ordered.sort_by_key(|(r, _)| r.start);
    for (row, tool) in ordered {
        let took = row.duration();
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

/// One span's line: branch, name, service when it differs from the parent's, dots,
/// duration, bar, span type, error.
fn line(
    out: &mut String,
    laid: &TraceLayout<'_>,
    row: &Span,
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
    let span = laid.duration();
    let offset =
        ((row.start.saturating_sub(laid.begin)) as f64 / span as f64 * BAR_WIDTH as f64) as usize;
    let length = ((elapsed as f64 / span as f64 * BAR_WIDTH as f64).round() as usize)
        .clamp(1, BAR_WIDTH - offset.min(BAR_WIDTH - 1));
    let bar = format!(
        "{}{}",
        " ".repeat(offset.min(BAR_WIDTH - 1)),
        "█".repeat(length)
    );
    let kind = row.span_type().map(|t| format!(" {t}")).unwrap_or_default();
    let _ = write!(
        out,
        "{label}{dots}{:>8}  |{bar:<BAR_WIDTH$}|{kind}",
        duration(elapsed)
    );
    if let Some(message) = row.error() {
        let message: String = message.chars().take(80).collect();
        let _ = write!(out, "  ERROR: {message}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        hex,
        tests::{calling, fixture},
    };
    use opentelemetry::trace::TraceId;

    fn call(tool: Option<&str>, start: u64, took_micros: u64) -> Span {
        let span = Span {
            trace_id: hex(&[1]),
            span_id: hex(&[start as u8]),
            service: "mcp-host".into(),
            start,
            end: start + took_micros * 1000,
            ..Span::default()
        };
        match tool {
            Some(tool) => calling(span, tool),
            None => span,
        }
    }

    #[test]
    fn tree_is_unchanged() {
        let rows = fixture();
        let tree = render(&rows, TraceId::from_bytes([1; 16]));
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
    fn every_trace_is_printed_in_start_order() {
        let rows = fixture();
        let all = render_all(&rows);
        let trees: Vec<&str> = all.split("\n\n").collect();
        assert_eq!(trees.len(), 2, "{all}");
        // Both start at the same instant; the tie goes by trace id.
        assert_eq!(
            format!("{}\n", trees[0]),
            render(&rows, TraceId::from_bytes([1; 16]))
        );
        assert_eq!(
            trees[1],
            "Trace: other-root  (trace id 02020202020202020202020202020202, 1 span, services: mcp-host)\n\
             └── other-root (mcp-host) .............................     10µs  |████████████████████████|\n"
        );
        assert_eq!(render_all(&[]), "Trace: no spans were received\n");
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
        let trace: Vec<&Span> = rows.iter().collect();
        assert_eq!(
            tool_latencies(&trace),
            "Tool calls: read_file 3× median 200µs max 300µs, query_database 1× 1.5ms\n"
        );
        assert_eq!(tool_latencies(&trace[2..3]), "");
    }

    #[test]
    fn a_relayed_call_counts_once() {
        // The host's call, the proxy's SERVER span under it, the proxy's own call on.
        let host = call(Some("read_file"), 1, 900);
        let proxy = Span {
            parent_span_id: hex(&[1]),
            ..call(None, 2, 800)
        };
        let relay = Span {
            parent_span_id: hex(&[2]),
            ..call(Some("read_file"), 3, 700)
        };
        let rows = [host, proxy, relay];
        let trace: Vec<&Span> = rows.iter().collect();
        assert_eq!(tool_latencies(&trace), "Tool calls: read_file 1× 900µs\n");
    }
}
