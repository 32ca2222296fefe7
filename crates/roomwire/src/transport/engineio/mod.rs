//! Engine.IO v4: the session layer under Socket.IO.
//!
//! A session starts with a handshake over long-polling or WebSocket, and may upgrade from
//! polling to WebSocket. Everything sent to a session goes through its [`Outbox`]; whichever
//! transport is current drains it. A WebSocket session is served by exactly one task, which
//! reads, writes and keeps the heartbeat, so an idle connection costs one task, one timer and
//! its buffers. A polling session has one small heartbeat task instead.

pub mod packet;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes as BodyBytes;
use axum::extract::ws::Message;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use rand::RngCore;
use tokio::sync::Notify;
use tokio::time::{sleep, sleep_until, Instant};

use crate::hub::{CloseRequest, Frame, Outbox};
use crate::metrics::{metrics, AppCounters};
use crate::transport::ws::{WebSocket, WsConfig, WsRejection, WsUpgrade};
use packet::Packet;

/// Engine.IO settings (from `[socketio]`, or the conformance values).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_payload: usize,
    pub outbox_limit: usize,
    pub allow_polling: bool,
    pub allow_websocket: bool,
    pub upgrade_timeout: Duration,
    pub ws_read_buffer: usize,
    pub ws_write_buffer: usize,
    /// The per-connection packet rate; `None`: no limit.
    pub packet_rate: Option<PacketRate>,
}

impl EngineConfig {
    pub fn from_config(c: &crate::config::Config) -> EngineConfig {
        EngineConfig {
            ping_interval: Duration::from_millis(c.socketio.ping_interval_ms),
            ping_timeout: Duration::from_millis(c.socketio.ping_timeout_ms),
            max_payload: c.socketio.max_payload as usize,
            outbox_limit: c.socketio.outbox_limit as usize,
            allow_polling: c.socketio.allow_polling,
            allow_websocket: c.socketio.allow_websocket,
            upgrade_timeout: Duration::from_secs(10),
            ws_read_buffer: c.websocket.read_buffer_bytes as usize,
            ws_write_buffer: c.websocket.write_buffer_bytes as usize,
            packet_rate: PacketRate::new(c.socketio.messages_per_second, c.socketio.message_burst),
        }
    }
}

/// A per-connection packet rate in the terms [`Session::admit`] works in, computed once at
/// start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRate {
    /// Nanoseconds between packets at the sustained rate (at least 1).
    interval_ns: u64,
    /// How far ahead of now a client may run: the burst beyond the first packet.
    tolerance_ns: u64,
}

impl PacketRate {
    /// `per_second` packets a second after a burst of `burst` (0 counts as 1); `None` for 0
    /// per second (no limit). `per_second` is at most 10^9 (validated with the config).
    pub fn new(per_second: u64, burst: u64) -> Option<PacketRate> {
        if per_second == 0 {
            return None;
        }
        let interval_ns = (1_000_000_000 / per_second).max(1);
        Some(PacketRate {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(burst.saturating_sub(1)),
        })
    }
}

/// Why a session ended, in the words Socket.IO clients and servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    TransportClose,
    TransportError,
    PingTimeout,
    ForcedClose,
    ServerShutdown,
    ParseError,
    SlowConsumer,
    /// The client sent more than its rate allows (`socketio.messages_per_second`).
    Flood,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::ParseError => "parse error",
            CloseReason::SlowConsumer => "transport error",
            CloseReason::Flood => "forced close",
        }
    }

    fn close_request(self) -> CloseRequest {
        match self {
            CloseReason::ServerShutdown => CloseRequest::SHUTDOWN,
            CloseReason::SlowConsumer => CloseRequest::SLOW_CONSUMER,
            CloseReason::ParseError => CloseRequest::new(1002, "parse error"),
            CloseReason::PingTimeout => CloseRequest::new(1001, "ping timeout"),
            CloseReason::Flood => CloseRequest::new(1008, "message flood"),
            _ => CloseRequest::new(1000, "closed"),
        }
    }
}

