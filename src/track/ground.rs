//! Where the camera is calibrated, a road user cannot jump: a detection whose foot lies further
//! on the ground from a track's last detection than [`MAX_SPEED_MPS`] could take it in the time
//! unseen is not that track's, however well it fits the track's expected box.
//!
//! The expected box comes from a fit of the track's last detections in the picture
//! ([`super::perspective`]). Near the horizon a few pixels are tens of metres, and a track that
//! hopped between the tiny boxes of riders far away (each rider's own track lost at the time)
//! read as a rider approaching at hundreds of km/h: its expected box lay on a nearer rider,
//! which it took from that rider's own track, and `speeding` raised 443 km/h (simulated dense
//! traffic, wide pole at 3 fps, seed 68). In the picture nothing tells the two apart; on the
//! ground the jump is 60 m in 0.67 s.
//!
//! A foot is known only to within the detector's jitter, and a box whose lower part a road user
//! in front hides has its bottom edge above the foot. So each foot is a segment on the ground,
//! from where its bottom edge raised by the jitter puts it to where its bottom edge lowered by
//! half the box's height does ([`Foot`]), and the distance between two feet is the shortest
//! between their segments. A foot too near the horizon to lie on the ground, or a box cut by
//! the picture's bottom edge (no foot in the picture), is no gate. Half the box's height covers a
//! road user up to a third hidden; the speed allowed covers more between detections a few tenths
//! of a second apart. A standing track has no reach: it does not move, and a car standing mostly
//! hidden behind the one that ran into it has its foot further off than that.
//!
//! A track whose recent speed is known (between two of its latest detections, see
//! `super::last_speed`) moves at most
//! [`SPEED_SHARE`] times that speed plus [`SPEED_GAIN_MPS`] ([`Ground::reach`]): in dense
//! traffic on the wide pole at 5 fps (seed 93) a track of a rider riding away at 45 km/h, 10 m
//! out, took the box of a slower rider 11 m further on 0.2 s later (57 m/s: within 180 km/h
//! and the slack), and its fit read a hard braking as that rider vanished behind the first:
//! a false `collision_suspect`. A track that already took another road user's box reads that
//! step as its speed, and is not held back.
//!
//! A road user faster than [`MAX_SPEED_MPS`] (above 180 km/h) breaks its track, and the ground is
//! taken to be the calibration's plane: on a road that climbs steeply away from the camera, feet
//! near the horizon lie further apart on that plane than on the road.
//!
//! Plain computation, no I/O.

use crate::detect::types::BBox;
use crate::geometry::homography::Homography;

/// The fastest a road user may be taken to move on the ground, m/s (180 km/h).
pub const MAX_SPEED_MPS: f64 = 50.0;
/// A track whose recent ground speed is known is taken to move at most this many times that
/// speed…
pub const SPEED_SHARE: f64 = 1.5;
/// … plus this many m/s (two jittered feet, and the speed it may gain since), up to
/// [`MAX_SPEED_MPS`].
pub const SPEED_GAIN_MPS: f64 = 10.0;
/// Plus this many metres, whatever the time: a foot's jitter across the road, and the ground
/// point's own error where the calibration is a little off.
pub const SLACK_M: f64 = 2.0;
/// A box's bottom edge may lie this share of its height (at least [`JITTER_MIN_PX`]) below the
/// foot: the detector's jitter.
pub const JITTER_H: f32 = 0.1;
pub const JITTER_MIN_PX: f32 = 2.0;
/// … or this share of its height above it: a road user in front hiding its lower part.
pub const HIDDEN_H: f32 = 0.5;
/// A point nearer the horizon than this many pixels is too far to place on the ground.
const MIN_BELOW_PX: f64 = 1.0;

/// The camera's ground calibration, as the tracker uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ground {
    homography: Homography,
    /// The horizon, `y = slope * x + intercept`: the ground lies below it.
    horizon: (f64, f64),
}

/// The stretch of ground a box's foot may lie on: from `far`, where its bottom edge raised by
/// the jitter puts it, to `near`, where its bottom edge lowered by [`HIDDEN_H`] of its height
/// does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Foot {
    pub far: (f32, f32),
    pub near: (f32, f32),
}

/// How far a track's next detection may lie from its last one on the ground.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reach {
    pub from: Foot,
    pub max_m: f32,
}

