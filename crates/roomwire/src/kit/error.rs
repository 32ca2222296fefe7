//! The JSON error answer every REST route gives, `{statusCode, message, error}` (`error` is
//! the status's reason phrase), and the router's fallbacks for unknown routes (404) and
//! unsupported methods (405) in that same shape.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

/// `{statusCode, message, error}` for `status`.
pub fn body(status: StatusCode, message: impl Into<String>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("statusCode".into(), status.as_u16().into());
    body.insert("message".into(), message.into().into());
    body.insert(
        "error".into(),
        status.canonical_reason().unwrap_or("Error").into(),
    );
    body
}

/// The error answer: `status` with [`body`] plus `extra` fields.
pub fn response(
    status: StatusCode,
    message: impl Into<String>,
    extra: Map<String, Value>,
) -> Response {
    let mut body = body(status, message);
    body.extend(extra);
    (status, Json(Value::Object(body))).into_response()
}

/// The path of a request as a message may show it (at most 200 characters).
fn shown_path(req: &Request) -> String {
    req.uri().path().chars().take(200).collect()
}

/// 404 for a path no route serves.
pub async fn not_found(req: Request) -> Response {
    let message = format!("Cannot {} {}", req.method(), shown_path(&req));
    response(StatusCode::NOT_FOUND, message, Map::new())
}

/// 405 for a path served, but not with this method (the router adds `Allow`).
pub async fn method_not_allowed(req: Request) -> Response {
    let message = format!("{} is not allowed on {}", req.method(), shown_path(&req));
    response(StatusCode::METHOD_NOT_ALLOWED, message, Map::new())
}
