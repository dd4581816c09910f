//! A small HTTP/1 server on `127.0.0.1`, for the fakes a test talks to over the network.

use std::{convert::Infallible, future::Future, net::SocketAddr};

use hyper::{
    Request, Response,
    body::{Body, Bytes, Incoming},
    service::service_fn,
};
use hyper_util::rt::TokioIo;

/// Serves `handler` on an ephemeral port of `127.0.0.1` from a thread of its own, every
/// connection on its own task, and returns the address. The server stops with the test
/// process. A response body may be whole (`Full`) or streamed (a fake that writes
/// server-sent events over time).
pub fn serve<F, Fut, B>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let response = handler(request);
                        async move { Ok::<_, Infallible>(response.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// The headers of `request` as (name, value) pairs, in order; a value that is not visible
/// ASCII reads as empty.
pub fn headers<B>(request: &Request<B>) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}
