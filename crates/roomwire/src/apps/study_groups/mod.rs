//! The study-groups app: study-group sessions announced on the `/study-groups` Socket.IO
//! namespace (also served as `/api/v1/study-groups`) and driven by REST calls (the AprendeAI
//! contract; see `docs/study-groups.md`).
//!
//! Everything is stored; the namespace only carries events. A session's sockets share the room
//! `session:<id>` in both namespaces, and every emit goes to that room in each of them through
//! the hub.

mod model;
mod repo;
mod rest;
mod socket;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, Weak};

use axum::Router;
use dashmap::DashMap;
use parking_lot::Mutex;
use roomwire_store::Migration;
use serde_json::{Map, Value};

use crate::auth::{Authenticator, Identity};
use crate::config::StudyGroupsConfig;
use crate::kit::stamp::now_iso;
use crate::server::{App, Core};
use crate::transport::socketio::{Namespace, NamespaceHandler, Payload, Socket, SocketIo};
use repo::Repo;

pub const APP: &str = "study-groups";

/// The namespaces the app answers on: the document's, and the one the real frontend asks for
/// (its base URL ends in `/api/v1`, which socket.io-client turns into the namespace).
pub const NAMESPACES: [&str; 2] = ["/study-groups", "/api/v1/study-groups"];

/// Registration of the app. The shared state is made on first use, so that the namespaces
/// and the routes (asked for separately by the server) get the same one.
#[derive(Default)]
pub struct StudyGroupsApp {
    shared: OnceLock<Option<Arc<StudyGroups>>>,
}

impl StudyGroupsApp {
    fn shared(&self, core: &Core) -> Option<Arc<StudyGroups>> {
        self.shared
            .get_or_init(|| match &core.store {
                Some(store) => Some(Arc::new(StudyGroups::new(core, Repo::new(store.clone())))),
                None => {
                    tracing::warn!("study-groups app disabled: it needs a database");
                    None
                }
            })
            .clone()
    }
}

impl App for StudyGroupsApp {
    fn name(&self) -> &'static str {
        APP
    }

    fn migrations(&self) -> &'static [Migration] {
        repo::MIGRATIONS
    }

    fn namespaces(&self, core: &Core) -> Vec<(String, Arc<dyn NamespaceHandler>)> {
        let Some(app) = self.shared(core) else {
            return Vec::new();
        };
        NAMESPACES
            .iter()
            .map(|n| {
                let handler: Arc<dyn NamespaceHandler> = app.clone();
                (n.to_string(), handler)
            })
            .collect()
    }

    fn routes(&self, core: &Core, io: &SocketIo) -> Router {
        let Some(app) = self.shared(core) else {
            return Router::new();
        };
        let namespaces = NAMESPACES.iter().filter_map(|n| io.of(n)).collect();
        let _ = app.namespaces.set(namespaces);
        rest::router(app)
    }

    fn openapi_paths(&self) -> Value {
        rest::openapi_paths()
    }
}

/// The app's state, shared by the namespace handler and the REST handlers.
pub struct StudyGroups {
    repo: Repo,
    config: StudyGroupsConfig,
    auth: Arc<Authenticator>,
    namespaces: OnceLock<Vec<Arc<Namespace>>>,
    /// Name and email last stored per user, so that a request stores them only when they change.
    known_users: DashMap<String, (Option<String>, Option<String>)>,
    /// Each user's sockets on this node, to take them out of a group's sessions when the user
    /// is removed from the group.
    sockets: DashMap<String, Vec<Weak<Socket>>>,
}

/// Who is acting, from their token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Caller {
    fn from_identity(identity: &Identity) -> Caller {
        let clean = |s: &Option<String>| {
            s.as_ref()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Caller {
            id: identity.user_id.clone(),
            name: clean(&identity.name),
            email: clean(&identity.email),
        }
    }
}

/// What a socket of the namespace carries: its user and the sessions it joined.
pub struct Attendee {
    pub caller: Caller,
    pub user_name: String,
    pub sessions: Mutex<HashSet<String>>,
}

