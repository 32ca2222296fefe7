//! The wire protocols, bottom up: [`ws`] is the RFC 6455 WebSocket codec; [`engineio`] and
//! [`socketio`] are the Socket.IO v4 stack built on it (and on HTTP long-polling); [`rawws`] is
//! the plain-WebSocket app layer (JSON envelopes over one socket per peer). Nothing here knows
//! any app.

pub mod engineio;
pub mod rawws;
pub mod socketio;
pub mod ws;
