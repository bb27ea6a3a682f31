//! A real HTTP partner for the tests, on a real socket: a few lines of
//! HTTP/1.1 over tokio's TCP, so that it can also misbehave as no framework
//! lets a server: hang, reset the connection, trickle its body.

use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// How the partner answers `POST /quotes`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A quote for every provider asked, after this long.
    Healthy(Duration),
    /// `503`.
    Unavailable,
    /// Reads the request and never answers (until the client gives up).
    Hang,
    /// Resets the connection without answering.
    Reset,
    /// `200` with a body that trickles a byte every 300 ms.
    SlowBody,
    /// `202`, then the quotes on the callback after this long.
    Callback(Duration),
    /// `200` with a body that is not an answers document.
    Garbage,
}

/// What the partner saw.
#[derive(Debug, Default)]
struct Seen {
    /// `POST /quotes` requests received.
    calls: AtomicUsize,
    /// `POST /quotes` requests being handled now.
    open: AtomicUsize,
    /// The most handled at once.
    most_open: AtomicUsize,
    /// The `Idempotency-Key` of each call.
    keys: Mutex<Vec<String>>,
    /// Statuses our callbacks got.
    callback_statuses: Mutex<Vec<u16>>,
}

/// A running fake partner.
#[derive(Clone)]
pub struct FakePartner {
    /// Where it listens.
    pub addr: SocketAddr,
    /// How it answers now.
    mode: Arc<Mutex<Mode>>,
    /// What it saw.
    seen: Arc<Seen>,
}

impl FakePartner {
    /// Starts a partner listing `providers` (its ids, around `at`), in `mode`.
    pub async fn start(mode: Mode, providers: &[&str], at: (f64, f64)) -> FakePartner {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let partner = FakePartner {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(mode)),
            seen: Arc::default(),
        };
        let list: Vec<Value> = providers
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let offset = 0.001 * i as f64;
                json!({"id": id, "position": {"lat": at.0 + offset, "lon": at.1 - offset}})
            })
            .collect();
        let list = json!({ "providers": list }).to_string();
        let server = partner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream, list.clone()));
            }
        });
        partner
    }

    /// `NAME=URL` for `--partner`.
    pub fn spec(&self, name: &str) -> String {
        format!("{name}=http://{}/", self.addr)
    }

    /// Answers from now on as `mode`.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// `POST /quotes` requests received so far.
    pub fn calls(&self) -> usize {
        self.seen.calls.load(Ordering::SeqCst)
    }

    /// The most `POST /quotes` requests handled at once.
    pub fn most_open(&self) -> usize {
        self.seen.most_open.load(Ordering::SeqCst)
    }

    /// The idempotency keys received.
    pub fn keys(&self) -> Vec<String> {
        self.seen.keys.lock().unwrap().clone()
    }

    /// The statuses the adapter answered our callbacks with.
    pub fn callback_statuses(&self) -> Vec<u16> {
        self.seen.callback_statuses.lock().unwrap().clone()
    }

    /// Serves one connection's requests (HTTP/1.1, kept alive).
    async fn serve(self, mut stream: TcpStream, list: String) {
        let mut buffer = Vec::new();
        loop {
            let Some((head, body)) = read_request(&mut stream, &mut buffer).await else {
                return;
            };
            let request_line = head.lines().next().unwrap_or_default().to_owned();
            if request_line.starts_with("GET /providers") {
                if respond(&mut stream, 200, &list).await.is_err() {
                    return;
                }
                continue;
            }
            if !request_line.starts_with("POST /quotes") {
                let _ = respond(&mut stream, 404, "{}").await;
                return;
            }
            let key = header(&head, "idempotency-key").unwrap_or_default();
            self.seen.keys.lock().unwrap().push(key);
            self.seen.calls.fetch_add(1, Ordering::SeqCst);
            let open = self.seen.open.fetch_add(1, Ordering::SeqCst) + 1;
            self.seen.most_open.fetch_max(open, Ordering::SeqCst);
            let keep = self.quote(&mut stream, &body).await;
            self.seen.open.fetch_sub(1, Ordering::SeqCst);
            if !keep {
                return;
            }
        }
    }

    /// Answers one `POST /quotes` as the mode says; false: the connection
    /// is done with.
    async fn quote(&self, stream: &mut TcpStream, body: &[u8]) -> bool {
        let request: Value = serde_json::from_slice(body).unwrap();
        let answers = quotes(&request);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Healthy(latency) => {
                tokio::time::sleep(latency).await;
                respond(stream, 200, &answers).await.is_ok()
            }
            Mode::Unavailable => respond(stream, 503, "{}").await.is_ok(),
            Mode::Hang => {
                // Until the adapter gives up and closes the connection.
                let mut byte = [0u8; 1];
                while matches!(stream.read(&mut byte).await, Ok(n) if n > 0) {}
                false
            }
            Mode::Reset => {
                let _ = stream.set_zero_linger();
                false
            }
            Mode::SlowBody => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    answers.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return false;
                }
                for byte in answers.as_bytes() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if stream.write_all(&[*byte]).await.is_err() {
                        return false;
                    }
                }
                true
            }
            Mode::Callback(after) => {
                let callback = request["callback"].as_str().unwrap().to_owned();
                let seen = self.seen.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let status = reqwest::Client::new()
                        .post(callback)
                        .header("content-type", "application/json")
                        .body(answers)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    seen.callback_statuses.lock().unwrap().push(status);
                });
                respond(stream, 202, "").await.is_ok()
            }
            Mode::Garbage => respond(stream, 200, "<html>busy</html>").await.is_ok(),
        }
    }
}

/// A quote of 10.00 + 1.00 per place for each provider asked.
fn quotes(request: &Value) -> String {
    let answers: Vec<Value> = request["providers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, provider)| {
            json!({"provider": provider, "quote": {
                "price": format!("{}.00", 10 + i), "currency": "EUR", "pickup-eta-seconds": 120}})
        })
        .collect();
    json!({ "answers": answers }).to_string()
}

/// Reads one request (head, body); `None` at the end of the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await
}
