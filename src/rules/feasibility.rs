//! Whether a speed rule can fire on a camera at all (issue 13, item 3), for `anttd check`, and
//! where in the picture a speed can be measured, for `anttd overlay` to shade.
//!
//! A speed rule needs a track's speed, and then the speed above its threshold for `for_s`. An
//! object at exactly the threshold speed is in the rule's zone, where the picture is fine enough
//! to measure a speed, for as long as its path through that area takes: if that is shorter than
//! what the rule needs at the camera's `detect_fps` ([`view_needs_s`]: whatever the phase of the
//! detections, and with one of them missed), an object at or near the threshold cannot be relied
//! on to raise an event, however well the rest is set up. On the simulated cameras the
//! situations the speed rules miss are nearly all ones `check` warns about (docs/rules.md, the
//! scenario table's ‡). Pure computation: `crate::config::feasibility` applies it to a camera's
//! rules for `check`.

use super::racing::road_axis;
use super::speed::{MIN_POINTS, MIN_SPAN_S};
use crate::geometry::homography::Homography;
use crate::geometry::{Point, point_in_polygon};

/// Detections a speed needs: [`MIN_POINTS`] of them, spanning at least [`MIN_SPAN_S`] (the
/// first fit [`super::speed`] accepts).
pub const MIN_SPEED_SAMPLES: u32 = MIN_POINTS as u32;

pub use super::kinematics::measurable;

/// Side of the square blocks [`measurable_mask`] decides at once, pixels.
pub const MASK_BLOCK: u32 = 8;

/// Which pixels of a `width` × `height` picture are [`measurable`] (at the pixel's centre), for
/// `anttd overlay` to shade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurableMask {
    pub width: u32,
    pub height: u32,
    /// Row by row: pixel (x, y) at `y * width + x`.
    cells: Vec<bool>,
}

impl MeasurableMask {
    /// Whether pixel (x, y) is measurable; `false` outside the picture.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.cells[(y as usize) * (self.width as usize) + x as usize]
    }

    /// How many pixels are measurable.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|&&c| c).count()
    }
}

/// The measurable area of a `width` × `height` picture. Cheap: the area is bounded by one smooth
/// curve (where a pixel spans [`MAX_M_PER_PX`]) and the horizon, so each [`MASK_BLOCK`]-square
/// block whose four corner pixels agree is filled with their answer, and only blocks the boundary
/// crosses are tested pixel by pixel: measured on the docs' example calibration, 2 ms for
/// 1280 × 720 (5 ms for 1920 × 1080) against 23 ms (45 ms) pixel by pixel, with the same answer.
/// One test per row would be cheaper still but wrong on 1–2 % of the pixels even there: the
/// limit is not a row.
pub fn measurable_mask(h: &Homography, width: u32, height: u32) -> MeasurableMask {
    let (w, hgt) = (width as usize, height as usize);
    let mut cells = vec![false; w * hgt];
    let at = |x: u32, y: u32| measurable(h, (x as f32 + 0.5, y as f32 + 0.5));
    for by in (0..height).step_by(MASK_BLOCK as usize) {
        let y1 = (by + MASK_BLOCK).min(height) - 1;
        for bx in (0..width).step_by(MASK_BLOCK as usize) {
            let x1 = (bx + MASK_BLOCK).min(width) - 1;
            let corners = [at(bx, by), at(x1, by), at(bx, y1), at(x1, y1)];
            let uniform = corners.iter().all(|&c| c == corners[0]);
            for y in by..=y1 {
                for x in bx..=x1 {
                    cells[(y as usize) * w + x as usize] = if uniform { corners[0] } else { at(x, y) };
                }
            }
        }
    }
    MeasurableMask { width, height, cells }
}

/// Seconds of track a speed takes at `fps` detections a second: the samples must span
/// [`MIN_SPAN_S`], and [`MIN_SPEED_SAMPLES`] samples span that many frames less one.
pub fn speed_needs_s(fps: u32) -> f64 {
    let frames = f64::from(MIN_SPEED_SAMPLES.saturating_sub(1)) / f64::from(fps.max(1));
    MIN_SPAN_S.max(frames)
}

/// Detections a detector may miss in a rule's view and the rule still fire ([`view_needs_s`]):
/// a real detector misses a box now and then, and one miss in a 4–6 detection view is common
/// (the simulator's detector misses 8–15 % of them).
pub const MISSES_ALLOWED: u32 = 1;

