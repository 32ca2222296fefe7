//! The bounded queue between everything that wants to send to one client and the task (or
//! polling request) that writes to its transport.
//!
//! Why not a tokio mpsc channel: a channel allocates its first block of slots up front, which
//! costs every idle connection; an empty `VecDeque` costs nothing. The queue also has to hold
//! groups of frames that must stay contiguous (a Socket.IO packet with binary attachments), to
//! be drained in one go by a long-polling GET, and to carry a close request, which a channel
//! does not model.

use std::borrow::Cow;
use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// One message as it goes on the wire. Text is shared (`Utf8Bytes` clones by reference
/// count), which is what lets a broadcast encode once and hand the same bytes to every
/// recipient.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Frame {
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn text(s: impl Into<String>) -> Frame {
        Frame::Text(Utf8Bytes::from(s.into()))
    }
}

/// Why a connection is to be closed, as the writer should tell the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseRequest {
    /// WebSocket close code (1000 normal, 1001 going away, 1008 policy, 1013 try again later).
    pub code: u16,
    pub reason: Cow<'static, str>,
}

impl CloseRequest {
    pub const fn new(code: u16, reason: &'static str) -> CloseRequest {
        CloseRequest {
            code,
            reason: Cow::Borrowed(reason),
        }
    }

    /// The queue overflowed: the client reads slower than it is sent to.
    pub const SLOW_CONSUMER: CloseRequest =
        CloseRequest::new(1013, "slow consumer: outbound queue full");
    pub const SHUTDOWN: CloseRequest = CloseRequest::new(1001, "server shutting down");
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Push {
    Queued,
    /// The queue was full: nothing was queued, and the outbox now asks to be closed.
    Overflow,
    /// The outbox is closing or closed; nothing was queued.
    Closed,
}

struct Queue {
    frames: VecDeque<Frame>,
    close: Option<CloseRequest>,
}

impl Queue {
    /// An empty queue gives its memory back: most connections are idle most of the time,
    /// and the next push allocates again.
    fn release_if_empty(&mut self) {
        if self.frames.is_empty() && self.frames.capacity() > 0 {
            self.frames = VecDeque::new();
        }
    }
}

pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    limit: u32,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.queue.lock();
        f.debug_struct("Outbox")
            .field("queued", &q.frames.len())
            .field("close", &q.close)
            .finish()
    }
}

