//! The scenarios. Each runs against one freshly started server (one "cell") and returns its
//! rows; the connections it opened live on as tasks until the cell ends.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use crate::clock::{instant_at, now_ns, ns_of};
use crate::hist::Histogram;
use crate::net::Net;
use crate::procfs::{self, CpuMeter, MachineMeter};
use crate::record::Recorder;
use crate::report::Row;
use crate::servers::{Running, ServerKind};
use crate::{signal, sio};

/// Sizes and rates of every scenario.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub idle_conns: usize,
    pub idle_rooms: usize,
    pub idle_hold: Duration,
    pub fanout_members: usize,
    pub fanout_start_rate: f64,
    pub search_step: Duration,
    pub fanout_latency: Duration,
    /// Deliveries per second of a second latency run at the same rate for every server, so
    /// latencies compare at equal load (below the slowest peer's saturation).
    pub fanout_common_deliveries: f64,
    /// A step whose p99 exceeds this (ms) ends a saturation search (fanout, rooms,
    /// signalling) and does not count as sustained.
    pub max_p99_ms: f64,
    pub rooms_conns: usize,
    pub room_size: usize,
    /// Messages per second each member sends.
    pub rooms_rate: f64,
    pub rooms_duration: Duration,
    pub signal_rooms: usize,
    /// Messages per second each peer sends.
    pub signal_rate: f64,
    pub signal_duration: Duration,
    pub connect_conns: usize,
    pub connect_concurrency: usize,
    /// Connections set up at once when a scenario opens its members.
    pub setup_concurrency: usize,
    /// Loopback source addresses to spread client sockets over.
    pub sources: usize,
    pub payload_bytes: usize,
    /// Measurement starts this long after senders start (rooms, signalling, latency phase).
    pub warmup: Duration,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            idle_conns: 10_000,
            idle_rooms: 100,
            idle_hold: Duration::from_secs(30),
            fanout_members: 1_000,
            fanout_start_rate: 10.0,
            search_step: Duration::from_secs(3),
            fanout_latency: Duration::from_secs(10),
            fanout_common_deliveries: 20_000.0,
            max_p99_ms: 1_000.0,
            rooms_conns: 5_000,
            room_size: 10,
            rooms_rate: 1.0,
            rooms_duration: Duration::from_secs(20),
            signal_rooms: 1_000,
            signal_rate: 2.0,
            signal_duration: Duration::from_secs(20),
            connect_conns: 5_000,
            connect_concurrency: 50,
            setup_concurrency: 200,
            sources: 16,
            payload_bytes: 100,
            warmup: Duration::from_secs(2),
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            idle_conns: 2_000,
            idle_hold: Duration::from_secs(6),
            fanout_members: 200,
            fanout_start_rate: 40.0,
            search_step: Duration::from_millis(1_500),
            fanout_latency: Duration::from_secs(3),
            rooms_conns: 1_000,
            rooms_duration: Duration::from_secs(5),
            signal_rooms: 200,
            signal_duration: Duration::from_secs(5),
            connect_conns: 1_000,
            warmup: Duration::from_secs(1),
            ..Sizes::full()
        }
    }

    /// The most connections any selected scenario holds at once.
    pub fn max_connections(&self) -> usize {
        [
            self.idle_conns,
            self.fanout_members + 1,
            self.rooms_conns,
            self.signal_rooms * 4,
            self.connect_conns,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// The connection tasks of a cell; aborted when dropped (after the server is stopped).
#[derive(Default)]
pub struct Tasks(pub Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// The result of opening many connections.
pub struct Opened {
    pub ok: usize,
    pub failed: usize,
    pub wall: Duration,
    /// Setup time of each successful connection (ns).
    pub setup: Histogram,
    pub first_error: Option<String>,
}

/// Opens `n` connections, at most `concurrency` setting up at once. Each connection runs
/// `setup(i)` then, if it succeeded, `life(i, conn)` in its own task.
pub async fn open_many<C, S, SF, L, LF>(
    n: usize,
    concurrency: usize,
    setup: S,
    life: L,
) -> (Opened, Tasks)
where
    C: Send + 'static,
    S: Fn(usize) -> SF,
    SF: Future<Output = anyhow::Result<C>> + Send + 'static,
    L: Fn(usize, C) -> LF + Send + Sync + 'static,
    LF: Future<Output = ()> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let life = Arc::new(life);
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let mut tasks = Tasks(Vec::with_capacity(n));
    let start = Instant::now();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("never closed");
        let setup = setup(i);
        let (life, tx) = (life.clone(), tx.clone());
        tasks.0.push(tokio::spawn(async move {
            let t0 = Instant::now();
            match setup.await {
                Ok(conn) => {
                    let _ = tx.send(Ok(t0.elapsed()));
                    drop(tx);
                    drop(permit);
                    life(i, conn).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{e:#}")));
                }
            }
        }));
    }
    drop(tx);
    let mut opened = Opened {
        ok: 0,
        failed: 0,
        wall: Duration::ZERO,
        setup: Histogram::new(),
        first_error: None,
    };
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(d)) => {
                opened.ok += 1;
                opened.setup.record(d.as_nanos() as u64);
            }
            Some(Err(e)) => {
                opened.failed += 1;
                opened.first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    opened.wall = start.elapsed();
    if opened.failed > 0 {
        eprintln!(
            "  ! {} of {n} connections failed; first error: {}",
            opened.failed,
            opened.first_error.as_deref().unwrap_or("?")
        );
    }
    (opened, tasks)
}

/// Waits until every expected delivery of the window arrived, progress stops for `quiet`, or
/// `max` passes.
async fn drain(rec: &Recorder, max: Duration, quiet: Duration) {
    let start = Instant::now();
    let mut last_got = 0;
    let mut last_progress = Instant::now();
    loop {
        let got = rec.received_in_window();
        let expected = Recorder::get(&rec.expected_in_window);
        if got >= expected {
            return;
        }
        if got != last_got {
            last_got = got;
            last_progress = Instant::now();
        }
        if last_progress.elapsed() >= quiet || start.elapsed() >= max {
            return;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// Measures the generator's own timer lag: a task sleeping 1 ms in a loop records how late it
/// wakes. A large lag means the generator (or the whole machine) is short of CPU, and the
/// latencies it measures are inflated by that much.
pub struct LagProbe {
    hist: Arc<Histogram>,
    task: JoinHandle<()>,
}

impl LagProbe {
    pub fn start() -> LagProbe {
        let hist = Arc::new(Histogram::new());
        let h = hist.clone();
        let task = tokio::spawn(async move {
            let tick = Duration::from_millis(1);
            loop {
                let t = Instant::now();
                sleep(tick).await;
                h.record(t.elapsed().saturating_sub(tick).as_nanos() as u64);
            }
        });
        LagProbe { hist, task }
    }

    /// p99 of the lag, in ms.
    pub fn stop(self) -> f64 {
        self.task.abort();
        self.hist.quantile_ms(0.99).unwrap_or(f64::NAN)
    }
}

/// Golden-ratio spread of `i` over [0, 1): evenly spaced send phases without coordination.
fn spread(i: usize) -> f64 {
    (i as f64 * 0.618_033_988_75).fract()
}

struct Ctx<'a> {
    scenario: &'static str,
    server: &'a Running,
    sizes: &'a Sizes,
    net: Arc<Net>,
    rows: Vec<Row>,
}

impl Ctx<'_> {
    fn row(&mut self, metric: &str, value: f64) {
        self.rows
            .push(Row::new(self.scenario, self.server.kind, metric, value));
    }

    fn check_alive(&self) -> anyhow::Result<()> {
        if procfs::cpu_ns(self.server.pid).is_none() {
            bail!("{} (pid {}) died", self.server.kind.name(), self.server.pid);
        }
        Ok(())
    }

    fn pad(&self) -> Arc<str> {
        sio::padding_for(self.sizes.payload_bytes).into()
    }
}

/// Runs one scenario against a started server. The returned tasks hold the connections; drop
/// them after stopping the server.
pub async fn run(
    scenario: &str,
    server: &Running,
    sizes: &Sizes,
) -> anyhow::Result<(Vec<Row>, Tasks)> {
    let scenario: &'static str = match scenario {
        "idle" => "idle",
        "fanout" => "fanout",
        "rooms" => "rooms",
        "signalling" | "signaling" | "signal" => "signalling",
        "connect" => "connect",
        other => bail!("unknown scenario {other}"),
    };
    let needs_sio = scenario != "signalling";
    if needs_sio && !server.kind.speaks_socketio() {
        bail!("{} does not speak Socket.IO", server.kind.name());
    }
    if !needs_sio && !server.kind.speaks_signal() {
        bail!("{} does not serve /signal", server.kind.name());
    }
    let mut ctx = Ctx {
        scenario,
        server,
        sizes,
        net: Arc::new(Net::new(server.port, sizes.sources)),
        rows: Vec::new(),
    };
    sio::JOIN_RETRIES.store(0, Relaxed);
    let tasks = match scenario {
        "idle" => idle(&mut ctx).await?,
        "fanout" => fanout(&mut ctx).await?,
        "rooms" => rooms(&mut ctx).await?,
        "signalling" => signalling(&mut ctx).await?,
        "connect" => connect(&mut ctx).await?,
        _ => unreachable!(),
    };
    ctx.check_alive()?;
    let retries = sio::JOIN_RETRIES.load(Relaxed);
    if retries > 0 {
        eprintln!(
            "  ! {retries} join(s) got no ack within {} s and were emitted again \
             (the server dropped an event sent right after CONNECT)",
            sio::JOIN_RETRY_AFTER.as_secs()
        );
        ctx.row("join_retries", retries as f64);
    }
    Ok((ctx.rows, tasks))
}

/// Opens `n` Socket.IO members, member `i` joined to `room(i)`, each living as [`sio::member`]
/// with the plan `plan(i)`.
async fn open_sio_members(
    ctx: &Ctx<'_>,
    n: usize,
    concurrency: usize,
    rec: &Arc<Recorder>,
    room: impl Fn(usize) -> Option<String>,
    plan: impl Fn(usize) -> Option<sio::SendPlan> + Send + Sync + 'static,
) -> (Opened, Tasks) {
    let net = ctx.net.clone();
    let rec = rec.clone();
    open_many(
        n,
        concurrency,
        |i| {
            let net = net.clone();
            let room = room(i);
            async move { sio::open_and_join(&net, room.as_deref()).await }
        },
        move |i, conn| sio::member(conn, rec.clone(), plan(i)),
    )
    .await
}

async fn idle(ctx: &mut Ctx<'_>) -> anyhow::Result<Tasks> {
    let s = ctx.sizes.clone();
    let pid = ctx.server.pid;
    sleep(Duration::from_secs(1)).await;
    let rss0 = procfs::rss_bytes(pid).context("server RSS")?;
    let rec = Arc::new(Recorder::new());
    let rooms = s.idle_rooms.max(1);
    let (opened, tasks) = open_sio_members(
        ctx,
        s.idle_conns,
        s.setup_concurrency,
        &rec,
        |i| Some(format!("idle-{}", i % rooms)),
        |_| None,
    )
    .await;
    eprintln!(
        "  {} connections joined in {:.1} s; holding {} s",
        opened.ok,
        opened.wall.as_secs_f64(),
        s.idle_hold.as_secs()
    );
    if opened.ok == 0 {
        bail!("no connection succeeded");
    }
    sleep(Duration::from_secs(2)).await;
    let cpu = CpuMeter::start(pid);
    let gen = CpuMeter::start(std::process::id());
    let machine = MachineMeter::start(pid);
    sleep(s.idle_hold).await;
    let (cpu_ns, wall_ns) = cpu.read();
    let rss1 = procfs::rss_bytes(pid).context("server RSS")?;
    let n = opened.ok as f64;
    ctx.row("rss_bytes_per_conn", (rss1.saturating_sub(rss0)) as f64 / n);
    ctx.row(
        "cpu_ns_per_conn_per_sec",
        cpu_ns as f64 / n / (wall_ns as f64 / 1e9),
    );
    ctx.row("server_cpu_percent", cpu.percent());
    ctx.row("generator_cpu_percent", gen.percent());
    ctx.row("other_cpu_percent", machine.read().2);
    ctx.row("rss_baseline_bytes", rss0 as f64);
    ctx.row("connections", n);
    ctx.row("failed_connects", opened.failed as f64);
    ctx.row("disconnects", Recorder::get(&rec.closed) as f64);
    Ok(tasks)
}

async fn connect(ctx: &mut Ctx<'_>) -> anyhow::Result<Tasks> {
    let s = ctx.sizes.clone();
    let pid = ctx.server.pid;
    sleep(Duration::from_millis(500)).await;
    let rec = Arc::new(Recorder::new());
    let cpu = CpuMeter::start(pid);
    let gen = CpuMeter::start(std::process::id());
    let machine = MachineMeter::start(pid);
    let (opened, tasks) = open_sio_members(
        ctx,
        s.connect_conns,
        s.connect_concurrency,
        &rec,
        |i| Some(format!("c-{}", i % 100)),
        |_| None,
    )
    .await;
    let (cpu_ns, _) = cpu.read();
    let secs = opened.wall.as_secs_f64();
    eprintln!(
        "  {} connections (handshake + connect + join ack) in {secs:.2} s, {} at once",
        opened.ok, s.connect_concurrency
    );
    if opened.ok == 0 {
        bail!("no connection succeeded");
    }
    ctx.row("connects_per_sec", opened.ok as f64 / secs);
    ctx.row(
        "connect_p50_ms",
        opened.setup.quantile_ms(0.5).unwrap_or(f64::NAN),
    );
    ctx.row(
        "connect_p99_ms",
        opened.setup.quantile_ms(0.99).unwrap_or(f64::NAN),
    );
    ctx.row("server_cpu_percent", cpu.percent());
    ctx.row(
        "server_cpu_ns_per_connect",
        cpu_ns as f64 / opened.ok as f64,
    );
    ctx.row("generator_cpu_percent", gen.percent());
    ctx.row("other_cpu_percent", machine.read().2);
    ctx.row("failed_connects", opened.failed as f64);
    Ok(tasks)
}

/// What one load step measured (a publisher phase of fanout, or a burst of every planned
/// sender of rooms and signalling).
struct Step {
    /// Messages per second each sender was asked to send.
    rate: f64,
    /// Deliveries per second the step asked for (senders x rate x recipients).
    offered: f64,
    throughput: f64,
    expected: u64,
    got: u64,
    p50: f64,
    p99: f64,
    p999: f64,
    server_cpu: f64,
    server_cpu_ns: u64,
    gen_cpu: f64,
    other_cpu: f64,
    /// The generator's timer lag p99 (ms) while sending.
    lag: f64,
    /// How late the fan-out publisher's messages left, p99 (ms); load steps have no publisher.
    send_lag: Option<f64>,
    new_disconnects: u64,
}

#[allow(clippy::too_many_arguments)]
async fn fanout_phase(
    rec: &Recorder,
    phases: &mpsc::Sender<sio::Phase>,
    pid: u32,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    members: u64,
    pad: &Arc<str>,
) -> anyhow::Result<Step> {
    let closed_before = Recorder::get(&rec.closed);
    let from = now_ns();
    rec.open_window(from + warmup.as_nanos() as u64, u64::MAX);
    let cpu = CpuMeter::start(pid);
    let gen = CpuMeter::start(std::process::id());
    let machine = MachineMeter::start(pid);
    let probe = LagProbe::start();
    let (done_tx, done_rx) = oneshot::channel();
    phases
        .send(sio::Phase {
            rate,
            duration,
            event: "to-room",
            room: "fanout".into(),
            recipients: members,
            pad: pad.clone(),
            done: done_tx,
        })
        .await
        .map_err(|_| anyhow::anyhow!("publisher gone"))?;
    let sent = done_rx.await.context("publisher gone")?;
    let lag = probe.stop();
    drain(
        rec,
        Duration::from_secs(10).max(duration * 3),
        Duration::from_secs(2),
    )
    .await;
    let (server_cpu_ns, _) = cpu.read();
    let got = rec.received_in_window();
    let expected = Recorder::get(&rec.expected_in_window);
    let measured_from = from + warmup.as_nanos() as u64;
    let last = rec.last_in_window_ns().max(measured_from + 1);
    let span = ((last - measured_from) as f64 / 1e9).max(1e-3);
    let q = |p| rec.latency_ms(p).unwrap_or(f64::NAN);
    Ok(Step {
        rate,
        offered: rate * members as f64,
        throughput: got as f64 / span,
        expected,
        got,
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        server_cpu: cpu.percent(),
        server_cpu_ns,
        gen_cpu: gen.percent(),
        other_cpu: machine.read().2,
        lag,
        send_lag: Some(sent.send_lag_p99_ms),
        new_disconnects: Recorder::get(&rec.closed) - closed_before,
    })
}

async fn fanout(ctx: &mut Ctx<'_>) -> anyhow::Result<Tasks> {
    let s = ctx.sizes.clone();
    let pid = ctx.server.pid;
    let rec = Arc::new(Recorder::new());
    let pad = ctx.pad();
    let (opened, mut tasks) = open_sio_members(
        ctx,
        s.fanout_members,
        s.setup_concurrency,
        &rec,
        |_| Some("fanout".to_string()),
        |_| None,
    )
    .await;
    if opened.ok == 0 {
        bail!("no member joined");
    }
    let phases = sio::spawn_publisher(ctx.net.clone(), rec.clone())
        .await
        .context("publisher")?;
    sleep(Duration::from_millis(500)).await;

    // Saturation search: double the publish rate until deliveries stop growing. A step that
    // says "stop" is run once more before it is believed: on a shared machine one step can be
    // starved by unrelated work.
    let mut joined = opened.ok;
    let mut rate = s.fanout_start_rate;
    let mut steps: Vec<Step> = Vec::new();
    let mut confirm = Confirm::default();
    for _ in 0..30 {
        let step =
            fanout_search_step(ctx, &rec, &mut tasks, &mut joined, &phases, rate, &pad).await?;
        print_fanout_step("search", &step);
        let lost = step.lost();
        // The best of the lower rates (a confirming re-run does not compare with itself).
        let prev_tp = steps
            .iter()
            .filter(|st| st.rate < step.rate)
            .map(|st| st.throughput)
            .fold(0.0f64, f64::max);
        let why = stop_reasons(
            step.throughput,
            step.offered,
            prev_tp,
            step.p99,
            s.max_p99_ms,
            lost > 0 || step.new_disconnects > 0,
        );
        steps.push(step);
        match confirm.next(rate, &why) {
            Next::Double => rate *= 2.0,
            Next::Again => sleep(Duration::from_secs(1)).await,
            Next::Stop => break,
        }
    }
    if let Some(mut bisect) = Bisect::after(&steps, rate, s.max_p99_ms) {
        while let Some(rate) = bisect.next() {
            sleep(Duration::from_secs(1)).await;
            let step =
                fanout_search_step(ctx, &rec, &mut tasks, &mut joined, &phases, rate, &pad).await?;
            print_fanout_step("bisect", &step);
            bisect.record(&step, s.max_p99_ms);
            steps.push(step);
        }
    }
    // The saturation figure: the best sustained step, else the best step at all.
    let best = best_sustained(&steps, s.max_p99_ms)
        .or_else(|| {
            steps
                .iter()
                .max_by(|a, b| a.throughput.total_cmp(&b.throughput))
        })
        .context("no fan-out step completed")?;
    // Let the server and the members settle after the overload step.
    sleep(Duration::from_secs(1)).await;
    let lost_members = Recorder::get(&rec.closed) as usize;
    joined += replenish(ctx, &rec, &mut tasks, joined).await;
    let members = (joined as u64).saturating_sub(Recorder::get(&rec.closed));

    // Latency at half the saturation rate.
    let lat_rate = (best.throughput * 0.5 / members.max(1) as f64).max(1.0);
    let lat = fanout_phase(
        &rec,
        &phases,
        pid,
        lat_rate,
        s.fanout_latency + s.warmup,
        s.warmup,
        members,
        &pad,
    )
    .await?;
    let lost = lat.expected.saturating_sub(lat.got);
    eprintln!(
        "  latency at {:.0} msg/s x {members} ({:.0} deliveries/s): p50 {:.2} ms, p99 {:.2} ms, \
         p99.9 {:.2} ms, lost {lost}, server cpu {:.0}%, generator cpu {:.0}%, \
         generator timer lag p99 {:.2} ms, publisher send lag p99 {:.2} ms",
        lat.rate,
        lat.throughput,
        lat.p50,
        lat.p99,
        lat.p999,
        lat.server_cpu,
        lat.gen_cpu,
        lat.lag,
        lat.send_lag.unwrap_or(f64::NAN)
    );
    // Latency at one rate for every server.
    let common_rate = (s.fanout_common_deliveries / members.max(1) as f64).max(1.0);
    let common = fanout_phase(
        &rec,
        &phases,
        pid,
        common_rate,
        s.fanout_latency + s.warmup,
        s.warmup,
        members,
        &pad,
    )
    .await?;
    eprintln!(
        "  common load {:.0} msg/s x {members} ({:.0} deliveries/s): p50 {:.2} ms, p99 {:.2} ms, \
         p99.9 {:.2} ms, lost {}, server cpu {:.0}%, generator cpu {:.0}%",
        common.rate,
        common.throughput,
        common.p50,
        common.p99,
        common.p999,
        common.expected.saturating_sub(common.got),
        common.server_cpu,
        common.gen_cpu
    );
    ctx.row("deliveries_per_sec", best.throughput);
    ctx.row("latency_p50_ms", lat.p50);
    ctx.row("latency_p99_ms", lat.p99);
    ctx.row("latency_p999_ms", lat.p999);
    ctx.row("server_cpu_percent", best.server_cpu);
    ctx.row("generator_cpu_percent", best.gen_cpu);
    ctx.row("other_cpu_percent", best.other_cpu);
    ctx.row(
        "server_cpu_ns_per_delivery",
        common.server_cpu_ns as f64 / common.got.max(1) as f64,
    );
    ctx.row("common_latency_p50_ms", common.p50);
    ctx.row("common_latency_p99_ms", common.p99);
    ctx.row("common_server_cpu_percent", common.server_cpu);
    ctx.row("saturation_rate", best.rate);
    ctx.row("latency_rate", lat.rate);
    ctx.row("common_rate", common.rate);
    ctx.row("generator_timer_lag_p99_ms", lat.lag);
    ctx.row(
        "publisher_send_lag_p99_ms",
        lat.send_lag.unwrap_or(f64::NAN),
    );
    ctx.row(
        "lost_deliveries",
        (lost + common.expected.saturating_sub(common.got)) as f64,
    );
    ctx.row("connections", members as f64);
    ctx.row("disconnects", lost_members as f64);
    ctx.row("errors", Recorder::get(&rec.errors) as f64);
    Ok(tasks)
}

/// One step of the fan-out search: refills the room with members the server closed, then
/// publishes at `rate` for a search step.
async fn fanout_search_step(
    ctx: &Ctx<'_>,
    rec: &Arc<Recorder>,
    tasks: &mut Tasks,
    joined: &mut usize,
    phases: &mpsc::Sender<sio::Phase>,
    rate: f64,
    pad: &Arc<str>,
) -> anyhow::Result<Step> {
    *joined += replenish(ctx, rec, tasks, *joined).await;
    let members = (*joined as u64).saturating_sub(Recorder::get(&rec.closed));
    fanout_phase(
        rec,
        phases,
        ctx.server.pid,
        rate,
        ctx.sizes.search_step,
        Duration::ZERO,
        members,
        pad,
    )
    .await
}

fn print_fanout_step(label: &str, step: &Step) {
    eprintln!(
        "  {label} {:>8.0} msg/s x {:.0} -> {:>9.0} deliveries/s (offered {:>9.0}), \
         p99 {:>7.2} ms, lost {}, cpu: server {:>3.0}%, generator {:>3.0}%, other {:>3.0}%",
        step.rate,
        step.offered / step.rate.max(1e-9),
        step.throughput,
        step.offered,
        step.p99,
        step.lost(),
        step.server_cpu,
        step.gen_cpu,
        step.other_cpu
    );
}

/// A server may close fan-out members that fell behind in an overload step (a slow-consumer
/// close): opens replacements so the room is full again. Returns how many joined.
async fn replenish(ctx: &Ctx<'_>, rec: &Arc<Recorder>, tasks: &mut Tasks, joined: usize) -> usize {
    // The publisher is never closed by a server for being slow: every close is a member's.
    let gone = (Recorder::get(&rec.closed) as usize).min(joined);
    let missing = ctx.sizes.fanout_members.saturating_sub(joined - gone);
    if missing == 0 {
        return 0;
    }
    let (again, mut more) = open_sio_members(
        ctx,
        missing,
        ctx.sizes.setup_concurrency,
        rec,
        |_| Some("fanout".to_string()),
        |_| None,
    )
    .await;
    eprintln!(
        "  {missing} members were disconnected; {} rejoined",
        again.ok
    );
    tasks.0.append(&mut more.0);
    sleep(Duration::from_millis(500)).await;
    again.ok
}

impl Step {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.got)
    }

    /// Whether the step's rate was sustained: nothing lost, nobody disconnected, p99 within
    /// the limit.
    fn sustained(&self, max_p99_ms: f64) -> bool {
        self.lost() == 0 && self.new_disconnects == 0 && self.p99 <= max_p99_ms
    }
}

