//! `roomwire-bench`: builds and starts each server, runs the scenarios against it with the load
//! generator, and writes the report. See this crate's README.md.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use roomwire_bench::report::{self, Row, SCENARIOS};
use roomwire_bench::scenarios::{self, Sizes};
use roomwire_bench::servers::{self, Launch, Paths, ServerKind, ALL_SERVERS};
use roomwire_bench::{clock, procfs};

#[derive(Parser)]
#[command(
    name = "roomwire-bench",
    about = "Roomwire beside Node socket.io, socketioxide and a tungstenite floor: same handlers, same generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every scenario against every server that applies; writes target/bench/report.{json,png}.
    All {
        /// Only these servers (comma-separated: roomwire,node-socket.io,socketioxide,tungstenite-floor).
        #[arg(long, value_delimiter = ',')]
        servers: Vec<String>,
        /// Only these scenarios (comma-separated: idle,fanout,rooms,signalling,connect).
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// One scenario against one server; its rows replace that cell's rows in report.json.
    Run {
        #[arg(long)]
        scenario: String,
        #[arg(long)]
        server: String,
        #[command(flatten)]
        common: Common,
    },
    /// Prints the tables and redraws the chart from target/bench/report.json.
    Report,
}

#[derive(Args, Clone)]
struct Common {
    /// Much smaller sizes and shorter phases (the whole `all --quick` in about 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Do not build anything (npm ci, the Rust peers); use what is there.
    #[arg(long)]
    no_build: bool,
    #[command(flatten)]
    sizes: SizeFlags,
}

/// Overrides of the scenario sizes (defaults depend on --quick).
#[derive(Args, Clone, Default)]
struct SizeFlags {
    /// idle: connections held.
    #[arg(long)]
    idle_conns: Option<usize>,
    /// idle: seconds to hold them (CPU is measured over this window).
    #[arg(long)]
    idle_hold_secs: Option<f64>,
    /// fanout: members of the room.
    #[arg(long)]
    fanout_members: Option<usize>,
    /// fanout: first publish rate (msg/s), doubled each step.
    #[arg(long)]
    fanout_start_rate: Option<f64>,
    /// fanout, rooms, signalling: seconds per step of the saturation search.
    #[arg(long)]
    step_secs: Option<f64>,
    /// fanout, rooms, signalling: a step whose p99 (ms) exceeds this ends the search and does
    /// not count as sustained.
    #[arg(long)]
    max_p99_ms: Option<f64>,
    /// fanout: seconds of the latency run at half the saturation rate.
    #[arg(long)]
    fanout_latency_secs: Option<f64>,
    /// fanout: deliveries/s of the second latency run, the same for every server.
    #[arg(long)]
    fanout_common_deliveries: Option<f64>,
    /// rooms: connections (grouped into rooms of --room-size).
    #[arg(long)]
    rooms_conns: Option<usize>,
    /// rooms: members per room.
    #[arg(long)]
    room_size: Option<usize>,
    /// rooms: messages per second sent by each member.
    #[arg(long)]
    rooms_rate: Option<f64>,
    /// rooms: seconds measured at --rooms-rate (before the saturation search).
    #[arg(long)]
    rooms_secs: Option<f64>,
    /// signalling: rooms of 4 peers.
    #[arg(long)]
    signal_rooms: Option<usize>,
    /// signalling: messages per second sent by each peer.
    #[arg(long)]
    signal_rate: Option<f64>,
    /// signalling: seconds measured at --signal-rate (before the saturation search).
    #[arg(long)]
    signal_secs: Option<f64>,
    /// connect: connections opened.
    #[arg(long)]
    connect_conns: Option<usize>,
    /// connect: connections being set up at once.
    #[arg(long)]
    connect_concurrency: Option<usize>,
    /// Loopback source addresses (127.0.0.1..N) to spread client sockets over.
    #[arg(long)]
    sources: Option<usize>,
}

