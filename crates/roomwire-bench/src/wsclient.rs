//! A lean WebSocket client for the Socket.IO connections of the generator: only what a
//! benchmark client needs (the upgrade, text frames, ping/pong, close), reading into a buffer
//! that is never zero-filled and handing out frames as borrowed slices, so a member that
//! receives a million messages a second costs the generator little more than its `recv`
//! calls. tungstenite zero-fills its whole read buffer before every read and copies every
//! message into a fresh allocation; with a thousand fan-out members that was most of the
//! generator's own CPU, which on two shared cores is CPU taken from the server under test.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::Net;

/// Reads at least this much room at a time.
const READ_CHUNK: usize = 4 * 1024;
/// A frame larger than this ends the connection (the benchmark's messages are ~2 KB at most).
const MAX_FRAME: usize = 4 << 20;

/// One frame as received (text is validated UTF-8; fragments are reassembled).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary,
    Ping,
    Pong,
    Close,
}

pub struct WsClient {
    stream: TcpStream,
    /// Received bytes; `start..` is not yet handed out.
    input: Vec<u8>,
    start: usize,
    /// A fragmented message being reassembled (rare: servers send small messages whole).
    partial: Option<Vec<u8>>,
    /// The last reassembled message (what its [`Frame::Text`] points at).
    assembled: String,
    /// The payload of the last ping, answered by [`WsClient::answer_ping`].
    ping: Vec<u8>,
    /// Frames fed but not yet flushed.
    output: Vec<u8>,
    mask_state: u64,
}

/// A mask seed per connection (RFC 6455 wants masks a proxy cannot predict; a benchmark on
/// loopback only needs them to vary).
static NEXT_SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

impl WsClient {
    /// TCP connection from the next source address, then the HTTP upgrade to `path`.
    pub async fn connect(net: &Net, path: &str) -> anyhow::Result<WsClient> {
        let mut stream = net.tcp().await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            net.server
        );
        stream.write_all(request.as_bytes()).await?;
        let mut input = Vec::with_capacity(READ_CHUNK);
        let head_end = loop {
            if let Some(i) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if input.len() > 16 * 1024 {
                bail!("upgrade response headers too long");
            }
            input.reserve(READ_CHUNK);
            if stream.read_buf(&mut input).await? == 0 {
                bail!("connection closed during the WebSocket upgrade");
            }
        };
        let status = input.split(|&b| b == b'\n').next().unwrap_or_default();
        if !status.windows(5).any(|w| w == b" 101 ") {
            bail!(
                "WebSocket upgrade refused: {}",
                String::from_utf8_lossy(status).trim()
            );
        }
        let seed = NEXT_SEED.fetch_add(0x6a09_e667_f3bc_c909, Relaxed);
        Ok(WsClient {
            stream,
            input,
            // Bytes after the headers are already frames (the server may speak first).
            start: head_end,
            partial: None,
            assembled: String::new(),
            ping: Vec::new(),
            output: Vec::new(),
            mask_state: seed | 1,
        })
    }

    /// Reads what the socket has (at least one byte, or 0 at end of stream). Cancel-safe: a
    /// read that does not complete takes nothing from the socket.
    pub async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.start == self.input.len() {
            self.input.clear();
            self.start = 0;
        } else if self.start > self.input.len() / 2 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        self.input.reserve(READ_CHUNK);
        self.stream.read_buf(&mut self.input).await
    }

    /// The next complete frame in what was read, if any; `Err` for a protocol violation.
    pub fn next_frame(&mut self) -> Option<anyhow::Result<Frame<'_>>> {
        loop {
            let (fin, opcode, payload) = match parse_header(&self.input[self.start..]) {
                Ok(Some(h)) => h,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let from = self.start + payload.start;
            let to = self.start + payload.end;
            self.start = to;
            match (opcode, fin) {
                // A whole text message: the common case, handed out without copying.
                (0x1, true) => {
                    return Some(
                        std::str::from_utf8(&self.input[from..to])
                            .map(Frame::Text)
                            .context("text frame is not UTF-8"),
                    );
                }
                (0x1, false) => self.partial = Some(self.input[from..to].to_vec()),
                (0x0, _) => {
                    let Some(partial) = self.partial.as_mut() else {
                        return Some(Err(anyhow::anyhow!("continuation without a start")));
                    };
                    partial.extend_from_slice(&self.input[from..to]);
                    if fin {
                        let whole = self.partial.take().expect("checked");
                        return Some(match String::from_utf8(whole) {
                            Ok(text) => {
                                self.assembled = text;
                                Ok(Frame::Text(&self.assembled))
                            }
                            Err(_) => Err(anyhow::anyhow!("text message is not UTF-8")),
                        });
                    }
                }
                (0x2, _) => return Some(Ok(Frame::Binary)),
                (0x8, _) => return Some(Ok(Frame::Close)),
                (0x9, _) => {
                    self.ping.clear();
                    self.ping.extend_from_slice(&self.input[from..to]);
                    return Some(Ok(Frame::Ping));
                }
                (0xA, _) => return Some(Ok(Frame::Pong)),
                (op, _) => return Some(Err(anyhow::anyhow!("unknown opcode {op:#x}"))),
            }
        }
    }

    /// Queues the pong that answers the last [`Frame::Ping`].
    pub fn answer_ping(&mut self) {
        let payload = std::mem::take(&mut self.ping);
        self.feed(0xA, &payload);
        self.ping = payload;
    }

    /// Queues a text frame; [`WsClient::flush`] sends what was queued.
    pub fn feed_text(&mut self, text: &str) {
        self.feed(0x1, text.as_bytes());
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        Ok(())
    }

    pub async fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.feed_text(text);
        self.flush().await
    }

    /// The next complete text message, reading as needed (setup only: it copies).
    pub async fn next_text(&mut self) -> anyhow::Result<String> {
        loop {
            while let Some(frame) = self.next_frame() {
                match frame? {
                    Frame::Text(t) => return Ok(t.to_owned()),
                    Frame::Close => bail!("connection closed"),
                    Frame::Ping => {
                        self.answer_ping();
                        self.flush().await?;
                    }
                    Frame::Binary | Frame::Pong => {}
                }
            }
            if self.read_more().await? == 0 {
                bail!("connection closed");
            }
        }
    }

    /// Appends one masked client frame (the server's own frame encoder, client role).
    fn feed(&mut self, opcode: u8, payload: &[u8]) {
        // xorshift64: a different mask per frame.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        roomwire::transport::ws::encode_masked_frame(
            &mut self.output,
            opcode,
            payload,
            (x as u32).to_be_bytes(),
        );
    }
}

