//! The trace as one self-contained HTML page: a waterfall per trace, to scale, coloured by
//! service, collapsible, with every span's attributes, events and links a click away.
//!
//! The page needs no server and no network: its styles and script are inline, its
//! Content-Security-Policy (`default-src 'none'`) forbids every request, and the spans are
//! embedded as JSON in a `<script type="application/json">` element, with `<`, `>` and `&`
//! written as `\u003c`, `\u003e`, `\u0026`, so no attribute value can close the element.
//! The script renders only the rows in view (a virtual list), so 10,000 spans scroll as
//! smoothly as 10.
//!
//! The page shows what the spans hold and nothing else: message content appears only
//! where it was captured as an attribute.
//!
//! One page can hold several traces, one section each, in the order given:
//!
//! ```no_run
//! # fn demo(collected: &[opentelemetry_proto::tonic::trace::v1::ResourceSpans],
//! #         turns: &[(String, opentelemetry::trace::TraceId)]) -> anyhow::Result<()> {
//! use trace_view::html::{Section, write_page};
//! // `mcp-host chat`: one section per turn.
//! let sections: Vec<Section> = turns
//!     .iter()
//!     .enumerate()
//!     .map(|(i, (question, id))| Section::new(format!("Turn {}: {question}", i + 1), *id))
//!     .collect();
//! write_page("chat.html".as_ref(), collected, "Conversation", &sections)?;
//! # Ok(()) }
//! ```

use std::{collections::HashMap, path::Path};

use anyhow::Context as _;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Serialize;
use serde_json::Value;

use super::{
    Span,
    layout::{layout, ticks},
    rows,
    span::{Attributes, SpanKind, StatusCode},
    traces,
};

/// The page's styles.
const CSS: &str = include_str!("page.css");
/// The page's script: renders the embedded data.
const JS: &str = include_str!("page.js");
/// Nothing may be fetched: no scripts, styles, images, fonts or connections from anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
/// Most ticks on a section's time axis.
const MAX_TICKS: usize = 9;
/// Characters of a trace's input and output shown in its section's header.
const SUMMARY_CHARS: usize = 300;

/// One section of a page: a heading and the trace it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading, e.g. `Turn 2: Which region grew fastest?`.
    pub title: String,
    /// The trace's id, lower-case hex.
    pub trace_id: String,
}

impl Section {
    /// A section titled `title` showing the trace `trace_id` (e.g. the id of a turn's root
    /// span: `span.context().span().span_context().trace_id()`).
    pub fn new(title: impl Into<String>, trace_id: opentelemetry::trace::TraceId) -> Self {
        Self {
            title: title.into(),
            trace_id: trace_id.to_string(),
        }
    }
}

/// One section per trace in `resource_spans`, in start order, each titled by the trace's
/// name: what `mcp-host view FILE --html OUT` shows.
pub fn sections_by_start(resource_spans: &[ResourceSpans]) -> Vec<Section> {
    let rows = rows(resource_spans);
    traces(&rows)
        .into_iter()
        .map(|(trace_id, spans)| Section {
            title: layout(&spans).name,
            trace_id: trace_id.to_owned(),
        })
        .collect()
}

/// Writes the page of one command to `path`: its trace, `trace_id`, titled by the trace's
/// name (`mcp-host` when none of its spans arrived).
pub fn write_command_page(
    path: &Path,
    resource_spans: &[ResourceSpans],
    trace_id: opentelemetry::trace::TraceId,
) -> anyhow::Result<()> {
    let rows = rows(resource_spans);
    let id = trace_id.to_string();
    let trace: Vec<&Span> = rows.iter().filter(|r| r.trace_id == id).collect();
    let sections: Vec<Section> = if trace.is_empty() {
        Vec::new()
    } else {
        vec![Section {
            title: layout(&trace).name,
            trace_id: id,
        }]
    };
    let title = sections
        .first()
        .map_or_else(|| "mcp-host".to_owned(), |s| s.title.clone());
    write_page(path, resource_spans, &title, &sections)
}

/// Writes one page titled `title` to `path`, with one section per entry of `sections`, in
/// that order, each showing the spans of its trace found in `resource_spans`. A single
/// command's page is the one-section case; a conversation gives one section per turn.
pub fn write_page(
    path: &Path,
    resource_spans: &[ResourceSpans],
    title: &str,
    sections: &[Section],
) -> anyhow::Result<()> {
    let html = page(resource_spans, title, sections)?;
    std::fs::write(path, html)
        .with_context(|| format!("writing the trace page to {}", path.display()))
}

