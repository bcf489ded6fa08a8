//! A small SMTP server for the tests: it takes every message, or refuses some
//! on demand, and keeps what it received.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    /// The message: headers, blank line, MIME body.
    pub data: String,
}

impl Received {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let prefix = format!("{}:", name.to_ascii_lowercase());
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The decoded bytes of the first part of type `content_type`.
    pub fn attachment(&self, content_type: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        let at = self.data.find(&format!("Content-Type: {content_type}"))?;
        let part = &self.data[at..];
        let body_start = part.find("\r\n\r\n")? + 4;
        let body = &part[body_start..];
        let body = &body[..body.find("\r\n--").unwrap_or(body.len())];
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(b64).ok()
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    /// The next this many `MAIL FROM` get a transient 451.
    refuse_next: AtomicUsize,
    /// Recipients refused for good (550).
    unknown: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct Sink {
    /// `smtp://127.0.0.1:<port>`, for `SMTP_URL`.
    pub url: String,
    state: Arc<State>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        Sink { url, state }
    }

    /// The next `n` messages are refused with a transient error.
    pub fn refuse_next(&self, n: usize) {
        self.state.refuse_next.store(n, Ordering::SeqCst);
    }

    /// `address` is refused for good.
    pub fn unknown(&self, address: &str) {
        self.state.unknown.lock().unwrap().push(address.to_owned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn reply(w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end].to_owned()
}

async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut w, "220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if tokio::time::timeout(Duration::from_secs(30), r.read_line(&mut line)).await?? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            reply(&mut w, "250-sink\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            let refused = state
                .refuse_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            to.clear();
            if refused {
                reply(&mut w, "451 4.3.0 Try again later\r\n").await?;
            } else {
                reply(&mut w, "250 OK\r\n").await?;
            }
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&line["RCPT TO:".len()..]);
            if state.unknown.lock().unwrap().contains(&rcpt) {
                reply(&mut w, "550 5.1.1 No such user\r\n").await?;
            } else {
                to.push(rcpt);
                reply(&mut w, "250 OK\r\n").await?;
            }
        } else if upper == "DATA" {
            reply(&mut w, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
            }
            state.received.lock().unwrap().push(Received {
                to: std::mem::take(&mut to),
                data,
            });
            reply(&mut w, "250 OK queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            to.clear();
            reply(&mut w, "250 OK\r\n").await?;
        } else if upper == "QUIT" {
            reply(&mut w, "221 Bye\r\n").await?;
            return Ok(());
        } else {
            reply(&mut w, "500 Unknown command\r\n").await?;
        }
    }
}
