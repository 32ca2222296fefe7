//! The study-groups tables and every query on them (portable SQL: SQLite and PostgreSQL).

use std::collections::{HashMap, HashSet};

use roomwire_store::{Migration, Store};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::model::{GroupRole, RoundStatus, SessionStatus};
use crate::apps::stamp::iso8601;

pub const MIGRATIONS: &[Migration] = &[Migration {
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
}];

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

    pub fn json(&self, members: Option<&[Member]>) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "ownerId": self.owner_id,
            "createdAt": iso8601(self.created_at),
        });
        if let Some(members) = members {
            v["members"] = members.iter().map(Member::json).collect();
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub user_name: String,
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
        Ok(Member {
            user_name: display(&user_id, r.try_get("name")?, r.try_get("email")?),
            role: GroupRole::parse(&role).ok_or_else(|| corrupt("role", &role))?,
            added_at: r.try_get("added_at")?,
            user_id,
        })
    }

    pub fn json(&self) -> Value {
        json!({
            "userId": self.user_id,
            "userName": self.user_name,
            "role": self.role.as_str(),
            "addedAt": iso8601(self.added_at),
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
}

const SESSION_COLUMNS: &str = "id, group_id, title, status, facilitator_id, scribe_id, \
     created_by, created_at, started_at, started_by, ended_at, ended_by";

impl Session {
    fn from_row(r: &AnyRow) -> DbResult<Session> {
        let status: String = r.try_get("status")?;
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
        })
    }

    /// The summary: everything but rounds, members and cards.
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
        })
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
    pub status: RoundStatus,
    pub updated_at: i64,
}

impl Round {
    fn from_row(r: &AnyRow) -> DbResult<Round> {
        let status: String = r.try_get("status")?;
        Ok(Round {
            id: r.try_get("id")?,
            session_id: r.try_get("session_id")?,
            round_index: r.try_get("round_index")?,
            prompt: r.try_get("prompt")?,
            status: RoundStatus::parse(&status).ok_or_else(|| corrupt("round status", &status))?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "sessionId": self.session_id,
            "roundIndex": self.round_index,
            "prompt": self.prompt,
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
            "payload": serde_json::from_str::<Value>(&self.payload).unwrap_or(Value::Null),
            "createdAt": iso8601(self.created_at),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub id: String,
    pub session_id: String,
    pub round_index: Option<i64>,
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
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("user_name")?,
            message: r.try_get("message")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub fn json(&self, read_by: &[String]) -> Value {
        json!({
            "id": self.id,
            "sessionId": self.session_id,
            "roundIndex": self.round_index,
            "userId": self.user_id,
            "userName": self.user_name,
            "message": self.message,
            "createdAt": iso8601(self.created_at),
            "readBy": read_by,
        })
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

    pub async fn groups_of(&self, user_id: &str) -> DbResult<Vec<Group>> {
        sqlx::query(
            "SELECT g.id, g.name, g.description, g.owner_id, g.created_at
             FROM sg_groups g JOIN sg_group_members m ON m.group_id = g.id
             WHERE m.user_id = $1 ORDER BY g.created_at, g.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Group::from_row)
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

    pub async fn create_session(&self, session: &Session, prompts: &[String]) -> DbResult<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO sg_sessions (id, group_id, title, status, facilitator_id, scribe_id,
                 created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(&session.group_id)
        .bind(&session.title)
        .bind(session.status.as_str())
        .bind(&session.facilitator_id)
        .bind(&session.scribe_id)
        .bind(&session.created_by)
        .bind(session.created_at)
        .execute(&mut *tx)
        .await?;
        for (i, prompt) in prompts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO sg_rounds (id, session_id, round_index, prompt, status, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(crate::apps::stamp::new_id())
            .bind(&session.id)
            .bind(i as i64 + 1)
            .bind(prompt)
            .bind(RoundStatus::Voting.as_str())
            .bind(session.created_at)
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
        sqlx::query(
            "SELECT id, session_id, round_index, prompt, status, updated_at FROM sg_rounds
             WHERE session_id = $1 ORDER BY round_index",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(Round::from_row)
        .collect()
    }

    pub async fn round(&self, session_id: &str, index: i64) -> DbResult<Option<Round>> {
        sqlx::query(
            "SELECT id, session_id, round_index, prompt, status, updated_at FROM sg_rounds
             WHERE session_id = $1 AND round_index = $2",
        )
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

    pub async fn set_prompt(&self, round_id: &str, prompt: &str, now: i64) -> DbResult<()> {
        sqlx::query("UPDATE sg_rounds SET prompt = $1, updated_at = $2 WHERE id = $3")
            .bind(prompt)
            .bind(now)
            .bind(round_id)
            .execute(self.pool())
            .await?;
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
        .bind(crate::apps::stamp::next_order_key())
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

    pub async fn shared_cards(&self, session_id: &str) -> DbResult<Vec<Value>> {
        sqlx::query(
            "SELECT id, round_id, round_index, author_id, content, created_at FROM sg_shared_cards
             WHERE session_id = $1 ORDER BY created_at, id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            let content: String = r.try_get("content")?;
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "roundId": r.try_get::<String, _>("round_id")?,
                "roundIndex": r.try_get::<i64, _>("round_index")?,
                "authorId": r.try_get::<String, _>("author_id")?,
                "content": serde_json::from_str::<Value>(&content).unwrap_or(Value::Null),
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
        .bind(crate::apps::stamp::next_order_key())
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
        limit: i64,
        before: Option<&str>,
    ) -> DbResult<(Vec<(ChatMessage, Vec<String>)>, bool)> {
        let page = match before {
            None => "session_id = $1",
            Some(_) => {
                "session_id = $1 AND (order_key, id) <
                 (SELECT order_key, id FROM sg_chat WHERE id = $3 AND session_id = $1)"
            }
        };
        // One more than asked: whether it exists is whether older messages remain. One
        // statement, so the page and its read receipts come from the same snapshot.
        let fetch = limit + 1;
        let sql = format!(
            "SELECT c.id, c.session_id, c.round_index, c.user_id, c.user_name, c.message,
                    c.created_at, r.user_id AS reader
             FROM (SELECT * FROM sg_chat WHERE {page}
                   ORDER BY order_key DESC, id DESC LIMIT $2) c
             LEFT JOIN sg_chat_reads r ON r.message_id = c.id
             ORDER BY c.order_key DESC, c.id DESC, r.read_at, r.user_id"
        );
        let mut q = sqlx::query(&sql).bind(session_id).bind(fetch);
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