/// What the layer above (Socket.IO, or the conformance echo) gets to know about a request
/// that opened a session.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    pub query: QueryMap,
    pub authorization: Option<String>,
    pub remote: Option<SocketAddr>,
}

/// The query parameters of a request, kept for a connection's whole life in two small
/// allocations (a `HashMap` of `String`s cost about 400 bytes for two parameters).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct QueryMap {
    /// Every key and value, one after the other.
    text: Box<str>,
    /// Where each key and each value ends in `text`.
    ends: Box<[u32]>,
}

impl QueryMap {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The parameters, in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.ends.chunks_exact(2).scan(0usize, |start, e| {
            let (k_end, v_end) = (e[0] as usize, e[1] as usize);
            let pair = (&self.text[*start..k_end], &self.text[k_end..v_end]);
            *start = v_end;
            Some(pair)
        })
    }
}

/// Later values of a repeated key replace earlier ones, as in a map.
impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for QueryMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(K, V)> = Vec::new();
        for (k, v) in iter {
            match pairs.iter_mut().find(|(pk, _)| pk.as_ref() == k.as_ref()) {
                Some(p) => p.1 = v,
                None => pairs.push((k, v)),
            }
        }
        let mut text = String::new();
        let mut ends = Vec::with_capacity(pairs.len() * 2);
        for (k, v) in &pairs {
            text.push_str(k.as_ref());
            ends.push(u32::try_from(text.len()).expect("a query under 4 GiB"));
            text.push_str(v.as_ref());
            ends.push(u32::try_from(text.len()).expect("a query under 4 GiB"));
        }
        QueryMap {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for QueryMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One decoded message from the client.
pub enum Incoming<'a> {
    Text(&'a str),
    Binary(Bytes),
}

/// The layer above Engine.IO: makes one connection object per session.
pub trait EngineApp: Send + Sync + 'static {
    type Conn: EngineConn;
    fn open(&self, session: Arc<Session>, handshake: Handshake) -> Arc<Self::Conn>;
    /// Label for metrics.
    fn name(&self) -> &'static str;
}

#[async_trait]
pub trait EngineConn: Send + Sync + 'static {
    /// A message arrived. Returning an error closes the session as a parse error.
    async fn on_message(&self, message: Incoming<'_>) -> Result<(), ()>;
    /// The session ended (called once).
    async fn on_close(&self, reason: CloseReason);
}

const TRANSPORT_POLLING: u8 = 0;
const TRANSPORT_UPGRADING: u8 = 1;
const TRANSPORT_WEBSOCKET: u8 = 2;

/// One Engine.IO session.
pub struct Session {
    pub sid: Arc<str>,
    pub outbox: Arc<Outbox>,
    transport: AtomicU8,
    polling_get: AtomicBool,
    polling_post: AtomicBool,
    /// A pending polling GET should answer `noop` (the client is probing a WebSocket).
    noop_pending: AtomicBool,
    closed: AtomicBool,
    finished: AtomicBool,
    reason: Mutex<Option<CloseReason>>,
    /// Wakes the polling heartbeat task: a pong arrived, the session upgraded or closed.
    heartbeat: Notify,
    /// When the pong to an outstanding ping is due (microseconds since [`clock_base`]; 0 when
    /// no ping is outstanding). Lets a request find a dead session dead even if it arrives in
    /// the same instant as the timer that would close it.
    pong_due_us: AtomicU64,
    /// The per-connection rate's theoretical arrival time of the next packet (nanoseconds
    /// since [`clock_base`]; see [`Session::admit`]).
    rate_tat_ns: AtomicU64,
}

impl Session {
    fn new(outbox_limit: usize, transport: u8) -> Session {
        Session {
            sid: new_sid(),
            outbox: Arc::new(Outbox::new(outbox_limit)),
            transport: AtomicU8::new(transport),
            polling_get: AtomicBool::new(false),
            polling_post: AtomicBool::new(false),
            noop_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            reason: Mutex::new(None),
            heartbeat: Notify::new(),
            pong_due_us: AtomicU64::new(0),
            rate_tat_ns: AtomicU64::new(0),
        }
    }

