//! The server side of RFC 6455 WebSocket, written for many mostly idle connections.
//!
//! A connection holds no read or write buffer while it is idle. Input is read into one
//! scratch buffer per worker thread; only the bytes of a frame that has not fully arrived are
//! kept with the connection, and that buffer is freed as soon as the frame is complete (so a
//! 1 MB message does not leave 1 MB behind). Output is encoded into a buffer that lives until
//! it is written and is then freed. Everything else (the protocol state, the limits) is a few
//! dozen bytes.
//!
//! What it does, as the tungstenite-based socket it replaced did: answers pings with pongs and
//! the client's close with the same close, fails the connection on protocol errors (unmasked
//! or reserved-bit frames, bad control frames, invalid UTF-8, unexpected continuations) and on
//! frames or messages over the configured size, and completes the closing handshake. There are
//! no extensions (no permessage-deflate) and no subprotocols.
//!
//! [`WsUpgrade`] is the axum extractor for the handshake (HTTP/1.1 `Upgrade`, or HTTP/2
//! extended CONNECT), with the same checks and rejections as axum's own.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    /// Largest message (all fragments together) accepted from the client.
    pub max_message_size: usize,
    /// Largest single frame accepted from the client.
    pub max_frame_size: usize,
    /// Bytes read from the socket at once, into the worker thread's scratch buffer (not a
    /// buffer per connection).
    pub read_size: usize,
    /// Bytes of encoded output collected by [`WebSocket::feed`] before they are written.
    pub write_buffer_size: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            read_size: 16 << 10,
            write_buffer_size: 128 << 10,
        }
    }
}

/// Why a read or write failed.
#[derive(Debug)]
pub enum WsError {
    Io(io::Error),
    /// A frame or message over the configured limit.
    TooLarge {
        size: u64,
        max: usize,
    },
    /// The client broke the protocol.
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8.
    Utf8,
    /// The closing handshake is complete.
    ConnectionClosed,
    /// The connection was already closed.
    AlreadyClosed,
}

impl WsError {
    pub fn is_too_large(&self) -> bool {
        matches!(self, WsError::TooLarge { .. })
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Io(e) => write!(f, "WebSocket I/O error: {e}"),
            WsError::TooLarge { size, max } => write!(f, "message too long: {size} > {max}"),
            WsError::Protocol(what) => write!(f, "WebSocket protocol error: {what}"),
            WsError::Utf8 => f.write_str("invalid UTF-8 in a text message or close reason"),
            WsError::ConnectionClosed => f.write_str("connection closed"),
            WsError::AlreadyClosed => f.write_str("connection already closed"),
        }
    }
}

impl std::error::Error for WsError {}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}

const OP_CONTINUE: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// We sent a close and wait for the client's.
    ClosedByUs,
    /// The client sent a close; our reply is queued.
    ClosedByPeer,
    /// Both closes went by.
    CloseAcknowledged,
    Terminated,
}

impl State {
    fn can_read(self) -> bool {
        matches!(self, State::Active | State::ClosedByUs)
    }
}

/// A message that arrives in fragments, while they arrive.
struct Fragments {
    text: bool,
    data: Vec<u8>,
    /// For text: how much of `data` is known to be valid UTF-8, so that an invalid sequence
    /// fails the connection when its fragment arrives, not at the end of the message.
    valid_utf8: usize,
}

impl Fragments {
    fn check_utf8(&mut self) -> Result<(), WsError> {
        if !self.text {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.valid_utf8..]) {
            Ok(_) => self.valid_utf8 = self.data.len(),
            // Cut at the end of the fragment: the rest of the character may follow.
            Err(e) if e.error_len().is_none() => self.valid_utf8 += e.valid_up_to(),
            Err(_) => return Err(WsError::Utf8),
        }
        Ok(())
    }
}

/// A control frame the protocol makes us send: a pong, or the reply to the client's close.
/// Only the latest pong is kept; a close reply is never replaced.
struct Reply {
    opcode: u8,
    payload: Bytes,
}

/// One complete frame as read, payload unmasked.
struct RawFrame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
}

