//! One trace laid out for display, the same for the terminal tree and the HTML page.
//!
//! The layout, step by step:
//! 1. **Tops.** A span is at the top level when it has no parent, or when its parent is
//!    not among the trace's spans (it never arrived: a process that crashed, a backend's
//!    export cut short). Such an orphan is marked, not dropped.
//! 2. **Order.** Tops, and each span's children, are sorted by start time; spans that
//!    start together keep the order they came in.
//! 3. **Tree order.** A depth-first walk from the tops gives the rows, each with its depth,
//!    its parent's row, whether it is the last of its siblings and where its subtree ends
//!    (so a viewer can skip a collapsed subtree in one step). The walk keeps its own stack:
//!    a chain of 10,000 spans does not recurse 10,000 deep. A span no walk reaches (its
//!    parents form a cycle) is added at the top level, marked like an orphan; a span id
//!    seen twice is placed once per span, its children under the first.
//! 4. **Scale.** The trace runs from its earliest start to its latest end (at least 1 ns);
//!    each span's bar starts at [`TraceLayout::offset`] and is [`TraceLayout::width`]
//!    long, both fractions of it.
//! 5. **Axis.** [`ticks`] puts a tick every 1, 2 or 5 × 10ⁿ ns, as many as fit a limit.

use std::collections::{HashMap, HashSet};

use super::Span;

/// A trace ready to draw.
#[derive(Debug)]
pub struct TraceLayout<'a> {
    /// The spans in tree order.
    pub rows: Vec<Placed<'a>>,
    /// The earliest start, nanoseconds since the Unix epoch.
    pub begin: u64,
    /// The latest end; always after `begin`.
    pub end: u64,
    /// Service names in the order their first span came.
    pub services: Vec<&'a str>,
    /// The trace's name: `confident.trace.name` of a top-level span, else the first top
    /// span's name.
    pub name: String,
}

/// One span in its place.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    /// The span.
    pub row: &'a Span,
    /// 0 at the top level.
    pub depth: usize,
    /// Index in [`TraceLayout::rows`] of the parent's row; `None` at the top level.
    pub parent: Option<usize>,
    /// At the top level although it names a parent: that parent is not in the trace.
    pub orphan: bool,
    /// The last of its siblings (of the top level, for a top-level span).
    pub last: bool,
    /// Index in [`TraceLayout::rows`] just past its last descendant.
    pub subtree_end: usize,
}

impl TraceLayout<'_> {
    /// The trace's length in nanoseconds, at least 1.
    pub fn duration(&self) -> u64 {
        self.end - self.begin
    }

    /// Where `placed`'s bar starts, as a fraction of the trace (0 to 1).
    pub fn offset(&self, placed: &Placed<'_>) -> f64 {
        (placed.row.start.saturating_sub(self.begin) as f64 / self.duration() as f64).min(1.0)
    }

    /// How long `placed`'s bar is, as a fraction of the trace (0 to 1 - offset).
    pub fn width(&self, placed: &Placed<'_>) -> f64 {
        let took = placed.row.end.saturating_sub(placed.row.start) as f64;
        (took / self.duration() as f64).min(1.0 - self.offset(placed))
    }
}

