//! Where a track's next detection is expected, from its last few detections, allowing for
//! perspective.
//!
//! A constant-velocity model in the picture (ByteTrack's Kalman filter) is wrong for a street
//! camera at a low detect rate: a rider riding away from a pole camera slows down and shrinks in
//! the picture quickly near the camera and hardly at all far away, so at 3 detections per second
//! the linear prediction overshoots by most of a box. Under a pinhole camera, though, an object's
//! image width is inversely proportional to its depth, so with `s = 1 / w` (proportional to the
//! depth) the three quantities `s`, `cx * s` and `bottom * s` are **linear in time** for an object
//! moving in a straight line at constant speed on the ground (or on any plane), whatever the
//! camera's height, tilt or focal length. The width, not the height: seen from a pole, a
//! vehicle's box height includes its length foreshortened, which shrinks faster than `1 / depth`,
//! while its width across the road is the true scale; an object crossing the view keeps its
//! depth, so its width barely changes either way. Likewise the bottom edge (where the object
//! meets the ground), not the centre, whose height above it is foreshortened. They are fitted by least squares over the last
//! [`OBSERVATIONS`] detections and extrapolated: the prediction is observation-centric (as in
//! OC-SORT), needs no calibration, and is exact for straight constant-speed motion, approaching,
//! receding or crossing.
//!
//! Where the horizon is known (a calibrated camera) and every foot lies below it, the depth is
//! read from the foot's height below the horizon instead of the width: on a flat road that
//! height is also inversely proportional to the depth, and far away it spans many more pixels
//! (a rider 60 m from a pole camera is 13 px wide with its foot 130 px below the horizon, so a
//! pixel of jitter on the width is 8 % of its depth, on the foot under 1 %). The fit is then of
//! `s`, `cx * s` and `w * s` (the object's own width for its depth), and the wide-angle pole's
//! far riders, predicted from two jittered widths, no longer fly off the road.
//!
//! A box cut by the picture's bottom edge (a road user entering right under the camera) has no
//! foot in the picture: its bottom is the edge, well above where the object meets the ground,
//! and a fit through it predicts the object slower than it is. Where the horizon is known (a
//! calibrated camera), the foot's height below the horizon is the object's own multiple of its
//! width, whatever its distance; so a cut box's foot is put back where that multiple, taken from
//! the track's whole boxes, places it.
//!
//! Plain computation, no I/O.

use crate::detect::types::BBox;

/// Detections kept per track for the fit: about a second at 3–5 detections per second, so
/// braking or a bend shows within a second and box jitter averages out.
pub const OBSERVATIONS: usize = 4;

/// [`Observations::still_box`] judges from at least this many detections…
pub const STILL_MIN_OBS: usize = 3;
/// … whose feet all lie within this many box heights of their mean…
pub const STILL_SPREAD_H: f32 = 0.1;
/// … spanning at least this many seconds (over less, a person walking slowly moves less than
/// the detector's jitter: at 10 detections a second people in a crowd were taken for standing
/// and their tracks broke)…
pub const STILL_MIN_SPAN_S: f64 = 0.6;
/// … and whose boxes are at least this tall, pixels. A tenth of a smaller box is a pixel or two,
/// the detector's own jitter, and a road user far away moving a few pixels a second (a rider
/// 60 m from a wide-angle pole camera is 25 px tall) would read as standing.
pub const STILL_MIN_H_PX: f32 = 40.0;

/// A box may not be predicted to grow more than this factor past its last detection (an
/// object approaching so fast that `s` would reach zero).
const MAX_GROWTH: f32 = 3.0;

/// The depth is read from the foot's height below the horizon only when every foot lies at
/// least this many pixels below it; nearer the horizon a pixel of jitter is too much depth.
const MIN_BELOW_PX: f32 = 4.0;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Obs {
    t: f64,
    cx: f32,
    bottom: f32,
    w: f32,
    /// Height over width.
    tallness: f32,
    /// Cut by the picture's bottom edge: `bottom` is the edge, not the foot.
    cut: bool,
}

/// The last [`OBSERVATIONS`] detected boxes of a track, with their times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    buf: [Obs; OBSERVATIONS],
    len: usize,
    /// Index of the oldest entry once full.
    head: usize,
}

