//! The conference app: WebRTC signalling and room control at `/room/{roomId}/websocket`
//! (the XSAMI contract; see `docs/conference.md`).
//!
//! Room state lives in this node's memory, one mutex per room; every message to another peer
//! goes through the hub. One sweeper task per app (not one timer per connection) expires
//! reconnect graces, bans and empty rooms.

mod commands;
mod rest;
mod room;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use dashmap::DashMap;
use parking_lot::Mutex;
use rand::Rng;
use roomwire_store::{Migration, NewEvent, Store};
use serde_json::{json, Map, Value};
use sqlx::Row;

use crate::auth::{Authenticator, Identity};
use crate::config::ConferenceConfig;
use crate::hub::{CloseRequest, Delivery, Frame, Frames, Hub, MemberId, RoomKey};
use crate::kit::stamp::next_order_key;
use crate::kit::text::{clean_name, strip_markup};
use crate::metrics::metrics;
use crate::server::{App, Core};
use crate::transport::rawws::{
    self, Envelope, HandshakeRefusal, OpenRequest, Refusal, WsApp, WsConn, WsLimits,
};
use crate::transport::socketio::SocketIo;
use commands::{Command, Setting, Signal, TargetAction};
use room::{Ban, BanRule, Breakout, Joiner, Role, Room, Waiter};

pub const APP: &str = "conference";

/// Close codes the app uses beyond the standard ones.
const CLOSE_ROOM_CLOSED: u16 = 4000;
const CLOSE_KICKED: u16 = 4001;
const CLOSE_DENIED: u16 = 4003;

const REACTIONS: [&str; 7] = ["👍", "❤️", "❤", "😂", "🎉", "👏", "🤔"];
const MAX_USERNAME: usize = 64;

const MIGRATIONS: &[Migration] = &[
    Migration {
    id: "conference_001_chat",
    sql: "CREATE TABLE IF NOT EXISTS conference_chat (
              row_id TEXT PRIMARY KEY,
              room_id TEXT NOT NULL,
              id TEXT NOT NULL,
              peer_id TEXT NOT NULL,
              user_id TEXT,
              username TEXT NOT NULL,
              message TEXT NOT NULL,
              kind TEXT NOT NULL,
              sent_at BIGINT NOT NULL
          );
          CREATE INDEX IF NOT EXISTS conference_chat_room ON conference_chat (room_id, sent_at)",
    },
    Migration {
        // History is ordered by when the server received a message, not by the client's
        // timestamp (which a client may set) nor by milliseconds (which tie in bursts).
        id: "conference_002_chat_order",
        sql: "ALTER TABLE conference_chat ADD COLUMN order_key BIGINT NOT NULL DEFAULT 0;
              CREATE INDEX IF NOT EXISTS conference_chat_order ON conference_chat (room_id, order_key)",
    },
];

/// Registration of the app.
pub struct ConferenceApp;

impl App for ConferenceApp {
    fn name(&self) -> &'static str {
        APP
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn routes(&self, core: &Core, _io: &SocketIo) -> Router {
        let app = Arc::new(Conference::new(core));
        tokio::spawn(app.clone().sweep());
        let ws = rawws::route(app.clone(), core);
        Router::new()
            .route("/room/{roomId}/websocket", ws.clone())
            // An empty room id never matches the route above; it must still get INVALID_ROOM.
            .route("/room//websocket", ws)
            .route("/conference/demo", axum::routing::get(demo_page))
            .merge(rest::router(app))
    }

    fn openapi_paths(&self) -> Value {
        rest::openapi_paths()
    }
}

/// A small page that joins a room and connects WebRTC peers through this server: a demo for
/// people and the page the browser test drives.
async fn demo_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("demo.html"))
}

pub struct Conference {
    rooms: DashMap<String, Arc<Mutex<Room>>>,
    config: ConferenceConfig,
    hub: Hub,
    store: Option<Store>,
    auth: Arc<Authenticator>,
    api_key: String,
    breakout_counter: AtomicU64,
    /// Recent refusals by (room, client address), for refusing repeated attempts at the
    /// handshake (`refusals_before_block`).
    refusals: DashMap<(String, IpAddr), Refusals>,
}

/// Why a joiner was refused, as far as a later handshake needs to know whether the cause
/// still holds.
#[derive(Debug, Clone, Copy)]
enum Cause {
    Locked,
    Full,
    Banned { until: Instant },
}

impl Cause {
    fn code(self) -> &'static str {
        match self {
            Cause::Locked => "ROOM_LOCKED",
            Cause::Full => "ROOM_FULL",
            Cause::Banned { .. } => "UNAUTHORIZED",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Cause::Locked => "locked",
            Cause::Full => "full",
            Cause::Banned { .. } => "banned",
        }
    }
}

/// The refusals of one address from one room.
#[derive(Debug, Clone, Copy)]
struct Refusals {
    count: u64,
    last: Instant,
    cause: Cause,
}

