//! One monotonic clock for the whole generator process: send times written into payloads and
//! receive times are both read from it, so send-to-receive latency needs no clock sync.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The generator's epoch (the first call fixes it).
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the generator's epoch.
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// The instant `ns` nanoseconds after the epoch.
pub fn instant_at(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

/// Nanoseconds since the epoch of an instant (0 if before the epoch).
pub fn ns_of(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64
}