/// Why a saturation search stops at a step (empty: go on), given the best throughput of the
/// lower rates. Shared by every scenario that searches.
fn stop_reasons(
    throughput: f64,
    offered: f64,
    best_below: f64,
    p99: f64,
    max_p99: f64,
    broken: bool,
) -> Vec<&'static str> {
    [
        (throughput < 0.8 * offered, "below 80% of offered"),
        (throughput < best_below * 1.05, "no growth"),
        (p99 > max_p99, "p99 over limit"),
        (broken, "lost deliveries"),
    ]
    .into_iter()
    .filter(|(b, _)| *b)
    .map(|(_, w)| w)
    .collect()
}

/// The step with the most deliveries among those that were sustained.
fn best_sustained(steps: &[Step], max_p99_ms: f64) -> Option<&Step> {
    steps
        .iter()
        .filter(|st| st.sustained(max_p99_ms))
        .max_by(|a, b| a.throughput.total_cmp(&b.throughput))
}

/// Whether a step held its rate: sustained, and at least 80 % of what was asked arrived.
fn step_held(step: &Step, max_p99_ms: f64) -> bool {
    step.sustained(max_p99_ms) && step.throughput >= 0.8 * step.offered
}

/// After a doubling search stops: a geometric bisection between the highest rate that held and
/// the lowest that did not, so that a saturation figure is not a power of two of the start
/// rate (two servers a few percent apart could otherwise land a whole doubling apart).
struct Bisect {
    held_rate: f64,
    failed_rate: f64,
    rounds: u32,
}

