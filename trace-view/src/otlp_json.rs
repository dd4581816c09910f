//! OTLP/JSON files: `--trace-json`'s writer, and a reader for what it wrote and for what
//! other tools export.
//!
//! The reader accepts, in one file:
//! - one `ExportTraceServiceRequest` (`{"resourceSpans": [...]}`), pretty or not: what
//!   `--trace-json` writes;
//! - JSON Lines, one such object per line: what an OpenTelemetry Collector's file exporter
//!   writes (lines of logs or metrics only are skipped);
//! - an array of such objects.
//!
//! It is lenient where real exports differ from the OTLP/JSON rules, and normalises before
//! decoding with `opentelemetry-proto`:
//! 1. field names in `snake_case` (`resource_spans`, `start_time_unix_nano`) as well as
//!    `lowerCamelCase`, and `null` for a missing field;
//! 2. trace and span ids in hex (OTLP/JSON) or base64 (the protobuf JSON mapping of bytes);
//! 3. times and integers as strings or numbers;
//! 4. span kinds and status codes as numbers or names (`SPAN_KIND_SERVER`, `SERVER`,
//!    `STATUS_CODE_ERROR`, `Error`).
//!
//! Whatever it cannot read is a [`LoadError`] naming the file, the line or document, the
//! field and what was expected; nothing in a file can make it panic.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1::ResourceSpans,
};
use serde_json::{Map, Value};

/// Writes every collected span as one OTLP/JSON `ExportTraceServiceRequest`.
pub fn write_otlp_json(path: &Path, resource_spans: Vec<ResourceSpans>) -> anyhow::Result<()> {
    let request = ExportTraceServiceRequest { resource_spans };
    let json = serde_json::to_vec_pretty(&request).context("encoding spans as OTLP/JSON")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// What the file holds, said in every error.
const EXPECTED: &str = "expected OTLP/JSON traces: what --trace-json writes, or an \
                        OpenTelemetry Collector's file export (one {\"resourceSpans\": [...]} \
                        per line)";

/// Why a trace file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON (or not JSON Lines) at some point.
    #[error(
        "{} is not JSON at line {line}, column {column}: {message}; {EXPECTED}",
        path.display()
    )]
    NotJson {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// A document is JSON but not the expected shape.
    #[error("{} ({where_}): {what}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// Which document (and its line), and the field, e.g.
        /// `line 3, resourceSpans[0].scopeSpans[1].spans[2].spanId`.
        where_: String,
        /// What is wrong and what was expected.
        what: String,
    },
    /// The file holds no span at all.
    #[error("{} holds no spans ({found}); {EXPECTED}", path.display())]
    NoSpans {
        /// The file.
        path: PathBuf,
        /// What it holds instead: "it is empty", "only logs or metrics", ...
        found: String,
    },
}

/// Reads every span in the OTLP/JSON file at `path` (see the module doc for what it
/// accepts).
pub fn load_otlp_json(path: &Path) -> Result<Vec<ResourceSpans>, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes)
}