/// The page [`write_page`] writes, as a string.
pub fn page(
    resource_spans: &[ResourceSpans],
    title: &str,
    sections: &[Section],
) -> anyhow::Result<String> {
    let data = page_data(resource_spans, title, sections);
    let json = serde_json::to_string(&data).context("encoding the spans for the page")?;
    let mut html = String::with_capacity(json.len() + CSS.len() + JS.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    html.push_str(CONTENT_SECURITY_POLICY);
    html.push_str(
        "\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    );
    html.push_str("<meta name=\"generator\" content=\"mcp-host ");
    html.push_str(env!("CARGO_PKG_VERSION"));
    html.push_str("\">\n<title>");
    html.push_str(&escape_html(title));
    html.push_str(" · trace</title>\n<style>\n");
    html.push_str(CSS);
    html.push_str(
        "</style>\n</head>\n<body>\n<noscript>This trace view needs JavaScript: \
                   its spans are in the page, and nothing is fetched.</noscript>\n\
                   <div id=\"app\"></div>\n<script type=\"application/json\" id=\"trace-data\">",
    );
    html.push_str(&script_safe(&json));
    html.push_str("</script>\n<script>\n");
    html.push_str(JS);
    html.push_str("</script>\n</body>\n</html>\n");
    Ok(html)
}

/// `text` with `&`, `<`, `>`, `"` and `'` as character references, safe in HTML text and
/// in quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON text safe inside a `<script>` element: `<`, `>` and `&` occur in JSON only inside
/// strings, where `\u003c`, `\u003e` and `\u0026` mean the same characters, so no value
/// can write `</script>` or `<!--`. U+2028 and U+2029 are escaped for old parsers.
pub fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

// The embedded data. Field names are short where they repeat per span; the script reads
// them (page.js), and an absent field means its default (no events, not an orphan...).

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageData {
    title: String,
    generator: String,
    /// Service names; spans and resources refer to them by index, and each has a colour.
    services: Vec<String>,
    resources: Vec<ResourceData>,
    /// Instrumentation scopes (`name version`), by index.
    scopes: Vec<String>,
    sections: Vec<SectionData>,
}

#[derive(Serialize)]
struct ResourceData {
    service: usize,
    attributes: Vec<(String, Value)>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SectionData {
    title: String,
    trace_id: String,
    /// The trace's name (`confident.trace.name`, else the root's name).
    name: String,
    /// When the trace began, milliseconds since the Unix epoch.
    start_unix_ms: f64,
    duration_ns: u64,
    error_count: usize,
    /// Indices into [`PageData::services`], in the order of their first span in the tree.
    services: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    ticks: Vec<TickData>,
    /// The spans in tree order (children by start time).
    spans: Vec<SpanData>,
}

#[derive(Serialize)]
struct TickData {
    /// Position, a fraction of the trace.
    x: f64,
    label: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpanData {
    span_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    parent_span_id: String,
    /// Index of the parent's span in this section; absent at the top level.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<usize>,
    name: String,
    service: usize,
    resource: usize,
    scope: usize,
    kind: &'static str,
    /// `confident.span.type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    span_type: Option<String>,
    /// Nanoseconds from the trace's start.
    start: u64,
    duration: u64,
    depth: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    orphan: bool,
    /// Index just past the span's last descendant: a collapsed span skips to it.
    end: usize,
    /// Bar offset and width, fractions of the trace.
    x: f64,
    w: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<(String, Value)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<EventData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<LinkData>,
}

#[derive(Serialize)]
struct StatusData {
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct EventData {
    name: String,
    /// Nanoseconds from the span's start (negative when a clock disagrees).
    offset: i128,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<(String, Value)>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkData {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<(String, Value)>,
}

/// Interns strings as indices, in order of first use.
#[derive(Default)]
struct Interned {
    index: HashMap<String, usize>,
    list: Vec<String>,
}

impl Interned {
    fn get(&mut self, key: &str) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        self.list.push(key.to_owned());
        self.index.insert(key.to_owned(), self.list.len() - 1);
        self.list.len() - 1
    }
}

fn page_data(resource_spans: &[ResourceSpans], title: &str, sections: &[Section]) -> PageData {
    let all = rows(resource_spans);
    let mut services = Interned::default();
    let mut scopes = Interned::default();
    // Resources the page's spans use, deduplicated by content: an exporter sends the same
    // resource with every batch.
    let mut resource_keys = Interned::default();
    let mut resources: Vec<ResourceData> = Vec::new();
    let mut resource_of: HashMap<usize, usize> = HashMap::new();

    let mut out_sections = Vec::with_capacity(sections.len());
    for section in sections {
        let trace: Vec<&Span> = all
            .iter()
            .filter(|r| r.trace_id == section.trace_id)
            .collect();
        let laid = layout(&trace);
        // Services in tree order: the root's first, so that it keeps the first colour.
        let mut service_ids: Vec<usize> = Vec::new();
        for placed in &laid.rows {
            let id = services.get(&placed.row.service);
            if !service_ids.contains(&id) {
                service_ids.push(id);
            }
        }
        let mut spans = Vec::with_capacity(laid.rows.len());
        for placed in &laid.rows {
            let row = placed.row;
            let resource_index = *resource_of.entry(row.origin.resource).or_insert_with(|| {
                let attributes = attributes_json(&row.resource);
                let service = services.get(&row.service);
                let key = serde_json::to_string(&(service, &attributes)).unwrap_or_default();
                let index = resource_keys.get(&key);
                if index == resources.len() {
                    resources.push(ResourceData {
                        service,
                        attributes,
                    });
                }
                index
            });
            spans.push(SpanData {
                span_id: row.span_id.clone(),
                parent_span_id: row.parent_span_id.clone(),
                parent: placed.parent,
                name: row.name.clone(),
                service: services.get(&row.service),
                resource: resource_index,
                scope: scopes.get(&row.scope),
                kind: kind_name(row.kind),
                span_type: row.span_type(),
                start: row.start.saturating_sub(laid.begin),
                duration: row.duration(),
                depth: placed.depth,
                orphan: placed.orphan,
                end: placed.subtree_end,
                x: rounded(laid.offset(placed)),
                w: rounded(laid.width(placed)),
                status: (row.status_code != StatusCode::Unset || !row.status_message.is_empty())
                    .then(|| StatusData {
                        code: status_name(row.status_code),
                        message: row.status_message.clone(),
                    }),
                attributes: attributes_json(&row.attributes),
                events: row
                    .events
                    .iter()
                    .map(|e| EventData {
                        name: e.name.clone(),
                        offset: i128::from(e.time) - i128::from(row.start),
                        attributes: attributes_json(&e.attributes),
                    })
                    .collect(),
                links: row
                    .links
                    .iter()
                    .map(|l| LinkData {
                        trace_id: l.trace_id.clone(),
                        span_id: l.span_id.clone(),
                        attributes: attributes_json(&l.attributes),
                    })
                    .collect(),
            });
        }
        let root = laid.rows.first().map(|p| p.row);
        let root_attribute = |key: &str| {
            root.and_then(|r| r.attribute_text(key))
                .map(|text| shorten(&text, SUMMARY_CHARS))
        };
        out_sections.push(SectionData {
            title: section.title.clone(),
            trace_id: section.trace_id.clone(),
            name: laid.name.clone(),
            start_unix_ms: laid.begin as f64 / 1e6,
            duration_ns: if trace.is_empty() { 0 } else { laid.duration() },
            error_count: trace.iter().filter(|r| r.is_error()).count(),
            services: service_ids,
            input: root_attribute(crate::attr::CONFIDENT_TRACE_INPUT),
            output: root_attribute(crate::attr::CONFIDENT_TRACE_OUTPUT),
            ticks: if trace.is_empty() {
                Vec::new()
            } else {
                ticks(laid.duration(), MAX_TICKS)
                    .into_iter()
                    .map(|t| TickData {
                        x: rounded(t.fraction),
                        label: t.label,
                    })
                    .collect()
            },
            spans,
        });
    }
    PageData {
        title: title.to_owned(),
        generator: format!("mcp-host {}", env!("CARGO_PKG_VERSION")),
        services: services.list,
        resources,
        scopes: scopes.list,
        sections: out_sections,
    }
}

/// Six decimals: a millionth of the trace is far below a pixel.
fn rounded(fraction: f64) -> f64 {
    (fraction * 1e6).round() / 1e6
}

fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal | SpanKind::Unspecified => "INTERNAL",
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
    }
}

fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Ok => "OK",
        StatusCode::Error => "ERROR",
        StatusCode::Unset => "UNSET",
    }
}

/// Attributes as `[key, value]` pairs, in their order, values as JavaScript reads them.
fn attributes_json(attributes: &Attributes) -> Vec<(String, Value)> {
    attributes
        .iter()
        .map(|(key, value)| (key.clone(), for_javascript(value)))
        .collect()
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// `value` with every integer past 2^53 as its decimal string, which JavaScript would
/// otherwise round.
fn for_javascript(value: &Value) -> Value {
    match value {
        Value::Number(n)
            if n.as_i64()
                .is_some_and(|i| i.unsigned_abs() > MAX_SAFE_INTEGER as u64) =>
        {
            Value::String(n.to_string())
        }
        Value::Array(items) => Value::Array(items.iter().map(for_javascript).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), for_javascript(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value},
        resource::v1::Resource,
        trace::v1::{ScopeSpans, Span, Status, span::Event},
    };

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn text(s: &str) -> any_value::Value {
        any_value::Value::StringValue(s.into())
    }

    fn span(trace: u8, id: u8, parent: u8, name: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            name: name.into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: 1_000_000 + start,
            end_time_unix_nano: 1_000_000 + end,
            ..Span::default()
        }
    }

    fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", text(service))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "trace-meta".into(),
                    version: "0.1.0".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    const HOSTILE: &str = "</script><script>alert(1)</script><!-- & \u{2028}";

    fn sample() -> Vec<ResourceSpans> {
        let mut root = span(1, 1, 0, "mcp-agent", 0, 1000);
        root.attributes = vec![
            kv("confident.trace.name", text("orchestration")),
            kv("confident.trace.input", text(HOSTILE)),
            kv(
                "tools",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(text("read_file")),
                    }],
                }),
            ),
            kv("big", any_value::Value::IntValue(1 << 60)),
            kv("nan", any_value::Value::DoubleValue(f64::NAN)),
        ];
        let mut call = span(1, 2, 1, "mcp-tool-read_file", 100, 600);
        call.kind = SpanKind::Client as i32;
        call.status = Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        });
        call.events = vec![Event {
            time_unix_nano: 1_000_000 + 150,
            name: "notifications/cancelled".into(),
            ..Event::default()
        }];
        let mut server = span(1, 3, 2, "tool-read_file", 200, 500);
        server.kind = SpanKind::Server as i32;
        vec![
            resource(
                "mcp-host",
                vec![root, call, span(2, 9, 0, "later", 5000, 6000)],
            ),
            resource(
                "file-server",
                vec![server, span(1, 4, 77, "orphan", 900, 1000)],
            ),
            // The same resource again, as a second batch sends it.
            resource("mcp-host", vec![span(1, 5, 1, "llm-summarize", 700, 800)]),
        ]
    }

    /// The JSON embedded in `html`, parsed back.
    fn embedded(html: &str) -> Value {
        let start = html
            .find("<script type=\"application/json\" id=\"trace-data\">")
            .expect("data element")
            + "<script type=\"application/json\" id=\"trace-data\">".len();
        let len = html[start..].find("</script>").expect("data element's end");
        serde_json::from_str(&html[start..start + len]).expect("the data is JSON")
    }

    #[test]
    fn a_hostile_value_cannot_close_the_data_element() {
        let html = page(&sample(), HOSTILE, &sections_by_start(&sample())).unwrap();
        assert!(!html.contains("alert(1)</script>"));
        assert!(!html.contains("<!--"));
        // Two scripts: the data and the code; the title escaped.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(html.contains(
            "<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!-- &amp; \u{2028} · trace</title>"
        ));
        let data = embedded(&html);
        assert_eq!(data["title"], HOSTILE);
        assert_eq!(data["sections"][0]["input"], HOSTILE);
        assert_eq!(data["sections"][0]["spans"][0]["attributes"][1][1], HOSTILE);
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = page(&sample(), "t", &sections_by_start(&sample())).unwrap();
        assert!(html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">"
        )));
        for forbidden in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            assert!(!CSS.contains(forbidden), "page.css has {forbidden}");
            assert!(!JS.contains(forbidden), "page.js has {forbidden}");
        }
        for closing in ["</script", "</style", "<!--"] {
            assert!(!CSS.contains(closing) && !JS.contains(closing), "{closing}");
        }
        assert_eq!(script_safe("<>&\u{2029}"), "\\u003c\\u003e\\u0026\\u2029");
        assert_eq!(
            escape_html("a<b>\"c\"&'d'"),
            "a&lt;b&gt;&quot;c&quot;&amp;&#39;d&#39;"
        );
    }

    #[test]
    fn sections_come_in_the_order_given_with_their_layout() {
        let spans = sample();
        let by_start = sections_by_start(&spans);
        assert_eq!(
            by_start,
            [
                Section {
                    title: "orchestration".into(),
                    trace_id: hex(&[1; 16])
                },
                Section {
                    title: "later".into(),
                    trace_id: hex(&[2; 16])
                },
            ]
        );
        let chat = [
            Section {
                title: "Turn 1: later".into(),
                trace_id: hex(&[2; 16]),
            },
            Section::new(
                "Turn 2: first",
                opentelemetry::trace::TraceId::from_bytes([1; 16]),
            ),
            Section {
                title: "Turn 3: lost".into(),
                trace_id: hex(&[3; 16]),
            },
        ];
        let data = embedded(&page(&spans, "Conversation", &chat).unwrap());
        let sections = data["sections"].as_array().unwrap();
        let titles: Vec<&str> = sections
            .iter()
            .map(|s| s["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Turn 1: later", "Turn 2: first", "Turn 3: lost"]);
        assert_eq!(sections[2]["spans"].as_array().unwrap().len(), 0);
        assert_eq!(sections[2]["durationNs"], 0);

        let first = &sections[1];
        assert_eq!(first["traceId"], hex(&[1; 16]));
        assert_eq!(first["name"], "orchestration");
        assert_eq!(first["durationNs"], 1000);
        assert_eq!(first["errorCount"], 1);
        assert_eq!(
            data["services"],
            serde_json::json!(["mcp-host", "file-server"])
        );
        assert_eq!(first["services"], serde_json::json!([0, 1]));
        let names: Vec<(&str, u64, Option<u64>, u64)> = first["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap(),
                    s["depth"].as_u64().unwrap(),
                    s["parent"].as_u64(),
                    s["end"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("mcp-agent", 0, None, 4),
                ("mcp-tool-read_file", 1, Some(0), 3),
                ("tool-read_file", 2, Some(1), 3),
                ("llm-summarize", 1, Some(0), 4),
                ("orphan", 0, None, 5),
            ]
        );
        let call = &first["spans"][1];
        assert_eq!(call["kind"], "CLIENT");
        assert_eq!(call["x"], 0.1);
        assert_eq!(call["w"], 0.5);
        assert_eq!(call["start"], 100);
        assert_eq!(call["duration"], 500);
        assert_eq!(call["parentSpanId"], hex(&[1; 8]));
        assert_eq!(
            call["status"],
            serde_json::json!({"code": "ERROR", "message": "boom"})
        );
        assert_eq!(
            call["events"],
            serde_json::json!([{"name": "notifications/cancelled", "offset": 50}])
        );
        assert_eq!(first["spans"][4]["orphan"], true);
        assert_eq!(first["spans"][4]["parentSpanId"], hex(&[77; 8]));
        assert!(
            first["spans"][0].get("orphan").is_none(),
            "defaults are left out"
        );
        let root = &first["spans"][0]["attributes"];
        assert_eq!(root[2], serde_json::json!(["tools", ["read_file"]]));
        assert_eq!(root[3], serde_json::json!(["big", "1152921504606846976"]));
        assert_eq!(root[4], serde_json::json!(["nan", "NaN"]));
        let ticks: Vec<&str> = first["ticks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["label"].as_str().unwrap())
            .collect();
        assert_eq!(ticks, ["0", "0.2µs", "0.4µs", "0.6µs", "0.8µs", "1.0µs"]);
        // Two distinct resources, though three batches came.
        assert_eq!(data["resources"].as_array().unwrap().len(), 2);
        assert_eq!(data["scopes"], serde_json::json!(["trace-meta 0.1.0"]));
    }

    #[test]
    fn a_command_page_shows_the_command_trace() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("page.html");
        write_command_page(
            &file,
            &sample(),
            opentelemetry::trace::TraceId::from_bytes([2; 16]),
        )
        .unwrap();
        let data = embedded(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(data["title"], "later");
        assert_eq!(data["sections"].as_array().unwrap().len(), 1);
        assert_eq!(data["sections"][0]["traceId"], hex(&[2; 16]));
        write_command_page(
            &file,
            &[],
            opentelemetry::trace::TraceId::from_bytes([2; 16]),
        )
        .unwrap();
        let data = embedded(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(data["sections"], serde_json::json!([]));
        let error = write_command_page(
            &dir.path().join("no/such/dir.html"),
            &[],
            opentelemetry::trace::TraceId::INVALID,
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("writing the trace page to "), "{error}");
    }
}
