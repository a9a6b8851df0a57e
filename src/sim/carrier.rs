//! A model of the box carrier ([`crate::track::carry`]) on the decoded frames between two
//! detections: what the rules would get if the boxes the detector found were followed on every
//! decoded frame. It measures what carrying is worth before the daemon does it; the daemon does
//! not carry yet.
//!
//! The model follows each box the detector found at its last frame on a road user, as the
//! carrier follows it: the road user's true box, off by what the detection was off (the carrier
//! starts from the detector's box), with edges that drift further from frame to frame since
//! the detection (a random walk), unless it is too small to carry, a third or more hidden by
//! nearer road users (the carrier's points no longer come back), or the carrier refuses it at
//! random.
//! The numbers are those measured on vtest.avi (`tests/it/carry_vtest.rs`): 129 of 149 boxes
//! carried through four frames (a refusal in about 4 % of frames), the foot's median error 1.8 %
//! of the box's height after one frame and 3.5 % after four (as a random walk's, growing with
//! the square root of the frames). The drift per frame, [`CarrierModel::drift`], is set above
//! what those medians give (they compare with the detector's own jittered box, and a median of
//! a spread is below its standard deviation): 2 % of the box's size per edge. A refused frame
//! only loses that frame's box: the carrier starts again from the track's box at the next.
//!
//! Carried boxes are recorded as the daemon's carrier gives them, each naming the detection it
//! was carried from (`replay::CarriedBox`), and the analytics hand them to the track that
//! detection went to (`Tracker::carry`).

use std::collections::HashMap;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::actors::Seen;
use super::detector::{covered_share, jittered};
use crate::detect::BBox;
use crate::rules::kinematics::CARRY_DRIFT_SHARE;

/// The carrier's habits, as measured on real video.
#[derive(Debug, Clone, PartialEq)]
pub struct CarrierModel {
    /// Chance a box is refused in a frame.
    pub refusal: f64,
    /// Edge drift per frame since the last detection: standard deviation as a share of the
    /// box's width or height…
    pub drift: f64,
    /// … at least this many pixels.
    pub min_jitter_px: f64,
    /// Hidden by nearer road users by this share or more: refused.
    pub hidden: f64,
    /// The inner part the carrier follows must be at least this many pixels a side (60 % of the
    /// box's width, 70 % of its height: [`crate::track::carry`]).
    pub min_inner_px: f64,
}

impl Default for CarrierModel {
    fn default() -> Self {
        Self { refusal: 0.04, drift: CARRY_DRIFT_SHARE, min_jitter_px: 0.5, hidden: 0.3, min_inner_px: 4.0 }
    }
}

/// A detection of the last detected frame that found a road user: what the carrier follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Followed {
    /// Its index among that frame's detections.
    pub from: usize,
    pub actor: usize,
    /// How far its edges were off the road user's true box (x1, y1, x2, y2), as shares of the
    /// box's width and height.
    pub offset: [f64; 4],
}

impl Followed {
    /// Detection `from`, box `det`, found the road user seen as `truth`.
    pub fn new(from: usize, det: &BBox, truth: &Seen) -> Self {
        let [x1, y1, x2, y2] = truth.bbox;
        let (w, h) = ((x2 - x1).max(1e-9), (y2 - y1).max(1e-9));
        let offset = [
            (f64::from(det.x1) - x1) / w,
            (f64::from(det.y1) - y1) / h,
            (f64::from(det.x2) - x2) / w,
            (f64::from(det.y2) - y2) / h,
        ];
        Self { from, actor: truth.actor, offset }
    }
}

pub struct SimCarrier {
    model: CarrierModel,
    rng: ChaCha8Rng,
    /// Per detection followed, the sum of its edges' standard normal steps since it.
    walk: HashMap<usize, [f64; 4]>,
}

impl SimCarrier {
    /// Its own random draws, so that the detector's (drawn from `seed` too) are the same with and
    /// without carrying: a run with carrying differs only by the carried frames.
    pub fn new(model: CarrierModel, seed: u64) -> Self {
        Self { model, rng: ChaCha8Rng::seed_from_u64(seed ^ 0x00c0_ffee), walk: HashMap::new() }
    }

    /// The detector ran: the boxes are carried from its boxes again, without drift.
    pub fn restart(&mut self) {
        self.walk.clear();
    }

