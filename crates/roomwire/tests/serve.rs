//! The `roomwire` binary as a user runs it: start-up on embedded defaults, health, readiness,
//! metrics, configuration errors, the token command, and graceful shutdown on SIGTERM.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_roomwire");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "roomwire-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(tag: &str, envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let dir = temp_dir(tag);
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("ROOMWIRE_LISTEN", format!("127.0.0.1:{port}"))
            .env("ROOMWIRE_DATA_DIR", dir.join("data"))
            .env("ROOMWIRE_HTTP_SHUTDOWN_TIMEOUT_SECONDS", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Server { child, port, dir }
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = get(self.port, "/healthz").await {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("roomwire exited early: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("roomwire did not become healthy");
    }

    fn terminate(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test]
async fn serve_on_defaults_answers_health_readiness_and_metrics() {
    let mut server = Server::start("health", &[]);
    server.wait_healthy().await;
    let (status, body) = get(server.port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"database\":\"ok\""), "{body}");
    assert!(
        server.dir.join("data/roomwire.db").exists(),
        "SQLite file under the data dir"
    );
    let (status, body) = get(server.port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    for series in [
        "roomwire_connections",
        "roomwire_messages_in_total",
        "roomwire_fanout_seconds_bucket",
        "roomwire_rooms",
    ] {
        assert!(body.contains(series), "metrics lack {series}:\n{body}");
    }
}

#[tokio::test]
async fn sigterm_tells_connected_clients_and_exits() {
    let mut server = Server::start("shutdown", &[]);
    server.wait_healthy().await;
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        server.port
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{\"sid\""), "{open:?}");
    server.terminate();
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(frame) = m {
                return frame;
            }
        }
        None
    })
    .await
    .expect("a close frame within 5 s");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_value_stops_start_up_naming_the_key() {
    let (code, _, err) = run(
        &["serve"],
        &[("ROOMWIRE_SOCKETIO_PING_INTERVAL_MS", "soon")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("socketio.ping_interval_ms"), "{err}");
    let (code, _, err) = run(&["serve", "--listen", "not-an-address"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("`listen`"), "{err}");
}

#[test]
fn production_refuses_the_development_secret() {
    let (code, _, err) = run(&["serve"], &[("ROOMWIRE_ENV", "production")]);
    assert_eq!(code, 2);
    assert!(err.contains("ROOMWIRE_JWT_SECRET"), "{err}");
    let (code, _, _) = run(&["token", "--sub", "u"], &[("ROOMWIRE_ENV", "production")]);
    assert_eq!(code, 2);
}

#[test]
fn token_prints_a_jwt_with_the_given_claims() {
    let (code, out, err) = run(
        &[
            "token",
            "--sub",
            "u1",
            "--name",
            "Ana",
            "--role",
            "admin",
            "--claim",
            "companyId=7",
        ],
        &[("ROOMWIRE_JWT_SECRET", "k")],
    );
    assert_eq!(code, 0, "{err}");
    let token = out.trim();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["name"], "Ana");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["companyId"], 7);
}

#[test]
fn config_lists_every_key_with_its_variable() {
    let (code, out, _) = run(&["config"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("jwt_secret\tROOMWIRE_JWT_SECRET"));
    assert!(out.contains("socketio.ping_interval_ms\tROOMWIRE_SOCKETIO_PING_INTERVAL_MS\t25000"));
}

async fn preflight(port: u16, origin: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "OPTIONS /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).to_ascii_lowercase()
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let mut server = Server::start(
        "cors",
        &[("ROOMWIRE_HTTP_CORS_ORIGINS", "http://allowed.example")],
    );
    server.wait_healthy().await;
    let allowed = preflight(server.port, "http://allowed.example").await;
    assert!(
        allowed.contains("access-control-allow-origin: http://allowed.example"),
        "{allowed}"
    );
    let refused = preflight(server.port, "http://elsewhere.example").await;
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );
    // `*` in development: the origin is echoed and may send credentials (a browser refuses
    // `*` for a request with credentials).
    let mut open = Server::start("cors-any", &[]);
    open.wait_healthy().await;
    let any = preflight(open.port, "http://anywhere.example").await;
    assert!(
        any.contains("access-control-allow-origin: http://anywhere.example"),
        "{any}"
    );
    assert!(
        any.contains("access-control-allow-credentials: true"),
        "{any}"
    );
    // `*` in production: the plain wildcard, no credentials.
    let mut prod = Server::start(
        "cors-any-production",
        &[
            ("ROOMWIRE_ENV", "production"),
            ("ROOMWIRE_JWT_SECRET", "a-production-secret-for-this-test"),
        ],
    );
    prod.wait_healthy().await;
    let any = preflight(prod.port, "http://anywhere.example").await;
    assert!(any.contains("access-control-allow-origin: *"), "{any}");
    assert!(!any.contains("access-control-allow-credentials"), "{any}");
}