/// [`load_otlp_json`] of bytes already read; `path` names them in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<ResourceSpans>, LoadError> {
    let shape = |where_: String, what: String| LoadError::Shape {
        path: path.to_owned(),
        where_,
        what,
    };
    let no_spans = |found: &str| LoadError::NoSpans {
        path: path.to_owned(),
        found: found.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        LoadError::NotJson {
            path: path.to_owned(),
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: before.len()
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1)
                + 1,
            message: "not UTF-8 text".into(),
        }
    })?;
    if text.trim().is_empty() {
        return Err(no_spans("it is empty"));
    }

    // One document, or JSON Lines, or documents one after another: all a stream of values.
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut documents: Vec<(String, Value)> = Vec::new();
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                let line = text[..offset].matches('\n').count()
                    + 1
                    + text[offset..]
                        .find(|c: char| !c.is_whitespace())
                        .map_or(0, |skip| text[offset..offset + skip].matches('\n').count());
                match value {
                    Value::Array(items) => {
                        for (i, item) in items.into_iter().enumerate() {
                            documents.push((format!("line {line}, item {i}"), item));
                        }
                    }
                    value => documents.push((format!("line {line}"), value)),
                }
            }
            Some(Err(error)) => {
                return Err(LoadError::NotJson {
                    path: path.to_owned(),
                    line: error.line(),
                    column: error.column(),
                    message: error.to_string(),
                });
            }
        }
    }

    let mut resource_spans = Vec::new();
    let mut other_signals = 0;
    for (place, mut document) in documents {
        let Value::Object(object) = &mut document else {
            return Err(shape(
                place,
                format!("a JSON {}, not an object", kind_of(&document)),
            ));
        };
        normalise_keys(object);
        if !object.contains_key("resourceSpans") {
            if ["resourceLogs", "resourceMetrics", "resourceProfiles"]
                .iter()
                .any(|k| object.contains_key(*k))
            {
                other_signals += 1;
                continue;
            }
            if object.get("data").is_some_and(Value::is_array) {
                return Err(shape(
                    place,
                    "this looks like Jaeger's own JSON (data[].spans), not OTLP; export the \
                     trace as OTLP/JSON (Jaeger's API /api/v3/traces/{id} returns it)"
                        .into(),
                ));
            }
            let keys: Vec<&str> = object.keys().map(String::as_str).take(5).collect();
            return Err(shape(
                place,
                format!(
                    "no \"resourceSpans\" (keys: {}); {EXPECTED}",
                    keys.join(", ")
                ),
            ));
        }
        normalise_request(&mut document)
            .map_err(|(field, what)| shape(format!("{place}, {field}"), what))?;
        let request: ExportTraceServiceRequest = serde_json::from_value(document)
            .map_err(|error| shape(place, format!("not an OTLP trace export: {error}")))?;
        resource_spans.extend(request.resource_spans);
    }
    let spans: usize = resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if spans == 0 {
        return Err(no_spans(if other_signals > 0 {
            "only logs or metrics"
        } else {
            "its resourceSpans are empty"
        }));
    }
    Ok(resource_spans)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Step 1: `snake_case` keys become `lowerCamelCase`, and `null` members go, in every
/// object. Attribute keys are values (`{"key": "service.name"}`), never object keys, so
/// none is touched.
fn normalise_keys(object: &mut Map<String, Value>) {
    let entries = std::mem::take(object);
    for (key, mut value) in entries {
        if value.is_null() {
            continue;
        }
        match &mut value {
            Value::Object(inner) => normalise_keys(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        normalise_keys(inner);
                    }
                }
            }
            _ => {}
        }
        let key = if key.contains('_') {
            camel_case(&key)
        } else {
            key
        };
        object.insert(key, value);
    }
}

fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field's place and what is wrong with it.
type Bad = (String, String);

/// Steps 2 to 4 on one `ExportTraceServiceRequest`.
fn normalise_request(request: &mut Value) -> Result<(), Bad> {
    for (r, resource) in items(request, "resourceSpans").enumerate() {
        let place = format!("resourceSpans[{r}]");
        if let Some(Value::Object(res)) = resource.get_mut("resource") {
            normalise_attributes(res, &format!("{place}.resource"))?;
        }
        // Before OTLP 0.19, scopeSpans were instrumentationLibrarySpans.
        if let Value::Object(object) = resource
            && !object.contains_key("scopeSpans")
            && let Some(old) = object.remove("instrumentationLibrarySpans")
        {
            object.insert("scopeSpans".into(), old);
        }
        for (s, scope) in items(resource, "scopeSpans").enumerate() {
            let place = format!("{place}.scopeSpans[{s}]");
            if let Value::Object(object) = scope
                && !object.contains_key("scope")
                && let Some(old) = object.remove("instrumentationLibrary")
            {
                object.insert("scope".into(), old);
            }
            for (i, span) in items(scope, "spans").enumerate() {
                normalise_span(span, &format!("{place}.spans[{i}]"))?;
            }
        }
    }
    Ok(())
}

