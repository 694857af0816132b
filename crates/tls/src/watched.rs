//! Knowing when a client connection is gone, so that a request waiting on it is not left
//! waiting for an answer that can no longer come.
//!
//! hyper's HTTP/1 client hands a request to its connection through a channel. When the
//! connection fails at the very moment the request is put in (a server refusing our certificate
//! just after a TLS 1.3 handshake, which the client believes finished), the request can land in
//! the channel after the connection drained it, and its answer never comes
//! (hyperium/hyper#4122; one or two in 20,000 refused requests in this crate's test).
//! [`Watched`] wraps the connector so that each connection's transport reports when it is
//! dropped, and [`lost`] completes when the connection a request went out on has been gone for
//! a while without the request finishing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Extensions, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{CaptureConnection, Connected, Connection};
use tokio::sync::watch;

/// A connector whose connections say when they are dropped.
#[derive(Debug, Clone)]
pub(crate) struct Watched<C>(pub(crate) C);

impl<C> tower::Service<Uri> for Watched<C>
where
    C: tower::Service<Uri>,
    C::Future: Send + 'static,
    C::Response: Connection,
{
    type Response = WatchedIo<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { Ok(WatchedIo::new(connecting.await?)) })
    }
}

/// A connection's transport; dropping it (the connection is over) closes its [`Gone`] signal.
#[derive(Debug)]
pub(crate) struct WatchedIo<T> {
    inner: T,
    id: u64,
    alive: watch::Sender<()>,
}

impl<T> WatchedIo<T> {
    fn new(inner: T) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self { inner, id: NEXT.fetch_add(1, Ordering::Relaxed), alive: watch::Sender::new(()) }
    }
}

/// Carried in a connection's [`Connected`] extras: which connection, and a receiver that
/// fails once its transport is dropped.
#[derive(Debug, Clone)]
struct Gone {
    id: u64,
    alive: watch::Receiver<()>,
}

impl<T: Connection> Connection for WatchedIo<T> {
    fn connected(&self) -> Connected {
        self.inner.connected().extra(Gone { id: self.id, alive: self.alive.subscribe() })
    }
}

impl<T: Read + Unpin> Read for WatchedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for WatchedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

/// Completes once the connection `capture` shows the request on has been dropped and, `grace`
/// later, the request is still on that connection; never while the request is unsent or on a
/// live connection. The grace lets an answer that came before the drop reach the caller, and a
/// request hyper re-sends on a fresh connection (one its reused connection closed under) get
/// that connection.
pub(crate) async fn lost(capture: &mut CaptureConnection, grace: Duration) {
    loop {
        let Some(mut gone) = current(capture).await else { return std::future::pending().await };
        // Nothing is ever sent: `changed` fails when the transport drops the sender.
        while gone.alive.changed().await.is_ok() {}
        tokio::time::sleep(grace).await;
        if current(capture).await.is_none_or(|now| now.id == gone.id) {
            return;
        }
    }
}

/// The connection the request is on, once it has one.
async fn current(capture: &mut CaptureConnection) -> Option<Gone> {
    let connected = capture.wait_for_connection_metadata().await;
    let mut extras = Extensions::new();
    connected.as_ref()?.get_extras(&mut extras);
    extras.remove::<Gone>()
}
