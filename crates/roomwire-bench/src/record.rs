//! What every connection task of one run reports into: deliveries, their latency, sends,
//! disconnects. Only messages *sent* inside the measurement window count, so warm-up and
//! drain never blur a rate.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::clock::now_ns;
use crate::hist::Histogram;

/// Deliveries are recorded into one shard per generator thread, so the hot path touches no
/// cache line another thread writes (at a million deliveries a second, shared counters would
/// cost the generator more than the parsing does).
const SHARDS: usize = 8;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
}

#[repr(align(128))]
struct Shard {
    latency: Histogram,
    received: AtomicU64,
    received_in_window: AtomicU64,
    last_in_window_ns: AtomicU64,
}

pub struct Recorder {
    shards: Box<[Shard]>,
    /// Messages sent inside the window.
    pub sent_in_window: AtomicU64,
    /// Expected deliveries of messages sent inside the window (sent x recipients).
    pub expected_in_window: AtomicU64,
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
            shards: (0..SHARDS)
                .map(|_| Shard {
                    latency: Histogram::new(),
                    received: AtomicU64::new(0),
                    received_in_window: AtomicU64::new(0),
                    last_in_window_ns: AtomicU64::new(0),
                })
                .collect(),
            sent_in_window: AtomicU64::new(0),
            expected_in_window: AtomicU64::new(0),
            window_from: AtomicU64::new(u64::MAX),
            window_to: AtomicU64::new(u64::MAX),
            closed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Opens a new window [from, to) (in clock ns) and clears what the last one counted.
    pub fn open_window(&self, from: u64, to: u64) {
        self.window_from.store(u64::MAX, Relaxed);
        for s in self.shards.iter() {
            s.latency.reset();
            s.received_in_window.store(0, Relaxed);
            s.last_in_window_ns.store(0, Relaxed);
        }
        self.sent_in_window.store(0, Relaxed);
        self.expected_in_window.store(0, Relaxed);
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
        let shard = &self.shards[SHARD.with(|s| *s)];
        shard.received.fetch_add(1, Relaxed);
        if self.in_window(t) {
            let now = now_ns();
            shard.received_in_window.fetch_add(1, Relaxed);
            shard.latency.record(now.saturating_sub(t));
            if now > shard.last_in_window_ns.load(Relaxed) {
                shard.last_in_window_ns.store(now, Relaxed);
            }
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

    /// Every delivery received, whenever it was sent.
    pub fn received(&self) -> u64 {
        self.shards.iter().map(|s| s.received.load(Relaxed)).sum()
    }

    /// Deliveries of messages sent inside the window.
    pub fn received_in_window(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.received_in_window.load(Relaxed))
            .sum()
    }

    /// Receive time (ns) of the last delivery of a message sent inside the window.
    pub fn last_in_window_ns(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.last_in_window_ns.load(Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// The send-to-receive latency at quantile `q` over the window, in ms.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let merged = Histogram::new();
        for s in self.shards.iter() {
            merged.add(&s.latency);
        }
        merged.quantile_ms(q)
    }

    /// Latency samples in the window.
    pub fn latency_count(&self) -> u64 {
        self.shards.iter().map(|s| s.latency.count()).sum()
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
        assert_eq!(r.received_in_window(), 0);
        r.open_window(now, now + 1_000_000_000);
        r.sent(now + 1, 3);
        r.sent(now + 2_000_000_000, 3);
        r.delivered(now + 1);
        r.delivered(now.saturating_sub(1));
        assert_eq!(Recorder::get(&r.sent_in_window), 1);
        assert_eq!(Recorder::get(&r.expected_in_window), 3);
        assert_eq!(r.received_in_window(), 1);
        assert_eq!(r.received(), 3);
        assert_eq!(r.latency_count(), 1);
        assert!(r.latency_ms(0.5).is_some());
        assert!(r.last_in_window_ns() >= now);
        // Deliveries from other threads land in other shards and still add up.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| r.delivered(now + 2));
            }
        });
        assert_eq!(r.received_in_window(), 4);
        assert_eq!(r.latency_count(), 4);
    }
}