thread_local! {
    /// Where input lands first. One per worker thread instead of one per connection.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A server-side WebSocket connection over `S` (the upgraded HTTP connection in production,
/// an in-memory pipe in tests).
pub struct WebSocket<S = TokioIo<Upgraded>> {
    io: S,
    /// Bytes read but not yet consumed (an incomplete frame, or frames after the one
    /// returned); empty, without capacity, when nothing is pending.
    input: Vec<u8>,
    input_pos: usize,
    /// Encoded output not yet written; freed once written.
    out: Vec<u8>,
    out_pos: usize,
    fragments: Option<Box<Fragments>>,
    reply: Option<Box<Reply>>,
    config: WsConfig,
    state: State,
    /// Reading failed (protocol error, too large, I/O): the stream of messages has ended,
    /// though a close frame may still be sent.
    read_failed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    pub fn new(io: S, config: WsConfig) -> WebSocket<S> {
        WebSocket {
            io,
            input: Vec::new(),
            input_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            fragments: None,
            reply: None,
            config,
            state: State::Active,
            read_failed: false,
        }
    }

    /// The next message: `None` once the connection is closed (the closing handshake done,
    /// or the client gone) or after a read error. Pings are answered here and also returned;
    /// the client's close is returned once, and the reply to it is sent. Cancel-safe: nothing
    /// read is lost if the future is dropped.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The same as [`WebSocket::recv`] (a `Stream`-like name).
    pub async fn next(&mut self) -> Option<Result<Message, WsError>> {
        self.recv().await
    }

    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        if self.state == State::Terminated || self.read_failed {
            return Poll::Ready(None);
        }
        match ready!(self.poll_read_message(cx)) {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                self.state = State::Terminated;
                Poll::Ready(None)
            }
            Err(e) => {
                self.read_failed = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    /// Queues a message for sending; it is written once the queued output exceeds
    /// `write_buffer_size`, or by [`WebSocket::flush`].
    pub async fn feed(&mut self, message: Message) -> Result<(), WsError> {
        self.queue(message)?;
        if self.out.len() - self.out_pos > self.config.write_buffer_size {
            poll_fn(|cx| self.poll_write_out(cx)).await?;
        }
        Ok(())
    }

    /// Writes everything queued, including pending pongs and close replies.
    pub async fn flush(&mut self) -> Result<(), WsError> {
        match poll_fn(|cx| self.poll_flush(cx)).await {
            Err(WsError::ConnectionClosed) => Ok(()),
            r => r,
        }
    }

    /// Sends one message and flushes. Sending a close after the client's close (whose reply
    /// went out already) fails with [`WsError::ConnectionClosed`], as there is nothing left
    /// to do.
    pub async fn send(&mut self, message: Message) -> Result<(), WsError> {
        let is_close = matches!(message, Message::Close(_));
        self.queue(message)?;
        match poll_fn(|cx| self.poll_flush(cx)).await {
            Err(WsError::ConnectionClosed) if !is_close => Ok(()),
            r => r,
        }
    }

    /// Sends a close frame without a code (when none was sent yet) and flushes.
    pub async fn close(&mut self) -> Result<(), WsError> {
        self.send(Message::Close(None)).await
    }

    /// Bytes this connection holds in buffers right now (0 when idle).
    pub fn buffered_capacity(&self) -> usize {
        self.input.capacity()
            + self.out.capacity()
            + self.fragments.as_ref().map_or(0, |f| f.data.capacity())
    }

    /// `write_buffer_size` of the configuration.
    pub fn write_buffer_size(&self) -> usize {
        self.config.write_buffer_size
    }

    /// Writes the queued output, without flushing the transport.
    pub async fn write_queued(&mut self) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// Encodes a message into the output, to be written by [`WebSocket::write_queued`] or
    /// [`WebSocket::flush`].
    pub fn queue(&mut self, message: Message) -> Result<(), WsError> {
        if self.state == State::Terminated {
            return Err(WsError::AlreadyClosed);
        }
        if let Message::Close(frame) = message {
            if self.state == State::Active {
                self.state = State::ClosedByUs;
                let payload = close_payload(frame.as_ref());
                encode_frame(&mut self.out, OP_CLOSE, &payload);
            }
            return Ok(());
        }
        if self.state != State::Active {
            return Err(WsError::Protocol("send after closing"));
        }
        match message {
            Message::Text(t) => encode_frame(&mut self.out, OP_TEXT, t.as_bytes()),
            Message::Binary(b) => encode_frame(&mut self.out, OP_BINARY, &b),
            Message::Ping(p) => encode_frame(&mut self.out, OP_PING, &p),
            Message::Pong(p) => self.set_reply(OP_PONG, p),
            Message::Close(_) => unreachable!("handled above"),
        }
        Ok(())
    }

    fn set_reply(&mut self, opcode: u8, payload: Bytes) {
        if self.reply.as_ref().is_none_or(|r| r.opcode == OP_PONG) {
            self.reply = Some(Box::new(Reply { opcode, payload }));
        }
    }

    fn encode_reply(&mut self) {
        if let Some(r) = self.reply.take() {
            encode_frame(&mut self.out, r.opcode, &r.payload);
        }
    }

    /// Writes the pending reply and all output, then flushes the transport. Once the client's
    /// close has been answered, the connection is over: `Err(ConnectionClosed)`.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        if self.state == State::Terminated {
            return Poll::Ready(Err(WsError::AlreadyClosed));
        }
        self.encode_reply();
        ready!(self.poll_write_out(cx))?;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        if !self.state.can_read() {
            self.state = State::Terminated;
            return Poll::Ready(Err(WsError::ConnectionClosed));
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `out` until it is empty, then frees it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(WsError::Io(io::ErrorKind::WriteZero.into())));
            }
            self.out_pos += n;
        }
        self.out = Vec::new();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_read_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, WsError>> {
        loop {
            // Replies (pongs, the answer to a close) go out even while we only read.
            if self.reply.is_some() || self.out_pos < self.out.len() {
                self.encode_reply();
                match self.poll_write_out(cx) {
                    Poll::Ready(Ok(())) => {
                        if !self.state.can_read() {
                            let _ = Pin::new(&mut self.io).poll_flush(cx);
                            self.state = State::Terminated;
                            return Poll::Ready(Err(WsError::ConnectionClosed));
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    // Blocked: keep reading, try again later (unless there is nothing to read).
                    Poll::Pending if self.state.can_read() => {}
                    Poll::Pending => return Poll::Pending,
                }
            } else if !self.state.can_read() {
                self.state = State::Terminated;
                return Poll::Ready(Err(WsError::ConnectionClosed));
            }
            while let Some(frame) = self.take_frame()? {
                if let Some(message) = self.on_frame(frame)? {
                    return Poll::Ready(Ok(message));
                }
            }
            if ready!(self.poll_fill(cx))? == 0 {
                self.state_after_eof();
                return Poll::Ready(Err(match self.state {
                    State::Terminated => WsError::ConnectionClosed,
                    _ => WsError::Protocol("connection reset without closing handshake"),
                }));
            }
        }
    }

    fn state_after_eof(&mut self) {
        let before = std::mem::replace(&mut self.state, State::Terminated);
        if !matches!(before, State::ClosedByPeer | State::CloseAcknowledged) {
            // Still report the reset as an error; the state stays terminated either way.
            self.state = State::Active;
            self.read_failed = true;
        }
    }

    /// How many more bytes the frame at the head of `input` needs, when its header is there.
    fn missing_bytes(&self) -> Option<usize> {
        let buf = &self.input[self.input_pos..];
        let (header_len, payload_len) = parse_lengths(buf)?;
        let total = (header_len as u64).saturating_add(payload_len);
        Some(usize::try_from(total.saturating_sub(buf.len() as u64)).unwrap_or(usize::MAX))
    }

    /// Reads more input. Returns the number of bytes read (0 at end of stream).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, WsError>> {
        if self.input_pos > 0 {
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        let read_size = self.config.read_size.max(64);
        match self.missing_bytes() {
            // A large frame under way: read it straight into the connection's buffer, sized
            // once for the whole frame (its size was checked against the limit already).
            Some(missing) if missing > read_size => {
                let len = self.input.len();
                self.input.reserve_exact(missing);
                self.input.resize(len + missing, 0);
                let mut buf = ReadBuf::new(&mut self.input[len..]);
                let polled = Pin::new(&mut self.io).poll_read(cx, &mut buf);
                let n = buf.filled().len();
                self.input.truncate(len + n);
                ready!(polled)?;
                if self.input.is_empty() {
                    self.input = Vec::new();
                }
                Poll::Ready(Ok(n))
            }
            _ => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                if scratch.len() < read_size {
                    scratch.resize(read_size, 0);
                }
                let mut buf = ReadBuf::new(&mut scratch[..read_size]);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
                let filled = buf.filled();
                self.input.extend_from_slice(filled);
                Poll::Ready(Ok(filled.len()))
            }),
        }
    }

    /// Takes the complete frame at the head of `input`, if there is one. Fails on a frame
    /// over `max_frame_size` as soon as its header is there.
    fn take_frame(&mut self) -> Result<Option<RawFrame>, WsError> {
        let buf = &self.input[self.input_pos..];
        let Some((header_len, payload_len)) = parse_lengths(buf) else {
            return Ok(None);
        };
        if payload_len > self.config.max_frame_size as u64 {
            return Err(WsError::TooLarge {
                size: payload_len,
                max: self.config.max_frame_size,
            });
        }
        let payload_len = payload_len as usize;
        if buf.len() < header_len + payload_len {
            return Ok(None);
        }
        let masked = buf[1] & 0x80 != 0;
        let mut payload = buf[header_len..header_len + payload_len].to_vec();
        if masked {
            let k = header_len - 4;
            let mask = [buf[k], buf[k + 1], buf[k + 2], buf[k + 3]];
            apply_mask(&mut payload, mask);
        }
        let frame = RawFrame {
            fin: buf[0] & 0x80 != 0,
            rsv: buf[0] & 0x70,
            opcode: buf[0] & 0x0f,
            masked,
            payload,
        };
        self.input_pos += header_len + payload_len;
        if self.input_pos == self.input.len() {
            // Nothing pending: give the buffer back.
            self.input = Vec::new();
            self.input_pos = 0;
        }
        Ok(Some(frame))
    }

    /// Applies one frame to the connection; returns the message it completes, if any.
    fn on_frame(&mut self, frame: RawFrame) -> Result<Option<Message>, WsError> {
        if !self.state.can_read() {
            return Err(WsError::Protocol("frame received after closing"));
        }
        if frame.rsv != 0 {
            return Err(WsError::Protocol("non-zero reserved bits"));
        }
        if !frame.masked {
            return Err(WsError::Protocol("unmasked frame from client"));
        }
        let RawFrame {
            fin,
            opcode,
            payload,
            ..
        } = frame;
        if opcode >= 0x8 {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if payload.len() > 125 {
                return Err(WsError::Protocol("control frame too big"));
            }
            return match opcode {
                OP_CLOSE => {
                    let close = parse_close(payload)?;
                    Ok(self.on_close(close).map(Message::Close))
                }
                OP_PING => {
                    let data = Bytes::from(payload);
                    if self.state == State::Active {
                        self.set_reply(OP_PONG, data.clone());
                    }
                    Ok(Some(Message::Ping(data)))
                }
                OP_PONG => Ok(Some(Message::Pong(Bytes::from(payload)))),
                _ => Err(WsError::Protocol("unknown control frame type")),
            };
        }
        match (opcode, self.fragments.as_mut()) {
            (OP_CONTINUE, None) => Err(WsError::Protocol("unexpected continuation frame")),
            (OP_CONTINUE, Some(f)) => {
                let size = f.data.len() as u64 + payload.len() as u64;
                if size > self.config.max_message_size as u64 {
                    return Err(WsError::TooLarge {
                        size,
                        max: self.config.max_message_size,
                    });
                }
                f.data.extend_from_slice(&payload);
                f.check_utf8()?;
                if !fin {
                    return Ok(None);
                }
                let f = self.fragments.take().expect("checked above");
                data_message(f.text, f.data).map(Some)
            }
            (_, Some(_)) => Err(WsError::Protocol("expected a continuation frame")),
            (OP_TEXT | OP_BINARY, None) => {
                if payload.len() > self.config.max_message_size {
                    return Err(WsError::TooLarge {
                        size: payload.len() as u64,
                        max: self.config.max_message_size,
                    });
                }
                let text = opcode == OP_TEXT;
                if fin {
                    return data_message(text, payload).map(Some);
                }
                let mut f = Box::new(Fragments {
                    text,
                    data: payload,
                    valid_utf8: 0,
                });
                f.check_utf8()?;
                self.fragments = Some(f);
                Ok(None)
            }
            _ => Err(WsError::Protocol("unknown data frame type")),
        }
    }

    /// The client's close frame arrived. Returns what to hand to the caller (nothing if the
    /// connection was already closing from the client's side).
    #[allow(clippy::option_option)]
    fn on_close(&mut self, close: Option<CloseFrame>) -> Option<Option<CloseFrame>> {
        match self.state {
            State::Active => {
                self.state = State::ClosedByPeer;
                let close = close.map(|frame| {
                    if close_code_allowed(frame.code) {
                        frame
                    } else {
                        CloseFrame {
                            code: 1002,
                            reason: Utf8Bytes::from_static("Protocol violation"),
                        }
                    }
                });
                let payload = close_payload(close.as_ref());
                // The close reply replaces a pending pong and is never replaced itself.
                self.reply = Some(Box::new(Reply {
                    opcode: OP_CLOSE,
                    payload: Bytes::from(payload),
                }));
                Some(close)
            }
            State::ClosedByUs => {
                self.state = State::CloseAcknowledged;
                Some(close)
            }
            State::ClosedByPeer | State::CloseAcknowledged | State::Terminated => None,
        }
    }
}

