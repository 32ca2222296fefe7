//! `roomwire conformance`: the protocol lab.
//!
//! Serves exactly what the official Engine.IO and Socket.IO test suites expect (an Engine.IO
//! echo at `/engine.io/`, the reference handlers on `/` and `/custom` at `/socket.io/`, their
//! timings), a plain WebSocket echo for Autobahn at `/ws/echo`, and the lab namespaces and
//! endpoints the project's own end-to-end tests drive (`/lab`, `/dyn-*`, `/ws/lab/*`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Message;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Authenticator, Identity};
use crate::config::Config;
use crate::hub::{Delivery, Frame, Frames, Hub};
use crate::server::{self, App, Assembly, Core};
use crate::transport::engineio::{
    CloseReason, EngineApp, EngineConfig, EngineConn, EngineServer, Handshake, Incoming, Session,
};
use crate::transport::rawws::{self, Envelope, OpenRequest, Refusal, WsApp, WsConn};
use crate::transport::socketio::{
    ConnectError, ConnectRequest, Event, NamespaceHandler, Payload, Socket, SocketIo,
    SocketIoConfig,
};
use crate::transport::ws::{WebSocket, WsUpgrade};

/// The timings and limits the official suites are written against.
/// The command may then relax the heartbeat for slower test machines.
pub fn conformance_config(mut config: Config) -> Config {
    config.socketio.ping_interval_ms = 300;
    config.socketio.ping_timeout_ms = 200;
    config.socketio.max_payload = 1_000_000;
    config.socketio.connect_timeout_ms = 1000;
    config.http.cors_origins = vec!["*".into()];
    config
}

/// Assembles the lab from a configuration already passed through [`conformance_config`].
pub fn assemble(config: Config) -> anyhow::Result<Assembly> {
    let config = Arc::new(config);
    let core = Core::new(config.clone(), Hub::in_memory(), None)?;
    let lab = Arc::new(Lab {
        auth: core.auth.clone(),
    });
    let io = SocketIo::builder(core.hub.clone(), SocketIoConfig::from_config(&config))
        .namespace("/", "conformance", Arc::new(Reference { main: true }))
        .namespace(
            "/custom",
            "conformance",
            Arc::new(Reference { main: false }),
        )
        .namespace("/lab", "lab", lab.clone())
        .pattern(
            regex::Regex::new(r"^/dyn-[a-z0-9]+$").expect("valid"),
            "lab",
            Arc::new(Dynamic),
        )
        .build();
    let engine_config = EngineConfig::from_config(&config);
    let apps: Vec<Box<dyn App>> = vec![Box::new(LabRoutes)];
    let mut assembly = server::assemble_with(core, &apps, io, engine_config.clone(), "/socket.io/");
    let echo_engine = EngineServer::new(EngineEcho, engine_config);
    assembly.router = assembly.router.merge(echo_engine.router("/engine.io/"));
    Ok(assembly)
}

/// The reference handlers of the Socket.IO suite.
struct Reference {
    main: bool,
}

#[async_trait]
impl NamespaceHandler for Reference {
    async fn on_connect(&self, socket: &Arc<Socket>) {
        let auth = socket.auth.as_deref().cloned().unwrap_or_else(|| json!({}));
        // A few milliseconds after the CONNECT reply, in its own write: the suite's pinned
        // `ws` client reads one message per listener, and would lose `auth` if both arrived
        // in one TCP segment.
        let socket = socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            socket.emit("auth", &Payload::json(vec![auth]));
        });
    }

    async fn on_event(&self, socket: &Arc<Socket>, event: Event) {
        if !self.main {
            return;
        }
        match event.name.as_str() {
            "message" => {
                socket.emit("message-back", &event.payload);
            }
            "message-with-ack" => {
                if let Some(id) = event.ack {
                    socket.ack(id, &event.payload);
                }
            }
            _ => {}
        }
    }
}

/// The Engine.IO suite's echo server.
struct EngineEcho;

struct EchoConn {
    session: Arc<Session>,
}

impl EngineApp for EngineEcho {
    type Conn = EchoConn;
    fn open(&self, session: Arc<Session>, _handshake: Handshake) -> Arc<EchoConn> {
        Arc::new(EchoConn { session })
    }
    fn name(&self) -> &'static str {
        "engineio-echo"
    }
}

#[async_trait]
impl EngineConn for EchoConn {
    async fn on_message(&self, message: Incoming<'_>) -> Result<(), ()> {
        match message {
            Incoming::Text(t) => self.session.send(Frame::text(format!("4{t}"))),
            Incoming::Binary(b) => self.session.send(Frame::Binary(b)),
        };
        Ok(())
    }
    async fn on_close(&self, _reason: CloseReason) {}
}

