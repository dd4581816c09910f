//! The model-driven agent end to end: the host binary, the bundled servers as child
//! processes, and a scripted OpenAI-compatible server on loopback standing in for the model.

mod common;

use std::{
    collections::HashSet,
    path::Path,
    process::Output,
    time::{Duration, Instant},
};

use common::{
    model::{FakeModel, Reply},
    *,
};

const KEY: &str = "sk-test-0123456789-secret";

/// `mcp-host --model fake-model QUERY` against `fake` with the key [`KEY`], the trace saved
/// to `json`.
fn run_model(fake: &FakeModel, json: &Path, extra: &[&str]) -> Output {
    let mut command = host();
    command
        .env_remove("OPENAI_BASE_URL")
        .env("OPENAI_API_KEY", KEY)
        .env_remove("TRACEPARENT")
        .env_remove("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        .args(["--model", "fake-model", "--base-url", &fake.base_url])
        .arg("--trace-json")
        .arg(json)
        .args(extra);
    run(&mut command)
}

/// End time of a span, from the OTLP/JSON file.
fn end_of(json: &Path, span_id: &str) -> u64 {
    spans(json)
        .into_iter()
        .find(|span| span.span_id == span_id)
        .unwrap_or_else(|| panic!("no span {span_id}"))
        .end
}

#[test]
fn the_model_agent_answers_through_the_tools_in_one_trace() {
    let fake = FakeModel::start(vec![
        // Turn 1: two tools on two servers at once.
        Reply::tool_calls(
            "resp-1",
            &[
                ("call_file", "read_file", r#"{"path": "sales.csv"}"#),
                (
                    "call_db",
                    "query_database",
                    r#"{"sql": "SELECT count(*) AS n FROM sales WHERE year = 2024"}"#,
                ),
            ],
            (100, 20),
        ),
        // Turn 2: rate limited once, then malformed arguments.
        Reply::error(429, "slow down").with_header("retry-after", "0"),
        Reply::tool_calls(
            "resp-2",
            &[("call_bad", "list_directory", r#"{"path": "."#)],
            (200, 10),
        ),
        // Turn 3: a path the sandbox refuses, and a tool that does not exist.
        Reply::tool_calls(
            "resp-3",
            &[
                (
                    "call_escape",
                    "read_file",
                    r#"{"path": "../../../etc/passwd"}"#,
                ),
                ("call_ghost", "delete_everything", "{}"),
            ],
            (300, 10),
        ),
        // Turn 4: the answer.
        Reply::answer("resp-4", "There are 144 sales rows for 2024.", (400, 15)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run_model(&fake, &json, &["How many sales rows are there for 2024?"]);
    assert!(output.status.success(), "the agent run failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.starts_with("There are 144 sales rows for 2024.\n"),
        "{stdout}"
    );

    // What the model was sent.
    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "4 turns plus one retried request");
    for request in &requests {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.body["model"], "fake-model");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for expected in [
        "read_file",
        "list_directory",
        "query_database",
        "list_tables",
    ] {
        assert!(
            tools.contains(&expected),
            "{expected} missing from {tools:?}"
        );
    }
    let schema = &requests[0].body["tools"][0]["function"]["parameters"];
    assert_eq!(schema["type"], "object", "inputSchema goes as parameters");
    assert_eq!(
        requests[0].body["messages"][1]["content"],
        "How many sales rows are there for 2024?"
    );

    assert_eq!(
        requests[1].body, requests[2].body,
        "the 429 was retried as it was"
    );
    let csv = requests[1].tool_message("call_file");
    assert_eq!(
        csv,
        std::fs::read_to_string(data_dir().join("sales.csv")).unwrap()
    );
    let count = requests[1].tool_message("call_db");
    assert!(count.contains(&rows_of_2024().to_string()), "{count}");
    let assistant = &requests[1].body["messages"][2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_file");
    assert_eq!(assistant["tool_calls"][1]["id"], "call_db");

    let bad = requests[3].tool_message("call_bad");
    assert!(
        bad.starts_with("Error: the arguments for list_directory are not a JSON object"),
        "{bad}"
    );
    let escape = requests[4].tool_message("call_escape");
    assert!(
        escape.starts_with("Error: "),
        "the sandbox refusal reaches the model: {escape}"
    );
    let ghost = requests[4].tool_message("call_ghost");
    assert!(
        ghost.starts_with("Error: there is no tool named \"delete_everything\""),
        "{ghost}"
    );

    // One trace across three processes.
    let spans = spans(&json);
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "one trace: {traces:?}");
    let root = one(&spans, "mcp-agent");
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.kind, KIND_INTERNAL);
    assert_eq!(root.attributes["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(root.attributes["gen_ai.agent.name"], "mcp-orchestrator");
    assert_eq!(root.attributes["gen_ai.request.model"], "fake-model");
    assert_eq!(root.attributes["confident.span.type"], "agent");
    assert_eq!(
        root.attributes["confident.trace.output"],
        "There are 144 sales rows for 2024."
    );

    // The chat spans: one per model request, the retry inside its span.
    let chats = named(&spans, "chat fake-model");
    assert_eq!(chats.len(), 4);
    let mut chats: Vec<&Span> = chats;
    chats.sort_by_key(|s| s.start);
    let usage = [(100, 20), (200, 10), (300, 10), (400, 15)];
    for (index, (chat, (input, output))) in chats.iter().zip(usage).enumerate() {
        assert_eq!(
            chat.parent_span_id, root.span_id,
            "chat spans are children of mcp-agent"
        );
        assert_eq!(chat.kind, KIND_CLIENT);
        assert_eq!(chat.service, "mcp-host");
        let a = &chat.attributes;
        assert_eq!(a["gen_ai.operation.name"], "chat");
        assert_eq!(a["gen_ai.provider.name"], "openai");
        assert_eq!(a["gen_ai.request.model"], "fake-model");
        assert_eq!(a["gen_ai.response.model"], "fake-model-2026");
        assert_eq!(a["gen_ai.response.id"], format!("resp-{}", index + 1));
        assert_eq!(a["gen_ai.usage.input_tokens"], input);
        assert_eq!(a["gen_ai.usage.output_tokens"], output);
        assert_eq!(a["confident.llm.input_token_count"], input);
        assert_eq!(a["confident.llm.output_token_count"], output);
        assert_eq!(a["confident.span.type"], "llm");
        assert_eq!(a["server.address"], "127.0.0.1");
        assert_eq!(a["server.port"], i64::from(fake.port));
        let reasons = if index == 3 { "stop" } else { "tool_calls" };
        assert_eq!(
            a["gen_ai.response.finish_reasons"],
            serde_json::json!([reasons])
        );
        assert!(
            a.get("gen_ai.input.messages").is_none(),
            "content is off by default"
        );
    }
    // Each request carried its chat span's context; the retry repeats the first's.
    let expected_parents = [0, 1, 1, 2, 3];
    for (request, chat) in requests.iter().zip(expected_parents) {
        let traceparent = request.header("traceparent").expect("traceparent header");
        assert_eq!(
            traceparent,
            format!("00-{}-{}-01", chats[chat].trace_id, chats[chat].span_id)
        );
    }

    // Tool calls: children of mcp-agent, each with its server span in another process.
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("mcp-tool-"))
        .collect();
    assert_eq!(calls.len(), 3, "read_file twice, query_database once");
    for call in &calls {
        assert_eq!(call.parent_span_id, root.span_id);
        let served = children(&spans, call);
        assert_eq!(served.len(), 1, "one server span under {}", call.name);
        assert_eq!(served[0].kind, KIND_SERVER);
        assert_ne!(
            served[0].pid(),
            call.pid(),
            "the server span is another process's"
        );
    }
    let query = one(&spans, "mcp-tool-query_database");
    let reads = named(&spans, "mcp-tool-read_file");
    let first_read = reads.iter().min_by_key(|s| s.start).unwrap();
    // The two calls of turn 1 ran at once: each began before the other ended.
    assert!(query.start < end_of(&json, &first_read.span_id));
    assert!(first_read.start < end_of(&json, &query.span_id));
    let refused = reads.iter().max_by_key(|s| s.start).unwrap();
    assert_eq!(refused.status_code, STATUS_ERROR);
    assert_eq!(refused.attributes["error.type"], "tool_error");

    // The 429 is a `retry` event on the second chat span, with the status it answered.
    let trace_text = std::fs::read_to_string(&json).unwrap();
    let trace: serde_json::Value = serde_json::from_str(&trace_text).unwrap();
    let retries: Vec<(String, serde_json::Value)> = trace["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .flat_map(|s| s["spans"].as_array().unwrap())
        .flat_map(|span| {
            span["events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|event| event["name"] == "retry")
                .map(move |event| (span["spanId"].as_str().unwrap().to_owned(), event.clone()))
        })
        .collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0].0, chats[1].span_id);
    assert!(
        retries[0].1.to_string().contains("429"),
        "{:?}",
        retries[0].1
    );

    // The key is nowhere but in the Authorization header.
    for (what, text) in [
        ("stdout", &*stdout),
        ("stderr", &*stderr),
        ("trace", &trace_text),
    ] {
        assert!(!text.contains(KEY), "the API key leaked into {what}");
    }
}

#[test]
fn message_content_is_recorded_only_when_asked() {
    let fake = FakeModel::start(vec![Reply::answer("r", "Nothing to look up.", (5, 3))]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = host();
    command
        .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        .env_remove("OPENAI_API_KEY")
        .args([
            "--model",
            "m",
            "--base-url",
            &fake.base_url,
            "--no-trace-view",
            "--trace-json",
        ])
        .arg(&json)
        .arg("Say hello");
    let output = run(&mut command);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Nothing to look up.\n"
    );
    let spans = spans(&json);
    let chat = one(&spans, "chat m");
    let input = chat.attributes["gen_ai.input.messages"].as_str().unwrap();
    assert!(input.contains("Say hello"), "{input}");
    let output = chat.attributes["gen_ai.output.messages"].as_str().unwrap();
    assert!(output.contains("Nothing to look up."), "{output}");
    assert!(
        fake.requests()[0].header("authorization").is_none(),
        "no key, no header"
    );
}

#[test]
fn a_refused_key_names_the_variable_and_is_never_echoed() {
    let fake = FakeModel::start(vec![Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run_model(&fake, &json, &["How were sales in 2024?"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.contains("OPENAI_API_KEY"), "{stderr}");
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
    let spans = spans(&json);
    let chat = one(&spans, "chat fake-model");
    assert_eq!(chat.status_code, STATUS_ERROR);
    assert_eq!(chat.attributes["error.type"], "401");
    assert_eq!(one(&spans, "mcp-agent").status_code, STATUS_ERROR);
    let trace_text = std::fs::read_to_string(&json).unwrap();
    for text in [
        &*stderr,
        &*String::from_utf8_lossy(&output.stdout),
        &*trace_text,
    ] {
        assert!(!text.contains(KEY));
    }
}

#[test]
fn failures_of_the_endpoint_are_clear_and_bounded() {
    // A model without tool support.
    let fake = FakeModel::start(vec![Reply::error(
        400,
        "registry.ollama.ai/library/gemma:2b does not support tools",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run_model(&fake, &json, &["q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not support tool calling"), "{stderr}");

    // A model that keeps failing with 503: retried a bounded number of times.
    let fake = FakeModel::start(vec![
        Reply::error(503, "overloaded").with_header("retry-after", "0"),
    ]);
    let output = run_model(&fake, &json, &["q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HTTP 503 after 3 retries, the same error every time: overloaded"),
        "{stderr}"
    );
    assert_eq!(fake.requests().len(), 4);

    // Errors that differ from one attempt to the next are not called repeated.
    let fake = FakeModel::start(vec![
        Reply::error(503, "overloaded").with_header("retry-after", "0"),
        Reply::error(502, "bad gateway").with_header("retry-after", "0"),
    ]);
    let output = run_model(&fake, &json, &["q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HTTP 502 after 3 retries: bad gateway"),
        "{stderr}"
    );

    // A model that never answers in time.
    let fake = FakeModel::start(vec![
        Reply::answer("late", "too late", (1, 1)).delayed(Duration::from_secs(30)),
    ]);
    let started = Instant::now();
    let output = run_model(&fake, &json, &["--model-timeout", "0.5", "q"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the timeout bounds the run"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did not answer within 0.5s"), "{stderr}");

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let mut command = host();
    command.args(["--model", "m", "--base-url", &url, "--no-trace-view", "q"]);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the model endpoint"),
        "{stderr}"
    );
}

#[test]
fn the_step_limit_ends_a_model_that_never_answers() {
    let fake = FakeModel::start(vec![Reply::tool_calls(
        "loop",
        &[("again", "list_tables", "{}")],
        (1, 1),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run_model(&fake, &json, &["--max-steps", "3", "q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("within 3 model requests (--max-steps 3)"),
        "{stderr}"
    );
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(named(&spans(&json), "mcp-tool-list_tables").len(), 3);
}

#[test]
fn tools_offered_by_two_servers_both_stay_callable() {
    let only_here = tempfile::tempdir().unwrap();
    std::fs::write(
        only_here.path().join("notes.txt"),
        "only in the second root",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "docs": {"command": HOST, "args": ["__serve", "file-server", "--root", data_dir()]},
            "notes": {"command": HOST, "args": ["__serve", "file-server", "--root", only_here.path()]},
        }})
        .to_string(),
    )
    .unwrap();
    let fake = FakeModel::start(vec![
        Reply::tool_calls(
            "r1",
            &[("n", "notes__read_file", r#"{"path": "notes.txt"}"#)],
            (1, 1),
        ),
        Reply::answer("r2", "done", (1, 1)),
    ]);
    let json = dir.path().join("trace.json");
    let output = run_model(
        &fake,
        &json,
        &["--config", config.to_str().unwrap(), "read my notes"],
    );
    assert!(output.status.success());
    let requests = fake.requests();
    let tools: HashSet<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains("docs__read_file") && tools.contains("notes__read_file"),
        "{tools:?}"
    );
    assert!(!tools.contains("read_file"), "{tools:?}");
    assert_eq!(requests[1].tool_message("n"), "only in the second root");
}

#[test]
fn an_outer_traceparent_becomes_the_parent_of_the_run() {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = host();
    command
        .env("TRACEPARENT", format!("00-{trace_id}-{parent}-01"))
        .env("TRACESTATE", "vendor=x")
        .args(["--no-trace-view", "--trace-json"])
        .arg(&json);
    let output = run(&mut command);
    assert!(output.status.success());
    let spans = spans(&json);
    let root = one(&spans, "mcp-agent");
    assert_eq!(root.trace_id, trace_id);
    assert_eq!(root.parent_span_id, parent);
    assert!(
        spans.iter().all(|s| s.trace_id == trace_id),
        "every span joins the outer trace"
    );

    // A malformed value: one warning, and a new trace.
    let mut command = host();
    command
        .env("TRACEPARENT", "00-not-a-trace-01")
        .args(["--no-trace-view", "--trace-json"])
        .arg(&json);
    let output = run(&mut command);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr
            .matches("TRACEPARENT is set but is not a valid")
            .count(),
        1,
        "{stderr}"
    );
    let fresh = common::spans(&json);
    let root = one(&fresh, "mcp-agent");
    assert!(root.parent_span_id.is_empty());
    assert_ne!(root.trace_id, trace_id);
}

#[test]
fn call_and_tools_are_one_trace_each() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("call.json");
    let mut command = host();
    command
        .args([
            "call",
            "file-server",
            "read_file",
            r#"{"path": "sales.csv"}"#,
            "--no-trace-view",
            "--trace-json",
        ])
        .arg(&json);
    assert!(run(&mut command).status.success());
    let spans = spans(&json);
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    let root = one(&spans, "mcp-host call");
    assert!(root.parent_span_id.is_empty());
    assert_eq!(
        one(&spans, "mcp-tool-read_file").parent_span_id,
        root.span_id
    );
    assert_eq!(
        spans.iter().filter(|s| s.parent_span_id.is_empty()).count(),
        1,
        "discovery and the call share the root"
    );

    let json = dir.path().join("tools.json");
    let mut command = host();
    command.args(["tools", "--trace-json"]).arg(&json);
    let output = run(&mut command);
    assert!(output.status.success());
    let spans = common::spans(&json);
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services.len(), 3, "{services:?}");
    let root = one(&spans, "mcp-host tools");
    assert_eq!(
        named(&spans, "tools/list").len(),
        4,
        "two CLIENT and two SERVER spans"
    );
    for list in named(&spans, "tools/list")
        .into_iter()
        .filter(|s| s.kind == KIND_CLIENT)
    {
        assert_eq!(list.parent_span_id, root.span_id);
    }
}

#[test]
fn the_offline_agent_refuses_what_it_cannot_answer() {
    for query in [
        "What files are in the data folder?",
        "How many tables does the database have?",
    ] {
        let mut command = host();
        command.env_remove("OPENAI_API_KEY").arg(query);
        let output = run(&mut command);
        assert_eq!(output.status.code(), Some(2), "{query}");
        assert!(
            output.stdout.is_empty(),
            "no answer to a question it was not built for"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--model"), "{stderr}");
        assert!(stderr.contains("OPENAI_BASE_URL"), "{stderr}");
    }
}

#[test]
fn confident_metric_collections_and_prices_land_on_the_right_spans() {
    let fake = FakeModel::start(vec![
        Reply::tool_calls(
            "r1",
            &[(
                "c1",
                "query_database",
                r#"{"sql": "SELECT count(*) FROM sales"}"#,
            )],
            (40, 10),
        ),
        Reply::answer("r2", "288 rows.", (60, 5)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run_model(
        &fake,
        &json,
        &[
            "--no-trace-view",
            "--metric-collection",
            "answer-quality",
            "--agent-metric-collection",
            "agent-checks",
            "--llm-metric-collection",
            "llm-checks",
            "--tool-metric-collection",
            "tool-checks",
            "--price-input",
            "0.15",
            "--price-output",
            "0.6",
            "How many sales rows are there?",
        ],
    );
    assert!(output.status.success());
    let spans = spans(&json);
    let root = one(&spans, "mcp-agent");
    assert_eq!(
        root.attributes["confident.trace.metric_collection"],
        "answer-quality"
    );
    assert_eq!(
        root.attributes["confident.span.metric_collection"],
        "agent-checks"
    );
    let chats = named(&spans, "chat fake-model");
    assert_eq!(chats.len(), 2);
    for chat in chats {
        assert_eq!(
            chat.attributes["confident.span.metric_collection"],
            "llm-checks"
        );
        let input = chat.attributes["confident.llm.cost_per_input_token"]
            .as_f64()
            .unwrap();
        let output = chat.attributes["confident.llm.cost_per_output_token"]
            .as_f64()
            .unwrap();
        assert!((input - 0.15e-6).abs() < 1e-15, "{input}");
        assert!((output - 0.6e-6).abs() < 1e-15, "{output}");
    }
    let tool = one(&spans, "mcp-tool-query_database");
    assert_eq!(
        tool.attributes["confident.span.metric_collection"],
        "tool-checks"
    );
    // Nowhere else: the server's spans and the discovery requests name no collection.
    for span in &spans {
        let keyed = span
            .attributes
            .get("confident.span.metric_collection")
            .is_some();
        let expected = matches!(
            span.name.as_str(),
            "mcp-agent" | "chat fake-model" | "mcp-tool-query_database"
        );
        assert_eq!(keyed, expected, "{}", span.name);
    }

    // Nothing given, nothing recorded.
    let fake = FakeModel::start(vec![Reply::answer("r", "Hi.", (5, 3))]);
    let bare = dir.path().join("bare.json");
    assert!(
        run_model(&fake, &bare, &["--no-trace-view", "Say hi"])
            .status
            .success()
    );
    for span in common::spans(&bare) {
        let keys: Vec<&String> = span
            .attributes
            .keys()
            .filter(|k| k.contains("metric_collection") || k.contains("cost_per"))
            .collect();
        assert!(keys.is_empty(), "{}: {keys:?}", span.name);
    }
}
