//! A minimal Socket.IO v4 client (Engine.IO v4 over WebSocket only, namespace `/`, text
//! packets only): what the benchmark needs and nothing else, written to stay small per
//! connection.
//!
//! Wire: the server opens with `0{"sid":...,"pingInterval":...}`; the client sends `40` and waits
//! for `40{"sid":...}`; the server pings with `2`, the client answers `3`; events are
//! `42["name",args...]`, with an ack id `42<id>[...]`, answered by `43<id>[...]`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::clock::{instant_at, now_ns};
use crate::hist::Histogram;
use crate::net::Net;
use crate::record::Recorder;
use crate::wsclient::{Frame, WsClient};

// ---------------------------------------------------------------------------------------------
// Codec

/// An Engine.IO packet as the client sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum EioPacket<'a> {
    /// `0{json}`: the handshake.
    Open(&'a str),
    Close,
    /// `2` (with an optional probe payload).
    Ping(&'a str),
    Pong(&'a str),
    /// `4...`: a Socket.IO packet.
    Message(SioPacket<'a>),
    Upgrade,
    Noop,
}

/// A Socket.IO packet (default namespace unless `nsp` says otherwise).
#[derive(Debug, PartialEq, Eq)]
pub enum SioPacket<'a> {
    Connect {
        nsp: &'a str,
        data: &'a str,
    },
    Disconnect {
        nsp: &'a str,
    },
    /// `data` is the JSON array `["name", args...]`.
    Event {
        nsp: &'a str,
        ack: Option<u64>,
        data: &'a str,
    },
    /// `data` is the JSON array of the ack's arguments.
    Ack {
        nsp: &'a str,
        id: u64,
        data: &'a str,
    },
    ConnectError {
        nsp: &'a str,
        data: &'a str,
    },
    /// Binary events and acks are not used by the benchmark.
    Binary,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses one Engine.IO text frame.
pub fn parse(text: &str) -> Result<EioPacket<'_>, ParseError> {
    let mut chars = text.chars();
    let Some(kind) = chars.next() else {
        return Err(ParseError("empty packet"));
    };
    let rest = &text[1..];
    Ok(match kind {
        '0' => EioPacket::Open(rest),
        '1' => EioPacket::Close,
        '2' => EioPacket::Ping(rest),
        '3' => EioPacket::Pong(rest),
        '4' => EioPacket::Message(parse_sio(rest)?),
        '5' => EioPacket::Upgrade,
        '6' => EioPacket::Noop,
        _ => return Err(ParseError("unknown Engine.IO packet type")),
    })
}

/// Parses a Socket.IO packet (the part after the Engine.IO `4`).
pub fn parse_sio(s: &str) -> Result<SioPacket<'_>, ParseError> {
    let bytes = s.as_bytes();
    let Some(&kind) = bytes.first() else {
        return Err(ParseError("empty Socket.IO packet"));
    };
    let mut i = 1;
    if kind == b'5' || kind == b'6' {
        return Ok(SioPacket::Binary);
    }
    // Namespace: `/name,` (only when not the default namespace).
    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let end = s[i..].find(',').map(|p| i + p).unwrap_or(bytes.len());
        nsp = &s[i..end];
        i = (end + 1).min(bytes.len());
    }
    // Ack id: digits before the data.
    let digits_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let id = if i > digits_start {
        Some(
            s[digits_start..i]
                .parse::<u64>()
                .map_err(|_| ParseError("ack id out of range"))?,
        )
    } else {
        None
    };
    let data = &s[i..];
    Ok(match kind {
        b'0' => SioPacket::Connect { nsp, data },
        b'1' => SioPacket::Disconnect { nsp },
        b'2' => {
            if !data.starts_with('[') {
                return Err(ParseError("event data is not an array"));
            }
            SioPacket::Event { nsp, ack: id, data }
        }
        b'3' => {
            let id = id.ok_or(ParseError("ack without id"))?;
            if !data.starts_with('[') {
                return Err(ParseError("ack data is not an array"));
            }
            SioPacket::Ack { nsp, id, data }
        }
        b'4' => SioPacket::ConnectError { nsp, data },
        _ => return Err(ParseError("unknown Socket.IO packet type")),
    })
}

/// The event name of an EVENT's data array, when it is a plain string (no escapes).
pub fn event_name(data: &str) -> Option<&str> {
    let rest = data.strip_prefix("[\"")?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    (!name.contains('\\')).then_some(name)
}

