//! `mcp-host chat` end to end: the host binary and the bundled servers as child processes,
//! a scripted OpenAI-compatible server on loopback that streams its answers, and the
//! conversation driven through piped stdin and through a pseudo-terminal.

mod common;

use std::{
    collections::HashSet,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{
    model::{FakeModel, Recorded, Reply},
    terminal::OnTerminal,
    *,
};

const KEY: &str = "sk-test-chat-secret-0123";

const Q1: &str = "How many sales rows are there for 2024?";
const A1: &str = "There are 144 sales rows for 2024.";
const Q2: &str = "And how does that compare to the year before?";
const A2: &str = "2023 had 144 rows as well.";
const Q3: &str = "Thanks, say it in one word.";
const A3: &str = "Equal.";

/// `mcp-host chat --model fake-model` against `fake`, with the grouping flags, the trace
/// saved to `json`.
fn chat_command(fake: &FakeModel, json: &Path) -> Command {
    let mut command = host();
    command
        .env_remove("OPENAI_BASE_URL")
        .env("OPENAI_API_KEY", KEY)
        .env_remove("TRACEPARENT")
        .env_remove("MCP_HOST_THREAD_ID")
        .env_remove("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        .args([
            "chat",
            "--model",
            "fake-model",
            "--base-url",
            &fake.base_url,
        ])
        .args(["--user-id", "ada", "--tag", "demo", "--tag", "eu"])
        .args(["--metadata", "team=sales", "--environment", "staging"])
        .arg("--trace-json")
        .arg(json)
        .arg("--trace-html")
        .arg(json.with_extension("html"));
    command
}

/// `mcp-host --model MODEL --base-url FAKE --no-trace-view --trace-json JSON`, content
/// capture unset: a one-shot question to add.
fn ask(fake: &FakeModel, model: &str, json: &Path) -> Command {
    let mut command = host();
    command
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        .args([
            "--model",
            model,
            "--base-url",
            &fake.base_url,
            "--no-trace-view",
        ])
        .arg("--trace-json")
        .arg(json);
    command
}

/// Turn 1 calls two tools in one streamed turn (their arguments in 4-character fragments,
/// interleaved), then streams its answer; turns 2 and 3 stream answers that the fake only
/// gives when the request carries the earlier turns.
fn three_turns() -> Vec<Reply> {
    vec![
        Reply::streamed_tool_calls(
            "r1",
            &[
                ("call_file", "read_file", r#"{"path": "sales.csv"}"#),
                (
                    "call_db",
                    "query_database",
                    r#"{"sql": "SELECT count(*) AS n FROM sales WHERE year = 2024"}"#,
                ),
            ],
            4,
            Some((100, 20)),
        ),
        Reply::streamed_answer(
            "r2",
            &["There are ", "144 sales rows", " for 2024."],
            Some((150, 12)),
        ),
        Reply::streamed_answer(
            "r3",
            &["2023 had ", "144 rows", " as well."],
            Some((200, 8)),
        )
        .requiring(Q1)
        .requiring(A1),
        Reply::streamed_answer("r4", &["Equal", "."], Some((250, 2)))
            .requiring(Q1)
            .requiring(Q2)
            .requiring(A2),
    ]
}

fn messages(request: &Recorded) -> Vec<(String, String)> {
    request.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap().to_owned();
            let content = m["content"].as_str().unwrap_or("").to_owned();
            (role, content)
        })
        .collect()
}

