//! Roomwire: one real-time server for live rooms. Socket.IO v4 and plain-WebSocket APIs on
//! one port, over one hub of rooms, presence and fan-out.
//!
//! Layers, bottom up: [`engineio`] and [`socketio`] (the Socket.IO wire protocols, written
//! here), [`rawws`] (plain WebSocket JSON envelopes), [`hub`] (members, rooms, broker, state
//! store), [`auth`], storage (`roomwire-store`), and [`server`], which assembles them with the
//! apps on one HTTP listener.

pub mod apps;
pub mod auth;
pub mod client_addr;
pub mod config;
pub mod conformance;
pub mod engineio;
pub mod http_error;
pub mod hub;
pub mod metrics;
pub mod rawws;
pub mod server;
pub mod socketio;
pub mod ws;
