//! Engine.IO v4: `Packet::decode_text` (one WebSocket frame / polling record) and
//! `decode_payload` (a long-polling body of records joined by `\x1e`).
//!
//! Properties, besides "never panics":
//! - a decoded packet's data is exactly the text after the type character;
//! - a decoded binary packet re-encodes (`b` + base64) to the same record (canonical base64);
//! - `decode_payload` agrees record by record with `decode_text`, and a payload that decodes
//!   re-encodes with `encode_polling` to the same body;
//! - a payload built by `encode_polling` from arbitrary frames decodes back to those frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomwire::transport::engineio::packet::{
    decode_payload, encode_polling, Packet, PacketError, SEPARATOR,
};
use roomwire::hub::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check_text(s);
    }
    let lossy = String::from_utf8_lossy(data);
    check_text(&lossy);
    encode_then_decode(data);
});

fn check_text(s: &str) {
    // One record.
    match Packet::decode_text(s) {
        Ok(p) => check_packet(s, &p),
        Err(e) => check_error(s, &e),
    }

    // A polling body.
    let records: Vec<&str> = s.split(SEPARATOR).collect();
    match decode_payload(s) {
        Ok(packets) => {
            assert_eq!(packets.len(), records.len(), "payload {s:?}");
            let mut body = String::new();
            for (p, r) in packets.iter().zip(&records) {
                assert_eq!(Ok(p.clone()), Packet::decode_text(r), "record {r:?} of {s:?}");
                let frame = match p {
                    Packet::BinaryMessage(b) => Frame::Binary(b.clone()),
                    _ => Frame::text(*r),
                };
                encode_polling(&mut body, &frame);
            }
            assert_eq!(body, s, "payload does not re-encode to itself");
        }
        Err(e) => {
            let first_bad = records
                .iter()
                .find_map(|r| Packet::decode_text(r).err())
                .expect("decode_payload failed but every record decodes");
            assert_eq!(e, first_bad, "payload {s:?}");
        }
    }
}

fn check_packet(s: &str, p: &Packet<'_>) {
    let mut chars = s.chars();
    let kind = chars.next().expect("decoded a packet from empty text");
    let rest = chars.as_str();
    match p {
        Packet::Open(d) => assert!(kind == '0' && *d == rest),
        Packet::Close => assert_eq!(kind, '1'),
        Packet::Ping(d) => assert!(kind == '2' && *d == rest),
        Packet::Pong(d) => assert!(kind == '3' && *d == rest),
        Packet::Message(d) => assert!(kind == '4' && *d == rest),
        Packet::Upgrade => assert!(kind == '5' && rest.is_empty()),
        Packet::Noop => assert!(kind == '6' && rest.is_empty()),
        Packet::BinaryMessage(b) => {
            assert_eq!(kind, 'b');
            let mut again = String::new();
            encode_polling(&mut again, &Frame::Binary(b.clone()));
            assert_eq!(again, s, "binary record is not canonical base64");
        }
    }
}

fn check_error(s: &str, e: &PacketError) {
    match e {
        PacketError::Empty => assert!(s.is_empty()),
        PacketError::UnknownType(c) => {
            assert_eq!(s.chars().next(), Some(*c));
            assert!(!matches!(c, '0'..='6' | 'b'));
        }
        PacketError::Base64 => assert!(s.starts_with('b')),
        PacketError::TrailingData(c) => {
            assert!(matches!(c, '5' | '6') && s.starts_with(*c) && s.len() > 1)
        }
    }
}

/// Frames from the fuzz input (chunks split at 0xff; a chunk's first byte picks binary or
/// text), encoded with `encode_polling`, must decode back to the same packets.
fn encode_then_decode(data: &[u8]) {
    let mut frames = Vec::new();
    for chunk in data.split(|&b| b == 0xff) {
        let Some((&sel, rest)) = chunk.split_first() else {
            continue;
        };
        if sel & 1 == 1 {
            frames.push(Frame::Binary(rest.to_vec().into()));
        } else {
            // A text frame is an Engine.IO packet: type digit + data without separators.
            let text: String = String::from_utf8_lossy(rest)
                .chars()
                .filter(|&c| c != SEPARATOR)
                .collect();
            let kind = (b'0' + (sel >> 1) % 5) as char; // 0..4: types that carry data
            frames.push(Frame::text(format!("{kind}{text}")));
        }
    }
    if frames.is_empty() {
        return;
    }
    let mut body = String::new();
    for f in &frames {
        encode_polling(&mut body, f);
    }
    let packets = decode_payload(&body)
        .unwrap_or_else(|e| panic!("encode_polling output {body:?} does not decode: {e}"));
    assert_eq!(packets.len(), frames.len(), "body {body:?}");
    for (p, f) in packets.iter().zip(&frames) {
        match (p, f) {
            (Packet::BinaryMessage(b), Frame::Binary(fb)) => assert_eq!(b, fb),
            (_, Frame::Text(t)) => assert_eq!(Ok(p.clone()), Packet::decode_text(t.as_str())),
            _ => panic!("frame {f:?} decoded as {p:?}"),
        }
    }
}
