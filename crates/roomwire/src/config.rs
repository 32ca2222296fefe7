//! Configuration: embedded defaults, then a TOML file, then `ROOMWIRE_*` environment
//! variables, then command-line flags, each layer overriding the one before.
//!
//! Every key `[section] key` maps to the variable `ROOMWIRE_SECTION_KEY` (top-level keys map
//! to `ROOMWIRE_KEY`). The layering is done on a TOML table built from the serialized
//! defaults, so the set of known keys and their types comes from one place: the structs below.
//! That is also why no key is an `Option`: an absent value would vanish from the table and its
//! variable would go unrecognised. An empty string means "not set" where that matters.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The development secret used when none is configured. `serve` warns loudly about it and
/// refuses it outright when `env = "production"`.
pub const DEV_JWT_SECRET: &str = "roomwire-development-secret-do-not-use-in-production";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds (HTTP, Socket.IO and plain WebSocket share it).
    pub listen: String,
    /// Directory for the SQLite database and other local state.
    pub data_dir: String,
    /// Database URL: `sqlite://FILE` or `postgres://...`. Empty: `sqlite://<data_dir>/roomwire.db`.
    pub database_url: String,
    /// `development` or `production`. Production refuses the built-in JWT secret.
    pub env: String,
    /// HS256 secret. Empty: the built-in development secret (with a warning).
    pub jwt_secret: String,
    /// Log filter in `tracing` syntax, e.g. `info` or `roomwire=debug,info`.
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: String,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub socketio: SocketIoConfig,
    pub websocket: WebSocketConfig,
    pub broker: BrokerConfig,
    pub conference: ConferenceConfig,
    pub study_groups: StudyGroupsConfig,
}

/// The study-groups app (`/study-groups` namespace and its REST routes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StudyGroupsConfig {
    /// Characters per chat message, after markup is stripped.
    pub max_chat_length: u64,
    /// Characters per round prompt.
    pub max_prompt_length: u64,
    /// Rounds per session.
    pub max_rounds: u64,
    /// Answer options of one round's prompt.
    pub max_options: u64,
    /// Bytes of an activity event's `payload`, as JSON text.
    pub max_event_payload_bytes: u64,
    /// Characters of a group's name (and a session's title).
    pub max_name_length: u64,
    /// Most chat messages one history request returns.
    pub chat_page_max: u64,
    /// Phase timers (seconds) of rounds in layer-`L1` sessions, sent as `timingJson`.
    pub vote_seconds: u64,
    pub discuss_seconds: u64,
    pub revote_seconds: u64,
    pub explain_seconds: u64,
    /// Phase timers (seconds) of rounds in layer-`L2`/`L3` sessions.
    pub advanced_vote_seconds: u64,
    pub advanced_discuss_seconds: u64,
    pub advanced_revote_seconds: u64,
    pub advanced_explain_seconds: u64,
}

impl Default for StudyGroupsConfig {
    fn default() -> Self {
        StudyGroupsConfig {
            max_chat_length: 500,
            max_prompt_length: 2000,
            max_rounds: 50,
            max_options: 10,
            max_event_payload_bytes: 16 * 1024,
            max_name_length: 100,
            chat_page_max: 500,
            vote_seconds: 60,
            discuss_seconds: 180,
            revote_seconds: 60,
            explain_seconds: 180,
            advanced_vote_seconds: 90,
            advanced_discuss_seconds: 240,
            advanced_revote_seconds: 90,
            advanced_explain_seconds: 240,
        }
    }
}