/// Header length and payload length of the frame at the start of `buf`, once its header is
/// there (masked or not: either role's frames).
pub fn parse_lengths(buf: &[u8]) -> Option<(usize, u64)> {
    if buf.len() < 2 {
        return None;
    }
    let mask_len = if buf[1] & 0x80 != 0 { 4 } else { 0 };
    let (len, ext) = match buf[1] & 0x7f {
        126 => {
            let b = buf.get(2..4)?;
            (u16::from_be_bytes([b[0], b[1]]) as u64, 2)
        }
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b), 8)
        }
        n => (n as u64, 0),
    };
    let header_len = 2 + ext + mask_len;
    if buf.len() < header_len {
        return None;
    }
    Some((header_len, len))
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let mask32 = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ mask32;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

fn data_message(text: bool, data: Vec<u8>) -> Result<Message, WsError> {
    if text {
        let s = String::from_utf8(data).map_err(|_| WsError::Utf8)?;
        Ok(Message::Text(Utf8Bytes::from(s)))
    } else {
        Ok(Message::Binary(Bytes::from(data)))
    }
}

fn parse_close(payload: Vec<u8>) -> Result<Option<CloseFrame>, WsError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(WsError::Protocol("invalid close frame")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| WsError::Utf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason.to_owned()),
            }))
        }
    }
}

