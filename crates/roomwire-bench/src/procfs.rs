//! Process figures from /proc (Linux): resident memory and CPU time of a PID, and the open
//! file limit.

use std::time::Instant;

/// VmRSS of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU time of `pid` (all its threads), in nanoseconds.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(ticks * 1_000_000_000 / clock_ticks())
}

/// Run time of every live thread of `pid` from /proc/PID/task/*/schedstat, in nanoseconds:
/// precise (no 10 ms ticks), but blind to threads that have exited.
pub fn threads_run_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(entry) = entry else { continue };
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// CPU time of this process, in nanoseconds.
pub fn self_cpu_ns() -> Option<u64> {
    cpu_ns(std::process::id())
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU use of a process over an interval, as a percentage of one core.
pub struct CpuMeter {
    pid: u32,
    start_cpu: u64,
    start_threads: Option<u64>,
    start: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            start_cpu: cpu_ns(pid).unwrap_or(0),
            start_threads: threads_run_ns(pid),
            start: Instant::now(),
        }
    }

    /// (CPU ns used, wall ns elapsed) since the start. Uses the per-thread run times (ns
    /// precision) unless a thread exited meanwhile, then the process's tick counts.
    pub fn read(&self) -> (u64, u64) {
        let wall = self.start.elapsed().as_nanos() as u64;
        let ticks = cpu_ns(self.pid)
            .unwrap_or(self.start_cpu)
            .saturating_sub(self.start_cpu);
        let precise = match (self.start_threads, threads_run_ns(self.pid)) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        };
        let tick_ns = 1_000_000_000 / clock_ticks();
        let cpu = match precise {
            // Tick counts lag by up to a tick per read; more than that means lost threads.
            Some(p) if ticks <= p + 3 * tick_ns => p,
            _ => ticks,
        };
        (cpu, wall)
    }

    /// Percent of one core since the start (200 = both cores of a 2-core machine).
    pub fn percent(&self) -> f64 {
        let (cpu, wall) = self.read();
        if wall == 0 {
            0.0
        } else {
            cpu as f64 * 100.0 / wall as f64
        }
    }
}

/// Busy and total CPU time of the whole machine (all cores), in clock ticks, from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// (busy, total) ticks of the `cpu` line: busy = user + nice + system + irq + softirq + steal.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return None;
    }
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    let total = busy + v[3] + v[4];
    Some((busy, total))
}

/// CPU the rest of the machine used over an interval: everything busy (steal included) minus
/// the server and the generator. Tells when other work on a shared machine skewed a run.
pub struct MachineMeter {
    start: Option<(u64, u64)>,
    server: CpuMeter,
    generator: CpuMeter,
}

impl MachineMeter {
    pub fn start(server_pid: u32) -> MachineMeter {
        MachineMeter {
            start: machine_ticks(),
            server: CpuMeter::start(server_pid),
            generator: CpuMeter::start(std::process::id()),
        }
    }

    /// (server %, generator %, everything else %), in percent of one core.
    pub fn read(&self) -> (f64, f64, f64) {
        let server = self.server.percent();
        let generator = self.generator.percent();
        let (_, wall) = self.server.read();
        let other = match (self.start, machine_ticks()) {
            (Some((b0, _)), Some((b1, _))) if wall > 0 => {
                let busy_ns = (b1.saturating_sub(b0)) * (1_000_000_000 / clock_ticks());
                (busy_ns as f64 * 100.0 / wall as f64 - server - generator).max(0.0)
            }
            _ => f64::NAN,
        };
        (server, generator, other)
    }
}

/// Raises RLIMIT_NOFILE (soft, and hard if needed and allowed) to at least `needed`.
/// Returns the soft limit in force afterwards. Children inherit it.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub fn raise_nofile(needed: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur as u64 >= needed {
            return lim.rlim_cur as u64;
        }
        if (lim.rlim_max as u64) < needed {
            // Raising the hard limit needs CAP_SYS_RESOURCE (root); try, then fall back.
            let want = libc::rlimit {
                rlim_cur: needed as libc::rlim_t,
                rlim_max: needed as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return needed;
            }
        }
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max.min(needed as libc::rlim_t).max(lim.rlim_cur),
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            want.rlim_cur as u64
        } else {
            lim.rlim_cur as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tnode\nVmPeak:\t  1000 kB\nVmRSS:\t   51234 kB\nThreads:\t7\n";
        assert_eq!(parse_vm_rss(status), Some(51234 * 1024));
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
        let proc_stat = "cpu  100 5 50 1000 10 3 2 40 0 0\ncpu0 50 2 25 500 5 1 1 20 0 0\n";
        assert_eq!(parse_proc_stat(proc_stat), Some((200, 1210)));
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(self_cpu_ns().is_some());
        assert!(threads_run_ns(std::process::id()).unwrap() > 0);
        let m = CpuMeter::start(std::process::id());
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 30 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let (cpu, wall) = m.read();
        assert!(cpu > 0 && wall > 0 && x > 0);
    }
}