/// The conference app (`/room/{roomId}/websocket`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConferenceConfig {
    /// Default capacity of a room (a room created over REST may set its own).
    pub max_participants: u64,
    /// How long a kicked peer (or user) cannot rejoin the room.
    pub kick_ban_seconds: u64,
    /// How long an empty room lives before it is deleted.
    pub empty_room_ttl_seconds: u64,
    /// How long a dropped peer keeps its place, roles and state.
    pub reconnect_grace_seconds: u64,
    /// Characters per chat message.
    pub max_chat_length: u64,
    /// Chat messages sent to a joiner.
    pub chat_history_limit: u64,
    /// Silence before a connection is closed.
    pub idle_timeout_seconds: u64,
    /// Messages per second per connection (10x in one second closes).
    pub max_messages_per_second: u64,
    /// Largest message accepted.
    pub max_message_bytes: u64,
    /// Require a JWT to join.
    pub require_auth: bool,
    /// Send a chat message back to its sender too. Off: to the others only, as the original
    /// server did (the XSAMI frontend shows its own copy and would show an echo twice).
    pub chat_echo_to_sender: bool,
    /// A kick without auth also bans the kicked peer's username from rejoining.
    pub kick_ban_by_username: bool,
    /// A kick without auth also bans the kicked peer's client address. With both this and
    /// `kick_ban_by_username`, a joiner is refused when both match (the same name from the
    /// same address), so others behind the same address may still join.
    pub kick_ban_by_address: bool,
    /// Refusals (locked, full, banned) of one address from one room after which its next
    /// WebSocket handshakes to that room get HTTP 403, so a client that retries on every close
    /// runs out of attempts. 0: never refuse the handshake.
    pub refusals_before_block: u64,
    /// Longest time an address stays refused at the handshake; it is let in earlier once the
    /// cause ends (room unlocked, a seat free, the ban over).
    pub refusal_block_seconds: u64,
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        ConferenceConfig {
            max_participants: 50,
            kick_ban_seconds: 600,
            empty_room_ttl_seconds: 300,
            reconnect_grace_seconds: 30,
            max_chat_length: 2000,
            chat_history_limit: 50,
            idle_timeout_seconds: 60,
            max_messages_per_second: 30,
            max_message_bytes: 64 * 1024,
            require_auth: false,
            chat_echo_to_sender: false,
            kick_ban_by_username: true,
            kick_ban_by_address: true,
            refusals_before_block: 3,
            refusal_block_seconds: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Origins allowed by CORS; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// On SIGTERM/SIGINT: how long connected clients get to drain before the process exits.
    pub shutdown_timeout_seconds: u64,
    /// Header that carries the admin API key for REST admin routes (value in `api_key`).
    pub api_key: String,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored and the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `HS256` or `RS256`.
    pub algorithm: String,
    /// RS256: PEM file with the public key.
    pub public_key_file: String,
    /// RS256: JWKS file (a JSON `{"keys": [...]}`); the token's `kid` selects the key.
    pub jwks_file: String,
    /// Claim holding the user id; when absent from a token, `sub`, `_id` and `userId` are tried.
    pub user_id_claim: String,
    /// Seconds of clock skew tolerated on `exp`/`nbf`.
    pub leeway_seconds: u64,
    /// Expected `iss`; empty: not checked.
    pub issuer: String,
    /// Expected `aud`; empty: not checked.
    pub audience: String,
    /// Lifetime of tokens minted by `roomwire token` when `--ttl` is not given.
    pub default_token_ttl_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SocketIoConfig {
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// Largest Engine.IO message (and polling request body) accepted, in bytes.
    pub max_payload: u64,
    /// How long a new Engine.IO session may wait before connecting to a namespace.
    pub connect_timeout_ms: u64,
    /// Most binary attachments one Socket.IO packet may carry.
    pub max_attachments: u64,
    /// Default timeout for server-to-client acknowledgements.
    pub ack_timeout_ms: u64,
    /// Frames queued for one client before it is considered too slow and disconnected.
    pub outbox_limit: u64,
    /// Packets one client may send per second, sustained (Engine.IO packets: Socket.IO
    /// events, acks, pings). A client that goes beyond its burst is disconnected (WebSocket
    /// close 1008, error code `MESSAGE_FLOOD` in the metrics); no other connection is
    /// affected. 0: no limit; at most 10^9.
    pub messages_per_second: u64,
    /// Packets a client may send back to back before `messages_per_second` applies (0 counts
    /// as 1).
    pub message_burst: u64,
    /// Allow the long-polling transport.
    pub allow_polling: bool,
    /// Allow the WebSocket transport.
    pub allow_websocket: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Largest message an app accepts; bigger ones get an error, the connection stays open.
    pub max_message_bytes: u64,
    /// Largest message read at all; bigger ones close the connection (code 1009).
    pub hard_max_message_bytes: u64,
    /// Sustained messages per second allowed from one connection.
    pub messages_per_second: u64,
    /// Messages allowed in a burst above the sustained rate.
    pub burst: u64,
    /// A connection sending more than `messages_per_second * flood_close_factor` messages in
    /// one second is closed with code 1008.
    pub flood_close_factor: u64,
    /// Interval of server WebSocket pings.
    pub ping_interval_seconds: u64,
    /// A connection silent (no message, no pong) this long is closed.
    pub idle_timeout_seconds: u64,
    /// Frames queued for one client before it is closed with code 1013.
    pub outbox_limit: u64,
    /// Bytes read from a WebSocket at once. The buffer is one per worker thread, not one per
    /// connection; an idle connection holds no read buffer.
    pub read_buffer_bytes: u64,
    /// Bytes of output collected before they are written (the buffer is freed once written).
    pub write_buffer_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `memory` (one node). Cluster brokers come in their own release.
    pub kind: String,
    /// Broker URL, for brokers that need one.
    pub url: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8080".into(),
            data_dir: "./data".into(),
            database_url: String::new(),
            env: "development".into(),
            jwt_secret: String::new(),
            log_level: "info".into(),
            log_format: "text".into(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            socketio: SocketIoConfig::default(),
            websocket: WebSocketConfig::default(),
            broker: BrokerConfig::default(),
            conference: ConferenceConfig::default(),
            study_groups: StudyGroupsConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cors_origins: vec!["*".into()],
            shutdown_timeout_seconds: 10,
            api_key: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            algorithm: "HS256".into(),
            public_key_file: String::new(),
            jwks_file: String::new(),
            user_id_claim: "sub".into(),
            leeway_seconds: 0,
            issuer: String::new(),
            audience: String::new(),
            default_token_ttl_seconds: 3600,
        }
    }
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            max_payload: 1_000_000,
            connect_timeout_ms: 45_000,
            max_attachments: 16,
            ack_timeout_ms: 10_000,
            outbox_limit: 1024,
            messages_per_second: 100,
            message_burst: 1000,
            allow_polling: true,
            allow_websocket: true,
        }
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_bytes: 64 * 1024,
            hard_max_message_bytes: 1024 * 1024,
            messages_per_second: 50,
            burst: 50,
            flood_close_factor: 10,
            ping_interval_seconds: 25,
            idle_timeout_seconds: 60,
            outbox_limit: 256,
            read_buffer_bytes: 4096,
            write_buffer_bytes: 8192,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            kind: "memory".into(),
            url: String::new(),
        }
    }
}

