//! The spans of tool calls: `tool-{tool}` SERVER spans with the conventions' attributes, the
//! path a tool worked on, and `error.type` on refusals.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use rmcp::model::CallToolRequestParams;
use test_support::in_process::connect;
use test_support::{
    data::SAMPLE_DATA,
    telemetry::{InMemoryTelemetry, attr_text as attr},
};

use file_server::{FileServer, sandbox::AllowedRoots, tools::Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_get_server_spans_with_path_and_errors() {
    let telemetry = InMemoryTelemetry::install("file-server");
    let roots = AllowedRoots::new([SAMPLE_DATA]).unwrap();
    let data = roots.roots()[0].clone();
    let (client, server) = connect(FileServer::new(roots, Options::default())).await;
    let arguments = |path: &str| {
        serde_json::json!({ "path": path })
            .as_object()
            .unwrap()
            .clone()
    };
    let read = client
        .call_tool(CallToolRequestParams::new("read_file").with_arguments(arguments("sales.csv")))
        .await
        .unwrap();
    assert_ne!(read.is_error, Some(true));
    let refused = client
        .call_tool(CallToolRequestParams::new("read_file").with_arguments(arguments("/etc/passwd")))
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    client.cancel().await.ok();
    server.await.ok();

    let spans: Vec<SpanData> = telemetry
        .spans()
        .into_iter()
        .filter(|span| span.name == "tool-read_file")
        .collect();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let ok = spans
        .iter()
        .find(|span| attr(span, "error.type").is_none())
        .expect("the successful call");
    assert_eq!(ok.span_kind, SpanKind::Server);
    assert_eq!(attr(ok, "mcp.method.name").as_deref(), Some("tools/call"));
    assert_eq!(attr(ok, "gen_ai.tool.name").as_deref(), Some("read_file"));
    assert_eq!(attr(ok, "confident.span.type").as_deref(), Some("tool"));
    assert!(
        attr(ok, "confident.tool.description")
            .unwrap()
            .starts_with("Read a text file")
    );
    assert_eq!(
        attr(ok, "file.path"),
        Some(data.join("sales.csv").display().to_string())
    );
    let output = attr(ok, "confident.span.output").unwrap();
    assert!(output.starts_with("year,month,quarter,region,product,units,revenue"));
    assert_eq!(
        output.chars().count(),
        1000,
        "output is cut to 1000 characters"
    );

    let failed = spans
        .iter()
        .find(|span| attr(span, "error.type").is_some())
        .expect("the refused call");
    assert_eq!(attr(failed, "error.type").as_deref(), Some("tool_error"));
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("outside the allowed directories"))
    );
}
