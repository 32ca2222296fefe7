//! Plain WebSocket JSON envelopes: `roomwire::transport::rawws::decode` for a small test app whose
//! messages are a serde adjacently-tagged enum (`{"event": ..., "data": ...}`) with typed data.
//!
//! Properties, besides "never panics":
//! - every error code is `INVALID_MESSAGE` or `UNKNOWN_EVENT`;
//! - `UNKNOWN_EVENT` only for a JSON object whose `event` is a string the app does not know;
//! - a message that decodes names a known event.
#![no_main]

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use roomwire::transport::rawws::{self, Envelope, OpenRequest, Refusal, WsApp, WsConn};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Meta {
    id: u64,
    #[serde(default)]
    tags: Vec<String>,
    reply_to: Option<Box<Meta>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct SayData {
    room: String,
    text: String,
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Position {
    x: f64,
    y: i32,
    layer: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event", content = "data")]
#[allow(dead_code)]
enum LabMessage {
    #[serde(rename = "join")]
    Join { room: String },
    #[serde(rename = "say")]
    Say(SayData),
    #[serde(rename = "move")]
    Move(Position),
    #[serde(rename = "batch")]
    Batch(Vec<(String, i64)>),
    #[serde(rename = "ping")]
    Ping,
}

const EVENTS: [&str; 5] = ["join", "say", "move", "batch", "ping"];

struct FuzzApp;

#[async_trait]
impl WsApp for FuzzApp {
    type Message = LabMessage;
    type State = ();

    fn name(&self) -> &'static str {
        "fuzz"
    }
    fn envelope(&self) -> Envelope {
        Envelope::Event
    }
    fn knows(&self, event: &str) -> bool {
        EVENTS.contains(&event)
    }
    async fn open(&self, _conn: &WsConn, _request: &OpenRequest) -> Result<(), Refusal> {
        Ok(())
    }
    async fn on_message(&self, _conn: &WsConn, _state: &mut (), _message: LabMessage) {}
    async fn on_close(&self, _conn: &WsConn, _state: (), _code: Option<u16>) {}
}

fn event_name(m: &LabMessage) -> &'static str {
    match m {
        LabMessage::Join { .. } => "join",
        LabMessage::Say(_) => "say",
        LabMessage::Move(_) => "move",
        LabMessage::Batch(_) => "batch",
        LabMessage::Ping => "ping",
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
    } else {
        check(&String::from_utf8_lossy(data));
    }
});

fn check(text: &str) {
    let app = FuzzApp;
    match rawws::decode(&app, text) {
        Ok(m) => assert!(app.knows(event_name(&m))),
        Err(e) => {
            assert!(
                matches!(e.code, "INVALID_MESSAGE" | "UNKNOWN_EVENT"),
                "unexpected code {:?} for {text:?}",
                e.code
            );
            assert!(!e.message.is_empty());
            if e.code == "UNKNOWN_EVENT" {
                let v: Value = serde_json::from_str(text).expect("UNKNOWN_EVENT for invalid JSON");
                match v.get("event") {
                    Some(Value::String(name)) => {
                        assert!(!app.knows(name), "UNKNOWN_EVENT for known {name:?}")
                    }
                    other => panic!("UNKNOWN_EVENT with event = {other:?} for {text:?}"),
                }
            }
        }
    }
}