/// A configuration problem, always naming the key (and where its value came from).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{origin}: key `{key}`: {message}")]
    Value {
        origin: String,
        key: String,
        message: String,
    },
    #[error("unknown configuration key `{key}` (from {origin})")]
    UnknownKey { origin: String, key: String },
}

/// One `section.key=value` (or `key=value`) override, as given by a command-line flag.
#[derive(Debug, Clone)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl Config {
    /// Builds the configuration from the layers: defaults, `file`, the environment (`vars`,
    /// normally `std::env::vars()`), then `flags`.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        flags: &[Override],
    ) -> Result<Config, ConfigError> {
        let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
        let mut table = match defaults {
            toml::Value::Table(t) => t,
            _ => unreachable!("Config serializes to a table"),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let parsed: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            merge_file(&mut table, parsed, path)?;
        }
        let keys = known_keys(&table);
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("ROOMWIRE_") else {
                continue;
            };
            // Variables that are not config keys (e.g. ROOMWIRE_TEST_POSTGRES_URL for tests)
            // are left alone rather than refused.
            let Some(path) = keys.iter().find(|k| env_name(k) == rest) else {
                continue;
            };
            set_key(
                &mut table,
                path,
                &value,
                &format!("environment variable {name}"),
            )?;
        }
        for o in flags {
            let path: Vec<String> = o.key.split('.').map(str::to_owned).collect();
            if !keys.contains(&path) {
                return Err(ConfigError::UnknownKey {
                    origin: "command line".into(),
                    key: o.key.clone(),
                });
            }
            set_key(&mut table, &path, &o.value, "command line")?;
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Value {
                    origin: "configuration".into(),
                    key: "?".into(),
                    message: e.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that types alone cannot, so a bad value stops start-up with a
    /// message naming its key rather than failing later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Value {
            origin: "configuration".into(),
            key: key.into(),
            message,
        };
        self.listen.parse::<SocketAddr>().map_err(|e| {
            bad(
                "listen",
                format!("`{}` is not an address:port ({e})", self.listen),
            )
        })?;
        if !matches!(self.env.as_str(), "development" | "production" | "test") {
            return Err(bad(
                "env",
                format!("`{}`: expected development, production or test", self.env),
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(bad(
                "log_format",
                format!("`{}`: expected text or json", self.log_format),
            ));
        }
        if !matches!(self.auth.algorithm.as_str(), "HS256" | "RS256") {
            return Err(bad(
                "auth.algorithm",
                format!("`{}`: expected HS256 or RS256", self.auth.algorithm),
            ));
        }
        if self.auth.algorithm == "RS256"
            && self.auth.public_key_file.is_empty()
            && self.auth.jwks_file.is_empty()
        {
            return Err(bad(
                "auth.public_key_file",
                "RS256 needs auth.public_key_file or auth.jwks_file".into(),
            ));
        }
        if self.socketio.messages_per_second > 1_000_000_000 {
            return Err(bad(
                "socketio.messages_per_second",
                format!(
                    "{}: at most 1000000000 (0 turns the limit off)",
                    self.socketio.messages_per_second
                ),
            ));
        }
        if self.broker.kind != "memory" {
            return Err(bad(
                "broker.kind",
                format!("`{}`: expected memory", self.broker.kind),
            ));
        }
        crate::client_addr::TrustedProxies::parse(&self.http.trusted_proxies)
            .map_err(|e| bad("http.trusted_proxies", e))?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(bad("log_level", format!("`{}`: {e}", self.log_level)));
        }
        let positive = [
            ("socketio.ping_interval_ms", self.socketio.ping_interval_ms),
            ("socketio.ping_timeout_ms", self.socketio.ping_timeout_ms),
            ("socketio.max_payload", self.socketio.max_payload),
            (
                "socketio.connect_timeout_ms",
                self.socketio.connect_timeout_ms,
            ),
            ("socketio.ack_timeout_ms", self.socketio.ack_timeout_ms),
            ("socketio.outbox_limit", self.socketio.outbox_limit),
            (
                "websocket.max_message_bytes",
                self.websocket.max_message_bytes,
            ),
            (
                "websocket.hard_max_message_bytes",
                self.websocket.hard_max_message_bytes,
            ),
            (
                "websocket.messages_per_second",
                self.websocket.messages_per_second,
            ),
            (
                "websocket.flood_close_factor",
                self.websocket.flood_close_factor,
            ),
            (
                "websocket.ping_interval_seconds",
                self.websocket.ping_interval_seconds,
            ),
            (
                "websocket.idle_timeout_seconds",
                self.websocket.idle_timeout_seconds,
            ),
            ("websocket.outbox_limit", self.websocket.outbox_limit),
            (
                "websocket.read_buffer_bytes",
                self.websocket.read_buffer_bytes,
            ),
            (
                "conference.max_participants",
                self.conference.max_participants,
            ),
            (
                "conference.max_chat_length",
                self.conference.max_chat_length,
            ),
            (
                "conference.idle_timeout_seconds",
                self.conference.idle_timeout_seconds,
            ),
            (
                "conference.max_messages_per_second",
                self.conference.max_messages_per_second,
            ),
            (
                "conference.max_message_bytes",
                self.conference.max_message_bytes,
            ),
            (
                "study_groups.max_chat_length",
                self.study_groups.max_chat_length,
            ),
            (
                "study_groups.max_prompt_length",
                self.study_groups.max_prompt_length,
            ),
            ("study_groups.max_rounds", self.study_groups.max_rounds),
            ("study_groups.max_options", self.study_groups.max_options),
            (
                "study_groups.max_event_payload_bytes",
                self.study_groups.max_event_payload_bytes,
            ),
            (
                "study_groups.max_name_length",
                self.study_groups.max_name_length,
            ),
            (
                "study_groups.chat_page_max",
                self.study_groups.chat_page_max,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(bad(key, "must be greater than 0".into()));
            }
        }
        if self.websocket.hard_max_message_bytes < self.websocket.max_message_bytes {
            return Err(bad(
                "websocket.hard_max_message_bytes",
                "must be at least websocket.max_message_bytes".into(),
            ));
        }
        if !self.socketio.allow_polling && !self.socketio.allow_websocket {
            return Err(bad(
                "socketio.allow_websocket",
                "at least one transport must be allowed".into(),
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated")
    }

    /// The database URL, with the SQLite default under the data directory filled in.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            let path = Path::new(&self.data_dir).join("roomwire.db");
            format!("sqlite://{}", path.display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn is_production(&self) -> bool {
        self.env == "production"
    }

    /// The HS256 secret in force, and whether it is the built-in development one.
    pub fn jwt_secret(&self) -> (&str, bool) {
        if self.jwt_secret.is_empty() {
            (DEV_JWT_SECRET, true)
        } else {
            (&self.jwt_secret, false)
        }
    }

    /// Every key with its environment variable and default, for `roomwire config --reference`
    /// and the README's configuration table.
    pub fn reference() -> Vec<(String, String, String)> {
        let defaults = match toml::Value::try_from(Config::default()).expect("defaults serialize") {
            toml::Value::Table(t) => t,
            _ => unreachable!(),
        };
        known_keys(&defaults)
            .into_iter()
            .map(|path| {
                let value = lookup(&defaults, &path)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                (
                    path.join("."),
                    format!("ROOMWIRE_{}", env_name(&path)),
                    value,
                )
            })
            .collect()
    }
}

fn env_name(path: &[String]) -> String {
    path.join("_").to_ascii_uppercase()
}

fn known_keys(table: &toml::Table) -> Vec<Vec<String>> {
    let mut keys = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(inner) => {
                for ik in inner.keys() {
                    keys.push(vec![k.clone(), ik.clone()]);
                }
            }
            _ => keys.push(vec![k.clone()]),
        }
    }
    keys
}

fn lookup<'a>(table: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    match path {
        [k] => table.get(k),
        [s, k] => table.get(s)?.as_table()?.get(k),
        _ => None,
    }
}

