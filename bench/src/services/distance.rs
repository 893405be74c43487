//! A TCP proxy that puts a server a network round trip away: every chunk
//! of bytes, in both directions, arrives half the round trip after it was
//! sent, in order, while later chunks are already on their way (a link
//! with latency, not a slow server). Local servers answer in well under a
//! millisecond; a customer's Kinesis stream or Kafka cluster is tens of
//! milliseconds away, which is where calls in flight matter.

use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub struct Distance {
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Distance {
    /// Listens on a free port and forwards to `upstream` (`host:port`)
    /// with `round_trip` added to every exchange.
    pub async fn start(upstream: &str, round_trip: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("bind the distance proxy")?;
        let port = listener.local_addr()?.port();
        let upstream = upstream.to_owned();
        let one_way = round_trip / 2;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            carry(client_read, server_write, one_way),
                            carry(server_read, client_write, one_way),
                        );
                    }
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            task,
        })
    }
}

impl Drop for Distance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk delivered `delay` after it was read.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reading = async move {
        let mut buffer = vec![0u8; 64 << 10];
        while let Ok(n) = from.read(&mut buffer).await {
            if n == 0
                || sender
                    .send((Instant::now() + delay, buffer[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    };
    let writing = async move {
        while let Some((due, bytes)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}