impl Common {
    fn sizes(&self) -> Sizes {
        let mut s = if self.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        };
        let f = &self.sizes;
        let secs = |v: f64| Duration::from_secs_f64(v.max(0.1));
        macro_rules! set {
            ($flag:ident => $field:ident) => {
                if let Some(v) = f.$flag {
                    s.$field = v;
                }
            };
            ($flag:ident => $field:ident secs) => {
                if let Some(v) = f.$flag {
                    s.$field = secs(v);
                }
            };
        }
        set!(idle_conns => idle_conns);
        set!(idle_hold_secs => idle_hold secs);
        set!(fanout_members => fanout_members);
        set!(fanout_start_rate => fanout_start_rate);
        set!(step_secs => search_step secs);
        set!(max_p99_ms => max_p99_ms);
        set!(fanout_latency_secs => fanout_latency secs);
        set!(fanout_common_deliveries => fanout_common_deliveries);
        set!(rooms_conns => rooms_conns);
        set!(room_size => room_size);
        set!(rooms_rate => rooms_rate);
        set!(rooms_secs => rooms_duration secs);
        set!(signal_rooms => signal_rooms);
        set!(signal_rate => signal_rate);
        set!(signal_secs => signal_duration secs);
        set!(connect_conns => connect_conns);
        set!(connect_concurrency => connect_concurrency);
        set!(sources => sources);
        s
    }
}

fn main() -> std::process::ExitCode {
    clock::epoch();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomwire-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse_servers(names: &[String]) -> anyhow::Result<Vec<ServerKind>> {
    if names.is_empty() {
        return Ok(ALL_SERVERS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            ServerKind::from_name(n.trim()).with_context(|| {
                format!(
                    "unknown server {n}: roomwire, node-socket.io, socketioxide, tungstenite-floor"
                )
            })
        })
        .collect()
}

fn parse_scenarios(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(SCENARIOS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            let n = match n.trim() {
                "signaling" | "signal" => "signalling",
                other => other,
            };
            SCENARIOS
                .iter()
                .copied()
                .find(|s| *s == n)
                .with_context(|| format!("unknown scenario {n}: {}", SCENARIOS.join(", ")))
        })
        .collect()
}

