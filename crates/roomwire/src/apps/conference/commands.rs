//! What a conference client can send, decoded before anything acts on it.
//!
//! Two vocabularies reach us for the same commands: the document's notification names
//! (`room-locked`, `kicked`, ...) that the current frontend sends, and the verbs of an older
//! client (`lock-room`, `remove-participant`, ...). Both decode to one [`Command`].

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::kit::lenient;

/// Every event name a client may send.
pub const EVENTS: &[&str] = &[
    "join",
    "offer",
    "answer",
    "candidate",
    "room-locked",
    "lock-room",
    "room-unlocked",
    "unlock-room",
    "chat-enabled",
    "enable-chat",
    "chat-disabled",
    "disable-chat",
    "kicked",
    "remove-participant",
    "mute-participant",
    "unmute-participant",
    "mute-all",
    "unmute-all",
    "promote-co-host",
    "add-cohost",
    "demote-co-host",
    "remove-cohost",
    "raise-hand",
    "lower-hand",
    "clear-all-hands",
    "reaction",
    "chat-message",
    "screen-share-start",
    "screen-share-started",
    "screen-share-stop",
    "screen-share-stopped",
    "request-screen-share",
    "approve-screen-share",
    "deny-screen-share",
    "revoke-screen-share",
    "enable-waiting-room",
    "disable-waiting-room",
    "admit-participant",
    "deny-participant",
    "get-waiting-room",
    "start-recording",
    "stop-recording",
    "create-breakout-rooms",
    "close-breakout-rooms",
    "annotation-draw",
    "annotation-clear",
    "ping",
    "leave",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Offer,
    Answer,
    Candidate,
}

impl Signal {
    pub fn event(self) -> &'static str {
        match self {
            Signal::Offer => "offer",
            Signal::Answer => "answer",
            Signal::Candidate => "candidate",
        }
    }
}

/// A host action that only flips a room setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Lock,
    Unlock,
    EnableChat,
    DisableChat,
    EnableWaitingRoom,
    DisableWaitingRoom,
    StartRecording,
    StopRecording,
    MuteAll,
    UnmuteAll,
    ClearHands,
    CloseBreakouts,
}

/// A host action aimed at one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    Kick,
    Mute,
    Unmute,
    PromoteCoHost,
    DemoteCoHost,
    Admit,
    Deny,
    ApproveScreenShare,
    DenyScreenShare,
    RevokeScreenShare,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BreakoutSpec {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerIds", default)]
    pub peer_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Join {
        peer_id: Option<String>,
        username: Option<String>,
    },
    /// Offer, answer or candidate: relayed as sent, to `target`.
    Signal {
        kind: Signal,
        target: Option<String>,
        data: Map<String, Value>,
    },
    Setting(Setting),
    Target {
        action: TargetAction,
        target: Option<String>,
    },
    RaiseHand,
    LowerHand {
        target: Option<String>,
    },
    Reaction {
        emoji: String,
    },
    Chat {
        id: Option<String>,
        message: String,
        timestamp: Option<i64>,
        kind: Option<String>,
    },
    ScreenShare {
        started: bool,
        /// The name the client used, relayed as sent.
        event: &'static str,
    },
    RequestScreenShare,
    GetWaitingRoom,
    CreateBreakouts {
        rooms: Vec<BreakoutSpec>,
    },
    AnnotationDraw(Map<String, Value>),
    AnnotationClear,
    Ping,
    Leave,
}

#[derive(Deserialize)]
struct JoinData {
    #[serde(rename = "peerId", default, deserialize_with = "lenient::text")]
    peer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    username: Option<String>,
}

#[derive(Deserialize)]
struct TargetData {
    #[serde(
        rename = "targetPeerId",
        alias = "peerId",
        default,
        deserialize_with = "lenient::text"
    )]
    target: Option<String>,
}

#[derive(Deserialize)]
struct ReactionData {
    emoji: String,
}