impl Bisect {
    /// Rounds of bisection after a search (each halves the gap's ratio: 2x, 1.41x, 1.19x).
    const ROUNDS: u32 = 2;

    /// Starts from the steps run so far (the fixed-rate run included, where there is one) and
    /// the rate the search stopped at; `None` when no lower rate held (nothing to bisect).
    fn after<'a>(
        steps: impl IntoIterator<Item = &'a Step>,
        failed_rate: f64,
        max_p99_ms: f64,
    ) -> Option<Bisect> {
        let held_rate = steps
            .into_iter()
            .filter(|st| st.rate < failed_rate && step_held(st, max_p99_ms))
            .map(|st| st.rate)
            .fold(f64::NAN, f64::max);
        (held_rate > 0.0).then_some(Bisect {
            held_rate,
            failed_rate,
            rounds: Self::ROUNDS,
        })
    }

    /// The next rate to try, if any.
    fn next(&self) -> Option<f64> {
        (self.rounds > 0 && self.failed_rate > self.held_rate * 1.01)
            .then(|| (self.held_rate * self.failed_rate).sqrt())
    }

    fn record(&mut self, step: &Step, max_p99_ms: f64) {
        if step_held(step, max_p99_ms) {
            self.held_rate = step.rate;
        } else {
            self.failed_rate = step.rate;
        }
        self.rounds = self.rounds.saturating_sub(1);
    }
}

