//! One set of test cases (module `cases`), run against both backends:
//! `sqlite::*` on a fresh database file, `postgres::*` on a fresh database
//! created for each test in the server at `ROOMWIRE_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped after.
//!
//! The PostgreSQL tests fail, never skip, when the server is unreachable: a
//! suite that silently skips half its backends would report green for code
//! that was never run against PostgreSQL.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use roomwire_store::{
    redact_url, Backend, Migration, NewEvent, Store, StoreError, StoreOptions, CORE_MIGRATIONS,
};
use serde_json::json;
use sqlx::{Executor, Row};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// What a test case gets: a migrated-nothing store on a database of its own,
/// and the URL, for cases that open a second store on the same database.
struct Ctx {
    store: Store,
    url: String,
}

/// A name no other test or concurrent run uses: lower-case, so it is also a
/// valid unquoted PostgreSQL identifier.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{prefix}{:016x}", hasher.finish())
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(unique_name("roomwire-store-test-")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Runs `case` on a store backed by a new SQLite file in a directory that
/// does not exist yet.
async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new();
    let url = sqlite_url(&dir.0.join("nested").join("roomwire.db"));
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    assert_eq!(store.backend(), Backend::Sqlite);
    let outcome = tokio::spawn(case(Ctx {
        store: store.clone(),
        url,
    }))
    .await;
    store.close().await;
    drop(dir);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

fn postgres_admin_url() -> String {
    std::env::var("ROOMWIRE_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// The same server URL with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs `case` on a store backed by a new PostgreSQL database, which is
/// dropped afterwards whether the case passed or not.
async fn run_postgres<F, Fut>(case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = postgres_admin_url();
    let admin_options = StoreOptions {
        max_connections: 1,
        connect_timeout: Duration::from_secs(5),
    };
    let admin = Store::connect(&admin_url, &admin_options)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL not reachable at {}: start one (scripts/test.sh starts it) \
                 or set ROOMWIRE_TEST_POSTGRES_URL\n(cause: {e})",
                redact_url(&admin_url)
            )
        });
    let database = unique_name("roomwire_test_");
    admin
        .pool()
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create database {database}: {e}"));

    let url = with_database(&admin_url, &database);
    let outcome = match Store::connect(&url, &StoreOptions::default()).await {
        Ok(store) => {
            assert_eq!(store.backend(), Backend::Postgres);
            let outcome = tokio::spawn(case(Ctx {
                store: store.clone(),
                url,
            }))
            .await;
            store.close().await;
            outcome.map_err(|e| e.into_panic())
        }
        Err(e) => Err(Box::new(format!("cannot connect to the test database: {e}")) as _),
    };

    // FORCE ends sessions a failed case may have left behind (e.g. a
    // second store it did not close), which would otherwise block the drop.
    admin
        .pool()
        .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot drop database {database}: {e}"));
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares each case once per backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run_sqlite(super::cases::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run_postgres(super::cases::$case).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrate_is_idempotent,
    later_list_applies_only_new_migrations,
    failing_migration_names_its_id_and_keeps_earlier_ones,
    concurrent_migrate_from_two_stores,
    events_are_numbered_per_app_and_room,
    concurrent_appends_get_distinct_consecutive_seqs,
    ping_works,
    any_driver_binds_and_decodes_portable_types,
);

mod cases {
    use super::*;

    const APP_V1: &[Migration] = &[
        Migration {
            id: "test_0001_notes",
            sql: "CREATE TABLE test_notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
        },
        Migration {
            id: "test_0002_notes_index",
            // Two statements, one with a `;` inside a string literal.
            sql: "ALTER TABLE test_notes ADD COLUMN tag TEXT NOT NULL DEFAULT 'a;b';
                  CREATE INDEX test_notes_tag ON test_notes (tag);",
        },
    ];

    const APP_V2_EXTRA: Migration = Migration {
        id: "test_0003_votes",
        sql: "CREATE TABLE test_votes (note_id TEXT NOT NULL, voter TEXT NOT NULL, \
              PRIMARY KEY (note_id, voter))",
    };

    async fn recorded_ids(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT id FROM roomwire_migrations ORDER BY id")
            .fetch_all(store.pool())
            .await
            .expect("read roomwire_migrations")
    }

    async fn table_exists(store: &Store, table: &str) -> bool {
        store
            .pool()
            .execute(format!("SELECT COUNT(*) FROM {table}").as_str())
            .await
            .is_ok()
    }

    pub async fn migrate_is_idempotent(ctx: Ctx) {
        let store = ctx.store;
        assert_eq!(
            store.migrate(CORE_MIGRATIONS).await.expect("core"),
            CORE_MIGRATIONS.len()
        );
        assert_eq!(store.migrate(APP_V1).await.expect("app"), 2);
        assert_eq!(store.migrate(CORE_MIGRATIONS).await.expect("core again"), 0);
        assert_eq!(store.migrate(APP_V1).await.expect("app again"), 0);
        assert_eq!(store.migrate(&[]).await.expect("empty list"), 0);
        assert_eq!(
            recorded_ids(&store).await,
            vec![
                "0001_core_event_log",
                "test_0001_notes",
                "test_0002_notes_index"
            ]
        );
        // The default from the second statement is the whole literal.
        sqlx::query("INSERT INTO test_notes (id, body) VALUES ($1, $2)")
            .bind("n1")
            .bind("hello")
            .execute(store.pool())
            .await
            .expect("insert note");
        let tag: String = sqlx::query_scalar("SELECT tag FROM test_notes WHERE id = $1")
            .bind("n1")
            .fetch_one(store.pool())
            .await
            .expect("read tag");
        assert_eq!(tag, "a;b");
    }

    pub async fn later_list_applies_only_new_migrations(ctx: Ctx) {
        let store = ctx.store;
        assert_eq!(store.migrate(APP_V1).await.expect("v1"), 2);
        let v2 = [APP_V1[0], APP_V1[1], APP_V2_EXTRA];
        assert_eq!(store.migrate(&v2).await.expect("v2"), 1);
        assert_eq!(store.migrate(&v2).await.expect("v2 again"), 0);
        assert!(table_exists(&store, "test_votes").await);
        assert_eq!(
            recorded_ids(&store).await,
            vec![
                "test_0001_notes",
                "test_0002_notes_index",
                "test_0003_votes"
            ]
        );
    }

    pub async fn failing_migration_names_its_id_and_keeps_earlier_ones(ctx: Ctx) {
        let store = ctx.store;
        let broken = [
            APP_V1[0],
            Migration {
                id: "test_0002_broken",
                sql: "CREATE TABLE test_half (x TEXT); THIS IS NOT SQL",
            },
            APP_V2_EXTRA,
        ];
        let error = store.migrate(&broken).await.expect_err("bad SQL must fail");
        let message = error.to_string();
        assert!(message.contains("test_0002_broken"), "message: {message}");
        match error {
            StoreError::Migration {
                id,
                statement,
                total,
                ..
            } => {
                assert_eq!(id, "test_0002_broken");
                assert_eq!((statement, total), (2, 2));
            }
            other => panic!("expected StoreError::Migration, got {other:?}"),
        }
        assert_eq!(recorded_ids(&store).await, vec!["test_0001_notes"]);
        assert!(table_exists(&store, "test_notes").await);
        assert!(
            !table_exists(&store, "test_half").await,
            "the failed migration's first statement must be rolled back"
        );
        assert!(
            !table_exists(&store, "test_votes").await,
            "migrations after the failed one must not run"
        );

        // Once the broken one is fixed (here: removed), the rest applies.
        assert_eq!(
            store
                .migrate(&[APP_V1[0], APP_V2_EXTRA])
                .await
                .expect("fixed"),
            1
        );
    }

    pub async fn concurrent_migrate_from_two_stores(ctx: Ctx) {
        // Two stores stand for two server processes starting at once.
        let other = Store::connect(&ctx.url, &StoreOptions::default())
            .await
            .expect("second store");
        let all: Vec<Migration> = CORE_MIGRATIONS
            .iter()
            .chain(APP_V1)
            .copied()
            .chain([APP_V2_EXTRA])
            .collect();
        let (a, b) = tokio::join!(ctx.store.migrate(&all), other.migrate(&all));
        let (a, b) = (a.expect("first migrator"), b.expect("second migrator"));
        assert_eq!(a + b, all.len(), "each migration applied exactly once");
        assert_eq!(recorded_ids(&ctx.store).await.len(), all.len());
        if ctx.store.backend() == Backend::Postgres {
            // The advisory lock must be released, not left with a pooled
            // session where it would block the next process's migrate.
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(ctx.store.pool())
            .await
            .expect("read pg_locks");
            assert_eq!(held, 0, "migration advisory lock still held");
        }
        other.close().await;
    }

    pub async fn events_are_numbered_per_app_and_room(ctx: Ctx) {
        let store = ctx.store;
        store.migrate(CORE_MIGRATIONS).await.expect("core");
        let before = roomwire_store::now_ms();

        let payload =
            json!({"name": "Zoë", "nested": {"list": [1, 2.5, null, true]}, "quote": "it's"});
        let append = |app: &'static str, room: &'static str, kind: &'static str, actor| {
            let store = store.clone();
            let payload = payload.clone();
            async move {
                store
                    .append_event(&NewEvent {
                        app,
                        room,
                        kind,
                        actor,
                        payload: &payload,
                    })
                    .await
                    .expect("append")
            }
        };
        assert_eq!(append("chat", "r1", "join", Some("alice")).await, 1);
        assert_eq!(append("chat", "r1", "join", Some("bob")).await, 2);
        assert_eq!(append("chat", "r2", "join", Some("carol")).await, 1);
        assert_eq!(append("quiz", "r1", "host_change", None).await, 1);
        assert_eq!(append("chat", "r1", "kick", Some("alice")).await, 3);
        assert_eq!(append("chat", "r2", "leave", Some("carol")).await, 2);
        let after = roomwire_store::now_ms();

        let r1 = store
            .room_events("chat", "r1", 0, 100)
            .await
            .expect("read r1");
        assert_eq!(r1.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(
            r1.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            vec!["join", "join", "kick"]
        );
        assert_eq!(r1[1].actor.as_deref(), Some("bob"));
        for event in &r1 {
            assert_eq!((event.app.as_str(), event.room.as_str()), ("chat", "r1"));
            assert_eq!(event.payload, payload);
            assert!(
                (before..=after).contains(&event.at_ms),
                "at_ms {}",
                event.at_ms
            );
        }

        let quiz = store
            .room_events("quiz", "r1", 0, 100)
            .await
            .expect("read quiz");
        assert_eq!(quiz.len(), 1);
        assert_eq!(quiz[0].actor, None);
        assert_eq!(quiz[0].kind, "host_change");

        // Paging: after a seq, and limited.
        let page = store.room_events("chat", "r1", 1, 1).await.expect("page");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
        let rest = store.room_events("chat", "r1", 2, 100).await.expect("rest");
        assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
        assert!(store
            .room_events("chat", "r1", 3, 100)
            .await
            .expect("none")
            .is_empty());
        assert!(store
            .room_events("chat", "r1", 0, 0)
            .await
            .expect("limit 0")
            .is_empty());
        assert!(store
            .room_events("chat", "r1", 0, -1)
            .await
            .expect("limit -1")
            .is_empty());
        assert!(store
            .room_events("chat", "nope", 0, 10)
            .await
            .expect("empty")
            .is_empty());

        // Events serialize as the JSON the server sends to clients.
        let value = serde_json::to_value(&quiz[0]).expect("serialize");
        assert_eq!(value["seq"], 1);
        assert_eq!(value["actor"], serde_json::Value::Null);
        assert_eq!(value["payload"]["nested"]["list"][1], 2.5);
    }

    pub async fn concurrent_appends_get_distinct_consecutive_seqs(ctx: Ctx) {
        let store = ctx.store;
        store.migrate(CORE_MIGRATIONS).await.expect("core");
        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = store.clone();
            // 50 appends to one room, interleaved with 10 to another room.
            let room = if i % 6 == 5 { "other" } else { "busy" };
            tasks.push(tokio::spawn(async move {
                let payload = json!({ "i": i });
                let seq = store
                    .append_event(&NewEvent {
                        app: "chat",
                        room,
                        kind: "join",
                        actor: None,
                        payload: &payload,
                    })
                    .await
                    .unwrap_or_else(|e| panic!("append {i}: {e}"));
                (room, seq)
            }));
        }
        let mut busy = Vec::new();
        let mut other = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                ("busy", seq) => busy.push(seq),
                (_, seq) => other.push(seq),
            }
        }
        busy.sort_unstable();
        other.sort_unstable();
        assert_eq!(busy, (1..=50).collect::<Vec<i64>>());
        assert_eq!(other, (1..=10).collect::<Vec<i64>>());

        let stored = store
            .room_events("chat", "busy", 0, 1000)
            .await
            .expect("read");
        assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), busy);
        let mut payload_ids: Vec<i64> = stored
            .iter()
            .map(|e| e.payload["i"].as_i64().expect("payload i"))
            .collect();
        payload_ids.sort_unstable();
        payload_ids.dedup();
        assert_eq!(payload_ids.len(), 50, "every append stored exactly once");
    }

    pub async fn ping_works(ctx: Ctx) {
        ctx.store.ping().await.expect("ping");
        // Clones share the pool.
        ctx.store.clone().ping().await.expect("ping on a clone");
    }

    /// Checks the claims made to app authors about sqlx's Any driver:
    /// `$n` placeholders, also out of order, and the portable types.
    /// Flags are BIGINT 0/1: a SQLite column declared BOOLEAN cannot be read
    /// through Any at all, and a bound `bool` does not fit a PostgreSQL BIGINT.
    pub async fn any_driver_binds_and_decodes_portable_types(ctx: Ctx) {
        let store = ctx.store;
        let migration = [Migration {
            id: "test_types",
            sql: "CREATE TABLE test_types (
                      id TEXT PRIMARY KEY, big BIGINT, small INTEGER, real_num DOUBLE PRECISION,
                      flag BIGINT, maybe TEXT)",
        }];
        store.migrate(&migration).await.expect("migrate");
        sqlx::query(
            "INSERT INTO test_types (id, big, small, real_num, flag, maybe) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind("a")
        .bind(i64::MAX)
        .bind(-7_i32)
        .bind(0.25_f64)
        .bind(i64::from(true))
        .bind(None::<String>)
        .execute(store.pool())
        .await
        .expect("insert");
        let row = sqlx::query(
            "SELECT id, big, small, real_num, flag, maybe FROM test_types \
             WHERE big = $2 AND id = $1 AND big > $3",
        )
        .bind("a")
        .bind(i64::MAX)
        .bind(0_i64)
        .fetch_one(store.pool())
        .await
        .expect("select");
        assert_eq!(row.get::<String, _>("id"), "a");
        assert_eq!(row.get::<i64, _>("big"), i64::MAX);
        assert_eq!(row.get::<i64, _>("small"), -7);
        assert_eq!(row.get::<f64, _>("real_num"), 0.25);
        assert_eq!(row.get::<i64, _>("flag"), 1);
        assert_eq!(row.get::<Option<String>, _>("maybe"), None);
    }
}

