//! Schema migrations: plain SQL, applied once each, recorded in
//! `roomwire_migrations`.
//!
//! We do not use `sqlx::migrate!` because its migrations are per backend
//! (checksummed files in one directory), while Roomwire ships one list of
//! portable statements that each app crate can extend with its own list.

use std::collections::HashSet;

use sqlx::pool::PoolConnection;
use sqlx::AnyConnection;
use sqlx::{Any, Connection, Executor, Transaction};

use crate::{now_ms, Backend, Store, StoreError};

/// One schema change.
///
/// `sql` holds one or more statements separated by `;`. It must be portable
/// between SQLite and PostgreSQL: column types `TEXT`, `BIGINT`, `INTEGER`,
/// `DOUBLE PRECISION` (not `BOOLEAN` or date types, see the crate docs), no
/// `AUTOINCREMENT` or `SERIAL` (the app makes its ids). A `;` inside quotes
/// or a comment does not split statements.
///
/// An applied migration must never be edited: only its id is recorded, so a
/// changed body would silently not run where the old one already did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Unique, stable name, e.g. `"0001_core_events"`. Ids share one table
    /// across all apps, so prefix app migrations with the app name.
    pub id: &'static str,
    /// The statements to run, in one transaction.
    pub sql: &'static str,
}

/// Key of the PostgreSQL advisory lock that serializes migrations across
/// processes: the ASCII bytes of "roomwire", so it is recognizable in
/// `pg_locks` and unlikely to collide with another application's key.
pub const MIGRATION_LOCK_KEY: i64 = 0x726f_6f6d_7769_7265;

/// Splits `sql` into statements at top-level `;`, skipping those that hold
/// only whitespace and comments.
///
/// Statements are sent one by one (rather than as one multi-statement
/// string) so that an error can say which statement failed, and because
/// PostgreSQL only accepts several statements in one string through the
/// simple-query protocol.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let len = bytes.len();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    // Every delimiter looked at is ASCII, so byte offsets always fall on
    // UTF-8 character boundaries and slicing `sql` with them is safe.
    while i < len {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                has_code = true;
                i += 1;
                while i < len {
                    if bytes[i] == quote {
                        // A doubled quote is an escaped quote, not the end.
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < len && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < len && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b';' => {
                if has_code {
                    statements.push(sql[start..i].trim());
                }
                has_code = false;
                i += 1;
                start = i;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                has_code = true;
                i += 1;
            }
        }
    }
    if has_code {
        statements.push(sql[start.min(len)..].trim());
    }
    statements
}

/// Checks a migration list before touching the database, so that a typo in
/// the list fails the start with a clear message instead of half-applying.
fn plan(migrations: &[Migration]) -> Result<Vec<(&Migration, Vec<&'static str>)>, StoreError> {
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(migrations.len());
    for migration in migrations {
        let invalid = |reason: &str| StoreError::InvalidMigration {
            id: migration.id.to_owned(),
            reason: reason.to_owned(),
        };
        if migration.id.trim().is_empty() {
            return Err(invalid("the id is empty"));
        }
        if !seen.insert(migration.id) {
            return Err(invalid("the id appears more than once in the list"));
        }
        let statements = split_statements(migration.sql);
        if statements.is_empty() {
            return Err(invalid("it contains no SQL statement"));
        }
        planned.push((migration, statements));
    }
    Ok(planned)
}

/// Starts a transaction that holds the write lock from its first statement.
///
/// On SQLite a plain (deferred) `BEGIN` takes the write lock only at the
/// first write; if another connection wrote in between, the upgrade fails
/// at once with "database is locked" instead of waiting out the busy
/// timeout. `BEGIN IMMEDIATE` waits up front instead. PostgreSQL locks rows
/// as it goes and needs nothing special.
pub(crate) async fn begin_write(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<Transaction<'_, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => conn.begin().await,
    }
}

impl Store {
    /// Applies, in list order, the migrations of `migrations` not yet
    /// recorded, each in its own transaction, and returns how many it applied.
    ///
    /// Running it again is a no-op, so every process calls it at start. A
    /// failing migration is rolled back and reported with its id; the ones
    /// before it stay applied and recorded, the ones after it are not tried.
    ///
    /// Two processes starting at once are safe: on PostgreSQL they queue on
    /// an advisory lock (`pg_advisory_lock`), on SQLite on the write lock,
    /// and each migration is claimed by inserting its id first, so it runs
    /// at most once.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<usize, StoreError> {
        let planned = plan(migrations)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db("acquiring a connection to run migrations"))?;
        if self.backend != Backend::Postgres {
            return apply(&mut conn, self.backend, &planned).await;
        }

        // The lock belongs to the session, so everything below must run on
        // this one connection. pg_advisory_lock returns `void`, a type the
        // Any driver cannot decode, hence the `SELECT 1 FROM` wrapper.
        sqlx::query("SELECT 1 FROM pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("taking the migration advisory lock"))?;
        let result = apply(&mut conn, self.backend, &planned).await;
        release_lock(&mut conn).await;
        result
    }
}

