//! The HTTP server: one listener for health, metrics, Socket.IO, plain WebSocket and the apps'
//! REST routes, with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use roomwire_store::{Migration, Store, StoreOptions};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Authenticator;
use crate::client_addr::TrustedProxies;
use crate::config::Config;
use crate::hub::{CloseRequest, Hub};
use crate::transport::engineio::{CloseReason, EngineConfig, EngineServer};
use crate::transport::rawws::WsLimits;
use crate::transport::socketio::{NamespaceHandler, SocketIo, SocketIoConfig};

/// What every app gets to build on.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub hub: Hub,
    pub store: Option<Store>,
    pub auth: Arc<Authenticator>,
    pub ws_limits: WsLimits,
    /// Resolves a connection's client address (`http.trusted_proxies`).
    pub proxies: Arc<TrustedProxies>,
}

impl Core {
    /// The core of a server with this configuration, hub and database.
    pub fn new(config: Arc<Config>, hub: Hub, store: Option<Store>) -> anyhow::Result<Core> {
        let auth = Arc::new(Authenticator::from_config(&config)?);
        let proxies = TrustedProxies::parse(&config.http.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?;
        Ok(Core {
            hub,
            store,
            auth,
            ws_limits: WsLimits::from_config(&config),
            proxies: Arc::new(proxies),
            config,
        })
    }
}

/// An app plugged into the server: its namespaces, its routes, its tables.
pub trait App: Send + Sync {
    fn name(&self) -> &'static str;
    fn migrations(&self) -> &'static [Migration] {
        &[]
    }
    /// Socket.IO namespaces the app serves.
    fn namespaces(&self, _core: &Core) -> Vec<(String, Arc<dyn NamespaceHandler>)> {
        Vec::new()
    }
    /// HTTP and plain-WebSocket routes; `io` lets REST handlers emit into namespaces.
    fn routes(&self, _core: &Core, _io: &SocketIo) -> Router {
        Router::new()
    }
    /// The app's REST paths for the served OpenAPI document (an OpenAPI `paths` object).
    fn openapi_paths(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// The OpenAPI document of every app's REST routes.
pub fn openapi(apps: &[Box<dyn App>]) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for app in apps {
        if let serde_json::Value::Object(p) = app.openapi_paths() {
            paths.extend(p);
        }
    }
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "Roomwire REST API", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
        }},
        "paths": paths,
    })
}

/// Everything `serve` and `conformance` share.
pub struct Assembly {
    pub router: Router,
    pub core: Core,
    pub engine: Arc<EngineServer<SocketIo>>,
}

/// Builds the router for the given apps. `extra` lets the conformance server add its own
/// namespaces and routes through the same path as apps.
pub fn assemble(
    core: Core,
    apps: &[Box<dyn App>],
    engine_config: EngineConfig,
    path: &str,
) -> Assembly {
    let mut builder =
        SocketIo::builder(core.hub.clone(), SocketIoConfig::from_config(&core.config));
    for app in apps {
        for (name, handler) in app.namespaces(&core) {
            builder = builder.namespace(&name, app.name(), handler);
        }
    }
    let io = builder.build();
    assemble_with(core, apps, io, engine_config, path)
}

pub fn assemble_with(
    core: Core,
    apps: &[Box<dyn App>],
    io: SocketIo,
    engine_config: EngineConfig,
    path: &str,
) -> Assembly {
    let engine = EngineServer::new(io.clone(), engine_config);
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(core.clone())
        .merge(engine.router(path));
    for app in apps {
        router = router.merge(app.routes(&core, &io));
    }
    let document = Arc::new(openapi(apps));
    router = router.route(
        "/api/v1/openapi.json",
        get(move || {
            let document = document.clone();
            async move { axum::Json((*document).clone()) }
        }),
    );
    // Unknown paths and unsupported methods answer in the JSON error shape of every REST
    // route. The 405 fallback applies to the routes registered so far: keep it last.
    let router = router
        .fallback(crate::kit::error::not_found)
        .method_not_allowed_fallback(crate::kit::error::method_not_allowed)
        .layer(cors(&core.config));
    Assembly {
        router,
        core,
        engine,
    }
}

/// CORS for browsers. With an explicit origin list, those origins may send credentials.
/// With `*` outside production, the request's own `Origin` is echoed with
/// `Access-Control-Allow-Credentials: true`, so that a frontend whose HTTP client sends
/// credentials (the study-groups frontend's axios client does) is not refused by the browser;
/// in production `*` stays the plain wildcard, without credentials.
fn cors(config: &Config) -> CorsLayer {
    let origins = &config.http.cors_origins;
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-api-key"),
        ])
        // The study-groups chat history names its next page in this header.
        .expose_headers([header::HeaderName::from_static("x-next-before")]);
    if origins.iter().any(|o| o == "*") {
        if config.is_production() {
            layer.allow_origin(AllowOrigin::any())
        } else {
            layer
                .allow_origin(AllowOrigin::mirror_request())
                .allow_credentials(true)
        }
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(list).allow_credentials(true)
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(core): State<Core>) -> Response {
    let db = match &core.store {
        Some(store) => store.ping().await.map_err(|e| e.to_string()),
        None => Ok(()),
    };
    let broker = core.hub.broker().ping().await.map_err(|e| e.to_string());
    let state = core.hub.state().ping().await.map_err(|e| e.to_string());
    let status = if db.is_ok() && broker.is_ok() && state.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |r: &Result<(), String>| match r {
        Ok(()) => serde_json::Value::String("ok".into()),
        Err(e) => serde_json::Value::String(e.clone()),
    };
    let body = serde_json::json!({
        "database": word(&db),
        "broker": word(&broker),
        "state": word(&state),
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics_text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::metrics().render(),
    )
        .into_response()
}

/// Opens the database and applies the core's and the apps' migrations.
pub async fn open_store(config: &Config, apps: &[Box<dyn App>]) -> anyhow::Result<Store> {
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("data_dir {}: {e}", parent.display()))?;
        }
    }
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("database_url: {e}"))?;
    store.migrate(roomwire_store::CORE_MIGRATIONS).await?;
    for app in apps {
        store.migrate(app.migrations()).await?;
    }
    Ok(store)
}

/// Serves until SIGTERM/SIGINT, then stops accepting, tells clients, and drains.
pub async fn run(assembly: Assembly, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let Assembly {
        router,
        core,
        engine,
    } = assembly;
    let timeout = Duration::from_secs(core.config.http.shutdown_timeout_seconds);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Real-time messages are small and latency-bound: never let Nagle hold them back.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown({
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    tracing::info!(
        "shutting down: no new connections; telling clients; draining for up to {timeout:?}"
    );
    let _ = stop_tx.send(true);
    engine.close_all(CloseReason::ServerShutdown);
    core.hub.local().close_all(CloseRequest::SHUTDOWN);
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline
        && (engine.session_count() > 0 || core.hub.local().member_count() > 0)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = engine.session_count() + core.hub.local().member_count();
    if left > 0 {
        tracing::warn!(left, "shutdown timeout reached with connections still open");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    if let Some(store) = &core.store {
        store.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
