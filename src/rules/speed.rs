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
//!
//! **The error is never smaller than the points' own spread allows** ([`Fix::sd`]). A pixel of
//! box jitter is centimetres on the ground near the camera and most of a metre 60 m out. With
//! 3–10 points the residuals often happen to line up, and their error alone then reads several
//! times too small: on the wide pole at 10 detections a second a motorcycle at 90 km/h read
//! 96.3 ± 1.4 km/h from points 45–67 m out, and `speeding`, which starts on the first reading
//! precise enough, picked exactly such readings. So the error is the larger of the residuals'
//! and the one the points' spreads give. (Weighing the line itself by those spreads was tried:
//! it trusts the near points so much that a box grown over a neighbour in dense traffic, which
//! no jitter model foresees, made false collision and speeding alarms.)

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

/// A measured ground position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Seconds.
    pub t: f64,
    /// Metres on the ground.
    pub g: (f64, f64),
    /// How far off it may be, metres (a standard deviation): the fit's error is never smaller
    /// than these give (0 leaves the error to the residuals).
    pub sd: f64,
}

/// Least-squares line through `(t, (x, y))`: (means, velocity, Σ(t - t̄)²).
fn line_of(pts: impl Iterator<Item = (f64, (f64, f64))> + Clone) -> Option<(Means, (f64, f64), f64)> {
    let (mut n, mut tm, mut xm, mut ym) = (0.0, 0.0, 0.0, 0.0);
    for (t, (x, y)) in pts.clone() {
        n += 1.0;
        tm += t;
        xm += x;
        ym += y;
    }
    if n == 0.0 {
        return None;
    }
    (tm, xm, ym) = (tm / n, xm / n, ym / n);
    let (mut stt, mut stx, mut sty) = (0.0, 0.0, 0.0);
    for (t, (x, y)) in pts {
        stt += (t - tm) * (t - tm);
        stx += (t - tm) * (x - xm);
        sty += (t - tm) * (y - ym);
    }
    (stt > 0.0).then(|| ((tm, xm, ym), (stx / stt, sty / stt), stt))
}

/// Least-squares line through `(t, (x, y))`: (means, velocity, Σ(t - t̄)²).
pub(super) fn line(pts: &[(f64, (f64, f64))]) -> Option<(Means, (f64, f64), f64)> {
    line_of(pts.iter().copied())
}

fn fix_line(pts: &[Fix]) -> Option<(Means, (f64, f64), f64)> {
    line_of(pts.iter().map(|f| (f.t, f.g)))
}

/// Residuals of the points along the fitted heading (all of the residual when standing).
fn along(pts: &[Fix], m: (f64, f64, f64), v: (f64, f64)) -> Vec<f64> {
    let speed = v.0.hypot(v.1);
    pts.iter()
        .map(|f| {
            let (t, (x, y)) = (f.t, f.g);
            let (rx, ry) = (x - m.1 - v.0 * (t - m.0), y - m.2 - v.1 * (t - m.0));
            if speed > 0.5 { (rx * v.0 + ry * v.1) / speed } else { rx.hypot(ry) / std::f64::consts::SQRT_2 }
        })
        .collect()
}

/// The robust fit of `pts` (time-ordered): see the module's documentation.
pub fn fit(pts: &[Fix]) -> Option<SpeedFit> {
    if pts.len() < MIN_POINTS {
        return None;
    }
    let (mut m, mut v, mut stt) = fix_line(pts)?;
    let mut r = along(pts, m, v);
    let mut kept: Vec<Fix> = pts.to_vec();
    if pts.len() > MIN_POINTS {
        // Residuals in units of each point's own spread, where the points have one: a 0.5 m
        // residual is jitter 60 m out and a bad box 10 m out.
        let unit = |f: &Fix| if f.sd > 0.0 { f.sd } else { 1.0 };
        let mut z: Vec<f64> = r.iter().zip(pts).map(|(e, f)| (e / unit(f)).abs()).collect();
        let worst = (0..z.len()).max_by(|&a, &b| z[a].total_cmp(&z[b]))?;
        let big = z[worst];
        z.sort_by(f64::total_cmp);
        // Spread of the others: 1.4826 × their median absolute residual is σ for Gaussian
        // jitter; the worst point must be beyond 3σ and beyond 20 cm (jitter of a good box).
        let sigma = 1.4826 * z[z.len() / 2 - usize::from(z.len().is_multiple_of(2))];
        if big > 3.0 * sigma && r[worst].abs() > 0.2 {
            kept.remove(worst);
            (m, v, stt) = fix_line(&kept)?;
            r = along(&kept, m, v);
        }
    }
    let n = kept.len();
    let span_s = kept[n - 1].t - kept[0].t;
    if span_s < MIN_SPAN_S - EPS_S {
        return None;
    }
    let residual = r.iter().map(|e| e * e).sum::<f64>() / (n - 2) as f64 / stt;
    // The slope's variance from the points' own spreads: Σ(t - t̄)²σ² / (Σ(t - t̄)²)².
    let spread = kept.iter().map(|f| (f.t - m.0).powi(2) * f.sd * f.sd).sum::<f64>() / (stt * stt);
    let se_mps = residual.max(spread).sqrt();
    Some(SpeedFit { mps: v.0.hypot(v.1), se_mps, n, span_s, t_first: kept[0].t, t_mid: m.0 })
}