    /// Charges one client packet to the per-connection rate: false when the client is over
    /// `socketio.message_burst` packets beyond `socketio.messages_per_second`. A generic cell rate algorithm:
    /// one timestamp per session, no timer. Each session has one reader at a time (its
    /// WebSocket task, or one polling POST), so load-then-store is safe.
    fn admit(&self, config: &EngineConfig) -> bool {
        self.admit_at(config, now_ns())
    }

    fn admit_at(&self, config: &EngineConfig, now: u64) -> bool {
        let Some(rate) = config.packet_rate else {
            return true;
        };
        let tat = self.rate_tat_ns.load(Ordering::Relaxed).max(now);
        if tat - now > rate.tolerance_ns {
            return false;
        }
        self.rate_tat_ns
            .store(tat.saturating_add(rate.interval_ns), Ordering::Relaxed);
        true
    }

    /// Closes the session: whatever is queued is still sent, then the transport closes.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut r = self.reason.lock();
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.closed.store(true, Ordering::Release);
        self.outbox.close(reason.close_request());
        self.heartbeat.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn is_websocket(&self) -> bool {
        self.transport.load(Ordering::Acquire) == TRANSPORT_WEBSOCKET
    }

    /// Queues one Engine.IO message frame (already prefixed with `4` for text).
    pub fn send(&self, frame: Frame) -> bool {
        self.send_group(std::slice::from_ref(&frame))
    }

    pub fn send_group(&self, frames: &[Frame]) -> bool {
        match self.outbox.push_group(frames) {
            crate::hub::Push::Queued => true,
            crate::hub::Push::Overflow => {
                self.close(CloseReason::SlowConsumer);
                false
            }
            crate::hub::Push::Closed => false,
        }
    }

    fn expect_pong_by(&self, due: Instant) {
        let us = due.saturating_duration_since(clock_base()).as_micros() as u64;
        self.pong_due_us.store(us.max(1), Ordering::Release);
    }

    fn pong_overdue(&self) -> bool {
        let due = self.pong_due_us.load(Ordering::Acquire);
        due != 0 && now_us() >= due
    }

    fn reason(&self) -> CloseReason {
        self.reason.lock().unwrap_or(CloseReason::TransportClose)
    }
}

/// Microseconds since [`clock_base`].
fn now_us() -> u64 {
    now_ns() / 1_000
}

/// Nanoseconds since [`clock_base`].
fn now_ns() -> u64 {
    Instant::now()
        .saturating_duration_since(clock_base())
        .as_nanos() as u64
}

