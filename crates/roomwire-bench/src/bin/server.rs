//! `roomwire-bench-server`: Roomwire under benchmark, with exactly the handlers of
//! `bench/CONTRACT.md` (the same ones every peer server implements, so the comparison is fair).
//!
//! - Socket.IO, namespace `/`: `join` (acked with `"ok"`), `to-room`
//!   (`socket.to(room).emit("msg", payload)`), `to-room-all` (`socket.nsp.to(room).emit(...)`).
//! - Plain WebSocket at `/signal`: `join`, then `offer` / `answer` / `candidate` forwarded to
//!   the target peer of the same room with the sender's `peerId` set by the server.
//!
//! Usage: `roomwire-bench-server --port PORT`; prints `ready` once listening on 127.0.0.1:PORT.
//! No logging per message, no store, no auth.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::Router;
use dashmap::DashMap;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use roomwire::config::Config;
use roomwire::hub::{Hub, MemberId};
use roomwire::server::{self, App, Core};
use roomwire::transport::engineio::EngineConfig;
use roomwire::transport::rawws::{self, Envelope, OpenRequest, Refusal, WsApp, WsConn};
use roomwire::transport::socketio::{Event, NamespaceHandler, Payload, Socket, SocketIo};

/// The Socket.IO handlers of the contract, on namespace `/`.
struct BenchNamespace;

fn take_arg(args: &mut [Value], i: usize) -> Value {
    args.get_mut(i).map(Value::take).unwrap_or(Value::Null)
}

#[async_trait]
impl NamespaceHandler for BenchNamespace {
    async fn on_event(&self, socket: &Arc<Socket>, event: Event) {
        let mut args = event.payload.args;
        match event.name.as_str() {
            "join" => {
                if let Value::String(room) = take_arg(&mut args, 0) {
                    socket.join(&room);
                }
                if let Some(id) = event.ack {
                    socket.ack(id, &Payload::json(vec![Value::String("ok".into())]));
                }
            }
            "to-room" => {
                let Value::String(room) = take_arg(&mut args, 0) else {
                    return;
                };
                let payload = Payload::json(vec![take_arg(&mut args, 1)]);
                socket.to(&room).emit("msg", &payload);
            }
            "to-room-all" => {
                let Value::String(room) = take_arg(&mut args, 0) else {
                    return;
                };
                let payload = Payload::json(vec![take_arg(&mut args, 1)]);
                socket.nsp.to(&room).emit("msg", &payload);
            }
            _ => {}
        }
    }
}

/// `/signal`: the plain WebSocket signalling relay of the contract.
#[derive(Default)]
struct Signal {
    /// (room, peerId) -> the connection registered under that id.
    peers: DashMap<(String, String), MemberId>,
}

#[derive(Deserialize)]
struct JoinData {
    room: String,
    #[serde(rename = "peerId")]
    peer_id: String,
}

#[derive(Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "lowercase")]
enum SignalMessage {
    Join(JoinData),
    Offer(Map<String, Value>),
    Answer(Map<String, Value>),
    Candidate(Map<String, Value>),
}

const SIGNAL_EVENTS: [&str; 4] = ["join", "offer", "answer", "candidate"];

impl Signal {
    fn forget(&self, conn: &WsConn, joined: &Option<(String, String)>) {
        if let Some(key) = joined {
            self.peers.remove_if(key, |_, member| *member == conn.id);
        }
    }

    fn relay(
        &self,
        conn: &WsConn,
        joined: &Option<(String, String)>,
        event: &str,
        mut data: Map<String, Value>,
    ) {
        let target = match (joined, data.get("targetPeerId")) {
            (Some((room, _)), Some(Value::String(t))) => self
                .peers
                .get(&(room.clone(), t.clone()))
                .map(|m| *m.value()),
            _ => None,
        };
        let Some(target) = target else {
            conn.send(json!({"event": "error", "data": {"code": "UNKNOWN_PEER"}}).to_string());
            return;
        };
        let me = joined.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
        data.insert("peerId".into(), Value::String(me));
        let mut out = Map::new();
        out.insert("event".into(), Value::String(event.into()));
        out.insert("data".into(), Value::Object(data));
        conn.send_to(target, Value::Object(out).to_string());
    }
}

