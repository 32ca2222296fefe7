//! The core event log: what happened in each room, in order, for every app.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::migrate::begin_write;
use crate::{now_ms, Migration, Store, StoreError};

/// The core schema, to be applied before any app's own migrations.
///
/// `roomwire_events` holds the log. Its primary key (app, room, seq) is the
/// index that reads by room use, and also makes a duplicate sequence number
/// impossible even if the counter below were bypassed.
///
/// `roomwire_room_seqs` keeps the last sequence number of each room.
/// Incrementing a counter row serializes concurrent appends to one room on
/// that row's lock (PostgreSQL) or the database write lock (SQLite), so
/// numbers come out consecutive without retries; computing `MAX(seq) + 1`
/// instead would let two appends read the same maximum.
pub const CORE_MIGRATIONS: &[Migration] = &[Migration {
    id: "0001_core_event_log",
    sql: "
        CREATE TABLE roomwire_events (
            app     TEXT   NOT NULL,
            room    TEXT   NOT NULL,
            seq     BIGINT NOT NULL,
            kind    TEXT   NOT NULL,
            actor   TEXT,
            payload TEXT   NOT NULL,
            at_ms   BIGINT NOT NULL,
            PRIMARY KEY (app, room, seq)
        );
        CREATE TABLE roomwire_room_seqs (
            app      TEXT   NOT NULL,
            room     TEXT   NOT NULL,
            last_seq BIGINT NOT NULL,
            PRIMARY KEY (app, room)
        );
    ",
}];

/// An event to append; borrowed so that callers need not allocate.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// The app the room belongs to; sequences are per (app, room).
    pub app: &'a str,
    /// The room's id within the app.
    pub room: &'a str,
    /// What happened, e.g. `"join"`, `"leave"`, `"host_change"`, `"kick"`.
    pub kind: &'a str,
    /// Who did it, when someone did.
    pub actor: Option<&'a str>,
    /// Details; stored as JSON text.
    pub payload: &'a serde_json::Value,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The app the room belongs to.
    pub app: String,
    /// The room's id within the app.
    pub room: String,
    /// Position in the room's log: 1 for the first event, then 2, 3...
    pub seq: i64,
    /// What happened.
    pub kind: String,
    /// Who did it, when someone did.
    pub actor: Option<String>,
    /// Details, as appended.
    pub payload: serde_json::Value,
    /// When it was appended, in milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
}

/// Takes the next number of the room's counter, creating the counter at 1.
/// `RETURNING` and `ON CONFLICT ... DO UPDATE` exist in both engines
/// (SQLite ≥ 3.35), so one statement serves both.
const NEXT_SEQ: &str = "\
    INSERT INTO roomwire_room_seqs (app, room, last_seq) VALUES ($1, $2, 1) \
    ON CONFLICT (app, room) DO UPDATE SET last_seq = roomwire_room_seqs.last_seq + 1 \
    RETURNING last_seq";

const INSERT_EVENT: &str = "\
    INSERT INTO roomwire_events (app, room, seq, kind, actor, payload, at_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SELECT_EVENTS: &str = "\
    SELECT seq, kind, actor, payload, at_ms FROM roomwire_events \
    WHERE app = $1 AND room = $2 AND seq > $3 \
    ORDER BY seq \
    LIMIT $4";

impl Store {
    /// Appends an event to its room's log and returns its sequence number
    /// within (app, room): 1 for a room's first event, then 2, 3...
    ///
    /// Numbers are unique and gap-free per room even under concurrent
    /// appends from several tasks or processes, because the counter update
    /// and the insert commit together or not at all.
    pub async fn append_event(&self, event: &NewEvent<'_>) -> Result<i64, StoreError> {
        let context = || {
            format!(
                "appending a `{}` event to app `{}` room `{}`",
                event.kind, event.app, event.room
            )
        };
        let payload =
            serde_json::to_string(event.payload).map_err(|source| StoreError::Payload {
                context: context(),
                source,
            })?;
        let at_ms = now_ms();

        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::db(context()))?;
        let mut tx = begin_write(&mut conn, self.backend)
            .await
            .map_err(StoreError::db(context()))?;
        let seq: i64 = sqlx::query_scalar(NEXT_SEQ)
            .bind(event.app)
            .bind(event.room)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db(context()))?;
        sqlx::query(INSERT_EVENT)
            .bind(event.app)
            .bind(event.room)
            .bind(seq)
            .bind(event.kind)
            .bind(event.actor)
            .bind(payload)
            .bind(at_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db(context()))?;
        tx.commit().await.map_err(StoreError::db(context()))?;
        Ok(seq)
    }

    /// Returns up to `limit` events of a room with a sequence number greater
    /// than `after_seq`, oldest first.
    ///
    /// Pass `after_seq = 0` to read from the start, then the last `seq` seen
    /// to page on. A `limit` of 0 or less returns nothing (rather than
    /// everything, as SQLite would, or an error, as PostgreSQL would).
    pub async fn room_events(
        &self,
        app: &str,
        room: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let context = || format!("reading events of app `{app}` room `{room}`");
        let rows = sqlx::query(SELECT_EVENTS)
            .bind(app)
            .bind(room)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db(context()))?;

        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq").map_err(StoreError::db(context()))?;
                let text: String = row.try_get("payload").map_err(StoreError::db(context()))?;
                let payload =
                    serde_json::from_str(&text).map_err(|source| StoreError::Payload {
                        context: format!("{} (seq {seq})", context()),
                        source,
                    })?;
                Ok(StoredEvent {
                    app: app.to_owned(),
                    room: room.to_owned(),
                    seq,
                    kind: row.try_get("kind").map_err(StoreError::db(context()))?,
                    actor: row.try_get("actor").map_err(StoreError::db(context()))?,
                    payload,
                    at_ms: row.try_get("at_ms").map_err(StoreError::db(context()))?,
                })
            })
            .collect()
    }
}