fn clock_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// 20 characters of URL-safe base64 from 15 random bytes, like the reference server's ids.
pub fn new_sid() -> Arc<str> {
    use base64::Engine as _;
    let mut bytes = [0u8; 15];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

/// How a WebSocket task begins.
enum WsStart<C> {
    /// A new session over WebSocket (the handshake is boxed: it is needed only to open).
    New(Box<Handshake>),
    /// The upgrade of a polling session.
    Upgrade(Arc<Entry<C>>),
}

struct Entry<C> {
    session: Arc<Session>,
    conn: Arc<C>,
}

pub struct EngineServer<A: EngineApp> {
    app: A,
    config: EngineConfig,
    sessions: DashMap<Arc<str>, Arc<Entry<A::Conn>>>,
    counters: Arc<AppCounters>,
}

impl<A: EngineApp> EngineServer<A> {
    pub fn new(app: A, config: EngineConfig) -> Arc<EngineServer<A>> {
        let counters = metrics().app("engineio", app.name());
        Arc::new(EngineServer {
            app,
            config,
            sessions: DashMap::new(),
            counters,
        })
    }

    pub fn app(&self) -> &A {
        &self.app
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The routes of this server at `path` (e.g. `/socket.io/`, with and without the slash).
    pub fn router(self: &Arc<Self>, path: &str) -> Router {
        let trimmed = path.trim_end_matches('/');
        Router::new()
            .route(&format!("{trimmed}/"), any(handle::<A>))
            .route(trimmed, any(handle::<A>))
            // The body limit is ours to enforce (413 and a closed session), not axum's 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(
                self.config.max_payload.saturating_add(1),
            ))
            .with_state(self.clone())
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Closes every session (server shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        for e in self.sessions.iter() {
            e.session.close(reason);
        }
    }

    fn handshake_body(&self, sid: &str, upgrades: bool) -> String {
        format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":{},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            if upgrades { "[\"websocket\"]" } else { "[]" },
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_payload
        )
    }

    fn open(&self, transport: u8, handshake: Handshake) -> Arc<Entry<A::Conn>> {
        let session = Arc::new(Session::new(self.config.outbox_limit, transport));
        let conn = self.app.open(session.clone(), handshake);
        let entry = Arc::new(Entry { session, conn });
        self.sessions
            .insert(entry.session.sid.clone(), entry.clone());
        self.counters.opened();
        entry
    }

    /// Ends a session exactly once: forget it, then tell the layer above.
    async fn finish(&self, entry: &Entry<A::Conn>) {
        if entry.session.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        entry.session.close(CloseReason::TransportClose);
        self.sessions.remove(&entry.session.sid);
        self.counters.closed();
        entry.conn.on_close(entry.session.reason()).await;
    }

    /// Handles one decoded packet from either transport. Returns false when the session must
    /// end (the reason is recorded on the session).
    async fn on_packet(&self, entry: &Entry<A::Conn>, packet: Packet<'_>) -> bool {
        let session = &entry.session;
        // Every packet but a pong counts: a pong only ever answers the server's own ping.
        if !matches!(packet, Packet::Pong(_)) && !session.admit(&self.config) {
            crate::metrics::metrics().error("MESSAGE_FLOOD");
            session.close(CloseReason::Flood);
            return false;
        }
        let result = match packet {
            Packet::Message(text) => entry.conn.on_message(Incoming::Text(text)).await,
            Packet::BinaryMessage(bytes) => entry.conn.on_message(Incoming::Binary(bytes)).await,
            Packet::Pong(_) => {
                session.pong_due_us.store(0, Ordering::Release);
                session.heartbeat.notify_one();
                Ok(())
            }
            Packet::Ping(data) => {
                session.send(Frame::text(format!("3{data}")));
                Ok(())
            }
            Packet::Close => {
                // The reference server ends a pending poll with a noop, not a close packet,
                // when the client itself asked to close.
                session.noop_pending.store(true, Ordering::Release);
                session.close(CloseReason::TransportClose);
                return false;
            }
            Packet::Noop => Ok(()),
            Packet::Open(_) | Packet::Upgrade => Err(()),
        };
        if result.is_err() {
            session.close(CloseReason::ParseError);
            return false;
        }
        true
    }

    /// The heartbeat of a polling session; hands over to the WebSocket task on upgrade.
    /// `opened` is when the handshake was made: the first ping is due `ping_interval` after it,
    /// not after this task first runs, and the timeout counts from when the ping was due, so
    /// scheduling delays never stretch the client's deadline beyond what the handshake said.
    async fn polling_heartbeat(self: Arc<Self>, entry: Arc<Entry<A::Conn>>, opened: Instant) {
        let session = &entry.session;
        let mut deadline = opened + self.config.ping_interval;
        'outer: loop {
            loop {
                tokio::select! {
                    _ = sleep_until(deadline) => break,
                    _ = session.heartbeat.notified() => {
                        if session.is_closed() { break 'outer; }
                        if session.is_websocket() { return; }
                    }
                }
            }
            if session.is_websocket() {
                return;
            }
            let pong_due = deadline + self.config.ping_timeout;
            session.expect_pong_by(pong_due);
            session.send(Frame::text("2"));
            tokio::select! {
                _ = sleep_until(pong_due) => {
                    if session.is_websocket() { return; }
                    session.close(CloseReason::PingTimeout);
                    break 'outer;
                }
                _ = session.heartbeat.notified() => {
                    if session.is_closed() { break 'outer; }
                    if session.is_websocket() { return; }
                }
            }
            deadline = Instant::now() + self.config.ping_interval;
        }
        // A pending GET holds its own reference and still answers; the sid is forgotten now,
        // so the next request with it gets 400 exactly when the heartbeat says it is dead.
        self.finish(&entry).await;
    }

    async fn polling_get(self: Arc<Self>, entry: Arc<Entry<A::Conn>>) -> Response {
        let session = &entry.session;
        if session.polling_get.swap(true, Ordering::AcqRel) {
            // A second concurrent GET is a protocol violation: end the session; the first GET
            // answers with a close packet.
            session.close(CloseReason::TransportError);
            self.finish(&entry).await;
            return bad_request("overlapping polling GET");
        }
        let mut frames = Vec::new();
        let body = loop {
            if session.noop_pending.swap(false, Ordering::AcqRel) {
                break "6".to_string();
            }
            let close = session
                .outbox
                .drain_up_to(&mut frames, self.config.max_payload);
            if !frames.is_empty() {
                let mut body = String::new();
                for f in &frames {
                    packet::encode_polling(&mut body, f);
                    self.counters.sent(f.len());
                }
                break body;
            }
            if close.is_some() || session.is_closed() {
                session.heartbeat.notify_one();
                break "1".to_string();
            }
            if session.transport.load(Ordering::Acquire) != TRANSPORT_POLLING {
                break "6".to_string();
            }
            session.outbox.ready().await;
        };
        session.polling_get.store(false, Ordering::Release);
        text_response(StatusCode::OK, body)
    }

    async fn polling_post(
        self: Arc<Self>,
        entry: Arc<Entry<A::Conn>>,
        body: BodyBytes,
    ) -> Response {
        let session = &entry.session;
        if session.polling_post.swap(true, Ordering::AcqRel) {
            session.close(CloseReason::TransportError);
            return bad_request("overlapping polling POST");
        }
        let response = self.clone().polling_post_body(&entry, body).await;
        session.polling_post.store(false, Ordering::Release);
        response
    }

    async fn polling_post_body(
        self: Arc<Self>,
        entry: &Arc<Entry<A::Conn>>,
        body: BodyBytes,
    ) -> Response {
        let session = &entry.session;
        if body.len() > self.config.max_payload {
            session.close(CloseReason::TransportError);
            return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response();
        }
        let Ok(text) = std::str::from_utf8(&body) else {
            session.close(CloseReason::ParseError);
            return bad_request("payload is not UTF-8");
        };
        let Ok(packets) = packet::decode_payload(text) else {
            session.close(CloseReason::ParseError);
            self.finish(entry).await;
            return bad_request("bad packet");
        };
        self.counters.received(body.len());
        for p in packets {
            if !self.on_packet(entry, p).await {
                break;
            }
        }
        if session.is_closed() {
            // Forget the sid a moment later: a GET sent together with this POST may reach us
            // after it and must still get its noop. Requests in between see a closed session.
            let (server, entry) = (self.clone(), entry.clone());
            tokio::spawn(async move {
                sleep(Duration::from_millis(100)).await;
                server.finish(&entry).await;
            });
        }
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], "ok").into_response()
    }

    fn ws_upgrade(
        self: Arc<Self>,
        ws: WsUpgrade,
        sid: Option<String>,
        handshake: Handshake,
    ) -> Response {
        let ws = ws.config(WsConfig {
            max_message_size: self.config.max_payload,
            max_frame_size: self.config.max_payload,
            read_size: self.config.ws_read_buffer,
            write_buffer_size: self.config.ws_write_buffer,
        });
        match sid {
            None => {
                let start = WsStart::New(Box::new(handshake));
                ws.on_upgrade(move |socket| self.run_websocket(start, socket))
            }
            Some(sid) => {
                let Some(entry) = self.sessions.get(sid.as_str()).map(|e| e.clone()) else {
                    return bad_request("unknown sid");
                };
                ws.on_upgrade(move |socket| self.run_websocket(WsStart::Upgrade(entry), socket))
            }
        }
    }

    /// The opening of a WebSocket task: the Engine.IO handshake of a new session, or the
    /// probe of an upgrade. Returns the session to serve, or `None` when it is over already.
    async fn start_websocket(
        &self,
        start: WsStart<A::Conn>,
        socket: &mut WebSocket,
    ) -> Option<Arc<Entry<A::Conn>>> {
        match start {
            WsStart::New(handshake) => {
                let entry = self.open(TRANSPORT_WEBSOCKET, *handshake);
                let open = self.handshake_body(&entry.session.sid, false);
                if socket.send(Message::Text(open.into())).await.is_err() {
                    entry.session.close(CloseReason::TransportError);
                    self.finish(&entry).await;
                    return None;
                }
                Some(entry)
            }
            WsStart::Upgrade(entry) => self.upgrade(&entry, socket).await.then_some(entry),
        }
    }

    /// Upgrade of a polling session: answer the probe, wait for `5`, then take over. Returns
    /// whether the session now runs on this WebSocket.
    async fn upgrade(&self, entry: &Entry<A::Conn>, socket: &mut WebSocket) -> bool {
        let session = &entry.session;
        if session
            .transport
            .compare_exchange(
                TRANSPORT_POLLING,
                TRANSPORT_UPGRADING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Already upgraded (or upgrading): this second WebSocket is refused, the first
            // keeps working.
            let _ = socket.send(Message::Close(None)).await;
            return false;
        }
        let deadline = Instant::now() + self.config.upgrade_timeout;
        let upgraded = loop {
            let next = tokio::select! {
                m = socket.next() => m,
                _ = sleep_until(deadline) => None,
            };
            let Some(Ok(msg)) = next else { break false };
            match msg {
                Message::Text(t) => match Packet::decode_text(t.as_str()) {
                    Ok(Packet::Ping("probe")) => {
                        if socket.send(Message::Text("3probe".into())).await.is_err() {
                            break false;
                        }
                        session.noop_pending.store(true, Ordering::Release);
                        session.outbox.wake();
                    }
                    Ok(Packet::Upgrade) => break true,
                    _ => break false,
                },
                Message::Ping(_) | Message::Pong(_) => {}
                _ => break false,
            }
        };
        if !upgraded || session.is_closed() {
            session
                .transport
                .store(TRANSPORT_POLLING, Ordering::Release);
            let _ = socket.send(Message::Close(None)).await;
            return false;
        }
        session
            .transport
            .store(TRANSPORT_WEBSOCKET, Ordering::Release);
        session.heartbeat.notify_one();
        // A GET still pending learns that polling is over.
        session.outbox.wake();
        true
    }

    /// The one task of a WebSocket session: reads, writes, heartbeats.
    async fn run_websocket(self: Arc<Self>, start: WsStart<A::Conn>, mut socket: WebSocket) {
        // Boxed: the opening's futures are short-lived; inline, their size would stay in the
        // task of every connection for its whole life.
        let Some(entry) = Box::pin(self.start_websocket(start, &mut socket)).await else {
            return;
        };
        let session = entry.session.clone();
        let mut awaiting_pong = false;
        let heartbeat = sleep(self.config.ping_interval);
        tokio::pin!(heartbeat);
        let close: Option<CloseRequest> = 'run: loop {
            // Write whatever is queued first, so a close request goes out after its frames.
            match crate::transport::rawws::write_outbox(
                &mut socket,
                &session.outbox,
                &self.counters,
            )
            .await
            {
                Ok(None) => {}
                Ok(Some(c)) => break 'run Some(c),
                Err(()) => {
                    session.close(CloseReason::TransportError);
                    break 'run None;
                }
            }
            tokio::select! {
                biased;
                _ = session.outbox.ready() => {}
                msg = socket.next() => {
                    let Some(Ok(msg)) = msg else {
                        session.close(CloseReason::TransportClose);
                        break 'run None;
                    };
                    let ok = match msg {
                        Message::Text(t) => {
                            self.counters.received(t.len());
                            match Packet::decode_text(t.as_str()) {
                                Ok(Packet::Pong(_)) => {
                                    if awaiting_pong {
                                        awaiting_pong = false;
                                        heartbeat.as_mut().reset(Instant::now() + self.config.ping_interval);
                                    }
                                    true
                                }
                                Ok(Packet::BinaryMessage(_)) | Err(_) => {
                                    session.close(CloseReason::ParseError);
                                    false
                                }
                                Ok(p) => self.on_packet(&entry, p).await,
                            }
                        }
                        Message::Binary(b) => {
                            self.counters.received(b.len());
                            self.on_packet(&entry, Packet::BinaryMessage(b)).await
                        }
                        Message::Close(_) => {
                            session.close(CloseReason::TransportClose);
                            false
                        }
                        Message::Ping(_) | Message::Pong(_) => true,
                    };
                    if !ok {
                        // Flush what the handlers queued (e.g. a final packet), then close.
                        continue 'run;
                    }
                }
                _ = &mut heartbeat => {
                    if awaiting_pong {
                        session.close(CloseReason::PingTimeout);
                        continue 'run;
                    }
                    awaiting_pong = true;
                    session.send(Frame::text("2"));
                    let pong_due = heartbeat.deadline() + self.config.ping_timeout;
                    heartbeat.as_mut().reset(pong_due);
                }
            }
        };
        if let Some(c) = close {
            crate::transport::rawws::close_gracefully(&mut socket, c).await;
        }
        self.finish(&entry).await;
    }
}

