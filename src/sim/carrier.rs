//! A model of the box carrier ([`crate::track::carry`]) on the decoded frames between two
//! detections: what the rules would get if the boxes the detector found were followed on every
//! decoded frame. It measures what carrying is worth before the daemon does it; the daemon does
//! not carry yet.
//!
//! The model follows each road user the detector found at its last frame, as the carrier follows
//! a track's box: its true box with edges that drift from frame to frame since the last
//! detection (a random walk), unless it is too small to carry, a third or more hidden by nearer
//! road users (the carrier's points no longer come back), or the carrier refuses it at random.
//! The numbers are those measured on vtest.avi (`tests/it/carry_vtest.rs`): 129 of 149 boxes
//! carried through four frames (a refusal in about 4 % of frames), the foot's median error 1.8 %
//! of the box's height after one frame and 3.5 % after four (as a random walk's, growing with
//! the square root of the frames). The drift per frame, [`CarrierModel::drift`], is set above
//! what those medians give (they compare with the detector's own jittered box, and a median of
//! a spread is below its standard deviation): 2 % of the box's size per edge. A refused frame
//! only loses that frame's box: the carrier starts again from the track's box at the next.
//!
//! Carried boxes go to the tracker as detections scoring [`CARRIED_SCORE`] (its `high_thresh`:
//! they extend tentative tracks as well as confirmed ones). How the daemon will hand them to the
//! tracker is not settled; this is the simplest way, and the one measured.

use std::collections::HashMap;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::actors::Seen;
use super::detector::{class_id, covered_share, jittered};
use crate::detect::Detection;

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
        Self { refusal: 0.04, drift: 0.02, min_jitter_px: 0.5, hidden: 0.3, min_inner_px: 4.0 }
    }
}

/// The score carried boxes are given.
pub const CARRIED_SCORE: f32 = 0.5;

pub struct SimCarrier {
    model: CarrierModel,
    rng: ChaCha8Rng,
    /// Per road user, the sum of its edges' standard normal steps since the last detection.
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

    /// The carried boxes of the road users `followed` (those the detector found at its last
    /// frame) among `seen`.
    pub fn carry(&mut self, seen: &[Seen], followed: &[usize], width: u32, height: u32) -> Vec<Detection> {
        let m = &self.model;
        let mut out = Vec::new();
        for s in seen.iter().filter(|s| followed.contains(&s.actor)) {
            let steps: [f64; 4] = std::array::from_fn(|_| StandardNormal.sample(&mut self.rng));
            let u: f64 = self.rng.random();
            let walk = self.walk.entry(s.actor).or_default();
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
            let Some(bbox) = jittered(s.bbox, (m.drift, m.min_jitter_px), draws, (width, height)) else { continue };
            out.push(Detection { class_id: class_id(s.class), score: CARRIED_SCORE, bbox });
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
        let got = c.carry(&users, &[0, 2, 3], 1280, 720);
        assert_eq!(got.len(), 1, "{got:?}");
        let b = got[0].bbox;
        assert!((b.x1 - 100.0).abs() < 3.0 && (b.y2 - 190.0).abs() < 6.0, "{b:?}");
        assert_eq!(got[0].score, CARRIED_SCORE);
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
                let y2 = f64::from(c.carry(&users, &[0], 1280, 720)[0].bbox.y2) - 200.0;
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
        let carried: usize = (0..2000).map(|_| c.carry(&users, &[0], 1280, 720).len()).sum();
        assert!((1880..=1960).contains(&carried), "{carried} of 2000");
    }
}
