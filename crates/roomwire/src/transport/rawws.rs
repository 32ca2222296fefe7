//! Plain WebSocket apps speaking JSON envelopes: `{"type": ..., "data": ...}` or
//! `{"event": ..., "data": ...}`.
//!
//! Every message is decoded into the app's typed enum before the app sees it; what does not
//! decode gets an error frame (`INVALID_MESSAGE`, `UNKNOWN_EVENT`, `MESSAGE_TOO_LARGE`,
//! `RATE_LIMITED`) and the connection stays open. Only abuse closes it: a sustained flood
//! (1008), a client too slow to read what it is sent (1013), silence (1001), a frame beyond
//! the hard size limit (1009).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{ConnectInfo, Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::{sleep, Instant};

use crate::client_addr::TrustedProxies;
use crate::hub::{CloseRequest, Delivery, Frame, Frames, Hub, MemberId, Outbox, Push, RoomKey};
use crate::metrics::{metrics, AppCounters};
use crate::server::Core;
use crate::transport::ws::{WebSocket, WsConfig, WsUpgrade};

/// Which field names the event in an app's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Type,
    Event,
}

impl Envelope {
    pub fn tag(self) -> &'static str {
        match self {
            Envelope::Type => "type",
            Envelope::Event => "event",
        }
    }
}

/// Limits and timers of plain WebSocket connections (from `[websocket]`; apps may override).
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub max_message_bytes: usize,
    pub hard_max_message_bytes: usize,
    pub messages_per_second: u32,
    pub burst: u32,
    pub flood_close_factor: u32,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub outbox_limit: usize,
    pub read_buffer: usize,
    pub write_buffer: usize,
}

impl WsLimits {
    pub fn from_config(c: &crate::config::Config) -> WsLimits {
        let w = &c.websocket;
        WsLimits {
            max_message_bytes: w.max_message_bytes as usize,
            hard_max_message_bytes: w.hard_max_message_bytes as usize,
            messages_per_second: w.messages_per_second as u32,
            burst: w.burst as u32,
            flood_close_factor: w.flood_close_factor as u32,
            ping_interval: Duration::from_secs(w.ping_interval_seconds),
            idle_timeout: Duration::from_secs(w.idle_timeout_seconds),
            outbox_limit: w.outbox_limit as usize,
            read_buffer: w.read_buffer_bytes as usize,
            write_buffer: w.write_buffer_bytes as usize,
        }
    }
}

/// What the app learns about the request that opened a connection.
#[derive(Debug, Clone, Default)]
pub struct OpenRequest {
    pub path: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    /// The TCP peer.
    pub remote: Option<SocketAddr>,
    /// The client's address: the peer, or what a trusted proxy says (`http.trusted_proxies`).
    pub client: Option<IpAddr>,
}

impl OpenRequest {
    pub fn token(&self) -> Option<&str> {
        crate::auth::find_token(
            None,
            self.query.get("token").map(String::as_str),
            self.authorization.as_deref(),
        )
    }
}

/// An app's refusal of a new connection: the client gets an error frame, then a close.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub close_code: u16,
}

/// An app's refusal of a WebSocket handshake, before any upgrade: the client gets an HTTP
/// error status and a JSON `{code, message}` body, and its WebSocket never opens.
#[derive(Debug, Clone)]
pub struct HandshakeRefusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// A problem with one message, reported to the client without closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    pub code: &'static str,
    pub message: String,
}

