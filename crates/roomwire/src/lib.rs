//! Roomwire: one real-time server for live rooms. Socket.IO v4 and plain-WebSocket APIs on
//! one port, over one hub of rooms, presence and fan-out.
//!
//! Layers, bottom up: [`transport`] (the RFC 6455 codec, Engine.IO and Socket.IO written here,
//! and plain-WebSocket JSON envelopes), [`kit`] (what apps share), [`hub`] (members, rooms, broker, state
//! store), [`auth`], storage (`roomwire-store`), and [`server`], which assembles them with the
//! apps on one HTTP listener.

pub mod apps;
pub mod auth;
pub mod client_addr;
pub mod config;
pub mod conformance;
pub mod hub;
pub mod kit;
pub mod metrics;
pub mod server;
pub mod transport;