#[test]
fn a_streamed_conversation_is_one_trace_per_turn_with_one_conversation_id() {
    let fake = FakeModel::start(three_turns());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = with_input(
        &mut chat_command(&fake, &json),
        &format!("{Q1}\n/trace\n\n/tools\n{Q2}\n{Q3}\n"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(output.status.success(), "the conversation failed");
    assert!(!stderr.contains(KEY) && !stdout.contains(KEY));

    // Each answer on its own line, in order, around the tool listing.
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| *l == text)
            .unwrap_or_else(|| panic!("{text:?} is not a line of stdout"))
    };
    assert!(at(A1) < at("file-server:"));
    assert!(at("file-server:") < at(A2) && at(A2) < at(A3));
    // `/trace`: the first turn's tree, the servers' spans included while they still run.
    let tree = &stdout
        [stdout.find("Trace: ").expect("a trace tree")..stdout.find("file-server:").unwrap()];
    for line in [
        "└── mcp-agent (mcp-host)",
        "tool-read_file (file-server)",
        "tool-query_database (db-server)",
        "chat fake-model",
    ] {
        assert!(tree.contains(line), "{line:?} missing from\n{tree}");
    }
    assert!(!tree.contains("[parent span missing]"), "{tree}");

    // What the model was sent: streamed requests, each with the turns before it.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.body["stream"], true);
        assert_eq!(request.body["stream_options"]["include_usage"], true);
        assert!(
            request.header("baggage").is_none(),
            "no baggage to the model"
        );
        assert!(request.header("traceparent").is_some());
    }
    let csv = requests[1].tool_message("call_file");
    assert_eq!(
        csv,
        std::fs::read_to_string(data_dir().join("sales.csv")).unwrap(),
        "the streamed, interleaved arguments were put back together"
    );
    assert!(requests[1].tool_message("call_db").contains("144"));
    let roles = |r: &Recorded| {
        messages(r)
            .into_iter()
            .map(|(role, _)| role)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        roles(&requests[2]),
        [
            "system",
            "user",
            "assistant",
            "tool",
            "tool",
            "assistant",
            "user"
        ],
        "turn 2 carries turn 1 whole"
    );
    assert_eq!(messages(&requests[2])[5].1, A1);
    assert_eq!(messages(&requests[2])[6].1, Q2);
    assert_eq!(roles(&requests[3]).len(), 9);
    assert_eq!(messages(&requests[3])[8].1, Q3);

    // One trace per turn, the start-up in a trace of its own, all in one conversation.
    let spans = spans(&json);
    let mut roots = named(&spans, "mcp-agent");
    roots.sort_by_key(|s| s.start);
    assert_eq!(roots.len(), 3);
    let traces: HashSet<&str> = roots.iter().map(|r| r.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 3, "each turn is its own trace");
    let start = one(&spans, "mcp-host chat");
    assert!(!traces.contains(start.trace_id.as_str()));
    let conversation = start.attributes["gen_ai.conversation.id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(conversation.len(), 36, "a generated UUID: {conversation}");
    assert!(
        stderr.contains(&format!("conversation {conversation}")),
        "the id is printed at start"
    );
    for (root, (question, answer)) in roots.iter().zip([(Q1, A1), (Q2, A2), (Q3, A3)]) {
        assert!(root.parent_span_id.is_empty());
        let a = &root.attributes;
        assert_eq!(a["gen_ai.conversation.id"], conversation.as_str());
        assert_eq!(a["confident.trace.thread_id"], conversation.as_str());
        assert_eq!(a["confident.trace.user_id"], "ada");
        assert_eq!(a["confident.trace.tags"], serde_json::json!(["demo", "eu"]));
        assert_eq!(a["confident.trace.metadata"], r#"{"team":"sales"}"#);
        assert_eq!(a["confident.trace.environment"], "staging");
        assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
        assert_eq!(a["gen_ai.agent.name"], "mcp-orchestrator");
        assert_eq!(a["gen_ai.provider.name"], "openai");
        assert_eq!(a["confident.trace.input"], question);
        assert_eq!(a["confident.trace.output"], answer);
    }
    for key in ["confident.trace.user_id", "confident.trace.tags"] {
        assert_eq!(start.attributes[key], roots[0].attributes[key]);
    }

    // The --trace-html page: the servers' start, then one section per turn, in order, each
    // the turn's trace (what `mcp-host view` shows of the same JSON).
    let page = page_data(&std::fs::read_to_string(json.with_extension("html")).unwrap());
    assert_eq!(page["title"], format!("Conversation {conversation}"));
    let sections: Vec<(String, String)> = page["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_owned(),
                s["traceId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> =
        std::iter::once(("Servers started".to_owned(), start.trace_id.clone()))
            .chain(
                [Q1, Q2, Q3]
                    .iter()
                    .zip(&roots)
                    .enumerate()
                    .map(|(i, (q, root))| (format!("Turn {}: {q}", i + 1), root.trace_id.clone())),
            )
            .collect();
    assert_eq!(sections, expected);

    // The chat spans: streamed, exact usage from the last chunk, time to first chunk.
    let mut chats = named(&spans, "chat fake-model");
    chats.sort_by_key(|s| s.start);
    let usage = [(100, 20), (150, 12), (200, 8), (250, 2)];
    let parents = [0, 0, 1, 2];
    for ((chat, (input, output)), parent) in chats.iter().zip(usage).zip(parents) {
        assert_eq!(chat.parent_span_id, roots[parent].span_id);
        assert_eq!(chat.attributes["gen_ai.request.stream"], true);
        assert_eq!(chat.attributes["gen_ai.usage.input_tokens"], input);
        assert_eq!(chat.attributes["gen_ai.usage.output_tokens"], output);
        assert_eq!(chat.attributes["gen_ai.response.model"], "fake-model-2026");
        let first = chat.attributes["gen_ai.response.time_to_first_chunk"]
            .as_f64()
            .unwrap();
        let took = (chat.end - chat.start) as f64 / 1e9;
        assert!(first > 0.0 && first <= took, "{first} within {took}");
    }
    assert_eq!(chats.len(), 4);

    // The tool calls: the model's ids, and each server's span their child.
    for (tool, call_id, service) in [
        ("read_file", "call_file", "file-server"),
        ("query_database", "call_db", "db-server"),
    ] {
        let client = one(&spans, &format!("mcp-tool-{tool}"));
        assert_eq!(client.parent_span_id, roots[0].span_id);
        assert_eq!(client.attributes["gen_ai.tool.call.id"], call_id);
        let server = one(&spans, &format!("tool-{tool}"));
        assert_eq!(server.parent_span_id, client.span_id);
        assert_eq!(server.service, service);
    }
}

#[test]
fn a_one_shot_query_streams_and_takes_its_grouping_from_the_environment() {
    let fake = FakeModel::start(vec![Reply::streamed_answer(
        "r1",
        &["Hello", ", world."],
        None,
    )]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = ask(&fake, "fake-model", &json);
    command
        .env_remove("OPENAI_API_KEY")
        .env("MCP_HOST_THREAD_ID", "thread-42")
        .env("MCP_HOST_TAGS", "a,b")
        .env("MCP_HOST_METADATA", "k=v,n=1")
        .arg("Say hello");
    let output = run(&mut command);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello, world.\n");
    let spans = spans(&json);
    let root = one(&spans, "mcp-agent");
    assert_eq!(root.attributes["gen_ai.conversation.id"], "thread-42");
    assert_eq!(root.attributes["confident.trace.thread_id"], "thread-42");
    assert_eq!(
        root.attributes["confident.trace.tags"],
        serde_json::json!(["a", "b"])
    );
    assert_eq!(
        root.attributes["confident.trace.metadata"],
        r#"{"k":"v","n":"1"}"#
    );
    assert!(root.attributes.get("confident.trace.user_id").is_none());
    assert!(root.attributes.get("confident.trace.environment").is_none());
    let chat = one(&spans, "chat fake-model");
    assert_eq!(chat.attributes["gen_ai.request.stream"], true);
    assert!(
        chat.attributes.get("gen_ai.usage.input_tokens").is_none(),
        "a server that sends no usage records none"
    );
}

#[test]
fn without_grouping_flags_nothing_is_recorded() {
    let fake = FakeModel::start(vec![Reply::answer("r1", "Hi.", (1, 1))]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.arg("--no-stream").arg("Hi?");
    let output = run(&mut command);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hi.\n");
    assert_eq!(fake.requests()[0].body["stream"], false);
    assert!(fake.requests()[0].body.get("stream_options").is_none());
    let spans = spans(&json);
    let root = one(&spans, "mcp-agent");
    let keys: Vec<&String> = root.attributes.keys().collect();
    assert!(
        !keys.iter().any(|k| k.starts_with("confident.trace.")
            && ![
                "confident.trace.name",
                "confident.trace.input",
                "confident.trace.output"
            ]
            .contains(&k.as_str())
            || k.as_str() == "gen_ai.conversation.id"),
        "{keys:?}"
    );
    assert_eq!(
        one(&spans, "chat fake-model").attributes["gen_ai.request.stream"],
        false
    );
}

#[test]
fn a_server_that_refuses_stream_options_then_streaming_is_asked_again() {
    let fake = FakeModel::start(vec![
        Reply::error(
            400,
            "Unrecognized request argument supplied: stream_options",
        ),
        Reply::error(400, "Streaming is not supported by this server"),
        Reply::answer("r1", "Fine without streaming.", (7, 3)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.arg("Anything?");
    let output = run(&mut command);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Fine without streaming.\n"
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].body["stream_options"]["include_usage"], true);
    assert_eq!(requests[1].body["stream"], true);
    assert!(requests[1].body.get("stream_options").is_none());
    assert_eq!(requests[2].body["stream"], false);
    let spans = spans(&json);
    let chat = one(&spans, "chat fake-model");
    assert_eq!(chat.attributes["gen_ai.request.stream"], false);
    assert_eq!(chat.attributes["gen_ai.usage.input_tokens"], 7);
    assert_eq!(chat.status_code, StatusCode::Unset);
}

#[test]
fn a_stream_that_breaks_off_is_an_error_that_names_the_endpoint() {
    let mut reply = Reply::streamed_answer("r1", &["Half an ans"], None);
    let events = reply.events.as_mut().unwrap();
    events.pop(); // no [DONE]
    events.pop(); // no finish chunk either
    events.push(r#"{"error": {"message": "the model crashed"}}"#.to_owned());
    let fake = FakeModel::start(vec![reply]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.arg("Anything?");
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} stopped streaming its answer", fake.base_url))
            && stderr.contains("the model crashed"),
        "{stderr}"
    );
    let spans = spans(&json);
    let chat = one(&spans, "chat fake-model");
    assert_eq!(chat.attributes["error.type"], "stream_broken");
    assert_eq!(chat.status_code, STATUS_ERROR);
    // What is known of the stream before it broke stays on the span.
    assert_eq!(chat.attributes["gen_ai.request.stream"], true);
    assert!(
        chat.attributes["gen_ai.response.time_to_first_chunk"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{:?}",
        chat.attributes
    );
}

#[test]
fn a_cut_off_answer_says_so_on_stderr_in_the_trace_and_in_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    // Streamed, stopped at the server's token limit.
    let fake = FakeModel::start(vec![Reply::streamed_answer_ending(
        "r1",
        &["The 2024 sales ", "were led by the"],
        Some((40, 8)),
        "length",
    )]);
    let json = dir.path().join("length.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.arg("Who led 2024 sales?");
    let output = run(&mut command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stdout.contains("The 2024 sales were led by the"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the answer above is incomplete")
            && stderr.contains("output token limit")
            && stderr.contains("--n-predict"),
        "{stderr}"
    );
    let streamed = spans(&json);
    let root = one(&streamed, "mcp-agent");
    assert_eq!(root.status_code, STATUS_ERROR);
    assert_eq!(root.attributes["error.type"], "incomplete_answer");
    assert_eq!(
        root.attributes["confident.trace.output"],
        "The 2024 sales were led by the"
    );
    let chat = one(&streamed, "chat fake-model");
    assert_eq!(
        chat.attributes["gen_ai.response.finish_reasons"],
        serde_json::json!(["length"])
    );
    assert_eq!(
        chat.status_code,
        StatusCode::Unset,
        "the model request itself succeeded"
    );

    // Whole (not streamed), stopped by the provider's filter.
    let fake = FakeModel::start(vec![Reply::answer_ending(
        "r1",
        "I can tell you that",
        (40, 5),
        "content_filter",
    )]);
    let json = dir.path().join("filter.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.args(["--no-stream", "Who led 2024 sales?"]);
    let output = run(&mut command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("content filter"), "{stderr}");
    assert_eq!(
        one(&spans(&json), "mcp-agent").attributes["error.type"],
        "incomplete_answer"
    );
}

#[test]
fn the_trace_output_is_every_step_the_user_saw() {
    let fake = FakeModel::start(vec![
        Reply::tool_calls_saying(
            "r1",
            Some("Let me count the 2024 rows."),
            &[(
                "c1",
                "query_database",
                r#"{"sql": "SELECT count(*) AS n FROM sales WHERE year = 2024"}"#,
            )],
            (30, 9),
        ),
        Reply::answer("r2", "There are 144 sales rows for 2024.", (60, 9)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = ask(&fake, "fake-model", &json);
    command.arg("How many 2024 rows?");
    let output = run(&mut command);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("Let me count the 2024 rows.\nThere are 144 sales rows for 2024.\n"),
        "{stdout}"
    );
    let spans = spans(&json);
    let root = one(&spans, "mcp-agent");
    assert_eq!(
        root.attributes["confident.trace.output"],
        "Let me count the 2024 rows.\nThere are 144 sales rows for 2024."
    );
}

// ---------------------------------------------------------------------------------------
// Through a pseudo-terminal, as a person at a terminal uses it.

#[test]
fn on_a_terminal_ctrl_c_cancels_the_answer_being_written_and_the_conversation_goes_on() {
    let pieces: Vec<String> = (0..200).map(|i| format!("word{i} ")).collect();
    let slow: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let fake = FakeModel::start(vec![
        // Turn 1: a long answer, written slowly; Ctrl-C comes while it streams.
        Reply::streamed_answer("r1", &slow, Some((10, 200))).paced(Duration::from_millis(50)),
        // Turn 2: answered only if the cancelled turn left no trace in the history.
        Reply::streamed_answer("r2", &["Second ", "answer."], Some((20, 2))),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut terminal = OnTerminal::spawn(chat_command(&fake, &json));
    let at = terminal.wait_for("> ", 0);
    terminal.type_keys("Tell me a long story\r");
    let at = terminal.wait_for("word3 ", at);
    terminal.type_keys("\x03");
    let at = terminal.wait_for("> ", at);
    terminal.type_keys("Now a short one\r");
    let at = terminal.wait_for("Second answer.", at);
    terminal.wait_for("> ", at);
    terminal.type_keys("\x04");
    let status = test_support::process::wait_timeout(&mut terminal.child, Duration::from_secs(20))
        .expect("the conversation ends on Ctrl-D");
    assert!(status.success(), "{status:?}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let second = messages(&requests[1]);
    assert!(
        !second
            .iter()
            .any(|(_, content)| content.contains("long story")),
        "a cancelled turn does not join the history: {second:?}"
    );

    let spans = spans(&json);
    let mut roots = named(&spans, "mcp-agent");
    roots.sort_by_key(|s| s.start);
    assert_eq!(roots.len(), 2);
    assert_ne!(roots[0].trace_id, roots[1].trace_id);
    assert_eq!(
        roots[0].attributes["gen_ai.conversation.id"],
        roots[1].attributes["gen_ai.conversation.id"]
    );
    assert_eq!(roots[0].attributes["error.type"], "cancelled");
    assert_eq!(roots[0].status_code, STATUS_ERROR);
    assert!(
        roots[0].end - roots[0].start < 5_000_000_000,
        "cancelled, not run to its end (200 pieces × 50 ms)"
    );
    let mut chats = named(&spans, "chat fake-model");
    chats.sort_by_key(|s| s.start);
    assert_eq!(chats[0].attributes["error.type"], "cancelled");
    // What is known of the stream before it was cancelled stays on the span.
    assert_eq!(chats[0].attributes["gen_ai.request.stream"], true);
    assert!(
        chats[0].attributes["gen_ai.response.time_to_first_chunk"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{:?}",
        chats[0].attributes
    );
    assert_eq!(chats[1].attributes["gen_ai.usage.output_tokens"], 2);
    assert_eq!(roots[1].status_code, StatusCode::Unset);
    assert_eq!(
        roots[1].attributes["confident.trace.output"],
        "Second answer."
    );
}

/// The content rule (`trace_meta::content`) across the three processes: unset records the
/// tool spans' input and output only, `true` adds the conventions' names and the messages,
/// `false` records no content anywhere.
#[test]
fn one_variable_decides_what_content_every_process_records() {
    let run_with = |capture: Option<&str>| {
        let fake = FakeModel::start(vec![
            Reply::streamed_tool_calls(
                "r1",
                &[("call_1", "read_file", r#"{"path": "sales.csv"}"#)],
                5,
                None,
            ),
            Reply::streamed_answer("r2", &["It has 289 lines."], None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("trace.json");
        let mut command = ask(&fake, "m", &json);
        command.arg("How long is sales.csv?");
        if let Some(value) = capture {
            command.env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value);
        }
        assert!(run(&mut command).status.success());
        spans(&json)
    };
    let has = |span: &common::Span, key: &str| span.attributes.get(key).is_some();

    let default = run_with(None);
    for name in ["mcp-tool-read_file", "tool-read_file"] {
        let tool = one(&default, name);
        assert_eq!(
            tool.attributes["confident.span.input"],
            r#"{"path":"sales.csv"}"#
        );
        assert!(
            tool.attributes["confident.span.output"]
                .as_str()
                .unwrap()
                .starts_with("year,")
        );
        assert!(!has(tool, "gen_ai.tool.call.arguments"));
    }
    assert!(
        named(&default, "chat m")
            .iter()
            .all(|c| !has(c, "gen_ai.input.messages"))
    );
    assert_eq!(
        one(&default, "mcp-agent").attributes["confident.trace.input"],
        "How long is sales.csv?"
    );

    let all = run_with(Some("true"));
    for name in ["mcp-tool-read_file", "tool-read_file"] {
        let tool = one(&all, name);
        assert_eq!(
            tool.attributes["gen_ai.tool.call.arguments"],
            r#"{"path":"sales.csv"}"#
        );
        assert!(has(tool, "gen_ai.tool.call.result") && has(tool, "confident.span.input"));
    }
    assert!(
        named(&all, "chat m")
            .iter()
            .all(|c| has(c, "gen_ai.input.messages"))
    );

    let none = run_with(Some("false"));
    let content_keys = [
        "confident.span.input",
        "confident.span.output",
        "confident.trace.input",
        "confident.trace.output",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
    ];
    for span in &none {
        for key in content_keys {
            assert!(
                !has(span, key),
                "{} ({}) records {key}",
                span.name,
                span.service
            );
        }
    }
    let services: HashSet<&str> = none.iter().map(|s| s.service.as_str()).collect();
    assert!(
        services.contains("file-server"),
        "the server's spans were checked too"
    );
}

// ---------------------------------------------------------------------------------------
// The fake model the README offers (`bench/agent/fake_openai.py`), used the README's way.

/// `bench/agent/fake_openai.py` on a free port with `args`; killed on drop.
struct ReadmeFake {
    child: std::process::Child,
    base_url: String,
}

impl ReadmeFake {
    fn start(args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/agent/fake_openai.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs bench/agent/fake_openai.py");
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut first,
        )
        .unwrap();
        let base_url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the fake said {first:?}"))
            .to_owned();
        Self { child, base_url }
    }
}

impl Drop for ReadmeFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A piped conversation with `lines` against `base_url`: (status, stdout, stderr).
fn piped_chat(
    extra: &[&str],
    lines: &str,
    json: &Path,
) -> (std::process::ExitStatus, String, String) {
    let output = with_input(
        host()
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_API_KEY")
            .env_remove("TRACEPARENT")
            .env_remove("MCP_HOST_THREAD_ID")
            .arg("chat")
            .args(extra)
            .arg("--trace-json")
            .arg(json),
        lines,
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (output.status, stdout, stderr)
}

#[test]
fn the_readme_fake_streams_answers_each_turn_and_piped_turns_are_marked() {
    let fake = ReadmeFake::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let (status, stdout, _) = piped_chat(
        &["--model", "fake", "--base-url", &fake.base_url],
        "How many 2024 sales rows are there?\nThanks, that helps.\n",
        &json,
    );
    assert!(status.success());
    // The transcript: each question echoed, its answer, an empty line.
    let rows = rows_of_2024();
    let expected = format!(
        "> How many 2024 sales rows are there?\n\
         Let me look at the sales file and the database.\n\
         sales.csv has 289 lines; 2024 has {rows} rows and $8,874,945 revenue.\n\
         \n\
         > Thanks, that helps.\n\
         You asked: 'Thanks, that helps.'. This is turn 2 of our conversation (1 earlier turn in the history).\n\
         \n"
    );
    assert_eq!(stdout, expected);
    let spans = spans(&json);
    let chats = named(&spans, "chat fake");
    assert_eq!(chats.len(), 3, "two steps, then one");
    for chat in chats {
        assert_eq!(chat.attributes["gen_ai.request.stream"], true);
        assert!(
            chat.attributes["gen_ai.usage.output_tokens"]
                .as_i64()
                .unwrap()
                > 0
        );
    }
    assert_eq!(named(&spans, "mcp-tool-query_database").len(), 1);
}

#[test]
fn the_readme_fake_cuts_and_breaks_answers_when_told() {
    // One question to the fake started with `args`, its trace saved to `json`.
    let tell_a_story = |args: &[&str], json: &Path| {
        let fake = ReadmeFake::start(args);
        run(host()
            .env_remove("OPENAI_BASE_URL")
            .args(["--model", "fake", "--base-url", &fake.base_url])
            .arg("--no-trace-view")
            .arg("--trace-json")
            .arg(json)
            .arg("Tell me a story"))
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("cut.json");
    let output = tell_a_story(&["--finish", "length", "--words", "3"], &json);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "You asked: 'Tell\n"
    );
    assert!(
        stderr.contains("the answer above is incomplete"),
        "{stderr}"
    );

    let json = dir.path().join("broken.json");
    let output = tell_a_story(&["--break-after", "3"], &json);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the fake model broke off its stream"),
        "{stderr}"
    );
    let spans = spans(&json);
    let chat = one(&spans, "chat fake");
    assert_eq!(chat.attributes["error.type"], "stream_broken");
    assert!(chat.attributes["gen_ai.response.time_to_first_chunk"].is_number());
}

#[test]
fn offline_chat_helps_for_itself_and_trace_follows_new() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let (status, stdout, stderr) = piped_chat(
        &[],
        "/help\nWhat is the weather?\nSummarize our 2024 sales data\n/new\n/trace\n",
        &json,
    );
    assert!(status.success());
    assert!(
        stdout.contains("offline demo agent reads the sales file"),
        "{stdout}"
    );
    assert!(!stdout.contains("the model may call"), "{stdout}");
    assert!(
        stderr.contains("start the conversation with a model")
            && stderr.contains("mcp-host chat --model gpt-4o-mini"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no answer yet in this conversation"),
        "/trace after /new shows nothing of the old conversation: {stderr}"
    );
    assert!(!stdout.contains("Trace: "), "{stdout}");
}