#[async_trait]
impl WsApp for Signal {
    type Message = SignalMessage;
    /// (room, peerId) once joined.
    type State = Option<(String, String)>;

    fn name(&self) -> &'static str {
        "signal"
    }

    fn envelope(&self) -> Envelope {
        Envelope::Event
    }

    fn knows(&self, event: &str) -> bool {
        SIGNAL_EVENTS.contains(&event)
    }

    async fn open(&self, _conn: &WsConn, _request: &OpenRequest) -> Result<Self::State, Refusal> {
        Ok(None)
    }

    async fn on_message(&self, conn: &WsConn, joined: &mut Self::State, message: SignalMessage) {
        match message {
            SignalMessage::Join(JoinData { room, peer_id }) => {
                self.forget(conn, joined);
                self.peers.insert((room.clone(), peer_id.clone()), conn.id);
                conn.send(json!({"event": "joined", "data": {"peerId": &peer_id}}).to_string());
                *joined = Some((room, peer_id));
            }
            SignalMessage::Offer(d) => self.relay(conn, joined, "offer", d),
            SignalMessage::Answer(d) => self.relay(conn, joined, "answer", d),
            SignalMessage::Candidate(d) => self.relay(conn, joined, "candidate", d),
        }
    }

    async fn on_close(&self, conn: &WsConn, joined: Self::State, _code: Option<u16>) {
        self.forget(conn, &joined);
    }
}

struct BenchApp;

impl App for BenchApp {
    fn name(&self) -> &'static str {
        "bench"
    }

    fn namespaces(&self, _core: &Core) -> Vec<(String, Arc<dyn NamespaceHandler>)> {
        vec![("/".into(), Arc::new(BenchNamespace))]
    }

    fn routes(&self, core: &Core, _io: &SocketIo) -> Router {
        Router::new().route(
            "/signal",
            rawws::route_fixed(Arc::new(Signal::default()), core),
        )
    }
}

/// Roomwire's defaults, except what the benchmark must not trip over.
fn bench_config(port: u16) -> Config {
    let mut config = Config {
        listen: format!("127.0.0.1:{port}"),
        ..Config::default()
    };
    // The plain-WebSocket rate limit (50 msg/s, burst 50, close at 10x) protects production
    // servers from abusive clients; the benchmark's generator sends on purpose above it, and
    // a rate-limited relay would measure the limiter, not the relay. Relaxed for the bench only.
    config.websocket.messages_per_second = 1_000_000;
    config.websocket.burst = 1_000_000;
    config.websocket.flood_close_factor = 1_000;
    // The same for Socket.IO's per-connection rate (100 msg/s): the fan-out publisher sends
    // thousands a second, and the peers have no such limit.
    config.socketio.messages_per_second = 0;
    // Idle benchmark connections must not be closed for silence while they are held.
    config.websocket.idle_timeout_seconds = 3_600;
    // Everything else (Socket.IO timings, outbox limits, buffer sizes) stays at the defaults.
    config
}

fn parse_port() -> anyhow::Result<u16> {
    let mut args = std::env::args().skip(1);
    let mut port = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = Some(args.next().context("--port needs a value")?.parse()?),
            s if s.starts_with("--port=") => port = Some(s["--port=".len()..].parse()?),
            "-h" | "--help" => {
                println!("usage: roomwire-bench-server --port PORT");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}; usage: --port PORT"),
        }
    }
    port.context("usage: roomwire-bench-server --port PORT")
}

fn main() -> anyhow::Result<()> {
    let port = parse_port()?;
    let config = bench_config(port);
    config.validate()?;
    let config = Arc::new(config);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let core = Core::new(config.clone(), Hub::in_memory(), None)?;
            let apps: Vec<Box<dyn App>> = vec![Box::new(BenchApp)];
            let assembly = server::assemble(
                core,
                &apps,
                EngineConfig::from_config(&config),
                "/socket.io/",
            );
            let addr = config.listen_addr();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind {addr}"))?;
            println!("ready");
            std::io::stdout().flush()?;
            server::run(assembly, listener).await
        })
}