/// Raises the open-file limit for the generator and the servers it starts.
fn raise_limits(sizes: &Sizes) {
    // One descriptor per connection in the generator, and one in the server (a child, which
    // inherits this limit), plus margin.
    let needed = sizes.max_connections() as u64 + 1024;
    let got = procfs::raise_nofile(needed);
    if got < needed {
        eprintln!(
            "! open-file limit is {got}, the largest scenario needs about {needed} per process \
             (generator and server each hold one descriptor per connection). Raise it \
             (`ulimit -n {needed}` in the shell that runs the bench; as root `ulimit -Hn` too, \
             or the nofile limit in /etc/security/limits.conf) or pass smaller sizes."
        );
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::discover();
    let out = paths.out_dir();
    let json_path = out.join("report.json");
    let png_path = out.join("report.png");
    match cli.command {
        Cmd::Report => {
            let rows = report::from_json(
                &std::fs::read_to_string(&json_path)
                    .with_context(|| format!("cannot read {}", json_path.display()))?,
            )?;
            finish(&rows, &json_path, &png_path, true)
        }
        Cmd::Run {
            scenario,
            server,
            common,
        } => {
            let kind = parse_servers(&[server])?[0];
            let scenario = parse_scenarios(&[scenario])?[0];
            if !scenarios::applies(scenario, kind) {
                bail!("{scenario} does not apply to {}", kind.name());
            }
            let sizes = common.sizes();
            raise_limits(&sizes);
            let launch = servers::prepare(kind, &paths, !common.no_build)?;
            let started = Instant::now();
            let rows = cell(scenario, &launch, &sizes, &paths).await?;
            eprintln!("[time] {:.1} s", started.elapsed().as_secs_f64());
            let old = std::fs::read_to_string(&json_path)
                .ok()
                .and_then(|t| report::from_json(&t).ok())
                .unwrap_or_default();
            let merged = report::merge(old, &rows);
            println!("{}", report::table(&rows, scenario).unwrap_or_default());
            finish(&merged, &json_path, &png_path, false)
        }
        Cmd::All {
            servers: server_names,
            scenarios: scenario_names,
            common,
        } => {
            let kinds = parse_servers(&server_names)?;
            let wanted = parse_scenarios(&scenario_names)?;
            let sizes = common.sizes();
            raise_limits(&sizes);
            let started = Instant::now();
            let mut launches: Vec<Launch> = Vec::new();
            let mut built_rust_peers = false;
            for kind in kinds {
                if !wanted.iter().any(|s| scenarios::applies(s, kind)) {
                    continue;
                }
                let is_rust_peer = matches!(
                    kind,
                    ServerKind::Socketioxide | ServerKind::TungsteniteFloor
                );
                let build = !(common.no_build || is_rust_peer && built_rust_peers);
                match servers::prepare(kind, &paths, build) {
                    Ok(l) => launches.push(l),
                    Err(e) => eprintln!("! skipping {}: {e:#}", kind.name()),
                }
                built_rust_peers |= is_rust_peer;
            }
            if launches.is_empty() {
                bail!("no server to benchmark");
            }
            eprintln!(
                "[plan] servers: {}; scenarios: {}; {} mode (build took {:.0} s)",
                launches
                    .iter()
                    .map(|l| l.kind.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                wanted.join(", "),
                if common.quick { "quick" } else { "full" },
                started.elapsed().as_secs_f64()
            );
            let bench_start = Instant::now();
            let mut rows: Vec<Row> = Vec::new();
            for scenario in &wanted {
                for launch in &launches {
                    if !scenarios::applies(scenario, launch.kind) {
                        continue;
                    }
                    match cell(scenario, launch, &sizes, &paths).await {
                        Ok(r) => rows.extend(r),
                        Err(e) => eprintln!("! {scenario} / {}: {e:#}", launch.kind.name()),
                    }
                    // Partial results survive an interrupted run.
                    let _ = report::write_json(&rows, &json_path);
                }
                if let Some(t) = report::table(&rows, scenario) {
                    println!("{t}");
                }
            }
            eprintln!(
                "[time] scenarios took {:.1} s (plus {:.1} s of building)",
                bench_start.elapsed().as_secs_f64(),
                (bench_start - started).as_secs_f64()
            );
            println!("==================== summary ====================");
            finish(&rows, &json_path, &png_path, true)
        }
    }
}

/// One scenario against one fresh server process.
async fn cell(
    scenario: &str,
    launch: &Launch,
    sizes: &Sizes,
    paths: &Paths,
) -> anyhow::Result<Vec<Row>> {
    eprintln!("[{scenario}] {}", launch.kind.name());
    let log_dir = paths.out_dir().join("logs");
    let l = launch.clone();
    let server = tokio::task::spawn_blocking(move || servers::start(&l, &log_dir)).await??;
    eprintln!("  started pid {} on port {}", server.pid, server.port);
    let result = scenarios::run(scenario, &server, sizes).await;
    server.stop();
    let (rows, tasks) = result?;
    drop(tasks);
    // Let the aborted client tasks close their sockets before the next cell.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(rows)
}

fn finish(
    rows: &[Row],
    json_path: &std::path::Path,
    png_path: &std::path::Path,
    print_tables: bool,
) -> anyhow::Result<()> {
    if print_tables {
        println!("{}", report::tables(rows));
    }
    report::write_json(rows, json_path)?;
    eprintln!("[report] {}", json_path.display());
    match report::chart(rows, png_path) {
        Ok(()) => eprintln!("[report] {}", png_path.display()),
        Err(e) => eprintln!("! chart not drawn: {e:#}"),
    }
    Ok(())
}