/// Lays out the spans of one trace (as [`super::traces`] groups them).
pub fn layout<'a>(trace: &[&'a Span]) -> TraceLayout<'a> {
    let ids: HashSet<&str> = trace.iter().map(|r| r.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut tops = Vec::new();
    for (i, row) in trace.iter().enumerate() {
        if row.parent_span_id.is_empty() || !ids.contains(row.parent_span_id.as_str()) {
            tops.push(i);
        } else {
            children.entry(&row.parent_span_id).or_default().push(i);
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| trace[i].start);
    by_start(&mut tops);
    for list in children.values_mut() {
        by_start(list);
    }

    let mut rows: Vec<Placed<'a>> = Vec::with_capacity(trace.len());
    let mut placed = vec![false; trace.len()];
    let mut expanded: HashSet<&str> = HashSet::new();
    walk(
        trace,
        &tops,
        &children,
        &mut rows,
        &mut placed,
        &mut expanded,
    );
    // Whatever no walk reached hangs in a parent cycle: show it at the top level too.
    let mut unreached: Vec<usize> = (0..trace.len()).filter(|&i| !placed[i]).collect();
    by_start(&mut unreached);
    walk(
        trace,
        &unreached,
        &children,
        &mut rows,
        &mut placed,
        &mut expanded,
    );
    // The last of its siblings: no later row has the same parent.
    let mut seen: HashSet<Option<usize>> = HashSet::new();
    for p in rows.iter_mut().rev() {
        p.last = seen.insert(p.parent);
    }

    let begin = trace.iter().map(|r| r.start).min().unwrap_or(0);
    let end = trace
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(begin)
        .max(begin.saturating_add(1));
    let mut services: Vec<&str> = Vec::new();
    for row in trace {
        if !services.contains(&row.service.as_str()) {
            services.push(&row.service);
        }
    }
    let top_rows = || rows.iter().filter(|p| p.depth == 0);
    let name = top_rows()
        .find_map(|p| p.row.trace_name())
        .or_else(|| top_rows().next().map(|p| p.row.name.clone()))
        .unwrap_or_default();
    TraceLayout {
        rows,
        begin,
        end,
        services,
        name,
    }
}

/// Places `tops` (indices into `trace`) and their descendants, depth first, at the end of
/// `rows`; `last` is left for the caller.
fn walk<'a>(
    trace: &[&'a Span],
    tops: &[usize],
    children: &HashMap<&str, Vec<usize>>,
    rows: &mut Vec<Placed<'a>>,
    placed: &mut [bool],
    expanded: &mut HashSet<&'a str>,
) {
    // (span index, depth, parent row), pushed in reverse so that they pop in order.
    let mut stack: Vec<(usize, usize, Option<usize>)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    stack.extend(tops.iter().rev().map(|&i| (i, 0, None)));
    while let Some((i, depth, parent)) = stack.pop() {
        if placed[i] {
            continue;
        }
        placed[i] = true;
        // The rows whose subtree this one is not part of end here.
        while let Some(&o) = open.last() {
            if rows[o].depth < depth {
                break;
            }
            rows[o].subtree_end = rows.len();
            open.pop();
        }
        let row = trace[i];
        let at = rows.len();
        rows.push(Placed {
            row,
            depth,
            parent,
            orphan: depth == 0 && !row.parent_span_id.is_empty(),
            last: false,
            subtree_end: at + 1,
        });
        open.push(at);
        if expanded.insert(&row.span_id)
            && let Some(list) = children.get(row.span_id.as_str())
        {
            stack.extend(list.iter().rev().map(|&c| (c, depth + 1, Some(at))));
        }
    }
    for o in open {
        rows[o].subtree_end = rows.len();
    }
}

/// One tick of the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Nanoseconds from the trace's start.
    pub at: u64,
    /// Where it sits, as a fraction of the trace.
    pub fraction: f64,
    /// `0`, `500µs`, `1.5ms`, `2s`, in the unit of the step.
    pub label: String,
}

/// Ticks for a trace `duration` ns long: at 0 and every step after it, the step the
/// smallest 1, 2 or 5 × 10ⁿ ns that needs at most `max_ticks` ticks.
pub fn ticks(duration: u64, max_ticks: usize) -> Vec<Tick> {
    let duration = duration.max(1);
    let intervals = max_ticks.max(2) as u64 - 1;
    let mut step: u64 = 1;
    'find: for power in 0..20 {
        for mantissa in [1u64, 2, 5] {
            let candidate = mantissa.saturating_mul(10u64.saturating_pow(power));
            if duration.div_ceil(candidate) <= intervals || candidate == u64::MAX {
                step = candidate;
                break 'find;
            }
        }
    }
    let last = duration / step * step;
    (0..=duration / step)
        .map(|k| {
            let at = k * step;
            Tick {
                at,
                fraction: at as f64 / duration as f64,
                label: tick_label(at, step, last),
            }
        })
        .collect()
}