/// What the connection's task keeps between messages. Whether the peer is seated, waiting or
/// gone is read from the room itself (another peer's action can change it).
pub struct Seat {
    room_id: String,
    identity: Option<Identity>,
    /// The client's address (see `http.trusted_proxies`).
    address: Option<IpAddr>,
    peer_id: Option<String>,
    left: bool,
}

/// A message in the app's envelope.
fn out(event: &str, data: Value) -> String {
    let mut m = Map::with_capacity(2);
    m.insert("event".into(), Value::String(event.into()));
    m.insert("data".into(), data);
    Value::Object(m).to_string()
}

fn frames(text: String) -> Frames {
    Frames::One(Frame::text(text))
}

pub fn valid_room_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_peer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

fn now_ms() -> i64 {
    roomwire_store::now_ms()
}

impl Conference {
    fn new(core: &Core) -> Conference {
        Conference {
            rooms: DashMap::new(),
            config: core.config.conference.clone(),
            hub: core.hub.clone(),
            store: core.store.clone(),
            auth: core.auth.clone(),
            api_key: core.config.http.api_key.clone(),
            breakout_counter: AtomicU64::new(0),
            refusals: DashMap::new(),
        }
    }

    fn room_key(room_id: &str) -> RoomKey {
        RoomKey::new(APP, room_id)
    }

    fn to_member(&self, member: MemberId, text: String) {
        self.hub.deliver(Delivery::to_member(member, frames(text)));
    }

    fn to_members(&self, members: impl IntoIterator<Item = MemberId>, text: &str) {
        let f = frames(text.to_owned());
        for m in members {
            self.hub.deliver(Delivery::to_member(m, f.clone()));
        }
    }

    /// To every live peer of the room, but `except`.
    fn to_room(&self, room_id: &str, text: String, except: Option<MemberId>) {
        let mut d = Delivery::to_room(Self::room_key(room_id), frames(text));
        if let Some(m) = except {
            d = d.except(m);
        }
        self.hub.deliver(d);
    }

    fn close_member(&self, member: MemberId, text: String, code: u16, reason: &'static str) {
        self.hub.deliver(
            Delivery::to_member(member, frames(text)).then_close(CloseRequest::new(code, reason)),
        );
    }

    fn error(&self, conn: &WsConn, code: &str, message: &str) {
        conn.send_error(self, code, message);
    }

    /// Records a room event (joins, leaves, host changes, kicks, locks) without delaying the
    /// room: the write happens on its own task.
    fn log(&self, room_id: &str, kind: &'static str, actor: Option<&str>, payload: Value) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let (room, actor) = (room_id.to_owned(), actor.map(str::to_owned));
        tokio::spawn(async move {
            let event = NewEvent {
                app: APP,
                room: &room,
                kind,
                actor: actor.as_deref(),
                payload: &payload,
            };
            if let Err(e) = store.append_event(&event).await {
                tracing::warn!(error = %e, room, kind, "conference event not recorded");
            }
        });
    }

    fn ban_rule(&self) -> BanRule {
        BanRule {
            by_username: self.config.kick_ban_by_username,
            by_address: self.config.kick_ban_by_address,
        }
    }

    fn remember_refusal(&self, room_id: &str, address: Option<IpAddr>, cause: Cause) {
        let Some(address) = address else {
            return;
        };
        if self.config.refusals_before_block == 0 {
            return;
        }
        let now = Instant::now();
        self.refusals
            .entry((room_id.to_owned(), address))
            .and_modify(|r| {
                r.count += 1;
                r.last = now;
                r.cause = cause;
            })
            .or_insert(Refusals {
                count: 1,
                last: now,
                cause,
            });
    }

    /// The cause for which `address` is refused from `room_id` at the handshake: it was
    /// refused `refusals_before_block` times, the last less than `refusal_block_seconds` ago,
    /// and the cause still holds. A cause that no longer holds forgets the refusals.
    fn refused_again(&self, room_id: &str, address: IpAddr) -> Option<Cause> {
        let threshold = self.config.refusals_before_block;
        if threshold == 0 {
            return None;
        }
        let key = (room_id.to_owned(), address);
        let refusals = *self.refusals.get(&key)?;
        let now = Instant::now();
        let recent = now.duration_since(refusals.last)
            < Duration::from_secs(self.config.refusal_block_seconds);
        let holds = recent
            && match refusals.cause {
                Cause::Banned { until } => until > now,
                Cause::Locked => self.room(room_id).is_some_and(|r| r.lock().locked),
                Cause::Full => self.room(room_id).is_some_and(|r| r.lock().is_full()),
            };
        if !holds {
            self.refusals.remove(&key);
            return None;
        }
        (refusals.count >= threshold).then_some(refusals.cause)
    }

    fn room(&self, room_id: &str) -> Option<Arc<Mutex<Room>>> {
        self.rooms.get(room_id).map(|r| r.clone())
    }