impl Observations {
    /// Adds a detected box at time `t` (non-decreasing), `cut` if the picture's bottom edge
    /// cuts it; boxes without area are ignored.
    pub fn push(&mut self, t: f64, b: &BBox, cut: bool) {
        let h = b.y2 - b.y1;
        let w = b.x2 - b.x1;
        if !(h > 0.0 && w > 0.0 && h.is_finite() && w.is_finite() && t.is_finite()) {
            return;
        }
        let o = Obs { t, cx: (b.x1 + b.x2) * 0.5, bottom: b.y2, w, tallness: h / w, cut };
        if self.len < OBSERVATIONS {
            self.buf[self.len] = o;
            self.len += 1;
        } else {
            self.buf[self.head] = o;
            self.head = (self.head + 1) % OBSERVATIONS;
        }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &Obs> {
        let (a, b) = self.buf[..self.len].split_at(if self.len == OBSERVATIONS { self.head } else { self.len });
        b.iter().chain(a.iter())
    }

    /// The kept detections, oldest first: time, bottom centre (as [`BBox::bottom_center`]
    /// gives it) and box height.
    pub fn feet(&self) -> impl DoubleEndedIterator<Item = (f64, (f32, f32), f32)> + '_ {
        self.iter().map(|o| (o.t, (o.cx, o.bottom), o.tallness * o.w))
    }

    fn last(&self) -> Option<&Obs> {
        self.iter().next_back()
    }

    /// Whether the latest box was cut by the picture's bottom edge.
    pub fn last_cut(&self) -> bool {
        self.last().is_some_and(|o| o.cut)
    }

    /// The box expected at time `t`; None with fewer than two detections at different times.
    /// `horizon` (`y = slope * x + intercept`), where known, places the feet of cut boxes.
    pub fn predict(&self, t: f64, horizon: Option<(f32, f32)>) -> Option<BBox> {
        self.predict_with_spread(t, horizon).map(|(b, _)| b)
    }

    /// Where an object stands, if its kept detections say it stands: the mean of their boxes,
    /// when there are at least [`STILL_MIN_OBS`] spanning [`STILL_MIN_SPAN_S`] and every foot
    /// lies within [`STILL_SPREAD_H`] of the mean box's height from the mean foot, none cut by
    /// the picture's bottom edge. The detector's jitter averaged: a filtered box follows the
    /// jitter of its size too.
    pub fn still_box(&self) -> Option<BBox> {
        if self.len < STILL_MIN_OBS {
            return None;
        }
        let n = self.len as f32;
        let (mut sum, mut foot) = ([0.0f32; 4], (0.0f32, 0.0f32));
        for o in self.iter() {
            let h = o.tallness * o.w;
            let b = [o.cx - o.w * 0.5, o.bottom - h, o.cx + o.w * 0.5, o.bottom];
            for k in 0..4 {
                sum[k] += b[k] / n;
            }
            foot = (foot.0 + o.cx / n, foot.1 + o.bottom / n);
        }
        let h = sum[3] - sum[1];
        let reach = STILL_SPREAD_H * h;
        let span = self.last().map_or(0.0, |l| l.t) - self.iter().next().map_or(0.0, |f| f.t);
        // A box cut by the picture's bottom edge has the edge for its foot, which stays put
        // while the road user leaves through it.
        let still = h >= STILL_MIN_H_PX
            && !self.iter().any(|o| o.cut)
            && span >= STILL_MIN_SPAN_S - 1e-6
            && self.iter().all(|o| (o.cx - foot.0).hypot(o.bottom - foot.1) <= reach);
        still.then(|| BBox::new(sum[0], sum[1], sum[2], sum[3]))
    }

    /// The foot's height below the horizon per pixel of width, from the boxes not cut by the
    /// edge, if some are cut and some are not (see the module doc).
    fn depth_ratio(&self, horizon: Option<(f32, f32)>) -> Option<(f32, f32, f32)> {
        let (slope, intercept) = horizon?;
        if !self.iter().any(|o| o.cut) {
            return None;
        }
        let (sum, n) = self
            .iter()
            .filter(|o| !o.cut)
            .fold((0.0f32, 0u32), |(sum, n), o| (sum + (o.bottom - (slope * o.cx + intercept)) / o.w, n + 1));
        let k = sum / n as f32;
        (k.is_finite() && k > 0.0).then_some((slope, intercept, k))
    }

