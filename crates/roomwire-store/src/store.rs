//! Connecting to the database and the [`Store`] handle itself.

use std::fmt;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

use crate::url::{normalize_scheme, redact_url, SqliteTarget};
use crate::StoreError;

/// How long a SQLite connection waits for another connection's write lock
/// before giving up with "database is locked".
///
/// SQLite allows one writer at a time; without a busy timeout every
/// concurrent write would fail at once instead of queueing.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound on the pool size for SQLite.
///
/// SQLite serializes writers on one lock, so connections beyond a few only
/// add contention for it (and file descriptors), while WAL already lets
/// readers proceed next to the writer.
pub const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// The database engine behind a [`Store`].
///
/// Exposed so that callers can adapt the rare query that cannot be written
/// portably, and report the engine in diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, from a `sqlite:` URL: the zero-setup default.
    Sqlite,
    /// PostgreSQL, from a `postgres://` or `postgresql://` URL.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Pool settings for [`Store::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections the pool opens. Default 8.
    ///
    /// For SQLite files the pool uses at most [`SQLITE_MAX_CONNECTIONS`] (4),
    /// whatever is set here, and for `sqlite::memory:` exactly one, because
    /// each connection to an in-memory database would otherwise see its own
    /// empty database.
    pub max_connections: u32,
    /// How long to wait for a connection, both when opening one and when the
    /// pool is exhausted, before failing. Default 5 s: long enough for a
    /// database that is starting, short enough for a health check to notice.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreOptions {
    /// The pool size actually used for `backend` with these options.
    pub fn effective_max_connections(&self, backend: Backend) -> u32 {
        match backend {
            Backend::Sqlite => self.max_connections.min(SQLITE_MAX_CONNECTIONS),
            Backend::Postgres => self.max_connections,
        }
    }
}

/// A handle on the database: a connection pool plus the backend it talks to.
///
/// Cloning is cheap (the pool is reference-counted), so each part of the
/// server keeps its own clone instead of sharing a reference.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    url: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Registers sqlx's built-in drivers with the `Any` driver.
///
/// `Any` picks a driver from the URL scheme at run time and knows none until
/// they are installed; doing it here means no caller has to remember to.
fn install_drivers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(sqlx::any::install_default_drivers);
}

impl Store {
    /// Opens a pool on `url` and checks that one connection works.
    ///
    /// Accepted URLs: `sqlite://PATH` (relative to the working directory;
    /// `sqlite:///abs/path` for an absolute one), `sqlite::memory:`,
    /// `postgres://...` and `postgresql://...`.
    ///
    /// For a SQLite file, the file and its parent directory are created when
    /// missing (unless the URL says otherwise with `mode=`), the database is
    /// put in WAL mode so readers do not block the writer, and every
    /// connection gets a 5 s busy timeout and foreign keys on.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        install_drivers();
        if opts.max_connections == 0 {
            return Err(StoreError::InvalidOptions(
                "max_connections must be at least 1".to_owned(),
            ));
        }
        let backend = Backend::from_url(url)?;
        let url = normalize_scheme(url);
        let redacted = redact_url(&url);
        let connect_error = |source| StoreError::Connect {
            url: redacted.clone(),
            source,
        };
        let any_options: AnyConnectOptions =
            url.parse()
                .map_err(|e: sqlx::Error| StoreError::InvalidUrl {
                    url: redacted.clone(),
                    reason: e.to_string(),
                })?;

        let mut pool_options = AnyPoolOptions::new()
            .max_connections(opts.effective_max_connections(backend))
            .acquire_timeout(opts.connect_timeout);

