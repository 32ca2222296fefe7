//! Socket.IO protocol v5 packets: `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`.
//!
//! Decoding is strict: whatever does not match the grammar, or whose data does not have the
//! shape its type requires, is a [`DecodeError`], and the connection that sent it is closed
//! (what the reference server does). Encoding writes compact JSON in the order given.

use serde_json::Value;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

/// A packet header parsed from text, with its data still unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket<'a> {
    pub kind: Kind,
    pub attachments: usize,
    pub nsp: &'a str,
    pub ack: Option<u64>,
    pub data: &'a str,
}

/// A packet from a client, decoded and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientPacket {
    Connect {
        nsp: String,
        auth: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        name: String,
        args: Vec<Value>,
        ack: Option<u64>,
    },
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type")]
    UnknownType,
    #[error("bad attachment count")]
    Attachments,
    #[error("bad ack id")]
    AckId,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid payload for this packet type")]
    Payload,
    #[error("packet type not allowed from a client")]
    NotFromClient,
}

/// Longest ack id accepted: ids are JavaScript numbers on the other side.
const MAX_ACK_DIGITS: usize = 15;

pub fn parse_header(s: &str) -> Result<RawPacket<'_>, DecodeError> {
    let bytes = s.as_bytes();
    let kind = match bytes.first().ok_or(DecodeError::Empty)? {
        b'0' => Kind::Connect,
        b'1' => Kind::Disconnect,
        b'2' => Kind::Event,
        b'3' => Kind::Ack,
        b'4' => Kind::ConnectError,
        b'5' => Kind::BinaryEvent,
        b'6' => Kind::BinaryAck,
        _ => return Err(DecodeError::UnknownType),
    };
    let mut i = 1;
    let mut attachments = 0usize;
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 6 || bytes.get(i) != Some(&b'-') {
            return Err(DecodeError::Attachments);
        }
        attachments = s[start..i].parse().map_err(|_| DecodeError::Attachments)?;
        i += 1;
    }
    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let end = s[i..].find(',').map(|p| i + p).unwrap_or(s.len());
        nsp = &s[i..end];
        i = if end < s.len() { end + 1 } else { end };
    }
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let ack = if i > start {
        if i - start > MAX_ACK_DIGITS {
            return Err(DecodeError::AckId);
        }
        Some(s[start..i].parse().map_err(|_| DecodeError::AckId)?)
    } else {
        None
    };
    Ok(RawPacket {
        kind,
        attachments,
        nsp,
        ack,
        data: &s[i..],
    })
}

impl RawPacket<'_> {
    /// Parses the data according to the packet type.
    pub fn decode(&self) -> Result<ClientPacket, DecodeError> {
        let nsp = self.nsp.to_owned();
        let json = || -> Result<Value, DecodeError> {
            serde_json::from_str(self.data).map_err(|e| DecodeError::Json(e.to_string()))
        };
        match self.kind {
            Kind::Connect => {
                if self.ack.is_some() {
                    return Err(DecodeError::Payload);
                }
                let auth = if self.data.is_empty() {
                    None
                } else {
                    match json()? {
                        v @ Value::Object(_) => Some(v),
                        _ => return Err(DecodeError::Payload),
                    }
                };
                Ok(ClientPacket::Connect { nsp, auth })
            }
            Kind::Disconnect => {
                if !self.data.is_empty() || self.ack.is_some() {
                    return Err(DecodeError::Payload);
                }
                Ok(ClientPacket::Disconnect { nsp })
            }
            Kind::Event | Kind::BinaryEvent => {
                let Value::Array(mut args) = json()? else {
                    return Err(DecodeError::Payload);
                };
                if args.is_empty() {
                    return Err(DecodeError::Payload);
                }
                let Value::String(name) = args.remove(0) else {
                    return Err(DecodeError::Payload);
                };
                Ok(ClientPacket::Event {
                    nsp,
                    name,
                    args,
                    ack: self.ack,
                })
            }
            Kind::Ack | Kind::BinaryAck => {
                let id = self.ack.ok_or(DecodeError::AckId)?;
                let Value::Array(args) = json()? else {
                    return Err(DecodeError::Payload);
                };
                Ok(ClientPacket::Ack { nsp, id, args })
            }
            Kind::ConnectError => Err(DecodeError::NotFromClient),
        }
    }
}

/// Writes `4` (Engine.IO message), the type digit, the attachment count and the namespace.
fn head(out: &mut String, kind: char, binary_kind: char, attachments: usize, nsp: &str) {
    out.push('4');
    if attachments > 0 {
        out.push(binary_kind);
        let _ = write!(out, "{attachments}-");
    } else {
        out.push(kind);
    }
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
}

fn push_json(out: &mut String, v: &Value) {
    // Writing into a String cannot fail and `Value` always serializes.
    let _ = serde_json::to_writer(string_writer(out), v);
}

/// `serde_json` writes UTF-8 only, so appending its output to a `String` keeps it valid.
fn string_writer(out: &mut String) -> impl std::io::Write + '_ {
    struct W<'a>(&'a mut String);
    impl std::io::Write for W<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let s = std::str::from_utf8(buf)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.0.push_str(s);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(out)
}

