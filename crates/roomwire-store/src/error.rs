//! The single error type of the storage layer.

use std::path::PathBuf;

/// Everything that can go wrong in `roomwire-store`.
///
/// Each variant carries enough context (the URL with its password hidden, the
/// migration id, the app and room) for an operator to act on the message
/// alone, because these errors usually end up in a log line or in the output
/// of a failed start, far away from the code that caused them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL's scheme is none of `sqlite:`, `postgres://`, `postgresql://`.
    #[error(
        "unsupported database URL scheme `{scheme}` in `{url}`: use `sqlite://PATH`, \
         `sqlite::memory:`, `postgres://...` or `postgresql://...`"
    )]
    UnsupportedUrl {
        /// The scheme as found in the URL (empty when there was none).
        scheme: String,
        /// The URL, with any password replaced by `***`.
        url: String,
    },

    /// The URL has a supported scheme but cannot be used as written.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The [`StoreOptions`](crate::StoreOptions) cannot work (e.g. zero connections).
    #[error("invalid store options: {0}")]
    InvalidOptions(String),

    /// The parent directory of a SQLite database file could not be created.
    #[error("cannot create directory `{}` for the SQLite database: {source}", path.display())]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The database could not be reached or opened.
    #[error("cannot connect to database `{url}`: {source}")]
    Connect {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A migration list cannot be applied as given (empty or duplicate id, no statement).
    #[error("invalid migration `{id}`: {reason}")]
    InvalidMigration {
        /// The offending migration id (may be empty, which is itself the problem).
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A statement of a migration failed; the migration was rolled back and is not recorded.
    #[error("migration `{id}` failed at statement {statement} of {total}: {source}")]
    Migration {
        /// The id of the migration that failed.
        id: String,
        /// 1-based index of the failing statement within the migration
        /// (`total + 1` means the commit itself failed).
        statement: usize,
        /// Number of statements in the migration.
        total: usize,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A query failed; `context` says which operation and on what.
    #[error("database error while {context}: {source}")]
    Database {
        /// The operation, e.g. "appending an event to app `chat` room `r1`".
        context: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A JSON payload could not be encoded, or a stored one could not be decoded.
    #[error("invalid JSON payload while {context}: {source}")]
    Payload {
        /// The operation and the row concerned.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Wraps a driver error with a description of what was being done.
    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Database { context, source }
    }
}
