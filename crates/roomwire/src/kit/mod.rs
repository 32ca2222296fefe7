//! The app kit: what every app builds on besides the transports and the hub. REST errors in
//! one shape ([`error`]), lenient field parsing for shapes real clients send ([`lenient`]),
//! time stamps ([`stamp`]) and text limits ([`text`]).

pub mod error;
pub mod lenient;
pub mod stamp;
pub mod text;
