//! A lock-free log-linear histogram of `u64` values (nanoseconds here), shared by every
//! connection task of a run. Values below 128 are exact; above, each power of two is split into
//! 64 buckets, so a reported percentile is within about 1.6 % of the true value.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS; // 64
const EXACT: u64 = 2 * SUB; // values below this have their own bucket
const BUCKETS: usize = ((64 - SUB_BITS as usize - 1) * SUB as usize) + EXACT as usize;

pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
    min: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of a value.
pub fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let log2 = 63 - v.leading_zeros() as u64; // >= 7
    let exp = log2 - SUB_BITS as u64; // >= 1
    let mantissa = v >> exp; // in [64, 128)
    (exp * SUB + mantissa) as usize
}

/// The smallest value of a bucket and its width.
pub fn bucket_range(b: usize) -> (u64, u64) {
    let b = b as u64;
    if b < EXACT {
        return (b, 1);
    }
    let exp = b / SUB - 1;
    let mantissa = b % SUB + SUB;
    (mantissa << exp, 1 << exp)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
        }
    }

    pub fn record(&self, v: u64) {
        self.counts[bucket_of(v)].fetch_add(1, Relaxed);
        if v > self.max.load(Relaxed) {
            self.max.fetch_max(v, Relaxed);
        }
        if v < self.min.load(Relaxed) {
            self.min.fetch_min(v, Relaxed);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Adds another histogram's counts into this one.
    pub fn add(&self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter().zip(other.counts.iter()) {
            let n = theirs.load(Relaxed);
            if n > 0 {
                mine.fetch_add(n, Relaxed);
            }
        }
        if other.count() > 0 {
            self.max.fetch_max(other.max.load(Relaxed), Relaxed);
            self.min.fetch_min(other.min.load(Relaxed), Relaxed);
        }
    }

    pub fn max(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.max.load(Relaxed))
    }

    pub fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Relaxed);
        }
        self.max.store(0, Relaxed);
        self.min.store(u64::MAX, Relaxed);
    }

    /// The value at quantile `q` (0 < q <= 1): the smallest recorded value such that at least
    /// `q` of all values are at or below it, as the middle of its bucket, clamped to the
    /// observed minimum and maximum. `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c.load(Relaxed);
            if seen >= rank {
                let (lo, width) = bucket_range(b);
                let mid = lo + (width - 1) / 2;
                let (min, max) = (self.min.load(Relaxed), self.max.load(Relaxed));
                return Some(mid.clamp(min, max));
            }
        }
        self.max()
    }

    /// A quantile in milliseconds, from nanosecond values.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|ns| ns as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut prev_end = 0;
        for b in 0..BUCKETS {
            let (lo, w) = bucket_range(b);
            assert_eq!(lo, prev_end, "bucket {b}");
            assert_eq!(bucket_of(lo), b);
            assert_eq!(bucket_of(lo + w - 1), b);
            prev_end = lo + w;
            if b == BUCKETS - 1 {
                assert_eq!(lo.checked_add(w - 1), Some(u64::MAX));
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let h = Histogram::new();
        for v in 1..=100u64 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!(h.quantile(0.0), Some(1));
    }

    #[test]
    fn percentiles_within_two_percent() {
        let h = Histogram::new();
        // 1..=100_000 microseconds, in nanoseconds.
        for us in 1..=100_000u64 {
            h.record(us * 1000);
        }
        for (q, want) in [
            (0.5, 50_000_000f64),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                (got - want).abs() / want < 0.02,
                "q={q} got={got} want={want}"
            );
        }
        assert_eq!(h.max(), Some(100_000_000));
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn tail_is_seen() {
        let h = Histogram::new();
        for _ in 0..999 {
            h.record(1_000_000); // 1 ms
        }
        h.record(500_000_000); // one 500 ms outlier
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((p99 - 1.0).abs() < 0.02, "{p99}");
        let p999 = h.quantile_ms(0.999).unwrap();
        assert!((p999 - 1.0).abs() < 0.02, "{p999}");
        let p100 = h.quantile_ms(1.0).unwrap();
        assert!((p100 - 500.0).abs() / 500.0 < 0.02, "{p100}");
    }

    #[test]
    fn merging() {
        let a = Histogram::new();
        let b = Histogram::new();
        for v in 1..=50u64 {
            a.record(v);
        }
        for v in 51..=100u64 {
            b.record(v);
        }
        let m = Histogram::new();
        m.add(&a);
        m.add(&b);
        m.add(&Histogram::new());
        assert_eq!(m.count(), 100);
        assert_eq!(m.quantile(0.5), Some(50));
        assert_eq!(m.quantile(1.0), Some(100));
        assert_eq!(m.quantile(0.0), Some(1));
    }

    #[test]
    fn empty_and_reset() {
        let h = Histogram::new();
        assert_eq!(h.quantile(0.5), None);
        h.record(7);
        assert_eq!(h.quantile(0.5), Some(7));
        h.reset();
        assert_eq!(h.count(), 0);
        assert_eq!(h.quantile(0.99), None);
    }
}
