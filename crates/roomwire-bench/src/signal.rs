//! The plain WebSocket signalling client (`/signal`, JSON `{"event":..., "data":...}`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::clock::now_ns;
use crate::net::{Net, Ws};
use crate::record::Recorder;
use crate::sio::{extract_t, Burst};

/// The three relayed kinds, in the order a peer cycles through them.
pub const KINDS: [&str; 3] = ["offer", "answer", "candidate"];

/// JSON-string bodies of an SDP-like offer/answer (~1.5 KB) and an ICE candidate (~200 B).
pub struct Bodies {
    pub sdp: String,
    pub candidate: String,
}

impl Bodies {
    pub fn new() -> Bodies {
        let mut sdp = String::from(
            "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             a=group:BUNDLE 0 1\r\na=msid-semantic: WMS stream\r\n",
        );
        let mut i = 0;
        while sdp.len() < 1400 {
            sdp.push_str(&format!(
                "a=rtpmap:{} opus/48000/2\r\na=fmtp:{} minptime=10;useinbandfec=1\r\n\
                 a=ssrc:{} cname:bench{}\r\n",
                96 + i,
                96 + i,
                1_000_000 + i,
                i
            ));
            i += 1;
        }
        let candidate = "candidate:842163049 1 udp 1677729535 127.0.0.1 53421 typ srflx \
                         raddr 0.0.0.0 rport 0 generation 0 ufrag EsA1 network-cost 999";
        Bodies {
            sdp: serde_json::to_string(&sdp).expect("string"),
            candidate: serde_json::to_string(candidate).expect("string"),
        }
    }
}

impl Default for Bodies {
    fn default() -> Self {
        Bodies::new()
    }
}

/// The message a peer sends: `{"event":kind,"data":{"targetPeerId":..,"t":..,...}}`.
pub fn relay_message(kind: &str, target: &str, t: u64, bodies: &Bodies) -> String {
    match kind {
        "candidate" => format!(
            r#"{{"event":"candidate","data":{{"targetPeerId":"{target}","t":{t},"candidate":{},"sdpMid":"0","sdpMLineIndex":0}}}}"#,
            bodies.candidate
        ),
        _ => format!(
            r#"{{"event":"{kind}","data":{{"targetPeerId":"{target}","t":{t},"type":"{kind}","sdp":{}}}}}"#,
            bodies.sdp
        ),
    }
}

/// Opens `/signal` and joins `room` as `peer`, waiting for `joined`.
pub async fn open_and_join(net: &Net, room: &str, peer: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(crate::net::SETUP_TIMEOUT, async {
        let mut ws = net.ws("/signal").await?;
        let join = serde_json::json!({"event": "join", "data": {"room": room, "peerId": peer}});
        ws.send(Message::text(join.to_string())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value =
                        serde_json::from_str(t.as_str()).context("join reply is not JSON")?;
                    match v["event"].as_str() {
                        Some("joined") => return Ok(ws),
                        Some("error") => bail!("join refused: {t}"),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None => bail!("closed while joining"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            }
        }
    })
    .await
    .map_err(|_| anyhow!("setup timed out"))?
}

/// A peer's sending schedule (see [`crate::sio::SendPlan`]).
pub struct PeerPlan {
    pub target: String,
    /// This peer's offset within a period (0..1).
    pub spread: f64,
    pub go: watch::Receiver<Option<Burst>>,
    pub bodies: Arc<Bodies>,
    pub first_kind: usize,
}

/// A signalling peer's life: records relayed messages, sends on its plan.
pub async fn peer(mut ws: Ws, rec: Arc<Recorder>, plan: PeerPlan) {
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let PeerPlan {
        target,
        spread,
        mut go,
        bodies,
        first_kind,
    } = plan;
    let mut until = far;
    let mut period = Duration::from_secs(1);
    let mut waiting_go = true;
    let mut n = first_kind;
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    if t.contains("\"event\":\"error\"") {
                        rec.error();
                    } else {
                        match extract_t(t) {
                            Some(sent) => rec.delivered(sent),
                            None => rec.error(),
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            changed = go.changed(), if waiting_go => {
                if changed.is_err() {
                    waiting_go = false;
                    continue;
                }
                if let Some(burst) = *go.borrow_and_update() {
                    until = burst.end;
                    period = burst.period;
                    timer.as_mut().reset(burst.first_send(spread));
                }
            }
            _ = &mut timer => {
                let now = Instant::now();
                if now >= until {
                    timer.as_mut().reset(far);
                    continue;
                }
                let t = now_ns();
                let kind = KINDS[n % KINDS.len()];
                n += 1;
                let text = relay_message(kind, &target, t, &bodies);
                rec.sent(t, 1);
                if ws.send(Message::text(text)).await.is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_valid_json_of_the_right_size() {
        let b = Bodies::new();
        let offer = relay_message("offer", "p3", 99, &b);
        let v: serde_json::Value = serde_json::from_str(&offer).unwrap();
        assert_eq!(v["event"], "offer");
        assert_eq!(v["data"]["targetPeerId"], "p3");
        assert_eq!(v["data"]["t"], 99);
        assert!((1000..=2100).contains(&offer.len()), "{}", offer.len());
        assert_eq!(extract_t(&offer), Some(99));
        let cand = relay_message("candidate", "p1", 5, &b);
        let v: serde_json::Value = serde_json::from_str(&cand).unwrap();
        assert_eq!(v["event"], "candidate");
        assert!((150..=300).contains(&cand.len()), "{}", cand.len());
        assert_eq!(extract_t(&cand), Some(5));
        // A relayed message as a server forwards it (sender id added) still yields `t`.
        let relayed =
            r#"{"event":"answer","data":{"targetPeerId":"p0","t":123,"sdp":"v=0","peerId":"p1"}}"#;
        assert_eq!(extract_t(relayed), Some(123));
    }
}
