//! The conference room service over REST, for administrators (JWT with role `admin`, or the
//! configured API key in `x-api-key`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use super::commands::TargetAction;
use super::room::Room;
use super::{now_ms, valid_room_id, Conference, APP};

type Shared = Arc<Conference>;

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "message": message.into()})),
    )
        .into_response()
}

/// Why a request was not admitted; answers as a JSON problem.
pub struct Denied(StatusCode, String);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        problem(self.0, self.1)
    }
}

/// Admits administrators: the API key (when one is configured) or a valid JWT whose `role`
/// is `admin` (any case).
pub fn require_admin(app: &Conference, headers: &HeaderMap) -> Result<(), Denied> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if let Some(key) = key {
        if !app.api_key.is_empty() && key == app.api_key {
            return Ok(());
        }
        return Err(Denied(StatusCode::UNAUTHORIZED, "invalid API key".into()));
    }
    let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Denied(
            StatusCode::UNAUTHORIZED,
            "missing credentials: a Bearer token or x-api-key".into(),
        ));
    };
    let identity = app
        .auth
        .verify(bearer)
        .map_err(|e| Denied(StatusCode::UNAUTHORIZED, e.to_string()))?;
    if identity
        .role
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("admin"))
    {
        Ok(())
    } else {
        Err(Denied(StatusCode::FORBIDDEN, "admin role required".into()))
    }
}

/// An administrator, as an extractor: handlers that take it answer 401/403 to anyone else.
pub struct Admin;

impl axum::extract::FromRequestParts<Shared> for Admin {
    type Rejection = Denied;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Shared,
    ) -> Result<Self, Denied> {
        require_admin(app, &parts.headers).map(|()| Admin)
    }
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route(
            "/api/v1/conference/rooms",
            get(list_rooms).post(create_room),
        )
        .route(
            "/api/v1/conference/rooms/{roomId}",
            get(get_room).delete(delete_room),
        )
        .route("/api/v1/conference/rooms/{roomId}/kick", post(kick))
        .route("/api/v1/conference/rooms/{roomId}/mute", post(mute))
        .route("/api/v1/conference/rooms/{roomId}/chat", get(chat))
        .route("/api/v1/conference/rooms/{roomId}/events", get(events))
        .with_state(app)
}

async fn list_rooms(State(app): State<Shared>, _admin: Admin) -> Response {
    let mut rooms: Vec<Value> = app
        .rooms
        .iter()
        .map(|e| e.value().lock().state_json())
        .collect();
    rooms.sort_by(|a, b| a["roomId"].as_str().cmp(&b["roomId"].as_str()));
    Json(json!({ "rooms": rooms })).into_response()
}

