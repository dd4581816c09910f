//! `execute` called on a server started without `--allow-write` is refused with a message
//! that names the flag (not as an unknown tool), and is not listed.

use std::sync::Arc;

use db_server::{
    database::{Config, Database},
    tools::DbServer,
};
use rmcp::{ServiceError, model::CallToolRequestParams};
use test_support::in_process::connect;

#[tokio::test]
async fn execute_names_the_flag_that_would_allow_it() {
    let db = Database::open(Config::default()).unwrap();
    let (client, served) = connect(DbServer::new(Arc::new(db))).await;
    let listed = client.list_all_tools().await.unwrap();
    assert!(listed.iter().all(|t| t.name != "execute"));
    let refused = client
        .call_tool(
            CallToolRequestParams::new("execute").with_arguments(
                serde_json::json!({"sql": "CREATE TABLE t (a)"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    let Err(ServiceError::McpError(error)) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(error.code.0, -32602);
    assert!(error.message.contains("--allow-write"), "{}", error.message);
    client.cancel().await.ok();
    served.await.ok();
}