/// What a doubling search does after a step.
enum Next {
    Double,
    /// Run the same step once more: on a shared machine one step can be starved by unrelated
    /// work, so a "stop" is believed only when it repeats.
    Again,
    Stop,
}

#[derive(Default)]
struct Confirm {
    retried_at: Option<f64>,
}

impl Confirm {
    /// The decision after a step at `rate` that gave these stop reasons.
    fn next(&mut self, rate: f64, why: &[&str]) -> Next {
        if why.is_empty() {
            return Next::Double;
        }
        let why = why.join(", ");
        if self.retried_at != Some(rate) {
            eprintln!("  ({why}: running this step again to confirm)");
            self.retried_at = Some(rate);
            return Next::Again;
        }
        eprintln!("  saturation: {why}");
        Next::Stop
    }
}

/// Runs every planned sender at `rate` messages per second for `duration` after `warmup`,
/// drains, and measures the window after the warm-up.
async fn load_step(
    ctx: &Ctx<'_>,
    rec: &Recorder,
    go: &watch::Sender<Option<sio::Burst>>,
    rate: f64,
    duration: Duration,
    offered: f64,
) -> anyhow::Result<Step> {
    let pid = ctx.server.pid;
    let warmup = ctx.sizes.warmup;
    let closed_before = Recorder::get(&rec.closed);
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + duration + warmup;
    let from = ns_of(start + warmup);
    let to = ns_of(end);
    rec.open_window(from, to);
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    go.send(Some(sio::Burst { start, end, period }))
        .map_err(|_| anyhow::anyhow!("no sender is listening"))?;
    tokio::time::sleep_until(instant_at(from)).await;
    let cpu = CpuMeter::start(pid);
    let gen = CpuMeter::start(std::process::id());
    let machine = MachineMeter::start(pid);
    let probe = LagProbe::start();
    tokio::time::sleep_until(end).await;
    let lag = probe.stop();
    let (server_cpu_ns, _) = cpu.read();
    let (server_cpu, _, other_cpu) = machine.read();
    let gen_cpu = gen.percent();
    drain(rec, Duration::from_secs(10), Duration::from_secs(2)).await;
    let got = rec.received_in_window();
    let expected = Recorder::get(&rec.expected_in_window);
    let secs = (to - from) as f64 / 1e9;
    let q = |p| rec.latency_ms(p).unwrap_or(f64::NAN);
    Ok(Step {
        rate,
        offered,
        throughput: got as f64 / secs,
        expected,
        got,
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        server_cpu,
        server_cpu_ns,
        gen_cpu,
        other_cpu,
        lag,
        send_lag: None,
        new_disconnects: Recorder::get(&rec.closed) - closed_before,
    })
}

