//! The servers under test: how to build each, start it as a child process on a free port,
//! wait for its `ready`, and stop it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    Roomwire,
    Node,
    Socketioxide,
    TungsteniteFloor,
}

pub const ALL_SERVERS: [ServerKind; 4] = [
    ServerKind::Roomwire,
    ServerKind::Node,
    ServerKind::Socketioxide,
    ServerKind::TungsteniteFloor,
];

impl ServerKind {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Roomwire => "roomwire",
            ServerKind::Node => "node-socket.io",
            ServerKind::Socketioxide => "socketioxide",
            ServerKind::TungsteniteFloor => "tungstenite-floor",
        }
    }

    pub fn from_name(s: &str) -> Option<ServerKind> {
        match s {
            "roomwire" => Some(ServerKind::Roomwire),
            "node-socket.io" | "node" | "socket.io" => Some(ServerKind::Node),
            "socketioxide" => Some(ServerKind::Socketioxide),
            "tungstenite-floor" | "tungstenite" | "floor" => Some(ServerKind::TungsteniteFloor),
            _ => None,
        }
    }

    pub fn speaks_socketio(self) -> bool {
        !matches!(self, ServerKind::TungsteniteFloor)
    }

    pub fn speaks_signal(self) -> bool {
        matches!(self, ServerKind::Roomwire | ServerKind::TungsteniteFloor)
    }
}

/// Paths of the repository the benchmark runs in.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root (holds `bench/`).
    pub root: PathBuf,
    /// The workspace target directory.
    pub target: PathBuf,
    /// Where the `roomwire-bench-server` binary is.
    pub bin_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Paths {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from("."));
        let exe = std::env::current_exe().ok();
        let bin_dir = exe
            .as_ref()
            .and_then(|e| e.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.join("target/release"));
        // <target>/<profile>/roomwire-bench; CARGO_TARGET_DIR wins when set.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| if p.is_absolute() { p } else { root.join(p) })
            .or_else(|| bin_dir.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| root.join("target"));
        Paths {
            root,
            target,
            bin_dir,
        }
    }

    pub fn node_dir(&self) -> PathBuf {
        self.root.join("bench/peers/node")
    }

    pub fn rust_peers_manifest(&self) -> PathBuf {
        self.root.join("bench/peers/rust/Cargo.toml")
    }

    pub fn rust_peer_bin(&self, name: &str) -> PathBuf {
        self.root.join("bench/peers/rust/target/release").join(name)
    }

    pub fn out_dir(&self) -> PathBuf {
        self.target.join("bench")
    }
}

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launch {
    pub kind: ServerKind,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
}

fn run_step(what: &str, cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("[build] {what}");
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot start"))?;
    if !status.success() {
        bail!("{what}: {status}");
    }
    Ok(())
}

/// Builds what a server needs (unless `build` is false) and says how to start it.
pub fn prepare(kind: ServerKind, paths: &Paths, build: bool) -> anyhow::Result<Launch> {
    match kind {
        ServerKind::Roomwire => {
            let program = paths.bin_dir.join("roomwire-bench-server");
            // Always ask cargo (a no-op when up to date): `cargo run` rebuilds only the binary
            // it runs, so a server binary left from an earlier build would be measured stale.
            if build {
                run_step(
                    "cargo build --release -p roomwire-bench --bin roomwire-bench-server",
                    Command::new("cargo")
                        .args([
                            "build",
                            "--release",
                            "-p",
                            "roomwire-bench",
                            "--bin",
                            "roomwire-bench-server",
                        ])
                        .current_dir(&paths.root),
                )?;
            }
            if !program.exists() {
                bail!(
                    "{} not found: build it with `cargo build --release -p roomwire-bench`",
                    program.display()
                );
            }
            Ok(Launch {
                kind,
                program,
                args: Vec::new(),
                cwd: paths.root.clone(),
            })
        }
        ServerKind::Node => {
            let dir = paths.node_dir();
            let script = dir.join("server.js");
            if !script.exists() {
                bail!("{} not found", script.display());
            }
            if build && !dir.join("node_modules").exists() {
                if dir.join("package-lock.json").exists() {
                    run_step(
                        "npm ci (bench/peers/node)",
                        Command::new("npm")
                            .args(["ci", "--no-audit", "--no-fund"])
                            .current_dir(&dir),
                    )?;
                } else {
                    run_step(
                        "npm install (bench/peers/node)",
                        Command::new("npm")
                            .args(["install", "--no-audit", "--no-fund"])
                            .current_dir(&dir),
                    )?;
                }
            }
            if !dir.join("node_modules").exists() {
                bail!(
                    "{}: node_modules missing (run `npm ci` there)",
                    dir.display()
                );
            }
            Ok(Launch {
                kind,
                program: PathBuf::from("node"),
                args: vec!["server.js".into()],
                cwd: dir,
            })
        }
        ServerKind::Socketioxide | ServerKind::TungsteniteFloor => {
            let manifest = paths.rust_peers_manifest();
            if !manifest.exists() {
                bail!("{} not found", manifest.display());
            }
            let bin = match kind {
                ServerKind::Socketioxide => "socketioxide-peer",
                _ => "tungstenite-floor",
            };
            if build {
                run_step(
                    "cargo build --release --manifest-path bench/peers/rust/Cargo.toml",
                    Command::new("cargo")
                        .args(["build", "--release", "--manifest-path"])
                        .arg(&manifest)
                        .current_dir(&paths.root)
                        // The peers are their own workspace with their own target dir.
                        .env_remove("CARGO_TARGET_DIR"),
                )?;
            }
            let program = paths.rust_peer_bin(bin);
            if !program.exists() {
                bail!("{} not found", program.display());
            }
            Ok(Launch {
                kind,
                program,
                args: Vec::new(),
                cwd: paths.root.clone(),
            })
        }
    }
}

/// A running server.
pub struct Running {
    pub kind: ServerKind,
    pub pid: u32,
    pub port: u16,
    child: Child,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Starts the server on a free port and waits for `ready` on its stdout. Its stderr goes to
/// `<out_dir>/logs/<server>.log`.
pub fn start(launch: &Launch, log_dir: &Path) -> anyhow::Result<Running> {
    let mut last_err = None;
    for _attempt in 0..3 {
        match start_once(launch, log_dir) {
            Ok(r) => return Ok(r),
            Err(e) => {
                eprintln!("[server] {}: {e:#}; retrying", launch.kind.name());
                last_err = Some(e);
            }
        }
    }
    Err(last_err.expect("at least one attempt"))
}

fn start_once(launch: &Launch, log_dir: &Path) -> anyhow::Result<Running> {
    let port = free_port()?;
    std::fs::create_dir_all(log_dir)?;
    let log_path = log_dir.join(format!("{}.log", launch.kind.name()));
    let log = File::create(&log_path)?;
    let mut child = Command::new(&launch.program)
        .args(&launch.args)
        .arg("--port")
        .arg(port.to_string())
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("cannot start {}", launch.program.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ready_sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !ready_sent && line.trim() == "ready" {
                ready_sent = true;
                let _ = tx.send(());
            }
            // Everything else on stdout is drained and dropped.
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => Ok(Running {
            kind: launch.kind,
            pid,
            port,
            child,
        }),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: String = tail.lines().rev().take(10).collect::<Vec<_>>().join("\n");
            bail!(
                "{} did not print `ready` within 60 s (log {}):\n{tail}",
                launch.kind.name(),
                log_path.display()
            )
        }
    }
}

impl Running {
    /// Kills the server (SIGKILL: nothing to drain in a benchmark) and reaps it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
