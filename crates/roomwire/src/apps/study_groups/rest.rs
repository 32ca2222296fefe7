//! The REST side: groups, members, sessions, rounds, activity events and chat. Every route is
//! served under `/api/v1` and at the document's unprefixed path.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::model::{
    default_scribe, valid_event_type, valid_user_id, EventKind, Gate, GroupRole, Layer,
    RoundStatus, SessionMode, SessionStatus, Timing,
};
use super::repo::{ActivityEvent, ChatMessage, Group, GroupSummary, Round, Session};
use super::{Caller, StudyGroups};
use crate::kit::stamp::{iso8601, new_id};
use crate::kit::text::strip_markup;

type Shared = Arc<StudyGroups>;

/// An error answer: `{statusCode, message, error}` plus any extra fields.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            extra: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.into(), value.into());
        self
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::kit::error::response(self.status, self.message, self.extra)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        tracing::warn!(error = %e, "study-groups: storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable; try again",
        )
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, Json(body)).into_response())
}

/// The authenticated caller of a request (`Authorization: Bearer <jwt>`); 401 otherwise.
impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Caller, ApiError> {
        let unauthorized = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                unauthorized("missing token: send Authorization: Bearer <jwt>".into())
            })?;
        let identity = app
            .auth
            .verify(header)
            .map_err(|e| unauthorized(e.to_string()))?;
        let caller = Caller::from_identity(&identity);
        app.remember(&caller).await?;
        Ok(caller)
    }
}

/// A JSON body, with a JSON 400 when it is missing or malformed (whatever the content type).
pub struct Body<T>(T);

impl<T: DeserializeOwned> FromRequest<Shared> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Body<T>, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| bad_request(format!("unreadable body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(bad_request("a JSON body is required"));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| bad_request(format!("invalid JSON body: {e}")))
    }
}

pub fn router(app: Shared) -> Router {
    let routes = Router::new()
        .route("/groups", post(create_group).get(list_groups))
        .route("/groups/{groupId}", get(get_group))
        .route("/groups/{groupId}/members", post(put_member))
        .route("/groups/{groupId}/members/invite", post(invite_member))
        .route(
            "/groups/{groupId}/members/{userId}",
            axum::routing::delete(remove_member),
        )
        .route(
            "/groups/{groupId}/sessions",
            post(create_session).get(list_sessions),
        )
        .route(
            "/groups/{groupId}/sessions/{sessionId}",
            get(get_group_session),
        )
        .route(
            "/groups/{groupId}/sessions/{sessionId}/chat",
            post(post_group_chat).get(get_group_chat),
        )
        .route(
            "/groups/sessions/{sessionId}/chat",
            post(post_chat).get(get_chat),
        )
        .route("/group-sessions", post(create_content_session))
        .route("/group-sessions/{sessionId}", get(get_session))
        .route("/group-sessions/{sessionId}/join", post(join_session))
        .route("/group-sessions/{sessionId}/start", put(start_session))
        .route("/group-sessions/{sessionId}/status", put(set_status))
        .route("/group-sessions/{sessionId}/finish", post(finish_session))
        .route(
            "/group-sessions/{sessionId}/rounds/{roundIndex}/advance",
            post(advance_round),
        )
        .route(
            "/group-sessions/{sessionId}/rounds/{roundIndex}/prompt",
            patch(update_prompt).put(update_prompt),
        )
        .route(
            "/group-sessions/{sessionId}/events",
            post(post_event).get(list_events),
        )
        .route(
            "/group-sessions/{sessionId}/shared-cards",
            get(list_shared_cards),
        )
        .with_state(app);
    Router::new().nest("/api/v1", routes.clone()).merge(routes)
}

/// Text a person typed: markup stripped, trimmed, 1 to `max` characters.
fn clean_text(input: &str, field: &str, max: u64) -> Result<String, ApiError> {
    let text = strip_markup(input).trim().to_owned();
    let n = text.chars().count() as u64;
    if n == 0 {
        return Err(bad_request(format!("`{field}` is empty")));
    }
    if n > max {
        return Err(bad_request(format!(
            "`{field}` is {n} characters; at most {max} are allowed"
        )));
    }
    Ok(text)
}

// ----- access -------------------------------------------------------------------------------

impl StudyGroups {
    async fn group_for(
        &self,
        caller: &Caller,
        group_id: &str,
    ) -> Result<(Group, GroupRole), ApiError> {
        let group = self
            .repo
            .group(group_id)
            .await?
            .ok_or_else(|| not_found(format!("no group `{group_id}`")))?;
        let role = self
            .repo
            .role(group_id, &caller.id)
            .await?
            .ok_or_else(|| forbidden("only members of the group may do this"))?;
        Ok((group, role))
    }

    async fn session_for(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<(Session, GroupRole), ApiError> {
        let session = self
            .repo
            .session(session_id)
            .await?
            .ok_or_else(|| not_found(format!("no session `{session_id}`")))?;
        let role = self
            .repo
            .role(&session.group_id, &caller.id)
            .await?
            .ok_or_else(|| forbidden("only members of the session's group may do this"))?;
        Ok((session, role))
    }

    /// The session, if the caller is its facilitator or an owner/moderator of its group.
    async fn managed_session(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<Session, ApiError> {
        let (session, role) = self.session_for(caller, session_id).await?;
        if session.facilitator_id == caller.id || role.manages() {
            Ok(session)
        } else {
            Err(forbidden(
                "only the session's facilitator or a group OWNER/MOD may do this",
            ))
        }
    }

    async fn round_of(&self, session: &Session, index: &str) -> Result<Round, ApiError> {
        let n = parse_round_index(index)?;
        self.repo
            .round(&session.id, n)
            .await?
            .ok_or_else(|| not_found(format!("session `{}` has no round {n}", session.id)))
    }

    /// The timers of rounds stored without their own (made before timers were stored).
    fn default_timing(&self) -> Timing {
        Timing::for_layer(Layer::L1, &self.config)
    }

    /// The whole session: summary, rounds, members with roles and attendance, shared cards,
    /// and its `group` with the group's members (the frontend reads their `role` there).
    async fn session_json(&self, session: &Session) -> Result<Value, ApiError> {
        let rounds = self.repo.rounds(&session.id).await?;
        let group = self.repo.group(&session.group_id).await?;
        let members = self.repo.members(&session.group_id).await?;
        let attendance = self.repo.attendance(&session.id).await?;
        let cards = self.repo.shared_cards(&session.id).await?;
        let mut v = session.json();
        let timing = self.default_timing();
        v["rounds"] = rounds.iter().map(|r| r.json(timing)).collect();
        v["members"] = members
            .iter()
            .map(|m| {
                let joined = attendance.get(&m.user_id).copied();
                let attendance = if joined.is_some() {
                    "JOINED"
                } else {
                    "NOT_JOINED"
                };
                json!({
                    "sessionId": session.id,
                    "userId": m.user_id,
                    "userName": m.user_name,
                    "user": m.user(),
                    "groupRole": m.role.as_str(),
                    "roles": session.roles_of(&m.user_id),
                    "assignedRole": session.assigned_role(&m.user_id),
                    "attendance": attendance,
                    "attendanceStatus": attendance,
                    "joinedAt": joined.map(iso8601),
                })
            })
            .collect();
        v["sharedCards"] = Value::Array(cards);
        v["group"] = group.map_or(Value::Null, |g| g.json(Some(&members)));
        Ok(v)
    }
}

fn parse_round_index(s: &str) -> Result<i64, ApiError> {
    match s.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad_request(format!(
            "roundIndex must be a positive integer, not `{s}`"
        ))),
    }
}

