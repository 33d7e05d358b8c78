//! How the cluster's servers (the scheduler's gRPC, an executor's Arrow
//! Flight) accept connections: at most [`MAX_CONNECTIONS`] open at once.
//! Past that, no connection is accepted until one closes: the others wait
//! in the kernel's backlog. A flood of connections that never finish
//! their TLS handshake (each held up to its ten-second timeout) then
//! costs a bounded number of file descriptors, instead of taking every
//! one an executor needs for its own object-store reads and shuffle files.

use futures::Stream;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Connections one server holds open at once. A cluster's members hold a
/// few each (a query service, the scheduler, every other executor).
pub const MAX_CONNECTIONS: usize = 512;

/// An accepted connection, counted until it is dropped.
#[derive(Debug)]
pub struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Counted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

/// The connections `listener` accepts, at most `limit` open at once.
pub fn incoming(listener: TcpListener, limit: usize) -> impl Stream<Item = io::Result<Counted>> {
    let permits = Arc::new(Semaphore::new(limit));
    futures::stream::unfold((listener, permits), |(listener, permits)| async move {
        let permit = Arc::clone(&permits).acquire_owned().await.ok()?;
        let accepted = match listener.accept().await {
            Ok((stream, _)) => {
                // As Ballista's own servers: no Nagle delay on small frames.
                let _ = stream.set_nodelay(true);
                Ok(Counted {
                    stream,
                    _permit: permit,
                })
            }
            Err(e) => {
                // Out of descriptors or memory: wait, rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(e)
            }
        };
        Some((accepted, (listener, permits)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn past_the_limit_nothing_more_is_accepted_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut accepted = Box::pin(incoming(listener, 2));
        let _clients: Vec<TcpStream> =
            futures::future::join_all((0..3).map(|_| TcpStream::connect(address)))
                .await
                .into_iter()
                .map(|c| c.expect("connected"))
                .collect();
        let first = accepted.next().await.expect("one").expect("accepted");
        let _second = accepted.next().await.expect("two").expect("accepted");
        let third = tokio::time::timeout(Duration::from_millis(300), accepted.next()).await;
        assert!(
            third.is_err(),
            "a third connection was accepted past the limit"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), accepted.next())
            .await
            .expect("accepted once one closed");
        assert!(third.is_some_and(|c| c.is_ok()));
    }
}
