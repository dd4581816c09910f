//! The `_meta` object of an MCP request as an OpenTelemetry propagation carrier.
//!
//! SEP-414 puts the W3C keys `traceparent`, `tracestate` and `baggage` directly under
//! `params._meta`, unprefixed. [`MetaInjector`] and [`MetaExtractor`] expose exactly those
//! three keys to a [`TextMapPropagator`](opentelemetry::propagation::TextMapPropagator) and
//! leave every other key (`progressToken`, `io.modelcontextprotocol/*`, vendor keys) alone.
//!
//! The extractor also enforces the W3C size limits before a propagator sees a value, so
//! hostile input costs a bounded amount of work: a `tracestate` keeps at most
//! [`TRACESTATE_MAX_MEMBERS`] members and [`TRACESTATE_MAX_LEN`] characters, a `baggage`
//! at most [`BAGGAGE_MAX_MEMBERS`] members and [`BAGGAGE_MAX_BYTES`] bytes. Whole list members
//! over a limit are dropped; extraction never fails.
//!
//! Over Streamable HTTP the same context also travels in the W3C HTTP headers:
//! [`HeaderInjector`] and [`HeaderExtractor`] do for an [`http::HeaderMap`] what the `Meta*`
//! pair does for `_meta`, with the same checks.

use opentelemetry::propagation::{Extractor, Injector};
use rmcp::model::MetaObject;

/// `_meta` key of the W3C `traceparent` value.
pub const TRACEPARENT: &str = "traceparent";
/// `_meta` key of the W3C `tracestate` value.
pub const TRACESTATE: &str = "tracestate";
/// `_meta` key of the W3C `baggage` value.
pub const BAGGAGE: &str = "baggage";
/// The three keys SEP-414 reserves directly under `params._meta`.
pub const TRACE_CONTEXT_KEYS: [&str; 3] = [TRACEPARENT, TRACESTATE, BAGGAGE];

/// Most `tracestate` list members kept (W3C Trace Context).
pub const TRACESTATE_MAX_MEMBERS: usize = 32;
/// Longest `tracestate` kept, in characters (W3C Trace Context).
pub const TRACESTATE_MAX_LEN: usize = 512;
/// Most `baggage` list members kept (W3C Baggage).
pub const BAGGAGE_MAX_MEMBERS: usize = 180;
/// Largest `baggage` kept, in bytes (W3C Baggage).
pub const BAGGAGE_MAX_BYTES: usize = 8192;

/// Maps a propagator's key to the SEP-414 key it corresponds to, if any.
///
/// Propagators use lower-case names already; the comparison ignores ASCII case so that a
/// propagator which capitalises header names still lands on the spec's keys.
fn trace_key(key: &str) -> Option<&'static str> {
    TRACE_CONTEXT_KEYS
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(key))
}

/// Writes trace context into a request's `_meta`.
///
/// Only the SEP-414 keys are written; anything else a propagator offers is ignored, and
/// empty values (the W3C propagator emits an empty `tracestate`) are not written at all.
#[derive(Debug)]
pub struct MetaInjector<'a>(pub &'a mut MetaObject);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let Some(key) = trace_key(key) {
            self.0
                .insert(key.to_owned(), serde_json::Value::String(value));
        }
    }
}

/// Reads trace context from a request's `_meta`.
///
/// A key whose value is not a JSON string reads as absent, so a propagator treats it like
/// a missing header and starts a new root.
#[derive(Debug, Clone, Copy)]
pub struct MetaExtractor<'a>(pub &'a MetaObject);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let key = trace_key(key)?;
        let value = self.0.get(key)?.as_str()?;
        limited(key, value)
    }

    fn keys(&self) -> Vec<&str> {
        present_keys(|key| self.0.contains_key(key))
    }
}

/// The trace-context keys for which `contains` holds.
fn present_keys(contains: impl Fn(&str) -> bool) -> Vec<&'static str> {
    TRACE_CONTEXT_KEYS
        .into_iter()
        .filter(|key| contains(key))
        .collect()
}

/// Reads trace context from the W3C `traceparent` / `tracestate` / `baggage` HTTP headers,
/// with the same checks and size limits as [`MetaExtractor`].
///
/// A header that is repeated or not visible ASCII reads as absent.
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let key = trace_key(key)?;
        let mut values = self.0.get_all(key).iter();
        let value = values.next()?.to_str().ok()?;
        if values.next().is_some() {
            return None;
        }
        limited(key, value)
    }

    fn keys(&self) -> Vec<&str> {
        present_keys(|key| self.0.contains_key(key))
    }
}

