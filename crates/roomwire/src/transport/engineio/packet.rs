//! Engine.IO v4 packets and the long-polling payload format.
//!
//! A packet is a type digit followed by its data: `0` open, `1` close, `2` ping, `3` pong,
//! `4` message, `5` upgrade, `6` noop. Over WebSocket, each text frame is one packet and each
//! binary frame is a binary message. Over long-polling, packets are joined by the record
//! separator `\x1e`, and a binary message is written `b` + base64.

use base64::Engine as _;
use bytes::Bytes;

pub const SEPARATOR: char = '\u{1e}';

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Open(&'a str),
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Message(&'a str),
    BinaryMessage(Bytes),
    Upgrade,
    Noop,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("invalid base64 in binary packet")]
    Base64,
    #[error("unexpected data after packet type {0}")]
    TrailingData(char),
}

impl<'a> Packet<'a> {
    /// Decodes one text packet (WebSocket text frame, or one record of a polling payload).
    pub fn decode_text(s: &'a str) -> Result<Packet<'a>, PacketError> {
        let mut chars = s.chars();
        let kind = chars.next().ok_or(PacketError::Empty)?;
        let data = &s[kind.len_utf8()..];
        Ok(match kind {
            '0' => Packet::Open(data),
            '1' => Packet::Close,
            '2' => Packet::Ping(data),
            '3' => Packet::Pong(data),
            '4' => Packet::Message(data),
            '5' if data.is_empty() => Packet::Upgrade,
            '6' if data.is_empty() => Packet::Noop,
            '5' | '6' => return Err(PacketError::TrailingData(kind)),
            'b' => Packet::BinaryMessage(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|_| PacketError::Base64)?
                    .into(),
            ),
            other => return Err(PacketError::UnknownType(other)),
        })
    }
}

/// Splits a polling POST body into its packets.
pub fn decode_payload(body: &str) -> Result<Vec<Packet<'_>>, PacketError> {
    body.split(SEPARATOR).map(Packet::decode_text).collect()
}

/// Appends one outgoing frame to a polling response body.
pub fn encode_polling(out: &mut String, frame: &crate::hub::Frame) {
    if !out.is_empty() {
        out.push(SEPARATOR);
    }
    match frame {
        crate::hub::Frame::Text(t) => out.push_str(t.as_str()),
        crate::hub::Frame::Binary(b) => {
            out.push('b');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Frame;

    #[test]
    fn decodes_every_type() {
        assert_eq!(Packet::decode_text("4hello"), Ok(Packet::Message("hello")));
        assert_eq!(Packet::decode_text("2probe"), Ok(Packet::Ping("probe")));
        assert_eq!(Packet::decode_text("3"), Ok(Packet::Pong("")));
        assert_eq!(Packet::decode_text("5"), Ok(Packet::Upgrade));
        assert_eq!(Packet::decode_text("6"), Ok(Packet::Noop));
        assert_eq!(Packet::decode_text("1"), Ok(Packet::Close));
        assert_eq!(
            Packet::decode_text("bAQID"),
            Ok(Packet::BinaryMessage(Bytes::from_static(&[1, 2, 3])))
        );
        assert_eq!(Packet::decode_text(""), Err(PacketError::Empty));
        assert_eq!(Packet::decode_text("9"), Err(PacketError::UnknownType('9')));
        assert_eq!(Packet::decode_text("b!!"), Err(PacketError::Base64));
        assert_eq!(Packet::decode_text("é"), Err(PacketError::UnknownType('é')));
    }

    #[test]
    fn payload_round_trip() {
        let mut body = String::new();
        encode_polling(&mut body, &Frame::text("4hi"));
        encode_polling(&mut body, &Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])));
        assert_eq!(body, "4hi\u{1e}bAQIDBA==");
        let packets = decode_payload(&body).unwrap();
        assert_eq!(packets[0], Packet::Message("hi"));
        assert_eq!(
            packets[1],
            Packet::BinaryMessage(Bytes::from_static(&[1, 2, 3, 4]))
        );
    }
}
