//! The "no protocol" floor of the Roomwire benchmarks: a plain tokio-tungstenite signalling
//! relay at `/signal`, per the plain WebSocket section of `bench/CONTRACT.md`.
//!
//! One task per connection reads text frames and parses them as JSON; a second task per
//! connection writes whatever arrives on its unbounded mpsc channel. Rooms map peerId to that
//! channel's sender. tokio-tungstenite's default configuration throughout, except the read
//! buffer: 4 KiB instead of 128 KiB, because tungstenite zero-fills the whole read buffer before
//! every read (128 KiB of memset per read made the default-configured floor slower than a floor
//! should be). socketioxide configures the same 4 KiB.
//!
//! Usage: `tungstenite-floor --port PORT` -> listens on 127.0.0.1:PORT, prints `ready`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// See the module comment.
const READ_BUFFER: usize = 4 * 1024;

type Tx = mpsc::UnboundedSender<Message>;

/// A registered peer: its connection id (to unregister only our own entry) and its writer.
struct Peer {
    conn: u64,
    tx: Tx,
}

/// room -> peerId -> peer
type Rooms = Arc<Mutex<HashMap<String, HashMap<String, Peer>>>>;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

fn parse_port() -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().position(|a| a == "--port") {
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage()),
        None => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: tungstenite-floor --port PORT");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = parse_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("ready");

    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // e.g. EMFILE: keep serving the connections we have.
                eprintln!("accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(handle(stream, rooms.clone()));
    }
}

fn frame(event: &str, data: Value) -> Message {
    Message::text(json!({ "event": event, "data": data }).to_string())
}

async fn handle(stream: TcpStream, rooms: Rooms) {
    let _ = stream.set_nodelay(true);
    let only_signal = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() == "/signal" {
            Ok(resp)
        } else {
            let mut err = ErrorResponse::new(None);
            *err.status_mut() = StatusCode::NOT_FOUND;
            Err(err)
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        only_signal,
        Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER)),
    )
    .await {
        Ok(ws) => ws,
        Err(_) => return,
    };
    let (mut sink, mut source) = ws.split();

    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    // (room, peerId) once joined
    let mut me: Option<(String, String)> = None;

    while let Some(Ok(msg)) = source.next().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue, // pings are answered by tungstenite; binary is not part of the contract
        };
        let Ok(Value::Object(mut env)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let event = match env.get("event").and_then(Value::as_str) {
            Some(e) => e.to_owned(),
            None => continue,
        };
        let mut data = env.remove("data").unwrap_or(Value::Null);

        match event.as_str() {
            "join" => {
                let (Some(room), Some(peer_id)) = (
                    data.get("room").and_then(Value::as_str),
                    data.get("peerId").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let (room, peer_id) = (room.to_owned(), peer_id.to_owned());
                {
                    let mut map = rooms.lock().unwrap();
                    if let Some(old) = me.take() {
                        unregister(&mut map, &old, conn);
                    }
                    map.entry(room.clone())
                        .or_default()
                        .insert(peer_id.clone(), Peer { conn, tx: tx.clone() });
                }
                let _ = tx.send(frame("joined", json!({ "peerId": peer_id })));
                me = Some((room, peer_id));
            }
            "offer" | "answer" | "candidate" => {
                let Some((room, peer_id)) = &me else {
                    let _ = tx.send(frame("error", json!({ "code": "NOT_JOINED" })));
                    continue;
                };
                let target_tx = data
                    .get("targetPeerId")
                    .and_then(Value::as_str)
                    .and_then(|target| {
                        let map = rooms.lock().unwrap();
                        map.get(room)?.get(target).map(|p| p.tx.clone())
                    });
                match (target_tx, data.as_object_mut()) {
                    (Some(target_tx), Some(obj)) => {
                        obj.insert("peerId".to_owned(), Value::String(peer_id.clone()));
                        let _ = target_tx.send(frame(&event, data));
                    }
                    _ => {
                        let _ = tx.send(frame("error", json!({ "code": "UNKNOWN_PEER" })));
                    }
                }
            }
            _ => {}
        }
    }

    if let Some(me) = me {
        unregister(&mut rooms.lock().unwrap(), &me, conn);
    }
    drop(tx);
    let _ = writer.await;
}

/// Remove (room, peerId) if it still belongs to connection `conn` (a later join with the same
/// peerId from another connection replaces it).
fn unregister(map: &mut HashMap<String, HashMap<String, Peer>>, (room, peer_id): &(String, String), conn: u64) {
    if let Some(peers) = map.get_mut(room) {
        if peers.get(peer_id).is_some_and(|p| p.conn == conn) {
            peers.remove(peer_id);
        }
        if peers.is_empty() {
            map.remove(room);
        }
    }
}
