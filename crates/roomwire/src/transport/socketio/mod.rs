//! Socket.IO v5 on top of Engine.IO: namespaces, sockets, rooms, acknowledgements, binary
//! attachments.
//!
//! An Engine.IO session carries one [`Connection`], which holds one [`Socket`] per namespace
//! the client connected to. Apps implement [`NamespaceHandler`]; they emit to their own socket
//! directly and reach anyone else through [`Broadcast`], which goes through the hub.

pub mod packet;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use regex::Regex;
use serde_json::Value;
use smallvec::SmallVec;
use tokio::sync::oneshot;

use crate::auth::Identity;
use crate::hub::{Delivery, Frame, Frames, Hub, MemberId, RoomKey, Target};
use crate::metrics::{metrics, AppCounters};
use crate::transport::engineio::{
    new_sid, CloseReason, EngineApp, EngineConn, Handshake, Incoming, Session,
};
use packet::{ClientPacket, Kind};

/// Socket.IO settings beyond Engine.IO's.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    pub connect_timeout: Duration,
    pub ack_timeout: Duration,
    pub max_attachments: usize,
}

impl SocketIoConfig {
    pub fn from_config(c: &crate::config::Config) -> SocketIoConfig {
        SocketIoConfig {
            connect_timeout: Duration::from_millis(c.socketio.connect_timeout_ms),
            ack_timeout: Duration::from_millis(c.socketio.ack_timeout_ms),
            max_attachments: c.socketio.max_attachments as usize,
        }
    }
}

/// Arguments of an event or ack: JSON values in which binary parts are placeholders
/// (`{"_placeholder":true,"num":N}`) pointing into `attachments`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub args: Vec<Value>,
    pub attachments: Vec<Bytes>,
}

impl Payload {
    pub fn json(args: Vec<Value>) -> Payload {
        Payload {
            args,
            attachments: Vec::new(),
        }
    }

    /// The binary attachment a value stands for, if it is a placeholder.
    pub fn binary(&self, v: &Value) -> Option<&Bytes> {
        packet::placeholder_num(v).and_then(|n| self.attachments.get(n))
    }
}

/// An event from a client.
#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub payload: Payload,
    /// Set when the client waits for an acknowledgement; answer with [`Socket::ack`].
    pub ack: Option<u64>,
}

/// The CONNECT of a client to a namespace, for the namespace's connect hook.
pub struct ConnectRequest<'a> {
    pub nsp: &'a str,
    /// The CONNECT payload (`auth` option of the client), when it sent one.
    pub auth: Option<&'a Value>,
    pub handshake: &'a Handshake,
}

impl ConnectRequest<'_> {
    /// The token wherever the client put it (auth payload, query, `Authorization` header).
    pub fn token(&self) -> Option<&str> {
        crate::auth::find_token(
            self.auth,
            self.handshake.query.get("token"),
            self.handshake.authorization.as_deref(),
        )
    }

    /// Verifies the client's token; the refusal's message says why (`missing token`,
    /// `invalid token`, `token expired`: each names the token, as frontends check for).
    pub fn verify_token(
        &self,
        auth: &crate::auth::Authenticator,
    ) -> Result<Identity, ConnectError> {
        let token = self
            .token()
            .ok_or_else(|| ConnectError::new(crate::auth::AuthError::Missing.to_string()))?;
        auth.verify(token)
            .map_err(|e| ConnectError::new(e.to_string()))
    }
}

/// A refusal from a connect hook: the client gets `connect_error` with this message.
#[derive(Debug, Clone)]
pub struct ConnectError {
    pub message: String,
    pub data: Option<Value>,
}

impl ConnectError {
    pub fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }
}

/// What an app does with a namespace.
#[async_trait]
pub trait NamespaceHandler: Send + Sync + 'static {
    /// Decides whether a client may connect; the identity returned is attached to the socket.
    async fn authorize(
        &self,
        _request: &ConnectRequest<'_>,
    ) -> Result<Option<Identity>, ConnectError> {
        Ok(None)
    }
    async fn on_connect(&self, _socket: &Arc<Socket>) {}
    async fn on_event(&self, _socket: &Arc<Socket>, _event: Event) {}
    async fn on_disconnect(&self, _socket: &Arc<Socket>, _reason: &str) {}
}

