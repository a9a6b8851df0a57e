//! Health: per-camera counters kept lock-free on the hot path, and the `stats` payload made from them;
//! per-camera state in [`status`].

pub mod status;

pub mod timing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// Counters for one camera, shared by its source, the detector and the stats publisher.
#[derive(Debug, Default)]
pub struct CameraStats {
    frames_in: AtomicU64,
    frames_processed: AtomicU64,
    frames_dropped: AtomicU64,
    /// Processed frames the detector skipped because nothing moved (motion gating).
    frames_skipped: AtomicU64,
    /// Processed frames detected on a mosaic of what moved (motion regions).
    frames_mosaic: AtomicU64,
    /// Sum of inference times, in microseconds, and how many model runs they were.
    inference_us: AtomicU64,
    inferences: AtomicU64,
    restarts: AtomicU64,
    /// Detected frames waiting for the camera's analytics thread (a gauge).
    backlog: AtomicU64,
    /// Frames passed on without their picture because too many waited (no snapshot from them).
    pictures_dropped: AtomicU64,
    /// Decoded frames boxes were carried onto without the detector (`carry_fps`), the time the
    /// carrier took on every decoded frame (microseconds), and the frames it took it on.
    frames_carried: AtomicU64,
    carry_us: AtomicU64,
    carry_runs: AtomicU64,
    /// Decoded frames let go before they were carried onto, because too many waited.
    carry_dropped: AtomicU64,
}

impl CameraStats {
    pub fn frame_in(&self) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
    }
    pub fn frame_dropped(&self) {
        self.frames_dropped.fetch_add(1, Ordering::Relaxed);
    }
    /// A frame detected on with `runs` model runs (two for some frames with motion regions)
    /// taking `inference_ms` in all.
    pub fn frame_processed(&self, inference_ms: f64, runs: u64) {
        self.frames_processed.fetch_add(1, Ordering::Relaxed);
        self.inference_us.fetch_add((inference_ms * 1000.0) as u64, Ordering::Relaxed);
        self.inferences.fetch_add(runs, Ordering::Relaxed);
    }
    /// A processed frame was (also) detected on a mosaic of what moved.
    pub fn frame_mosaic(&self) {
        self.frames_mosaic.fetch_add(1, Ordering::Relaxed);
    }
    /// A frame passed on with the last detections, without inference (nothing moved).
    pub fn frame_skipped(&self) {
        self.frames_processed.fetch_add(1, Ordering::Relaxed);
        self.frames_skipped.fetch_add(1, Ordering::Relaxed);
    }
    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
    /// A detected frame queued for analytics; whether its picture may come along (fewer than
    /// `max_pictures` wait already; else the drop is counted).
    pub fn queued(&self, max_pictures: u64) -> bool {
        let waiting = self.backlog.fetch_add(1, Ordering::Relaxed);
        let keep = waiting < max_pictures;
        if !keep {
            self.pictures_dropped.fetch_add(1, Ordering::Relaxed);
        }
        keep
    }
    /// The carrier ran on a decoded frame for `us` microseconds; `carried` when the detector
    /// did not run on it.
    pub fn carrier_ran(&self, us: u64, carried: bool) {
        self.carry_us.fetch_add(us, Ordering::Relaxed);
        self.carry_runs.fetch_add(1, Ordering::Relaxed);
        if carried {
            self.frames_carried.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// A decoded frame let go before boxes were carried onto it.
    pub fn carry_dropped(&self) {
        self.carry_dropped.fetch_add(1, Ordering::Relaxed);
    }
    /// A queued frame analysed.
    pub fn dequeued(&self) {
        let _ = self.backlog.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1));
    }

    pub fn snapshot(&self) -> Counters {
        Counters {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_processed: self.frames_processed.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            frames_skipped: self.frames_skipped.load(Ordering::Relaxed),
            frames_mosaic: self.frames_mosaic.load(Ordering::Relaxed),
            inference_us: self.inference_us.load(Ordering::Relaxed),
            inferences: self.inferences.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            backlog: self.backlog.load(Ordering::Relaxed),
            pictures_dropped: self.pictures_dropped.load(Ordering::Relaxed),
            frames_carried: self.frames_carried.load(Ordering::Relaxed),
            carry_us: self.carry_us.load(Ordering::Relaxed),
            carry_runs: self.carry_runs.load(Ordering::Relaxed),
            carry_dropped: self.carry_dropped.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub frames_in: u64,
    pub frames_processed: u64,
    pub frames_dropped: u64,
    pub frames_skipped: u64,
    pub frames_mosaic: u64,
    pub inference_us: u64,
    pub inferences: u64,
    pub restarts: u64,
    pub backlog: u64,
    pub pictures_dropped: u64,
    pub frames_carried: u64,
    pub carry_us: u64,
    pub carry_runs: u64,
    pub carry_dropped: u64,
}

/// One camera's line in the `stats` message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CameraReport {
    pub camera: String,
    pub frames_in: u64,
    pub frames_processed: u64,
    pub frames_dropped: u64,
    /// Processed frames on which the detector did not run because nothing moved.
    pub frames_skipped: u64,
    /// Processed frames detected on a mosaic of what moved (motion regions).
    pub frames_mosaic: u64,
    /// Frames processed per second over the last interval.
    pub fps: f64,
    /// Mean inference time over the last interval (0 when no inference ran).
    pub inference_ms: f64,
    pub restarts: u64,
    /// Detected frames waiting for this camera's tracker and rules.
    pub backlog: u64,
    /// Frames whose picture was let go because the backlog was long (no snapshot from them).
    pub pictures_dropped: u64,
    /// Decoded frames boxes were carried onto without the detector (cameras with `carry_fps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_carried: Option<u64>,
    /// Mean time the carrier took on a decoded frame over the last interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carry_ms: Option<f64>,
    /// Decoded frames let go uncarried because too many waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carry_dropped: Option<u64>,
}

