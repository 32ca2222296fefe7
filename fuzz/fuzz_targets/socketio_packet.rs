//! Socket.IO v5: `parse_header` then `RawPacket::decode`.
//!
//! Properties, besides "never panics":
//! - the header's fields are slices of the input that obey the grammar;
//! - round trip: a decoded `Event` re-encoded with `encode_event` (minus the leading Engine.IO
//!   `4`) decodes to an equal `Event`; likewise `Ack` with `encode_ack` and `Disconnect` with
//!   `encode_disconnect`.
//!
//! Each input is tried as it is, with a leading Engine.IO `4` stripped (so `42["ev",1]`-style
//! seeds reach the Socket.IO layer), and as lossy UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roomwire::transport::socketio::packet::{
    encode_ack, encode_disconnect, encode_event, parse_header, ClientPacket, DecodeError, Kind,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
        if let Some(inner) = s.strip_prefix('4') {
            check(inner);
        }
    } else {
        let lossy = String::from_utf8_lossy(data);
        check(&lossy);
        if let Some(inner) = lossy.strip_prefix('4') {
            check(inner);
        }
    }
});

fn decode(s: &str) -> Result<ClientPacket, DecodeError> {
    parse_header(s)?.decode()
}

/// Strips the Engine.IO message type our encoders write first.
fn socketio_part(engineio_text: &str) -> &str {
    engineio_text
        .strip_prefix('4')
        .unwrap_or_else(|| panic!("encoder output {engineio_text:?} lacks the leading '4'"))
}

fn check(s: &str) {
    let raw = match parse_header(s) {
        Ok(raw) => raw,
        Err(_) => return,
    };

    // Header invariants.
    assert!(s.ends_with(raw.data), "data is not the tail of {s:?}");
    assert!(raw.nsp.starts_with('/'), "namespace {:?} of {s:?}", raw.nsp);
    assert!(!raw.nsp.contains(','), "namespace {:?} of {s:?}", raw.nsp);
    if !matches!(raw.kind, Kind::BinaryEvent | Kind::BinaryAck) {
        assert_eq!(raw.attachments, 0);
    }
    assert!(
        !raw.data.starts_with(|c: char| c.is_ascii_digit()),
        "ack digits left in data {:?} of {s:?}",
        raw.data
    );

    let decoded = match raw.decode() {
        Ok(p) => p,
        Err(_) => return,
    };

    match &decoded {
        ClientPacket::Event {
            nsp,
            name,
            args,
            ack,
        } => {
            let text = encode_event(nsp, name, args, 0, *ack);
            let again = decode(socketio_part(&text));
            assert_eq!(
                again.as_ref(),
                Ok(&decoded),
                "EVENT round trip failed\n  input:   {s:?}\n  encoded: {text:?}"
            );
        }
        ClientPacket::Ack { nsp, id, args } => {
            let text = encode_ack(nsp, *id, args, 0);
            let again = decode(socketio_part(&text));
            assert_eq!(
                again.as_ref(),
                Ok(&decoded),
                "ACK round trip failed\n  input:   {s:?}\n  encoded: {text:?}"
            );
        }
        ClientPacket::Disconnect { nsp } => {
            let text = encode_disconnect(nsp);
            let again = decode(socketio_part(&text));
            assert_eq!(
                again.as_ref(),
                Ok(&decoded),
                "DISCONNECT round trip failed\n  input:   {s:?}\n  encoded: {text:?}"
            );
        }
        ClientPacket::Connect { nsp, auth } => {
            assert!(nsp.starts_with('/'));
            assert!(matches!(auth, None | Some(serde_json::Value::Object(_))));
        }
    }
}
