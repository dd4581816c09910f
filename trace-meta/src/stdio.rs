//! The stdio transport of a server: JSON-RPC lines on stdin and stdout, each incoming line
//! checked at the boundary (`jsonrpc.rs`) before rmcp reads it.

use std::future::Future;

use rmcp::{
    RoleServer,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::{mpsc, oneshot},
};

use crate::jsonrpc::{Inbound, check};

/// Longest incoming line read, as rmcp's own stdio transport: longer lines are dropped
/// unread (their id cannot be read without buffering them), with an error log.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// [`check`] for one line as read, its `\n` (and a `\r` before it) included; an empty line
/// is ignored.
fn check_line(line: &[u8]) -> Inbound {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        Inbound::Ignore
    } else {
        check(line)
    }
}

/// Room reserved for an outgoing line before it is serialised: most messages fit, so the
/// buffer is not regrown (and copied) several times while serde_json writes it.
const OUTGOING_LINE_CAPACITY: usize = 4096;

/// Lines to stdout, with an acknowledgement once written (or the write error).
type OutgoingLine = (Vec<u8>, Option<oneshot::Sender<std::io::Result<()>>>);

/// How many lines may wait for stdout before the reader stops reading.
const OUTGOING_QUEUE: usize = 64;

/// rmcp's stdio transport with the boundary checks of the module doc in front of it.
///
/// It reads lines as rmcp's `AsyncRwTransport` does (bounded at [`MAX_LINE_BYTES`],
/// resumable when `receive` is cancelled), passes each valid message on, and answers the
/// rest itself. One writer task owns stdout: rmcp's messages and the transport's replies
/// are queued to it, so lines never interleave, and a reply is never half-written when a
/// future is dropped.
pub(crate) struct StdioTransport<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Dropping the tail of a line over the cap, until its newline.
    discarding: bool,
    /// A reply not yet queued (`receive` was cancelled while the queue was full).
    pending: Option<Vec<u8>>,
    outgoing: Option<mpsc::Sender<OutgoingLine>>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

/// How long closing waits for queued lines to reach stdout.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl<R: AsyncRead + Unpin + Send> StdioTransport<R> {
    /// Reads `read`, writes `write`; spawns the writer task on the current runtime.
    pub(crate) fn new<W>(read: R, write: W) -> Self
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (outgoing, queue) = mpsc::channel(OUTGOING_QUEUE);
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            pending: None,
            outgoing: Some(outgoing),
            writer: Some(tokio::spawn(write_lines(write, queue))),
        }
    }

    /// Reads the next line and checks it ([`check`]), or `None` at the end of input. A line
    /// over the cap is dropped unread and logged ([`Inbound::Ignore`]).
    ///
    /// A line that lies whole in the read buffer (the usual case: messages are far shorter
    /// than the buffer) is checked where it lies; only a line split across reads is
    /// gathered in `self.line` first.
    ///
    /// Cancellation safe: bytes are checked or moved to `self.line`, and consumed, with no
    /// await in between, so a cancelled read resumes where it stopped.
    async fn next_line(&mut self) -> Option<Inbound> {
        loop {
            let available = match self.read.fill_buf().await {
                Ok(available) => available,
                Err(error) => {
                    tracing::error!(%error, "cannot read stdin");
                    return None;
                }
            };
            if available.is_empty() {
                return None;
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |at| at + 1);
            if self.discarding {
                self.discarding = newline.is_none();
                self.read.consume(take);
                continue;
            }
            if newline.is_some() && self.line.is_empty() {
                let verdict = check_line(&available[..take]);
                self.read.consume(take);
                return Some(verdict);
            }
            if self.line.len().saturating_add(take) > MAX_LINE_BYTES {
                self.line.clear();
                self.discarding = newline.is_none();
                self.read.consume(take);
                tracing::error!(
                    max_line_bytes = MAX_LINE_BYTES,
                    "an incoming line over the cap was dropped unread"
                );
                return Some(Inbound::Ignore);
            }
            self.line.extend_from_slice(&available[..take]);
            self.read.consume(take);
            if newline.is_some() {
                let verdict = check_line(&self.line);
                self.line.clear();
                return Some(verdict);
            }
        }
    }

    /// Queues a reply; cancellation safe (the reply waits in `self.pending` meanwhile).
    async fn flush_pending(&mut self) -> bool {
        let Some(outgoing) = &self.outgoing else {
            return false;
        };
        if self.pending.is_some() {
            let Ok(permit) = outgoing.reserve().await else {
                return false;
            };
            if let Some(line) = self.pending.take() {
                permit.send((line, None));
            }
        }
        true
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> Transport<RoleServer> for StdioTransport<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outgoing = self.outgoing.clone();
        async move {
            let closed = || std::io::Error::new(std::io::ErrorKind::NotConnected, "stdout closed");
            let outgoing = outgoing.ok_or_else(closed)?;
            let mut line = Vec::with_capacity(OUTGOING_LINE_CAPACITY);
            serde_json::to_writer(&mut line, &item)?;
            line.push(b'\n');
            let (written, done) = oneshot::channel();
            outgoing
                .send((line, Some(written)))
                .await
                .map_err(|_| closed())?;
            done.await.map_err(|_| closed())?
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if !self.flush_pending().await {
                return None;
            }
            match self.next_line().await? {
                Inbound::Message(message) => return Some(*message),
                Inbound::Reply(rejection) => {
                    let mut body = rejection.body;
                    body.push(b'\n');
                    self.pending = Some(body);
                }
                Inbound::Ignore => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Let replies already queued reach stdout; the writer ends once every sender is gone.
        let _ = self.flush_pending().await;
        self.outgoing = None;
        if let Some(writer) = self.writer.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer).await;
        }
        Ok(())
    }
}

/// Most bytes gathered from queued lines into one write.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The writer task: writes queued lines in order, flushing whenever the queue is empty.
///
/// Lines already queued behind the first are appended to it and written together, up to
/// [`MAX_BATCH_BYTES`]: with many calls in flight, one write (and one wake-up of the
/// reader) carries several answers. A line alone is written as it is, without a copy.
async fn write_lines<W: AsyncWrite + Unpin>(mut write: W, mut queue: mpsc::Receiver<OutgoingLine>) {
    let mut acks = Vec::new();
    while let Some((mut batch, ack)) = queue.recv().await {
        acks.extend(ack);
        let mut result = Ok(());
        while let Ok((line, ack)) = queue.try_recv() {
            acks.extend(ack);
            if result.is_err() {
                continue;
            }
            if batch.len().saturating_add(line.len()) > MAX_BATCH_BYTES {
                result = write.write_all(&batch).await;
                batch = line;
            } else {
                batch.extend_from_slice(&line);
            }
        }
        if result.is_ok() {
            result = write.write_all(&batch).await;
        }
        if result.is_ok() {
            result = write.flush().await;
        }
        let failed = result.is_err();
        for ack in acks.drain(..) {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
            });
        }
        if failed {
            tracing::error!("cannot write stdout; the session ends");
            return;
        }
    }
    let _ = write.flush().await;
}