    fn room_or_create(&self, room_id: &str) -> Arc<Mutex<Room>> {
        self.rooms
            .entry(room_id.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Room::new(
                    room_id,
                    self.config.max_participants as usize,
                    now_ms(),
                )))
            })
            .clone()
    }

    async fn join(
        &self,
        conn: &WsConn,
        seat: &mut Seat,
        peer_id: Option<String>,
        username: Option<String>,
    ) {
        if seat.peer_id.is_some() {
            return self.error(conn, "ALREADY_JOINED", "this connection has already joined");
        }
        let peer_id = match peer_id.filter(|p| !p.is_empty()) {
            Some(p) if valid_peer_id(&p) => p,
            Some(_) => {
                return self.error(
                    conn,
                    "INVALID_MESSAGE",
                    "peerId must be 1-128 characters of [A-Za-z0-9_.-]",
                )
            }
            None => format!("peer_{}", random_hex(8)),
        };
        let user_id = seat.identity.as_ref().map(|i| i.user_id.clone());
        let username = match &seat.identity {
            Some(identity) => clean_name(identity.display_name(), MAX_USERNAME, "Guest"),
            None => clean_name(username.as_deref().unwrap_or(""), MAX_USERNAME, "Guest"),
        };
        let refuse = |cause: Cause, message: &str| {
            let code = cause.code();
            metrics().error(code);
            metrics().refusal(APP, cause.reason(), "join");
            self.remember_refusal(&seat.room_id, seat.address, cause);
            conn.send(WsApp::error_frame(self, code, message));
            conn.close(1008, code);
        };
        let history = loop {
            let room = self.room_or_create(&seat.room_id);
            let mut r = room.lock();
            if r.deleted {
                // The sweeper removed it between our lookup and our lock: use a fresh one.
                continue;
            }
            let now = Instant::now();
            let joiner = Joiner {
                peer_id: &peer_id,
                user_id: user_id.as_deref(),
                username: &username,
                address: seat.address,
            };
            if let Some(ban) = r.ban_on(&joiner, self.ban_rule(), now) {
                let cause = Cause::Banned { until: ban.until };
                return refuse(cause, "you were removed from this room");
            }
            break if let Some(existing) = r.participant(&peer_id) {
                let same_user = existing.user_id == user_id;
                if existing.member.is_none() && same_user {
                    // Back within the reconnect grace: take the place back, silently.
                    let p = r.participant_mut(&peer_id).expect("present");
                    p.member = Some(conn.id);
                    p.dropped_at = None;
                    conn.join(&r.id);
                    conn.send(out("peers", r.peers_message(&peer_id)));
                    self.log(&r.id, "reconnect", Some(&peer_id), json!({}));
                    seat.peer_id = Some(peer_id.clone());
                    true
                } else {
                    let code = "PEER_ID_TAKEN";
                    metrics().error(code);
                    conn.send(WsApp::error_frame(
                        self,
                        code,
                        "another connection is using this peerId",
                    ));
                    conn.close(1008, code);
                    return;
                }
            } else {
                let designated = r.is_designated_host(&peer_id, user_id.as_deref());
                if r.locked && !designated {
                    return refuse(Cause::Locked, "the room is locked");
                }
                if r.is_full() {
                    return refuse(Cause::Full, "the room is full");
                }
                seat.peer_id = Some(peer_id.clone());
                let waiter = Waiter {
                    peer_id: peer_id.clone(),
                    username: username.clone(),
                    user_id: user_id.clone(),
                    address: seat.address,
                    member: conn.id,
                };
                if r.waiting_room && !designated && r.host.is_some() {
                    r.waiting.push(waiter);
                    let position = r.waiting.len();
                    conn.send(out("waiting", json!({"position": position})));
                    let notice = out(
                        "participant-waiting",
                        json!({"peerId": peer_id, "username": username}),
                    );
                    self.to_members(r.moderators(), &notice);
                    false
                } else {
                    self.seat(&mut r, waiter);
                    true
                }
            };
        };
        if history {
            self.send_history(conn, &seat.room_id).await;
        }
    }

    /// Seats an admitted peer: state, hub room, `peers` to it, `peer-joined` to the others.
    fn seat(&self, r: &mut Room, w: Waiter) {
        let (member, peer_id, username, user_id) = (
            w.member,
            w.peer_id.clone(),
            w.username.clone(),
            w.user_id.clone(),
        );
        let previous_host = r.host.clone();
        let became_host = r.admit(w);
        self.hub.join(member, Self::room_key(&r.id));
        self.to_member(member, out("peers", r.peers_message(&peer_id)));
        self.to_room(
            &r.id,
            out(
                "peer-joined",
                json!({"peerId": peer_id, "username": username}),
            ),
            Some(member),
        );
        if became_host && previous_host.is_some() {
            self.to_room(&r.id, out("host-changed", json!({"hostId": peer_id})), None);
            self.log(
                &r.id,
                "host-changed",
                Some(&peer_id),
                json!({"hostId": peer_id}),
            );
        }
        self.log(
            &r.id,
            "join",
            Some(&peer_id),
            json!({"username": username, "userId": user_id}),
        );
    }

    /// Sends the chat history to a peer seated by someone else's action (admission), from
    /// a task of its own: the database read must not hold the room.
    fn spawn_history(&self, member: MemberId, room_id: &str) {
        let (hub, store, room_id, limit) = (
            self.hub.clone(),
            self.store.clone(),
            room_id.to_owned(),
            self.config.chat_history_limit as i64,
        );
        tokio::spawn(async move {
            let messages = chat_history(store.as_ref(), &room_id, limit).await;
            hub.deliver(Delivery::to_member(
                member,
                frames(out("chat-history", json!({ "messages": messages }))),
            ));
        });
    }

    async fn send_history(&self, conn: &WsConn, room_id: &str) {
        let messages = self
            .chat_history(room_id, self.config.chat_history_limit as i64)
            .await;
        conn.send(out("chat-history", json!({ "messages": messages })));
    }

    async fn chat_history(&self, room_id: &str, limit: i64) -> Vec<Value> {
        chat_history(self.store.as_ref(), room_id, limit).await
    }
}