fn print_step(label: &str, st: &Step) {
    eprintln!(
        "  {label} {:>6.1} msg/s each -> {:>9.0} deliveries/s (asked {:>9.0}), p50 {:.2} ms, \
         p99 {:.2} ms, lost {}, cpu: server {:.0}%, generator {:.0}%, other {:.0}%; \
         generator timer lag p99 {:.2} ms",
        st.rate,
        st.throughput,
        st.offered,
        st.p50,
        st.p99,
        st.lost(),
        st.server_cpu,
        st.gen_cpu,
        st.other_cpu,
        st.lag
    );
}

/// The rows of a scenario whose senders all send at a fixed rate (rooms, signalling): first
/// the configured rate for the configured time (latency under that load), then a saturation
/// search that doubles every sender's rate until deliveries stop growing, fall below 80% of
/// what was asked, exceed the p99 limit, or lose messages. `deliveries_per_sec` is the best
/// lossless step of the search; the latencies are those of the fixed rate.
async fn steady_then_saturate(
    ctx: &mut Ctx<'_>,
    rec: &Recorder,
    go: &watch::Sender<Option<sio::Burst>>,
    opened: usize,
    base_rate: f64,
    duration: Duration,
    deliveries_per_message: f64,
) -> anyhow::Result<()> {
    let s = ctx.sizes.clone();
    let senders =
        |rec: &Recorder, opened: usize| opened.saturating_sub(Recorder::get(&rec.closed) as usize);
    let offered = |rate: f64| senders(rec, opened) as f64 * rate * deliveries_per_message;
    let fixed = load_step(ctx, rec, go, base_rate, duration, offered(base_rate)).await?;
    print_step("fixed", &fixed);

    let mut steps: Vec<Step> = Vec::new();
    let mut rate = base_rate * 2.0;
    let mut confirm = Confirm::default();
    for _ in 0..20 {
        if senders(rec, opened) == 0 {
            break;
        }
        let step = load_step(ctx, rec, go, rate, s.search_step, offered(rate)).await?;
        print_step("search", &step);
        let best_below = steps
            .iter()
            .filter(|st| st.rate < step.rate)
            .map(|st| st.throughput)
            .fold(fixed.throughput, f64::max);
        let broken = step.lost() > 0 || step.new_disconnects > 0;
        let why = stop_reasons(
            step.throughput,
            step.offered,
            best_below,
            step.p99,
            s.max_p99_ms,
            broken,
        );
        steps.push(step);
        match confirm.next(rate, &why) {
            Next::Double => rate *= 2.0,
            Next::Again => sleep(Duration::from_secs(1)).await,
            Next::Stop => break,
        }
    }
    if let Some(mut bisect) = Bisect::after(steps.iter().chain([&fixed]), rate, s.max_p99_ms) {
        while let Some(rate) = bisect.next() {
            if senders(rec, opened) == 0 {
                break;
            }
            sleep(Duration::from_secs(1)).await;
            let step = load_step(ctx, rec, go, rate, s.search_step, offered(rate)).await?;
            print_step("bisect", &step);
            bisect.record(&step, s.max_p99_ms);
            steps.push(step);
        }
    }
    // The search starts above the fixed rate; the fixed run stands when no step beat it.
    let best = best_sustained(&steps, s.max_p99_ms)
        .filter(|b| b.throughput > fixed.throughput)
        .unwrap_or(&fixed);
    ctx.row("deliveries_per_sec", best.throughput);
    ctx.row("saturation_rate", best.rate);
    ctx.row("server_cpu_percent", best.server_cpu);
    ctx.row("generator_cpu_percent", best.gen_cpu);
    ctx.row("other_cpu_percent", best.other_cpu);
    ctx.row("fixed_rate", fixed.rate);
    ctx.row("fixed_deliveries_per_sec", fixed.throughput);
    ctx.row("latency_p50_ms", fixed.p50);
    ctx.row("latency_p99_ms", fixed.p99);
    ctx.row("latency_p999_ms", fixed.p999);
    ctx.row(
        "server_cpu_ns_per_delivery",
        fixed.server_cpu_ns as f64 / fixed.got.max(1) as f64,
    );
    ctx.row("fixed_server_cpu_percent", fixed.server_cpu);
    ctx.row("generator_timer_lag_p99_ms", fixed.lag);
    ctx.row("lost_deliveries", fixed.lost() as f64);
    ctx.row("disconnects", Recorder::get(&rec.closed) as f64);
    ctx.row("errors", Recorder::get(&rec.errors) as f64);
    Ok(())
}