/// A namespace as served: its name, the app that owns it, its handler.
pub struct Namespace {
    pub name: Arc<str>,
    pub app: &'static str,
    scope: String,
    handler: Arc<dyn NamespaceHandler>,
    counters: Arc<AppCounters>,
    hub: Hub,
}

impl Namespace {
    fn new(
        name: &str,
        app: &'static str,
        handler: Arc<dyn NamespaceHandler>,
        hub: Hub,
    ) -> Namespace {
        Namespace {
            name: name.into(),
            app,
            scope: format!("sio{name}"),
            handler,
            counters: metrics().app("socketio", app),
            hub,
        }
    }

    pub fn room(&self, room: &str) -> RoomKey {
        RoomKey::new(&self.scope, room)
    }

    /// A broadcast to every socket of the namespace (narrow it with `to`).
    pub fn broadcast(&self) -> Broadcast {
        Broadcast {
            hub: self.hub.clone(),
            nsp: self.name.clone(),
            scope: self.scope.clone(),
            rooms: SmallVec::new(),
            except_rooms: SmallVec::new(),
            except_member: None,
        }
    }

    pub fn to(&self, room: &str) -> Broadcast {
        self.broadcast().to(room)
    }

    /// Sockets of this namespace in a room, on this node.
    pub fn room_size(&self, room: &str) -> usize {
        self.hub.room_size(&self.room(room))
    }
}

struct Pattern {
    regex: Regex,
    app: &'static str,
    handler: Arc<dyn NamespaceHandler>,
}

/// The Socket.IO server: the namespaces and the hub they share.
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    config: SocketIoConfig,
    fixed: HashMap<String, Arc<Namespace>>,
    patterns: Vec<Pattern>,
    dynamic: DashMap<String, Arc<Namespace>>,
    transport_counters: Arc<AppCounters>,
    /// Connections that have not yet joined a namespace, with their deadline. One sweeper
    /// task per server enforces connectTimeout, instead of a timer per connection.
    unconnected: DashMap<Arc<str>, (tokio::time::Instant, Weak<Connection>)>,
    sweeper: OnceLock<()>,
}

pub struct SocketIoBuilder {
    hub: Hub,
    config: SocketIoConfig,
    fixed: HashMap<String, Arc<Namespace>>,
    patterns: Vec<Pattern>,
}

impl SocketIoBuilder {
    /// Serves `name` (e.g. `/interview`) with `handler`, counted under `app` in metrics.
    pub fn namespace(
        mut self,
        name: &str,
        app: &'static str,
        handler: Arc<dyn NamespaceHandler>,
    ) -> Self {
        let ns = Namespace::new(name, app, handler, self.hub.clone());
        self.fixed.insert(name.to_owned(), Arc::new(ns));
        self
    }

    /// Serves every namespace whose name matches `pattern` (anchored by the caller).
    pub fn pattern(
        mut self,
        pattern: Regex,
        app: &'static str,
        handler: Arc<dyn NamespaceHandler>,
    ) -> Self {
        self.patterns.push(Pattern {
            regex: pattern,
            app,
            handler,
        });
        self
    }

    pub fn build(self) -> SocketIo {
        SocketIo {
            inner: Arc::new(Inner {
                hub: self.hub,
                config: self.config,
                fixed: self.fixed,
                patterns: self.patterns,
                dynamic: DashMap::new(),
                transport_counters: metrics().app("socketio", "transport"),
                unconnected: DashMap::new(),
                sweeper: OnceLock::new(),
            }),
        }
    }
}

impl SocketIo {
    pub fn builder(hub: Hub, config: SocketIoConfig) -> SocketIoBuilder {
        SocketIoBuilder {
            hub,
            config,
            fixed: HashMap::new(),
            patterns: Vec::new(),
        }
    }