        if backend == Backend::Sqlite {
            match SqliteTarget::parse(&url)? {
                SqliteTarget::Memory => {
                    // sqlx's Any driver re-parses the URL for every new
                    // connection and each parse of `:memory:` names a fresh
                    // shared-cache database, so a second connection (or a
                    // reconnect after an idle timeout) would see an empty
                    // database. One connection that never expires keeps it.
                    pool_options = pool_options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                SqliteTarget::File {
                    options,
                    path,
                    mode,
                } => {
                    prepare_sqlite_file(*options, &path, mode.as_deref(), opts.connect_timeout)
                        .await
                        .map_err(|e| match e {
                            PrepareError::Dir(source) => StoreError::CreateDir {
                                path: path.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
                                source,
                            },
                            PrepareError::Sqlx(source) => connect_error(source),
                        })?;
                }
            }
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // The Any driver cannot carry SQLite pragmas in the URL,
                    // so they are set on each new connection instead. sqlx
                    // happens to default to the same values today; stating
                    // them keeps us safe if that default changes.
                    let busy_timeout =
                        format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
                    conn.execute(busy_timeout.as_str()).await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }

        let pool = match pool_options.connect_with(any_options.clone()).await {
            Ok(pool) => pool,
            Err(sqlx::Error::PoolTimedOut) => {
                return Err(connect_error(
                    explain_timeout(&any_options, opts.connect_timeout).await,
                ))
            }
            Err(source) => return Err(connect_error(source)),
        };
        tracing::info!(backend = %backend, url = %redacted, "connected to database");
        Ok(Store {
            pool,
            backend,
            url: redacted,
        })
    }

    /// Runs a trivial query, so that a readiness probe fails when the
    /// database is gone even though the pool still holds connections.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .execute("SELECT 1")
            .await
            .map_err(StoreError::db(format!("pinging `{}`", self.url)))?;
        Ok(())
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for app-specific queries.
    ///
    /// Queries on it must stay within what sqlx's `Any` driver supports on
    /// both engines (see the crate docs): `$1`-style placeholders, binding
    /// and decoding only `i64`, `i32`, `f64`, `String`/`&str` and `Option`s
    /// of those, and no `BOOLEAN` or date-typed columns.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that is going to write, on a pooled connection.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a transaction that
    /// reads before it writes cannot fail with "database is locked" when it upgrades its lock
    /// while another connection writes; it waits for the busy timeout instead.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Waits for checked-out connections to come back, then closes them all.
    ///
    /// Calling it at shutdown lets SQLite checkpoint its WAL and PostgreSQL
    /// see clean disconnects instead of dropped sockets.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Finds out why the pool could not open a connection in time.
///
/// The pool retries failed connection attempts until its timeout and then
/// reports only "pool timed out", hiding the cause an operator needs
/// ("connection refused", "database does not exist"...). One direct attempt
/// usually fails fast with that cause; if it too hangs, the timeout stands.
async fn explain_timeout(options: &AnyConnectOptions, connect_timeout: Duration) -> sqlx::Error {
    match tokio::time::timeout(connect_timeout, options.connect()).await {
        Ok(Err(cause)) => cause,
        Ok(Ok(conn)) => {
            // It worked this time: the server was just slow or starting.
            let _ = conn.close().await;
            sqlx::Error::PoolTimedOut
        }
        Err(_) => sqlx::Error::PoolTimedOut,
    }
}

/// Why a SQLite file could not be prepared.
enum PrepareError {
    Dir(std::io::Error),
    Sqlx(sqlx::Error),
}

/// Creates the database file's directory and the file itself, and switches
/// the database to WAL, with one connection before the pool opens.
///
/// Switching to WAL needs an exclusive lock that the busy timeout does not
/// wait for, so doing it from every pooled connection could fail when they
/// open together; WAL is persistent, so once per start is enough.
async fn prepare_sqlite_file(
    options: SqliteConnectOptions,
    path: &std::path::Path,
    mode: Option<&str>,
    connect_timeout: Duration,
) -> Result<(), PrepareError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(PrepareError::Dir)?;
    }
    let mut options = options.busy_timeout(SQLITE_BUSY_TIMEOUT);
    if mode.is_none() {
        options = options.create_if_missing(true);
    }
    if mode != Some("ro") {
        options = options.journal_mode(SqliteJournalMode::Wal);
    }
    let conn = tokio::time::timeout(connect_timeout, options.connect())
        .await
        .map_err(|_| {
            PrepareError::Sqlx(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "opening the SQLite file timed out",
            )))
        })?
        .map_err(PrepareError::Sqlx)?;
    conn.close().await.map_err(PrepareError::Sqlx)
}
