//! The server side: a span processor that keeps, for each request that asked, the spans that
//! descend from its SERVER span, and the OTLP/JSON they are returned as.
//!
//! A span joins a request when it starts under a span of that request (the processor sees
//! each span's parent context at its start), so the membership test is one map lookup under
//! a lock, and only while some request is being captured: a server whose clients never ask
//! pays an atomic load per span.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use opentelemetry::trace::{Span as _, SpanId, TraceContextExt as _};
use opentelemetry_proto::transform::{
    common::tonic::ResourceAttributesWithSchema, trace::tonic::group_spans_by_resource_and_scope,
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanProcessor},
};
use serde_json::{Map, Value};

use super::{
    EXPORTED_META_KEY, MAX_RETURNED_BYTES, MAX_RETURNED_SPANS, META_KEY, SpanRequest, json_len,
};

/// The spans of the requests being captured.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// Requests being captured; lets a quiet server skip the lock.
    active: AtomicUsize,
    state: Mutex<State>,
    resource: Mutex<Option<Resource>>,
}

#[derive(Debug, Default)]
struct State {
    /// Every span known to belong to a captured request: the request's SERVER span id, and
    /// how far below it the span is.
    members: HashMap<SpanId, Member>,
    /// The captured requests, by their SERVER span id.
    requests: HashMap<SpanId, Captured>,
}

#[derive(Debug, Clone, Copy)]
struct Member {
    root: SpanId,
    depth: u32,
}

#[derive(Debug)]
struct Captured {
    detailed: bool,
    spans: Vec<SpanData>,
    /// The members it registered, removed with it.
    members: Vec<SpanId>,
}

impl Collector {
    /// Starts capturing the request whose SERVER span is `root`.
    pub(crate) fn capture(self: &Arc<Self>, root: SpanId, request: SpanRequest) -> Capture {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.members.insert(root, Member { root, depth: 0 });
        state.requests.insert(
            root,
            Captured {
                detailed: request.detailed,
                spans: Vec::new(),
                members: vec![root],
            },
        );
        self.active.fetch_add(1, Ordering::AcqRel);
        Capture {
            collector: Arc::clone(self),
            root,
        }
    }

    fn release(&self, root: SpanId) -> Vec<SpanData> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(captured) = state.requests.remove(&root) else {
            return Vec::new();
        };
        for member in &captured.members {
            state.members.remove(member);
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
        captured.spans
    }

    fn resource(&self) -> Resource {
        self.resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| Resource::builder_empty().build())
    }
}

/// A request being captured; dropping it stops the capture and forgets its spans.
#[derive(Debug)]
pub(crate) struct Capture {
    collector: Arc<Collector>,
    root: SpanId,
}

impl Capture {
    /// Stops the capture and returns what is to be sent back: `_meta.otel` with the spans
    /// kept and then `relayed` (and, when `exported_to` names destinations,
    /// [`EXPORTED_META_KEY`]) as `_meta` entries. Call it once the captured span has ended.
    pub(crate) fn finish(self, relayed: &[Value], exported_to: Vec<String>) -> Map<String, Value> {
        let spans = self.collector.release(self.root);
        let resource = self.collector.resource();
        let mut groups = match resource_spans(spans, &resource) {
            Value::Array(groups) => groups,
            _ => Vec::new(),
        };
        groups.extend(relayed.iter().cloned());
        let mut meta = Map::new();
        meta.insert(
            META_KEY.to_owned(),
            serde_json::json!({"traces": {"resourceSpans": groups}}),
        );
        if !exported_to.is_empty() {
            meta.insert(EXPORTED_META_KEY.to_owned(), exported_to.into());
        }
        meta
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // After `finish` this finds nothing.
        self.collector.release(self.root);
    }
}