fn data(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

// ----- groups -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGroup {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

async fn create_group(
    State(app): State<Shared>,
    caller: Caller,
    Body(body): Body<NewGroup>,
) -> ApiResult {
    let name = clean_text(&body.name, "name", app.config.max_name_length)?;
    let description = match body.description.as_deref().map(strip_markup) {
        Some(d) if d.chars().count() > 2000 => {
            return Err(bad_request("`description` is over 2000 characters"))
        }
        Some(d) => d.trim().to_owned(),
        None => String::new(),
    };
    let group = Group {
        id: new_id(),
        name,
        description,
        owner_id: caller.id.clone(),
        created_at: roomwire_store::now_ms(),
    };
    app.repo.create_group(&group).await?;
    let members = app.repo.members(&group.id).await?;
    ok(StatusCode::CREATED, group.json(Some(&members)))
}

async fn list_groups(State(app): State<Shared>, caller: Caller) -> ApiResult {
    let groups = app.repo.groups_of(&caller.id).await?;
    let list: Vec<Value> = groups.iter().map(|g| g.json(None)).collect();
    ok(StatusCode::OK, Value::Array(list))
}

async fn get_group(
    State(app): State<Shared>,
    caller: Caller,
    Path(group_id): Path<String>,
) -> ApiResult {
    let (group, _) = app.group_for(&caller, &group_id).await?;
    let members = app.repo.members(&group_id).await?;
    let summary = GroupSummary {
        group,
        members: members.len() as i64,
        sessions: app.repo.session_count(&group_id).await?,
    };
    ok(StatusCode::OK, summary.json(Some(&members)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewMember {
    #[serde(alias = "user_id")]
    user_id: String,
    #[serde(default)]
    role: Option<String>,
}

impl StudyGroups {
    /// Adds a member to a group, or changes an existing member's role when `may_change` (else
    /// 409 for an existing member). Returns the member and whether they are new.
    async fn add_member(
        &self,
        caller: &Caller,
        group_id: &str,
        body: NewMember,
        may_change: bool,
    ) -> Result<(Value, bool), ApiError> {
        let (_, my_role) = self.group_for(caller, group_id).await?;
        if !my_role.manages() {
            return Err(forbidden("only a group OWNER or MOD may add members"));
        }
        if !valid_user_id(&body.user_id) {
            return Err(bad_request(
                "`userId` must be 1 to 128 characters without spaces",
            ));
        }
        let role = GroupRole::parse_field(body.role.as_deref(), GroupRole::Member, "role")
            .map_err(bad_request)?;
        let current = self.repo.role(group_id, &body.user_id).await?;
        if current.is_some() && !may_change {
            return Err(conflict(format!(
                "`{}` is already a member of the group",
                body.user_id
            )));
        }
        let touches_managers = role.manages() || current.is_some_and(GroupRole::manages);
        if touches_managers && my_role != GroupRole::Owner {
            return Err(forbidden(
                "only a group OWNER may grant or change the OWNER and MOD roles",
            ));
        }
        let now = roomwire_store::now_ms();
        let (created, changed) = self
            .repo
            .put_member(group_id, &body.user_id, role, now)
            .await?;
        if !changed {
            return Err(conflict("the group must keep at least one OWNER"));
        }
        let member = self
            .repo
            .member(group_id, &body.user_id)
            .await?
            .map(|m| m.json(group_id))
            .unwrap_or(Value::Null);
        Ok((member, created))
    }
}

async fn put_member(
    State(app): State<Shared>,
    caller: Caller,
    Path(group_id): Path<String>,
    Body(body): Body<NewMember>,
) -> ApiResult {
    let (member, created) = app.add_member(&caller, &group_id, body, true).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    ok(status, member)
}

/// The frontend's invitation: the user becomes a member at once (there is no invitation to
/// accept); 409 when they already are one.
async fn invite_member(
    State(app): State<Shared>,
    caller: Caller,
    Path(group_id): Path<String>,
    Body(body): Body<NewMember>,
) -> ApiResult {
    let (member, _) = app.add_member(&caller, &group_id, body, false).await?;
    ok(
        StatusCode::CREATED,
        json!({"message": "Member invited successfully", "member": member}),
    )
}

async fn remove_member(
    State(app): State<Shared>,
    caller: Caller,
    Path((group_id, user_id)): Path<(String, String)>,
) -> ApiResult {
    let (_, my_role) = app.group_for(&caller, &group_id).await?;
    let target = app
        .repo
        .role(&group_id, &user_id)
        .await?
        .ok_or_else(|| not_found(format!("`{user_id}` is not a member of the group")))?;
    let allowed = user_id == caller.id
        || my_role == GroupRole::Owner
        || (my_role == GroupRole::Mod && target == GroupRole::Member);
    if !allowed {
        return Err(forbidden(
            "members may remove themselves; a MOD may remove MEMBERs; an OWNER anyone",
        ));
    }
    match app.repo.remove_member(&group_id, &user_id).await? {
        None => Err(not_found(format!(
            "`{user_id}` is not a member of the group"
        ))),
        Some(false) => Err(conflict("the group must keep at least one OWNER")),
        Some(true) => {
            let sessions: Vec<String> = app
                .repo
                .sessions_of(&group_id)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            app.evict(&user_id, &sessions);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

// ----- sessions -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct NewRound {
    prompt: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSession {
    rounds: Vec<NewRound>,
    #[serde(flatten)]
    people: SessionPeople,
}

/// What both forms of session creation may say besides the rounds: who facilitates, who
/// writes the group's explanation, and a title.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionPeople {
    #[serde(default, alias = "facilitator_id")]
    facilitator_id: Option<String>,
    #[serde(default, alias = "scribe_id")]
    scribe_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

async fn create_session(
    State(app): State<Shared>,
    caller: Caller,
    Path(group_id): Path<String>,
    Body(body): Body<NewSession>,
) -> ApiResult {
    let max_rounds = app.config.max_rounds;
    let prompts = if body.rounds.is_empty() || body.rounds.len() as u64 > max_rounds {
        Err(bad_request(format!(
            "`rounds` must hold 1 to {max_rounds} rounds"
        )))
    } else {
        body.rounds
            .iter()
            .map(|r| clean_text(&r.prompt, "prompt", app.config.max_prompt_length))
            .collect::<Result<Vec<_>, _>>()
    };
    let plan = prompts.map(|prompts| SessionPlan {
        prompts,
        people: body.people,
        content_id: None,
        mode: SessionMode::PiSprint,
        layer: Layer::L1,
        scribe: ScribeDefault::Facilitator,
    });
    app.create_session(&caller, group_id, plan).await
}

/// The frontend's form: `POST /group-sessions?groupId=` with
/// `{contentId, mode?, layer?, roundsCount}` (snake_case accepted too).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewContentSession {
    #[serde(alias = "content_id")]
    content_id: Value,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(alias = "rounds_count")]
    rounds_count: Value,
    #[serde(flatten)]
    people: SessionPeople,
}

#[derive(Deserialize)]
struct GroupQuery {
    #[serde(default, alias = "group_id", rename = "groupId")]
    group_id: Option<String>,
}

async fn create_content_session(
    State(app): State<Shared>,
    caller: Caller,
    Query(q): Query<GroupQuery>,
    Body(body): Body<NewContentSession>,
) -> ApiResult {
    let group_id = q
        .group_id
        .filter(|g| !g.is_empty())
        .ok_or_else(|| bad_request("the query parameter `groupId` is required"))?;
    let plan = content_session_plan(body, app.config.max_rounds);
    app.create_session(&caller, group_id, plan).await
}

fn content_session_plan(body: NewContentSession, max_rounds: u64) -> Result<SessionPlan, ApiError> {
    let rounds = match &body.rounds_count {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .filter(|n| (1..=max_rounds).contains(n))
    .ok_or_else(|| {
        bad_request(format!(
            "`roundsCount` must be an integer from 1 to {max_rounds}"
        ))
    })?;
    let content_id = match &body.content_id {
        Value::String(c) if valid_user_id(c) => c.clone(),
        _ => {
            return Err(bad_request(
                "`contentId` must be 1 to 128 characters without spaces",
            ))
        }
    };
    let mode = SessionMode::parse_field(body.mode.as_deref(), SessionMode::PiSprint, "mode")
        .map_err(bad_request)?;
    let layer =
        Layer::parse_field(body.layer.as_deref(), Layer::L1, "layer").map_err(bad_request)?;
    Ok(SessionPlan {
        // The facilitator sets the prompts (PATCH or PUT .../rounds/:roundIndex/prompt).
        prompts: vec![String::new(); rounds as usize],
        people: body.people,
        content_id: Some(content_id),
        mode,
        layer,
        scribe: ScribeDefault::AnotherMember,
    })
}

/// Who is the scribe of a session created without one named.
enum ScribeDefault {
    /// The facilitator (the document's form).
    Facilitator,
    /// Another member if there is one (the frontend's form: the scribe writes the group's
    /// explanation, which the frontend shows only to a member whose role is SCRIBE).
    AnotherMember,
}

/// A session to create, from either form.
struct SessionPlan {
    prompts: Vec<String>,
    people: SessionPeople,
    content_id: Option<String>,
    mode: SessionMode,
    layer: Layer,
    scribe: ScribeDefault,
}

impl StudyGroups {
    /// Creates a session (status CREATED, rounds VOTING numbered from 1) in a group the caller
    /// manages; 201 with the whole session. A request that did not parse into a plan is
    /// refused after the access check, so outsiders learn nothing from it.
    async fn create_session(
        &self,
        caller: &Caller,
        group_id: String,
        plan: Result<SessionPlan, ApiError>,
    ) -> ApiResult {
        let (_, my_role) = self.group_for(caller, &group_id).await?;
        if !my_role.manages() {
            return Err(forbidden("only a group OWNER or MOD may create sessions"));
        }
        let plan = plan?;
        let prompts = plan.prompts;
        let facilitator = plan
            .people
            .facilitator_id
            .unwrap_or_else(|| caller.id.clone());
        let scribe = match (plan.people.scribe_id, plan.scribe) {
            (Some(s), _) => s,
            (None, ScribeDefault::Facilitator) => facilitator.clone(),
            (None, ScribeDefault::AnotherMember) => {
                let members = self.repo.members(&group_id).await?;
                default_scribe(members.iter().map(|m| m.user_id.as_str()), &facilitator).to_owned()
            }
        };
        for (field, user) in [("facilitatorId", &facilitator), ("scribeId", &scribe)] {
            if self.repo.role(&group_id, user).await?.is_none() {
                return Err(bad_request(format!(
                    "`{field}` `{user}` is not a member of the group"
                )));
            }
        }
        let title = match plan.people.title.as_deref() {
            Some(t) if !strip_markup(t).trim().is_empty() => {
                clean_text(t, "title", self.config.max_name_length)?
            }
            _ => String::new(),
        };
        let session = Session {
            id: new_id(),
            group_id,
            title,
            status: SessionStatus::Created,
            facilitator_id: facilitator,
            scribe_id: scribe,
            created_by: caller.id.clone(),
            created_at: roomwire_store::now_ms(),
            started_at: None,
            started_by: None,
            ended_at: None,
            ended_by: None,
            content_id: plan.content_id,
            mode: plan.mode,
            layer: plan.layer,
        };
        let timing = Timing::for_layer(session.layer, &self.config);
        self.repo.create_session(&session, &prompts, timing).await?;
        ok(StatusCode::CREATED, self.session_json(&session).await?)
    }
}

async fn list_sessions(
    State(app): State<Shared>,
    caller: Caller,
    Path(group_id): Path<String>,
) -> ApiResult {
    app.group_for(&caller, &group_id).await?;
    let sessions = app.repo.session_list(&group_id).await?;
    let list: Vec<Value> = sessions
        .iter()
        .map(|(s, rounds)| {
            let mut v = s.json();
            v["_count"] = json!({ "rounds": rounds });
            v
        })
        .collect();
    ok(StatusCode::OK, Value::Array(list))
}

async fn get_session(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult {
    let (session, _) = app.session_for(&caller, &session_id).await?;
    ok(StatusCode::OK, app.session_json(&session).await?)
}

/// The session through its group's path: 404 when it belongs to another group.
async fn get_group_session(
    State(app): State<Shared>,
    caller: Caller,
    Path((group_id, session_id)): Path<(String, String)>,
) -> ApiResult {
    let session = app
        .session_in(&caller, Some(&group_id), &session_id)
        .await?;
    ok(StatusCode::OK, app.session_json(&session).await?)
}

async fn join_session(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult {
    let (session, _) = app.session_for(&caller, &session_id).await?;
    if !session.status.accepts_attendance() {
        return Err(bad_request("the session is finished"));
    }
    let at = app.attend(&session_id, &caller.id).await?;
    ok(
        StatusCode::OK,
        json!({"sessionId": session_id, "userId": caller.id, "attendance": "JOINED", "joinedAt": iso8601(at)}),
    )
}

impl StudyGroups {
    async fn start(&self, caller: &Caller, session_id: &str) -> ApiResult {
        let session = self.managed_session(caller, session_id).await?;
        if !self
            .repo
            .start_session(session_id, &caller.id, roomwire_store::now_ms())
            .await?
        {
            return Err(bad_request(format!(
                "the session is {}; only a CREATED session can be started",
                session.status.as_str()
            )));
        }
        self.emit_to_session(
            session_id,
            "session.started",
            data(&[
                ("sessionId", session_id.into()),
                ("status", SessionStatus::Running.as_str().into()),
                ("startedBy", caller.id.clone().into()),
            ]),
        );
        self.current_session(session_id).await
    }

    async fn finish(&self, caller: &Caller, session_id: &str) -> ApiResult {
        self.managed_session(caller, session_id).await?;
        if !self
            .repo
            .finish_session(session_id, &caller.id, roomwire_store::now_ms())
            .await?
        {
            return Err(bad_request("the session is already finished"));
        }
        self.emit_to_session(
            session_id,
            "session.ended",
            data(&[
                ("sessionId", session_id.into()),
                ("status", SessionStatus::Finished.as_str().into()),
                ("endedBy", caller.id.clone().into()),
            ]),
        );
        self.current_session(session_id).await
    }

    async fn current_session(&self, session_id: &str) -> ApiResult {
        let session = self
            .repo
            .session(session_id)
            .await?
            .ok_or_else(|| not_found(format!("no session `{session_id}`")))?;
        ok(StatusCode::OK, self.session_json(&session).await?)
    }
}

async fn start_session(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult {
    app.start(&caller, &session_id).await
}

async fn finish_session(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult {
    app.finish(&caller, &session_id).await
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_status(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
    Body(body): Body<StatusBody>,
) -> ApiResult {
    match SessionStatus::parse(&body.status) {
        Some(SessionStatus::Finished) => app.finish(&caller, &session_id).await,
        Some(SessionStatus::Running) => app.start(&caller, &session_id).await,
        _ => {
            app.managed_session(&caller, &session_id).await?;
            Err(bad_request("`status` must be RUNNING or FINISHED"))
        }
    }
}

// ----- rounds -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct AdvanceBody {
    #[serde(alias = "toStatus")]
    to_status: String,
}

async fn advance_round(
    State(app): State<Shared>,
    caller: Caller,
    Path((session_id, index)): Path<(String, String)>,
    Body(body): Body<AdvanceBody>,
) -> ApiResult {
    let session = app.managed_session(&caller, &session_id).await?;
    let to = RoundStatus::parse(&body.to_status).ok_or_else(|| {
        bad_request(format!(
            "`to_status` must be one of {}",
            RoundStatus::names().join(", ")
        ))
    })?;
    let round = app.round_of(&session, &index).await?;
    if session.status != SessionStatus::Running {
        return Err(bad_request(format!(
            "the session is {}; rounds advance only while it is RUNNING",
            session.status.as_str()
        )));
    }
    if round.status.next() != Some(to) {
        return Err(bad_request(format!(
            "round {} is {}; it cannot move to {}{}",
            round.round_index,
            round.status.as_str(),
            to.as_str(),
            round
                .status
                .next()
                .map(|n| format!(" (only to {})", n.as_str()))
                .unwrap_or_default()
        )));
    }
    if let Some(gate) = to.gate() {
        app.check_gate(&session, &round, to, gate).await?;
    }
    let now = roomwire_store::now_ms();
    if !app
        .repo
        .advance_round(&round.id, round.status, to, now)
        .await?
    {
        return Err(conflict(format!(
            "round {} changed meanwhile; reload it",
            round.round_index
        )));
    }
    app.emit_to_session(
        &session_id,
        "round.advanced",
        data(&[
            ("sessionId", session_id.clone().into()),
            ("roundId", round.id.clone().into()),
            ("roundIndex", round.round_index.into()),
            ("status", to.as_str().into()),
            ("previousStatus", round.status.as_str().into()),
            ("advancedBy", caller.id.clone().into()),
        ]),
    );
    let round = Round {
        status: to,
        updated_at: now,
        ..round
    };
    ok(StatusCode::OK, round.json(app.default_timing()))
}

impl StudyGroups {
    /// 409 with who is missing when the round may not enter `to` yet.
    async fn check_gate(
        &self,
        session: &Session,
        round: &Round,
        to: RoundStatus,
        gate: Gate,
    ) -> Result<(), ApiError> {
        let (kind, required, current, missing) = match gate {
            Gate::EveryJoined(kind) => {
                let event_type = kind.event_type().unwrap_or_default();
                let joined = self.repo.joined_members(session).await?;
                let done = self.repo.submitters(&round.id, event_type).await?;
                let missing: Vec<String> = joined
                    .iter()
                    .filter(|u| !done.contains(*u))
                    .cloned()
                    .collect();
                let current = joined.len() - missing.len();
                (kind, joined.len(), current, missing)
            }
            Gate::One(kind) => {
                let event_type = kind.event_type().unwrap_or_default();
                let any = !self
                    .repo
                    .submitters(&round.id, event_type)
                    .await?
                    .is_empty();
                let missing = if any {
                    Vec::new()
                } else {
                    vec![session.scribe_id.clone()]
                };
                (kind, 1, usize::from(any), missing)
            }
        };
        if missing.is_empty() {
            return Ok(());
        }
        let what = kind.event_type().unwrap_or_default();
        let message = match gate {
            Gate::EveryJoined(_) => format!(
                "round {} cannot move to {}: {} of {} joined members have submitted {what}",
                round.round_index,
                to.as_str(),
                current,
                required
            ),
            Gate::One(_) => format!(
                "round {} cannot move to {}: no {what} yet",
                round.round_index,
                to.as_str()
            ),
        };
        Err(conflict(message)
            .with("required", required)
            .with("current", current)
            .with("missing", missing))
    }
}

/// `{prompt}` (the document's) or `{prompt_text, options?}` (the original backend's); an
/// `options` key (a list of strings, or null to clear) sets the answers to choose from.
#[derive(Deserialize)]
struct PromptBody {
    #[serde(alias = "prompt_text", alias = "promptText")]
    prompt: String,
    #[serde(default, deserialize_with = "present")]
    options: Option<Option<Vec<String>>>,
}

/// Tells a key given as `null` (`Some(None)`) from an absent one (`None`, by `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

async fn update_prompt(
    State(app): State<Shared>,
    caller: Caller,
    Path((session_id, index)): Path<(String, String)>,
    Body(body): Body<PromptBody>,
) -> ApiResult {
    let session = app.managed_session(&caller, &session_id).await?;
    let round = app.round_of(&session, &index).await?;
    if session.status == SessionStatus::Finished {
        return Err(bad_request("the session is finished"));
    }
    let prompt = clean_text(&body.prompt, "prompt", app.config.max_prompt_length)?;
    let options = match body.options {
        Some(Some(list)) => Some(Some(
            list.iter()
                .map(|o| clean_text(o, "options", app.config.max_prompt_length))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(Some(list)) = &options {
        let max = app.config.max_options;
        if list.len() as u64 > max {
            return Err(bad_request(format!(
                "`options` may hold at most {max} answers"
            )));
        }
    }
    let now = roomwire_store::now_ms();
    app.repo
        .set_prompt(
            &round.id,
            &prompt,
            options.as_ref().map(|o| o.as_deref()),
            now,
        )
        .await?;
    app.emit_to_session(
        &session_id,
        "prompt.updated",
        data(&[
            ("sessionId", session_id.clone().into()),
            ("roundId", round.id.clone().into()),
            ("roundIndex", round.round_index.into()),
            ("prompt", prompt.clone().into()),
            ("updatedBy", caller.id.clone().into()),
        ]),
    );
    let round = Round {
        prompt,
        options: options.unwrap_or(round.options.clone()),
        updated_at: now,
        ..round
    };
    ok(StatusCode::OK, round.json(app.default_timing()))
}

// ----- activity events ----------------------------------------------------------------------

#[derive(Deserialize)]
struct EventBody {
    #[serde(alias = "roundIndex")]
    round_index: Value,
    #[serde(alias = "eventType")]
    event_type: String,
    #[serde(default)]
    payload: Value,
}

/// A round index from a body: a positive integer (a numeric string is accepted).
fn body_round_index(v: &Value) -> Result<i64, ApiError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_request("`round_index` must be a positive integer")),
        Value::String(s) => parse_round_index(s),
        _ => Err(bad_request(
            "`round_index` (a positive integer) is required",
        )),
    }
}

async fn post_event(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
    Body(body): Body<EventBody>,
) -> ApiResult {
    let (session, _) = app.session_for(&caller, &session_id).await?;
    let index = body_round_index(&body.round_index)?;
    if !valid_event_type(&body.event_type) {
        return Err(bad_request(
            "`event_type` must be 1 to 64 characters of A-Z, 0-9 and _",
        ));
    }
    let payload = body.payload.to_string();
    if payload.len() as u64 > app.config.max_event_payload_bytes {
        return Err(bad_request(format!(
            "`payload` is {} bytes; at most {} are allowed",
            payload.len(),
            app.config.max_event_payload_bytes
        )));
    }
    let round = app
        .repo
        .round(&session_id, index)
        .await?
        .ok_or_else(|| not_found(format!("session `{session_id}` has no round {index}")))?;
    if session.status != SessionStatus::Running {
        return Err(bad_request(format!(
            "the session is {}; events are accepted only while it is RUNNING",
            session.status.as_str()
        )));
    }
    if app.repo.joined_at(&session_id, &caller.id).await?.is_none() {
        return Err(forbidden(
            "join the session first: emit joinSession on the socket, or POST /group-sessions/:sessionId/join",
        ));
    }
    let kind = EventKind::of(&body.event_type);
    if kind == EventKind::Explanation && caller.id != session.scribe_id {
        return Err(forbidden(
            "only the session's scribe submits the group explanation",
        ));
    }
    let phase_conflict = |phase: RoundStatus, current: RoundStatus| {
        conflict(format!(
            "{} is accepted while the round is {}; round {} is {}",
            body.event_type,
            phase.as_str(),
            round.round_index,
            current.as_str()
        ))
        .with("required", phase.as_str())
        .with("current", current.as_str())
    };
    if let Some(phase) = kind.phase() {
        if round.status != phase {
            return Err(phase_conflict(phase, round.status));
        }
    }
    let event = ActivityEvent {
        id: new_id(),
        session_id: session_id.clone(),
        round_id: round.id.clone(),
        round_index: round.round_index,
        user_id: caller.id.clone(),
        event_type: body.event_type.clone(),
        payload,
        created_at: roomwire_store::now_ms(),
    };
    if !app.repo.insert_event(&event, kind.phase()).await? {
        let now = app.round_of(&session, &index.to_string()).await?;
        if let Some(phase) = kind.phase() {
            return Err(phase_conflict(phase, now.status));
        }
    }
    let mut announced = data(&[
        ("sessionId", session_id.clone().into()),
        ("roundId", round.id.clone().into()),
        ("roundIndex", round.round_index.into()),
    ]);
    match kind {
        EventKind::Explanation => {
            // The card is the explanation event: its id is the card's.
            announced.insert("cardId".into(), event.id.clone().into());
            announced.insert("userId".into(), caller.id.clone().into());
        }
        EventKind::Vote | EventKind::Revote | EventKind::Other => {
            if kind == EventKind::Other {
                announced.insert("reason".into(), "EVENT".into());
            }
            announced.insert("userId".into(), caller.id.clone().into());
            announced.insert("eventType".into(), body.event_type.clone().into());
            announced.insert("eventId".into(), event.id.clone().into());
        }
    }
    app.emit_to_session(&session_id, kind.announcement(), announced);
    ok(StatusCode::CREATED, event.json())
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(alias = "roundIndex")]
    round_index: Option<String>,
}

async fn list_events(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult {
    app.session_for(&caller, &session_id).await?;
    let index = q
        .round_index
        .as_deref()
        .map(parse_round_index)
        .transpose()?;
    let events = app.repo.events(&session_id, index).await?;
    let list: Vec<Value> = events.iter().map(ActivityEvent::json).collect();
    ok(StatusCode::OK, Value::Array(list))
}

async fn list_shared_cards(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult {
    app.session_for(&caller, &session_id).await?;
    let cards = app.repo.shared_cards(&session_id).await?;
    ok(StatusCode::OK, Value::Array(cards))
}

// ----- chat ---------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ChatBody {
    #[serde(default, alias = "roundIndex")]
    round_index: Value,
    message: String,
}

#[derive(Deserialize)]
struct ChatQuery {
    limit: Option<String>,
    /// A message id: the page ends just before it (older messages).
    before: Option<String>,
    /// Only the messages of this round.
    #[serde(alias = "roundIndex")]
    round_index: Option<String>,
}

/// The response header naming the message to pass as `before` for the page of older messages
/// (absent when there is none).
pub const NEXT_BEFORE_HEADER: &str = "x-next-before";

async fn post_group_chat(
    State(app): State<Shared>,
    caller: Caller,
    Path((group_id, session_id)): Path<(String, String)>,
    Body(body): Body<ChatBody>,
) -> ApiResult {
    app.post_chat(&caller, Some(&group_id), &session_id, body)
        .await
}

async fn post_chat(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
    Body(body): Body<ChatBody>,
) -> ApiResult {
    app.post_chat(&caller, None, &session_id, body).await
}

async fn get_group_chat(
    State(app): State<Shared>,
    caller: Caller,
    Path((group_id, session_id)): Path<(String, String)>,
    Query(q): Query<ChatQuery>,
) -> ApiResult {
    app.chat_history(&caller, Some(&group_id), &session_id, q)
        .await
}

async fn get_chat(
    State(app): State<Shared>,
    caller: Caller,
    Path(session_id): Path<String>,
    Query(q): Query<ChatQuery>,
) -> ApiResult {
    app.chat_history(&caller, None, &session_id, q).await
}

impl StudyGroups {
    /// The session for a call whose path may name its group (which must be the session's).
    async fn session_in(
        &self,
        caller: &Caller,
        group_id: Option<&str>,
        session_id: &str,
    ) -> Result<Session, ApiError> {
        let session = self
            .repo
            .session(session_id)
            .await?
            .filter(|s| group_id.is_none_or(|g| g == s.group_id))
            .ok_or_else(|| not_found(format!("no session `{session_id}` in this group")))?;
        if self
            .repo
            .role(&session.group_id, &caller.id)
            .await?
            .is_none()
        {
            return Err(forbidden("only members of the session's group may do this"));
        }
        Ok(session)
    }

    async fn post_chat(
        &self,
        caller: &Caller,
        group_id: Option<&str>,
        session_id: &str,
        body: ChatBody,
    ) -> ApiResult {
        let session = self.session_in(caller, group_id, session_id).await?;
        if session.status == SessionStatus::Finished {
            return Err(bad_request("the session is finished"));
        }
        let round = match &body.round_index {
            Value::Null => None,
            v => {
                let n = body_round_index(v)?;
                match self.repo.round(session_id, n).await? {
                    None => return Err(bad_request(format!("the session has no round {n}"))),
                    round => round,
                }
            }
        };
        let message = clean_text(&body.message, "message", self.config.max_chat_length)?;
        let chat = ChatMessage {
            id: new_id(),
            session_id: session_id.to_owned(),
            round_index: round.as_ref().map(|r| r.round_index),
            round_id: round.map(|r| r.id),
            user_id: caller.id.clone(),
            user_name: self.user_name(caller).await,
            message,
            created_at: roomwire_store::now_ms(),
        };
        self.repo.insert_chat(&chat).await?;
        let role = session.assigned_role(&caller.id);
        self.emit_to_session(session_id, "chat.message", chat.fields(role));
        ok(StatusCode::CREATED, chat.json(role, &[]))
    }

    async fn chat_history(
        &self,
        caller: &Caller,
        group_id: Option<&str>,
        session_id: &str,
        q: ChatQuery,
    ) -> ApiResult {
        let session = self.session_in(caller, group_id, session_id).await?;
        let round_index = match q.round_index.as_deref() {
            None | Some("") => None,
            Some(s) => {
                let n = parse_round_index(s)?;
                if self.repo.round(session_id, n).await?.is_none() {
                    return Err(bad_request(format!("the session has no round {n}")));
                }
                Some(n)
            }
        };
        let max = self.config.chat_page_max;
        let limit = match q.limit.as_deref() {
            None => 100.min(max),
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(bad_request(format!("`limit` must be 1 to {max}"))),
            },
        };
        let before = q.before.as_deref();
        if let Some(id) = before {
            if !self.repo.chat_exists(session_id, id).await? {
                return Err(bad_request("`before` is not a message of this session"));
            }
        }
        let (messages, more) = self
            .repo
            .chat(session_id, round_index, limit as i64, before)
            .await?;
        let list: Vec<Value> = messages
            .iter()
            .map(|(m, by)| m.json(session.assigned_role(&m.user_id), by))
            .collect();
        let mut response = (StatusCode::OK, Json(Value::Array(list))).into_response();
        // Where the next (older) page starts, while there is one.
        if let Some((oldest, _)) = messages.first().filter(|_| more) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&oldest.id) {
                response.headers_mut().insert(NEXT_BEFORE_HEADER, v);
            }
        }
        Ok(response)
    }
}

// ----- OpenAPI ------------------------------------------------------------------------------

/// One REST operation as documented: path (unprefixed), method, summary, request body schema,
/// success status and the other statuses it may answer (errors, and a second success).
struct Operation {
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    /// Query parameters: name and whether it is required.
    query: &'static [(&'static str, bool)],
    body: Option<&'static str>,
    success: u16,
    errors: &'static [u16],
}

const OPERATIONS: &[Operation] = &[
    Operation { path: "/groups", method: "post", summary: "Create a group (the caller becomes its OWNER)",
        query: &[], body: Some(r#"{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"description":{"type":"string"}}}"#),
        success: 201, errors: &[400] },
    Operation { path: "/groups", method: "get", summary: "The caller's groups: an array, each group with _count {members, contents, sessions}", query: &[], body: None, success: 200, errors: &[] },
    Operation { path: "/groups/{groupId}", method: "get", summary: "A group with its members", query: &[], body: None, success: 200, errors: &[403, 404] },
    Operation { path: "/groups/{groupId}/members", method: "post", summary: "Add a member or change their role (OWNER or MOD)",
        query: &[], body: Some(r#"{"type":"object","required":["userId"],"properties":{"userId":{"type":"string"},"role":{"type":"string","enum":["OWNER","MOD","MEMBER"]}}}"#),
        success: 201, errors: &[200, 400, 403, 404, 409] },
    Operation { path: "/groups/{groupId}/members/{userId}", method: "delete", summary: "Remove a member", query: &[], body: None, success: 204, errors: &[403, 404, 409] },
    Operation { path: "/groups/{groupId}/sessions", method: "post", summary: "Create a session (status CREATED, rounds VOTING)",
        query: &[], body: Some(r#"{"type":"object","required":["rounds"],"properties":{"rounds":{"type":"array","items":{"type":"object","required":["prompt"],"properties":{"prompt":{"type":"string"}}}},"facilitatorId":{"type":"string"},"scribeId":{"type":"string"},"title":{"type":"string"}}}"#),
        success: 201, errors: &[400, 403, 404] },
    Operation { path: "/groups/{groupId}/sessions", method: "get", summary: "The group's sessions, newest first: an array, each with _count {rounds}", query: &[], body: None, success: 200, errors: &[403, 404] },
    Operation { path: "/group-sessions/{sessionId}", method: "get", summary: "A session with rounds, members, roles, attendance and shared cards", query: &[], body: None, success: 200, errors: &[403, 404] },
    Operation { path: "/group-sessions/{sessionId}/join", method: "post", summary: "Mark the caller's attendance JOINED (emits session.updated)", query: &[], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/start", method: "put", summary: "Start the session (emits session.started)", query: &[], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/status", method: "put", summary: "Set the session's status: FINISHED (emits session.ended) or RUNNING (emits session.started)",
        query: &[], body: Some(r#"{"type":"object","required":["status"],"properties":{"status":{"type":"string","enum":["RUNNING","FINISHED"]}}}"#),
        success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/finish", method: "post", summary: "Finish the session (emits session.ended)", query: &[], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/rounds/{roundIndex}/advance", method: "post", summary: "Advance the round to its next status (emits round.advanced)",
        query: &[], body: Some(r#"{"type":"object","required":["to_status"],"properties":{"to_status":{"type":"string","enum":["VOTING","DISCUSSING","REVOTING","EXPLAINING","DONE"]}}}"#),
        success: 200, errors: &[400, 403, 404, 409] },
    Operation { path: "/group-sessions/{sessionId}/rounds/{roundIndex}/prompt", method: "patch", summary: "Change the round's prompt (emits prompt.updated); prompt_text is accepted for prompt",
        query: &[], body: Some(r#"{"type":"object","required":["prompt"],"properties":{"prompt":{"type":"string"},"prompt_text":{"type":"string"},"options":{"type":"array","nullable":true,"items":{"type":"string"}}}}"#),
        success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/rounds/{roundIndex}/prompt", method: "put", summary: "Change the round's prompt (as PATCH)",
        query: &[], body: Some(r#"{"type":"object","required":["prompt"],"properties":{"prompt":{"type":"string"},"prompt_text":{"type":"string"},"options":{"type":"array","nullable":true,"items":{"type":"string"}}}}"#),
        success: 200, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/events", method: "post", summary: "Submit an activity event (emits vote.submitted, revote.submitted, sharedCard.created or session.updated)",
        query: &[], body: Some(r#"{"type":"object","required":["round_index","event_type"],"properties":{"round_index":{"type":"integer","minimum":1},"event_type":{"type":"string","pattern":"^[A-Z0-9_]{1,64}$"},"payload":{}}}"#),
        success: 201, errors: &[400, 403, 404, 409] },
    Operation { path: "/group-sessions/{sessionId}/events", method: "get", summary: "The session's event log, oldest first: an array of events (payload also as payloadJson)", query: &[("round_index", false), ("roundIndex", false)], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/groups/{groupId}/sessions/{sessionId}/chat", method: "post", summary: "Send a chat message (emits chat.message)",
        query: &[], body: Some(r#"{"type":"object","required":["message"],"properties":{"round_index":{"type":"integer","minimum":1},"message":{"type":"string"}}}"#),
        success: 201, errors: &[400, 403, 404] },
    Operation { path: "/groups/{groupId}/sessions/{sessionId}/chat", method: "get", summary: "Chat history, oldest first: an array; the x-next-before header names the message to pass as before for older ones", query: &[("roundIndex", false), ("round_index", false), ("limit", false), ("before", false)], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/groups/sessions/{sessionId}/chat", method: "post", summary: "Send a chat message (the original server's path)",
        query: &[], body: Some(r#"{"type":"object","required":["message"],"properties":{"round_index":{"type":"integer","minimum":1},"message":{"type":"string"}}}"#),
        success: 201, errors: &[400, 403, 404] },
    Operation { path: "/groups/sessions/{sessionId}/chat", method: "get", summary: "Chat history (the original server's path), as the other chat path", query: &[("roundIndex", false), ("round_index", false), ("limit", false), ("before", false)], body: None, success: 200, errors: &[400, 403, 404] },
    Operation { path: "/groups/{groupId}/members/invite", method: "post", summary: "Invite a user: they become a member at once (OWNER or MOD); 409 if already one",
        query: &[], body: Some(r#"{"type":"object","required":["userId"],"properties":{"userId":{"type":"string"},"role":{"type":"string","enum":["OWNER","MOD","MEMBER"]}}}"#),
        success: 201, errors: &[400, 403, 404, 409] },
    Operation { path: "/groups/{groupId}/sessions/{sessionId}", method: "get", summary: "A session of this group (as GET /group-sessions/{sessionId}; 404 for another group's)", query: &[], body: None, success: 200, errors: &[403, 404] },
    Operation { path: "/group-sessions", method: "post", summary: "Create a session about a content with roundsCount rounds whose prompts the facilitator sets (OWNER or MOD)",
        query: &[("groupId", true)],
        body: Some(r#"{"type":"object","required":["contentId","roundsCount"],"properties":{"contentId":{"type":"string"},"mode":{"type":"string","enum":["PI_SPRINT","JIGSAW_MICRO","TBL_LITE"]},"layer":{"type":"string","enum":["L1","L2","L3"]},"roundsCount":{"type":"integer","minimum":1},"facilitatorId":{"type":"string"},"scribeId":{"type":"string"},"title":{"type":"string"}}}"#),
        success: 201, errors: &[400, 403, 404] },
    Operation { path: "/group-sessions/{sessionId}/shared-cards", method: "get", summary: "The session's shared cards: an array, each with cardJson and round {roundIndex, status}", query: &[], body: None, success: 200, errors: &[403, 404] },
];

fn describe(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "created",
        204 => "done, no content",
        400 => "invalid request, or not allowed in the current status",
        401 => "missing, invalid or expired token",
        403 => "not a member, or not allowed for the caller's role",
        404 => "no such group, session, round or member",
        409 => "conflict: a gate not met (with required, current, missing), a phase mismatch, or the last OWNER",
        503 => "storage unavailable",
        _ => "",
    }
}

/// The study-groups paths of the OpenAPI document, prefixed and unprefixed.
pub fn openapi_paths() -> Value {
    let error_schema = json!({"type": "object", "properties": {
        "statusCode": {"type": "integer"}, "message": {"type": "string"}, "error": {"type": "string"},
        "required": {}, "current": {}, "missing": {"type": "array", "items": {"type": "string"}}}});
    let mut paths = Map::new();
    for prefix in ["/api/v1", ""] {
        for op in OPERATIONS {
            let path = format!("{prefix}{}", op.path);
            let mut responses = Map::new();
            responses.insert(
                op.success.to_string(),
                json!({"description": describe(op.success)}),
            );
            for status in op.errors.iter().chain(&[401, 503]) {
                if *status < 300 {
                    responses.insert(
                        status.to_string(),
                        json!({"description": describe(*status)}),
                    );
                    continue;
                }
                responses.insert(
                    status.to_string(),
                    json!({"description": describe(*status), "content": {"application/json": {"schema": error_schema}}}),
                );
            }
            let parameters: Vec<Value> = op
                .path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
                .chain(op.query.iter().map(|(name, required)| {
                    json!({"name": name, "in": "query", "required": required, "schema": {"type": "string"}})
                }))
                .collect();
            let mut operation = json!({
                "tags": ["study-groups"],
                "summary": op.summary,
                "security": [{"bearer": []}],
                "parameters": parameters,
                "responses": responses,
            });
            if let Some(schema) = op.body {
                let schema: Value = serde_json::from_str(schema).unwrap_or(Value::Null);
                operation["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": schema}}});
            }
            let entry = paths.entry(path).or_insert_with(|| json!({}));
            entry[op.method] = operation;
        }
    }
    Value::Object(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_bodies_parse_and_both_prefixes_are_listed() {
        for op in OPERATIONS {
            if let Some(b) = op.body {
                serde_json::from_str::<Value>(b).unwrap_or_else(|e| panic!("{}: {e}", op.path));
            }
        }
        let paths = openapi_paths();
        for op in OPERATIONS {
            for prefix in ["/api/v1", ""] {
                let p = &paths[format!("{prefix}{}", op.path)][op.method];
                assert!(p.is_object(), "{prefix}{} {}", op.path, op.method);
                assert!(p["responses"]["401"].is_object());
            }
        }
    }

    #[test]
    fn clean_text_strips_and_bounds() {
        assert_eq!(clean_text("  <b>hi</b> ", "m", 5).unwrap(), "hi");
        assert!(clean_text("<i></i>  ", "m", 5).is_err());
        assert!(clean_text("abcdef", "m", 5).is_err());
        assert_eq!(clean_text("ééééé", "m", 5).unwrap(), "ééééé");
    }

    #[test]
    fn round_indexes_are_positive_integers() {
        assert_eq!(parse_round_index("3").unwrap(), 3);
        assert!(parse_round_index("0").is_err());
        assert!(parse_round_index("x").is_err());
        assert_eq!(body_round_index(&json!(2)).unwrap(), 2);
        assert_eq!(body_round_index(&json!("2")).unwrap(), 2);
        assert!(body_round_index(&json!(1.5)).is_err());
        assert!(body_round_index(&Value::Null).is_err());
    }
}
