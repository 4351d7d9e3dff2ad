//! Wall time per kernel, for `cyclegan bench --profile`: where a step's time goes, without a
//! profiler attached. Off by default; when off, [`timed`] costs one relaxed atomic load.
//!
//! Kernels are timed on the thread that calls them (the one that drives the step), so nested
//! names (`winograd forward` and its `· input transform`) overlap and the top-level ones add
//! up to the time spent inside them. Beside wall time each name gets the process's CPU time
//! over the same span: their ratio shows the parts that leave cores idle.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);
static TOTALS: Mutex<BTreeMap<String, Total>> = Mutex::new(BTreeMap::new());

/// Calls, wall seconds and the process's CPU seconds under one name.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Total {
    pub calls: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// CPU time used by every thread of this process so far.
fn process_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The reading of a CPU-time clock, 0 where it cannot be read.
fn cpu_seconds(clock: libc::clockid_t) -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(clock, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        0.0
    }
}

/// Starts (or stops) recording.
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// The totals recorded since the last call, and a fresh start.
pub fn take() -> BTreeMap<String, Total> {
    std::mem::take(&mut *TOTALS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `f()`, its wall time added to `name()` while recording is on.
#[inline]
pub fn timed<T>(name: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let (start, cpu_start) = (Instant::now(), process_cpu_seconds());
    let out = f();
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let total = totals.entry(name()).or_default();
    total.calls += 1;
    total.seconds += seconds;
    total.cpu_seconds += cpu_seconds;
    out
}

/// One group of [`table`]: a name's part before ` · `, its summed total and its entries.
struct Group<'a> {
    name: &'a str,
    total: Total,
    entries: Vec<(&'a str, &'a Total)>,
}

/// `totals` over `iters` iterations as a table of milliseconds per iteration: each group with
/// its total, then its entries, biggest first. `busy` is the share of `threads` cores' time
/// the span kept busy.
pub fn table(totals: &BTreeMap<String, Total>, iters: usize, threads: usize) -> String {
    use std::fmt::Write;
    let per_it = |t: &Total| {
        (
            1e3 * t.seconds / iters as f64,
            t.calls as f64 / iters as f64,
        )
    };
    let busy = |t: &Total| 100.0 * t.cpu_seconds / (t.seconds * threads as f64).max(1e-12);
    let mut groups: Vec<Group> = Vec::new();
    for (name, total) in totals {
        let group = name.split(" · ").next().unwrap_or(name);
        let at = match groups.iter().position(|g| g.name == group) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    name: group,
                    total: Total::default(),
                    entries: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[at];
        g.total.calls += total.calls;
        g.total.seconds += total.seconds;
        g.total.cpu_seconds += total.cpu_seconds;
        g.entries.push((name, total));
    }
    groups.sort_by(|a, b| b.total.seconds.total_cmp(&a.total.seconds));
    let mut out = String::from("    ms  busy  calls\n");
    for mut g in groups {
        let (ms, calls) = per_it(&g.total);
        let _ = writeln!(
            out,
            "{ms:6.1}  {:3.0}%  {calls:5.0}  {}",
            busy(&g.total),
            g.name
        );
        if g.entries.len() > 1 || g.entries[0].0 != g.name {
            g.entries
                .sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
            for (name, total) in g.entries {
                let (ms, calls) = per_it(total);
                let _ = writeln!(out, "{ms:6.1}  {:3.0}%  {calls:5.0}    {name}", busy(total));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_while_enabled() {
        assert_eq!(timed(|| "off".into(), || 1 + 1), 2);
        enable(true);
        for _ in 0..3 {
            timed(
                || "on".into(),
                || std::thread::sleep(std::time::Duration::from_millis(2)),
            );
        }
        enable(false);
        let totals = take();
        assert!(!totals.contains_key("off"));
        let on = totals["on"];
        assert_eq!(on.calls, 3);
        assert!(on.seconds >= 0.006, "{on:?}");
        // Other tests' kernels may have been recorded too; this test's names are its own.
        assert!(!take().contains_key("on"), "take starts afresh");

        // CPU time is the process's: spin until this thread alone has used 10 ms of it.
        let thread_cpu = || cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID);
        enable(true);
        timed(
            || "spin".into(),
            || {
                let start = thread_cpu();
                while thread_cpu() - start < 0.010 {
                    std::hint::spin_loop();
                }
            },
        );
        enable(false);
        let spin = take()["spin"];
        assert!(spin.cpu_seconds >= 0.010, "{spin:?}");
    }

    #[test]
    fn the_table_groups_and_divides_by_iterations() {
        let total = |calls, seconds, cpu_seconds| Total {
            calls,
            seconds,
            cpu_seconds,
        };
        let totals = BTreeMap::from([
            ("adam".to_string(), total(4, 0.010, 0.020)),
            ("conv · a".to_string(), total(2, 0.030, 0.030)),
            ("conv · b".to_string(), total(2, 0.050, 0.070)),
        ]);
        let lines: Vec<String> = table(&totals, 2, 2)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines,
            [
                "ms busy calls",
                "40.0 62% 2 conv",
                "25.0 70% 1 conv · b",
                "15.0 50% 1 conv · a",
                "5.0 100% 2 adam",
            ]
        );
    }
}
