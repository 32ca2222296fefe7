//! The `roomwire` command: `serve` (the default), `token`, `conformance`, `config`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use roomwire::auth::{self, Authenticator};
use roomwire::config::{Config, Override};
use roomwire::hub::Hub;
use roomwire::server::{self, Core};
use roomwire::transport::engineio::EngineConfig;

#[derive(Parser)]
#[command(
    name = "roomwire",
    version,
    about = "One real-time server for live rooms: five Socket.IO and WebSocket APIs on one port"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ROOMWIRE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (key `listen`).
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Data directory (key `data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// Database URL (key `database_url`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Any key: `--set section.key=value` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (what a bare `roomwire` does).
    Serve,
    /// Print a JWT signed with the configured key.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        role: Option<String>,
        /// Extra claim KEY=VALUE (JSON values are taken as JSON). Repeatable.
        #[arg(long = "claim", value_name = "KEY=VALUE")]
        claims: Vec<String>,
        /// Lifetime in seconds (negative mints an already expired token, for tests).
        #[arg(long, allow_hyphen_values = true)]
        ttl: Option<i64>,
        /// Sign RS256 with this PEM private key instead of the HS256 secret.
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// `kid` header for RS256 tokens.
        #[arg(long)]
        kid: Option<String>,
    },
    /// Serve what the official Socket.IO / Engine.IO test suites expect, plus the lab.
    Conformance {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
        /// Engine.IO ping interval; the official suites need the default, 300.
        #[arg(long, default_value_t = 300)]
        ping_interval_ms: u64,
        /// Engine.IO ping timeout; the official suites need the default, 200.
        #[arg(long, default_value_t = 200)]
        ping_timeout_ms: u64,
    },
    /// Print every configuration key, its environment variable and default.
    Config,
}

fn overrides(cli: &Cli) -> anyhow::Result<Vec<Override>> {
    let mut out = Vec::new();
    for (key, value) in [
        ("listen", &cli.listen),
        ("data_dir", &cli.data_dir),
        ("database_url", &cli.database_url),
    ] {
        if let Some(v) = value {
            out.push(Override {
                key: key.into(),
                value: v.clone(),
            });
        }
    }
    for s in &cli.set {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set {s}: expected KEY=VALUE"))?;
        out.push(Override {
            key: k.trim().into(),
            value: v.into(),
        });
    }
    Ok(out)
}

fn init_logging(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomwire: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = overrides(&cli)?;
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Config = command {
        for (key, env, default) in Config::reference() {
            println!("{key}\t{env}\t{default}");
        }
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), std::env::vars(), &flags)?;
    match command {
        Command::Token {
            sub,
            name,
            email,
            role,
            claims,
            ttl,
            private_key,
            kid,
        } => {
            let extra = claims
                .iter()
                .map(|c| {
                    c.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .with_context(|| format!("--claim {c}: expected KEY=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ttl = ttl.unwrap_or(config.auth.default_token_ttl_seconds as i64);
            let claims = auth::claims_for(
                &sub,
                name.as_deref(),
                email.as_deref(),
                role.as_deref(),
                &extra,
                ttl,
            );
            let token = match private_key {
                Some(path) => {
                    let pem = std::fs::read(&path)
                        .with_context(|| format!("--private-key {}", path.display()))?;
                    auth::mint_rs256(&claims, &pem, kid).map_err(anyhow::Error::msg)?
                }
                None => {
                    if config.is_production() && config.jwt_secret().1 {
                        anyhow::bail!("jwt_secret: env is production and no secret is configured (set ROOMWIRE_JWT_SECRET)");
                    }
                    let mut hs = config.clone();
                    hs.auth.algorithm = "HS256".into();
                    Authenticator::from_config(&hs)?
                        .mint(&claims)
                        .map_err(anyhow::Error::msg)?
                }
            };
            println!("{token}");
            Ok(())
        }
        Command::Conformance {
            listen,
            ping_interval_ms,
            ping_timeout_ms,
        } => {
            init_logging(&config);
            let mut config = config;
            config.listen = listen;
            config.validate()?;
            runtime()?.block_on(async move {
                let addr = config.listen_addr();
                let mut assembly_config = roomwire::conformance::conformance_config(config);
                assembly_config.socketio.ping_interval_ms = ping_interval_ms.max(1);
                assembly_config.socketio.ping_timeout_ms = ping_timeout_ms.max(1);
                let assembly = roomwire::conformance::assemble(assembly_config)?;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listen: cannot bind {addr}"))?;
                tracing::info!(%addr, "conformance server listening");
                server::run(assembly, listener).await
            })
        }
        Command::Serve => {
            init_logging(&config);
            serve(config)
        }
        Command::Config => unreachable!(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret().1 {
        if config.is_production() {
            anyhow::bail!("jwt_secret: env is production but no JWT secret is configured; set ROOMWIRE_JWT_SECRET");
        }
        tracing::warn!("!!! no jwt_secret configured: using the built-in DEVELOPMENT secret. Anyone can mint tokens. Set ROOMWIRE_JWT_SECRET before exposing this server. !!!");
    }
    let config = Arc::new(config);
    runtime()?.block_on(async move {
        let apps = roomwire::apps::all();
        let store = server::open_store(&config, &apps).await?;
        let core = Core::new(config.clone(), Hub::in_memory(), Some(store))?;
        let assembly = server::assemble(core, &apps, EngineConfig::from_config(&config), "/socket.io/");
        let addr = config.listen_addr();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen: cannot bind {addr}"))?;
        tracing::info!(%addr, database = %config.database_url(), broker = "memory", "roomwire listening");
        server::run(assembly, listener).await
    })
}
