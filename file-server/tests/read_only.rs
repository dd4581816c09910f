//! A write tool called on a server started without `--allow-write` is refused with a
//! message that names the flag (not as an unknown tool), and is not listed.

use file_server::{FileServer, sandbox::AllowedRoots, tools::Options};
use rmcp::{ServiceError, model::CallToolRequestParams};
use test_support::{data::data_dir, in_process::connect};

#[tokio::test]
async fn write_tools_name_the_flag_that_would_allow_them() {
    let roots = AllowedRoots::new([data_dir()]).unwrap();
    let (client, served) = connect(FileServer::new(roots, Options::default())).await;
    let listed = client.list_all_tools().await.unwrap();
    assert!(listed.iter().all(|t| t.name != "write_file"));
    for tool in ["write_file", "create_directory"] {
        let refused = client
            .call_tool(
                CallToolRequestParams::new(tool).with_arguments(
                    serde_json::json!({"path": "x.txt", "content": "x"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await;
        let Err(ServiceError::McpError(error)) = refused else {
            panic!("{tool}: {refused:?}");
        };
        assert_eq!(error.code.0, -32602, "{tool}");
        assert!(error.message.contains("--allow-write"), "{}", error.message);
    }
    client.cancel().await.ok();
    served.await.ok();
}
