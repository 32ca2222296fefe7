//! The study-groups tables and every query on them (portable SQL: SQLite and PostgreSQL).

use std::collections::{HashMap, HashSet};

use roomwire_store::{Migration, Store};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::model::{
    assigned_role, shared_card, GroupRole, Layer, RoundStatus, SessionMode, SessionStatus, Timing,
};
use crate::kit::stamp::iso8601;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "study_groups_001_schema",
        sql: "
        CREATE TABLE sg_users (
            id TEXT PRIMARY KEY,
            name TEXT,
            email TEXT,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE sg_groups (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE TABLE sg_group_members (
            group_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX sg_group_members_user ON sg_group_members (user_id);
        CREATE TABLE sg_sessions (
            id TEXT PRIMARY KEY,
            group_id TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            facilitator_id TEXT NOT NULL,
            scribe_id TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            started_at BIGINT,
            started_by TEXT,
            ended_at BIGINT,
            ended_by TEXT
        );
        CREATE INDEX sg_sessions_group ON sg_sessions (group_id, created_at);
        CREATE TABLE sg_rounds (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            round_index BIGINT NOT NULL,
            prompt TEXT NOT NULL,
            status TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (session_id, round_index)
        );
        CREATE TABLE sg_attendance (
            session_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            joined_at BIGINT NOT NULL,
            PRIMARY KEY (session_id, user_id)
        );
        CREATE TABLE sg_events (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            round_id TEXT NOT NULL,
            round_index BIGINT NOT NULL,
            user_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            order_key BIGINT NOT NULL
        );
        CREATE INDEX sg_events_session ON sg_events (session_id, order_key);
        CREATE INDEX sg_events_round ON sg_events (round_id, event_type);
        CREATE TABLE sg_shared_cards (
            id TEXT PRIMARY KEY, -- the id of the GROUP_EXPLANATION_SUBMIT event
            session_id TEXT NOT NULL,
            round_id TEXT NOT NULL,
            round_index BIGINT NOT NULL,
            event_id TEXT NOT NULL,
            author_id TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX sg_shared_cards_session ON sg_shared_cards (session_id, created_at);
        CREATE TABLE sg_chat (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            round_index BIGINT,
            user_id TEXT NOT NULL,
            user_name TEXT NOT NULL,
            message TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            order_key BIGINT NOT NULL
        );
        CREATE INDEX sg_chat_session ON sg_chat (session_id, order_key);
        CREATE TABLE sg_chat_reads (
            session_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            read_at BIGINT NOT NULL,
            PRIMARY KEY (message_id, user_id)
        );
        CREATE INDEX sg_chat_reads_session ON sg_chat_reads (session_id);
    ",
    },
    // What the AprendeAI frontend creates and reads beyond the document: a session's content
    // reference, mode and layer; a round's answer options and phase timers (NULL timers: the
    // configured L1 timers, for rounds made before this migration).
    Migration {
        id: "study_groups_002_frontend_fields",
        sql: "
        ALTER TABLE sg_sessions ADD COLUMN content_id TEXT;
        ALTER TABLE sg_sessions ADD COLUMN mode TEXT NOT NULL DEFAULT 'PI_SPRINT';
        ALTER TABLE sg_sessions ADD COLUMN layer TEXT NOT NULL DEFAULT 'L1';
        ALTER TABLE sg_rounds ADD COLUMN options TEXT;
        ALTER TABLE sg_rounds ADD COLUMN vote_sec BIGINT;
        ALTER TABLE sg_rounds ADD COLUMN discuss_sec BIGINT;
        ALTER TABLE sg_rounds ADD COLUMN revote_sec BIGINT;
        ALTER TABLE sg_rounds ADD COLUMN explain_sec BIGINT;
    ",
    },
];

type DbResult<T> = Result<T, sqlx::Error>;

fn opt_iso(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(iso8601(m))).unwrap_or(Value::Null)
}

/// A user's display name from what is stored: the name, else the email, else the id.
fn display(id: &str, name: Option<String>, email: Option<String>) -> String {
    name.filter(|n| !n.is_empty())
        .or(email.filter(|e| !e.is_empty()))
        .unwrap_or_else(|| id.to_owned())
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub created_at: i64,
}

impl Group {
    fn from_row(r: &AnyRow) -> DbResult<Group> {
        Ok(Group {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            owner_id: r.try_get("owner_id")?,
            created_at: r.try_get("created_at")?,
        })
    }

    /// The group; `members` when they were read. `ownerUserId` is the frontend's name of
    /// `ownerId`.
    pub fn json(&self, members: Option<&[Member]>) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "ownerId": self.owner_id,
            "ownerUserId": self.owner_id,
            "createdAt": iso8601(self.created_at),
        });
        if let Some(members) = members {
            v["members"] = members.iter().map(|m| m.json(&self.id)).collect();
        }
        v
    }
}

