//! The benchmark's clients: thousands of sockets, each timing the probe from publish to arrival.

use crate::*;

/// What all clients of one cell share with the driver.
#[derive(Default)]
pub(crate) struct Shared {
    /// Whether clients keep latency samples.
    pub(crate) recording: AtomicBool,
    /// During the drain: the `seq` each client waits for (`u64::MAX` before).
    pub(crate) drain_target: AtomicU64,
    /// Clients that have seen a probe at or past `drain_target`.
    pub(crate) caught_up: AtomicUsize,
    /// Clients whose connection ended before they were stopped.
    pub(crate) ended: AtomicUsize,
}

#[derive(Debug, Default)]
pub(crate) struct ClientReport {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) first_probe: Option<u64>,
    /// Packed (`seq`, latency) of each probe received while recording.
    pub(crate) samples: Vec<u64>,
    pub(crate) out_of_order: u64,
    /// Why the connection ended before the stop, if it did.
    pub(crate) ended: Option<String>,
    /// Frames received while recording, by message type.
    pub(crate) by_type: HashMap<Box<str>, u64>,
}

pub(crate) struct Clients {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Vec<JoinHandle<ClientReport>>,
    pub(crate) connect_errors: usize,
    pub(crate) first_connect_error: Option<String>,
}

pub(crate) type Socket = WebSocketStream<TcpStream>;

impl Clients {
    /// Opens `n` connections, `batch` at a time; each starts reading as soon as it is open.
    /// With `probe_only`, each connection to thor first unsubscribes from every other topic.
    pub(crate) async fn connect(
        server: &Server,
        n: usize,
        batch: usize,
        probe_only: bool,
    ) -> Clients {
        let shared = Arc::new(Shared {
            drain_target: AtomicU64::new(u64::MAX),
            ..Shared::default()
        });
        let (stop, _) = watch::channel(false);
        let mut clients = Clients {
            shared,
            stop,
            tasks: Vec::with_capacity(n),
            connect_errors: 0,
            first_connect_error: None,
        };
        let addr = server.addr;
        let session = server.session.as_deref();
        let narrow = (probe_only && server.kind == Kind::Thor).then(probe_only_message);
        let narrow = narrow.as_deref();
        let mut opening = futures::stream::iter(0..n)
            .map(|_| async move {
                let opened = async {
                    let mut socket = open(addr, session).await?;
                    if let Some(text) = narrow {
                        socket
                            .send(Message::Text(text.into()))
                            .await
                            .context("cannot unsubscribe")?;
                    }
                    Ok(socket)
                };
                tokio::time::timeout(Duration::from_secs(20), opened)
                    .await
                    .unwrap_or_else(|_| Err(anyhow!("connect timed out after 20 s")))
            })
            .buffer_unordered(batch.max(1));
        while let Some(opened) = opening.next().await {
            match opened {
                Ok(socket) => {
                    let shared = clients.shared.clone();
                    let stop = clients.stop.subscribe();
                    clients
                        .tasks
                        .push(tokio::spawn(client(socket, shared, stop)));
                }
                Err(e) => {
                    clients.connect_errors += 1;
                    clients
                        .first_connect_error
                        .get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        if clients.connect_errors > 0 {
            eprintln!(
                "warning: {} of {n} connections failed; first: {}",
                clients.connect_errors,
                clients.first_connect_error.as_deref().unwrap_or_default()
            );
        }
        clients
    }

    pub(crate) fn connected(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every client (each closes its socket) and collects what it saw.
    pub(crate) async fn stop(self) -> Vec<ClientReport> {
        let _ = self.stop.send(true);
        let mut reports = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match task.await {
                Ok(report) => reports.push(report),
                Err(e) => reports.push(ClientReport {
                    ended: Some(format!("client task failed: {e}")),
                    ..ClientReport::default()
                }),
            }
        }
        reports
    }
}

/// `unsubscribe` from every topic but the probe (thor sends the rest to every socket).
fn probe_only_message() -> String {
    use app::protocol::Topic;
    let others: Vec<&str> = Topic::ALL
        .iter()
        .filter(|t| **t != Topic::Probe)
        .map(|t| t.as_str())
        .collect();
    serde_json::json!({"type": "unsubscribe", "topics": others}).to_string()
}

pub(crate) async fn open(addr: SocketAddr, session: Option<&str>) -> Result<Socket> {
    open_at(addr, session, "").await
}

/// [`open`] with a query (`?symbols=…&epoch=…`).
pub(crate) async fn open_at(
    addr: SocketAddr,
    session: Option<&str>,
    query: &str,
) -> Result<Socket> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let mut request = format!("ws://{addr}/ws{query}")
        .into_client_request()
        .context("cannot build the upgrade request")?;
    if let Some(token) = session {
        let cookie = HeaderValue::from_str(&format!("thor_session={token}"))
            .context("the session token is not a valid header value")?;
        request.headers_mut().insert(COOKIE, cookie);
    }
    // Small read buffers: 5,000 clients × the default 128 KiB would be 640 MB in this process.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .context("WebSocket handshake failed")?;
    Ok(socket)
}

pub(crate) async fn client(
    mut socket: Socket,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut last_probe = 0u64;
    let mut caught_up = false;
    loop {
        let frame = tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = socket.next() => frame,
        };
        let received_us = now_us();
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                report.ended = Some(format!("closed by the server: {close:?}"));
                break;
            }
            Some(Ok(other)) => {
                report.messages += 1;
                report.bytes += other.len() as u64;
                continue;
            }
            Some(Err(e)) => {
                report.ended = Some(format!("read failed: {e}"));
                break;
            }
            None => {
                report.ended = Some("the connection ended".to_string());
                break;
            }
        };
        report.messages += 1;
        report.bytes += text.len() as u64;
        let Ok(head) = serde_json::from_str::<Head<'_>>(text.as_str()) else {
            continue;
        };
        if shared.recording.load(Ordering::Relaxed) {
            match report.by_type.get_mut(head.kind) {
                Some(count) => *count += 1,
                None => {
                    report.by_type.insert(head.kind.into(), 1);
                }
            }
        }
        let Some((seq, sent_us)) = parse_probe(text.as_str()) else {
            continue;
        };
        report.first_probe.get_or_insert(seq);
        if seq <= last_probe {
            report.out_of_order += 1;
        } else {
            last_probe = seq;
            if shared.recording.load(Ordering::Relaxed) {
                report.samples.push(stats::pack(seq, received_us - sent_us));
            }
        }
        if !caught_up && seq >= shared.drain_target.load(Ordering::Relaxed) {
            caught_up = true;
            shared.caught_up.fetch_add(1, Ordering::SeqCst);
        }
    }
    if report.ended.is_some() {
        shared.ended.fetch_add(1, Ordering::SeqCst);
    }
    report
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
}

#[derive(Deserialize)]
pub(crate) struct ProbeFrame {
    pub(crate) seq: u64,
    pub(crate) data: ProbeData,
}

#[derive(Deserialize)]
pub(crate) struct ProbeData {
    pub(crate) sent_us: i64,
}

/// `(seq, sent_us)` of a probe message; `None` for any other message (or one that is not JSON).
/// Two borrowing parses, no allocation: the first reads only `type`, the second only runs for
/// probes.
pub(crate) fn parse_probe(text: &str) -> Option<(u64, i64)> {
    let head: Head<'_> = serde_json::from_str(text).ok()?;
    if head.kind != "probe" {
        return None;
    }
    let probe: ProbeFrame = serde_json::from_str(text).ok()?;
    Some((probe.seq, probe.data.sent_us))
}

// ---------------------------------------------------------------------------------------------
// The report.