/// Merges a parsed file into the defaults, refusing keys the program does not know so a typo
/// is not silently ignored.
fn merge_file(table: &mut toml::Table, file: toml::Table, path: &Path) -> Result<(), ConfigError> {
    let origin = format!("config file {}", path.display());
    for (k, v) in file {
        match (table.get_mut(&k), v) {
            (Some(toml::Value::Table(section)), toml::Value::Table(values)) => {
                for (ik, iv) in values {
                    let Some(slot) = section.get_mut(&ik) else {
                        return Err(ConfigError::UnknownKey {
                            origin,
                            key: format!("{k}.{ik}"),
                        });
                    };
                    check_same_type(slot, &iv, &format!("{k}.{ik}"), &origin)?;
                    *slot = iv;
                }
            }
            (Some(slot), v) if !slot.is_table() => {
                check_same_type(slot, &v, &k, &origin)?;
                *slot = v;
            }
            _ => return Err(ConfigError::UnknownKey { origin, key: k }),
        }
    }
    Ok(())
}

fn check_same_type(
    slot: &toml::Value,
    v: &toml::Value,
    key: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    if slot.type_str() == v.type_str() {
        return Ok(());
    }
    Err(ConfigError::Value {
        origin: origin.into(),
        key: key.into(),
        message: format!("expected {}, found {}", slot.type_str(), v.type_str()),
    })
}