/// The elements of `value[key]` when it is an array (a wrong type is left for the decoder
/// to name).
fn items<'v>(value: &'v mut Value, key: &str) -> impl Iterator<Item = &'v mut Value> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn normalise_span(span: &mut Value, place: &str) -> Result<(), Bad> {
    let Value::Object(object) = span else {
        return Err((
            place.into(),
            format!("a {}, not a span object", kind_of(span)),
        ));
    };
    id(object, "traceId", 16, place)?;
    id(object, "spanId", 8, place)?;
    id(object, "parentSpanId", 8, place)?;
    time(object, "startTimeUnixNano", place)?;
    time(object, "endTimeUnixNano", place)?;
    named_number(object, "kind", "SPAN_KIND_", &SPAN_KINDS, place)?;
    if let Some(Value::Object(status)) = object.get_mut("status") {
        named_number(
            status,
            "code",
            "STATUS_CODE_",
            &STATUS_CODES,
            &format!("{place}.status"),
        )?;
    }
    normalise_attributes(object, place)?;
    for (e, event) in items_of(object, "events").enumerate() {
        let place = format!("{place}.events[{e}]");
        if let Value::Object(event) = event {
            time(event, "timeUnixNano", &place)?;
            normalise_attributes(event, &place)?;
        }
    }
    for (l, link) in items_of(object, "links").enumerate() {
        let place = format!("{place}.links[{l}]");
        if let Value::Object(link) = link {
            id(link, "traceId", 16, &place)?;
            id(link, "spanId", 8, &place)?;
            normalise_attributes(link, &place)?;
        }
    }
    Ok(())
}

fn items_of<'v>(
    object: &'v mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'v mut Value> {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

const SPAN_KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// Step 2: an id in hex stays; one in base64 becomes hex. `len` is the id's size in bytes.
fn id(object: &mut Map<String, Value>, key: &str, len: usize, place: &str) -> Result<(), Bad> {
    let Some(value) = object.get_mut(key) else {
        return Ok(());
    };
    let Value::String(text) = value else {
        return Err((
            format!("{place}.{key}"),
            format!("a {}, expected an id as a hex string", kind_of(value)),
        ));
    };
    if text.is_empty() || (text.len() == 2 * len && text.bytes().all(|b| b.is_ascii_hexdigit())) {
        // Upper-case hex decodes too; the page and tree print lower case.
        return Ok(());
    }
    match base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text.as_bytes()))
    {
        Ok(bytes) if bytes.len() == len => {
            *value = Value::String(super::hex(&bytes));
            Ok(())
        }
        _ => Err((
            format!("{place}.{key}"),
            format!(
                "{:?} is not a {len}-byte id in hex ({} hex digits) or base64",
                shorten(text),
                2 * len
            ),
        )),
    }
}

/// Step 3: a time is a whole number of nanoseconds: a number, or a string of digits.
fn time(object: &mut Map<String, Value>, key: &str, place: &str) -> Result<(), Bad> {
    let Some(value) = object.get_mut(key) else {
        return Ok(());
    };
    let bad = |what: String| {
        Err((
            format!("{place}.{key}"),
            format!("{what}, expected nanoseconds since the Unix epoch as a whole number"),
        ))
    };
    match value {
        Value::Number(n) if n.is_u64() => Ok(()),
        Value::Number(n) => match n.as_f64() {
            // 1.7e18 written as a float: whole nanoseconds, give or take its precision.
            Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                *value = Value::from(f as u64);
                Ok(())
            }
            _ => bad(format!("{n}")),
        },
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => {
                *value = Value::from(n);
                Ok(())
            }
            Err(_) => bad(format!("{:?}", shorten(s))),
        },
        other => bad(format!("a {}", kind_of(other))),
    }
}

