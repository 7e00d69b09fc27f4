//! `bare-hub`: the baseline `thor-bench` measures `thor` against. The least a WebSocket fan-out
//! server can be on tokio: an accept loop, one `tokio::sync::broadcast` channel, and a publisher
//! that sends the same probe message `thor` sends (`{"type":"probe","seq","epoch","ts",
//! "data":{"n","sent_us"}}`) `--rate` times per second, serialised once per message and shared by
//! every connection (a reference-counted `Utf8Bytes`). Each connection forwards what the channel
//! gives it; a connection that falls more than `--capacity` messages behind skips them
//! (`Lagged`), which the clients see as lost `seq`s. No sign-in, no snapshot, no other topics.
//!
//! Socket settings match `thor`'s, so the comparison is of the server code and not of its knobs:
//! a 4 KiB WebSocket read buffer per connection (`server/src/ws.rs`), Nagle left on (axum's
//! default; `--nodelay` turns it off), a broadcast capacity of 256 (`server/src/hub.rs`), and a
//! ticker that skips missed ticks (`MissedTickBehavior::Skip`, as `thor`'s jobs do): a stalled
//! publisher publishes late rather than in a burst, so `seq` stays gap-free either way.
//!
//! The benchmark needs the last `seq` published when its measuring window closes, to count the
//! messages no client received at all. `thor` reports it in `GET /api/health`; this server
//! answers `GET /seq` on the same port with the number alone. It peeks at the first bytes of each
//! accepted connection: `GET /seq ` gets a plain HTTP answer, anything else goes to the WebSocket
//! handshake untouched.

use anyhow::{Context, Result};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Debug, Parser)]
#[command(about = "A bare tokio broadcast WebSocket server: the baseline for thor-bench")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Probe messages per second (0: none).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Broadcast channel capacity (thor's hub uses 256).
    #[arg(long, default_value_t = 256)]
    capacity: usize,
    /// WebSocket read buffer per connection, bytes (thor uses 4096).
    #[arg(long, default_value_t = 4096)]
    read_buffer: usize,
    /// Set TCP_NODELAY on accepted sockets (thor does not).
    #[arg(long)]
    nodelay: bool,
}

struct Shared {
    tx: broadcast::Sender<Utf8Bytes>,
    /// The last probe `seq` handed to the channel.
    last_seq: AtomicU64,
    /// Messages skipped by connections that fell behind (reported on stderr at exit).
    lagged: AtomicU64,
    config: WebSocketConfig,
    nodelay: bool,
}

#[derive(Serialize)]
struct ProbeEnvelope {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    epoch: u64,
    ts: i64,
    data: ProbeData,
}

#[derive(Serialize)]
struct ProbeData {
    n: u64,
    sent_us: i64,
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    println!("bare-hub listening on {local}");

    let (tx, _) = broadcast::channel(args.capacity.max(1));
    let shared = Arc::new(Shared {
        tx,
        last_seq: AtomicU64::new(0),
        lagged: AtomicU64::new(0),
        config: WebSocketConfig::default().read_buffer_size(args.read_buffer),
        nodelay: args.nodelay,
    });

    if args.rate > 0 {
        tokio::spawn(publish(shared.clone(), args.rate));
    }

    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(shared.clone(), stream));
                }
                // Out of descriptors and the like: say so, let the moment pass, go on.
                Err(e) => {
                    eprintln!("bare-hub: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    tokio::select! {
        () = accept => {}
        () = terminated() => {}
    }
    eprintln!(
        "bare-hub: stopping; last seq {}, messages skipped by lagging connections {}",
        shared.last_seq.load(Ordering::Relaxed),
        shared.lagged.load(Ordering::Relaxed)
    );
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn publish(shared: Arc<Shared>, rate: u32) {
    let epoch = since_epoch().as_secs();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seq = 0u64;
    loop {
        ticker.tick().await;
        seq += 1;
        let now = since_epoch();
        let message = ProbeEnvelope {
            kind: "probe",
            seq,
            epoch,
            ts: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
            data: ProbeData {
                n: seq,
                sent_us: i64::try_from(now.as_micros()).unwrap_or(i64::MAX),
            },
        };
        let text = match serde_json::to_string(&message) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("bare-hub: cannot serialise a probe: {e}");
                continue;
            }
        };
        // No receivers is not an error here: the message is published all the same.
        let _ = shared.tx.send(Utf8Bytes::from(text));
        shared.last_seq.store(seq, Ordering::Relaxed);
    }
}

async fn connection(shared: Arc<Shared>, mut stream: TcpStream) {
    if shared.nodelay {
        let _ = stream.set_nodelay(true);
    }
    match is_seq_request(&stream).await {
        Ok(true) => {
            let seq = shared.last_seq.load(Ordering::Relaxed).to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{seq}",
                seq.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        Ok(false) => {}
        Err(_) => return,
    }
    // Subscribe before the handshake completes so nothing published meanwhile is missed.
    let mut rx = shared.tx.subscribe();
    let socket =
        match tokio_tungstenite::accept_async_with_config(stream, Some(shared.config)).await {
            Ok(socket) => socket,
            Err(_) => return,
        };
    let (mut sink, mut incoming) = socket.split();
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Ok(text) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    shared.lagged.fetch_add(skipped, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => break,
            },
            // Reading keeps pings answered and notices a close; the content is ignored.
            frame = incoming.next() => match frame {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Whether the connection starts with `GET /seq `. Waits (briefly) for enough bytes to tell.
async fn is_seq_request(stream: &TcpStream) -> std::io::Result<bool> {
    const PREFIX: &[u8] = b"GET /seq ";
    let mut buf = [0u8; PREFIX.len()];
    for _ in 0..100 {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != PREFIX[..n] {
            return Ok(false);
        }
        if n == PREFIX.len() {
            return Ok(true);
        }
        // A request line split across segments: let the rest arrive.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn first_bytes_are(request: &[u8]) -> std::io::Result<bool> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        client.write_all(request).await?;
        is_seq_request(&server).await
    }

    #[tokio::test]
    async fn tells_the_seq_request_from_an_upgrade() -> std::io::Result<()> {
        assert!(first_bytes_are(b"GET /seq HTTP/1.1\r\nhost: x\r\n\r\n").await?);
        assert!(!first_bytes_are(b"GET /ws HTTP/1.1\r\nupgrade: websocket\r\n\r\n").await?);
        assert!(!first_bytes_are(b"GET /sequence HTTP/1.1\r\n\r\n").await?);
        Ok(())
    }
}