/// A chat message as clients send it. The XSAMI frontend sends `timestamp: new Date()`,
/// which arrives as an ISO 8601 string; the document says milliseconds. Both are accepted.
#[derive(Deserialize)]
struct ChatData {
    #[serde(default, deserialize_with = "lenient::text")]
    id: Option<String>,
    message: String,
    #[serde(default, deserialize_with = "lenient::millis")]
    timestamp: Option<i64>,
    #[serde(rename = "type", default, deserialize_with = "lenient::text")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct BreakoutData {
    rooms: Vec<BreakoutSpec>,
}

fn typed<T: DeserializeOwned>(event: &str, data: Value) -> Result<T, String> {
    serde_json::from_value(data).map_err(|e| format!("invalid `{event}` data: {e}"))
}

fn object(event: &str, data: Value) -> Result<Map<String, Value>, String> {
    match data {
        Value::Object(m) => Ok(m),
        _ => Err(format!("`{event}` data must be an object")),
    }
}

/// Decodes one command from its event name and data (`null` when absent).
pub fn parse(event: &str, data: Value) -> Result<Command, String> {
    let target = |action: TargetAction, data: Value| -> Result<Command, String> {
        let TargetData { target } = typed(event, data)?;
        Ok(Command::Target { action, target })
    };
    let data = if data.is_null() {
        Value::Object(Map::new())
    } else {
        data
    };
    Ok(match event {
        "join" => {
            let JoinData { peer_id, username } = typed(event, data)?;
            Command::Join { peer_id, username }
        }
        "offer" | "answer" | "candidate" => {
            let kind = match event {
                "offer" => Signal::Offer,
                "answer" => Signal::Answer,
                _ => Signal::Candidate,
            };
            let data = object(event, data)?;
            let target = data
                .get("targetPeerId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Command::Signal { kind, target, data }
        }
        "room-locked" | "lock-room" => Command::Setting(Setting::Lock),
        "room-unlocked" | "unlock-room" => Command::Setting(Setting::Unlock),
        "chat-enabled" | "enable-chat" => Command::Setting(Setting::EnableChat),
        "chat-disabled" | "disable-chat" => Command::Setting(Setting::DisableChat),
        "enable-waiting-room" => Command::Setting(Setting::EnableWaitingRoom),
        "disable-waiting-room" => Command::Setting(Setting::DisableWaitingRoom),
        "start-recording" => Command::Setting(Setting::StartRecording),
        "stop-recording" => Command::Setting(Setting::StopRecording),
        "mute-all" => Command::Setting(Setting::MuteAll),
        "unmute-all" => Command::Setting(Setting::UnmuteAll),
        "clear-all-hands" => Command::Setting(Setting::ClearHands),
        "close-breakout-rooms" => Command::Setting(Setting::CloseBreakouts),
        "kicked" | "remove-participant" => target(TargetAction::Kick, data)?,
        "mute-participant" => target(TargetAction::Mute, data)?,
        "unmute-participant" => target(TargetAction::Unmute, data)?,
        "promote-co-host" | "add-cohost" => target(TargetAction::PromoteCoHost, data)?,
        "demote-co-host" | "remove-cohost" => target(TargetAction::DemoteCoHost, data)?,
        "admit-participant" => target(TargetAction::Admit, data)?,
        "deny-participant" => target(TargetAction::Deny, data)?,
        "approve-screen-share" => target(TargetAction::ApproveScreenShare, data)?,
        "deny-screen-share" => target(TargetAction::DenyScreenShare, data)?,
        "revoke-screen-share" => target(TargetAction::RevokeScreenShare, data)?,
        "raise-hand" => Command::RaiseHand,
        "lower-hand" => {
            let TargetData { target } = typed(event, data)?;
            Command::LowerHand { target }
        }
        "reaction" => {
            let ReactionData { emoji } = typed(event, data)?;
            Command::Reaction { emoji }
        }
        "chat-message" => {
            let ChatData {
                id,
                message,
                timestamp,
                kind,
            } = typed(event, data)?;
            Command::Chat {
                id,
                message,
                timestamp,
                kind,
            }
        }
        "screen-share-start" => Command::ScreenShare {
            started: true,
            event: "screen-share-start",
        },
        "screen-share-started" => Command::ScreenShare {
            started: true,
            event: "screen-share-started",
        },
        "screen-share-stop" => Command::ScreenShare {
            started: false,
            event: "screen-share-stop",
        },
        "screen-share-stopped" => Command::ScreenShare {
            started: false,
            event: "screen-share-stopped",
        },
        "request-screen-share" => Command::RequestScreenShare,
        "get-waiting-room" => Command::GetWaitingRoom,
        "create-breakout-rooms" => {
            let BreakoutData { rooms } = typed(event, data)?;
            Command::CreateBreakouts { rooms }
        }
        "annotation-draw" => Command::AnnotationDraw(object(event, data)?),
        "annotation-clear" => Command::AnnotationClear,
        "ping" => Command::Ping,
        "leave" => Command::Leave,
        other => return Err(format!("unknown variant `{other}`")),
    })
}

impl<'de> Deserialize<'de> for Command {
    /// Decodes a whole envelope `{"event": NAME, "data": ...}`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut envelope = Map::deserialize(d)?;
        let event = match envelope.remove("event") {
            Some(Value::String(s)) => s,
            _ => return Err(D::Error::custom("missing event")),
        };
        let data = envelope.remove("data").unwrap_or(Value::Null);
        parse(&event, data).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Result<Command, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn both_vocabularies_decode_to_one_command() {
        assert_eq!(
            decode(json!({"event": "room-locked", "data": {}})),
            Ok(Command::Setting(Setting::Lock))
        );
        assert_eq!(
            decode(json!({"event": "lock-room"})),
            Ok(Command::Setting(Setting::Lock))
        );
        assert_eq!(
            decode(json!({"event": "remove-participant", "data": {"peerId": "p2"}})),
            Ok(Command::Target {
                action: TargetAction::Kick,
                target: Some("p2".into())
            })
        );
        assert_eq!(
            decode(json!({"event": "kicked", "data": {"targetPeerId": "p3"}})),
            Ok(Command::Target {
                action: TargetAction::Kick,
                target: Some("p3".into())
            })
        );
    }

    #[test]
    fn signals_keep_their_data_whatever_its_shape() {
        let c = decode(json!({"event": "candidate", "data": {"targetPeerId": "b", "candidate": {"candidate": "x", "sdpMid": "0"}}})).unwrap();
        let Command::Signal { kind, target, data } = c else {
            panic!()
        };
        assert_eq!((kind, target.as_deref()), (Signal::Candidate, Some("b")));
        assert!(data["candidate"].is_object());
    }

    #[test]
    fn chat_from_the_xsami_frontend_decodes_with_its_iso_timestamp() {
        let c = decode(json!({"event": "chat-message", "data": {
            "id": "msg_1764920235493_k3j2h1g0f", "username": "Bob", "message": "hello from Bob",
            "timestamp": "2026-12-05T07:37:15.493Z", "type": "text"}}))
        .unwrap();
        assert_eq!(
            c,
            Command::Chat {
                id: Some("msg_1764920235493_k3j2h1g0f".into()),
                message: "hello from Bob".into(),
                timestamp: Some(1_796_456_235_493),
                kind: Some("text".into()),
            }
        );
        let e = decode(json!({"event": "chat-message", "data": {"message": "x", "timestamp": {}}}))
            .unwrap_err();
        assert!(e.contains("chat-message") && e.contains("ISO 8601"), "{e}");
    }

    #[test]
    fn bad_data_is_an_error_naming_the_event() {
        let e = decode(json!({"event": "chat-message", "data": {"message": 5}})).unwrap_err();
        assert!(e.contains("chat-message"), "{e}");
        assert!(decode(json!({"event": "offer", "data": "x"})).is_err());
        assert!(decode(json!({"data": {}})).is_err());
    }

    #[test]
    fn every_listed_event_parses_with_empty_data() {
        for event in EVENTS {
            let r = parse(event, json!({}));
            let needs_fields =
                ["reaction", "chat-message", "create-breakout-rooms"].contains(event);
            assert_eq!(r.is_ok(), !needs_fields, "{event}: {r:?}");
        }
    }
}