/// Seconds an object must be in view for a rule that needs a speed and then `for_s` more, at
/// `fps` detections a second, whatever the phase of the detections: the speed's frames
/// ([`speed_needs_s`]) and `for_s`, in whole intervals between detections; one more interval,
/// as the first detection comes up to an interval after the object enters; and one more per
/// missed detection ([`MISSES_ALLOWED`]).
pub fn view_needs_s(fps: u32, for_s: f64, misses: u32) -> f64 {
    let speed_s = speed_needs_s(fps);
    let fps = f64::from(fps.max(1));
    // Whole intervals, with a little slack so that 0.6 s at 5 fps is 3 intervals, not 4.
    let intervals = |s: f64| (s * fps - 1e-6).ceil().max(0.0);
    (intervals(speed_s) + intervals(for_s) + 1.0 + f64::from(misses)) / fps
}

/// Sideways acceleration a rider can weave with, m/s²: about 1 g, a motorcycle leaning 45°.
pub const WEAVE_MAX_ACCEL_MPS2: f64 = 9.81;

/// The shortest swing period (seconds) of a weave of ± `amplitude_m` at
/// [`WEAVE_MAX_ACCEL_MPS2`] (a sine: its peak acceleration is `amplitude × (2π / period)²`), and
/// how long a rider weaving so is in view before `swings` reversals show: a reversal every half
/// period, after a first swing out, `(2 × swings + 1) / 4` periods in the best phase (1.25 for
/// two, what the simulator's weaver needs). A wider weave is slower, so this is the least any
/// weaver needs.
pub fn weave_needs_s(amplitude_m: f64, swings: u32) -> (f64, f64) {
    let period = std::f64::consts::TAU * (amplitude_m.max(0.0) / WEAVE_MAX_ACCEL_MPS2).sqrt();
    (period, f64::from(2 * swings + 1) / 4.0 * period)
}

/// The longest straight path on the ground (metres) inside both the zone (`polygon`, image
/// pixels) and the measurable area, over parallel paths across the zone: along the road where
/// the zone is drawn along one ([`road_axis`]: that is how traffic crosses it), else along its
/// longest ground extent (the two zone corners furthest apart on the ground).
pub fn measurable_path_m(h: &Homography, polygon: &[Point]) -> f64 {
    // Corners at or beyond the horizon have no ground point; nothing there is measurable.
    let ground: Vec<(f64, f64)> = polygon.iter().filter_map(|&p| h.to_ground(p)).collect();
    let Some(dir) = road_axis(h, polygon).or_else(|| farthest_apart(&ground)) else {
        return 0.0;
    };
    let normal = (-dir.1, dir.0);
    let along = |g: (f64, f64)| g.0 * dir.0 + g.1 * dir.1;
    let across = |g: (f64, f64)| g.0 * normal.0 + g.1 * normal.1;
    let span = |f: &dyn Fn((f64, f64)) -> f64| {
        ground.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &g| (lo.min(f(g)), hi.max(f(g))))
    };
    let ((s0, s1), (o0, o1)) = (span(&along), span(&across));
    // Within 500 m, in at most 2000 steps of at least 10 cm.
    let len = (s1 - s0).min(500.0);
    let step = (len / 2000.0).max(0.1);
    let mut best: f64 = 0.0;
    const PATHS: usize = 21;
    for k in 0..PATHS {
        let o = o0 + (o1 - o0) * (k as f64 + 0.5) / PATHS as f64;
        let mut run: f64 = 0.0;
        let mut s = s0;
        while s <= s0 + len {
            let g = (dir.0 * s + normal.0 * o, dir.1 * s + normal.1 * o);
            let ok = h.to_image(g).is_some_and(|p| point_in_polygon(polygon, p) && measurable(h, p));
            run = if ok { run + step } else { 0.0 };
            best = best.max(run);
            s += step;
        }
    }
    best
}