/// A group as listed, with how many members and sessions it has.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group: Group,
    pub members: i64,
    pub sessions: i64,
}

impl GroupSummary {
    /// The group with `_count {members, contents, sessions}` (Roomwire keeps no contents),
    /// and its members when given.
    pub fn json(&self, members: Option<&[Member]>) -> Value {
        let mut v = self.group.json(members);
        v["_count"] = json!({"members": self.members, "contents": 0, "sessions": self.sessions});
        v
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub role: GroupRole,
    pub added_at: i64,
}

/// A member row with the user's stored name and email, for [`Member::from_row`].
const MEMBER_SELECT: &str = "SELECT m.user_id, m.role, m.added_at, u.name, u.email
     FROM sg_group_members m LEFT JOIN sg_users u ON u.id = m.user_id";

impl Member {
    fn from_row(r: &AnyRow) -> DbResult<Member> {
        let user_id: String = r.try_get("user_id")?;
        let role: String = r.try_get("role")?;
        let email: Option<String> = r.try_get("email")?;
        Ok(Member {
            user_name: display(&user_id, r.try_get("name")?, email.clone()),
            email: email.filter(|e| !e.is_empty()),
            role: GroupRole::parse(&role).ok_or_else(|| corrupt("role", &role))?,
            added_at: r.try_get("added_at")?,
            user_id,
        })
    }

    /// `user {id, name, email}` is how the frontend reads the member's name.
    pub fn user(&self) -> Value {
        json!({"id": self.user_id, "name": self.user_name, "email": self.email})
    }

    /// A member of group `group_id`; every member is `ACTIVE` (joining needs no acceptance).
    pub fn json(&self, group_id: &str) -> Value {
        json!({
            "groupId": group_id,
            "userId": self.user_id,
            "userName": self.user_name,
            "role": self.role.as_str(),
            "status": "ACTIVE",
            "addedAt": iso8601(self.added_at),
            "joinedAt": iso8601(self.added_at),
            "user": self.user(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub group_id: String,
    pub title: String,
    pub status: SessionStatus,
    pub facilitator_id: String,
    pub scribe_id: String,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub started_by: Option<String>,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
    /// An opaque reference to the content studied (Roomwire has no content library).
    pub content_id: Option<String>,
    pub mode: SessionMode,
    pub layer: Layer,
}

const SESSION_COLUMNS: &str = "id, group_id, title, status, facilitator_id, scribe_id, \
     created_by, created_at, started_at, started_by, ended_at, ended_by, content_id, mode, layer";

impl Session {
    fn from_row(r: &AnyRow) -> DbResult<Session> {
        let status: String = r.try_get("status")?;
        let mode: String = r.try_get("mode")?;
        let layer: String = r.try_get("layer")?;
        Ok(Session {
            id: r.try_get("id")?,
            group_id: r.try_get("group_id")?,
            title: r.try_get("title")?,
            status: SessionStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
            facilitator_id: r.try_get("facilitator_id")?,
            scribe_id: r.try_get("scribe_id")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            started_at: r.try_get("started_at")?,
            started_by: r.try_get("started_by")?,
            ended_at: r.try_get("ended_at")?,
            ended_by: r.try_get("ended_by")?,
            content_id: r.try_get("content_id")?,
            mode: SessionMode::parse(&mode).ok_or_else(|| corrupt("mode", &mode))?,
            layer: Layer::parse(&layer).ok_or_else(|| corrupt("layer", &layer))?,
        })
    }

    /// The summary: everything but rounds, members and cards. `startsAt`/`endsAt` are the
    /// frontend's names of `startedAt`/`endedAt`.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "groupId": self.group_id,
            "title": self.title,
            "status": self.status.as_str(),
            "facilitatorId": self.facilitator_id,
            "scribeId": self.scribe_id,
            "createdBy": self.created_by,
            "createdAt": iso8601(self.created_at),
            "startedAt": opt_iso(self.started_at),
            "startedBy": self.started_by,
            "endedAt": opt_iso(self.ended_at),
            "endedBy": self.ended_by,
            "startsAt": opt_iso(self.started_at),
            "endsAt": opt_iso(self.ended_at),
            "contentId": self.content_id,
            "mode": self.mode.as_str(),
            "layer": self.layer.as_str(),
        })
    }

    /// The member's `assignedRole` in this session.
    pub fn assigned_role(&self, user_id: &str) -> &'static str {
        assigned_role(&self.facilitator_id, &self.scribe_id, user_id)
    }