/// Writes trace context as the W3C `traceparent` / `tracestate` HTTP headers (not
/// `baggage`: a proxy has no business with it, and it may hold user data).
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Some(key) = trace_key(key).filter(|key| *key != BAGGAGE) else {
            return;
        };
        if value.is_empty() {
            return;
        }
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            self.0.insert(key, value);
        }
    }
}

/// A value read under `key`, checked (`traceparent`) or cut to the W3C limits (lists).
fn limited<'v>(key: &str, value: &'v str) -> Option<&'v str> {
    match key {
        TRACESTATE => Some(limit_list(
            value,
            TRACESTATE_MAX_MEMBERS,
            TRACESTATE_MAX_LEN,
        )),
        BAGGAGE => Some(limit_list(value, BAGGAGE_MAX_MEMBERS, BAGGAGE_MAX_BYTES)),
        _ => has_traceparent_shape(value).then_some(value),
    }
}

/// Whether `value` has the field widths of a W3C `traceparent`: `2-32-16-2` lower-case hex
/// digits, optionally followed by `-` and more (future versions).
///
/// Parsing stays with the SDK's propagator; this only keeps out what it would wrongly
/// accept: it reads each field as a number, so short fields (`0af7…319` with 31 digits) and
/// signs (`+f7…`) would otherwise pass.
fn has_traceparent_shape(value: &str) -> bool {
    const FIELDS: [(usize, usize); 4] = [(0, 2), (3, 35), (36, 52), (53, 55)];
    let bytes = value.as_bytes();
    bytes.len() >= 55
        && (bytes.len() == 55 || bytes[55] == b'-')
        && [2, 35, 52].iter().all(|&dash| bytes[dash] == b'-')
        && FIELDS.iter().all(|&(start, end)| {
            bytes[start..end]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        })
}

/// Returns the longest prefix of a comma-separated W3C list that has at most `max_members`
/// members and at most `max_len` bytes, cutting only between members.
fn limit_list(value: &str, max_members: usize, max_len: usize) -> &str {
    let mut end = 0;
    for (members, (index, _)) in value
        .match_indices(',')
        .chain(std::iter::once((value.len(), "")))
        .enumerate()
    {
        if members >= max_members || index > max_len {
            break;
        }
        end = index;
    }
    value[..end].trim_end_matches([',', ' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_list_keeps_short_lists_whole() {
        assert_eq!(limit_list("a=1,b=2", 32, 512), "a=1,b=2");
        assert_eq!(limit_list("", 32, 512), "");
    }

    #[test]
    fn limit_list_cuts_between_members() {
        assert_eq!(limit_list("a=1,b=2,c=3", 2, 512), "a=1,b=2");
        assert_eq!(limit_list("a=1,b=2,c=3", 32, 6), "a=1");
        assert_eq!(limit_list("abcdefgh", 32, 4), "");
    }

    #[test]
    fn traceparent_shape_needs_exact_field_widths() {
        let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(has_traceparent_shape(valid));
        assert!(has_traceparent_shape(&format!("{valid}-future")));
        assert!(!has_traceparent_shape(&valid[..54]));
        assert!(!has_traceparent_shape(&valid.replace("-0af7", "-+af7")));
        assert!(!has_traceparent_shape(&valid.replace("c-b7", "-b7a")));
        assert!(!has_traceparent_shape(&format!("{valid}x")));
    }

    #[test]
    fn headers_are_read_with_the_same_checks() {
        let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(valid));
        assert_eq!(HeaderExtractor(&headers).get(TRACEPARENT), Some(valid));
        headers.append(TRACEPARENT, http::HeaderValue::from_static(valid));
        assert_eq!(HeaderExtractor(&headers).get(TRACEPARENT), None, "repeated");
        headers.insert(
            TRACEPARENT,
            http::HeaderValue::from_static(
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            ),
        );
        assert_eq!(
            HeaderExtractor(&headers).get(TRACEPARENT),
            None,
            "upper case"
        );
    }

    #[test]
    fn header_injector_writes_no_baggage() {
        let mut headers = http::HeaderMap::new();
        let mut injector = HeaderInjector(&mut headers);
        injector.set(
            TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        );
        injector.set(BAGGAGE, "user=secret".into());
        injector.set(TRACESTATE, String::new());
        assert!(headers.contains_key(TRACEPARENT));
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn non_string_values_read_as_absent() {
        let mut meta = MetaObject::default();
        meta.insert(TRACEPARENT.into(), serde_json::json!(42));
        assert_eq!(MetaExtractor(&meta).get(TRACEPARENT), None);
    }
}