    /// The namespace of that name, if it is served (dynamic ones once created).
    pub fn of(&self, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = self.inner.fixed.get(name) {
            return Some(ns.clone());
        }
        if let Some(ns) = self.inner.dynamic.get(name) {
            return Some(ns.clone());
        }
        let p = self
            .inner
            .patterns
            .iter()
            .find(|p| p.regex.is_match(name))?;
        let ns = Arc::new(Namespace::new(
            name,
            p.app,
            p.handler.clone(),
            self.inner.hub.clone(),
        ));
        Some(
            self.inner
                .dynamic
                .entry(name.to_owned())
                .or_insert(ns)
                .clone(),
        )
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }
}

impl EngineApp for SocketIo {
    type Conn = Connection;

    fn open(&self, session: Arc<Session>, handshake: Handshake) -> Arc<Connection> {
        let conn = Arc::new_cyclic(|me| Connection {
            me: me.clone(),
            io: self.clone(),
            session,
            handshake: Arc::new(handshake),
            sockets: Mutex::new(SmallVec::new()),
            partial: Mutex::new(None),
        });
        self.inner.transport_counters.opened();
        let deadline = tokio::time::Instant::now() + self.inner.config.connect_timeout;
        self.inner
            .unconnected
            .insert(conn.session.sid.clone(), (deadline, Arc::downgrade(&conn)));
        self.inner.sweeper.get_or_init(|| {
            tokio::spawn(sweep_unconnected(Arc::downgrade(&self.inner)));
        });
        conn
    }

    fn name(&self) -> &'static str {
        "socketio"
    }
}

/// Closes connections that did not join a namespace within connectTimeout.
async fn sweep_unconnected(inner: Weak<Inner>) {
    let period = match inner.upgrade() {
        Some(i) => {
            (i.config.connect_timeout / 8).clamp(Duration::from_millis(20), Duration::from_secs(1))
        }
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        let now = tokio::time::Instant::now();
        inner.unconnected.retain(|_, (deadline, conn)| {
            if *deadline > now {
                return true;
            }
            if let Some(conn) = conn.upgrade() {
                if conn.sockets.lock().is_empty() {
                    conn.session.close(CloseReason::ForcedClose);
                }
            }
            false
        });
    }
}

/// A BINARY_EVENT or BINARY_ACK whose attachments are still arriving.
struct Partial {
    text: String,
    expected: usize,
    attachments: Vec<Bytes>,
}

/// The Socket.IO side of one Engine.IO session.
pub struct Connection {
    me: Weak<Connection>,
    io: SocketIo,
    session: Arc<Session>,
    handshake: Arc<Handshake>,
    sockets: Mutex<SmallVec<[Arc<Socket>; 1]>>,
    partial: Mutex<Option<Box<Partial>>>,
}

impl Connection {
    fn socket(&self, nsp: &str) -> Option<Arc<Socket>> {
        self.sockets
            .lock()
            .iter()
            .find(|s| &*s.nsp.name == nsp)
            .cloned()
    }

    fn remove(&self, socket: &Socket) -> bool {
        let mut sockets = self.sockets.lock();
        let before = sockets.len();
        sockets.retain(|s| !std::ptr::eq(&**s, socket));
        before != sockets.len()
    }

    async fn dispatch(self: &Arc<Self>, text: &str, attachments: Vec<Bytes>) -> Result<(), ()> {
        let raw = packet::parse_header(text).map_err(|_| ())?;
        let packet = raw.decode().map_err(|_| ())?;
        match packet {
            ClientPacket::Connect { nsp, auth } => {
                self.connect(&nsp, auth).await;
                Ok(())
            }
            ClientPacket::Disconnect { nsp } => {
                if let Some(socket) = self.socket(&nsp) {
                    socket.close("client namespace disconnect", false).await;
                }
                Ok(())
            }
            ClientPacket::Event {
                nsp,
                name,
                args,
                ack,
            } => {
                // Packets for a namespace the client is not connected to are ignored, as the
                // reference server does.
                let Some(socket) = self.socket(&nsp) else {
                    return Ok(());
                };
                socket.nsp.counters.received(text.len());
                let event = Event {
                    name,
                    payload: Payload { args, attachments },
                    ack,
                };
                socket.nsp.handler.clone().on_event(&socket, event).await;
                Ok(())
            }
            ClientPacket::Ack { nsp, id, args } => {
                if let Some(socket) = self.socket(&nsp) {
                    socket.resolve_ack(id, Payload { args, attachments });
                }
                Ok(())
            }
        }
    }