async fn rooms(ctx: &mut Ctx<'_>) -> anyhow::Result<Tasks> {
    let s = ctx.sizes.clone();
    let size = s.room_size.max(2);
    let nrooms = (s.rooms_conns / size).max(1);
    let n = nrooms * size;
    let rec = Arc::new(Recorder::new());
    let pad = ctx.pad();
    let (go_tx, go_rx) = watch::channel(None);
    // Members actually in each room (a failed connect leaves its room smaller).
    let counts: Arc<Vec<Arc<AtomicU64>>> =
        Arc::new((0..nrooms).map(|_| Arc::new(AtomicU64::new(0))).collect());
    let plan_counts = counts.clone();
    let (opened, tasks) = open_sio_members(
        ctx,
        n,
        s.setup_concurrency,
        &rec,
        move |i| Some(format!("room-{}", i % nrooms)),
        move |i| {
            let count = plan_counts[i % nrooms].clone();
            count.fetch_add(1, Relaxed);
            Some(sio::SendPlan {
                room: format!("room-{}", i % nrooms).into(),
                spread: spread(i),
                go: go_rx.clone(),
                room_members: count,
                pad: pad.clone(),
            })
        },
    )
    .await;
    eprintln!(
        "  {} members in {nrooms} rooms of {size}, each sending {} msg/s, then a saturation search",
        opened.ok, s.rooms_rate
    );
    if opened.ok == 0 {
        bail!("no member joined");
    }
    let per_message = (opened.ok as f64 / nrooms as f64 - 1.0).max(0.0);
    steady_then_saturate(
        ctx,
        &rec,
        &go_tx,
        opened.ok,
        s.rooms_rate,
        s.rooms_duration,
        per_message,
    )
    .await?;
    ctx.row("connections", opened.ok as f64);
    Ok(tasks)
}