/// Encodes an EVENT on namespace `/`: `42<ack>["event",arg1,arg2...]`, where every argument is
/// already JSON text.
pub fn encode_event(event: &str, args: &[&str], ack: Option<u64>) -> String {
    let mut out =
        String::with_capacity(8 + event.len() + args.iter().map(|a| a.len() + 1).sum::<usize>());
    out.push_str("42");
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    out.push('[');
    out.push_str(&serde_json::to_string(event).expect("a string serializes"));
    for a in args {
        out.push(',');
        out.push_str(a);
    }
    out.push(']');
    out
}

/// The send time `"t":<digits>` of a benchmark payload, wherever it sits in the message.
pub fn extract_t(text: &str) -> Option<u64> {
    let at = text.find("\"t\":")? + 4;
    let digits = text[at..].trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The benchmark payload: `{"t":<ns>,"p":"<padding>"}` (JSON text).
pub fn payload(t: u64, pad: &str) -> String {
    format!("{{\"t\":{t},\"p\":\"{pad}\"}}")
}

/// Padding that makes [`payload`] about `size` bytes long.
pub fn padding_for(size: usize) -> String {
    "x".repeat(size.saturating_sub(25))
}

// ---------------------------------------------------------------------------------------------
// Client

/// How long a join waits for its ack before emitting again.
pub const JOIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Joins emitted again because their ack did not come (see [`SioConn::join`]).
pub static JOIN_RETRIES: AtomicU64 = AtomicU64::new(0);

/// An open Socket.IO connection (Engine.IO handshake done, connected to namespace `/`).
pub struct SioConn {
    pub ws: WsClient,
    next_ack: u64,
}

impl SioConn {
    /// TCP, WebSocket upgrade, Engine.IO handshake, namespace connect.
    pub async fn open(net: &Net) -> anyhow::Result<SioConn> {
        let ws = WsClient::connect(net, "/socket.io/?EIO=4&transport=websocket").await?;
        let mut conn = SioConn { ws, next_ack: 1 };
        let open = conn
            .next_text()
            .await
            .context("waiting for the Engine.IO open")?;
        if !open.starts_with('0') {
            bail!("expected an Engine.IO open packet, got {open:.60}");
        }
        conn.ws.send_text("40").await?;
        loop {
            let text = conn.next_text().await.context("waiting for CONNECT")?;
            match parse(&text).map_err(|e| anyhow!("{e}: {text:.60}"))? {
                EioPacket::Message(SioPacket::Connect { .. }) => return Ok(conn),
                EioPacket::Message(SioPacket::ConnectError { data, .. }) => {
                    bail!("connect_error {data:.100}")
                }
                EioPacket::Ping(_) => conn.ws.send_text("3").await?,
                _ => {}
            }
        }
    }

    /// Emits `join` (room) with an ack and waits for the ack. If no ack comes within
    /// [`JOIN_RETRY_AFTER`], emits `join` again (counted in [`JOIN_RETRIES`]): a server that
    /// sends CONNECT before its connection handler has registered the event handlers drops an
    /// event emitted right after CONNECT, as any real client would.
    pub async fn join(&mut self, room: &str) -> anyhow::Result<()> {
        let room_json = serde_json::to_string(room)?;
        let mut ids = Vec::new();
        loop {
            let id = self.next_ack;
            self.next_ack += 1;
            ids.push(id);
            self.ws
                .send_text(&encode_event("join", &[&room_json], Some(id)))
                .await?;
            let wait = tokio::time::timeout(JOIN_RETRY_AFTER, async {
                loop {
                    let text = self.next_text().await.context("waiting for the join ack")?;
                    match parse(&text).map_err(|e| anyhow!("{e}: {text:.60}"))? {
                        EioPacket::Message(SioPacket::Ack { id: got, .. })
                            if ids.contains(&got) =>
                        {
                            return anyhow::Ok(())
                        }
                        EioPacket::Ping(_) => self.ws.send_text("3").await?,
                        _ => {}
                    }
                }
            })
            .await;
            match wait {
                Ok(result) => return result,
                Err(_) => {
                    JOIN_RETRIES.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// The next text message (WebSocket pings are answered on the way).
    async fn next_text(&mut self) -> anyhow::Result<String> {
        self.ws.next_text().await
    }
}

/// Opens a connection and joins `room` (if any), within the setup timeout.
pub async fn open_and_join(net: &Net, room: Option<&str>) -> anyhow::Result<SioConn> {
    const STAGES: [&str; 3] = [
        "WebSocket + Engine.IO open + namespace connect",
        "join ack",
        "done",
    ];
    let stage = AtomicUsize::new(0);
    tokio::time::timeout(crate::net::SETUP_TIMEOUT, async {
        let mut c = SioConn::open(net).await?;
        stage.store(1, Relaxed);
        if let Some(room) = room {
            c.join(room).await?;
        }
        stage.store(2, Relaxed);
        Ok(c)
    })
    .await
    .map_err(|_| {
        anyhow!(
            "setup timed out waiting for the {}",
            STAGES[stage.load(Relaxed)]
        )
    })?
}

/// Handles what one read of a member or publisher brought: records deliveries, answers
/// heartbeats (Engine.IO pings and WebSocket pings). Returns false when the connection is over.
async fn on_read(ws: &mut WsClient, read: std::io::Result<usize>, rec: &Recorder) -> bool {
    if !matches!(read, Ok(n) if n > 0) {
        return false;
    }
    let mut pongs = 0;
    let mut open = true;
    while let Some(frame) = ws.next_frame() {
        match frame {
            Ok(Frame::Text(t)) => pongs += usize::from(on_text(t, rec).is_some()),
            Ok(Frame::Ping) => ws.answer_ping(),
            Ok(Frame::Binary | Frame::Pong) => {}
            Ok(Frame::Close) | Err(_) => {
                open = false;
                break;
            }
        }
    }
    for _ in 0..pongs {
        ws.feed_text("3");
    }
    ws.flush().await.is_ok() && open
}

/// What a member does with an incoming text frame. Returns a reply to send, if any.
fn on_text(text: &str, rec: &Recorder) -> Option<&'static str> {
    match parse(text) {
        Ok(EioPacket::Ping(_)) => Some("3"),
        Ok(EioPacket::Message(SioPacket::Event { data, .. })) => {
            if event_name(data) == Some("msg") {
                match extract_t(data) {
                    Some(t) => rec.delivered(t),
                    None => rec.error(),
                }
            }
            None
        }
        Ok(EioPacket::Close) | Ok(EioPacket::Message(SioPacket::Disconnect { .. })) => {
            rec.error();
            None
        }
        Ok(_) => None,
        Err(_) => {
            rec.error();
            None
        }
    }
}

/// A sending phase for every planned sender: one message every `period` from `start` (plus
/// the sender's own offset, a fraction of `period`) until `end`. A later burst replaces it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub start: Instant,
    pub end: Instant,
    pub period: Duration,
}

impl Burst {
    /// When a sender whose offset is `spread` (0..1 of a period) sends first.
    pub fn first_send(&self, spread: f64) -> Instant {
        self.start + self.period.mul_f64(spread)
    }
}

/// A member's sending schedule: emits `to-room` to `room` during each [`Burst`] that `go`
/// carries.
pub struct SendPlan {
    pub room: Arc<str>,
    /// This sender's offset within a period (0..1), so that senders do not fire together.
    pub spread: f64,
    pub go: watch::Receiver<Option<Burst>>,
    /// Members of the room, the sender included (each message is expected this minus one
    /// times).
    pub room_members: Arc<AtomicU64>,
    pub pad: Arc<str>,
}

/// A member connection's life: answers heartbeats, records deliveries, sends on its plan.
/// Ends when the connection ends.
pub async fn member(conn: SioConn, rec: Arc<Recorder>, plan: Option<SendPlan>) {
    let mut ws = conn.ws;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let mut until = far;
    let mut period = Duration::from_secs(1);
    let (mut go, sending) = match plan {
        Some(p) => {
            let room_json = serde_json::to_string(&*p.room).expect("string");
            (Some(p.go.clone()), Some((p, room_json)))
        }
        None => (None, None),
    };
    loop {
        tokio::select! {
            read = ws.read_more() => {
                if !on_read(&mut ws, read, &rec).await {
                    break;
                }
            }
            changed = async { go.as_mut().expect("guarded").changed().await }, if go.is_some() => {
                let started = match changed {
                    Ok(()) => *go.as_mut().expect("guarded").borrow_and_update(),
                    Err(_) => None,
                };
                if changed.is_err() {
                    go = None;
                }
                if let (Some(burst), Some((p, _))) = (started, &sending) {
                    until = burst.end;
                    period = burst.period;
                    timer.as_mut().reset(burst.first_send(p.spread));
                }
            }
            _ = &mut timer => {
                let now = Instant::now();
                let Some((p, room_json)) = &sending else {
                    timer.as_mut().reset(far);
                    continue;
                };
                if now >= until {
                    timer.as_mut().reset(far);
                    continue;
                }
                let t = now_ns();
                let text = encode_event("to-room", &[room_json, &payload(t, &p.pad)], None);
                rec.sent(t, p.room_members.load(Relaxed).saturating_sub(1));
                if ws.send_text(&text).await.is_err() {
                    break;
                }
                let mut next = timer.deadline() + period;
                if next < now {
                    next = now + period;
                }
                timer.as_mut().reset(next);
            }
        }
    }
    rec.closed();
}

/// One paced burst of a publisher: `rate` messages per second for `duration`.
pub struct Phase {
    pub rate: f64,
    pub duration: Duration,
    pub event: &'static str,
    pub room: Arc<str>,
    pub recipients: u64,
    pub pad: Arc<str>,
    /// Answers what the phase sent.
    pub done: oneshot::Sender<PhaseSent>,
}

/// What a publisher phase sent, and how punctual it was.
pub struct PhaseSent {
    pub messages: u64,
    /// p99 of how late a message left after the time its rate gave it (ms): how far the
    /// publisher's own pacing strayed from the rate asked.
    pub send_lag_p99_ms: f64,
}

/// Opens a publisher connection on a thread of its own, with a single-threaded runtime, and
/// runs [`publisher`] there; returns the channel that feeds it phases. On the generator's
/// shared runtime the publisher's 1 ms tick waited behind a thousand member tasks (up to 30 ms
/// under load), and every message it owed then left in one burst: the server was measured
/// against a burstier load than the rate said. Dropping the sender ends the publisher and its
/// thread within a tick (unless a write to a stalled server blocks it).
pub async fn spawn_publisher(
    net: Arc<Net>,
    rec: Arc<Recorder>,
) -> anyhow::Result<mpsc::Sender<Phase>> {
    let (phases, phases_rx) = mpsc::channel(1);
    let (opened_tx, opened_rx) = oneshot::channel::<anyhow::Result<()>>();
    std::thread::Builder::new()
        .name("publisher".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = opened_tx.send(Err(e.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                match open_and_join(&net, None).await {
                    Ok(conn) => {
                        let _ = opened_tx.send(Ok(()));
                        publisher(conn, rec, phases_rx).await;
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
            });
        })
        .context("publisher thread")?;
    opened_rx.await.context("publisher thread ended")??;
    Ok(phases)
}

/// A publisher connection: sends the phases it is given (paced on a 1 ms tick, several
/// messages per tick at high rates, one flush per tick), and answers heartbeats in between.
pub async fn publisher(conn: SioConn, rec: Arc<Recorder>, mut phases: mpsc::Receiver<Phase>) {
    let mut ws = conn.ws;
    loop {
        tokio::select! {
            read = ws.read_more() => {
                if !on_read(&mut ws, read, &rec).await {
                    break;
                }
            }
            phase = phases.recv() => {
                let Some(phase) = phase else { break };
                let room_json = serde_json::to_string(&*phase.room).expect("string");
                let start_ns = now_ns();
                let end = instant_at(start_ns) + phase.duration;
                let lateness = Histogram::new();
                let mut sent = 0u64;
                let mut failed = false;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let now = Instant::now();
                    let elapsed_ns = now_ns() - start_ns;
                    let elapsed = elapsed_ns as f64 / 1e9;
                    let due = ((elapsed.min(phase.duration.as_secs_f64()) * phase.rate) as u64)
                        .max(1);
                    if due > sent {
                        // Message k (k >= 1) is owed once elapsed * rate reaches k + 1 (the
                        // first goes at once): the first owed now was due then.
                        let due_at_ns = if sent == 0 {
                            0
                        } else {
                            ((sent + 1) as f64 / phase.rate * 1e9) as u64
                        };
                        lateness.record(elapsed_ns.saturating_sub(due_at_ns));
                        for _ in sent..due {
                            let t = now_ns();
                            let text = encode_event(
                                phase.event,
                                &[&room_json, &payload(t, &phase.pad)],
                                None,
                            );
                            rec.sent(t, phase.recipients);
                            ws.feed_text(&text);
                        }
                        sent = due;
                        failed = ws.flush().await.is_err();
                    }
                    // A closed channel: the cell is over (or failed), stop at once.
                    if failed || now >= end || phases.is_closed() {
                        break;
                    }
                }
                let _ = phase.done.send(PhaseSent {
                    messages: sent,
                    send_lag_p99_ms: lateness.quantile_ms(0.99).unwrap_or(f64::NAN),
                });
                if failed {
                    break;
                }
            }
        }
    }
    rec.closed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_io() {
        assert_eq!(
            parse(r#"0{"sid":"a","pingInterval":25000}"#),
            Ok(EioPacket::Open(r#"{"sid":"a","pingInterval":25000}"#))
        );
        assert_eq!(parse("2"), Ok(EioPacket::Ping("")));
        assert_eq!(parse("2probe"), Ok(EioPacket::Ping("probe")));
        assert_eq!(parse("3"), Ok(EioPacket::Pong("")));
        assert_eq!(parse("1"), Ok(EioPacket::Close));
        assert_eq!(parse("6"), Ok(EioPacket::Noop));
        assert!(parse("").is_err());
        assert!(parse("9").is_err());
    }

    #[test]
    fn parses_socket_io() {
        assert_eq!(
            parse(r#"40{"sid":"xyz"}"#),
            Ok(EioPacket::Message(SioPacket::Connect {
                nsp: "/",
                data: r#"{"sid":"xyz"}"#
            }))
        );
        assert_eq!(
            parse(r#"40/admin,{"sid":"xyz"}"#),
            Ok(EioPacket::Message(SioPacket::Connect {
                nsp: "/admin",
                data: r#"{"sid":"xyz"}"#
            }))
        );
        assert_eq!(
            parse(r#"42["msg",{"t":12,"p":"x"}]"#),
            Ok(EioPacket::Message(SioPacket::Event {
                nsp: "/",
                ack: None,
                data: r#"["msg",{"t":12,"p":"x"}]"#
            }))
        );
        assert_eq!(
            parse(r#"4217["join","r"]"#),
            Ok(EioPacket::Message(SioPacket::Event {
                nsp: "/",
                ack: Some(17),
                data: r#"["join","r"]"#
            }))
        );
        assert_eq!(
            parse(r#"431["ok"]"#),
            Ok(EioPacket::Message(SioPacket::Ack {
                nsp: "/",
                id: 1,
                data: r#"["ok"]"#
            }))
        );
        assert_eq!(
            parse(r#"43/chat,5["ok"]"#),
            Ok(EioPacket::Message(SioPacket::Ack {
                nsp: "/chat",
                id: 5,
                data: r#"["ok"]"#
            }))
        );
        assert_eq!(
            parse(r#"44{"message":"Invalid namespace"}"#),
            Ok(EioPacket::Message(SioPacket::ConnectError {
                nsp: "/",
                data: r#"{"message":"Invalid namespace"}"#
            }))
        );
        assert_eq!(
            parse("41"),
            Ok(EioPacket::Message(SioPacket::Disconnect { nsp: "/" }))
        );
        assert_eq!(
            parse(r#"451-["x",{"_placeholder":true,"num":0}]"#),
            Ok(EioPacket::Message(SioPacket::Binary))
        );
        assert!(parse("43[\"ok\"]").is_err(), "ack without id");
        assert!(parse("42{}").is_err());
        assert!(parse("4").is_err());
    }

    #[test]
    fn encodes_events() {
        assert_eq!(
            encode_event("join", &[r#""room-1""#], Some(3)),
            r#"423["join","room-1"]"#
        );
        assert_eq!(
            encode_event("to-room", &[r#""r""#, r#"{"t":1,"p":"x"}"#], None),
            r#"42["to-room","r",{"t":1,"p":"x"}]"#
        );
        assert_eq!(encode_event("a\"b", &[], None), r#"42["a\"b"]"#);
        // What we encode, we parse back.
        let text = encode_event("to-room", &[r#""r""#], Some(9));
        match parse(&text) {
            Ok(EioPacket::Message(SioPacket::Event { ack, data, .. })) => {
                assert_eq!(ack, Some(9));
                assert_eq!(event_name(data), Some("to-room"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn event_names() {
        assert_eq!(event_name(r#"["msg",{"t":1}]"#), Some("msg"));
        assert_eq!(event_name(r#"["msg"]"#), Some("msg"));
        assert_eq!(event_name(r#"[1,2]"#), None);
        assert_eq!(event_name(r#"["a\"b"]"#), None);
    }

    #[test]
    fn payload_round_trip() {
        let pad = padding_for(100);
        let p = payload(1_234_567_890_123, &pad);
        assert!((95..=105).contains(&p.len()), "{}", p.len());
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["t"], 1_234_567_890_123u64);
        assert_eq!(extract_t(&p), Some(1_234_567_890_123));
        // Key order does not matter (serde_json without preserve_order sorts keys).
        assert_eq!(extract_t(r#"["msg",{"p":"xx","t":42}]"#), Some(42));
        assert_eq!(
            extract_t(r#"{"data":{"targetPeerId":"p1","t": 7}}"#),
            Some(7)
        );
        assert_eq!(extract_t(r#"["msg",{"p":"x"}]"#), None);
    }
}
