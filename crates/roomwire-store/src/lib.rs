//! Roomwire's storage layer.
//!
//! One [`Store`] type talks to SQLite (the default: a file next to the
//! server, nothing to install) or PostgreSQL (chosen by giving a
//! `postgres://` URL, for several server processes sharing one database),
//! through sqlx's `Any` driver so that the rest of Roomwire is written once.
//!
//! The price of `Any` is a lowest common denominator, which this crate
//! follows and app code using [`Store::pool`] must follow too:
//! - SQL must be portable: column types `TEXT`, `BIGINT`, `INTEGER`,
//!   `DOUBLE PRECISION` only; no `SERIAL`/`AUTOINCREMENT` (ids are made by
//!   the app); JSON is stored as `TEXT`; timestamps are `BIGINT` milliseconds
//!   since the Unix epoch; flags are `BIGINT` 0/1.
//! - No `BOOLEAN`, `DATE`, `TIMESTAMP`... columns: on SQLite the Any driver
//!   refuses to read any row of a query that selects such a column, and a
//!   bound `bool` is rejected by PostgreSQL for a `BIGINT` column.
//! - Placeholders are `$1`, `$2`...: PostgreSQL requires them and SQLite
//!   accepts them (also out of order).
//! - Only `i64`, `i32`, `f64`, `String`/`&str` and their `Option`s are
//!   portable to bind and decode; decode integers as `i64`, since
//!   PostgreSQL's `INTEGER` is 32-bit and SQLite's is 64-bit.
//!
//! Schema changes are plain [`Migration`]s applied by [`Store::migrate`];
//! [`CORE_MIGRATIONS`] creates the shared event log.

mod error;
mod events;
mod migrate;
mod store;
mod url;

pub use error::StoreError;
pub use events::{NewEvent, StoredEvent, CORE_MIGRATIONS};
pub use migrate::{split_statements, Migration, MIGRATION_LOCK_KEY};
pub use store::{Backend, Store, StoreOptions, SQLITE_BUSY_TIMEOUT, SQLITE_MAX_CONNECTIONS};
pub use url::redact_url;

/// Milliseconds since the Unix epoch, the one time format stored.
///
/// A clock set before 1970 yields 0 rather than an error: a wrong timestamp
/// on an event is better than refusing to record it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