async fn signalling(ctx: &mut Ctx<'_>) -> anyhow::Result<Tasks> {
    let s = ctx.sizes.clone();
    let nrooms = s.signal_rooms.max(1);
    let n = nrooms * 4;
    let rec = Arc::new(Recorder::new());
    let (go_tx, go_rx) = watch::channel(None);
    let bodies = Arc::new(signal::Bodies::new());
    let net = ctx.net.clone();
    let life_rec = rec.clone();
    let (opened, tasks) = open_many(
        n,
        s.setup_concurrency,
        |i| {
            let net = net.clone();
            async move {
                signal::open_and_join(&net, &format!("s-{}", i / 4), &format!("p{}", i % 4)).await
            }
        },
        move |i, ws| {
            let plan = signal::PeerPlan {
                target: format!("p{}", (i + 1) % 4),
                spread: spread(i),
                go: go_rx.clone(),
                bodies: bodies.clone(),
                first_kind: i % 4,
            };
            signal::peer(ws, life_rec.clone(), plan)
        },
    )
    .await;
    eprintln!(
        "  {} peers in {nrooms} rooms of 4, each sending {} msg/s, then a saturation search",
        opened.ok, s.signal_rate
    );
    if opened.ok == 0 {
        bail!("no peer joined");
    }
    steady_then_saturate(
        ctx,
        &rec,
        &go_tx,
        opened.ok,
        s.signal_rate,
        s.signal_duration,
        1.0,
    )
    .await?;
    ctx.row("connections", opened.ok as f64);
    ctx.row("failed_connects", opened.failed as f64);
    Ok(tasks)
}