impl Outbox {
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                close: None,
            }),
            ready: Notify::new(),
            limit: limit.min(u32::MAX as usize) as u32,
        }
    }

    /// Queues one frame.
    pub fn push(&self, frame: Frame) -> Push {
        self.push_group(std::slice::from_ref(&frame))
    }

    /// Queues frames that must reach the client together and in order, or not at all.
    pub fn push_group(&self, frames: &[Frame]) -> Push {
        let mut q = self.queue.lock();
        if q.close.is_some() {
            return Push::Closed;
        }
        if q.frames.len() + frames.len() > self.limit as usize {
            q.close = Some(CloseRequest::SLOW_CONSUMER);
            drop(q);
            crate::metrics::metrics()
                .slow_consumers_closed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.ready.notify_one();
            return Push::Overflow;
        }
        q.frames.extend(frames.iter().cloned());
        drop(q);
        self.ready.notify_one();
        Push::Queued
    }

    /// Asks the writer to close the connection after what is already queued. The first
    /// request wins.
    pub fn close(&self, request: CloseRequest) {
        let mut q = self.queue.lock();
        if q.close.is_none() {
            q.close = Some(request);
        }
        drop(q);
        self.ready.notify_one();
    }

    pub fn is_closing(&self) -> bool {
        self.queue.lock().close.is_some()
    }

    /// Moves every queued frame into `into` and returns the close request, if any.
    pub fn drain(&self, into: &mut Vec<Frame>) -> Option<CloseRequest> {
        let mut q = self.queue.lock();
        into.extend(q.frames.drain(..));
        q.release_if_empty();
        q.close.clone()
    }

    /// Moves frames into `into`, oldest first: at least one, then more while fewer than
    /// `max_frames` were moved and they add up to less than `max_bytes`. Returns whether
    /// frames remain and, once none remain, the close request, if any.
    pub fn drain_batch(
        &self,
        max_frames: usize,
        max_bytes: usize,
        into: &mut impl Extend<Frame>,
    ) -> (bool, Option<CloseRequest>) {
        let mut q = self.queue.lock();
        let (mut frames, mut bytes) = (0, 0);
        while frames < max_frames.max(1) && (frames == 0 || bytes < max_bytes) {
            let Some(f) = q.frames.pop_front() else { break };
            frames += 1;
            bytes += f.len();
            into.extend(Some(f));
        }
        if q.frames.is_empty() {
            q.release_if_empty();
            (false, q.close.clone())
        } else {
            (true, None)
        }
    }

    /// Moves at most `max_bytes` worth of frames (at least one) into `into`; used by polling,
    /// whose responses must respect the client's maxPayload. Groups are never split across
    /// responses only if they fit; the caller accepts that a large group goes alone.
    pub fn drain_up_to(&self, into: &mut Vec<Frame>, max_bytes: usize) -> Option<CloseRequest> {
        let mut q = self.queue.lock();
        let mut total = 0;
        while let Some(f) = q.frames.front() {
            if !into.is_empty() && total + f.len() > max_bytes {
                return None;
            }
            total += f.len();
            into.extend(q.frames.pop_front());
        }
        q.release_if_empty();
        q.close.clone()
    }

    pub fn has_frames(&self) -> bool {
        !self.queue.lock().frames.is_empty()
    }

    /// Waits until something was pushed or a close was requested since the last wait.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Wakes a waiter without queueing anything (used to end a pending long-polling GET).
    pub fn wake(&self) {
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_requests_close_and_queues_nothing_more() {
        let o = Outbox::new(2);
        assert_eq!(o.push(Frame::text("a")), Push::Queued);
        assert_eq!(o.push(Frame::text("b")), Push::Queued);
        assert_eq!(o.push(Frame::text("c")), Push::Overflow);
        assert_eq!(o.push(Frame::text("d")), Push::Closed);
        let mut v = Vec::new();
        assert_eq!(o.drain(&mut v), Some(CloseRequest::SLOW_CONSUMER));
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn groups_are_all_or_nothing() {
        let o = Outbox::new(3);
        o.push(Frame::text("a"));
        let group = [
            Frame::text("b"),
            Frame::Binary(Bytes::from_static(b"1")),
            Frame::Binary(Bytes::from_static(b"2")),
        ];
        assert_eq!(o.push_group(&group), Push::Overflow);
        let mut v = Vec::new();
        o.drain(&mut v);
        assert_eq!(v, vec![Frame::text("a")]);
    }

    #[test]
    fn drain_batch_respects_its_limits_and_gives_the_close_last() {
        let o = Outbox::new(10);
        for s in ["aaaa", "bbbb", "cccc", "dddd"] {
            o.push(Frame::text(s));
        }
        o.close(CloseRequest::new(1000, "bye"));
        let mut v = Vec::new();
        // Byte limit: stops once 5 bytes are reached (two frames).
        assert_eq!(o.drain_batch(10, 5, &mut v), (true, None));
        assert_eq!(v.len(), 2);
        // Frame limit.
        assert_eq!(o.drain_batch(1, 1000, &mut v), (true, None));
        assert_eq!(v.len(), 3);
        // At least one frame even over the byte limit; the close comes with the last one.
        assert_eq!(
            o.drain_batch(10, 0, &mut v),
            (false, Some(CloseRequest::new(1000, "bye")))
        );
        assert_eq!(v.len(), 4);
        assert_eq!(o.queue.lock().frames.capacity(), 0, "memory given back");
    }

    #[test]
    fn drain_up_to_keeps_the_rest() {
        let o = Outbox::new(10);
        for s in ["aaaa", "bbbb", "cccc"] {
            o.push(Frame::text(s));
        }
        let mut v = Vec::new();
        o.drain_up_to(&mut v, 9);
        assert_eq!(v.len(), 2);
        v.clear();
        o.drain_up_to(&mut v, 1);
        assert_eq!(v.len(), 1);
        assert!(!o.has_frames());
    }
}
