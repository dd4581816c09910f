//! A client and a traced server in one process, joined by an in-memory pipe.

use rmcp::{RoleClient, ServerHandler, ServiceExt, service::RunningService};
use tokio::task::JoinHandle;
use trace_meta::Traced;

/// Serves `handler`, wrapped in [`Traced`], over an in-memory pipe of 1 MiB and connects a
/// plain rmcp client to it. Returns the client and the server's task, which ends once the
/// client is cancelled or dropped.
pub async fn connect<H: ServerHandler>(
    handler: H,
) -> (RunningService<RoleClient, ()>, JoinHandle<()>) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        let running = Traced::new(handler)
            .serve(server_io)
            .await
            .expect("the in-process server starts");
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.expect("the in-process client connects");
    (client, server)
}