    async fn connect(self: &Arc<Self>, nsp: &str, auth: Option<Value>) {
        let Some(ns) = self.io.of(nsp) else {
            self.session.send(Frame::text(packet::encode_connect_error(
                nsp,
                "Invalid namespace",
                None,
            )));
            return;
        };
        if self.socket(nsp).is_some() {
            return;
        }
        let request = ConnectRequest {
            nsp,
            auth: auth.as_ref(),
            handshake: &self.handshake,
        };
        let identity = match ns.handler.authorize(&request).await {
            Ok(identity) => identity,
            Err(e) => {
                metrics().error("CONNECT_ERROR");
                self.session.send(Frame::text(packet::encode_connect_error(
                    nsp,
                    &e.message,
                    e.data.as_ref(),
                )));
                return;
            }
        };
        if self.session.is_closed() {
            return;
        }
        let sid = new_sid();
        let member = ns.hub.register(&ns.scope, self.session.outbox.clone());
        ns.hub.join(member, ns.room(&sid));
        let socket = Arc::new(Socket {
            id: sid,
            nsp: ns.clone(),
            member,
            session: self.session.clone(),
            conn: Arc::downgrade(self),
            identity: identity.map(Box::new),
            auth: auth.map(Box::new),
            handshake: self.handshake.clone(),
            acks: Mutex::new(None),
            connected: AtomicBool::new(true),
            data: OnceLock::new(),
        });
        self.sockets.lock().push(socket.clone());
        self.io.inner.unconnected.remove(&self.session.sid);
        ns.counters.opened();
        self.session
            .send(Frame::text(packet::encode_connect(nsp, &socket.id)));
        ns.handler.clone().on_connect(&socket).await;
    }
}

#[async_trait]
impl EngineConn for Connection {
    async fn on_message(&self, message: Incoming<'_>) -> Result<(), ()> {
        let this = self.self_arc().ok_or(())?;
        match message {
            Incoming::Text(text) => {
                if self.partial.lock().is_some() {
                    // A new packet while attachments are still due: the stream is corrupt.
                    return Err(());
                }
                let raw = packet::parse_header(text).map_err(|_| ())?;
                if matches!(raw.kind, Kind::BinaryEvent | Kind::BinaryAck) && raw.attachments > 0 {
                    if raw.attachments > self.io.inner.config.max_attachments {
                        return Err(());
                    }
                    *self.partial.lock() = Some(Box::new(Partial {
                        text: text.to_owned(),
                        expected: raw.attachments,
                        attachments: Vec::with_capacity(raw.attachments),
                    }));
                    return Ok(());
                }
                this.dispatch(text, Vec::new()).await
            }
            Incoming::Binary(bytes) => {
                let complete = {
                    let mut slot = self.partial.lock();
                    let Some(p) = slot.as_mut() else {
                        return Err(());
                    };
                    p.attachments.push(bytes);
                    if p.attachments.len() == p.expected {
                        slot.take()
                    } else {
                        None
                    }
                };
                match complete {
                    Some(p) => this.dispatch(&p.text, p.attachments).await,
                    None => Ok(()),
                }
            }
        }
    }

    async fn on_close(&self, reason: CloseReason) {
        self.io.inner.transport_counters.closed();
        self.io.inner.unconnected.remove(&self.session.sid);
        let sockets: SmallVec<[Arc<Socket>; 1]> = std::mem::take(&mut *self.sockets.lock());
        for socket in sockets {
            socket.finish(reason.as_str()).await;
        }
    }
}