/// The Engine.IO text of an EVENT (or BINARY_EVENT when `attachments > 0`).
pub fn encode_event(
    nsp: &str,
    event: &str,
    args: &[Value],
    attachments: usize,
    ack: Option<u64>,
) -> String {
    let mut out = String::with_capacity(16 + nsp.len() + event.len() + 32 * args.len());
    head(&mut out, '2', '5', attachments, nsp);
    if let Some(id) = ack {
        let _ = write!(out, "{id}");
    }
    out.push('[');
    push_json(&mut out, &Value::String(event.to_owned()));
    for a in args {
        out.push(',');
        push_json(&mut out, a);
    }
    out.push(']');
    out
}

/// The Engine.IO text of an ACK (or BINARY_ACK).
pub fn encode_ack(nsp: &str, id: u64, args: &[Value], attachments: usize) -> String {
    let mut out = String::with_capacity(16 + nsp.len() + 32 * args.len());
    head(&mut out, '3', '6', attachments, nsp);
    let _ = write!(out, "{id}[");
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json(&mut out, a);
    }
    out.push(']');
    out
}

pub fn encode_connect(nsp: &str, sid: &str) -> String {
    let mut out = String::new();
    head(&mut out, '0', '0', 0, nsp);
    out.push_str("{\"sid\":");
    push_json(&mut out, &Value::String(sid.to_owned()));
    out.push('}');
    out
}

pub fn encode_connect_error(nsp: &str, message: &str, data: Option<&Value>) -> String {
    let mut out = String::new();
    head(&mut out, '4', '4', 0, nsp);
    out.push_str("{\"message\":");
    push_json(&mut out, &Value::String(message.to_owned()));
    if let Some(d) = data {
        out.push_str(",\"data\":");
        push_json(&mut out, d);
    }
    out.push('}');
    out
}

pub fn encode_disconnect(nsp: &str) -> String {
    let mut out = String::new();
    head(&mut out, '1', '1', 0, nsp);
    out
}

/// A binary placeholder as the protocol writes it, with keys in the reference order.
pub fn placeholder(num: usize) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("_placeholder".into(), Value::Bool(true));
    m.insert("num".into(), Value::from(num));
    Value::Object(m)
}

/// The attachment index a value stands for, if it is a placeholder.
pub fn placeholder_num(v: &Value) -> Option<usize> {
    let o = v.as_object()?;
    if o.get("_placeholder")? != &Value::Bool(true) {
        return None;
    }
    o.get("num")?.as_u64().map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(s: &str) -> Result<ClientPacket, DecodeError> {
        parse_header(s)?.decode()
    }

    #[test]
    fn connect_forms() {
        assert_eq!(
            decode("0"),
            Ok(ClientPacket::Connect {
                nsp: "/".into(),
                auth: None
            })
        );
        assert_eq!(
            decode("0/custom,"),
            Ok(ClientPacket::Connect {
                nsp: "/custom".into(),
                auth: None
            })
        );
        assert_eq!(
            decode("0/custom"),
            Ok(ClientPacket::Connect {
                nsp: "/custom".into(),
                auth: None
            })
        );
        assert_eq!(
            decode("0/admin,{\"token\":\"x\"}"),
            Ok(ClientPacket::Connect {
                nsp: "/admin".into(),
                auth: Some(json!({"token": "x"}))
            })
        );
        assert_eq!(decode("0\"str\""), Err(DecodeError::Payload));
    }

    #[test]
    fn events_and_acks() {
        assert_eq!(
            decode("2/chat,12[\"hi\",1]"),
            Ok(ClientPacket::Event {
                nsp: "/chat".into(),
                name: "hi".into(),
                args: vec![json!(1)],
                ack: Some(12)
            })
        );
        assert_eq!(
            decode("3/chat,12[\"ok\"]"),
            Ok(ClientPacket::Ack {
                nsp: "/chat".into(),
                id: 12,
                args: vec![json!("ok")]
            })
        );
        let raw = parse_header("52-/x,[\"b\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!(raw.attachments, 2);
        assert_eq!(raw.nsp, "/x");
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert!(decode("").is_err());
        assert!(decode("4abc").is_err());
        assert!(decode("2{}").is_err());
        assert!(decode("2abc[\"x\"]").is_err());
        assert!(decode("2[]").is_err());
        assert!(decode("2[1]").is_err());
        assert!(decode("3[]").is_err());
        assert!(decode("5-[\"x\"]").is_err());
        assert!(decode("21234567890123456[\"x\"]").is_err());
        assert!(decode("9").is_err());
        assert!(decode("2[\"x\"").is_err());
    }

    #[test]
    fn encodings_are_compact_and_ordered() {
        assert_eq!(
            encode_event("/", "m", &[json!({"b": 1, "a": 2})], 0, None),
            "42[\"m\",{\"b\":1,\"a\":2}]"
        );
        assert_eq!(
            encode_event("/x", "m", &[placeholder(0)], 1, Some(3)),
            "451-/x,3[\"m\",{\"_placeholder\":true,\"num\":0}]"
        );
        assert_eq!(encode_ack("/", 7, &[json!(1)], 0), "437[1]");
        assert_eq!(encode_connect("/", "abc"), "40{\"sid\":\"abc\"}");
        assert_eq!(
            encode_connect_error("/random", "Invalid namespace", None),
            "44/random,{\"message\":\"Invalid namespace\"}"
        );
        assert_eq!(encode_disconnect("/"), "41");
        assert_eq!(encode_disconnect("/a"), "41/a,");
    }
}