    /// The session's roles of a user (a participant when neither facilitator nor scribe).
    pub fn roles_of(&self, user_id: &str) -> Vec<&'static str> {
        let mut roles = Vec::with_capacity(2);
        if self.facilitator_id == user_id {
            roles.push("FACILITATOR");
        }
        if self.scribe_id == user_id {
            roles.push("SCRIBE");
        }
        if roles.is_empty() {
            roles.push("PARTICIPANT");
        }
        roles
    }
}

fn corrupt(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown {column} `{value}` in the study-groups tables").into())
}

#[derive(Debug, Clone)]
pub struct Round {
    pub id: String,
    pub session_id: String,
    pub round_index: i64,
    pub prompt: String,
    /// The answers to choose from, if the facilitator gave any.
    pub options: Option<Vec<String>>,
    /// `None` for rounds made before timers were stored: the configured L1 timers apply.
    pub timing: Option<Timing>,
    pub status: RoundStatus,
    pub updated_at: i64,
}

const ROUND_COLUMNS: &str = "id, session_id, round_index, prompt, options, vote_sec, \
     discuss_sec, revote_sec, explain_sec, status, updated_at";

impl Round {
    fn from_row(r: &AnyRow) -> DbResult<Round> {
        let status: String = r.try_get("status")?;
        let options: Option<String> = r.try_get("options")?;
        let timing = match (
            r.try_get::<Option<i64>, _>("vote_sec")?,
            r.try_get::<Option<i64>, _>("discuss_sec")?,
            r.try_get::<Option<i64>, _>("revote_sec")?,
            r.try_get::<Option<i64>, _>("explain_sec")?,
        ) {
            (Some(vote_sec), Some(discuss_sec), Some(revote_sec), Some(explain_sec)) => {
                Some(Timing {
                    vote_sec,
                    discuss_sec,
                    revote_sec,
                    explain_sec,
                })
            }
            _ => None,
        };
        Ok(Round {
            id: r.try_get("id")?,
            session_id: r.try_get("session_id")?,
            round_index: r.try_get("round_index")?,
            prompt: r.try_get("prompt")?,
            options: options.and_then(|o| serde_json::from_str(&o).ok()),
            timing,
            status: RoundStatus::parse(&status).ok_or_else(|| corrupt("round status", &status))?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// The round; `promptJson {prompt_text, options}` and `timingJson` are how the frontend
    /// reads the prompt and the timers (`default_timing` for rounds without stored timers).
    pub fn json(&self, default_timing: Timing) -> Value {
        json!({
            "id": self.id,
            "sessionId": self.session_id,
            "roundIndex": self.round_index,
            "roundType": "PI",
            "prompt": self.prompt,
            "promptJson": {"prompt_text": self.prompt, "options": self.options},
            "timingJson": self.timing.unwrap_or(default_timing).json(),
            "status": self.status.as_str(),
            "updatedAt": iso8601(self.updated_at),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ActivityEvent {
    pub id: String,
    pub session_id: String,
    pub round_id: String,
    pub round_index: i64,
    pub user_id: String,
    pub event_type: String,
    /// JSON text, as stored.
    pub payload: String,
    pub created_at: i64,
}

impl ActivityEvent {
    pub fn payload_json(&self) -> Value {
        serde_json::from_str::<Value>(&self.payload).unwrap_or(Value::Null)
    }

    fn from_row(r: &AnyRow) -> DbResult<ActivityEvent> {
        Ok(ActivityEvent {
            id: r.try_get("id")?,
            session_id: r.try_get("session_id")?,
            round_id: r.try_get("round_id")?,
            round_index: r.try_get("round_index")?,
            user_id: r.try_get("user_id")?,
            event_type: r.try_get("event_type")?,
            payload: r.try_get("payload")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "sessionId": self.session_id,
            "roundId": self.round_id,
            "roundIndex": self.round_index,
            "userId": self.user_id,
            "eventType": self.event_type,
            "payload": self.payload_json(),
            "payloadJson": self.payload_json(),
            "round": {"roundIndex": self.round_index},
            "createdAt": iso8601(self.created_at),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub id: String,
    pub session_id: String,
    pub round_index: Option<i64>,
    /// The id of the round `round_index` names (not stored: read with the message).
    pub round_id: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub message: String,
    pub created_at: i64,
}

impl ChatMessage {
    fn from_row(r: &AnyRow) -> DbResult<ChatMessage> {
        Ok(ChatMessage {
            id: r.try_get("id")?,
            session_id: r.try_get("session_id")?,
            round_index: r.try_get("round_index")?,
            round_id: r.try_get("round_id")?,
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("user_name")?,
            message: r.try_get("message")?,
            created_at: r.try_get("created_at")?,
        })
    }

    /// The fields a message has wherever it is sent: `user {id, name}` and `userRole` (the
    /// author's `assignedRole` in the session) are how the frontend shows the author.
    pub fn fields(&self, user_role: &str) -> serde_json::Map<String, Value> {
        let v = json!({
            "id": self.id,
            "sessionId": self.session_id,
            "roundIndex": self.round_index,
            "roundId": self.round_id,
            "userId": self.user_id,
            "userName": self.user_name,
            "user": {"id": self.user_id, "name": self.user_name},
            "userRole": user_role,
            "message": self.message,
            "createdAt": iso8601(self.created_at),
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("a JSON object"),
        }
    }

    /// The message as the REST routes answer it, with who read it.
    pub fn json(&self, user_role: &str, read_by: &[String]) -> Value {
        let mut m = self.fields(user_role);
        m.insert("readBy".into(), json!(read_by));
        Value::Object(m)
    }
}

/// The study-groups queries over the shared [`Store`].
#[derive(Clone)]
pub struct Repo {
    store: Store,
}

impl Repo {
    pub fn new(store: Store) -> Repo {
        Repo { store }
    }

    fn pool(&self) -> &sqlx::AnyPool {
        self.store.pool()
    }

    /// Remembers a user's name and email; a `None` keeps what was stored.
    pub async fn remember_user(
        &self,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: i64,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO sg_users (id, name, email, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET
                 name = COALESCE(excluded.name, sg_users.name),
                 email = COALESCE(excluded.email, sg_users.email),
                 updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A user's display name from what is stored (their id when nothing is).
    pub async fn user_name(&self, id: &str) -> DbResult<String> {
        let row = sqlx::query("SELECT name, email FROM sg_users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => display(id, r.try_get("name")?, r.try_get("email")?),
            None => id.to_owned(),
        })
    }

    pub async fn create_group(&self, group: &Group) -> DbResult<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO sg_groups (id, name, description, owner_id, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&group.id)
        .bind(&group.name)
        .bind(&group.description)
        .bind(&group.owner_id)
        .bind(group.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sg_group_members (group_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&group.id)
        .bind(&group.owner_id)
        .bind(GroupRole::Owner.as_str())
        .bind(group.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub async fn group(&self, id: &str) -> DbResult<Option<Group>> {
        sqlx::query(
            "SELECT id, name, description, owner_id, created_at FROM sg_groups WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|r| Group::from_row(&r))
        .transpose()
    }

    /// The groups a user belongs to, with their member and session counts.
    pub async fn groups_of(&self, user_id: &str) -> DbResult<Vec<GroupSummary>> {
        sqlx::query(
            "SELECT g.id, g.name, g.description, g.owner_id, g.created_at,
                    (SELECT COUNT(*) FROM sg_group_members c WHERE c.group_id = g.id) AS members,
                    (SELECT COUNT(*) FROM sg_sessions s WHERE s.group_id = g.id) AS sessions
             FROM sg_groups g JOIN sg_group_members m ON m.group_id = g.id
             WHERE m.user_id = $1 ORDER BY g.created_at, g.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(GroupSummary {
                group: Group::from_row(r)?,
                members: r.try_get("members")?,
                sessions: r.try_get("sessions")?,
            })
        })
        .collect()
    }

    pub async fn members(&self, group_id: &str) -> DbResult<Vec<Member>> {
        sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.group_id = $1 ORDER BY m.added_at, m.user_id"
        ))
        .bind(group_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Member::from_row)
        .collect()
    }

    pub async fn member(&self, group_id: &str, user_id: &str) -> DbResult<Option<Member>> {
        sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.group_id = $1 AND m.user_id = $2"
        ))
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?
        .map(|r| Member::from_row(&r))
        .transpose()
    }

    pub async fn role(&self, group_id: &str, user_id: &str) -> DbResult<Option<GroupRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM sg_group_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        role.map(|r| GroupRole::parse(&r).ok_or_else(|| corrupt("role", &r)))
            .transpose()
    }

    /// Adds a member or changes their role; true when the member is new. Refuses (false in
    /// the second place) a change that would leave the group without an owner.
    pub async fn put_member(
        &self,
        group_id: &str,
        user_id: &str,
        role: GroupRole,
        now: i64,
    ) -> DbResult<(bool, bool)> {
        let mut tx = self.store.begin_write().await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT role FROM sg_group_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        match current {
            None => {
                sqlx::query(
                    "INSERT INTO sg_group_members (group_id, user_id, role, added_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(group_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((true, true))
            }
            Some(current) => {
                if current == GroupRole::Owner.as_str()
                    && role != GroupRole::Owner
                    && owners(&mut tx, group_id).await? <= 1
                {
                    return Ok((false, false));
                }
                sqlx::query(
                    "UPDATE sg_group_members SET role = $1 WHERE group_id = $2 AND user_id = $3",
                )
                .bind(role.as_str())
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((false, true))
            }
        }
    }

    /// Removes a member: `Ok(None)` when not a member, `Ok(Some(false))` when they are the
    /// last owner (kept), `Ok(Some(true))` when removed.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> DbResult<Option<bool>> {
        let mut tx = self.store.begin_write().await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT role FROM sg_group_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        if current == GroupRole::Owner.as_str() && owners(&mut tx, group_id).await? <= 1 {
            return Ok(Some(false));
        }
        sqlx::query("DELETE FROM sg_group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Stores a session and one round per prompt (numbered from 1, each `VOTING`, with
    /// `timing`).
    pub async fn create_session(
        &self,
        session: &Session,
        prompts: &[String],
        timing: Timing,
    ) -> DbResult<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO sg_sessions (id, group_id, title, status, facilitator_id, scribe_id,
                 created_by, created_at, content_id, mode, layer)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&session.id)
        .bind(&session.group_id)
        .bind(&session.title)
        .bind(session.status.as_str())
        .bind(&session.facilitator_id)
        .bind(&session.scribe_id)
        .bind(&session.created_by)
        .bind(session.created_at)
        .bind(&session.content_id)
        .bind(session.mode.as_str())
        .bind(session.layer.as_str())
        .execute(&mut *tx)
        .await?;
        for (i, prompt) in prompts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO sg_rounds (id, session_id, round_index, prompt, status, updated_at,
                     vote_sec, discuss_sec, revote_sec, explain_sec)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(crate::kit::stamp::new_id())
            .bind(&session.id)
            .bind(i as i64 + 1)
            .bind(prompt)
            .bind(RoundStatus::Voting.as_str())
            .bind(session.created_at)
            .bind(timing.vote_sec)
            .bind(timing.discuss_sec)
            .bind(timing.revote_sec)
            .bind(timing.explain_sec)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    pub async fn session(&self, id: &str) -> DbResult<Option<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sg_sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|r| Session::from_row(&r))
        .transpose()
    }

    pub async fn sessions_of(&self, group_id: &str) -> DbResult<Vec<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sg_sessions WHERE group_id = $1 ORDER BY created_at, id"
        ))
        .bind(group_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Session::from_row)
        .collect()
    }

    pub async fn session_count(&self, group_id: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM sg_sessions WHERE group_id = $1")
            .bind(group_id)
            .fetch_one(self.pool())
            .await
    }

    /// A group's sessions, newest first, each with its number of rounds.
    pub async fn session_list(&self, group_id: &str) -> DbResult<Vec<(Session, i64)>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS},
                    (SELECT COUNT(*) FROM sg_rounds r WHERE r.session_id = sg_sessions.id) AS rounds
             FROM sg_sessions WHERE group_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(group_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((Session::from_row(r)?, r.try_get("rounds")?)))
        .collect()
    }

    /// Moves the session to RUNNING if it is CREATED; false when it was not.
    pub async fn start_session(&self, id: &str, by: &str, now: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sg_sessions SET status = $1, started_at = $2, started_by = $3
             WHERE id = $4 AND status = $5",
        )
        .bind(SessionStatus::Running.as_str())
        .bind(now)
        .bind(by)
        .bind(id)
        .bind(SessionStatus::Created.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the session to FINISHED unless it already is; false when it was.
    pub async fn finish_session(&self, id: &str, by: &str, now: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sg_sessions SET status = $1, ended_at = $2, ended_by = $3
             WHERE id = $4 AND status <> $1",
        )
        .bind(SessionStatus::Finished.as_str())
        .bind(now)
        .bind(by)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rounds(&self, session_id: &str) -> DbResult<Vec<Round>> {
        sqlx::query(&format!(
            "SELECT {ROUND_COLUMNS} FROM sg_rounds WHERE session_id = $1 ORDER BY round_index"
        ))
        .bind(session_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Round::from_row)
        .collect()
    }

    pub async fn round(&self, session_id: &str, index: i64) -> DbResult<Option<Round>> {
        sqlx::query(&format!(
            "SELECT {ROUND_COLUMNS} FROM sg_rounds WHERE session_id = $1 AND round_index = $2"
        ))
        .bind(session_id)
        .bind(index)
        .fetch_optional(self.pool())
        .await?
        .map(|r| Round::from_row(&r))
        .transpose()
    }

    /// Moves a round from `from` to `to`; false when it was no longer in `from`.
    pub async fn advance_round(
        &self,
        round_id: &str,
        from: RoundStatus,
        to: RoundStatus,
        now: i64,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sg_rounds SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(round_id)
        .bind(from.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a round's prompt and, when `options` is given, its options (`Some(None)` clears
    /// them).
    pub async fn set_prompt(
        &self,
        round_id: &str,
        prompt: &str,
        options: Option<Option<&[String]>>,
        now: i64,
    ) -> DbResult<()> {
        match options {
            None => {
                sqlx::query("UPDATE sg_rounds SET prompt = $1, updated_at = $2 WHERE id = $3")
                    .bind(prompt)
                    .bind(now)
                    .bind(round_id)
                    .execute(self.pool())
                    .await?
            }
            Some(options) => {
                sqlx::query(
                    "UPDATE sg_rounds SET prompt = $1, updated_at = $2, options = $3 WHERE id = $4",
                )
                .bind(prompt)
                .bind(now)
                .bind(options.map(|o| json!(o).to_string()))
                .bind(round_id)
                .execute(self.pool())
                .await?
            }
        };
        Ok(())
    }

    /// When each user marked attendance, by user id.
    pub async fn attendance(&self, session_id: &str) -> DbResult<HashMap<String, i64>> {
        sqlx::query("SELECT user_id, joined_at FROM sg_attendance WHERE session_id = $1")
            .bind(session_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("joined_at")?)))
            .collect()
    }

    /// Marks attendance; returns when the user first joined and whether that is now.
    pub async fn mark_joined(
        &self,
        session_id: &str,
        user_id: &str,
        now: i64,
    ) -> DbResult<(i64, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO sg_attendance (session_id, user_id, joined_at) VALUES ($1, $2, $3)
             ON CONFLICT (session_id, user_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        let at = self.joined_at(session_id, user_id).await?.unwrap_or(now);
        Ok((at, inserted))
    }

    /// When the user marked attendance in the session, if they did.
    pub async fn joined_at(&self, session_id: &str, user_id: &str) -> DbResult<Option<i64>> {
        sqlx::query_scalar(
            "SELECT joined_at FROM sg_attendance WHERE session_id = $1 AND user_id = $2",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
    }

    /// Users who marked attendance and are still members of the group, sorted.
    pub async fn joined_members(&self, session: &Session) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT a.user_id FROM sg_attendance a
             JOIN sg_group_members m ON m.user_id = a.user_id AND m.group_id = $2
             WHERE a.session_id = $1 ORDER BY a.user_id",
        )
        .bind(&session.id)
        .bind(&session.group_id)
        .fetch_all(self.pool())
        .await
    }

    /// Users who submitted an event of this type in the round.
    pub async fn submitters(&self, round_id: &str, event_type: &str) -> DbResult<HashSet<String>> {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM sg_events WHERE round_id = $1 AND event_type = $2",
        )
        .bind(round_id)
        .bind(event_type)
        .fetch_all(self.pool())
        .await?;
        Ok(users.into_iter().collect())
    }

    /// Records an event, only if the round is still in `phase` (when one is given); false
    /// when it no longer was.
    pub async fn insert_event(
        &self,
        event: &ActivityEvent,
        phase: Option<RoundStatus>,
    ) -> DbResult<bool> {
        let mut tx = self.store.begin_write().await?;
        if let Some(phase) = phase {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM sg_rounds WHERE id = $1")
                    .bind(&event.round_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if status.as_deref() != Some(phase.as_str()) {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO sg_events (id, session_id, round_id, round_index, user_id, event_type,
                 payload, created_at, order_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&event.id)
        .bind(&event.session_id)
        .bind(&event.round_id)
        .bind(event.round_index)
        .bind(&event.user_id)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(event.created_at)
        .bind(crate::kit::stamp::next_order_key())
        .execute(&mut *tx)
        .await?;
        if event.event_type == super::model::GROUP_EXPLANATION_SUBMIT {
            sqlx::query(
                "INSERT INTO sg_shared_cards (id, session_id, round_id, round_index, event_id,
                     author_id, content, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&event.id)
            .bind(&event.session_id)
            .bind(&event.round_id)
            .bind(event.round_index)
            .bind(&event.id)
            .bind(&event.user_id)
            .bind(&event.payload)
            .bind(event.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The session's shared cards, oldest first, each with its round's prompt and status:
    /// `{id, sessionId, roundId, roundIndex, authorId, createdByUserId, content (the
    /// explanation's payload), cardJson, round {roundIndex, status}, createdAt}`.
    pub async fn shared_cards(&self, session_id: &str) -> DbResult<Vec<Value>> {
        sqlx::query(
            "SELECT c.id, c.round_id, c.round_index, c.author_id, c.content, c.created_at,
                    r.prompt, r.status
             FROM sg_shared_cards c JOIN sg_rounds r ON r.id = c.round_id
             WHERE c.session_id = $1 ORDER BY c.created_at, c.id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            let content: String = r.try_get("content")?;
            let content = serde_json::from_str::<Value>(&content).unwrap_or(Value::Null);
            let prompt: String = r.try_get("prompt")?;
            let author: String = r.try_get("author_id")?;
            let round_index: i64 = r.try_get("round_index")?;
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "sessionId": session_id,
                "roundId": r.try_get::<String, _>("round_id")?,
                "roundIndex": round_index,
                "authorId": author,
                "createdByUserId": author,
                "cardJson": shared_card(&content, &prompt),
                "content": content,
                "round": {"roundIndex": round_index, "status": r.try_get::<String, _>("status")?},
                "createdAt": iso8601(r.try_get("created_at")?),
            }))
        })
        .collect()
    }

    pub async fn events(
        &self,
        session_id: &str,
        round_index: Option<i64>,
    ) -> DbResult<Vec<ActivityEvent>> {
        let base = "SELECT id, session_id, round_id, round_index, user_id, event_type, payload,
                        created_at FROM sg_events WHERE session_id = $1";
        let rows = match round_index {
            Some(i) => {
                sqlx::query(&format!("{base} AND round_index = $2 ORDER BY order_key"))
                    .bind(session_id)
                    .bind(i)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!("{base} ORDER BY order_key"))
                    .bind(session_id)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(ActivityEvent::from_row).collect()
    }

    pub async fn insert_chat(&self, m: &ChatMessage) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO sg_chat (id, session_id, round_index, user_id, user_name, message,
                 created_at, order_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(&m.session_id)
        .bind(m.round_index)
        .bind(&m.user_id)
        .bind(&m.user_name)
        .bind(&m.message)
        .bind(m.created_at)
        .bind(crate::kit::stamp::next_order_key())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A page of chat history, oldest first: the latest `limit` messages, or with `before`
    /// (a message of this session) the latest `limit` older than it. Also says whether older
    /// messages remain. Each message comes with who read it. Messages are ordered by their
    /// order key, then id (a tie can only come from two processes writing one database).
    pub async fn chat(
        &self,
        session_id: &str,
        round_index: Option<i64>,
        limit: i64,
        before: Option<&str>,
    ) -> DbResult<(Vec<(ChatMessage, Vec<String>)>, bool)> {
        // $1 session, $2 limit, then the round and the `before` message when given.
        let mut page = String::from("session_id = $1");
        let mut next = 3;
        if round_index.is_some() {
            page.push_str(&format!(" AND round_index = ${next}"));
            next += 1;
        }
        if before.is_some() {
            page.push_str(&format!(
                " AND (order_key, id) <
                 (SELECT order_key, id FROM sg_chat WHERE id = ${next} AND session_id = $1)"
            ));
        }
        // One more than asked: whether it exists is whether older messages remain. One
        // statement, so the page and its read receipts come from the same snapshot.
        let fetch = limit + 1;
        let sql = format!(
            "SELECT c.id, c.session_id, c.round_index, c.user_id, c.user_name, c.message,
                    c.created_at, rd.id AS round_id, r.user_id AS reader
             FROM (SELECT * FROM sg_chat WHERE {page}
                   ORDER BY order_key DESC, id DESC LIMIT $2) c
             LEFT JOIN sg_rounds rd ON rd.session_id = c.session_id
                                   AND rd.round_index = c.round_index
             LEFT JOIN sg_chat_reads r ON r.message_id = c.id
             ORDER BY c.order_key DESC, c.id DESC, r.read_at, r.user_id"
        );
        let mut q = sqlx::query(&sql).bind(session_id).bind(fetch);
        if let Some(i) = round_index {
            q = q.bind(i);
        }
        if let Some(b) = before {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.pool()).await?;
        // Rows come one per (message, reader), a message's rows together, newest first.
        let mut out: Vec<(ChatMessage, Vec<String>)> = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id")?;
            if out.last().is_none_or(|(m, _)| m.id != id) {
                out.push((ChatMessage::from_row(r)?, Vec::new()));
            }
            if let Some(reader) = r.try_get::<Option<String>, _>("reader")? {
                out.last_mut().expect("pushed").1.push(reader);
            }
        }
        let more = out.len() as i64 > limit;
        out.truncate(limit.max(0) as usize);
        out.reverse();
        Ok((out, more))
    }

    pub async fn chat_exists(&self, session_id: &str, message_id: &str) -> DbResult<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM sg_chat WHERE id = $1 AND session_id = $2")
                .bind(message_id)
                .bind(session_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(found.is_some())
    }

    /// Records that a user read a message; returns the first time they did.
    pub async fn mark_read(
        &self,
        session_id: &str,
        message_id: &str,
        user_id: &str,
        now: i64,
    ) -> DbResult<i64> {
        sqlx::query(
            "INSERT INTO sg_chat_reads (session_id, message_id, user_id, read_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, user_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(message_id)
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query_scalar(
            "SELECT read_at FROM sg_chat_reads WHERE message_id = $1 AND user_id = $2",
        )
        .bind(message_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await
    }
}

async fn owners(tx: &mut sqlx::Transaction<'static, sqlx::Any>, group_id: &str) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM sg_group_members WHERE group_id = $1 AND role = $2")
        .bind(group_id)
        .bind(GroupRole::Owner.as_str())
        .fetch_one(&mut **tx)
        .await
}
