//! Process-wide counters, exported as Prometheus text at `GET /metrics`.
//!
//! Hand-rolled on atomics rather than a metrics crate: the hot path (one increment per message)
//! must cost an uncontended atomic add and nothing else, and the label sets are small and fixed
//! at registration time (protocol and app), except error codes, which are rare.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use parking_lot::RwLock;

/// Counters for one (protocol, app) pair, e.g. ("socketio", "interview").
#[derive(Default, Debug)]
pub struct AppCounters {
    pub connections: AtomicI64,
    pub connections_total: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl AppCounters {
    pub fn opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }
    pub fn closed(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }
    pub fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }
    pub fn sent(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }
}

/// Upper bounds (seconds) of the fan-out latency histogram buckets.
const FANOUT_BUCKETS: [f64; 12] = [
    0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

#[derive(Default, Debug)]
pub struct Histogram {
    buckets: [AtomicU64; FANOUT_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in FANOUT_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
    }
}

/// Counters of one (protocol, app) label pair.
type LabelledCounters = ((&'static str, &'static str), Arc<AppCounters>);

#[derive(Default)]
pub struct Metrics {
    apps: RwLock<Vec<LabelledCounters>>,
    errors: DashMap<String, AtomicU64>,
    refusals: DashMap<(&'static str, &'static str, &'static str), AtomicU64>,
    pub rooms: AtomicI64,
    pub fanout_latency: Histogram,
    pub fanout_deliveries: AtomicU64,
    pub slow_consumers_closed: AtomicU64,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics. One per process is what Prometheus scrapes, so a global is honest.
pub fn metrics() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::default)
}

impl Metrics {
    /// The counters for (protocol, app); call once per connection or cache the `Arc`.
    pub fn app(&self, protocol: &'static str, app: &'static str) -> Arc<AppCounters> {
        if let Some((_, c)) = self.apps.read().iter().find(|(k, _)| *k == (protocol, app)) {
            return c.clone();
        }
        let mut apps = self.apps.write();
        if let Some((_, c)) = apps.iter().find(|(k, _)| *k == (protocol, app)) {
            return c.clone();
        }
        let c = Arc::new(AppCounters::default());
        apps.push(((protocol, app), c.clone()));
        c
    }

    /// Counts one error sent to a client (or a close), by its documented code.
    pub fn error(&self, code: &str) {
        if let Some(c) = self.errors.get(code) {
            c.fetch_add(1, Relaxed);
            return;
        }
        self.errors
            .entry(code.to_owned())
            .or_default()
            .fetch_add(1, Relaxed);
    }

    /// Counts one client refused by an app: why (`reason`) and at which step (`stage`, e.g.
    /// `join` for a documented error, `handshake` for an HTTP refusal before the upgrade).
    pub fn refusal(&self, app: &'static str, reason: &'static str, stage: &'static str) {
        self.refusals
            .entry((app, reason, stage))
            .or_default()
            .fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let apps = self.apps.read();
        type Field = fn(&AppCounters) -> u64;
        let series: [(&str, &str, &str, Field); 6] = [
            ("roomwire_connections", "gauge", "Open connections", |c| {
                c.connections.load(Relaxed).max(0) as u64
            }),
            (
                "roomwire_connections_total",
                "counter",
                "Connections accepted",
                |c| c.connections_total.load(Relaxed),
            ),
            (
                "roomwire_messages_in_total",
                "counter",
                "Messages received from clients",
                |c| c.messages_in.load(Relaxed),
            ),
            (
                "roomwire_messages_out_total",
                "counter",
                "Messages sent to clients",
                |c| c.messages_out.load(Relaxed),
            ),
            (
                "roomwire_bytes_in_total",
                "counter",
                "Bytes received from clients",
                |c| c.bytes_in.load(Relaxed),
            ),
            (
                "roomwire_bytes_out_total",
                "counter",
                "Bytes sent to clients",
                |c| c.bytes_out.load(Relaxed),
            ),
        ];
        for (name, kind, help, field) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if apps.is_empty() {
                let _ = writeln!(out, "{name}{{protocol=\"none\",app=\"none\"}} 0");
            }
            for ((protocol, app), c) in apps.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{protocol}\",app=\"{app}\"}} {}",
                    field(c)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP roomwire_rooms Rooms with at least one member on this node\n# TYPE roomwire_rooms gauge\nroomwire_rooms {}",
            self.rooms.load(Relaxed).max(0)
        );
        let _ = writeln!(out, "# HELP roomwire_errors_total Errors sent to clients, by code\n# TYPE roomwire_errors_total counter");
        let mut errors: Vec<(String, u64)> = self
            .errors
            .iter()
            .map(|e| (e.key().clone(), e.value().load(Relaxed)))
            .collect();
        errors.sort();
        for (code, n) in errors {
            let _ = writeln!(
                out,
                "roomwire_errors_total{{code=\"{}\"}} {n}",
                escape_label(&code)
            );
        }
        let _ = writeln!(out, "# HELP roomwire_refusals_total Clients an app refused, by reason and stage (join: the documented error; handshake: HTTP refusal before the upgrade)\n# TYPE roomwire_refusals_total counter");
        let mut refusals: Vec<((&str, &str, &str), u64)> = self
            .refusals
            .iter()
            .map(|e| (*e.key(), e.value().load(Relaxed)))
            .collect();
        refusals.sort();
        for ((app, reason, stage), n) in refusals {
            let _ = writeln!(
                out,
                "roomwire_refusals_total{{app=\"{app}\",reason=\"{reason}\",stage=\"{stage}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP roomwire_slow_consumers_closed_total Connections closed because their outbound queue was full\n# TYPE roomwire_slow_consumers_closed_total counter\nroomwire_slow_consumers_closed_total {}",
            self.slow_consumers_closed.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP roomwire_fanout_deliveries_total Frames queued to recipients by broadcasts\n# TYPE roomwire_fanout_deliveries_total counter\nroomwire_fanout_deliveries_total {}",
            self.fanout_deliveries.load(Relaxed)
        );
        let h = &self.fanout_latency;
        let _ = writeln!(out, "# HELP roomwire_fanout_seconds Time to queue one broadcast to every local recipient\n# TYPE roomwire_fanout_seconds histogram");
        for (i, bound) in FANOUT_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "roomwire_fanout_seconds_bucket{{le=\"{bound}\"}} {}",
                h.buckets[i].load(Relaxed)
            );
        }
        let count = h.count.load(Relaxed);
        let _ = writeln!(out, "roomwire_fanout_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "roomwire_fanout_seconds_sum {}",
            h.sum_nanos.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "roomwire_fanout_seconds_count {count}");
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