fn session_room(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// `data` plus the ISO `timestamp` every server event carries.
fn stamped(mut data: Map<String, Value>) -> Payload {
    data.insert("timestamp".into(), Value::String(now_iso()));
    Payload::json(vec![Value::Object(data)])
}

impl StudyGroups {
    fn new(core: &Core, repo: Repo) -> StudyGroups {
        StudyGroups {
            repo,
            config: core.config.study_groups.clone(),
            auth: core.auth.clone(),
            namespaces: OnceLock::new(),
            known_users: DashMap::new(),
            sockets: DashMap::new(),
        }
    }

    /// Stores the caller's name and email when they differ from what was last stored.
    async fn remember(&self, caller: &Caller) -> Result<(), sqlx::Error> {
        let seen = (caller.name.clone(), caller.email.clone());
        if self.known_users.get(&caller.id).is_some_and(|k| *k == seen) {
            return Ok(());
        }
        self.repo
            .remember_user(
                &caller.id,
                caller.name.as_deref(),
                caller.email.as_deref(),
                roomwire_store::now_ms(),
            )
            .await?;
        self.known_users.insert(caller.id.clone(), seen);
        Ok(())
    }

    /// The caller's display name: the token's name, else the stored name, else the email,
    /// else the id.
    async fn user_name(&self, caller: &Caller) -> String {
        if let Some(name) = &caller.name {
            return name.clone();
        }
        match self.repo.user_name(&caller.id).await {
            Ok(name) => name,
            Err(e) => {
                tracing::warn!(error = %e, "study-groups: user name unavailable");
                caller.email.clone().unwrap_or_else(|| caller.id.clone())
            }
        }
    }

    fn namespaces(&self) -> &[Arc<Namespace>] {
        self.namespaces.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Sends an event to every socket in the session, in both namespaces.
    fn emit_to_session(&self, session_id: &str, event: &str, data: Map<String, Value>) {
        let payload = stamped(data);
        let room = session_room(session_id);
        for ns in self.namespaces() {
            ns.to(&room).emit(event, &payload);
        }
        tracing::debug!(session_id, event, "study-groups: emitted");
    }

    /// Sends an event to the session's sockets other than `from`.
    fn emit_to_others(
        &self,
        from: &Socket,
        session_id: &str,
        event: &str,
        data: Map<String, Value>,
    ) {
        let payload = stamped(data);
        let room = session_room(session_id);
        for ns in self.namespaces() {
            if Arc::ptr_eq(ns, &from.nsp) {
                from.to(&room).emit(event, &payload);
            } else {
                ns.to(&room).emit(event, &payload);
            }
        }
    }

    fn track(&self, user_id: &str, socket: &Arc<Socket>) {
        let mut list = self.sockets.entry(user_id.to_owned()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(socket));
    }

    fn untrack(&self, user_id: &str, socket: &Socket) {
        if let dashmap::Entry::Occupied(mut e) = self.sockets.entry(user_id.to_owned()) {
            e.get_mut()
                .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), socket));
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// Takes a user's sockets out of the given sessions (the others get `userLeft`).
    fn evict(&self, user_id: &str, session_ids: &[String]) {
        let sockets: Vec<Arc<Socket>> = self
            .sockets
            .get(user_id)
            .map(|l| l.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for socket in sockets {
            let Some(attendee) = socket.data::<Attendee>() else {
                continue;
            };
            for session_id in session_ids {
                if attendee.sessions.lock().remove(session_id) {
                    socket.leave(&session_room(session_id));
                    self.announce_presence(&socket, attendee, session_id, "userLeft");
                }
            }
        }
    }

    /// Marks the user as attending the session (`JOINED`): the rounds' vote gates wait for
    /// every attending member, and only attending members submit activity events. Both a
    /// `joinSession` on the socket and `POST /group-sessions/:id/join` attend; attendance is
    /// kept when the socket leaves. The first time, the session hears `session.updated`
    /// (`reason: "ATTENDANCE"`). Returns when the user first attended.
    async fn attend(&self, session_id: &str, user_id: &str) -> Result<i64, sqlx::Error> {
        let (at, first) = self
            .repo
            .mark_joined(session_id, user_id, roomwire_store::now_ms())
            .await?;
        if first {
            let mut data = Map::new();
            data.insert("sessionId".into(), session_id.into());
            data.insert("reason".into(), "ATTENDANCE".into());
            data.insert("userId".into(), user_id.into());
            data.insert("attendance".into(), "JOINED".into());
            self.emit_to_session(session_id, "session.updated", data);
        }
        Ok(at)
    }

    /// `userJoined` / `userLeft` to the session's other sockets.
    fn announce_presence(&self, socket: &Socket, who: &Attendee, session_id: &str, event: &str) {
        let mut data = Map::new();
        data.insert("sessionId".into(), session_id.into());
        data.insert("userId".into(), who.caller.id.clone().into());
        data.insert("userName".into(), who.user_name.clone().into());
        self.emit_to_others(socket, session_id, event, data);
    }
}