impl Connection {
    /// The connection's own `Arc`: Engine.IO hands us `&self`, and sockets keep a weak
    /// back-reference to their connection.
    fn self_arc(&self) -> Option<Arc<Connection>> {
        self.me.upgrade()
    }
}

/// Server-to-client acknowledgements waiting for their answer.
#[derive(Default)]
struct AckTable {
    next: u64,
    pending: HashMap<u64, oneshot::Sender<Payload>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("ack timed out")]
    Timeout,
    #[error("socket disconnected")]
    Disconnected,
}

/// A client's connection to one namespace.
pub struct Socket {
    pub id: Arc<str>,
    pub nsp: Arc<Namespace>,
    pub member: MemberId,
    session: Arc<Session>,
    conn: Weak<Connection>,
    /// Set by the namespace's connect hook. Boxed, as is `auth`: most sockets have neither,
    /// and inline they would cost every socket their full size.
    pub identity: Option<Box<Identity>>,
    /// The CONNECT payload.
    pub auth: Option<Box<Value>>,
    pub handshake: Arc<Handshake>,
    acks: Mutex<Option<Box<AckTable>>>,
    connected: AtomicBool,
    data: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl Socket {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Attaches app data to the socket (once).
    pub fn set_data<T: Any + Send + Sync>(&self, data: T) -> bool {
        self.data.set(Arc::new(data)).is_ok()
    }

    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.data.get().and_then(|d| d.downcast_ref::<T>())
    }

    /// Sends an event to this socket's client.
    pub fn emit(&self, event: &str, payload: &Payload) -> bool {
        let frames = encode(&self.nsp.name, event, payload, None);
        self.session.send_group(frames.as_slice())
    }

    /// Answers a client's acknowledgement request.
    pub fn ack(&self, id: u64, payload: &Payload) -> bool {
        let text = packet::encode_ack(&self.nsp.name, id, &payload.args, payload.attachments.len());
        let frames = with_attachments(text, payload);
        self.session.send_group(frames.as_slice())
    }

