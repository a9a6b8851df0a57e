//! Per-stage timing of the frame path: cheap enough to leave on (one `Instant::now()` per stage
//! boundary and a push into a buffer reserved up front), summarised as median and p99.
//!
//! Each thread keeps its own [`StageTimes`] (no locks, no atomics on the hot path); they are
//! merged once at the end.

use std::time::{Duration, Instant};

/// The stages of one frame's path through anttd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The detector waiting for the next frame (decode, scale and hand-off not overlapped).
    Wait,
    Preprocess,
    Inference,
    Postprocess,
    /// Tracker update.
    Tracking,
    /// Line crossings, zone rules and building the events.
    Rules,
    /// Carrying boxes onto a decoded frame the detector did not run on (`carry_fps`): the grey
    /// pyramid and the carrier, without the tracker and rules that follow.
    Carry,
    /// Serialising a frame's events and writing them to the outbox (frames with events only).
    Publish,
    /// From the frame leaving the appsink to its events stored (the analytics thread done).
    Latency,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Wait,
        Stage::Preprocess,
        Stage::Inference,
        Stage::Postprocess,
        Stage::Tracking,
        Stage::Rules,
        Stage::Carry,
        Stage::Publish,
        Stage::Latency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Wait => "wait for frame",
            Stage::Preprocess => "pre-process",
            Stage::Inference => "inference",
            Stage::Postprocess => "post-process",
            Stage::Tracking => "tracking",
            Stage::Rules => "rules",
            Stage::Carry => "carry (undetected frame)",
            Stage::Publish => "store events (per frame)",
            Stage::Latency => "frame → events stored",
        }
    }
}

/// Durations recorded per stage, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    samples: [Vec<f32>; Stage::ALL.len()],
}

/// The timing summary of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StageSummary {
    pub count: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
}

impl StageTimes {
    /// Room for `frames` samples per stage before any reallocation.
    pub fn with_capacity(frames: usize) -> Self {
        Self { samples: std::array::from_fn(|_| Vec::with_capacity(frames)) }
    }

    pub fn record(&mut self, stage: Stage, d: Duration) {
        self.record_ms(stage, d.as_secs_f64() * 1000.0);
    }

    pub fn record_ms(&mut self, stage: Stage, ms: f64) {
        self.samples[stage as usize].push(ms as f32);
    }

    /// Record the time since `since` for `stage` and return now, to chain stage boundaries.
    pub fn lap(&mut self, stage: Stage, since: Instant) -> Instant {
        let now = Instant::now();
        self.record(stage, now - since);
        now
    }

    pub fn merge(&mut self, other: &StageTimes) {
        for (a, b) in self.samples.iter_mut().zip(&other.samples) {
            a.extend_from_slice(b);
        }
    }

    pub fn summary(&self, stage: Stage) -> StageSummary {
        summarise(&self.samples[stage as usize])
    }
}

/// Median and p99 by the nearest-rank method (p99 of fewer than 100 samples is the maximum).
pub fn summarise(samples: &[f32]) -> StageSummary {
    if samples.is_empty() {
        return StageSummary::default();
    }
    let mut v = samples.to_vec();
    v.sort_by(f32::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] as f64;
    StageSummary {
        count: v.len(),
        median_ms: rank(0.5),
        p99_ms: rank(0.99),
        mean_ms: v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64,
        max_ms: v[v.len() - 1] as f64,
    }
}

/// CPU time (user + system) this process has used so far, and its peak resident set size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessUsage {
    pub cpu: Duration,
    pub peak_rss_bytes: u64,
}

/// The process's CPU time and peak RSS (getrusage); `None` if the kernel refuses.
pub fn process_usage() -> Option<ProcessUsage> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } == 0;
    if !ok {
        return None;
    }
    // SAFETY: initialised by the successful call above (and zeroed before it).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    Some(ProcessUsage { cpu: tv(ru.ru_utime) + tv(ru.ru_stime), peak_rss_bytes: ru.ru_maxrss.max(0) as u64 * 1024 })
}

/// The process's current resident set size, from /proc (Linux); `None` elsewhere.
pub fn current_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(4096) as u64)
}

/// The part of the current RSS that is clean file-backed pages (shared libraries' code and data,
/// mapped files), from /proc/self/status `RssFile` (Linux; relocated, i.e. dirtied, library pages
/// count as anonymous); `None` elsewhere. Reported apart because these pages are reclaimable and
/// depend on the image's libraries (Debian's ffmpeg alone is ~40 MB), not on anttd.
pub fn current_rss_file_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s.lines().find_map(|l| l.strip_prefix("RssFile:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_by_nearest_rank() {
        let v: Vec<f32> = (1..=200).map(|x| x as f32).collect();
        let s = summarise(&v);
        assert_eq!((s.count, s.median_ms, s.p99_ms, s.max_ms), (200, 100.0, 198.0, 200.0));
        assert!((s.mean_ms - 100.5).abs() < 1e-9);
        let few = summarise(&[3.0, 1.0, 2.0]);
        assert_eq!((few.median_ms, few.p99_ms), (2.0, 3.0));
        assert_eq!(summarise(&[]), StageSummary::default());
    }

    #[test]
    fn stages_are_kept_apart_and_merge() {
        let mut a = StageTimes::with_capacity(4);
        a.record_ms(Stage::Inference, 60.0);
        a.record_ms(Stage::Tracking, 0.1);
        let mut b = StageTimes::default();
        b.record_ms(Stage::Inference, 70.0);
        a.merge(&b);
        assert_eq!(a.summary(Stage::Inference).count, 2);
        assert_eq!(a.summary(Stage::Inference).max_ms, 70.0);
        assert_eq!(a.summary(Stage::Tracking).count, 1);
        assert_eq!(a.summary(Stage::Rules).count, 0);
    }

    #[test]
    fn process_usage_grows_with_work() {
        let before = process_usage().expect("getrusage");
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let after = process_usage().expect("getrusage");
        assert!(after.cpu > before.cpu, "{x}");
        assert!(after.peak_rss_bytes > 1 << 20);
        let rss = current_rss_bytes().expect("statm");
        assert!(rss > 1 << 20);
        // The executable and libc alone are file-backed; all of it cannot be.
        let file = current_rss_file_bytes().expect("RssFile");
        assert!(file > 0 && file < rss, "{file} of {rss}");
    }
}