/// Whether a scenario can run against a server at all.
pub fn applies(scenario: &str, kind: ServerKind) -> bool {
    match scenario {
        "signalling" => kind.speaks_signal(),
        _ => kind.speaks_socketio(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_goes_on_while_deliveries_grow_within_limits() {
        assert!(stop_reasons(1000.0, 1000.0, 500.0, 10.0, 1000.0, false).is_empty());
        assert_eq!(
            stop_reasons(700.0, 1000.0, 500.0, 10.0, 1000.0, false),
            ["below 80% of offered"]
        );
        assert_eq!(
            stop_reasons(1000.0, 1000.0, 990.0, 10.0, 1000.0, false),
            ["no growth"]
        );
        assert_eq!(
            stop_reasons(1000.0, 1000.0, 500.0, 1500.0, 1000.0, true),
            ["p99 over limit", "lost deliveries"]
        );
    }

    #[test]
    fn a_stop_is_believed_only_when_the_step_repeats_it() {
        let mut c = Confirm::default();
        assert!(matches!(c.next(10.0, &[]), Next::Double));
        assert!(matches!(c.next(20.0, &["no growth"]), Next::Again));
        assert!(matches!(c.next(20.0, &[]), Next::Double));
        assert!(matches!(c.next(40.0, &["no growth"]), Next::Again));
        assert!(matches!(c.next(40.0, &["no growth"]), Next::Stop));
    }

    /// A step at `rate` (x1000 deliveries per message) that delivered `share` of what was
    /// asked, with this p99, losing nothing.
    fn step(rate: f64, share: f64, p99: f64) -> Step {
        let offered = rate * 1000.0;
        Step {
            rate,
            offered,
            throughput: offered * share,
            expected: 10,
            got: 10,
            p50: p99 / 2.0,
            p99,
            p999: p99,
            server_cpu: 0.0,
            server_cpu_ns: 0,
            gen_cpu: 0.0,
            other_cpu: 0.0,
            lag: 0.0,
            send_lag: None,
            new_disconnects: 0,
        }
    }

    #[test]
    fn bisection_narrows_between_the_rate_that_held_and_the_one_that_failed() {
        let steps = [
            step(10.0, 1.0, 5.0),
            step(20.0, 1.0, 9.0),
            step(40.0, 0.5, 400.0),
        ];
        let mut b = Bisect::after(&steps, 40.0, 1000.0).expect("20 held");
        let first = b.next().expect("a first round");
        assert!((first - 800f64.sqrt()).abs() < 1e-9, "{first}");
        b.record(&step(first, 0.95, 50.0), 1000.0);
        let second = b.next().expect("a second round");
        assert!(second > first && second < 40.0, "{second}");
        // A step that lost its p99 limit did not hold: the upper bound comes down.
        b.record(&step(second, 1.0, 2000.0), 1000.0);
        assert_eq!((b.held_rate, b.failed_rate), (first, second));
        assert_eq!(b.next(), None, "two rounds");
        // Nothing held below the stop: nothing to bisect.
        assert!(Bisect::after(&[step(10.0, 0.5, 5.0)], 10.0, 1000.0).is_none());
    }
}
