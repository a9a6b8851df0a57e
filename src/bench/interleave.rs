//! The pipeline alternating with raw inference runs of the same session (see
//! [`super::BenchOptions::raw_every`]), and the ratios of the two rates per stretch.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::detect::Detector;
use crate::health::timing;

/// Frames after the start and after each pause that are not timed: the source decoded them
/// while the pipeline waited (its queue refills during a pause), so they would come without the
/// decoder's competition for the cores and flatter the pipeline.
pub const SETTLE_FRAMES: u64 = 5;

/// One timed stretch of the pipeline and the raw runs of the pause ending it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) seconds: f64,
    pub(super) inferences: u64,
    pub(super) raw_mean_s: f64,
}

/// Pipeline ÷ raw rate per stretch, each stretch against the mean raw time of the pauses before
/// and after it (the first has only the one after). Stretches without inferences are left out.
pub(super) fn segment_ratios(segments: &[Segment]) -> Vec<f64> {
    segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.inferences > 0 && s.seconds > 0.0)
        .map(|(i, s)| {
            let raw = match i.checked_sub(1) {
                Some(p) => 0.5 * (segments[p].raw_mean_s + s.raw_mean_s),
                None => s.raw_mean_s,
            };
            (s.inferences as f64 / s.seconds) * raw
        })
        .collect()
}

/// All timed stretches pooled: their inferences per second ÷ the raw rate of all the pauses.
/// Stretches and raw blocks alternate every few seconds with equal numbers of runs, so a host
/// whose speed drifts over minutes weighs on both sides alike.
pub(super) fn pooled_ratio(segments: &[Segment]) -> Option<f64> {
    let (inferences, seconds) = segments.iter().fold((0u64, 0.0), |(i, t), s| (i + s.inferences, t + s.seconds));
    let raw = segments.iter().map(|s| s.raw_mean_s).sum::<f64>() / segments.len() as f64;
    (inferences > 0 && seconds > 0.0).then(|| inferences as f64 / seconds * raw)
}

/// The pipeline alternating with raw inference (see [`BenchOptions::raw_every`]), kept by the
/// detector thread.
pub(super) struct Interleave {
    pub(super) every: u64,
    pub(super) since_pause: u64,
    /// When the current stretch's timing began (after [`SETTLE_FRAMES`]), and its inferences since.
    pub(super) start: Option<Instant>,
    pub(super) inferences: u64,
    pub(super) segments: Vec<Segment>,
    pub(super) raw: Vec<Duration>,
    /// Wall time and process CPU seconds of the pauses, left out of the pipeline's numbers.
    pub(super) paused: Duration,
    pub(super) paused_cpu: f64,
}

impl Interleave {
    pub(super) fn new(every: u64) -> Self {
        Self {
            every,
            since_pause: 0,
            start: None,
            inferences: 0,
            segments: Vec::new(),
            raw: Vec::new(),
            paused: Duration::ZERO,
            paused_cpu: 0.0,
        }
    }

    /// A frame went through the detector with `inferences` runs of the model; true when it is
    /// time to pause for raw runs.
    pub(super) fn frame_done(&mut self, inferences: u64) -> bool {
        self.since_pause += 1;
        if self.start.is_some() {
            self.inferences += inferences;
        }
        if self.since_pause == SETTLE_FRAMES {
            self.start = Some(Instant::now());
            self.inferences = 0;
        }
        self.every > SETTLE_FRAMES && self.since_pause == self.every
    }

    /// Close the stretch and run as many timed raw inferences as it had frames timed, after one
    /// untimed run during which the source refills its queue and the analytics thread finishes
    /// the last frame (work that would otherwise be charged to the raw rate).
    pub(super) fn pause(&mut self, detector: &mut Detector) -> Result<()> {
        let cpu_now = || timing::process_usage().map_or(0.0, |u| u.cpu.as_secs_f64());
        let (t, cpu) = (Instant::now(), cpu_now());
        detector.raw_inference(1)?;
        let block = detector.raw_inference((self.every - SETTLE_FRAMES) as usize)?;
        let block_s: f64 = block.iter().map(Duration::as_secs_f64).sum();
        if let Some(start) = self.start.take() {
            self.segments.push(Segment {
                seconds: (t - start).as_secs_f64(),
                inferences: std::mem::take(&mut self.inferences),
                raw_mean_s: block_s / block.len().max(1) as f64,
            });
        }
        self.raw.extend(block);
        self.paused += t.elapsed();
        self.paused_cpu += cpu_now() - cpu;
        self.since_pause = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stretch_is_judged_against_the_raw_runs_around_it() {
        let seg = |seconds, inferences, raw_mean_s| Segment { seconds, inferences, raw_mean_s };
        // 10 inferences in 1.0 s against raw 0.1 s: 100 %. Then the host slows down: 10 in 1.5 s
        // against raw 0.1 s before and 0.2 s after (mean 0.15): 100 % again, where one raw rate
        // for the whole run would call it 2/3 or 4/3. A stretch with no inference says nothing.
        let r = segment_ratios(&[seg(1.0, 10, 0.1), seg(1.5, 10, 0.2), seg(0.5, 0, 0.2), seg(2.0, 10, 0.2)]);
        assert_eq!(r.len(), 3, "{r:?}");
        for (got, want) in r.iter().zip([1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-9, "{r:?}");
        }
        let slow = segment_ratios(&[seg(1.0, 10, 0.1), seg(1.0, 9, 0.1)]);
        assert!((slow[1] - 0.9).abs() < 1e-9, "{slow:?}");
        // Pooled: 30 inferences in 4.5 s against a mean raw 0.175 s.
        let pooled = pooled_ratio(&[seg(1.0, 10, 0.1), seg(1.5, 10, 0.2), seg(2.0, 10, 0.2)]);
        assert!(pooled.is_some_and(|p| (p - 30.0 / 4.5 * 0.5 / 3.0).abs() < 1e-9), "{pooled:?}");
        assert_eq!(pooled_ratio(&[]), None);
    }

    #[test]
    fn the_first_frames_after_a_pause_are_not_timed() {
        let mut il = Interleave::new(8);
        let pauses: Vec<bool> = (0..8).map(|i| il.frame_done(u64::from(i % 2 == 0))).collect();
        assert_eq!(pauses, [false, false, false, false, false, false, false, true]);
        // Timed from the 5th frame on: frames 6, 7 and 8 (indices 5..8), of which index 6 inferred.
        assert!(il.start.is_some());
        assert_eq!(il.inferences, 1);
        // Without interleaving it never pauses.
        let mut off = Interleave::new(0);
        assert!((0..100).all(|_| !off.frame_done(1)));
    }
}