/// Releases the migration lock; if that fails, makes sure the connection is
/// closed rather than returned to the pool, because closing the session is
/// the other way to release the lock and a pooled session would keep it.
async fn release_lock(conn: &mut PoolConnection<Any>) {
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut **conn)
        .await;
    if let Err(error) = unlocked {
        tracing::warn!(%error, "could not release the migration advisory lock; closing its connection");
        conn.close_on_drop();
    }
}

async fn apply(
    conn: &mut AnyConnection,
    backend: Backend,
    planned: &[(&Migration, Vec<&'static str>)],
) -> Result<usize, StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS roomwire_migrations (\
            id TEXT PRIMARY KEY, \
            applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(StoreError::db("creating the table roomwire_migrations"))?;
    let applied: HashSet<String> = sqlx::query_scalar("SELECT id FROM roomwire_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::db("reading the table roomwire_migrations"))?
        .into_iter()
        .collect();

    let mut count = 0;
    for (migration, statements) in planned {
        if applied.contains(migration.id) {
            continue;
        }
        if apply_one(conn, backend, migration, statements).await? {
            tracing::info!(id = migration.id, "applied migration");
            count += 1;
        }
    }
    Ok(count)
}

/// Applies one migration; returns `false` if another process got to it
/// first.
async fn apply_one(
    conn: &mut AnyConnection,
    backend: Backend,
    migration: &Migration,
    statements: &[&'static str],
) -> Result<bool, StoreError> {
    let total = statements.len();
    let failed = |statement: usize| {
        move |source| StoreError::Migration {
            id: migration.id.to_owned(),
            statement,
            total,
            source,
        }
    };
    let bookkeeping = || StoreError::db(format!("recording migration `{}`", migration.id));
    let mut tx = begin_write(conn, backend).await.map_err(bookkeeping())?;

    // Claiming the id before running the body makes a concurrent runner
    // either wait on our uncommitted row or see it committed and skip; a
    // rollback removes the claim together with the body's effects.
    let claimed = sqlx::query(
        "INSERT INTO roomwire_migrations (id, applied_at) VALUES ($1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(migration.id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(bookkeeping())?
    .rows_affected();
    if claimed == 0 {
        tx.rollback().await.map_err(bookkeeping())?;
        return Ok(false);
    }

    for (index, statement) in statements.iter().enumerate() {
        if let Err(source) = (&mut *tx).execute(*statement).await {
            if let Err(error) = tx.rollback().await {
                tracing::warn!(id = migration.id, %error, "rollback after a failed migration failed");
            }
            return Err(failed(index + 1)(source));
        }
    }
    tx.commit().await.map_err(failed(total + 1))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "CREATE TABLE a (x TEXT DEFAULT 'a;b');\n\
                   -- a comment; with a semicolon\n\
                   INSERT INTO a VALUES ('it''s; fine');\
                   /* block; comment */ ; ;\n\
                   CREATE TABLE \"we;ird\" (y BIGINT)\n-- trailing comment";
        assert_eq!(
            split_statements(sql),
            vec![
                "CREATE TABLE a (x TEXT DEFAULT 'a;b')",
                "-- a comment; with a semicolon\nINSERT INTO a VALUES ('it''s; fine')",
                "CREATE TABLE \"we;ird\" (y BIGINT)\n-- trailing comment",
            ]
        );
        assert!(split_statements("  ; -- nothing\n /* here */ ").is_empty());
        assert_eq!(split_statements("SELECT 'é;ü'"), vec!["SELECT 'é;ü'"]);
        assert_eq!(
            split_statements("SELECT 'unterminated;"),
            vec!["SELECT 'unterminated;"]
        );
    }

    #[test]
    fn plan_rejects_bad_lists() {
        let dup = [
            Migration {
                id: "a",
                sql: "SELECT 1",
            },
            Migration {
                id: "a",
                sql: "SELECT 2",
            },
        ];
        assert!(matches!(plan(&dup), Err(StoreError::InvalidMigration { id, .. }) if id == "a"));
        let empty = [Migration {
            id: "b",
            sql: " ; -- none",
        }];
        assert!(matches!(plan(&empty), Err(StoreError::InvalidMigration { id, .. }) if id == "b"));
        let no_id = [Migration {
            id: " ",
            sql: "SELECT 1",
        }];
        assert!(matches!(
            plan(&no_id),
            Err(StoreError::InvalidMigration { .. })
        ));
    }
}
