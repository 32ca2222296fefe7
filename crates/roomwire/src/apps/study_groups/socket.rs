//! The namespace side: connect with a JWT, join and leave sessions, typing and read receipts.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::{session_room, Attendee, Caller, StudyGroups};
use crate::auth::Identity;
use crate::kit::stamp::iso8601;
use crate::transport::socketio::{
    ConnectError, ConnectRequest, Event, NamespaceHandler, Payload, Socket,
};

/// A client event, parsed before it is handled.
#[derive(Debug, PartialEq)]
enum Request {
    JoinSession {
        session_id: String,
    },
    LeaveSession {
        session_id: String,
    },
    Typing {
        session_id: String,
        is_typing: bool,
    },
    ChatRead {
        session_id: String,
        message_id: String,
    },
}

/// Why a client event was refused: its ack's `error`.
#[derive(Debug, PartialEq)]
struct Refusal {
    code: &'static str,
    message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

const MAX_ID_LENGTH: usize = 128;

/// An id field: a non-empty string of at most 128 characters.
fn id_field(v: &Value, field: &str) -> Result<String, Refusal> {
    match v.get(field) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_LENGTH => Ok(s.clone()),
        Some(Value::String(_)) => Err(refuse(
            "INVALID_MESSAGE",
            format!("`{field}` must be 1 to {MAX_ID_LENGTH} characters"),
        )),
        _ => Err(refuse(
            "INVALID_MESSAGE",
            format!("`{field}` (a string) is required"),
        )),
    }
}