/// Parses a frame header at the start of `buf`: (fin, opcode, payload range within `buf`),
/// `None` until the whole frame is there.
fn parse_header(buf: &[u8]) -> anyhow::Result<Option<(bool, u8, std::ops::Range<usize>)>> {
    // The lengths as the server's own frame parser reads them.
    let Some((header, len)) = roomwire::transport::ws::parse_lengths(buf) else {
        return Ok(None);
    };
    if buf[1] & 0x80 != 0 {
        bail!("server frames must not be masked");
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        bail!("frame of {len} bytes is over the client's limit");
    }
    if buf.len() < header + len {
        return Ok(None);
    }
    Ok(Some((
        buf[0] & 0x80 != 0,
        buf[0] & 0x0F,
        header..header + len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_length_form() {
        assert_eq!(parse_header(&[0x81]).unwrap(), None);
        assert_eq!(parse_header(&[0x81, 2, b'h']).unwrap(), None);
        assert_eq!(
            parse_header(&[0x81, 2, b'h', b'i']).unwrap(),
            Some((true, 1, 2..4))
        );
        let mut mid = vec![0x01, 126, 0x01, 0x00];
        mid.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(parse_header(&mid).unwrap(), Some((false, 1, 4..260)));
        let mut long = vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(parse_header(&long).unwrap(), None);
        long.extend(std::iter::repeat_n(0, 65536));
        assert_eq!(parse_header(&long).unwrap(), Some((true, 2, 10..65546)));
        assert!(
            parse_header(&[0x81, 0x82, 0, 0, 0, 0, 1, 2]).is_err(),
            "masked"
        );
        assert!(
            parse_header(&[0x82, 127, 0, 0, 0, 0, 1, 0, 0, 0]).is_err(),
            "too big"
        );
    }
}