/// `at` ns in the unit of the axis's last tick, `last`, with as many decimals as `step`
/// needs in that unit.
fn tick_label(at: u64, step: u64, last: u64) -> String {
    if at == 0 {
        return "0".into();
    }
    let (unit, scale) = match last {
        s if s >= 1_000_000_000 => ("s", 1_000_000_000u64),
        s if s >= 1_000_000 => ("ms", 1_000_000),
        s if s >= 1_000 => ("µs", 1_000),
        _ => ("ns", 1),
    };
    let mut decimals = 0;
    while decimals < 9 && (u128::from(step) * 10u128.pow(decimals)) % u128::from(scale) != 0 {
        decimals += 1;
    }
    let decimals = decimals as usize;
    format!("{:.*}{unit}", decimals, at as f64 / scale as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{fixture, span};

    fn names<'a>(layout: &TraceLayout<'a>) -> Vec<(usize, &'a str)> {
        layout
            .rows
            .iter()
            .map(|p| (p.depth, p.row.name.as_str()))
            .collect()
    }

    #[test]
    fn children_come_in_start_order_under_their_parent() {
        let rows = fixture();
        let trace: Vec<&Span> = rows
            .iter()
            .filter(|r| r.trace_id == crate::hex(&[1; 16]))
            .collect();
        let layout = layout(&trace);
        assert_eq!(
            names(&layout),
            [
                (0, "mcp-agent"),
                (1, "mcp-tool-read_file"),
                (2, "tool-read_file"),
                (
                    2,
                    "a-span-with-a-name-long-enough-to-leave-no-room-for-dots"
                ),
                (1, "mcp-tool-query_database"),
                (2, "tool-query_database"),
                (1, "llm-summarize"),
                (0, "late-child"),
            ]
        );
        let parents: Vec<Option<usize>> = layout.rows.iter().map(|p| p.parent).collect();
        assert_eq!(
            parents,
            [
                None,
                Some(0),
                Some(1),
                Some(1),
                Some(0),
                Some(4),
                Some(0),
                None
            ]
        );
        let ends: Vec<usize> = layout.rows.iter().map(|p| p.subtree_end).collect();
        assert_eq!(ends, [7, 4, 3, 4, 6, 6, 7, 8]);
        let lasts: Vec<bool> = layout.rows.iter().map(|p| p.last).collect();
        assert_eq!(lasts, [false, false, false, true, false, true, true, true]);
        let orphans: Vec<&str> = layout
            .rows
            .iter()
            .filter(|p| p.orphan)
            .map(|p| p.row.name.as_str())
            .collect();
        assert_eq!(orphans, ["late-child"], "its parent 42 never arrived");
        assert_eq!(layout.name, "mcp-tool-orchestration");
        assert_eq!(layout.services, ["mcp-host", "db-server", "file-server"]);
    }

    #[test]
    fn bars_are_fractions_of_the_whole_trace() {
        let rows = [
            span(1, 1, 0, "root", "a", 0, 100),
            span(1, 2, 1, "first-quarter", "a", 0, 25),
            span(1, 3, 1, "last-half", "b", 50, 50),
            span(1, 4, 1, "instant", "b", 100, 0),
        ];
        let trace: Vec<&Span> = rows.iter().collect();
        let layout = layout(&trace);
        assert_eq!(layout.duration(), 100_000);
        let bars: Vec<(f64, f64)> = layout
            .rows
            .iter()
            .map(|p| (layout.offset(p), layout.width(p)))
            .collect();
        assert_eq!(bars, [(0.0, 1.0), (0.0, 0.25), (0.5, 0.5), (1.0, 0.0)]);
    }

    #[test]
    fn a_span_past_its_parent_still_fits_the_axis() {
        // A child that ends after its parent (clock skew between processes) widens the
        // trace; a span with end before start is drawn as an instant.
        let mut backwards = span(1, 3, 1, "backwards", "b", 40, 0);
        backwards.end = backwards.start - 5_000;
        let rows = [
            span(1, 1, 0, "root", "a", 0, 50),
            span(1, 2, 1, "skewed", "b", 40, 60),
            backwards,
        ];
        let trace: Vec<&Span> = rows.iter().collect();
        let layout = layout(&trace);
        assert_eq!(layout.duration(), 100_000);
        assert_eq!(layout.width(&layout.rows[0]), 0.5);
        assert_eq!(layout.rows[1].row.name, "skewed");
        assert!((layout.width(&layout.rows[1]) - 0.6).abs() < 1e-12);
        assert_eq!(layout.offset(&layout.rows[2]), 0.4);
        assert_eq!(
            layout.width(&layout.rows[2]),
            0.0,
            "backwards is an instant"
        );
    }

    #[test]
    fn an_empty_or_instant_trace_has_a_length() {
        let layout = layout(&[]);
        assert!(layout.rows.is_empty());
        assert_eq!(layout.duration(), 1);
        let rows = [span(1, 1, 0, "instant", "a", 7, 0)];
        let layout = super::layout(&rows.iter().collect::<Vec<_>>());
        assert_eq!(layout.duration(), 1);
        assert_eq!(layout.name, "instant");
    }

    #[test]
    fn parent_cycles_and_duplicate_ids_lose_no_span_and_never_loop() {
        let rows = [
            span(1, 1, 0, "root", "a", 0, 10),
            span(1, 2, 3, "cycle-a", "a", 1, 1),
            span(1, 3, 2, "cycle-b", "a", 2, 1),
            span(1, 4, 4, "own-parent", "a", 3, 1),
            span(1, 5, 1, "twin", "a", 4, 1),
            span(1, 5, 1, "twin", "a", 5, 1),
            span(1, 6, 5, "twin-child", "a", 6, 1),
        ];
        let trace: Vec<&Span> = rows.iter().collect();
        let layout = layout(&trace);
        assert_eq!(layout.rows.len(), rows.len(), "{:?}", names(&layout));
        assert_eq!(
            names(&layout),
            [
                (0, "root"),
                (1, "twin"),
                (2, "twin-child"),
                (1, "twin"),
                (0, "cycle-a"),
                (1, "cycle-b"),
                (0, "own-parent"),
            ]
        );
        assert!(layout.rows[4].orphan && layout.rows[6].orphan);
        assert!(!layout.rows[0].last, "the cycle's spans follow it");
        assert!(layout.rows[6].last);
    }

    #[test]
    fn a_deep_chain_is_walked_without_recursion() {
        let rows: Vec<Span> = (0..20_000u64)
            .map(|i| Span {
                trace_id: crate::hex(&[1; 16]),
                span_id: format!("{:016x}", i + 1),
                parent_span_id: if i == 0 {
                    String::new()
                } else {
                    format!("{i:016x}")
                },
                start: i,
                end: 40_000 - i,
                ..Span::default()
            })
            .collect();
        let trace: Vec<&Span> = rows.iter().collect();
        let layout = layout(&trace);
        assert_eq!(layout.rows.len(), 20_000);
        assert_eq!(layout.rows[19_999].depth, 19_999);
        assert!(layout.rows.iter().all(|p| p.subtree_end == 20_000));
    }

    #[test]
    fn ticks_step_by_one_two_or_five() {
        let labels = |d, n| -> Vec<String> { ticks(d, n).into_iter().map(|t| t.label).collect() };
        assert_eq!(
            labels(54_900_000, 8),
            ["0", "10ms", "20ms", "30ms", "40ms", "50ms"]
        );
        assert_eq!(
            labels(2_600_000, 8),
            ["0", "0.5ms", "1.0ms", "1.5ms", "2.0ms", "2.5ms"]
        );
        assert_eq!(
            labels(1_000, 8),
            ["0", "0.2µs", "0.4µs", "0.6µs", "0.8µs", "1.0µs"]
        );
        assert_eq!(
            labels(12_000_000_000, 8),
            ["0", "2s", "4s", "6s", "8s", "10s", "12s"]
        );
        assert_eq!(labels(250_000, 3), ["0", "200µs"]);
        assert_eq!(labels(0, 8), ["0", "1ns"]);
        let t = ticks(54_900_000, 8);
        assert_eq!(t[1].at, 10_000_000);
        assert!((t[5].fraction - 50.0 / 54.9).abs() < 1e-12);
        for (d, n) in [(1, 2), (7, 3), (999_999_999, 6), (u64::MAX, 10)] {
            let t = ticks(d, n);
            assert!(t.len() <= n.max(2), "{d} ns, {n} ticks: {}", t.len());
            assert!(t.iter().all(|t| t.fraction <= 1.0));
        }
    }
}
