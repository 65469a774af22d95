//! CPU time of processes, from `/proc`: what a transfer cost in work, which unlike its speed
//! does not depend on what else the machine was doing.

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's USER_HZ, fixed at 100 by its ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds used so far by process `pid`, all threads; 0 if unreadable.
pub fn seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; field 3 is the first after the name.
    (ticks(14 - 3) + ticks(15 - 3)) / TICKS_PER_SECOND
}

/// [`seconds`] for `pid` and every process whose parent it is now (PostgreSQL's backends),
/// plus what its children that have ended used.
pub fn tree_seconds(pid: u32) -> f64 {
    let mut total = ticks(pid, &[14, 15, 16, 17]) / TICKS_PER_SECOND;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if ticks(child, &[4]) as u32 == pid {
                total += seconds(child);
            }
        }
    }
    total
}

/// The sum of the numeric fields `numbers` (numbered as in `proc(5)`) of `/proc/<pid>/stat`.
fn ticks(pid: u32, numbers: &[usize]) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let values: Vec<&str> = after_name.split_whitespace().collect();
    numbers.iter().filter_map(|n| values.get(n - 3).and_then(|v| v.parse::<f64>().ok())).sum()
}

/// [`seconds`] for this process.
pub fn own_seconds() -> f64 {
    seconds(std::process::id())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_cpu_this_process_spends() {
        let before = super::own_seconds();
        let start = std::time::Instant::now();
        let mut x = 1u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let spent = super::own_seconds() - before;
        assert!(spent > 0.1, "spent {spent} s");
    }
}
