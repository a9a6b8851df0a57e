//! Ground speed of a track from its calibrated ground points.
//!
//! The speed is the slope of a least-squares line through the ground positions of the last
//! `window_s` seconds, so box jitter of a pixel or two averages out instead of showing up as
//! bursts of speed; the price is a lag of about half the window.

use std::collections::VecDeque;

/// One track's recent ground points.
#[derive(Debug, Clone)]
pub struct SpeedEstimator {
    window_s: f64,
    samples: VecDeque<(f64, (f64, f64))>,
}

impl SpeedEstimator {
    pub fn new(window_s: f64) -> Self {
        Self { window_s, samples: VecDeque::new() }
    }

    /// Add the ground point (metres) at time `t` (seconds, increasing).
    pub fn push(&mut self, t: f64, ground: (f64, f64)) {
        self.samples.push_back((t, ground));
        while self.samples.front().is_some_and(|&(t0, _)| t - t0 > self.window_s) {
            self.samples.pop_front();
        }
    }

    /// Metres per second, once the samples span at least half the window (3 samples or more).
    pub fn speed_mps(&self) -> Option<f64> {
        let n = self.samples.len();
        let (first, last) = (self.samples.front()?.0, self.samples.back()?.0);
        if n < 3 || last - first < self.window_s / 2.0 {
            return None;
        }
        let nf = n as f64;
        let tm = self.samples.iter().map(|s| s.0).sum::<f64>() / nf;
        let xm = self.samples.iter().map(|s| s.1.0).sum::<f64>() / nf;
        let ym = self.samples.iter().map(|s| s.1.1).sum::<f64>() / nf;
        let (mut stt, mut stx, mut sty) = (0.0, 0.0, 0.0);
        for &(t, (x, y)) in &self.samples {
            stt += (t - tm) * (t - tm);
            stx += (t - tm) * (x - xm);
            sty += (t - tm) * (y - ym);
        }
        if stt <= 0.0 {
            return None;
        }
        Some((stx / stt).hypot(sty / stt))
    }

    pub fn speed_kmh(&self) -> Option<f64> {
        self.speed_mps().map(|v| v * 3.6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::{BBox, Detection};
    use crate::rules::homography::Homography;
    use crate::rules::homography::tests::{camera, corners, project};
    use crate::track::{Tracker, TrackerConfig};

    #[test]
    fn a_car_at_50_kmh_reads_50() {
        let (image, ground) = corners();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut est = SpeedEstimator::new(1.0);
        let v = 50.0 / 3.6;
        let mut readings = Vec::new();
        // 10 frames a second, up the road from 1 m to 29 m, with a pixel of box jitter.
        for i in 0.. {
            let t = f64::from(i) * 0.1;
            let y = 1.0 + v * t;
            if y > 29.0 {
                break;
            }
            let p = project((1.0, y));
            // Box size shrinks with distance, as the camera's scale does.
            let scale = 1.0 / (camera()[(2, 1)] * y + 1.0);
            let (w, hgt) = (72.0 * scale, 60.0 * scale);
            let j = if i % 2 == 0 { 1.0 } else { -1.0 };
            let (x, yb) = ((p[0] + j) as f32, (p[1] - j) as f32);
            let det = Detection {
                class_id: 2,
                score: 0.9,
                bbox: BBox::new(x - w as f32 / 2.0, yb - hgt as f32, x + w as f32 / 2.0, yb),
            };
            let out = tracker.update(t, &[det]);
            assert_eq!(out.active.len(), 1, "frame {i}");
            let g = h.to_ground(out.active[0].bbox.bottom_center()).expect("on the road");
            est.push(t, g);
            if let Some(kmh) = est.speed_kmh() {
                readings.push(kmh);
            }
        }
        assert!(readings.len() >= 10, "{readings:?}");
        // After a second of track, to let the tracker's velocity settle.
        for r in &readings[5..] {
            assert!((r - 50.0).abs() <= 1.5, "{r:.2} km/h in {readings:?}");
        }
    }

    #[test]
    fn standing_still_reads_zero_and_short_windows_read_nothing() {
        let mut est = SpeedEstimator::new(1.0);
        est.push(0.0, (1.0, 1.0));
        est.push(0.1, (1.0, 1.0));
        assert_eq!(est.speed_mps(), None, "too few samples");
        for i in 2..20 {
            // ±5 cm of jitter.
            let e = if i % 2 == 0 { 0.05 } else { -0.05 };
            est.push(f64::from(i) * 0.1, (1.0 + e, 1.0 - e));
        }
        assert!(est.speed_mps().expect("speed") < 0.2, "{:?}", est.speed_mps());
    }
}
