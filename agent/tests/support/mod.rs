//! A tiny HTTP/1.1 server for the agent's tests: one request per connection, answers
//! from a closure, every request recorded in order. It can be stopped like a replica
//! that goes away (its port then refuses connections, and connections in flight are
//! dropped), and started again on the same port.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Orders requests across every test server of a test binary.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived, relative to the requests of every other test server.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub body: String,
}

/// What to answer.
pub enum Answer {
    /// A status and a JSON (or any) body.
    Body(u16, String),
    /// 200 with `total` bytes of `[`, streamed; `with_length` sends Content-Length,
    /// otherwise the body ends when the connection closes.
    Endless { total: u64, with_length: bool },
    /// 204 after a pause, like an idle long-poll (so the agent does not spin).
    NoContent,
    /// No answer at all: a long-poll still waiting when the server stops.
    Hold,
}

/// A running test server.
pub struct TestServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The address, for starting again on the same port.
    pub addr: std::net::SocketAddr,
    accept: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl TestServer {
    /// Starts a server answering with `answer`.
    pub async fn start(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> TestServer {
        Self::start_at("127.0.0.1:0", answer).await
    }

    /// Starts a server on `addr` (the port of a stopped one: a replica coming back).
    pub async fn start_at(
        addr: &str,
        answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let log = seen.clone();
        let (stop, stopped) = watch::channel(false);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (answer, log, mut stopped) = (answer.clone(), log.clone(), stopped.clone());
                tokio::spawn(async move {
                    // Stopping drops the stream: the client sees the connection close.
                    tokio::select! {
                        _ = serve(stream, &*answer, &log) => {}
                        _ = stopped.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        TestServer {
            url,
            seen,
            addr,
            accept,
            stop,
        }
    }

    /// Stops like a replica that goes away: connections in flight are dropped and,
    /// once this returns, new ones are refused (the listener is closed).
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }

    /// The requests so far whose path contains `part`.
    pub fn requests(&self, part: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.contains(part))
            .cloned()
            .collect()
    }

    /// Waits (up to 30 s) until `ready` holds for the requests so far.
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&[Seen]) -> bool) {
        for _ in 0..600 {
            if ready(&self.seen.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}: {:?}",
            self.seen.lock().unwrap()
        );
    }
}

async fn serve(
    mut stream: TcpStream,
    answer: &(dyn Fn(&Seen) -> Answer + Send + Sync),
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let seq = NEXT_SEQ.fetch_add(1, Ordering::SeqCst);
    let request = Seen {
        seq,
        method,
        path,
        body,
    };
    log.lock().unwrap().push(request.clone());
    match answer(&request) {
        Answer::Body(status, body) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Answer::Hold => std::future::pending().await,
        Answer::NoContent => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .await?;
        }
        Answer::Endless { total, with_length } => {
            let length = if with_length {
                format!("Content-Length: {total}\r\n")
            } else {
                String::new()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let block = vec![b'['; 64 * 1024];
            let mut sent = 0u64;
            while sent < total {
                // Fails once the client gives up: that ends the stream.
                stream.write_all(&block).await?;
                sent += block.len() as u64;
            }
        }
    }
    stream.shutdown().await
}

/// A valid config for a server at `url`.
pub fn config(url: &str, state_dir: &std::path::Path) -> homelab_agent::config::Config {
    config_for(&[url], state_dir)
}

/// A valid config for servers at `urls`, tried in that order.
pub fn config_for(urls: &[&str], state_dir: &std::path::Path) -> homelab_agent::config::Config {
    homelab_agent::config::Config {
        servers: homelab_agent::config::ServerList::parse(urls.iter().copied()).unwrap(),
        token: "hca_test".to_owned(),
        heartbeat_interval: Duration::from_secs(60),
        state_dir: state_dir.to_owned(),
        allowed_actions: homelab_protocol::ActionType::ALL.iter().copied().collect(),
        allowed_units: None,
        apt_lock_wait: Duration::from_secs(1),
    }
}

/// A fake program `name` in a new directory (to use as the children's PATH), running
/// `body` with bash.
pub fn fake_program(name: &str, body: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// An action loop for a server at `url`, running commands from `path`.
pub fn action_loop(
    url: &str,
    state_dir: &std::path::Path,
    path: &std::path::Path,
    progress_every: Duration,
) -> homelab_agent::actions::ActionLoop {
    let client = homelab_agent::client::Client::new(&config(url, state_dir)).unwrap();
    action_loop_with(client, state_dir, path, progress_every)
}

/// An action loop using `client` (whose clones share its current server).
pub fn action_loop_with(
    client: homelab_agent::client::Client,
    state_dir: &std::path::Path,
    path: &std::path::Path,
    progress_every: Duration,
) -> homelab_agent::actions::ActionLoop {
    homelab_agent::actions::ActionLoop {
        client,
        state: homelab_agent::state::State::open(state_dir).unwrap(),
        local: homelab_agent::whitelist::Local::everything(),
        apt: homelab_agent::executor::AptSettings {
            lock_wait: Duration::from_secs(1),
            // The fakes first, then the system for the tools they use.
            child_path: format!("{}:{}", path.display(), homelab_agent::runner::CHILD_PATH),
            ..Default::default()
        },
        rescan: Arc::new(tokio::sync::Notify::new()),
        progress_every,
        first_heartbeat: None,
    }
}

/// The JSON of a claimed `apt_update`.
pub fn apt_update(id: i64) -> String {
    format!(
        r#"{{"id": {id}, "action_type": "apt_update", "argv": ["apt-get", "update"], "timeout_s": 60}}"#
    )
}

/// Log lines written while the guard lives, on this thread (a current-thread
/// runtime runs every task of the test here).
pub struct Logs {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    /// Starts capturing at level `warn` and above.
    pub fn capture() -> Logs {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        Logs {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// The lines that contain `part`.
    pub fn lines_with(&self, part: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(part))
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