/// Sets a key from a string (env var or flag), parsed according to the type of its default.
fn set_key(
    table: &mut toml::Table,
    path: &[String],
    raw: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    let key = path.join(".");
    let bad = |message: String| ConfigError::Value {
        origin: origin.into(),
        key: key.clone(),
        message,
    };
    let slot = match path {
        [k] => table.get_mut(k),
        [s, k] => table
            .get_mut(s)
            .and_then(|t| t.as_table_mut())
            .and_then(|t| t.get_mut(k)),
        _ => None,
    }
    .ok_or_else(|| bad("unknown key".into()))?;
    let value = match slot {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => {
            let n: i64 = raw
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{raw}` is not an integer")))?;
            if n < 0 {
                return Err(bad(format!("`{raw}` must not be negative")));
            }
            toml::Value::Integer(n)
        }
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(bad(format!("`{raw}` is not a boolean (true/false)"))),
        },
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| bad(format!("`{raw}` is not a number")))?,
        ),
        toml::Value::Array(_) => {
            // Either a TOML array (`["a", "b"]`) or a comma-separated list (`a,b`).
            let trimmed = raw.trim();
            if trimmed.starts_with('[') {
                let wrapped: toml::Table = toml::from_str(&format!("v = {trimmed}"))
                    .map_err(|e| bad(format!("`{raw}` is not a TOML array: {e}")))?;
                wrapped["v"].clone()
            } else {
                toml::Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_owned()))
                        .collect(),
                )
            }
        }
        other => {
            return Err(bad(format!(
                "cannot be set from text (type {})",
                other.type_str()
            )))
        }
    };
    *slot = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_listen_on_8080() {
        let c = Config::load(None, vars(&[]), &[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080");
        assert_eq!(c.database_url(), "sqlite://./data/roomwire.db");
        assert!(c.jwt_secret().1);
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = std::env::temp_dir().join(format!("rw-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\n[socketio]\nping_interval_ms = 7\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), vars(&[]), &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.socketio.ping_interval_ms, 7);
        let c = Config::load(
            Some(&file),
            vars(&[
                ("ROOMWIRE_LISTEN", "127.0.0.1:2"),
                ("ROOMWIRE_SOCKETIO_PING_INTERVAL_MS", "9"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.socketio.ping_interval_ms, 9);
        let flags = [Override {
            key: "listen".into(),
            value: "127.0.0.1:3".into(),
        }];
        let c = Config::load(
            Some(&file),
            vars(&[("ROOMWIRE_LISTEN", "127.0.0.1:2")]),
            &flags,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:3");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Config::load(
            None,
            vars(&[("ROOMWIRE_SOCKETIO_MAX_PAYLOAD", "lots")]),
            &[],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("socketio.max_payload") && msg.contains("ROOMWIRE_SOCKETIO_MAX_PAYLOAD"),
            "{msg}"
        );
        let e = Config::load(None, vars(&[("ROOMWIRE_LISTEN", "nowhere")]), &[]).unwrap_err();
        assert!(e.to_string().contains("`listen`"), "{e}");
        let e =
            Config::load(None, vars(&[("ROOMWIRE_WEBSOCKET_OUTBOX_LIMIT", "0")]), &[]).unwrap_err();
        assert!(e.to_string().contains("websocket.outbox_limit"), "{e}");
        let e = Config::load(
            None,
            vars(&[("ROOMWIRE_SOCKETIO_MESSAGES_PER_SECOND", "1000000001")]),
            &[],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("socketio.messages_per_second"),
            "{e}"
        );
        let off = Config::load(
            None,
            vars(&[("ROOMWIRE_SOCKETIO_MESSAGES_PER_SECOND", "0")]),
            &[],
        )
        .expect("0 turns the limit off");
        assert_eq!(off.socketio.messages_per_second, 0);
    }

    #[test]
    fn arrays_from_env_accept_commas_or_toml() {
        let c = Config::load(
            None,
            vars(&[("ROOMWIRE_HTTP_CORS_ORIGINS", "http://a, http://b")]),
            &[],
        )
        .unwrap();
        assert_eq!(c.http.cors_origins, vec!["http://a", "http://b"]);
        let c = Config::load(
            None,
            vars(&[("ROOMWIRE_HTTP_CORS_ORIGINS", "[\"http://c\"]")]),
            &[],
        )
        .unwrap();
        assert_eq!(c.http.cors_origins, vec!["http://c"]);
    }

    #[test]
    fn unknown_file_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("rw-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[socketio]\nping_intervall = 7\n").unwrap();
        let e = Config::load(Some(&file), vars(&[]), &[]).unwrap_err();
        assert!(e.to_string().contains("socketio.ping_intervall"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_key_has_a_reference_line() {
        let r = Config::reference();
        assert!(r
            .iter()
            .any(|(k, env, _)| k == "jwt_secret" && env == "ROOMWIRE_JWT_SECRET"));
        assert!(r
            .iter()
            .any(|(k, env, _)| k == "database_url" && env == "ROOMWIRE_DATABASE_URL"));
        assert!(r.iter().any(|(k, _, _)| k == "websocket.outbox_limit"));
    }
}