/// The most recent `limit` chat messages of a room, oldest first.
async fn chat_history(store: Option<&Store>, room_id: &str, limit: i64) -> Vec<Value> {
    {
        let Some(store) = store else {
            return Vec::new();
        };
        let rows = sqlx::query(
            "SELECT id, peer_id, username, message, kind, sent_at FROM conference_chat
             WHERE room_id = $1 ORDER BY order_key DESC LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(store.pool())
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, room_id, "chat history unavailable");
                return Vec::new();
            }
        };
        let mut messages: Vec<Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "id": row.try_get::<String, _>("id").unwrap_or_default(),
                    "peerId": row.try_get::<String, _>("peer_id").unwrap_or_default(),
                    "username": row.try_get::<String, _>("username").unwrap_or_default(),
                    "message": row.try_get::<String, _>("message").unwrap_or_default(),
                    "type": row.try_get::<String, _>("kind").unwrap_or_default(),
                    "timestamp": row.try_get::<i64, _>("sent_at").unwrap_or_default(),
                })
            })
            .collect();
        messages.reverse();
        messages
    }
}

impl Conference {
    /// Removes a peer for good and tells the room; handles host hand-over.
    fn depart(&self, r: &mut Room, peer_id: &str, kind: &'static str) {
        let Some((gone, new_host)) = r.remove(peer_id) else {
            return;
        };
        if let Some(m) = gone.member {
            self.hub.leave(m, &Self::room_key(&r.id));
        }
        if gone.hand_raised {
            self.to_room(&r.id, out("lower-hand", json!({"peerId": peer_id})), None);
        }
        if gone.sharing {
            self.to_room(
                &r.id,
                out("screen-share-stopped", json!({"peerId": peer_id})),
                None,
            );
        }
        self.to_room(&r.id, out("peer-left", json!({"peerId": peer_id})), None);
        self.log(&r.id, kind, Some(peer_id), json!({}));
        if let Some(host) = new_host {
            self.to_room(&r.id, out("host-changed", json!({"hostId": host})), None);
            self.log(&r.id, "host-changed", Some(&host), json!({"hostId": host}));
        }
    }

