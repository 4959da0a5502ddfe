//! A real SMTP server for the tests to send through: it speaks enough of the protocol for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and records every message it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub struct Received {
    pub rcpt: Vec<String>,
    pub data: String,
}

impl Received {
    /// The message with quoted-printable soft line breaks and `=3D` undone (enough to find links).
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }

    /// The first link in the message whose path starts with `path` (e.g. "/verify?token=").
    pub fn link(&self, path: &str) -> Option<String> {
        let text = self.text();
        let at = text.find(path)?;
        let start = text[..at].rfind("http")?;
        let end = text[at..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .map_or(text.len(), |e| at + e);
        Some(text[start..end].to_owned())
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        SmtpSink { port, received }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Messages to `to` so far.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all().into_iter().filter(|m| m.rcpt.iter().any(|r| r.eq_ignore_ascii_case(to))).collect()
    }

    /// How many messages to `to` arrived, once the outbox has none left to send there and every one it
    /// sent has arrived: an exact count (waiting a while and then counting could count too early).
    pub async fn settled(&self, central: &app::backend::platform::db::CentralDb, to: &str) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let count = |state: &'static str| {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE to_addr = $1 AND state = $2")
                    .bind(to.to_owned())
                    .bind(state)
                    .fetch_one(central.pool())
            };
            let (queued, sent) = (count("queued").await.unwrap(), count("sent").await.unwrap());
            let arrived = self.to(to).len();
            if queued == 0 && usize::try_from(sent).unwrap() == arrived {
                return arrived;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mail to {to} never settled: {queued} queued, {sent} sent, {arrived} arrived"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the `n`-th message (1-based) to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Received {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.to(to);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(std::time::Instant::now() < deadline, "no message {n} to {to} arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-sink.test\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM") {
            rcpt.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let addr = line.trim().trim_start_matches(|c| c != '<').trim_matches(|c| c == '<' || c == '>').to_owned();
            rcpt.push(addr);
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if read.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            store.lock().unwrap().push(Received { rcpt: std::mem::take(&mut rcpt), data });
            write.write_all(b"250 queued\r\n").await?;
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 OK\r\n").await?;
        }
    }
}