    /// Sends an event and waits for the client's acknowledgement.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        payload: &Payload,
        timeout: Option<Duration>,
    ) -> Result<Payload, AckError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut acks = self.acks.lock();
            let table = acks.get_or_insert_with(Default::default);
            let id = table.next;
            table.next += 1;
            table.pending.insert(id, tx);
            id
        };
        let frames = encode(&self.nsp.name, event, payload, Some(id));
        if !self.session.send_group(frames.as_slice()) {
            self.forget_ack(id);
            return Err(AckError::Disconnected);
        }
        let timeout = timeout.unwrap_or(self.io_config().ack_timeout);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                self.forget_ack(id);
                Err(AckError::Timeout)
            }
        }
    }

    fn io_config(&self) -> SocketIoConfig {
        self.conn
            .upgrade()
            .map(|c| c.io.inner.config.clone())
            .unwrap_or(SocketIoConfig {
                connect_timeout: Duration::from_secs(45),
                ack_timeout: Duration::from_secs(10),
                max_attachments: 16,
            })
    }

    fn forget_ack(&self, id: u64) {
        if let Some(t) = self.acks.lock().as_mut() {
            t.pending.remove(&id);
        }
    }

    fn resolve_ack(&self, id: u64, payload: Payload) {
        let tx = self
            .acks
            .lock()
            .as_mut()
            .and_then(|t| t.pending.remove(&id));
        if let Some(tx) = tx {
            let _ = tx.send(payload);
        }
    }

    pub fn join(&self, room: &str) {
        self.nsp.hub.join(self.member, self.nsp.room(room));
    }

    pub fn leave(&self, room: &str) {
        self.nsp.hub.leave(self.member, &self.nsp.room(room));
    }

    /// The rooms this socket is in, its own id included, sorted.
    pub fn rooms(&self) -> Vec<String> {
        let everyone = RoomKey::everyone(&self.nsp.scope);
        let mut rooms: Vec<String> = self
            .nsp
            .hub
            .rooms_of(self.member)
            .into_iter()
            .filter(|r| *r != everyone)
            .map(|r| r.room().to_owned())
            .collect();
        rooms.sort();
        rooms
    }

    pub fn in_room(&self, room: &str) -> bool {
        self.nsp.hub.is_member_of(self.member, &self.nsp.room(room))
    }

    /// A broadcast to a room of this namespace, without this socket.
    pub fn to(&self, room: &str) -> Broadcast {
        let mut b = self.nsp.to(room);
        b.except_member = Some(self.member);
        b
    }

    /// A broadcast to the whole namespace, without this socket.
    pub fn broadcast(&self) -> Broadcast {
        let mut b = self.nsp.broadcast();
        b.except_member = Some(self.member);
        b
    }

    /// Disconnects this socket from its namespace (the client sees "io server disconnect");
    /// with `close_transport`, the whole Engine.IO connection is closed too.
    pub async fn disconnect(self: &Arc<Self>, close_transport: bool) {
        self.session
            .send(Frame::text(packet::encode_disconnect(&self.nsp.name)));
        self.close("server namespace disconnect", close_transport)
            .await;
    }

    /// Closes the underlying transport without a goodbye, as a dropped network would.
    pub fn drop_transport(&self) {
        self.session.close(CloseReason::ForcedClose);
    }

    async fn close(self: &Arc<Self>, reason: &str, close_transport: bool) {
        if let Some(conn) = self.conn.upgrade() {
            if !conn.remove(self) {
                return;
            }
        }
        if close_transport {
            self.session.close(CloseReason::ForcedClose);
        }
        self.finish(reason).await;
    }

    async fn finish(self: &Arc<Self>, reason: &str) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        self.nsp.hub.unregister(self.member);
        self.nsp.counters.closed();
        // Dropping the senders fails every pending server-to-client ack with Disconnected.
        self.acks.lock().take();
        let handler = self.nsp.handler.clone();
        handler.on_disconnect(self, reason).await;
    }
}

/// Encodes an event once, as the frames every recipient gets.
fn encode(nsp: &str, event: &str, payload: &Payload, ack: Option<u64>) -> Frames {
    let text = packet::encode_event(nsp, event, &payload.args, payload.attachments.len(), ack);
    with_attachments(text, payload)
}

fn with_attachments(text: String, payload: &Payload) -> Frames {
    if payload.attachments.is_empty() {
        return Frames::One(Frame::text(text));
    }
    let mut frames = Vec::with_capacity(1 + payload.attachments.len());
    frames.push(Frame::text(text));
    frames.extend(payload.attachments.iter().cloned().map(Frame::Binary));
    Frames::Group(frames.into())
}

/// A message to the sockets of some rooms of a namespace, minus exceptions.
pub struct Broadcast {
    hub: Hub,
    nsp: Arc<str>,
    scope: String,
    rooms: SmallVec<[RoomKey; 1]>,
    except_rooms: SmallVec<[RoomKey; 1]>,
    except_member: Option<MemberId>,
}

impl Broadcast {
    pub fn to(mut self, room: &str) -> Broadcast {
        self.rooms.push(RoomKey::new(&self.scope, room));
        self
    }

    pub fn except(mut self, room: &str) -> Broadcast {
        self.except_rooms.push(RoomKey::new(&self.scope, room));
        self
    }

    /// Encodes once and hands the delivery to the hub.
    pub fn emit(self, event: &str, payload: &Payload) {
        let frames = encode(&self.nsp, event, payload, None);
        let rooms = if self.rooms.is_empty() {
            smallvec::smallvec![RoomKey::everyone(&self.scope)]
        } else {
            self.rooms
        };
        self.hub.deliver(Delivery {
            target: Target::Rooms(rooms),
            except_members: self.except_member.into_iter().collect(),
            except_rooms: self.except_rooms,
            close: None,
            frames,
        });
    }
}