impl Reach {
    /// Whether a detection with this foot lies beyond the reach.
    pub fn refuses(&self, foot: &Foot) -> bool {
        // Most pairs offered are near: two ends within reach settle it without the segments.
        let within = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2) <= self.max_m.powi(2);
        if within(self.from.near, foot.near) || within(self.from.far, foot.far) {
            return false;
        }
        segments_distance((self.from.far, self.from.near), (foot.far, foot.near)) > self.max_m
    }
}

impl Ground {
    /// From a calibration; `None` for one with no horizon (the ground seen straight down). The
    /// ground is taken to lie below the horizon in the picture, as for an upright camera.
    pub fn new(homography: Homography) -> Option<Self> {
        Some(Self { homography, horizon: homography.horizon()? })
    }

    /// Where a picture point lies on the ground, m; `None` too near the horizon.
    fn place(&self, (x, y): (f32, f32)) -> Option<(f64, f64)> {
        let below = f64::from(y) - (self.horizon.0 * f64::from(x) + self.horizon.1);
        (below >= MIN_BELOW_PX).then(|| self.homography.to_ground((x, y))).flatten()
    }

    /// Where the foot of `b` may lie on the ground; `None` when it is `cut` by the picture's
    /// bottom edge, or too near the horizon.
    pub fn foot(&self, b: &BBox, cut: bool) -> Option<Foot> {
        if cut {
            return None;
        }
        let (x, y) = b.bottom_center();
        let h = b.height();
        let place = |y: f32| self.place((x, y)).map(|g| (g.0 as f32, g.1 as f32));
        Some(Foot { far: place(y - (JITTER_H * h).max(JITTER_MIN_PX))?, near: place(y + HIDDEN_H * h)? })
    }

    /// How far from `from` a track unseen for `unseen` seconds may be: at most
    /// [`MAX_SPEED_MPS`], or, where its recent `speed` (m/s) is known, [`SPEED_SHARE`] times
    /// that plus [`SPEED_GAIN_MPS`]; plus [`SLACK_M`].
    pub fn reach(from: Foot, unseen: f64, speed: Option<f64>) -> Reach {
        let top = speed.map_or(MAX_SPEED_MPS, |v| (SPEED_SHARE * v + SPEED_GAIN_MPS).min(MAX_SPEED_MPS));
        Reach { from, max_m: (SLACK_M + top * unseen.max(0.0)) as f32 }
    }

    /// The ground speed between two feet (bottom centres) seen `dt` seconds apart, m/s; `None`
    /// for one too near the horizon.
    pub fn speed(&self, a: (f32, f32), b: (f32, f32), dt: f64) -> Option<f64> {
        let (ga, gb) = (self.place(a)?, self.place(b)?);
        (dt > 0.0).then(|| (gb.0 - ga.0).hypot(gb.1 - ga.1) / dt)
    }
}

/// The shortest distance between two segments on the ground.
fn segments_distance(a: ((f32, f32), (f32, f32)), b: ((f32, f32), (f32, f32))) -> f32 {
    let cross = |o: (f32, f32), p: (f32, f32), q: (f32, f32)| (p.0 - o.0) * (q.1 - o.1) - (p.1 - o.1) * (q.0 - o.0);
    // Proper crossing: each segment's ends lie on opposite sides of the other's line.
    let (d1, d2) = (cross(b.0, b.1, a.0), cross(b.0, b.1, a.1));
    let (d3, d4) = (cross(a.0, a.1, b.0), cross(a.0, a.1, b.1));
    if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
        return 0.0;
    }
    point_segment(a.0, b).min(point_segment(a.1, b)).min(point_segment(b.0, a)).min(point_segment(b.1, a))
}