/// Close codes a peer may send (RFC 6455 section 7.4, and the registered ranges).
fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999)
}

fn close_payload(frame: Option<&CloseFrame>) -> Vec<u8> {
    match frame {
        None => Vec::new(),
        Some(f) => {
            let mut p = Vec::with_capacity(2 + f.reason.len());
            p.extend_from_slice(&f.code.to_be_bytes());
            p.extend_from_slice(f.reason.as_bytes());
            p
        }
    }
}

/// Appends one unmasked, final frame (servers do not mask).
fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    frame_header(out, opcode, payload.len(), false);
    out.extend_from_slice(payload);
}

/// Appends one final frame masked with `mask`, as a client sends it (the benchmark's client).
pub fn encode_masked_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    frame_header(out, opcode, payload.len(), true);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

fn frame_header(out: &mut Vec<u8>, opcode: u8, len: usize, masked: bool) {
    out.reserve(14 + len);
    out.push(0x80 | opcode);
    let mask_bit = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// The WebSocket handshake of a request, as an axum extractor. Checks what axum's own
/// `WebSocketUpgrade` checks and rejects the same way.
pub struct WsUpgrade {
    config: WsConfig,
    /// `Sec-WebSocket-Key` (HTTP/1.1); `None` for HTTP/2 extended CONNECT.
    key: Option<HeaderValue>,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRejection {
    MethodNotGet,
    MethodNotConnect,
    InvalidConnectionHeader,
    InvalidUpgradeHeader,
    InvalidWebSocketVersionHeader,
    WebSocketKeyHeaderMissing,
    ConnectionNotUpgradable,
}

impl WsRejection {
    fn status_and_body(self) -> (StatusCode, &'static str) {
        match self {
            WsRejection::MethodNotGet => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Request method must be `GET`",
            ),
            WsRejection::MethodNotConnect => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Request method must be `CONNECT`",
            ),
            WsRejection::InvalidConnectionHeader => (
                StatusCode::BAD_REQUEST,
                "Connection header did not include 'upgrade'",
            ),
            WsRejection::InvalidUpgradeHeader => (
                StatusCode::BAD_REQUEST,
                "`Upgrade` header did not include 'websocket'",
            ),
            WsRejection::InvalidWebSocketVersionHeader => (
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Version` header did not include '13'",
            ),
            WsRejection::WebSocketKeyHeaderMissing => (
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Key` header missing",
            ),
            WsRejection::ConnectionNotUpgradable => (
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket request couldn't be upgraded since no upgrade state was present",
            ),
        }
    }
}

