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
    start: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            start_cpu: cpu_ns(pid).unwrap_or(0),
            start: Instant::now(),
        }
    }

    /// (CPU ns used, wall ns elapsed) since the start.
    pub fn read(&self) -> (u64, u64) {
        let cpu = cpu_ns(self.pid).unwrap_or(self.start_cpu);
        (
            cpu.saturating_sub(self.start_cpu),
            self.start.elapsed().as_nanos() as u64,
        )
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

/// Raises RLIMIT_NOFILE (soft, and hard if needed and allowed) to at least `needed`.
/// Returns the soft limit in force afterwards. Children inherit it.
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
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(self_cpu_ns().is_some());
    }
}
