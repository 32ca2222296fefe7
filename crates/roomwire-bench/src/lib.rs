//! The Roomwire benchmark: a load generator (a minimal Socket.IO v4 client and a plain
//! WebSocket JSON client, both over tokio-tungstenite), the scenarios, the driver that builds
//! and starts each server under test, and the report (table, JSON, chart).
//!
//! See `README.md` in this crate for how to run it and how to read the numbers.

pub mod clock;
pub mod hist;
pub mod net;
pub mod procfs;
pub mod record;
pub mod report;
pub mod scenarios;
pub mod servers;
pub mod signal;
pub mod sio;
pub mod wsclient;