/// The unit direction between the two ground points furthest apart; None for fewer than two
/// distinct points.
fn farthest_apart(ground: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut far = (0.0, (0.0, 0.0));
    for (i, &a) in ground.iter().enumerate() {
        for &b in &ground[i + 1..] {
            let d = (a.0 - b.0).hypot(a.1 - b.1);
            if d > far.0 {
                far = (d, ((b.0 - a.0) / d, (b.1 - a.1) / d));
            }
        }
    }
    (far.0 > 0.0).then_some(far.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::homography::tests::flat;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<Point> {
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    }

    #[test]
    fn a_speed_takes_the_minimum_span_or_three_detections() {
        assert!((speed_needs_s(10) - MIN_SPAN_S).abs() < 1e-9);
        assert!((speed_needs_s(5) - MIN_SPAN_S).abs() < 1e-9);
        // At 2 fps three detections span 1 s.
        assert!((speed_needs_s(2) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_view_needs_whole_intervals_the_first_detection_s_phase_and_the_misses() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // 5 fps: a speed is 3 intervals (0.6 s), not 4.
        assert!(close(view_needs_s(5, 0.0, 0), 0.8));
        assert!(close(view_needs_s(5, 0.0, 1), 1.0));
        // for_s 0.5 at 5 fps is 3 intervals (rounded up from 2.5).
        assert!(close(view_needs_s(5, 0.5, 1), 8.0 / 5.0));
        // 3 fps: three detections are 2 intervals.
        assert!(close(view_needs_s(3, 0.0, 1), 4.0 / 3.0));
        assert!(close(view_needs_s(10, 0.0, 1), 0.8));
    }

    #[test]
    fn the_path_runs_along_the_road_or_the_longest_extent_where_fine_enough() {
        let h = flat(0.1);
        // 50 m × 4 m of road: the path runs along the 50 m (within a step or two).
        let got = measurable_path_m(&h, &rect(0.0, 0.0, 500.0, 40.0));
        assert!((got - 50.0).abs() < 0.3, "{got}");
        // 50 m × 20 m, drawn along the road: traffic crosses it along the 50 m, not along the
        // 54 m diagonal. A square has no road direction: its diagonal it is.
        let got = measurable_path_m(&h, &rect(0.0, 0.0, 500.0, 200.0));
        assert!((got - 50.0).abs() < 0.3, "{got}");
        let got = measurable_path_m(&h, &rect(0.0, 0.0, 200.0, 200.0));
        assert!((got - 20.0 * 2f64.sqrt()).abs() < 0.5, "{got}");
        // A pixel spanning 2 m: nothing is measurable.
        let coarse = flat(2.0);
        assert_eq!(measurable_path_m(&coarse, &rect(0.0, 0.0, 50.0, 4.0)), 0.0);
        assert!(measurable(&h, (10.0, 10.0)) && !measurable(&coarse, (1.0, 1.0)));
    }

    /// The docs' example calibration on a 1280 × 720 picture: a road seen in perspective, pixels
    /// coarse towards the top.
    fn road() -> Homography {
        Homography::from_pairs(
            &[[440.0, 700.0], [840.0, 700.0], [700.0, 160.0], [560.0, 160.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit")
    }

    fn brute_force(h: &Homography, width: u32, height: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..height {
            for x in 0..width {
                if measurable(h, (x as f32 + 0.5, y as f32 + 0.5)) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    fn listed(m: &MeasurableMask) -> Vec<(u32, u32)> {
        (0..m.height).flat_map(|y| (0..m.width).map(move |x| (x, y))).filter(|&(x, y)| m.get(x, y)).collect()
    }

    #[test]
    fn the_mask_by_blocks_is_the_pixel_by_pixel_test() {
        // Perspective, a picture size that is no multiple of the block, and the same road turned
        // a little (so the boundary is not a row).
        let turned = Homography::from_pairs(
            &[[400.0, 690.0], [800.0, 710.0], [690.0, 170.0], [550.0, 150.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit");
        for (h, w, hgt) in [(road(), 1280, 720), (road(), 1283, 717), (turned, 1280, 720)] {
            let m = measurable_mask(&h, w, hgt);
            let want = brute_force(&h, w, hgt);
            assert_eq!(listed(&m), want);
            let n = want.len();
            assert!(n > 0 && n < (w * hgt) as usize, "{n}: both parts are in the picture");
            assert_eq!(m.count(), n);
        }
        // Near the camera (bottom) measurable, towards the horizon (top) not.
        let m = measurable_mask(&road(), 1280, 720);
        assert!(m.get(640, 700) && !m.get(640, 5));
        assert!(!m.get(1280, 700) && !m.get(0, 720), "outside the picture");
        // Everything at 10 px a metre; nothing at 2 m a pixel.
        assert_eq!(measurable_mask(&flat(0.1), 50, 30).count(), 1500);
        let coarse = flat(2.0);
        assert_eq!(measurable_mask(&coarse, 50, 30).count(), 0);
        assert_eq!(measurable_mask(&flat(0.1), 0, 0).count(), 0);
    }
}