    /// The box expected at time `t`, and how far (pixels, root mean square) the detections'
    /// feet lie from the fitted motion: about the box jitter for an object going straight, much
    /// more for one weaving or turning, whose next position the straight fit knows less well.
    pub fn predict_with_spread(&self, t: f64, horizon: Option<(f32, f32)>) -> Option<(BBox, f32)> {
        if self.len < 2 {
            return None;
        }
        let ratio = self.depth_ratio(horizon);
        // A cut box's foot, where the whole boxes say it is; `bottom` otherwise.
        let foot = |o: &Obs| match ratio {
            Some((slope, intercept, k)) if o.cut => (slope * o.cx + intercept + k * o.w).max(o.bottom),
            _ => o.bottom,
        };
        let last = *self.last()?;
        // Where the horizon is known and every foot lies below it, the depth comes from the
        // foot's height below the horizon (see the module doc), the width is the object's own
        // multiple of it, and the fit is of `s`, `cx * s` and `w * s`.
        let below = |o: &Obs| horizon.map_or(0.0, |(slope, intercept)| foot(o) - (slope * o.cx + intercept));
        let ground = horizon.is_some() && self.iter().all(|o| below(o) >= MIN_BELOW_PX);
        let quantities = |o: &Obs| {
            if ground {
                let s = 1.0 / f64::from(below(o));
                [s, f64::from(o.cx) * s, f64::from(o.w) * s]
            } else {
                let s = 1.0 / f64::from(o.w);
                [s, f64::from(o.cx) * s, f64::from(foot(o)) * s]
            }
        };
        // The centre, foot and width from the fitted quantities.
        let unfit = |[s, cxs, q]: [f64; 3]| -> (f64, f64, f64) {
            let cx = cxs / s;
            match horizon.filter(|_| ground) {
                Some((slope, intercept)) => (cx, f64::from(slope) * cx + f64::from(intercept) + 1.0 / s, q / s),
                None => (cx, q / s, 1.0 / s),
            }
        };
        let n = self.len as f64;
        let tm = self.iter().map(|o| o.t).sum::<f64>() / n;
        let mut stt = 0.0;
        let (mut m, mut st) = ([0.0f64; 3], [0.0f64; 3]);
        for o in self.iter() {
            let v = quantities(o);
            for k in 0..3 {
                m[k] += v[k] / n;
            }
        }
        for o in self.iter() {
            let dt = o.t - tm;
            let v = quantities(o);
            stt += dt * dt;
            for k in 0..3 {
                st[k] += dt * (v[k] - m[k]);
            }
        }
        if stt <= 0.0 {
            return None;
        }
        let at_time = |k: usize, t: f64| m[k] + st[k] / stt * (t - tm);
        let mut sq = 0.0;
        for o in self.iter() {
            if at_time(0, o.t) > 0.0 {
                let (cx, bottom, _) = unfit([at_time(0, o.t), at_time(1, o.t), at_time(2, o.t)]);
                sq += (cx - f64::from(o.cx)).powi(2) + (bottom - f64::from(foot(o))).powi(2);
            }
        }
        let spread = (sq / n).sqrt() as f32;
        let s = at_time(0, t).max(quantities(&last)[0] / f64::from(MAX_GROWTH));
        let (cx, bottom, w) = unfit([s, at_time(1, t), at_time(2, t)]);
        let (cx, bottom, w) = (cx as f32, bottom as f32, w as f32);
        // The shape of the last whole box: a cut one is shorter than the object.
        let tallness = self.iter().rfind(|o| !o.cut).map_or(last.tallness, |o| o.tallness);
        let h = tallness * w;
        let b = BBox::new(cx - w * 0.5, bottom - h, cx + w * 0.5, bottom);
        let finite = b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite();
        (finite && spread.is_finite()).then_some((b, spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinhole camera 8 m up, focal 1000 px, looking along the road (horizon at y 100): the
    /// box of an object `lateral` metres to the side at distance `d`.
    fn seen(d: f32, lateral: f32) -> BBox {
        let f = 1000.0;
        let bottom = 100.0 + f * 8.0 / d;
        // Seen from above, the box's height includes the 1.9 m length foreshortened.
        let h = f * 1.6 / d + f * 8.0 * 1.9 / (d * d);
        let w = f * 0.8 / d;
        let cx = 640.0 + f * lateral / d;
        BBox::new(cx - w / 2.0, bottom - h, cx + w / 2.0, bottom)
    }

    fn foot(b: &BBox) -> (f32, f32) {
        ((b.x1 + b.x2) * 0.5, b.y2)
    }

    #[test]
    fn straight_motion_is_predicted_exactly_through_perspective() {
        // Riding away from the camera at 22 m/s, seen at 3 per second, drifting sideways.
        for (d0, v) in [(12.0f32, 22.0f32), (50.0, -22.0), (20.0, 0.0)] {
            let mut obs = Observations::default();
            for k in 0..3 {
                let t = k as f32 / 3.0;
                obs.push(t as f64, &seen(d0 + v * t, -1.5 + 0.5 * t), false);
            }
            let t = 1.0f32;
            let want = seen(d0 + v * t, -1.5 + 0.5 * t);
            let got = obs.predict(t as f64, None).expect("a prediction");
            let (g, w) = (foot(&got), foot(&want));
            assert!((g.0 - w.0).abs() < 0.5 && (g.1 - w.1).abs() < 0.5, "d0 {d0} v {v}: {got:?} vs {want:?}");
            assert!(((got.x2 - got.x1) - (want.x2 - want.x1)).abs() < 0.5);
            // The height follows the last detection's shape: a few per cent off near the camera.
            let (gh, wh) = (got.y2 - got.y1, want.y2 - want.y1);
            assert!((gh - wh).abs() < 0.15 * wh, "height {gh} vs {wh}");
        }
    }

    #[test]
    fn far_away_the_horizon_gives_the_depth_where_a_pixel_of_width_is_too_much() {
        // A rider 60 m out coming towards the camera at 25 m/s, seen twice at 3 per second: its
        // box is 13 px wide, and the detector's pixel of jitter on the width is 8 % of its depth.
        // Its foot lies 133 px below the horizon, where a pixel is under 1 %.
        let (d0, v, lateral) = (60.0f32, -25.0f32, -1.5f32);
        let jitter = |b: BBox, dw: f32| BBox { x1: b.x1 - dw / 2.0, x2: b.x2 + dw / 2.0, ..b };
        let mut obs = Observations::default();
        obs.push(0.0, &jitter(seen(d0, lateral), 1.0), false);
        obs.push(1.0 / 3.0, &jitter(seen(d0 + v / 3.0, lateral), -1.0), false);
        let want = foot(&seen(d0 + v * 4.0 / 3.0, lateral));
        let error = |horizon| {
            let got = foot(&obs.predict(4.0 / 3.0, horizon).expect("a prediction"));
            (got.0 - want.0).hypot(got.1 - want.1)
        };
        let (with, without) = (error(Some((0.0, 100.0))), error(None));
        assert!(with < 3.0, "with the horizon: {with} px off");
        assert!(without > 30.0, "from the widths: {without} px off");
    }

    #[test]
    fn the_spread_is_small_going_straight_and_large_weaving() {
        let mut straight = Observations::default();
        let mut weaving = Observations::default();
        for k in 0..4 {
            let t = k as f32 * 0.2;
            straight.push(t as f64, &seen(20.0 + 16.0 * t, 0.0), false);
            // ±1.5 m across the road, a swing every 0.6 s.
            weaving.push(t as f64, &seen(20.0 + 16.0 * t, 1.5 * (t * std::f32::consts::PI / 0.6).sin()), false);
        }
        let (_, calm) = straight.predict_with_spread(0.8, None).unwrap();
        let (_, wild) = weaving.predict_with_spread(0.8, None).unwrap();
        assert!(calm < 0.5, "{calm}");
        assert!(wild > 10.0, "{wild}");
    }

    #[test]
    fn keeps_only_the_last_observations() {
        let mut obs = Observations::default();
        // Standing for a while, then moving right at 100 px/s: the old standing boxes drop out.
        for k in 0..10 {
            obs.push(k as f64 * 0.2, &BBox::new(0.0, 0.0, 50.0, 100.0), false);
        }
        for k in 1..=OBSERVATIONS {
            let x = 20.0 * k as f32;
            obs.push(2.0 + k as f64 * 0.2, &BBox::new(x, 0.0, x + 50.0, 100.0), false);
        }
        let got = obs.predict(2.0 + (OBSERVATIONS + 1) as f64 * 0.2, None).unwrap();
        assert!((got.x1 - 20.0 * (OBSERVATIONS + 1) as f32).abs() < 1e-3, "{got:?}");
    }

    #[test]
    fn a_standing_objects_box_is_its_detections_mean_and_a_slow_ones_is_none() {
        // A car standing 90 px tall, its detections jittered by a few pixels (the jitter of the
        // simulated standing car at 3 fps): the mean of its last boxes. The first, far off, has
        // left the kept ones.
        let jitter = [(-3.0, 2.0, 1.0, -2.0), (2.0, -1.0, -2.0, 3.0), (1.0, -2.0, 3.0, 1.0), (-1.0, 1.0, -2.0, -2.0)];
        let mut obs = Observations::default();
        obs.push(-1.0 / 3.0, &BBox::new(600.0, 300.0, 700.0, 400.0), false);
        for (k, (a, b, c, d)) in jitter.into_iter().enumerate() {
            obs.push(k as f64 / 3.0, &BBox::new(693.0 + a, 63.0 + b, 771.0 + c, 155.0 + d), false);
        }
        let got = obs.still_box().expect("standing");
        let want = BBox::new(692.75, 63.0, 771.0, 155.0);
        for (g, w) in [(got.x1, want.x1), (got.y1, want.y1), (got.x2, want.x2), (got.y2, want.y2)] {
            assert!((g - w).abs() < 1e-3, "{got:?} against {want:?}");
        }
        // `n` detections `dt` apart, the k-th box given by `b(k)`, cut by the bottom edge or not.
        let kept = |n: usize, dt: f64, cut: bool, b: &dyn Fn(f32) -> BBox| {
            let mut obs = Observations::default();
            for k in 0..n {
                obs.push(k as f64 * dt, &b(k as f32), cut);
            }
            obs
        };
        let car = |_: f32| BBox::new(693.0, 63.0, 771.0, 155.0);
        // Fewer than STILL_MIN_OBS detections say nothing.
        assert_eq!(kept(STILL_MIN_OBS - 1, 1.0, false, &car).still_box(), None);
        // Nor do four at 10 a second: 0.3 s is too short to tell standing from walking slowly.
        assert_eq!(kept(4, 0.1, false, &car).still_box(), None);
        // Creeping 8 px a detection (a car pulling away, or braking to its stop): its feet
        // spread over more than a tenth of its height.
        let creeping = |k: f32| BBox::new(693.0, 63.0 - 8.0 * k, 771.0, 155.0 - 8.0 * k);
        assert_eq!(kept(4, 1.0 / 3.0, false, &creeping).still_box(), None);
        // A rider far away, 25 px tall: its jitter is as much as its motion, and it is not judged.
        let far = |_: f32| BBox::new(600.0, 100.0, 612.0, 125.0);
        assert_eq!(kept(4, 1.0 / 3.0, false, &far).still_box(), None);
        // Cut by the picture's bottom edge: the edge is no foot.
        let cut = |k: f32| BBox::new(693.0, 600.0 + 10.0 * k, 771.0, 720.0);
        assert_eq!(kept(4, 1.0 / 3.0, true, &cut).still_box(), None);
    }

    #[test]
    fn needs_two_times_and_never_explodes() {
        let mut obs = Observations::default();
        assert_eq!(obs.predict(1.0, None), None);
        obs.push(0.0, &BBox::new(0.0, 0.0, 10.0, 10.0), false);
        assert_eq!(obs.predict(1.0, None), None);
        obs.push(0.0, &BBox::new(0.0, 0.0, 10.0, 10.0), false);
        assert_eq!(obs.predict(1.0, None), None);
        // Invalid boxes are ignored.
        obs.push(0.1, &BBox::new(0.0, 0.0, f32::NAN, 10.0), false);
        obs.push(0.1, &BBox::new(5.0, 5.0, 5.0, 10.0), false);
        assert_eq!(obs.predict(1.0, None), None);
        // Growing fast: doubling in 0.1 s would reach infinite size; capped at MAX_GROWTH.
        obs.push(0.1, &BBox::new(0.0, 0.0, 20.0, 20.0), false);
        let got = obs.predict(5.0, None).unwrap();
        assert!(got.x2 - got.x1 <= 20.0 * MAX_GROWTH + 1e-3, "{got:?}");
    }

    #[test]
    fn a_box_cut_by_the_bottom_edge_gets_its_foot_from_the_horizon() {
        // Riding away at 22 m/s, 5 detections a second; at 12 m the foot (y 767) is below a 720 px
        // picture, whose edge cuts the box.
        let (v, t1, t2) = (22.0f32, 0.2f32, 0.4f32);
        let cut = |b: BBox| BBox { y2: b.y2.min(720.0), ..b };
        let want = foot(&seen(12.0 + v * t2, 0.5));
        let predict = |horizon| {
            let mut obs = Observations::default();
            obs.push(0.0, &cut(seen(12.0, 0.5)), true);
            obs.push(f64::from(t1), &seen(12.0 + v * t1, 0.5), false);
            foot(&obs.predict(f64::from(t2), horizon).expect("a prediction"))
        };
        let with = predict(Some((0.0, 100.0)));
        assert!((with.1 - want.1).abs() < 1.0, "with the horizon: {with:?} vs {want:?}");
        // Without it the cut bottom reads as a foot nearer the horizon: the rider seems slower.
        let without = predict(None);
        assert!((without.1 - want.1).abs() > 10.0, "without the horizon: {without:?} vs {want:?}");
    }
}