    async fn chat(
        &self,
        conn: &WsConn,
        seat: &Seat,
        id: Option<String>,
        message: String,
        timestamp: Option<i64>,
        kind: Option<String>,
    ) {
        let Some(room) = self.room(&seat.room_id) else {
            return self.error(conn, "NOT_JOINED", "join the room first");
        };
        let (peer_id, username, user_id) = {
            let r = room.lock();
            let Some(p) = r.by_member(conn.id) else {
                return self.error(conn, "NOT_JOINED", "join the room first");
            };
            if !r.chat_enabled {
                return self.error(conn, "CHAT_DISABLED", "chat is disabled in this room");
            }
            (p.peer_id.clone(), p.username.clone(), p.user_id.clone())
        };
        let text = strip_markup(&message).trim().to_owned();
        if text.is_empty() {
            return self.error(conn, "INVALID_MESSAGE", "the message is empty");
        }
        if text.chars().count() > self.config.max_chat_length as usize {
            let limit = self.config.max_chat_length;
            return self.error(
                conn,
                "MESSAGE_TOO_LONG",
                &format!("messages are limited to {limit} characters"),
            );
        }
        let id = id
            .map(|i| clean_name(&i, 64, ""))
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| format!("msg_{}", random_hex(12)));
        let timestamp = timestamp.filter(|t| *t > 0).unwrap_or_else(now_ms);
        let kind = kind
            .map(|k| clean_name(&k, 32, "text"))
            .unwrap_or_else(|| "text".into());
        let order_key = next_order_key();
        if let Some(store) = &self.store {
            let stored = sqlx::query(
                "INSERT INTO conference_chat (row_id, room_id, id, peer_id, user_id, username, message, kind, sent_at, order_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(format!("{}-{}", now_ms(), random_hex(12)))
            .bind(&seat.room_id)
            .bind(&id)
            .bind(&peer_id)
            .bind(user_id)
            .bind(&username)
            .bind(&text)
            .bind(&kind)
            .bind(timestamp)
            .bind(order_key)
            .execute(store.pool())
            .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "chat message not stored");
            }
        }
        let data = json!({"id": id, "peerId": peer_id, "username": username, "message": text, "timestamp": timestamp, "type": kind});
        let except = (!self.config.chat_echo_to_sender).then_some(conn.id);
        self.to_room(&seat.room_id, out("chat-message", data), except);
    }

    /// Every command of a seated peer but `join`, `ping` and chat.
    fn act(&self, conn: &WsConn, r: &mut Room, me: &str, command: Command) {
        let role = r.role(me);
        let moderator = role != Role::Member;
        let unauthorized = || {
            self.error(
                conn,
                "UNAUTHORIZED",
                "only the host or a co-host can do that",
            )
        };
        match command {
            Command::Signal {
                kind,
                target,
                mut data,
            } => {
                let username = r
                    .participant(me)
                    .map(|p| p.username.clone())
                    .unwrap_or_default();
                let target_member = target
                    .as_deref()
                    .and_then(|t| r.participant(t))
                    .and_then(|p| p.member);
                let Some(member) = target_member else {
                    let t = target.unwrap_or_default();
                    return self.error(
                        conn,
                        "PEER_NOT_FOUND",
                        &format!("no peer `{t}` in this room"),
                    );
                };
                data.insert("peerId".into(), Value::String(me.to_owned()));
                if kind == Signal::Offer || !data.contains_key("username") {
                    data.insert("username".into(), Value::String(username));
                }
                self.to_member(member, out(kind.event(), Value::Object(data)));
            }
            Command::Setting(setting) => {
                if !moderator {
                    return unauthorized();
                }
                self.setting(r, me, setting);
            }
            Command::Target { action, target } => {
                let host_only = matches!(
                    action,
                    TargetAction::PromoteCoHost | TargetAction::DemoteCoHost
                );
                if !moderator || (host_only && role != Role::Host) {
                    return unauthorized();
                }
                let Some(target) = target else {
                    return self.error(conn, "INVALID_MESSAGE", "targetPeerId is required");
                };
                if let Err((code, message)) = self.target_action(r, me, action, &target) {
                    self.error(conn, code, &message);
                }
            }
            Command::RaiseHand => {
                let Some(p) = r.participant_mut(me) else {
                    return;
                };
                p.hand_raised = true;
                let data = json!({"peerId": me, "username": p.username});
                self.to_room(&r.id, out("raise-hand", data), None);
            }
            Command::LowerHand { target } => {
                let who = target.unwrap_or_else(|| me.to_owned());
                if who != me && !moderator {
                    return unauthorized();
                }
                let Some(p) = r.participant_mut(&who) else {
                    return self.error(conn, "PEER_NOT_FOUND", "no such peer in this room");
                };
                p.hand_raised = false;
                self.to_room(&r.id, out("lower-hand", json!({"peerId": who})), None);
            }
            Command::Reaction { emoji } => {
                if !REACTIONS.contains(&emoji.as_str()) {
                    return self.error(
                        conn,
                        "INVALID_REACTION",
                        "reactions are one of 👍 ❤️ 😂 🎉 👏 🤔",
                    );
                }
                self.to_room(
                    &r.id,
                    out("reaction", json!({"peerId": me, "emoji": emoji})),
                    Some(conn.id),
                );
            }
            Command::ScreenShare { started, event } => {
                if let Some(p) = r.participant_mut(me) {
                    p.sharing = started;
                }
                self.to_room(&r.id, out(event, json!({"peerId": me})), Some(conn.id));
            }
            Command::RequestScreenShare => {
                if !r.screen_requests.iter().any(|x| x == me) {
                    r.screen_requests.push(me.to_owned());
                }
                let username = r
                    .participant(me)
                    .map(|p| p.username.clone())
                    .unwrap_or_default();
                let notice = out(
                    "request-screen-share",
                    json!({"peerId": me, "username": username}),
                );
                self.to_members(r.moderators(), &notice);
            }
            Command::GetWaitingRoom => {
                if !moderator {
                    return unauthorized();
                }
                let waiting: Vec<Value> = r
                    .waiting
                    .iter()
                    .map(|w| json!({"peerId": w.peer_id, "username": w.username}))
                    .collect();
                conn.send(out("waiting-room", json!({ "waiting": waiting })));
            }
            Command::CreateBreakouts { rooms } => {
                if !moderator {
                    return unauthorized();
                }
                r.breakouts.clear();
                for spec in rooms {
                    let n = self.breakout_counter.fetch_add(1, Ordering::Relaxed) + 1;
                    let id = format!("{}-bo-{n}", r.id);
                    let name = clean_name(&spec.name, 64, &format!("Breakout {n}"));
                    let peer_ids: Vec<String> = spec
                        .peer_ids
                        .into_iter()
                        .filter(|p| r.participant(p).is_some())
                        .collect();
                    for p in &peer_ids {
                        if let Some(m) = r.participant(p).and_then(|p| p.member) {
                            self.to_member(
                                m,
                                out(
                                    "breakout-room-assigned",
                                    json!({"breakoutRoomId": id, "name": name}),
                                ),
                            );
                        }
                    }
                    r.breakouts.push(Breakout { id, name, peer_ids });
                }
                self.to_room(
                    &r.id,
                    out(
                        "breakout-rooms-created",
                        json!({"rooms": r.breakouts_json()}),
                    ),
                    None,
                );
                self.log(
                    &r.id,
                    "breakouts-created",
                    Some(me),
                    json!({"rooms": r.breakouts_json()}),
                );
            }
            Command::AnnotationDraw(mut data) => {
                data.insert("peerId".into(), Value::String(me.to_owned()));
                self.to_room(
                    &r.id,
                    out("annotation-draw", Value::Object(data)),
                    Some(conn.id),
                );
            }
            Command::AnnotationClear => {
                self.to_room(&r.id, out("annotation-clear", json!({"peerId": me})), None);
            }
            Command::Join { .. } | Command::Ping | Command::Leave | Command::Chat { .. } => {
                unreachable!("handled before the room is locked")
            }
        }
    }

    fn setting(&self, r: &mut Room, me: &str, setting: Setting) {
        let broadcast = |event: &str, data: Value| self.to_room(&r.id, out(event, data), None);
        match setting {
            Setting::Lock => {
                r.locked = true;
                broadcast("room-locked", json!({}));
                self.log(&r.id, "lock", Some(me), json!({}));
            }
            Setting::Unlock => {
                r.locked = false;
                broadcast("room-unlocked", json!({}));
                self.log(&r.id, "unlock", Some(me), json!({}));
            }
            Setting::EnableChat => {
                r.chat_enabled = true;
                broadcast("chat-enabled", json!({}));
            }
            Setting::DisableChat => {
                r.chat_enabled = false;
                broadcast("chat-disabled", json!({}));
            }
            Setting::StartRecording => {
                r.recording = true;
                broadcast("recording-started", json!({"by": me}));
                self.log(&r.id, "recording-started", Some(me), json!({}));
            }
            Setting::StopRecording => {
                r.recording = false;
                broadcast("recording-stopped", json!({"by": me}));
                self.log(&r.id, "recording-stopped", Some(me), json!({}));
            }
            Setting::MuteAll | Setting::UnmuteAll => {
                let mute = setting == Setting::MuteAll;
                let host = r.host.clone();
                for p in r
                    .participants
                    .iter_mut()
                    .filter(|p| Some(&p.peer_id) != host.as_ref())
                {
                    p.muted = mute;
                }
                broadcast(
                    if mute { "mute-all" } else { "unmute-all" },
                    json!({"by": me}),
                );
            }
            Setting::ClearHands => {
                let raised: Vec<String> = r
                    .participants
                    .iter()
                    .filter(|p| p.hand_raised)
                    .map(|p| p.peer_id.clone())
                    .collect();
                for p in r.participants.iter_mut() {
                    p.hand_raised = false;
                }
                for peer in raised {
                    self.to_room(&r.id, out("lower-hand", json!({"peerId": peer})), None);
                }
            }
            Setting::EnableWaitingRoom => {
                r.waiting_room = true;
                broadcast("waiting-room-enabled", json!({}));
            }
            Setting::DisableWaitingRoom => {
                r.waiting_room = false;
                broadcast("waiting-room-disabled", json!({}));
                for w in std::mem::take(&mut r.waiting) {
                    let member = w.member;
                    self.seat(r, w);
                    self.spawn_history(member, &r.id);
                }
            }
            Setting::CloseBreakouts => {
                let data = json!({"mainRoomId": r.id});
                for b in std::mem::take(&mut r.breakouts) {
                    self.to_room(&b.id, out("breakout-rooms-closed", data.clone()), None);
                }
                broadcast("breakout-rooms-closed", data);
                self.log(&r.id, "breakouts-closed", Some(me), json!({}));
            }
        }
    }

    /// An action on one peer, by a moderator (or an admin over REST, `me` = "admin").
    fn target_action(
        &self,
        r: &mut Room,
        me: &str,
        action: TargetAction,
        target: &str,
    ) -> Result<(), (&'static str, String)> {
        let not_found = || ("PEER_NOT_FOUND", format!("no peer `{target}` in this room"));
        match action {
            TargetAction::Kick => {
                if r.role(target) == Role::Host && me != "admin" {
                    return Err(("UNAUTHORIZED", "the host cannot be removed".into()));
                }
                let until = Instant::now() + Duration::from_secs(self.config.kick_ban_seconds);
                if let Some(i) = r.waiting.iter().position(|w| w.peer_id == target) {
                    let w = r.waiting.remove(i);
                    r.bans.push(Ban {
                        peer_id: w.peer_id,
                        user_id: w.user_id,
                        username: w.username,
                        address: w.address,
                        until,
                    });
                    self.close_member(w.member, out("kicked", json!({})), CLOSE_KICKED, "kicked");
                    return Ok(());
                }
                let p = r.participant(target).ok_or_else(not_found)?;
                let member = p.member;
                r.bans.push(Ban::of(p, until));
                if let Some(m) = member {
                    self.close_member(m, out("kicked", json!({})), CLOSE_KICKED, "kicked");
                }
                self.depart(r, target, "kick");
                self.log(
                    &r.id,
                    "kicked-by",
                    Some(me),
                    json!({"targetPeerId": target}),
                );
            }
            TargetAction::Mute | TargetAction::Unmute => {
                let mute = action == TargetAction::Mute;
                let p = r.participant_mut(target).ok_or_else(not_found)?;
                p.muted = mute;
                let event = if mute {
                    "mute-participant"
                } else {
                    "unmute-participant"
                };
                self.to_room(
                    &r.id,
                    out(event, json!({"targetPeerId": target, "by": me})),
                    None,
                );
            }
            TargetAction::PromoteCoHost => {
                if r.participant(target).is_none() {
                    return Err(not_found());
                }
                if r.role(target) == Role::Member {
                    r.co_hosts.push(target.to_owned());
                }
                self.to_room(
                    &r.id,
                    out("promote-co-host", json!({"targetPeerId": target})),
                    None,
                );
                self.log(
                    &r.id,
                    "co-host-promoted",
                    Some(me),
                    json!({"targetPeerId": target}),
                );
            }
            TargetAction::DemoteCoHost => {
                if r.participant(target).is_none() {
                    return Err(not_found());
                }
                r.co_hosts.retain(|c| c != target);
                self.to_room(
                    &r.id,
                    out("demote-co-host", json!({"targetPeerId": target})),
                    None,
                );
                self.log(
                    &r.id,
                    "co-host-demoted",
                    Some(me),
                    json!({"targetPeerId": target}),
                );
            }
            TargetAction::Admit => {
                let i = r
                    .waiting
                    .iter()
                    .position(|w| w.peer_id == target)
                    .ok_or_else(not_found)?;
                let w = r.waiting.remove(i);
                let member = w.member;
                self.seat(r, w);
                self.spawn_history(member, &r.id);
            }
            TargetAction::Deny => {
                let i = r
                    .waiting
                    .iter()
                    .position(|w| w.peer_id == target)
                    .ok_or_else(not_found)?;
                let w = r.waiting.remove(i);
                self.close_member(w.member, out("denied", json!({})), CLOSE_DENIED, "denied");
            }
            TargetAction::ApproveScreenShare | TargetAction::DenyScreenShare => {
                let m = r.participant(target).ok_or_else(not_found)?.member;
                r.screen_requests.retain(|x| x != target);
                let event = if action == TargetAction::ApproveScreenShare {
                    "screen-share-approved"
                } else {
                    "screen-share-denied"
                };
                if let Some(m) = m {
                    self.to_member(m, out(event, json!({"by": me})));
                }
            }
            TargetAction::RevokeScreenShare => {
                let p = r.participant_mut(target).ok_or_else(not_found)?;
                p.sharing = false;
                if let Some(m) = p.member {
                    self.to_member(m, out("screen-share-revoked", json!({"by": me})));
                }
                self.to_room(
                    &r.id,
                    out("screen-share-stopped", json!({"peerId": target})),
                    None,
                );
            }
        }
        Ok(())
    }

    /// Closes a room: everyone is told and disconnected; the room is forgotten (its chat
    /// history stays in the database).
    fn close_room(&self, room_id: &str) -> bool {
        let Some((_, room)) = self.rooms.remove(room_id) else {
            return false;
        };
        let mut r = room.lock();
        r.deleted = true;
        let members: Vec<MemberId> = r
            .live_members()
            .chain(r.waiting.iter().map(|w| w.member))
            .collect();
        for m in members {
            self.close_member(
                m,
                out("room-closed", json!({})),
                CLOSE_ROOM_CLOSED,
                "room closed",
            );
        }
        self.log(room_id, "room-closed", None, json!({}));
        true
    }

    /// Expires reconnect graces, bans and empty rooms, a few times a second, for all rooms.
    async fn sweep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let grace = Duration::from_secs(self.config.reconnect_grace_seconds);
        let ttl = Duration::from_secs(self.config.empty_room_ttl_seconds);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let rooms: Vec<(String, Arc<Mutex<Room>>)> = self
                .rooms
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect();
            for (id, room) in rooms {
                let expired_room = {
                    let mut r = room.lock();
                    let lapsed: Vec<String> = r
                        .participants
                        .iter()
                        .filter(|p| {
                            p.member.is_none()
                                && p.dropped_at.is_some_and(|t| now.duration_since(t) >= grace)
                        })
                        .map(|p| p.peer_id.clone())
                        .collect();
                    for peer in lapsed {
                        self.depart(&mut r, &peer, "leave");
                    }
                    r.bans.retain(|b| b.until > now);
                    let expired = r.participants.is_empty()
                        && r.waiting.is_empty()
                        && r.empty_since.is_some_and(|t| now.duration_since(t) >= ttl);
                    if expired {
                        r.deleted = true;
                    }
                    expired
                };
                if expired_room {
                    self.rooms
                        .remove_if(&id, |_, current| Arc::ptr_eq(current, &room));
                }
            }
            let block = Duration::from_secs(self.config.refusal_block_seconds);
            self.refusals
                .retain(|_, r| now.duration_since(r.last) < block);
        }
    }
}