/// `/lab`: the namespace the end-to-end tests drive.
struct Lab {
    auth: Arc<Authenticator>,
}

fn arg_str(payload: &Payload, i: usize) -> String {
    payload
        .args
        .get(i)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The payload without its first `n` arguments (attachments stay; placeholders keep their
/// numbers, so they still point at the right attachment).
fn skip_args(payload: &Payload, n: usize) -> Payload {
    Payload {
        args: payload.args.iter().skip(n).cloned().collect(),
        attachments: payload.attachments.clone(),
    }
}

#[async_trait]
impl NamespaceHandler for Lab {
    async fn authorize(
        &self,
        request: &ConnectRequest<'_>,
    ) -> Result<Option<Identity>, ConnectError> {
        request.verify_token(&self.auth).map(Some)
    }

    async fn on_event(&self, socket: &Arc<Socket>, event: Event) {
        let p = &event.payload;
        let ack = |payload: Payload| {
            if let Some(id) = event.ack {
                socket.ack(id, &payload);
            }
        };
        match event.name.as_str() {
            "whoami" => {
                let id = socket.identity.as_deref().cloned().unwrap_or_default();
                ack(Payload::json(vec![json!({
                    "sid": &*socket.id,
                    "userId": id.user_id,
                    "name": id.name,
                    "email": id.email,
                    "role": id.role,
                })]));
            }
            "join" | "leave" => {
                let room = arg_str(p, 0);
                if event.name == "join" {
                    socket.join(&room);
                } else {
                    socket.leave(&room);
                }
                ack(Payload::json(vec![
                    json!({"room": room, "rooms": socket.rooms()}),
                ]));
            }
            "to-room" => {
                let room = arg_str(p, 0);
                let mut out = skip_args(p, 1);
                out.args.insert(0, Value::String(socket.id.to_string()));
                socket.to(&room).emit("room-message", &out);
            }
            "to-room-except" => {
                let (room, except) = (arg_str(p, 0), arg_str(p, 1));
                let mut out = skip_args(p, 2);
                out.args.insert(0, Value::String(socket.id.to_string()));
                socket
                    .nsp
                    .to(&room)
                    .except(&except)
                    .emit("room-message", &out);
            }
            "echo" => ack(p.clone()),
            "emit-back" => {
                let name = arg_str(p, 0);
                socket.emit(&name, &skip_args(p, 1));
            }
            "ask" => {
                let (socket, name, question, ack_id) =
                    (socket.clone(), arg_str(p, 0), skip_args(p, 1), event.ack);
                // The answer comes through this connection's reader, so wait elsewhere.
                tokio::spawn(async move {
                    let reply = match socket
                        .emit_with_ack(&name, &question, Some(Duration::from_secs(5)))
                        .await
                    {
                        Ok(answer) => Payload {
                            args: vec![json!({ "answer": answer.args })],
                            attachments: answer.attachments,
                        },
                        Err(e) => Payload::json(vec![
                            json!({ "error": if e == crate::transport::socketio::AckError::Timeout { "timeout" } else { "disconnected" } }),
                        ]),
                    };
                    if let Some(id) = ack_id {
                        socket.ack(id, &reply);
                    }
                });
            }
            "drop-transport" => socket.drop_transport(),
            "disconnect-me" => socket.disconnect(false).await,
            _ => {}
        }
    }
}

/// Namespaces matching `^/dyn-[a-z0-9]+$`.
struct Dynamic;

#[async_trait]
impl NamespaceHandler for Dynamic {
    async fn on_connect(&self, socket: &Arc<Socket>) {
        socket.emit(
            "hello",
            &Payload::json(vec![json!({"nsp": &*socket.nsp.name})]),
        );
    }
}

/// `/ws/echo` (raw echo, for Autobahn) and the JSON labs `/ws/lab/event`, `/ws/lab/type`.
struct LabRoutes;

impl App for LabRoutes {
    fn name(&self) -> &'static str {
        "lab"
    }

    fn routes(&self, core: &Core, _io: &SocketIo) -> Router {
        Router::new()
            .route("/ws/echo", get(ws_echo))
            .route(
                "/ws/lab/event",
                rawws::route_fixed(
                    Arc::new(JsonLab {
                        envelope: Envelope::Event,
                    }),
                    core,
                ),
            )
            .route(
                "/ws/lab/type",
                rawws::route_fixed(
                    Arc::new(JsonLab {
                        envelope: Envelope::Type,
                    }),
                    core,
                ),
            )
    }
}

/// Autobahn sends messages up to 16 MiB.
const ECHO_MAX_MESSAGE: usize = 64 << 20;

async fn ws_echo(ws: WsUpgrade) -> axum::response::Response {
    ws.max_message_size(ECHO_MAX_MESSAGE)
        .max_frame_size(ECHO_MAX_MESSAGE)
        .on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
    // Completes the closing handshake (the reply to the client's close is queued).
    let _ = socket.close().await;
}

struct JsonLab {
    envelope: Envelope,
}

#[derive(Deserialize)]
struct RoomData {
    room: String,
}

#[derive(Deserialize)]
struct BroadcastData {
    room: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct FloodData {
    count: u32,
    #[serde(default)]
    size: usize,
}

/// The lab's messages, under either envelope tag.
enum LabMessage {
    Echo(Value),
    Ping,
    Join(RoomData),
    Broadcast(BroadcastData),
    Flood(FloodData),
}

const LAB_EVENTS: [&str; 5] = ["echo", "ping", "join", "broadcast", "flood"];

impl<'de> Deserialize<'de> for LabMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Map::deserialize(d)?;
        let name = v
            .get("event")
            .or_else(|| v.get("type"))
            .and_then(Value::as_str)
            .ok_or_else(|| D::Error::custom("missing event"))?;
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        let typed = |r: Result<LabMessage, serde_json::Error>| r.map_err(D::Error::custom);
        match name {
            "echo" => Ok(LabMessage::Echo(data)),
            "ping" => Ok(LabMessage::Ping),
            "join" => typed(serde_json::from_value(data).map(LabMessage::Join)),
            "broadcast" => typed(serde_json::from_value(data).map(LabMessage::Broadcast)),
            "flood" => typed(serde_json::from_value(data).map(LabMessage::Flood)),
            other => Err(D::Error::custom(format!("unknown variant `{other}`"))),
        }
    }
}