/// The OTLP/JSON `resourceSpans` of `spans`, within the bounds: the SERVER span first, then
/// the others in the order they started, as many as fit.
///
/// The usual answer (a few spans, far under the byte bound) is converted once and measured
/// by a writer that only counts; only an answer over the bound is cut, span by span.
fn resource_spans(mut spans: Vec<SpanData>, resource: &Resource) -> Value {
    spans.sort_by_key(|span| (span.parent_span_id != SpanId::INVALID, span.start_time));
    spans.truncate(MAX_RETURNED_SPANS);
    let resource = ResourceAttributesWithSchema::from(resource);
    let mut groups = group_spans_by_resource_and_scope(spans, &resource);
    if json_len(&groups, MAX_RETURNED_BYTES).is_none() {
        // Keep spans in order while they fit; the envelope is small.
        let mut budget = MAX_RETURNED_BYTES.saturating_sub(1024);
        for group in &mut groups {
            for scope in &mut group.scope_spans {
                scope.spans.retain(|span| match json_len(span, budget) {
                    Some(size) => {
                        budget -= size;
                        true
                    }
                    None => {
                        budget = 0;
                        false
                    }
                });
            }
            group.scope_spans.retain(|scope| !scope.spans.is_empty());
        }
        groups.retain(|group| !group.scope_spans.is_empty());
    }
    serde_json::to_value(groups).unwrap_or_else(|_| Value::Array(Vec::new()))
}

/// The processor half of the [`Collector`], added to the tracer provider.
#[derive(Debug)]
pub(crate) struct CollectorProcessor(pub(crate) Arc<Collector>);

impl SpanProcessor for CollectorProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        if self.0.active.load(Ordering::Acquire) == 0 {
            return;
        }
        let parent = cx.span().span_context().span_id();
        let id = span.span_context().span_id();
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(&Member { root, depth }) = state.members.get(&parent) else {
            return;
        };
        let Some(captured) = state.requests.get_mut(&root) else {
            return;
        };
        if (!captured.detailed && depth >= 1) || captured.members.len() > MAX_RETURNED_SPANS * 4 {
            return;
        }
        captured.members.push(id);
        state.members.insert(
            id,
            Member {
                root,
                depth: depth + 1,
            },
        );
    }

    fn on_end(&self, span: SpanData) {
        if self.0.active.load(Ordering::Acquire) == 0 || !span.span_context.is_sampled() {
            return;
        }
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(member) = state.members.get(&span.span_context.span_id()).copied() else {
            return;
        };
        if let Some(captured) = state.requests.get_mut(&member.root)
            && captured.spans.len() < MAX_RETURNED_SPANS
        {
            captured.spans.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        *self
            .0
            .resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(resource.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::SystemTime};

    use opentelemetry::{
        InstrumentationScope, KeyValue,
        trace::{SpanContext, SpanKind, Status, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn span(id: u64, parent: u64, start: u64, text: usize) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(7_u128),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(format!("span {id}")),
            start_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(start),
            end_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(start + 1),
            attributes: vec![KeyValue::new("text", "x".repeat(text))],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    fn names(value: &Value) -> Vec<String> {
        value[0]["scopeSpans"][0]["spans"]
            .as_array()
            .map(|spans| {
                spans
                    .iter()
                    .map(|s| s["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_server_span_comes_first_and_the_bounds_hold() {
        let resource = Resource::builder_empty().build();
        // The root (parent invalid) last in, started last: still first out.
        let small = resource_spans(vec![span(2, 1, 5, 10), span(1, 0, 9, 10)], &resource);
        assert_eq!(names(&small), ["span 1", "span 2"]);

        // 400 spans of 2 KB each: at most 256 spans, and the bytes under the bound.
        let mut many = vec![span(1, 0, 0, 2000)];
        many.extend((2..=400).map(|n| span(n, 1, n, 2000)));
        let cut = resource_spans(many, &resource);
        let kept = names(&cut);
        assert!(kept.len() <= MAX_RETURNED_SPANS);
        assert_eq!(kept[0], "span 1");
        assert_eq!(kept[1], "span 2", "the earliest children are kept");
        assert!(json_len(&cut, MAX_RETURNED_BYTES).is_some());
        assert!(kept.len() > 100, "as many as fit: {}", kept.len());

        // One span larger than the whole bound: nothing of it goes back.
        let huge = resource_spans(vec![span(1, 0, 0, MAX_RETURNED_BYTES * 2)], &resource);
        assert!(names(&huge).is_empty());
    }
}