#[async_trait]
impl WsApp for Conference {
    type Message = Command;
    type State = Seat;

    fn name(&self) -> &'static str {
        APP
    }

    fn envelope(&self) -> Envelope {
        Envelope::Event
    }

    fn knows(&self, event: &str) -> bool {
        commands::EVENTS.contains(&event)
    }

    fn limits(&self, defaults: &WsLimits) -> WsLimits {
        let c = &self.config;
        WsLimits {
            max_message_bytes: c.max_message_bytes as usize,
            hard_max_message_bytes: defaults
                .hard_max_message_bytes
                .max(c.max_message_bytes as usize * 4),
            messages_per_second: c.max_messages_per_second as u32,
            burst: c.max_messages_per_second as u32,
            idle_timeout: Duration::from_secs(c.idle_timeout_seconds),
            ping_interval: defaults.ping_interval.min(Duration::from_secs(
                c.idle_timeout_seconds.div_ceil(2).max(1),
            )),
            ..defaults.clone()
        }
    }

    fn screen(&self, request: &OpenRequest) -> Result<(), HandshakeRefusal> {
        let (Some(room_id), Some(address)) = (request.path.get("roomId"), request.client) else {
            return Ok(());
        };
        match self.refused_again(room_id, address) {
            Some(cause) => {
                metrics().refusal(APP, cause.reason(), "handshake");
                Err(HandshakeRefusal {
                    status: axum::http::StatusCode::FORBIDDEN,
                    code: cause.code(),
                    message: format!(
                        "refused from this room {} times recently ({}); try again later",
                        self.config.refusals_before_block,
                        cause.reason()
                    ),
                })
            }
            None => Ok(()),
        }
    }

    async fn open(&self, _conn: &WsConn, request: &OpenRequest) -> Result<Seat, Refusal> {
        let room_id = request.path.get("roomId").cloned().unwrap_or_default();
        if !valid_room_id(&room_id) {
            return Err(Refusal {
                code: "INVALID_ROOM",
                message: "room ids are 1-128 characters of [A-Za-z0-9_-]".into(),
                close_code: 1008,
            });
        }
        let identity = match request.token() {
            Some(token) => match self.auth.verify(token) {
                Ok(identity) => Some(identity),
                Err(e) if self.config.require_auth => {
                    return Err(Refusal {
                        code: "UNAUTHORIZED",
                        message: e.to_string(),
                        close_code: 1008,
                    })
                }
                Err(_) => None,
            },
            None if self.config.require_auth => {
                return Err(Refusal {
                    code: "UNAUTHORIZED",
                    message: "missing token".into(),
                    close_code: 1008,
                })
            }
            None => None,
        };
        Ok(Seat {
            room_id,
            identity,
            address: request.client,
            peer_id: None,
            left: false,
        })
    }

    async fn on_message(&self, conn: &WsConn, seat: &mut Seat, command: Command) {
        match command {
            Command::Ping => {
                conn.send(out("pong", json!({})));
            }
            Command::Join { peer_id, username } => self.join(conn, seat, peer_id, username).await,
            Command::Chat {
                id,
                message,
                timestamp,
                kind,
            } => self.chat(conn, seat, id, message, timestamp, kind).await,
            Command::Leave => {
                self.leave(conn, seat, true);
                conn.close(1000, "left");
            }
            command => {
                let Some(room) = self.room(&seat.room_id) else {
                    return self.error(conn, "NOT_JOINED", "join the room first");
                };
                let mut r = room.lock();
                let Some(me) = r.by_member(conn.id).map(|p| p.peer_id.clone()) else {
                    return self.error(conn, "NOT_JOINED", "join the room first");
                };
                self.act(conn, &mut r, &me, command);
            }
        }
    }

    async fn on_close(&self, conn: &WsConn, mut seat: Seat, code: Option<u16>) {
        self.leave(conn, &mut seat, code == Some(1000));
    }
}

impl Conference {
    /// The connection is going: at once for a normal close, else into the reconnect grace.
    fn leave(&self, conn: &WsConn, seat: &mut Seat, now: bool) {
        if seat.left {
            return;
        }
        seat.left = true;
        let Some(room) = self.room(&seat.room_id) else {
            return;
        };
        let mut r = room.lock();
        r.waiting.retain(|w| w.member != conn.id);
        let Some(peer) = r.by_member(conn.id).map(|p| p.peer_id.clone()) else {
            if r.participants.is_empty() && r.empty_since.is_none() {
                r.empty_since = Some(Instant::now());
            }
            return;
        };
        if now {
            self.depart(&mut r, &peer, "leave");
        } else {
            let room_key = Self::room_key(&r.id);
            if let Some(p) = r.participant_mut(&peer) {
                p.member = None;
                p.dropped_at = Some(Instant::now());
            }
            self.hub.leave(conn.id, &room_key);
            self.log(&r.id, "drop", Some(&peer), json!({}));
        }
    }
}