fn bad_request(message: &'static str) -> Response {
    let body = format!("{{\"code\":3,\"message\":\"{message}\"}}");
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn text_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// Engine.IO error codes, as the reference server answers them.
fn protocol_error(code: u8, message: &'static str) -> Response {
    let body = format!("{{\"code\":{code},\"message\":\"{message}\"}}");
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn handle<A: EngineApp>(
    State(server): State<Arc<EngineServer<A>>>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: Result<WsUpgrade, WsRejection>,
    body: BodyBytes,
) -> Response {
    if query.get("EIO").map(String::as_str) != Some("4") {
        return protocol_error(5, "Unsupported protocol version");
    }
    let transport = query.get("transport").map(String::as_str);
    let sid = query.get("sid").cloned();
    let handshake = || Handshake {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        remote: Some(remote),
        query: query.iter().collect(),
    };
    match (transport, &method) {
        (Some("websocket"), &Method::GET) => {
            if !server.config.allow_websocket {
                return protocol_error(0, "Transport unknown");
            }
            match ws {
                Ok(ws) => server.clone().ws_upgrade(ws, sid, handshake()),
                Err(_) => protocol_error(3, "Bad request"),
            }
        }
        (Some("polling"), m)
            if server.config.allow_polling && (m == Method::GET || m == Method::POST) =>
        {
            match sid {
                None if m == Method::GET => {
                    let opened = Instant::now();
                    let entry = server.open(TRANSPORT_POLLING, handshake());
                    let body =
                        server.handshake_body(&entry.session.sid, server.config.allow_websocket);
                    tokio::spawn(server.clone().polling_heartbeat(entry, opened));
                    text_response(StatusCode::OK, body)
                }
                None => protocol_error(1, "Session ID unknown"),
                Some(sid) => {
                    let Some(entry) = server.sessions.get(sid.as_str()).map(|e| e.clone()) else {
                        return protocol_error(1, "Session ID unknown");
                    };
                    if entry.session.transport.load(Ordering::Acquire) == TRANSPORT_WEBSOCKET {
                        return protocol_error(3, "Bad request");
                    }
                    if entry.session.is_closed() {
                        // Closed but not yet forgotten: a GET that raced the client's close
                        // gets the noop it was owed; anything else is too late.
                        let owed = m == Method::GET
                            && entry.session.noop_pending.swap(false, Ordering::AcqRel);
                        server.finish(&entry).await;
                        return if owed {
                            text_response(StatusCode::OK, "6".into())
                        } else {
                            protocol_error(1, "Session ID unknown")
                        };
                    }
                    if entry.session.pong_overdue() {
                        entry.session.close(CloseReason::PingTimeout);
                        server.finish(&entry).await;
                        return protocol_error(1, "Session ID unknown");
                    }
                    if m == Method::GET
                        && entry.session.transport.load(Ordering::Acquire) == TRANSPORT_UPGRADING
                    {
                        // The WebSocket may be about to send `5`: give it a moment, so a GET
                        // that raced the upgrade gets 400 rather than a stale noop.
                        for _ in 0..20 {
                            sleep(Duration::from_millis(5)).await;
                            if entry.session.transport.load(Ordering::Acquire)
                                != TRANSPORT_UPGRADING
                            {
                                break;
                            }
                        }
                        if entry.session.is_websocket() {
                            return protocol_error(3, "Bad request");
                        }
                    }
                    if m == Method::GET {
                        server.clone().polling_get(entry).await
                    } else {
                        server.clone().polling_post(entry, body).await
                    }
                }
            }
        }
        _ => protocol_error(0, "Transport unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::{EngineConfig, PacketRate, QueryMap, Session, TRANSPORT_WEBSOCKET};

    fn rate_limited(messages_per_second: u64, message_burst: u64) -> EngineConfig {
        EngineConfig {
            packet_rate: PacketRate::new(messages_per_second, message_burst),
            ..EngineConfig::from_config(&crate::config::Config::default())
        }
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn the_rate_admits_a_burst_then_one_packet_per_interval() {
        let config = rate_limited(100, 3);
        let session = Session::new(16, TRANSPORT_WEBSOCKET);
        let t0 = 1_000 * MS;
        assert!((0..3).all(|_| session.admit_at(&config, t0)), "the burst");
        assert!(!session.admit_at(&config, t0), "over the burst");
        assert!(!session.admit_at(&config, t0 + 9 * MS), "not yet 10 ms on");
        assert!(
            session.admit_at(&config, t0 + 10 * MS),
            "one interval refills one"
        );
        assert!(!session.admit_at(&config, t0 + 10 * MS));
        // A refused packet costs nothing: after a quiet second the whole burst is back.
        let later = t0 + 1_000 * MS;
        assert!((0..3).all(|_| session.admit_at(&config, later)));
        assert!(!session.admit_at(&config, later));
    }

    #[test]
    fn the_rate_is_off_at_zero_a_burst_of_zero_is_one_and_huge_values_saturate() {
        let session = Session::new(16, TRANSPORT_WEBSOCKET);
        assert!((0..10_000).all(|_| session.admit_at(&rate_limited(0, 0), MS)));
        let session = Session::new(16, TRANSPORT_WEBSOCKET);
        let one = rate_limited(10, 0);
        assert!(session.admit_at(&one, MS));
        assert!(!session.admit_at(&one, MS));
        let session = Session::new(16, TRANSPORT_WEBSOCKET);
        let huge = rate_limited(1_000_000_000, u64::MAX);
        assert!((0..10_000).all(|_| session.admit_at(&huge, MS)));
    }

    #[test]
    fn query_map_gets_iterates_and_keeps_the_last_of_a_repeated_key() {
        let q: QueryMap = [
            ("EIO", "4"),
            ("transport", "websocket"),
            ("token", "a"),
            ("", ""),
            ("token", "b"),
        ]
        .into_iter()
        .collect();
        assert_eq!(q.get("EIO"), Some("4"));
        assert_eq!(q.get("transport"), Some("websocket"));
        assert_eq!(q.get("token"), Some("b"));
        assert_eq!(q.get(""), Some(""));
        assert_eq!(q.get("sid"), None);
        assert_eq!(q.len(), 4);
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            vec![
                ("EIO", "4"),
                ("transport", "websocket"),
                ("token", "b"),
                ("", "")
            ]
        );
        assert_eq!(
            format!("{q:?}"),
            r#"{"EIO": "4", "transport": "websocket", "token": "b", "": ""}"#
        );
        let empty = QueryMap::default();
        assert!(empty.is_empty() && empty.get("x").is_none());
    }
}
