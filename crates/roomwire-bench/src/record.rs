//! What every connection task of one run reports into: deliveries, their latency, sends,
//! disconnects. Only messages *sent* inside the measurement window count, so warm-up and
//! drain never blur a rate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::clock::now_ns;
use crate::hist::Histogram;

pub struct Recorder {
    pub latency: Histogram,
    /// Every delivery received, whenever it was sent.
    pub received: AtomicU64,
    /// Deliveries of messages sent inside the window.
    pub received_in_window: AtomicU64,
    /// Messages sent inside the window (each is expected `fanout` times).
    pub sent_in_window: AtomicU64,
    /// Expected deliveries of messages sent inside the window (sent x recipients).
    pub expected_in_window: AtomicU64,
    /// Receive time (ns) of the last delivery of a message sent inside the window.
    pub last_in_window_ns: AtomicU64,
    window_from: AtomicU64,
    window_to: AtomicU64,
    /// Connections that ended (closed by the server, reset, or errored).
    pub closed: AtomicU64,
    /// Protocol errors seen (error frames, unexpected packets).
    pub errors: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            latency: Histogram::new(),
            received: AtomicU64::new(0),
            received_in_window: AtomicU64::new(0),
            sent_in_window: AtomicU64::new(0),
            expected_in_window: AtomicU64::new(0),
            last_in_window_ns: AtomicU64::new(0),
            window_from: AtomicU64::new(u64::MAX),
            window_to: AtomicU64::new(u64::MAX),
            closed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Opens a new window [from, to) (in clock ns) and clears what the last one counted.
    pub fn open_window(&self, from: u64, to: u64) {
        self.window_from.store(u64::MAX, Relaxed);
        self.latency.reset();
        self.received_in_window.store(0, Relaxed);
        self.sent_in_window.store(0, Relaxed);
        self.expected_in_window.store(0, Relaxed);
        self.last_in_window_ns.store(0, Relaxed);
        self.window_to.store(to, Relaxed);
        self.window_from.store(from, Relaxed);
    }

    pub fn in_window(&self, t: u64) -> bool {
        t >= self.window_from.load(Relaxed) && t < self.window_to.load(Relaxed)
    }

    /// A message sent at `t` to `recipients` receivers.
    pub fn sent(&self, t: u64, recipients: u64) {
        if self.in_window(t) {
            self.sent_in_window.fetch_add(1, Relaxed);
            self.expected_in_window.fetch_add(recipients, Relaxed);
        }
    }

    /// A delivery of a message sent at `t`.
    pub fn delivered(&self, t: u64) {
        self.received.fetch_add(1, Relaxed);
        if self.in_window(t) {
            let now = now_ns();
            self.received_in_window.fetch_add(1, Relaxed);
            self.latency.record(now.saturating_sub(t));
            self.last_in_window_ns.fetch_max(now, Relaxed);
        }
    }

    pub fn closed(&self) {
        self.closed.fetch_add(1, Relaxed);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    pub fn get(a: &AtomicU64) -> u64 {
        a.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_window_counts() {
        let r = Recorder::new();
        let now = now_ns();
        r.delivered(now);
        assert_eq!(Recorder::get(&r.received_in_window), 0);
        r.open_window(now, now + 1_000_000_000);
        r.sent(now + 1, 3);
        r.sent(now + 2_000_000_000, 3);
        r.delivered(now + 1);
        r.delivered(now.saturating_sub(1));
        assert_eq!(Recorder::get(&r.sent_in_window), 1);
        assert_eq!(Recorder::get(&r.expected_in_window), 3);
        assert_eq!(Recorder::get(&r.received_in_window), 1);
        assert_eq!(Recorder::get(&r.received), 3);
        assert_eq!(r.latency.count(), 1);
    }
}