async fn get_room(
    State(app): State<Shared>,
    _admin: Admin,
    Path(room_id): Path<String>,
) -> Response {
    match app.room(&room_id) {
        Some(room) => Json(room.lock().state_json()).into_response(),
        None => problem(StatusCode::NOT_FOUND, format!("no room `{room_id}`")),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateRoom {
    room_id: Option<String>,
    max_participants: Option<u64>,
    host_user_id: Option<String>,
    host_peer_id: Option<String>,
    locked: Option<bool>,
    waiting_room: Option<bool>,
}

async fn create_room(
    State(app): State<Shared>,
    _admin: Admin,
    body: Option<Json<CreateRoom>>,
) -> Response {
    let spec = body.map(|b| b.0).unwrap_or_default();
    let room_id = spec
        .room_id
        .unwrap_or_else(|| format!("room-{}", super::random_hex(10)));
    if !valid_room_id(&room_id) {
        return problem(
            StatusCode::BAD_REQUEST,
            "roomId must be 1-128 characters of [A-Za-z0-9_-]",
        );
    }
    let max = spec.max_participants.unwrap_or(app.config.max_participants);
    if max == 0 {
        return problem(
            StatusCode::BAD_REQUEST,
            "maxParticipants must be at least 1",
        );
    }
    let mut room = Room::new(&room_id, max as usize, now_ms());
    room.designated_host_user = spec.host_user_id;
    room.designated_host_peer = spec.host_peer_id;
    room.locked = spec.locked.unwrap_or(false);
    room.waiting_room = spec.waiting_room.unwrap_or(false);
    let state = room.state_json();
    match app.rooms.entry(room_id.clone()) {
        dashmap::Entry::Occupied(_) => {
            problem(StatusCode::CONFLICT, format!("room `{room_id}` exists"))
        }
        dashmap::Entry::Vacant(v) => {
            v.insert(Arc::new(Mutex::new(room)));
            app.log(&room_id, "room-created", Some("admin"), state.clone());
            (StatusCode::CREATED, Json(state)).into_response()
        }
    }
}

async fn delete_room(
    State(app): State<Shared>,
    _admin: Admin,
    Path(room_id): Path<String>,
) -> Response {
    if app.close_room(&room_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        problem(StatusCode::NOT_FOUND, format!("no room `{room_id}`"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerBody {
    peer_id: String,
}

async fn kick(
    State(app): State<Shared>,
    _admin: Admin,
    Path(room_id): Path<String>,
    body: Option<Json<PeerBody>>,
) -> Response {
    on_peer(app, room_id, body, TargetAction::Kick)
}

async fn mute(
    State(app): State<Shared>,
    _admin: Admin,
    Path(room_id): Path<String>,
    body: Option<Json<PeerBody>>,
) -> Response {
    on_peer(app, room_id, body, TargetAction::Mute)
}

/// Kick or mute by an administrator (the handlers took the [`Admin`] extractor).
fn on_peer(
    app: Shared,
    room_id: String,
    body: Option<Json<PeerBody>>,
    action: TargetAction,
) -> Response {
    let Some(Json(PeerBody { peer_id })) = body else {
        return problem(StatusCode::BAD_REQUEST, "body must be {\"peerId\": ...}");
    };
    let Some(room) = app.room(&room_id) else {
        return problem(StatusCode::NOT_FOUND, format!("no room `{room_id}`"));
    };
    let mut r = room.lock();
    match app.target_action(&mut r, "admin", action, &peer_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((_, message)) => problem(StatusCode::NOT_FOUND, message),
    }
}

async fn chat(State(app): State<Shared>, _admin: Admin, Path(room_id): Path<String>) -> Response {
    let messages = app.chat_history(&room_id, 1000).await;
    Json(json!({ "roomId": room_id, "messages": messages })).into_response()
}

async fn events(State(app): State<Shared>, _admin: Admin, Path(room_id): Path<String>) -> Response {
    let Some(store) = &app.store else {
        return Json(json!({ "roomId": room_id, "events": [] })).into_response();
    };
    match store.room_events(APP, &room_id, 0, 1000).await {
        Ok(events) => Json(json!({ "roomId": room_id, "events": events })).into_response(),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// The conference paths of the OpenAPI document.
pub fn openapi_paths() -> Value {
    let errors = json!({
        "401": {"description": "no or invalid credentials"},
        "403": {"description": "not an admin"},
    });
    let with = |mut responses: Value| {
        if let (Some(r), Some(e)) = (responses.as_object_mut(), errors.as_object()) {
            r.extend(e.clone());
        }
        responses
    };
    let room_param = json!([{"name": "roomId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}}]);
    let peer_body = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["peerId"], "properties": {"peerId": {"type": "string"}}}}}});
    json!({
        "/api/v1/conference/rooms": {
            "get": {"tags": ["conference"], "summary": "List rooms", "security": [{"bearer": []}, {"apiKey": []}],
                    "responses": with(json!({"200": {"description": "rooms"}}))},
            "post": {"tags": ["conference"], "summary": "Create a room", "security": [{"bearer": []}, {"apiKey": []}],
                     "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                         "roomId": {"type": "string"}, "maxParticipants": {"type": "integer", "minimum": 1},
                         "hostUserId": {"type": "string"}, "hostPeerId": {"type": "string"},
                         "locked": {"type": "boolean"}, "waitingRoom": {"type": "boolean"}}}}}},
                     "responses": with(json!({"201": {"description": "created"}, "400": {"description": "invalid room id or limit"}, "409": {"description": "room exists"}}))}
        },
        "/api/v1/conference/rooms/{roomId}": {
            "parameters": room_param,
            "get": {"tags": ["conference"], "summary": "A room's state", "responses": with(json!({"200": {"description": "state"}, "404": {"description": "no such room"}}))},
            "delete": {"tags": ["conference"], "summary": "Close a room (everyone gets room-closed and is disconnected)",
                       "responses": with(json!({"204": {"description": "closed"}, "404": {"description": "no such room"}}))}
        },
        "/api/v1/conference/rooms/{roomId}/kick": {
            "parameters": room_param,
            "post": {"tags": ["conference"], "summary": "Remove a participant", "requestBody": peer_body,
                     "responses": with(json!({"204": {"description": "removed"}, "400": {"description": "no peerId"}, "404": {"description": "no such room or peer"}}))}
        },
        "/api/v1/conference/rooms/{roomId}/mute": {
            "parameters": room_param,
            "post": {"tags": ["conference"], "summary": "Mute a participant", "requestBody": peer_body,
                     "responses": with(json!({"204": {"description": "muted"}, "400": {"description": "no peerId"}, "404": {"description": "no such room or peer"}}))}
        },
        "/api/v1/conference/rooms/{roomId}/chat": {
            "parameters": room_param,
            "get": {"tags": ["conference"], "summary": "Stored chat messages", "responses": with(json!({"200": {"description": "messages"}}))}
        },
        "/api/v1/conference/rooms/{roomId}/events": {
            "parameters": room_param,
            "get": {"tags": ["conference"], "summary": "Room event log", "responses": with(json!({"200": {"description": "events"}}))}
        }
    })
}