impl JsonLab {
    fn frame(&self, name: &str, data: Value) -> String {
        let mut m = serde_json::Map::new();
        m.insert(self.envelope.tag().into(), Value::String(name.into()));
        if !data.is_null() {
            m.insert("data".into(), data);
        }
        Value::Object(m).to_string()
    }
}

#[async_trait]
impl WsApp for JsonLab {
    type Message = LabMessage;
    type State = Option<String>;

    fn name(&self) -> &'static str {
        match self.envelope {
            Envelope::Event => "lab-event",
            Envelope::Type => "lab-type",
        }
    }

    fn envelope(&self) -> Envelope {
        self.envelope
    }

    fn knows(&self, event: &str) -> bool {
        LAB_EVENTS.contains(&event)
    }

    async fn open(
        &self,
        _conn: &WsConn,
        _request: &OpenRequest,
    ) -> Result<Option<String>, Refusal> {
        Ok(None)
    }

    async fn on_message(&self, conn: &WsConn, room: &mut Option<String>, message: LabMessage) {
        match message {
            LabMessage::Echo(data) => {
                // Echo exactly, `null` data included.
                let mut m = serde_json::Map::new();
                m.insert(self.envelope.tag().into(), Value::String("echo".into()));
                m.insert("data".into(), data);
                conn.send(Value::Object(m).to_string());
            }
            LabMessage::Ping => {
                conn.send(self.frame("pong", Value::Null));
            }
            LabMessage::Join(RoomData { room: name }) => {
                conn.join(&name);
                let members = conn.room_size(&name);
                conn.send(self.frame("joined", json!({"room": name, "members": members})));
                *room = Some(name);
            }
            LabMessage::Broadcast(b) => {
                let text = self.frame("broadcast", json!({"room": b.room, "payload": b.payload}));
                conn.broadcast_others(&b.room, text);
            }
            LabMessage::Flood(f) => {
                // Sent from another task, as an app's broadcasts would be: the connection's own
                // task stays free to write, so only a client that does not read falls behind.
                let (hub, member) = (conn.hub().clone(), conn.id);
                let pad = "x".repeat(f.size.min(1 << 20));
                let tag = self.envelope.tag();
                tokio::spawn(async move {
                    for i in 0..f.count.min(100_000) {
                        let text =
                            json!({ tag: "flood", "data": {"i": i, "pad": pad} }).to_string();
                        hub.deliver(Delivery::to_member(member, Frames::One(Frame::text(text))));
                        if i % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                });
            }
        }
    }

    async fn on_close(&self, _conn: &WsConn, _room: Option<String>, _code: Option<u16>) {}
}