fn point_segment(p: (f32, f32), (s, e): ((f32, f32), (f32, f32))) -> f32 {
    let (dx, dy) = (e.0 - s.0, e.1 - s.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p.0 - s.0) * dx + (p.1 - s.1) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    (p.0 - s.0 - t * dx).hypot(p.1 - s.1 - t * dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::homography::tests::{corners, project};

    #[test]
    fn segments_distance_is_the_shortest_between_any_two_of_their_points() {
        let seg = |a: (f32, f32), b: (f32, f32)| (a, b);
        // Crossing.
        assert_eq!(segments_distance(seg((0.0, 0.0), (2.0, 2.0)), seg((0.0, 2.0), (2.0, 0.0))), 0.0);
        // Parallel, side by side: the gap between them.
        assert!((segments_distance(seg((0.0, 0.0), (0.0, 5.0)), seg((3.0, 1.0), (3.0, 4.0))) - 3.0).abs() < 1e-5);
        // In a line, one after the other: end to end.
        assert!((segments_distance(seg((0.0, 0.0), (0.0, 5.0)), seg((0.0, 9.0), (0.0, 20.0))) - 4.0).abs() < 1e-5);
        // A point (both ends equal) off a segment's middle.
        assert!((segments_distance(seg((1.0, 1.0), (1.0, 1.0)), seg((0.0, 0.0), (4.0, 0.0))) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_foot_further_on_the_ground_than_the_speed_allows_is_out_of_reach() {
        // A camera looking down a road (see `camera`): Y = 0 m at the picture's bottom edge.
        let (image, ground) = corners();
        let ground = Ground::new(Homography::from_pairs(&image, &ground).expect("fit")).expect("a horizon");
        let at = |y_m: f64, h: f32| {
            let [x, y] = project((0.0, y_m));
            let (x, y) = (x as f32, y as f32);
            BBox::new(x - h / 4.0, y - h, x + h / 4.0, y)
        };
        let far = ground.foot(&at(30.0, 20.0), false).expect("on the ground");
        let near = ground.foot(&at(3.0, 80.0), false).expect("on the ground");
        let gap = segments_distance((far.far, far.near), (near.far, near.near));
        assert!(gap > 15.0 && gap < 27.0, "{gap} m");
        // A fifth of a second is not enough to cover it, half a second is.
        assert!(Ground::reach(far, 0.2, None).refuses(&near));
        assert!(!Ground::reach(far, 0.5, None).refuses(&near));
        // Its own next box, a metre on: always within reach.
        let next = ground.foot(&at(29.0, 21.0), false).expect("on the ground");
        assert!(!Ground::reach(far, 0.0, None).refuses(&next));
        // No foot where the box is cut by the bottom edge, or at the horizon.
        assert_eq!(ground.foot(&at(3.0, 80.0), true), None);
        let (slope, intercept) = ground.horizon;
        let y = (slope * 640.0 + intercept) as f32;
        assert_eq!(ground.foot(&BBox::new(630.0, y - 10.0, 650.0, y + 0.5), false), None);
    }

    #[test]
    fn a_track_of_known_speed_reaches_only_as_far_as_that_speed_allows() {
        let (image, ground) = corners();
        let ground = Ground::new(Homography::from_pairs(&image, &ground).expect("fit")).expect("a horizon");
        let foot_at = |y_m: f64| {
            let [x, y] = project((0.0, y_m));
            (x as f32, y as f32)
        };
        let at = |y_m: f64, h: f32| {
            let (x, y) = foot_at(y_m);
            BBox::new(x - h / 4.0, y - h, x + h / 4.0, y)
        };
        // 2.5 m in 0.2 s between its last two detections: 12.5 m/s.
        let speed = ground.speed(foot_at(7.5), foot_at(10.0), 0.2).expect("a speed");
        assert!((speed - 12.5).abs() < 0.1, "{speed} m/s");
        let from = ground.foot(&at(10.0, 60.0), false).expect("on the ground");
        // Another road user 11 m further on 0.2 s later: 57 m/s, within the speed of anything
        // on the road, not within this one's (1.5 × 12.5 + 10 m/s, plus the slack).
        let other = ground.foot(&at(21.0, 40.0), false).expect("on the ground");
        assert!(!Ground::reach(from, 0.2, None).refuses(&other));
        assert!(Ground::reach(from, 0.2, Some(speed)).refuses(&other));
        // Its own next box, 2.5 m on, and one a little faster than before: within reach.
        for y_m in [12.5, 14.0] {
            let next = ground.foot(&at(y_m, 55.0), false).expect("on the ground");
            assert!(!Ground::reach(from, 0.2, Some(speed)).refuses(&next), "{y_m} m");
        }
        // Never further than the speed of anything on the road.
        assert_eq!(Ground::reach(from, 1.0, Some(100.0)), Ground::reach(from, 1.0, None));
        // No speed from a foot at the horizon.
        let (slope, intercept) = ground.horizon;
        let y = (slope * 640.0 + intercept) as f32;
        assert_eq!(ground.speed((640.0, y + 0.5), foot_at(10.0), 0.2), None);
    }
}