    /// The boxes carried from the detections `followed` onto a frame whose road users are
    /// `seen`, each with the index of its detection.
    pub fn carry(&mut self, seen: &[Seen], followed: &[Followed], width: u32, height: u32) -> Vec<(usize, BBox)> {
        let m = &self.model;
        let mut out = Vec::new();
        for f in followed {
            let Some(s) = seen.iter().find(|s| s.actor == f.actor) else { continue };
            let steps: [f64; 4] = std::array::from_fn(|_| StandardNormal.sample(&mut self.rng));
            let u: f64 = self.rng.random();
            let walk = self.walk.entry(f.from).or_default();
            for (w, d) in walk.iter_mut().zip(steps) {
                *w += d;
            }
            let draws = *walk;
            let [x1, y1, x2, y2] = s.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            if u < m.refusal || 0.6 * w < m.min_inner_px || 0.7 * h < m.min_inner_px {
                continue;
            }
            let nearer: Vec<[f64; 4]> = seen.iter().filter(|o| o.depth < s.depth).map(|o| o.bbox).collect();
            if covered_share(s.bbox, &nearer) >= m.hidden {
                continue;
            }
            let o = f.offset;
            let start = [x1 + o[0] * w, y1 + o[1] * h, x2 + o[2] * w, y2 + o[3] * h];
            let Some(bbox) = jittered(start, (m.drift, m.min_jitter_px), draws, (width, height)) else { continue };
            out.push((f.from, bbox));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::actors::Class;

    fn seen(actor: usize, bbox: [f64; 4], depth: f64) -> Seen {
        Seen { actor, class: Class::Motorcycle, bbox, depth }
    }

    /// Detection `from` found `s` exactly.
    fn exact(from: usize, s: &Seen) -> Followed {
        let b = s.bbox.map(|v| v as f32);
        Followed::new(from, &BBox::new(b[0], b[1], b[2], b[3]), s)
    }

    #[test]
    fn a_carried_box_keeps_what_its_detection_was_off() {
        // The detection was 5 px low and 4 px wide on the right of a 40×100 box: one frame on,
        // the road user 10 px further right, the carried box is off by as much on average (its
        // drift over one frame is 2 px, so 500 carries average to within 0.3 px).
        let never = CarrierModel { refusal: 0.0, ..CarrierModel::default() };
        let mut c = SimCarrier::new(never, 5);
        let at = |x: f64| seen(0, [x, 100.0, x + 40.0, 200.0], 10.0);
        let followed = [Followed::new(0, &BBox::new(100.0, 105.0, 144.0, 205.0), &at(100.0))];
        let (mut y2, mut x2) = (0.0, 0.0);
        for _ in 0..500 {
            c.restart();
            let (_, b) = c.carry(&[at(110.0)], &followed, 1280, 720)[0];
            (y2, x2) = (y2 + f64::from(b.y2) / 500.0, x2 + f64::from(b.x2) / 500.0);
        }
        assert!((y2 - 205.0).abs() < 0.3 && (x2 - 154.0).abs() < 0.3, "{y2} {x2}");
    }

    #[test]
    fn only_followed_visible_large_enough_users_are_carried() {
        let never = CarrierModel { refusal: 0.0, ..CarrierModel::default() };
        let mut c = SimCarrier::new(never, 1);
        let users = [
            seen(0, [100.0, 100.0, 140.0, 190.0], 10.0),
            // Not detected at the last frame.
            seen(1, [300.0, 100.0, 340.0, 190.0], 10.0),
            // Too small: 5 px wide.
            seen(2, [500.0, 100.0, 505.0, 110.0], 60.0),
            // Half behind user 0, which is nearer.
            seen(3, [120.0, 100.0, 160.0, 190.0], 20.0),
        ];
        let followed: Vec<Followed> = [0, 2, 3].iter().map(|&a| exact(4 + a, &users[a])).collect();
        let got = c.carry(&users, &followed, 1280, 720);
        assert_eq!(got.len(), 1, "{got:?}");
        let (from, b) = got[0];
        assert_eq!(from, 4);
        assert!((b.x1 - 100.0).abs() < 3.0 && (b.y2 - 190.0).abs() < 6.0, "{b:?}");
    }

    #[test]
    fn the_drift_grows_with_the_frames_since_the_detection() {
        // A 100 px high box: its bottom edge's spread after 1 and 4 carried frames, over 2000
        // detections, is 2 px and 4 px (the square root of the frames).
        let never = CarrierModel { refusal: 0.0, ..CarrierModel::default() };
        let mut c = SimCarrier::new(never, 3);
        let users = [seen(0, [100.0, 100.0, 140.0, 200.0], 10.0)];
        let (mut first, mut fourth) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            c.restart();
            for k in 1..=4 {
                let y2 = f64::from(c.carry(&users, &[exact(0, &users[0])], 1280, 720)[0].1.y2) - 200.0;
                match k {
                    1 => first.push(y2),
                    4 => fourth.push(y2),
                    _ => {}
                }
            }
        }
        let sd = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        assert!((sd(&first) - 2.0).abs() < 0.15, "{}", sd(&first));
        assert!((sd(&fourth) - 4.0).abs() < 0.3, "{}", sd(&fourth));
    }

    #[test]
    fn about_one_frame_in_twenty_five_is_refused() {
        let mut c = SimCarrier::new(CarrierModel::default(), 7);
        let users = [seen(0, [100.0, 100.0, 140.0, 190.0], 10.0)];
        let carried: usize = (0..2000).map(|_| c.carry(&users, &[exact(0, &users[0])], 1280, 720).len()).sum();
        assert!((1880..=1960).contains(&carried), "{carried} of 2000");
    }
}