#[async_trait]
pub trait WsApp: Send + Sync + 'static {
    /// The typed messages this app accepts, decoded from the whole envelope (use
    /// `#[serde(tag = "event", content = "data")]` or the `type` equivalent).
    type Message: DeserializeOwned + Send;
    /// Per-connection state, owned by the connection's task.
    type State: Send + 'static;

    fn name(&self) -> &'static str;
    fn envelope(&self) -> Envelope;
    /// Whether `event` is one of the app's events (tells an unknown event from a bad one).
    fn knows(&self, event: &str) -> bool;
    /// Limits for this app, defaulting to the server's `[websocket]` ones.
    fn limits(&self, defaults: &WsLimits) -> WsLimits {
        defaults.clone()
    }
    /// The error frame sent to the client; the default is `{<tag>: "error", data: {code, message}}`.
    fn error_frame(&self, code: &str, message: &str) -> String {
        let mut m = serde_json::Map::new();
        m.insert(self.envelope().tag().into(), Value::String("error".into()));
        m.insert(
            "data".into(),
            serde_json::json!({ "code": code, "message": message }),
        );
        Value::Object(m).to_string()
    }
    /// Looks at a handshake before the WebSocket is opened; a refusal here costs the client
    /// one HTTP request and no connection. The default lets every handshake through.
    fn screen(&self, _request: &OpenRequest) -> Result<(), HandshakeRefusal> {
        Ok(())
    }
    async fn open(&self, conn: &WsConn, request: &OpenRequest) -> Result<Self::State, Refusal>;
    async fn on_message(&self, conn: &WsConn, state: &mut Self::State, message: Self::Message);
    /// The connection ended; `code` is the close code the client sent, if it sent one.
    async fn on_close(&self, conn: &WsConn, state: Self::State, code: Option<u16>);
}

/// One plain WebSocket connection, as apps see it.
pub struct WsConn {
    pub id: MemberId,
    hub: Hub,
    scope: &'static str,
    outbox: Arc<Outbox>,
    counters: Arc<AppCounters>,
}

impl WsConn {
    /// Sends text to this connection's client.
    pub fn send(&self, text: impl Into<String>) -> bool {
        self.outbox.push(Frame::text(text)) == Push::Queued
    }

    pub fn send_json(&self, value: &Value) -> bool {
        self.send(value.to_string())
    }

    /// Sends an error frame in the app's shape.
    pub fn send_error(&self, app: &dyn ErrorShape, code: &str, message: &str) -> bool {
        metrics().error(code);
        self.send(app.error_frame(code, message))
    }

    pub fn room(&self, room: &str) -> RoomKey {
        RoomKey::new(self.scope, room)
    }

    pub fn join(&self, room: &str) {
        self.hub.join(self.id, self.room(room));
    }

    pub fn leave(&self, room: &str) {
        self.hub.leave(self.id, &self.room(room));
    }

    pub fn room_size(&self, room: &str) -> usize {
        self.hub.room_size(&self.room(room))
    }

    /// Sends text to every connection in the room but this one (encoded once, via the hub).
    pub fn broadcast_others(&self, room: &str, text: impl Into<String>) {
        let frames = Frames::One(Frame::text(text));
        self.hub
            .deliver(Delivery::to_room(self.room(room), frames).except(self.id));
    }

    /// Sends text to every connection in the room, this one included.
    pub fn broadcast_all(&self, room: &str, text: impl Into<String>) {
        let frames = Frames::One(Frame::text(text));
        self.hub.deliver(Delivery::to_room(self.room(room), frames));
    }

    /// Sends text to one other connection.
    pub fn send_to(&self, member: MemberId, text: impl Into<String>) {
        self.hub
            .deliver(Delivery::to_member(member, Frames::One(Frame::text(text))));
    }