impl IntoResponse for WsRejection {
    fn into_response(self) -> Response {
        self.status_and_body().into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = WsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key = if parts.version <= Version::HTTP_11 {
            if parts.method != Method::GET {
                return Err(WsRejection::MethodNotGet);
            }
            if !header_contains(&parts.headers, header::CONNECTION, "upgrade") {
                return Err(WsRejection::InvalidConnectionHeader);
            }
            if !header_is(&parts.headers, header::UPGRADE, "websocket") {
                return Err(WsRejection::InvalidUpgradeHeader);
            }
            Some(
                parts
                    .headers
                    .get(header::SEC_WEBSOCKET_KEY)
                    .ok_or(WsRejection::WebSocketKeyHeaderMissing)?
                    .clone(),
            )
        } else {
            if parts.method != Method::CONNECT {
                return Err(WsRejection::MethodNotConnect);
            }
            // HTTP/2 is not enabled on the listener; were it, the `:protocol` pseudo-header
            // would have to be `websocket` here.
            None
        };
        if !header_is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(WsRejection::InvalidWebSocketVersionHeader);
        }
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(WsRejection::ConnectionNotUpgradable)?;
        Ok(WsUpgrade {
            config: WsConfig::default(),
            key,
            on_upgrade,
        })
    }
}

