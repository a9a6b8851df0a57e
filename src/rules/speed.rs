//! Ground speed of a track from its calibrated ground points.
//!
//! The speed is the slope of a least-squares line through the ground positions of the last
//! `window_s` seconds (or, when fewer than [`MIN_POINTS`] fall in it, of the last
//! [`MIN_POINTS`] within [`MAX_WINDOW_S`]), so box jitter of a pixel or two averages out instead
//! of showing up as bursts of speed; the price is a lag of about half the window.
//!
//! A road user at 60–100 km/h is in a pole camera's view for only 1.5–2.5 s, seen in 5–12
//! detections at 3–5 detections a second, so the fit must work from as few as [`MIN_POINTS`]
//! points spanning [`MIN_SPAN_S`]. With so few points one bad box (a detection cut by the edge
//! of the picture, a box grown over a neighbour) would pull the line, so from five points on the
//! point furthest from the line is dropped when it is far beyond the others' spread, and the
//! line refitted. The fit also gives its **standard error** from the residuals along the
//! heading (side-to-side swings of a weaving rider do not count against the speed): a speed is
//! only as trustworthy as its error is small, and [`super::motion`] gives no speed where it is
//! not.

use std::collections::VecDeque;

/// The fewest points a speed is fitted to.
pub const MIN_POINTS: usize = 3;
/// The shortest time they must span, seconds.
pub const MIN_SPAN_S: f64 = 0.6;
/// How far back the fit may reach to find [`MIN_POINTS`] points, seconds.
pub const MAX_WINDOW_S: f64 = 1.5;
/// Float slack on window bounds: frame times like k/3 s do not add up exactly.
const EPS_S: f64 = 1e-6;

/// A speed fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedFit {
    /// Metres per second.
    pub mps: f64,
    /// Its standard error, metres per second.
    pub se_mps: f64,
    /// Points the line went through (after dropping an outlier) and the time they span.
    pub n: usize,
    pub span_s: f64,
    /// Time of the first of those points, and their mean time (the moment the speed is
    /// centred on: about half the span before the latest point).
    pub t_first: f64,
    pub t_mid: f64,
}

/// Means of t, x and y.
pub(super) type Means = (f64, f64, f64);

/// Least-squares line through `(t, (x, y))`: (means, velocity, Σ(t - t̄)²).
pub(super) fn line(pts: &[(f64, (f64, f64))]) -> Option<(Means, (f64, f64), f64)> {
    let nf = pts.len() as f64;
    let tm = pts.iter().map(|s| s.0).sum::<f64>() / nf;
    let xm = pts.iter().map(|s| s.1.0).sum::<f64>() / nf;
    let ym = pts.iter().map(|s| s.1.1).sum::<f64>() / nf;
    let (mut stt, mut stx, mut sty) = (0.0, 0.0, 0.0);
    for &(t, (x, y)) in pts {
        stt += (t - tm) * (t - tm);
        stx += (t - tm) * (x - xm);
        sty += (t - tm) * (y - ym);
    }
    (stt > 0.0).then(|| ((tm, xm, ym), (stx / stt, sty / stt), stt))
}

/// Residuals of the points along the fitted heading (all of the residual when standing).
fn along(pts: &[(f64, (f64, f64))], m: (f64, f64, f64), v: (f64, f64)) -> Vec<f64> {
    let speed = v.0.hypot(v.1);
    pts.iter()
        .map(|&(t, (x, y))| {
            let (rx, ry) = (x - m.1 - v.0 * (t - m.0), y - m.2 - v.1 * (t - m.0));
            if speed > 0.5 { (rx * v.0 + ry * v.1) / speed } else { rx.hypot(ry) / std::f64::consts::SQRT_2 }
        })
        .collect()
}

/// The robust fit of `pts` (time-ordered): see the module's documentation.
pub fn fit(pts: &[(f64, (f64, f64))]) -> Option<SpeedFit> {
    if pts.len() < MIN_POINTS {
        return None;
    }
    let (mut m, mut v, mut stt) = line(pts)?;
    let mut r = along(pts, m, v);
    let mut kept: Vec<(f64, (f64, f64))> = pts.to_vec();
    if pts.len() > MIN_POINTS {
        let mut abs: Vec<f64> = r.iter().map(|e| e.abs()).collect();
        let worst = (0..abs.len()).max_by(|&a, &b| abs[a].total_cmp(&abs[b]))?;
        let big = abs[worst];
        abs.sort_by(f64::total_cmp);
        // Spread of the others: 1.4826 × their median absolute residual is σ for Gaussian
        // jitter; the worst point must be beyond 3σ and beyond 20 cm (jitter of a good box).
        let sigma = 1.4826 * abs[abs.len() / 2 - usize::from(abs.len().is_multiple_of(2))];
        if big > (3.0 * sigma).max(0.2) {
            kept.remove(worst);
            (m, v, stt) = line(&kept)?;
            r = along(&kept, m, v);
        }
    }
    let n = kept.len();
    let span_s = kept[n - 1].0 - kept[0].0;
    if span_s < MIN_SPAN_S - EPS_S {
        return None;
    }
    let se_mps = (r.iter().map(|e| e * e).sum::<f64>() / (n - 2) as f64 / stt).sqrt();
    Some(SpeedFit { mps: v.0.hypot(v.1), se_mps, n, span_s, t_first: kept[0].0, t_mid: m.0 })
}

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
        let keep = self.window_s.max(MAX_WINDOW_S) + EPS_S;
        while self.samples.front().is_some_and(|&(t0, _)| t - t0 > keep) {
            self.samples.pop_front();
        }
    }

    /// The points of the fit: those of the last `window_s`, or the last [`MIN_POINTS`] if
    /// they are within [`MAX_WINDOW_S`].
    fn points(&self) -> Vec<(f64, (f64, f64))> {
        let Some(&(last, _)) = self.samples.back() else { return Vec::new() };
        let n_window = self.samples.iter().filter(|s| last - s.0 <= self.window_s + EPS_S).count();
        let n_min = self.samples.iter().filter(|s| last - s.0 <= MAX_WINDOW_S + EPS_S).count().min(MIN_POINTS);
        let n = n_window.max(n_min);
        self.samples.iter().skip(self.samples.len() - n).copied().collect()
    }

    /// The fit over the current points: at least [`MIN_POINTS`] spanning [`MIN_SPAN_S`].
    pub fn fit(&self) -> Option<SpeedFit> {
        fit(&self.points())
    }

    /// Metres per second (ungated: see [`SpeedEstimator::fit`] for its error).
    pub fn speed_mps(&self) -> Option<f64> {
        self.fit().map(|f| f.mps)
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