    /// Closes this connection after what is queued.
    pub fn close(&self, code: u16, reason: &'static str) {
        self.outbox.close(CloseRequest::new(code, reason));
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// The part of an app that shapes error frames (object-safe, for [`WsConn::send_error`]).
pub trait ErrorShape {
    fn error_frame(&self, code: &str, message: &str) -> String;
}

impl<A: WsApp> ErrorShape for A {
    fn error_frame(&self, code: &str, message: &str) -> String {
        WsApp::error_frame(self, code, message)
    }
}

fn open_request(
    path: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    remote: SocketAddr,
    proxies: &TrustedProxies,
) -> OpenRequest {
    OpenRequest {
        path,
        query,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        remote: Some(remote),
        client: Some(proxies.client_ip(remote.ip(), headers)),
    }
}

/// What every connection of one route shares, resolved once when the route is built (not
/// per connection): the app, the hub, the app's limits and its metrics counters.
struct Endpoint<A: WsApp> {
    app: Arc<A>,
    hub: Hub,
    limits: WsLimits,
    counters: Arc<AppCounters>,
    proxies: Arc<TrustedProxies>,
}

impl<A: WsApp> Endpoint<A> {
    fn new(app: Arc<A>, core: &Core) -> Arc<Endpoint<A>> {
        let limits = app.limits(&core.ws_limits);
        let counters = metrics().app("websocket", app.name());
        Arc::new(Endpoint {
            app,
            hub: core.hub.clone(),
            limits,
            counters,
            proxies: core.proxies.clone(),
        })
    }

    fn upgrade(
        self: Arc<Self>,
        ws: WsUpgrade,
        path: HashMap<String, String>,
        query: HashMap<String, String>,
        headers: &HeaderMap,
        remote: SocketAddr,
    ) -> Response {
        let request = open_request(path, query, headers, remote, &self.proxies);
        if let Err(refusal) = self.app.screen(&request) {
            metrics().error(refusal.code);
            let body = serde_json::json!({"code": refusal.code, "message": refusal.message});
            return (refusal.status, axum::Json(body)).into_response();
        }
        let l = &self.limits;
        ws.config(WsConfig {
            max_message_size: l.hard_max_message_bytes,
            max_frame_size: l.hard_max_message_bytes,
            read_size: l.read_buffer,
            write_buffer_size: l.write_buffer,
        })
        .on_upgrade(move |socket| run(self, socket, request))
    }
}

/// The route serving app `A` (mount it at a path with the parameters the app reads).
pub fn route<A: WsApp>(app: Arc<A>, core: &Core) -> MethodRouter {
    let endpoint = Endpoint::new(app, core);
    get(
        move |ws: WsUpgrade,
              Path(path): Path<HashMap<String, String>>,
              Query(query): Query<HashMap<String, String>>,
              headers: HeaderMap,
              ConnectInfo(remote): ConnectInfo<SocketAddr>| async move {
            endpoint.upgrade(ws, path, query, &headers, remote)
        },
    )
}

/// The same, for a path without parameters.
pub fn route_fixed<A: WsApp>(app: Arc<A>, core: &Core) -> MethodRouter {
    let endpoint = Endpoint::new(app, core);
    get(
        move |ws: WsUpgrade,
              Query(query): Query<HashMap<String, String>>,
              headers: HeaderMap,
              ConnectInfo(remote): ConnectInfo<SocketAddr>| async move {
            endpoint.upgrade(ws, HashMap::new(), query, &headers, remote)
        },
    )
}

/// Writes everything queued in `outbox` to the socket, then flushes. Returns the close the
/// outbox asks for, if any, or `Err` when the socket failed. Frames are taken in batches of at
/// most `write_buffer_size` bytes, each written before the next is taken.
pub(crate) async fn write_outbox(
    socket: &mut WebSocket,
    outbox: &Outbox,
    counters: &AppCounters,
) -> Result<Option<CloseRequest>, ()> {
    if !outbox.has_frames() && !outbox.is_closing() {
        return Ok(None);
    }
    loop {
        let (more, close) = queue_batch(socket, outbox, counters)?;
        if more {
            socket.write_queued().await.map_err(|_| ())?;
        } else {
            socket.flush().await.map_err(|_| ())?;
            return Ok(close);
        }
    }
}

/// Moves one batch of frames from the outbox into the socket's output (no `await`, so the
/// batch lives on the stack, not in the connection's task).
fn queue_batch(
    socket: &mut WebSocket,
    outbox: &Outbox,
    counters: &AppCounters,
) -> Result<(bool, Option<CloseRequest>), ()> {
    let mut batch: smallvec::SmallVec<[Frame; 16]> = smallvec::SmallVec::new();
    let (more, close) = outbox.drain_batch(16, socket.write_buffer_size(), &mut batch);
    for f in batch {
        counters.sent(f.len());
        let m = match f {
            Frame::Text(t) => Message::Text(t),
            Frame::Binary(b) => Message::Binary(b),
        };
        socket.queue(m).map_err(|_| ())?;
    }
    Ok((more, close))
}

/// Sends a close frame and completes the closing handshake: reads (and discards) until the
/// client's close arrives, for at most a second. Dropping the socket right after the close
/// frame would reset a connection that still has unread input, and the client would see 1006
/// instead of the code we sent.
pub async fn close_gracefully(socket: &mut WebSocket, request: CloseRequest) {
    // Boxed: it runs once, at the end of a connection, and inline its timer and futures would
    // enlarge every connection's task for its whole life.
    Box::pin(close_gracefully_inline(socket, request)).await
}

async fn close_gracefully_inline(socket: &mut WebSocket, request: CloseRequest) {
    let frame = CloseFrame {
        code: request.code,
        reason: request.reason.as_ref().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = socket.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Token bucket plus a one-second flood counter.
struct RateLimit {
    tokens: f64,
    last: Instant,
    window_start: Instant,
    window_count: u32,
}

enum Rate {
    Allowed,
    Limited,
    Flood,
}

impl RateLimit {
    fn new(limits: &WsLimits) -> RateLimit {
        let now = Instant::now();
        RateLimit {
            tokens: limits.burst.max(1) as f64,
            last: now,
            window_start: now,
            window_count: 0,
        }
    }

    fn check(&mut self, limits: &WsLimits) -> Rate {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window_count = 0;
        }
        self.window_count += 1;
        if self.window_count
            > limits
                .messages_per_second
                .saturating_mul(limits.flood_close_factor)
        {
            return Rate::Flood;
        }
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let cap = limits.burst.max(1) as f64;
        self.tokens = (self.tokens + elapsed * limits.messages_per_second as f64).min(cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Rate::Allowed
        } else {
            Rate::Limited
        }
    }
}

/// Decodes one text message into the app's type, or says what is wrong with it.
pub fn decode<A: WsApp>(app: &A, text: &str) -> Result<A::Message, MessageError> {
    match serde_json::from_str::<A::Message>(text) {
        Ok(m) => Ok(m),
        Err(typed_error) => Err(classify(app, text, typed_error)),
    }
}

fn classify<A: WsApp>(app: &A, text: &str, typed_error: serde_json::Error) -> MessageError {
    let tag = app.envelope().tag();
    let invalid = |message: String| MessageError {
        code: "INVALID_MESSAGE",
        message,
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return invalid(format!("invalid JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return invalid(format!("expected a JSON object with `{tag}` and `data`"));
    };
    match obj.get(tag) {
        Some(Value::String(name)) if !app.knows(name) => MessageError {
            code: "UNKNOWN_EVENT",
            message: format!("unknown {tag} `{name}`"),
        },
        Some(Value::String(name)) => invalid(format!("invalid `{name}` message: {typed_error}")),
        Some(_) => invalid(format!("`{tag}` must be a string")),
        None => invalid(format!("missing `{tag}`")),
    }
}

async fn run<A: WsApp>(endpoint: Arc<Endpoint<A>>, mut socket: WebSocket, request: OpenRequest) {
    let (app, hub, limits) = (&*endpoint.app, &endpoint.hub, &endpoint.limits);
    let outbox = Arc::new(Outbox::new(limits.outbox_limit));
    let counters = endpoint.counters.clone();
    let id = hub.register(app.name(), outbox.clone());
    let conn = WsConn {
        id,
        hub: hub.clone(),
        scope: app.name(),
        outbox,
        counters,
    };
    conn.counters.opened();
    let state = match app.open(&conn, &request).await {
        Ok(s) => Some(s),
        Err(refusal) => {
            metrics().error(refusal.code);
            let _ = socket
                .send(Message::Text(
                    WsApp::error_frame(app, refusal.code, &refusal.message).into(),
                ))
                .await;
            close_gracefully(
                &mut socket,
                CloseRequest::new(refusal.close_code, refusal.code),
            )
            .await;
            None
        }
    };
    let Some(mut state) = state else {
        hub.unregister(id);
        conn.counters.closed();
        return;
    };
    let (close_sent, client_code) = serve(app, &conn, limits, &mut socket, &mut state).await;
    if let Some(c) = close_sent {
        close_gracefully(&mut socket, c).await;
    } else if client_code.is_some() {
        // The client closed: tungstenite queued the closing reply; send it, or the client
        // sees an abnormal closure (1006).
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.flush()).await;
    }
    hub.unregister(id);
    conn.counters.closed();
    app.on_close(&conn, state, client_code).await;
}

/// The connection's loop. Returns the close the server sends (if it closes) and the close
/// code the client sent (if it closed).
async fn serve<A: WsApp>(
    app: &A,
    conn: &WsConn,
    limits: &WsLimits,
    socket: &mut WebSocket,
    state: &mut A::State,
) -> (Option<CloseRequest>, Option<u16>) {
    let mut rate = RateLimit::new(limits);
    let mut last_heard = Instant::now();
    let ticker = sleep(limits.ping_interval.min(limits.idle_timeout));
    tokio::pin!(ticker);
    loop {
        match write_outbox(socket, &conn.outbox, &conn.counters).await {
            Ok(None) => {}
            Ok(Some(c)) => {
                if c.code == CloseRequest::SLOW_CONSUMER.code {
                    metrics().error("SLOW_CONSUMER");
                }
                return (Some(c), None);
            }
            Err(()) => return (None, None),
        }
        tokio::select! {
            biased;
            _ = conn.outbox.ready() => {}
            msg = socket.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        // Frames over the hard limit are refused: say so with 1009.
                        if e.is_too_large() {
                            metrics().error("MESSAGE_TOO_LARGE");
                            return (Some(CloseRequest::new(1009, "message too large")), None);
                        }
                        return (None, None);
                    }
                    None => return (None, None),
                };
                last_heard = Instant::now();
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Binary(b) => {
                        conn.counters.received(b.len());
                        conn.send_error(app, "INVALID_MESSAGE", "binary messages are not supported; send JSON text");
                        continue;
                    }
                    Message::Close(frame) => return (None, Some(frame.map(|f| f.code).unwrap_or(1005))),
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                conn.counters.received(text.len());
                match rate.check(limits) {
                    Rate::Allowed => {}
                    Rate::Limited => {
                        conn.send_error(app, "RATE_LIMITED", "too many messages; slow down");
                        continue;
                    }
                    Rate::Flood => {
                        metrics().error("FLOOD");
                        return (Some(CloseRequest::new(1008, "message flood")), None);
                    }
                }
                if text.len() > limits.max_message_bytes {
                    let message = format!("message of {} bytes exceeds the limit of {}", text.len(), limits.max_message_bytes);
                    conn.send_error(app, "MESSAGE_TOO_LARGE", &message);
                    continue;
                }
                match decode(app, text.as_str()) {
                    Ok(m) => app.on_message(conn, state, m).await,
                    Err(e) => {
                        conn.send_error(app, e.code, &e.message);
                    }
                }
            }
            _ = &mut ticker => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    metrics().error("IDLE_TIMEOUT");
                    return (Some(CloseRequest::new(1001, "idle timeout")), None);
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return (None, None);
                }
                ticker.as_mut().reset(Instant::now() + limits.ping_interval.min(limits.idle_timeout));
            }
        }
    }
}