/// One track's recent ground points.
#[derive(Debug, Clone)]
pub struct SpeedEstimator {
    window_s: f64,
    samples: VecDeque<Fix>,
}

impl SpeedEstimator {
    pub fn new(window_s: f64) -> Self {
        Self { window_s, samples: VecDeque::new() }
    }

    /// Add a ground point (times increasing).
    pub fn push(&mut self, fix: Fix) {
        let t = fix.t;
        self.samples.push_back(fix);
        let keep = self.window_s.max(MAX_WINDOW_S) + EPS_S;
        while self.samples.front().is_some_and(|f| t - f.t > keep) {
            self.samples.pop_front();
        }
    }

    /// The points of the fit: those of the last `window_s`, or the last [`MIN_POINTS`] if
    /// they are within [`MAX_WINDOW_S`].
    fn points(&self) -> Vec<Fix> {
        let Some(last) = self.samples.back().map(|f| f.t) else { return Vec::new() };
        let n_window = self.samples.iter().filter(|s| last - s.t <= self.window_s + EPS_S).count();
        let n_min = self.samples.iter().filter(|s| last - s.t <= MAX_WINDOW_S + EPS_S).count().min(MIN_POINTS);
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
    use crate::geometry::homography::Homography;
    use crate::geometry::homography::tests::{camera, corners, project};
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
            est.push(Fix { t, g, sd: 0.0 });
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

    /// Points that happen to lie on a line have no residuals; their error is still what their
    /// spreads give, and the residuals' when those are larger.
    #[test]
    fn the_error_is_never_smaller_than_the_points_spreads_give() {
        let at = |sd: f64, e: [f64; 4]| -> Vec<Fix> {
            (0..4)
                .map(|i| Fix { t: f64::from(i) / 3.0, g: (25.0 * f64::from(i) / 3.0 + e[i as usize], 0.0), sd })
                .collect()
        };
        // Σ(t - t̄)² of 0, 1/3, 2/3, 1 s: 5/9.
        let stt = 5.0 / 9.0_f64;
        let f = fit(&at(0.5, [0.0; 4])).expect("fit");
        assert!((f.mps - 25.0).abs() < 1e-9, "{f:?}");
        assert!((f.se_mps - 0.5 / stt.sqrt()).abs() < 1e-9, "{f:?}");
        // Without a spread, the residuals alone: none here.
        assert!(fit(&at(0.0, [0.0; 4])).expect("fit").se_mps < 1e-9);
        // Residuals of a metre say more than a spread of 5 cm.
        let f = fit(&at(0.05, [1.0, -1.0, -1.0, 1.0])).expect("fit");
        let residual = (4.0 / 2.0 / stt).sqrt();
        assert!((f.se_mps - residual).abs() < 1e-9, "{f:?} against {residual}");
    }

    /// A bad box is judged against its own point's spread: half a metre off is jitter 60 m out
    /// and a bad box 10 m out.
    #[test]
    fn an_outlier_is_judged_against_its_own_spread() {
        // 20 m/s, 5 points a second: the first four far (0.6 m of spread, off by up to 0.5 m),
        // the last two near (5 cm of spread), the last 0.45 m off.
        let e = [0.4, -0.5, 0.5, -0.4, 0.0, 0.45];
        let sd = [0.6, 0.6, 0.6, 0.6, 0.05, 0.05];
        let pts: Vec<Fix> = (0..6)
            .map(|i| Fix { t: 0.2 * f64::from(i), g: (4.0 * f64::from(i) + e[i as usize], 0.0), sd: sd[i as usize] })
            .collect();
        let f = fit(&pts).expect("fit");
        assert_eq!((f.n, f.span_s), (5, 0.8), "the near point dropped: {f:?}");
    }

    #[test]
    fn standing_still_reads_zero_and_short_windows_read_nothing() {
        let mut est = SpeedEstimator::new(1.0);
        est.push(Fix { t: 0.0, g: (1.0, 1.0), sd: 0.0 });
        est.push(Fix { t: 0.1, g: (1.0, 1.0), sd: 0.0 });
        assert_eq!(est.speed_mps(), None, "too few samples");
        for i in 2..20 {
            // ±5 cm of jitter.
            let e = if i % 2 == 0 { 0.05 } else { -0.05 };
            est.push(Fix { t: f64::from(i) * 0.1, g: (1.0 + e, 1.0 - e), sd: 0.0 });
        }
        assert!(est.speed_mps().expect("speed") < 0.2, "{:?}", est.speed_mps());
    }
}
