//! `mcp-host view FILE [--html OUT]`: a saved trace, looked at without a backend.
//!
//! It reads the file ([`trace_view::load_otlp_json`]: what `--trace-json` wrote, or any
//! OTLP/JSON export), then prints one terminal tree per trace, in start order, or writes
//! one HTML page with a section per trace. The global options mean what they mean for a
//! command: `--trace-html OUT` is `--html OUT`, `--trace-json OUT` writes the spans again as
//! canonical OTLP/JSON (one request, hex ids), `--no-trace-view` prints no tree. It starts
//! no server and opens no socket.

use std::{path::PathBuf, process::ExitCode};

use trace_view::{html, load_otlp_json, render_all, rows, traces, write_otlp_json};

/// Arguments of `mcp-host view`.
#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// The trace file: what --trace-json wrote, or any OTLP/JSON export (one
    /// ExportTraceServiceRequest, or JSON Lines of them as an OpenTelemetry Collector's
    /// file exporter writes).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Write the HTML page to OUT instead of printing the tree: one self-contained file,
    /// one section per trace, that opens from disk with no network.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
}

/// Runs `mcp-host view`: prints the trees, or writes the page to `--html OUT` (or to the
/// global `--trace-html OUT`) and says what it wrote.
pub(crate) fn run(args: &ViewArgs, output: &TraceOutput) -> anyhow::Result<ExitCode> {
    let resource_spans = load_otlp_json(&args.file)?;
    let rows = rows(&resource_spans);
    let page = args.html.as_deref().or(output.html.as_deref());
    if page.is_none() && output.tree {
        print!("{}", render_all(&rows));
    }
    let traces = traces(&rows).len();
    let summary = format!(
        "{traces} {}, {} {}",
        if traces == 1 { "trace" } else { "traces" },
        rows.len(),
        if rows.len() == 1 { "span" } else { "spans" },
    );
    if let Some(out) = page {
        let sections = html::sections_by_start(&resource_spans);
        let title = match sections.as_slice() {
            [only] => only.title.clone(),
            _ => args.file.file_name().map_or_else(
                || args.file.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
        };
        html::write_page(out, &resource_spans, &title, &sections)?;
        println!("Wrote {}: {summary}", out.display());
    }
    if let Some(out) = &output.json {
        write_otlp_json(out, resource_spans)?;
        println!("Wrote {}: {summary}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What becomes of a command's trace when it ends.
#[derive(Debug, Clone, Default)]
pub struct TraceOutput {
    /// Print its tree on stdout.
    pub tree: bool,
    /// Write every collected span to this file as OTLP/JSON.
    pub json: Option<std::path::PathBuf>,
    /// Write the trace page to this file.
    pub html: Option<std::path::PathBuf>,
}

impl TraceOutput {
    /// The same, without the tree: a command that prints what it has to say itself.
    pub fn without_tree(&self) -> Self {
        Self {
            tree: false,
            ..self.clone()
        }
    }
}