/// Step 4: an enum given by name (`SPAN_KIND_SERVER`, `server`) becomes its number.
fn named_number(
    object: &mut Map<String, Value>,
    key: &str,
    prefix: &str,
    names: &[&str],
    place: &str,
) -> Result<(), Bad> {
    let Some(value) = object.get_mut(key) else {
        return Ok(());
    };
    let wanted = || {
        format!(
            "expected a number or one of {}",
            names
                .iter()
                .map(|n| format!("{prefix}{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match value {
        Value::Number(n) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => Ok(()),
        Value::String(s) => {
            let upper = s.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix(prefix).unwrap_or(&upper);
            if let Some(n) = names.iter().position(|n| *n == bare) {
                *value = Value::from(n);
                Ok(())
            } else if let Ok(n) = bare.parse::<i32>() {
                *value = Value::from(n);
                Ok(())
            } else {
                Err((
                    format!("{place}.{key}"),
                    format!("{:?}: {}", shorten(s), wanted()),
                ))
            }
        }
        other => Err((
            format!("{place}.{key}"),
            format!("{}: {}", shorten(&other.to_string()), wanted()),
        )),
    }
}

/// `object.attributes[]`: a `doubleValue` given as a string becomes a number, or a string
/// value when it is not a finite number (`"NaN"`); nested arrays and lists too.
fn normalise_attributes(object: &mut Map<String, Value>, place: &str) -> Result<(), Bad> {
    for (a, kv) in items_of(object, "attributes").enumerate() {
        if !kv.is_object() {
            return Err((
                format!("{place}.attributes[{a}]"),
                format!(
                    "a {}, expected {{\"key\": ..., \"value\": ...}}",
                    kind_of(kv)
                ),
            ));
        }
        if let Some(value) = kv.get_mut("value") {
            normalise_any_value(value);
        }
    }
    Ok(())
}

fn normalise_any_value(value: &mut Value) {
    let Value::Object(object) = value else {
        return;
    };
    if let Some(Value::String(text)) = object.get("doubleValue") {
        let replacement = match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => ("doubleValue", Value::from(f)),
            _ => ("stringValue", Value::String(text.clone())),
        };
        object.remove("doubleValue");
        object.insert(replacement.0.into(), replacement.1);
    }
    if let Some(inner) = object.get_mut("arrayValue") {
        for item in items(inner, "values") {
            normalise_any_value(item);
        }
    }
    if let Some(inner) = object.get_mut("kvlistValue") {
        for kv in items(inner, "values") {
            if let Some(value) = kv.get_mut("value") {
                normalise_any_value(value);
            }
        }
    }
}

/// At most 40 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(40).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

    fn load(text: &str) -> Result<Vec<ResourceSpans>, LoadError> {
        parse(Path::new("t.json"), text.as_bytes())
    }

    fn error(text: &str) -> String {
        load(text).expect_err("an error").to_string()
    }

    const ONE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"","name":"root","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000001000000","attributes":[{"key":"n","value":{"intValue":"7"}}],"status":{}}]}]}]}"#;

    #[test]
    fn what_trace_json_writes_reads_back_unchanged() {
        let spans = load(ONE).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trace.json");
        write_otlp_json(&file, spans.clone()).unwrap();
        assert_eq!(load_otlp_json(&file).unwrap(), spans);
        let span = &spans[0].scope_spans[0].spans[0];
        assert_eq!(super::super::hex(&span.span_id), "b7ad6b7169203331");
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            1_000_000
        );
        assert_eq!(
            span.attributes[0].value.as_ref().unwrap().value,
            Some(Any::IntValue(7))
        );
    }

    #[test]
    fn json_lines_arrays_and_other_signals() {
        let logs = r#"{"resourceLogs":[]}"#;
        let text = format!("{ONE}\n\n{logs}\n{ONE}\n");
        assert_eq!(load(&text).unwrap().len(), 2);
        assert_eq!(load(&format!("[{ONE}, {ONE}]")).unwrap().len(), 2);
        assert!(error(logs).contains("holds no spans (only logs or metrics)"));
    }

    #[test]
    fn lenient_where_exports_differ() {
        // snake_case names, base64 ids, numbers for times and ints, enum names, nulls, a
        // float time, a double as a string, the pre-1.0 instrumentationLibrarySpans.
        let text = r#"{"resource_spans":[{"resource":null,"instrumentationLibrarySpans":[{"spans":[
            {"trace_id":"CvdlGRbNQ92ESOshHIAxnA==","span_id":"t61rcWkgMzE=","parent_span_id":null,
             "name":"root","kind":"SPAN_KIND_SERVER","start_time_unix_nano":1700000000000000000,
             "end_time_unix_nano":1.700000000002e18,"status":{"code":"STATUS_CODE_ERROR","message":"boom"},
             "attributes":[{"key":"i","value":{"intValue":7}},{"key":"d","value":{"doubleValue":"0.5"}},
                           {"key":"nan","value":{"doubleValue":"NaN"}}],
             "events":[{"time_unix_nano":"1700000000000000001","name":"e"}],
             "links":[{"traceId":"CvdlGRbNQ92ESOshHIAxnA==","spanId":"b7ad6b7169203331"}]}]}]}]}"#;
        let spans = load(text).unwrap();
        let span = &spans[0].scope_spans[0].spans[0];
        assert_eq!(
            super::super::hex(&span.trace_id),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(super::super::hex(&span.span_id), "b7ad6b7169203331");
        assert_eq!(span.kind, 2);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        // A float holds nanoseconds of today only to within a few hundred.
        assert!(span.end_time_unix_nano.abs_diff(1_700_000_000_002_000_000) < 1_000);
        let values: Vec<_> = span
            .attributes
            .iter()
            .map(|kv| kv.value.as_ref().unwrap().value.clone().unwrap())
            .collect();
        assert_eq!(
            values,
            [
                Any::IntValue(7),
                Any::DoubleValue(0.5),
                Any::StringValue("NaN".into())
            ]
        );
        assert_eq!(span.events[0].time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(span.links[0].span_id, span.span_id);
    }

    #[test]
    fn bad_input_is_named_never_a_panic() {
        let cases = [
            ("", "t.json holds no spans (it is empty)"),
            ("  \n", "holds no spans (it is empty)"),
            (
                "{\"resourceSpans\": [",
                "t.json is not JSON at line 1, column 19",
            ),
            (&format!("{ONE}\n{{oops"), "not JSON at line 2, column 2"),
            ("42", "t.json (line 1): a JSON number, not an object"),
            (
                "{\"spans\": []}",
                "(line 1): no \"resourceSpans\" (keys: spans)",
            ),
            (
                r#"{"data": [{"traceID": "x", "spans": []}]}"#,
                "looks like Jaeger's own JSON",
            ),
            (
                &ONE.replace("b7ad6b7169203331", "xyz"),
                "(line 1, resourceSpans[0].scopeSpans[0].spans[0].spanId): \"xyz\" is not a 8-byte id",
            ),
            (
                &ONE.replace("\"1700000000000000000\"", "\"yesterday\""),
                "spans[0].startTimeUnixNano): \"yesterday\", expected nanoseconds",
            ),
            (
                &ONE.replace("\"kind\":1", "\"kind\":\"SIDEWAYS\""),
                "spans[0].kind): \"SIDEWAYS\": expected a number or one of SPAN_KIND_UNSPECIFIED",
            ),
            (
                &ONE.replace("\"kind\":1", "\"kind\":[]"),
                "spans[0].kind): []: expected a number",
            ),
            (
                &ONE.replace("\"name\":\"root\"", "\"name\":5"),
                "(line 1): not an OTLP trace export: invalid type: integer `5`",
            ),
            (
                &ONE.replace("{\"key\":\"n\"", "7,{\"key\":\"n\""),
                "spans[0].attributes[0]): a number, expected {\"key\"",
            ),
            (
                r#"{"resourceSpans": []}"#,
                "holds no spans (its resourceSpans are empty)",
            ),
            (r#"{"resourceSpans": 5}"#, "not an OTLP trace export"),
            (
                r#"{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}"#,
                "spans[0]): a number, not a span object",
            ),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(
                message.contains(expected),
                "{text:?}\n  said: {message}\n  want: {expected}"
            );
        }
        let bytes = b"{\"resourceSpans\": \"\xff\"}";
        let message = parse(Path::new("t.json"), bytes).unwrap_err().to_string();
        assert!(
            message.contains("line 1, column 20: not UTF-8 text"),
            "{message}"
        );
        let missing = load_otlp_json(Path::new("/nonexistent/t.json")).unwrap_err();
        assert_eq!(missing.to_string(), "cannot read /nonexistent/t.json");
        let cause = std::error::Error::source(&missing).map(ToString::to_string);
        assert!(cause.is_some_and(|c| c.contains("No such file")));
    }
}