impl WsUpgrade {
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    pub fn max_message_size(mut self, n: usize) -> Self {
        self.config.max_message_size = n;
        self
    }

    pub fn max_frame_size(mut self, n: usize) -> Self {
        self.config.max_frame_size = n;
        self
    }

    /// Answers the handshake and runs `callback` with the socket once the connection is
    /// upgraded, in a task of its own.
    pub fn on_upgrade<C, F>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let WsUpgrade {
            config,
            key,
            on_upgrade,
        } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            callback(WebSocket::new(TokioIo::new(upgraded), config)).await;
        });
        match key {
            Some(key) => Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
                .header(header::UPGRADE, HeaderValue::from_static("websocket"))
                .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(key.as_bytes()))
                .body(axum::body::Body::empty())
                .expect("static headers are valid"),
            // HTTP/2: a 2xx answer to the CONNECT (RFC 8441).
            None => Response::new(axum::body::Body::empty()),
        }
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
fn accept_key(key: &[u8]) -> HeaderValue {
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(&name)
        .is_some_and(|h| h.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether the header contains `value` (lower case) anywhere, as axum checks `Connection`.
fn header_contains(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(&name)
        .and_then(|h| std::str::from_utf8(h.as_bytes()).ok())
        .is_some_and(|h| h.to_ascii_lowercase().contains(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn pair(config: WsConfig) -> (WebSocket<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(4 << 20);
        (WebSocket::new(server, config), client)
    }

    fn small() -> WsConfig {
        WsConfig {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_size: 64,
            write_buffer_size: 0,
        }
    }

    /// Reads one unmasked server frame: (fin, opcode, payload).
    async fn server_frame(client: &mut DuplexStream) -> (bool, u8, Vec<u8>) {
        let mut h = [0u8; 2];
        client.read_exact(&mut h).await.unwrap();
        assert_eq!(h[1] & 0x80, 0, "servers do not mask");
        let len = match h[1] & 0x7f {
            126 => client.read_u16().await.unwrap() as usize,
            127 => client.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        client.read_exact(&mut p).await.unwrap();
        (h[0] & 0x80 != 0, h[0] & 0x0f, p)
    }

    #[tokio::test]
    async fn reads_text_and_binary_and_keeps_nothing_buffered_after() {
        let (mut ws, mut client) = pair(small());
        let mut bytes = client_frame(true, OP_TEXT, "héllo".as_bytes());
        bytes.extend(client_frame(true, OP_BINARY, &[0, 255, 7]));
        client.write_all(&bytes).await.unwrap();
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "héllo"),
            other => panic!("{other:?}"),
        }
        // The second frame came in the same read and waits in the connection's buffer.
        assert!(ws.buffered_capacity() > 0);
        match ws.recv().await {
            Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], &[0, 255, 7]),
            other => panic!("{other:?}"),
        }
        assert_eq!(ws.buffered_capacity(), 0);
    }

    #[tokio::test]
    async fn a_large_message_over_many_reads_arrives_whole_and_is_not_kept() {
        let (mut ws, mut client) = pair(small());
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let frame = client_frame(true, OP_BINARY, &big);
        let writer = tokio::spawn(async move {
            for chunk in frame.chunks(1000) {
                client.write_all(chunk).await.unwrap();
            }
            client
        });
        match ws.recv().await {
            Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], &big[..]),
            other => panic!("{other:?}"),
        }
        assert_eq!(ws.buffered_capacity(), 0);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn fragments_are_joined_with_control_frames_in_between() {
        let (mut ws, mut client) = pair(small());
        let mut bytes = client_frame(false, OP_TEXT, b"one ");
        bytes.extend(client_frame(true, OP_PING, b"p"));
        bytes.extend(client_frame(false, OP_CONTINUE, b"two "));
        bytes.extend(client_frame(true, OP_CONTINUE, b"three"));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Message::Ping(p))) if &p[..] == b"p"));
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "one two three"),
            other => panic!("{other:?}"),
        }
        // The ping was answered with a pong carrying its payload.
        assert_eq!(
            server_frame(&mut client).await,
            (true, OP_PONG, b"p".to_vec())
        );
    }

    #[tokio::test]
    async fn the_clients_close_is_returned_echoed_and_ends_the_stream() {
        let (mut ws, mut client) = pair(small());
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        client
            .write_all(&client_frame(true, OP_CLOSE, &payload))
            .await
            .unwrap();
        match ws.recv().await {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(f.code, 1000);
                assert_eq!(f.reason.as_str(), "bye");
            }
            other => panic!("{other:?}"),
        }
        assert!(ws.recv().await.is_none());
        assert_eq!(server_frame(&mut client).await, (true, OP_CLOSE, payload));
        assert!(matches!(
            ws.send(Message::Text("late".into())).await,
            Err(WsError::AlreadyClosed)
        ));
    }

    #[tokio::test]
    async fn a_forbidden_close_code_is_answered_as_a_protocol_error() {
        let (mut ws, mut client) = pair(small());
        client
            .write_all(&client_frame(true, OP_CLOSE, &1005u16.to_be_bytes()))
            .await
            .unwrap();
        match ws.recv().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, 1002),
            other => panic!("{other:?}"),
        }
        assert!(ws.recv().await.is_none());
        let (_, op, p) = server_frame(&mut client).await;
        assert_eq!(op, OP_CLOSE);
        assert_eq!(&p[..2], &1002u16.to_be_bytes());
    }

    #[tokio::test]
    async fn our_close_then_theirs_completes_the_handshake() {
        let (mut ws, mut client) = pair(small());
        ws.send(Message::Close(Some(CloseFrame {
            code: 1001,
            reason: "going".into(),
        })))
        .await
        .unwrap();
        let (_, op, p) = server_frame(&mut client).await;
        assert_eq!((op, &p[..2]), (OP_CLOSE, &1001u16.to_be_bytes()[..]));
        // Data the client sent before seeing our close is still delivered.
        let mut bytes = client_frame(true, OP_TEXT, b"late");
        bytes.extend(client_frame(true, OP_CLOSE, &1001u16.to_be_bytes()));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Message::Text(t))) if t.as_str() == "late"));
        assert!(matches!(ws.recv().await, Some(Ok(Message::Close(Some(f)))) if f.code == 1001));
        assert!(ws.recv().await.is_none());
    }

    #[tokio::test]
    async fn frames_over_the_limit_fail_as_soon_as_the_header_is_there() {
        let config = WsConfig {
            max_frame_size: 100,
            max_message_size: 150,
            ..small()
        };
        let (mut ws, mut client) = pair(config);
        // Only the header of a 1000-byte frame.
        client
            .write_all(&client_frame(true, OP_TEXT, &[b'x'; 1000])[..8])
            .await
            .unwrap();
        let err = ws.recv().await.unwrap().unwrap_err();
        assert!(err.is_too_large(), "{err}");
        assert!(err.to_string().contains("too long"));
        assert!(ws.recv().await.is_none());
        // A close can still be sent.
        ws.send(Message::Close(Some(CloseFrame {
            code: 1009,
            reason: "too big".into(),
        })))
        .await
        .unwrap();
        let (_, op, p) = server_frame(&mut client).await;
        assert_eq!((op, &p[..2]), (OP_CLOSE, &1009u16.to_be_bytes()[..]));

        // Fragments adding up to more than the message limit.
        let (mut ws, mut client) = pair(config);
        let mut bytes = client_frame(false, OP_BINARY, &[1; 100]);
        bytes.extend(client_frame(true, OP_CONTINUE, &[2; 100]));
        client.write_all(&bytes).await.unwrap();
        assert!(ws.recv().await.unwrap().unwrap_err().is_too_large());
    }

    #[tokio::test]
    async fn protocol_violations_fail_the_connection() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unmasked", {
                let mut f = client_frame(true, OP_TEXT, b"");
                f[1] &= 0x7f;
                f.truncate(2);
                f
            }),
            ("reserved bits", {
                let mut f = client_frame(true, OP_TEXT, b"a");
                f[0] |= 0x40;
                f
            }),
            ("reserved opcode", client_frame(true, 0x3, b"a")),
            ("reserved control opcode", client_frame(true, 0xB, b"a")),
            ("fragmented ping", client_frame(false, OP_PING, b"a")),
            ("big ping", client_frame(true, OP_PING, &[0; 126])),
            ("lone continuation", client_frame(true, OP_CONTINUE, b"a")),
            ("new message inside a fragmented one", {
                let mut f = client_frame(false, OP_TEXT, b"a");
                f.extend(client_frame(true, OP_TEXT, b"b"));
                f
            }),
            ("one-byte close", client_frame(true, OP_CLOSE, &[3])),
        ];
        for (name, bytes) in cases {
            let (mut ws, mut client) = pair(small());
            client.write_all(&bytes).await.unwrap();
            match ws.recv().await {
                Some(Err(WsError::Protocol(_))) => {}
                other => panic!("{name}: {other:?}"),
            }
            assert!(ws.recv().await.is_none(), "{name}");
        }
        let (mut ws, mut client) = pair(small());
        client
            .write_all(&client_frame(true, OP_TEXT, &[0xc3, 0x28]))
            .await
            .unwrap();
        assert!(matches!(ws.recv().await, Some(Err(WsError::Utf8))));

        // In a fragmented message, the fragment with the invalid sequence fails at once...
        let (mut ws, mut client) = pair(small());
        let mut bytes = client_frame(false, OP_TEXT, b"ok");
        bytes.extend(client_frame(false, OP_CONTINUE, &[0xff]));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Err(WsError::Utf8))));
        // ...while a character split between fragments is fine.
        let (mut ws, mut client) = pair(small());
        let mut bytes = client_frame(false, OP_TEXT, &"é".as_bytes()[..1]);
        bytes.extend(client_frame(true, OP_CONTINUE, &"é".as_bytes()[1..]));
        client.write_all(&bytes).await.unwrap();
        assert!(matches!(ws.recv().await, Some(Ok(Message::Text(t))) if t.as_str() == "é"));
    }

    #[tokio::test]
    async fn end_of_stream_without_close_is_an_error_then_none() {
        let (mut ws, client) = pair(small());
        drop(client);
        assert!(matches!(ws.recv().await, Some(Err(WsError::Protocol(_)))));
        assert!(ws.recv().await.is_none());
    }

    #[tokio::test]
    async fn feed_collects_output_until_flush_and_frees_it_after() {
        let config = WsConfig {
            write_buffer_size: 1 << 10,
            ..small()
        };
        let (mut ws, mut client) = pair(config);
        ws.feed(Message::Text("a".into())).await.unwrap();
        ws.feed(Message::Binary(Bytes::from(vec![9; 300])))
            .await
            .unwrap();
        assert!(ws.buffered_capacity() > 0);
        ws.flush().await.unwrap();
        assert_eq!(ws.buffered_capacity(), 0);
        assert_eq!(
            server_frame(&mut client).await,
            (true, OP_TEXT, b"a".to_vec())
        );
        assert_eq!(
            server_frame(&mut client).await,
            (true, OP_BINARY, vec![9; 300])
        );
        // 16- and 64-bit lengths.
        ws.send(Message::Binary(Bytes::from(vec![1; 70_000])))
            .await
            .unwrap();
        assert_eq!(server_frame(&mut client).await.2.len(), 70_000);
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn connection_header_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_contains(&h, header::CONNECTION, "upgrade"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!header_contains(&h, header::CONNECTION, "upgrade"));
    }
}