#[tokio::test]
async fn unsupported_url_schemes_are_rejected_by_name() {
    for (url, scheme) in [
        ("mysql://root:hunter2@localhost/db", "mysql"),
        ("redis://localhost", "redis"),
        ("/var/lib/roomwire.db", ""),
        ("", ""),
    ] {
        match Store::connect(url, &StoreOptions::default()).await {
            Err(error @ StoreError::UnsupportedUrl { .. }) => {
                let message = error.to_string();
                assert!(message.contains(&format!("`{scheme}`")), "{message}");
                assert!(!message.contains("hunter2"), "password leaked: {message}");
            }
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn zero_connections_is_rejected() {
    let options = StoreOptions {
        max_connections: 0,
        ..StoreOptions::default()
    };
    assert!(matches!(
        Store::connect("sqlite::memory:", &options).await,
        Err(StoreError::InvalidOptions(_))
    ));
}

#[tokio::test]
async fn unreachable_postgres_names_the_url_without_password() {
    let options = StoreOptions {
        max_connections: 1,
        connect_timeout: Duration::from_secs(2),
    };
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let url = "postgres://roomwire:hunter2@127.0.0.1:1/roomwire";
    match Store::connect(url, &options).await {
        Err(error @ StoreError::Connect { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("postgres://roomwire:***@127.0.0.1:1/roomwire"),
                "{message}"
            );
            assert!(!message.contains("hunter2"), "password leaked: {message}");
            // The pool alone would only say it timed out; the cause must show.
            assert!(!message.contains("timed out"), "cause hidden: {message}");
        }
        other => panic!("expected StoreError::Connect, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_file_and_parent_dirs_are_created_in_wal_mode() {
    let dir = TempDir::new();
    let path = dir.0.join("a").join("b").join("roomwire.db");
    assert!(!dir.0.exists());
    let store = Store::connect(&sqlite_url(&path), &StoreOptions::default())
        .await
        .expect("connect");
    assert!(path.is_file(), "{} was not created", path.display());

    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .expect("journal_mode");
    assert_eq!(journal_mode.to_ascii_lowercase(), "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .expect("foreign_keys");
    assert_eq!(foreign_keys, 1);
    let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .expect("busy_timeout");
    assert_eq!(busy_timeout, 5000);
    store.close().await;

    // Reopening keeps the data and does not fail on the existing file.
    let store = Store::connect(&sqlite_url(&path), &StoreOptions::default())
        .await
        .expect("reconnect");
    store.migrate(CORE_MIGRATIONS).await.expect("migrate");
    store.close().await;
    let store = Store::connect(&sqlite_url(&path), &StoreOptions::default())
        .await
        .expect("reconnect again");
    assert_eq!(
        store.migrate(CORE_MIGRATIONS).await.expect("migrate again"),
        0
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_explicit_read_write_mode_does_not_create_the_file() {
    let dir = TempDir::new();
    let path = dir.0.join("missing.db");
    let url = format!("{}?mode=rw", sqlite_url(&path));
    match Store::connect(&url, &StoreOptions::default()).await {
        Err(StoreError::Connect { url: in_error, .. }) => assert!(in_error.contains("missing.db")),
        other => panic!("expected StoreError::Connect, got {other:?}"),
    }
    assert!(!path.exists());
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_across_calls() {
    let store = Store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate(CORE_MIGRATIONS).await.expect("migrate");
    let payload = json!({});
    for expected in 1..=3 {
        let seq = store
            .append_event(&NewEvent {
                app: "a",
                room: "r",
                kind: "join",
                actor: None,
                payload: &payload,
            })
            .await
            .expect("append");
        assert_eq!(seq, expected);
    }
    assert_eq!(
        store
            .room_events("a", "r", 0, 10)
            .await
            .expect("read")
            .len(),
        3
    );
    assert_eq!(
        store.migrate(CORE_MIGRATIONS).await.expect("migrate again"),
        0
    );
    store.close().await;
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
}