/// Turns counter snapshots into per-interval rates.
#[derive(Debug)]
pub struct RateTracker {
    last: Vec<Counters>,
    at: Instant,
}

impl RateTracker {
    pub fn new(cameras: usize) -> Self {
        Self { last: vec![Counters::default(); cameras], at: Instant::now() }
    }

    pub fn report(&mut self, cameras: &[(String, &CameraStats)]) -> Vec<CameraReport> {
        let now = Instant::now();
        let secs = (now - self.at).as_secs_f64().max(1e-3);
        self.at = now;
        cameras
            .iter()
            .zip(self.last.iter_mut())
            .map(|((id, stats), last)| {
                let c = stats.snapshot();
                let n = c.frames_processed - last.frames_processed;
                let runs = c.inferences - last.inferences;
                let carrying = c.carry_runs > 0;
                let r = CameraReport {
                    camera: id.clone(),
                    frames_in: c.frames_in,
                    frames_processed: c.frames_processed,
                    frames_dropped: c.frames_dropped,
                    frames_skipped: c.frames_skipped,
                    frames_mosaic: c.frames_mosaic,
                    fps: round2(n as f64 / secs),
                    inference_ms: if runs == 0 {
                        0.0
                    } else {
                        round2((c.inference_us - last.inference_us) as f64 / runs as f64 / 1000.0)
                    },
                    restarts: c.restarts,
                    backlog: c.backlog,
                    pictures_dropped: c.pictures_dropped,
                    frames_carried: carrying.then_some(c.frames_carried),
                    carry_ms: carrying.then(|| {
                        let runs = c.carry_runs - last.carry_runs;
                        if runs == 0 { 0.0 } else { round2((c.carry_us - last.carry_us) as f64 / runs as f64 / 1000.0) }
                    }),
                    carry_dropped: carrying.then_some(c.carry_dropped),
                };
                *last = c;
                r
            })
            .collect()
    }
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_interval() {
        let s = CameraStats::default();
        let mut r = RateTracker::new(1);
        for _ in 0..4 {
            s.frame_in();
            s.frame_processed(10.0, 1);
        }
        s.frame_dropped();
        let rep = r.report(&[("c".into(), &s)]);
        assert_eq!((rep[0].frames_in, rep[0].frames_processed, rep[0].frames_dropped), (4, 4, 1));
        assert_eq!(rep[0].inference_ms, 10.0);
        assert!(rep[0].fps > 0.0);
        let rep = r.report(&[("c".into(), &s)]);
        assert_eq!((rep[0].fps, rep[0].inference_ms), (0.0, 0.0), "nothing new in the second interval");
        // Skipped frames count as processed but do not dilute the mean inference time.
        s.frame_processed(20.0, 1);
        s.frame_skipped();
        s.frame_skipped();
        let rep = r.report(&[("c".into(), &s)]);
        assert_eq!((rep[0].frames_processed, rep[0].frames_skipped, rep[0].inference_ms), (7, 2, 20.0));
        s.frame_processed(5.0, 1);
        s.frame_mosaic();
        let rep = r.report(&[("c".into(), &s)]);
        assert_eq!((rep[0].frames_processed, rep[0].frames_mosaic), (8, 1));
        // A frame of two model runs (a mosaic and the whole picture): the mean is per run.
        s.frame_processed(30.0, 2);
        let rep = r.report(&[("c".into(), &s)]);
        assert_eq!((rep[0].frames_processed, rep[0].inference_ms), (9, 15.0));
    }
}