impl Request {
    fn parse(event: &Event) -> Result<Request, Refusal> {
        let arg = event.payload.args.first().cloned().unwrap_or(Value::Null);
        // `joinSession("id")` is accepted as well as `joinSession({sessionId: "id"})`.
        let arg = match arg {
            Value::String(s) => json!({ "sessionId": s }),
            other => other,
        };
        let session_id = || id_field(&arg, "sessionId");
        match event.name.as_str() {
            "joinSession" => Ok(Request::JoinSession {
                session_id: session_id()?,
            }),
            "leaveSession" => Ok(Request::LeaveSession {
                session_id: session_id()?,
            }),
            "typing" => Ok(Request::Typing {
                session_id: session_id()?,
                is_typing: match arg.get("isTyping") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(refuse("INVALID_MESSAGE", "`isTyping` must be a boolean"))
                    }
                },
            }),
            "chat.read" => Ok(Request::ChatRead {
                session_id: session_id()?,
                message_id: id_field(&arg, "messageId")?,
            }),
            other => Err(refuse(
                "UNKNOWN_EVENT",
                format!(
                    "unknown event `{}`",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }
}

fn answer(socket: &Socket, ack: Option<u64>, result: Result<Map<String, Value>, Refusal>) {
    let Some(id) = ack else { return };
    let body = match result {
        Ok(mut fields) => {
            let mut m = Map::with_capacity(fields.len() + 1);
            m.insert("success".into(), Value::Bool(true));
            m.append(&mut fields);
            Value::Object(m)
        }
        Err(r) => json!({"success": false, "error": {"code": r.code, "message": r.message}}),
    };
    socket.ack(id, &Payload::json(vec![body]));
}

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn unavailable(e: sqlx::Error) -> Refusal {
    tracing::warn!(error = %e, "study-groups: storage error on a socket event");
    refuse("UNAVAILABLE", "storage is unavailable; try again")
}

#[async_trait]
impl NamespaceHandler for StudyGroups {
    async fn authorize(
        &self,
        request: &ConnectRequest<'_>,
    ) -> Result<Option<Identity>, ConnectError> {
        request.verify_token(&self.auth).map(Some)
    }

    async fn on_connect(&self, socket: &Arc<Socket>) {
        let Some(identity) = &socket.identity else {
            return;
        };
        let caller = Caller::from_identity(identity);
        if let Err(e) = self.remember(&caller).await {
            tracing::warn!(error = %e, "study-groups: user not stored");
        }
        let user_name = self.user_name(&caller).await;
        tracing::debug!(socket = %socket.id, user = %caller.id, "study-groups: connected");
        self.track(&caller.id, socket);
        socket.set_data(Attendee {
            caller,
            user_name,
            sessions: Mutex::new(HashSet::new()),
        });
    }

    async fn on_event(&self, socket: &Arc<Socket>, event: Event) {
        let ack = event.ack;
        let Some(attendee) = socket.data::<Attendee>() else {
            return;
        };
        let result = match Request::parse(&event) {
            Ok(request) => self.handle(socket, attendee, request).await,
            Err(r) => Err(r),
        };
        answer(socket, ack, result);
    }

    async fn on_disconnect(&self, socket: &Arc<Socket>, _reason: &str) {
        let Some(attendee) = socket.data::<Attendee>() else {
            return;
        };
        self.untrack(&attendee.caller.id, socket);
        let sessions: Vec<String> = attendee.sessions.lock().drain().collect();
        for session_id in sessions {
            self.announce_presence(socket, attendee, &session_id, "userLeft");
        }
    }
}

impl StudyGroups {
    async fn handle(
        &self,
        socket: &Arc<Socket>,
        me: &Attendee,
        request: Request,
    ) -> Result<Map<String, Value>, Refusal> {
        match request {
            Request::JoinSession { session_id } => self.join_session(socket, me, session_id).await,
            Request::LeaveSession { session_id } => {
                if me.sessions.lock().remove(&session_id) {
                    socket.leave(&session_room(&session_id));
                    self.announce_presence(socket, me, &session_id, "userLeft");
                    return Ok(fields(&[
                        ("message", format!("Left session {session_id}").into()),
                        ("sessionId", session_id.into()),
                    ]));
                }
                match self.repo.session(&session_id).await.map_err(unavailable)? {
                    None => Err(refuse(
                        "SESSION_NOT_FOUND",
                        format!("no session `{session_id}`"),
                    )),
                    Some(_) => Ok(fields(&[
                        ("message", format!("Not in session {session_id}").into()),
                        ("sessionId", session_id.into()),
                    ])),
                }
            }
            Request::Typing {
                session_id,
                is_typing,
            } => {
                self.require_joined(me, &session_id)?;
                let data = fields(&[
                    ("sessionId", session_id.clone().into()),
                    ("userId", me.caller.id.clone().into()),
                    ("userName", me.user_name.clone().into()),
                    ("isTyping", is_typing.into()),
                ]);
                self.emit_to_others(socket, &session_id, "typing", data);
                Ok(Map::new())
            }
            Request::ChatRead {
                session_id,
                message_id,
            } => {
                self.require_joined(me, &session_id)?;
                if !self
                    .repo
                    .chat_exists(&session_id, &message_id)
                    .await
                    .map_err(unavailable)?
                {
                    return Err(refuse(
                        "MESSAGE_NOT_FOUND",
                        format!("no message `{message_id}` in session `{session_id}`"),
                    ));
                }
                let read_at = self
                    .repo
                    .mark_read(
                        &session_id,
                        &message_id,
                        &me.caller.id,
                        roomwire_store::now_ms(),
                    )
                    .await
                    .map_err(unavailable)?;
                let read_at = iso8601(read_at);
                let data = fields(&[
                    ("sessionId", session_id.clone().into()),
                    ("messageId", message_id.clone().into()),
                    ("userId", me.caller.id.clone().into()),
                    ("userName", me.user_name.clone().into()),
                    ("readAt", read_at.clone().into()),
                ]);
                self.emit_to_others(socket, &session_id, "chat.read", data);
                Ok(fields(&[
                    ("messageId", message_id.into()),
                    ("readAt", read_at.into()),
                ]))
            }
        }
    }

    async fn join_session(
        &self,
        socket: &Arc<Socket>,
        me: &Attendee,
        session_id: String,
    ) -> Result<Map<String, Value>, Refusal> {
        let session = self
            .repo
            .session(&session_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| refuse("SESSION_NOT_FOUND", format!("no session `{session_id}`")))?;
        let role = self
            .repo
            .role(&session.group_id, &me.caller.id)
            .await
            .map_err(unavailable)?;
        if role.is_none() {
            return Err(refuse(
                "FORBIDDEN",
                "only members of the session's group may join it",
            ));
        }
        // A finished session may still be joined: its members can review it. Until then,
        // joining the room is attending the session (the frontend never calls the REST join).
        if session.status.accepts_attendance() {
            self.attend(&session_id, &me.caller.id)
                .await
                .map_err(unavailable)?;
        }
        let joined = me.sessions.lock().insert(session_id.clone());
        let message = if joined {
            socket.join(&session_room(&session_id));
            self.announce_presence(socket, me, &session_id, "userJoined");
            tracing::debug!(user = %me.caller.id, session_id, "study-groups: joined session");
            format!("Joined session {session_id}")
        } else {
            format!("Already in session {session_id}")
        };
        Ok(fields(&[
            ("message", message.into()),
            ("sessionId", session_id.into()),
        ]))
    }

    fn require_joined(&self, me: &Attendee, session_id: &str) -> Result<(), Refusal> {
        if me.sessions.lock().contains(session_id) {
            Ok(())
        } else {
            Err(refuse(
                "FORBIDDEN",
                format!("join session `{session_id}` first"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, args: Vec<Value>) -> Event {
        Event {
            name: name.into(),
            payload: Payload::json(args),
            ack: Some(1),
        }
    }

    #[test]
    fn parses_the_documented_and_the_bare_forms() {
        assert_eq!(
            Request::parse(&event("joinSession", vec![json!({"sessionId": "s1"})])),
            Ok(Request::JoinSession {
                session_id: "s1".into()
            })
        );
        assert_eq!(
            Request::parse(&event("leaveSession", vec![json!("s1")])),
            Ok(Request::LeaveSession {
                session_id: "s1".into()
            })
        );
        assert_eq!(
            Request::parse(&event(
                "typing",
                vec![json!({"sessionId": "s", "isTyping": false})]
            )),
            Ok(Request::Typing {
                session_id: "s".into(),
                is_typing: false
            })
        );
    }

    #[test]
    fn refuses_malformed_payloads_with_invalid_message() {
        for args in [
            vec![],
            vec![Value::Null],
            vec![json!(42)],
            vec![json!({})],
            vec![json!({"sessionId": 7})],
            vec![json!({"sessionId": ""})],
            vec![json!({"sessionId": "x".repeat(129)})],
        ] {
            let r = Request::parse(&event("joinSession", args.clone())).unwrap_err();
            assert_eq!(r.code, "INVALID_MESSAGE", "{args:?}");
        }
        let r = Request::parse(&event("chat.read", vec![json!({"sessionId": "s"})])).unwrap_err();
        assert_eq!(r.code, "INVALID_MESSAGE");
        let r = Request::parse(&event(
            "typing",
            vec![json!({"sessionId": "s", "isTyping": "yes"})],
        ))
        .unwrap_err();
        assert_eq!(r.code, "INVALID_MESSAGE");
    }

    #[test]
    fn unknown_events_are_named() {
        let r = Request::parse(&event("explode", vec![])).unwrap_err();
        assert_eq!(r.code, "UNKNOWN_EVENT");
        assert!(r.message.contains("explode"));
    }
}
