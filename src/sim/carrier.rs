//! A model of the box carrier ([`crate::track::carry`]) on every decoded frame: what the rules
//! would get if the boxes the detector found were followed from frame to frame. It measures
//! what carrying is worth in scenes whose truth is known.
//!
//! The model follows each box the detector found on a road user from frame to frame, as the
//! daemon's follower does (`track::follow`, whose policy and limits it shares): the road
//! user's true box, off by what the detection was off (the carrier starts from the detector's
//! box), with edges that drift further from frame to frame since
//! the detection (a random walk). It stops where the box is too small to carry, a third or more
//! hidden by nearer road users (the carrier's points no longer come back), refused at random,
//! found again by the detector, or followed for [`MAX_CARRY_S`] since its detection. So a road
//! user the detector misses at a detected frame is still followed there, for a while.
//! The numbers are those measured on vtest.avi (`tests/it/carry_vtest.rs`): 129 of 149 boxes
//! carried through four frames (a refusal in about 4 % of frames), the foot's median error 1.8 %
//! of the box's height after one frame and 3.5 % after four (as a random walk's, growing with
//! the square root of the frames). The drift per frame, [`CarrierModel::drift`], is set above
//! what those medians give (they compare with the detector's own jittered box, and a median of
//! a spread is below its standard deviation): 2 % of the box's size per edge. A refusal ends the
//! box's following, as 20 of 149 ended within four frames on vtest.
//!
//! Carried boxes are recorded as the daemon's carrier would give them, each naming the box of
//! the frame before it was carried from (`replay::CarriedBox`), and the analytics hand them to
//! the track that box went to (`Tracker::carry`, `Tracker::update_carried`).

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::actors::Seen;
use super::detector::{class_id, covered_share, jittered};
use crate::detect::{BBox, Detection};
use crate::track::follow::{FOUND_AGAIN_IOU, MAX_CARRY_S};

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

/// A box of a frame on a road user, as the carrier follows it onto the next frame: a detection,
/// or a box carried from one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Followed {
    /// Its index among its frame's boxes (the detections, then the carried boxes).
    pub from: usize,
    pub actor: usize,
    /// How far the detection's edges were off the road user's true box (x1, y1, x2, y2), as
    /// shares of the box's width and height: the carried box keeps it.
    pub offset: [f64; 4],
    /// The sum of its edges' standard normal steps since the detection.
    walk: [f64; 4],
    /// Time of the detection.
    since: f64,
}

impl Followed {
    /// Detection `from` at time `t`, box `det`, found the road user seen as `truth`.
    pub fn new(from: usize, det: &BBox, truth: &Seen, t: f64) -> Self {
        let [x1, y1, x2, y2] = truth.bbox;
        let (w, h) = ((x2 - x1).max(1e-9), (y2 - y1).max(1e-9));
        let offset = [
            (f64::from(det.x1) - x1) / w,
            (f64::from(det.y1) - y1) / h,
            (f64::from(det.x2) - x2) / w,
            (f64::from(det.y2) - y2) / h,
        ];
        Self { from, actor: truth.actor, offset, walk: [0.0; 4], since: t }
    }

    /// The same box, as box `from` of its frame.
    pub fn at(self, from: usize) -> Self {
        Self { from, ..self }
    }
}

/// A box carried onto a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Carried {
    /// The index of the box of the frame before it was carried from.
    pub from: usize,
    pub bbox: BBox,
    /// What the carrier follows onto the next frame (its `from` is for the caller to set: the
    /// box's index among this frame's boxes).
    pub next: Followed,
}

pub struct SimCarrier {
    model: CarrierModel,
    rng: ChaCha8Rng,
}

impl SimCarrier {
    /// Its own random draws, so that the detector's (drawn from `seed` too) are the same with and
    /// without carrying: a run with carrying differs only by the carried boxes.
    pub fn new(model: CarrierModel, seed: u64) -> Self {
        Self { model, rng: ChaCha8Rng::seed_from_u64(seed ^ 0x00c0_ffee) }
    }

    /// The boxes carried onto a frame at time `t` whose road users are `seen`, from the boxes
    /// `followed` of the frame before. On a detected frame (`detections`), a box the detector
    /// found again ends ([`FOUND_AGAIN_IOU`]), and so does one carried [`MAX_CARRY_S`] since
    /// its detection.
    pub fn carry(
        &mut self,
        t: f64,
        seen: &[Seen],
        followed: &[Followed],
        detections: &[Detection],
        picture: (u32, u32),
    ) -> Vec<Carried> {
        let m = &self.model;
        let mut out = Vec::new();
        for f in followed {
            let Some(s) = seen.iter().find(|s| s.actor == f.actor) else { continue };
            let steps: [f64; 4] = std::array::from_fn(|_| StandardNormal.sample(&mut self.rng));
            let u: f64 = self.rng.random();
            let mut next = *f;
            for (w, d) in next.walk.iter_mut().zip(steps) {
                *w += d;
            }
            let [x1, y1, x2, y2] = s.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            if t - f.since > MAX_CARRY_S + 1e-9 || u < m.refusal || 0.6 * w < m.min_inner_px || 0.7 * h < m.min_inner_px
            {
                continue;
            }
            let nearer: Vec<[f64; 4]> = seen.iter().filter(|o| o.depth < s.depth).map(|o| o.bbox).collect();
            if covered_share(s.bbox, &nearer) >= m.hidden {
                continue;
            }
            let o = f.offset;
            let start = [x1 + o[0] * w, y1 + o[1] * h, x2 + o[2] * w, y2 + o[3] * h];
            let Some(bbox) = jittered(start, (m.drift, m.min_jitter_px), next.walk, picture) else { continue };
            let class = class_id(s.class);
            if detections.iter().any(|d| d.class_id == class && d.bbox.iou(&bbox) >= FOUND_AGAIN_IOU) {
                continue;
            }
            out.push(Carried { from: f.from, bbox, next });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::actors::Class;

    const PICTURE: (u32, u32) = (1280, 720);

    fn seen(actor: usize, bbox: [f64; 4], depth: f64) -> Seen {
        Seen { actor, class: Class::Motorcycle, bbox, depth }
    }

    /// Box `from` at time 0 found `s` exactly.
    fn exact(from: usize, s: &Seen) -> Followed {
        let b = s.bbox.map(|v| v as f32);
        Followed::new(from, &BBox::new(b[0], b[1], b[2], b[3]), s, 0.0)
    }

    fn never() -> SimCarrier {
        SimCarrier::new(CarrierModel { refusal: 0.0, ..CarrierModel::default() }, 5)
    }

    #[test]
    fn a_carried_box_keeps_what_its_detection_was_off() {
        // The detection was 5 px low and 4 px wide on the right of a 40×100 box: one frame on,
        // the road user 10 px further right, the carried box is off by as much on average (its
        // drift over one frame is 2 px, so 500 carries average to within 0.3 px).
        let mut c = never();
        let at = |x: f64| seen(0, [x, 100.0, x + 40.0, 200.0], 10.0);
        let followed = [Followed::new(0, &BBox::new(100.0, 105.0, 144.0, 205.0), &at(100.0), 0.0)];
        let (mut y2, mut x2) = (0.0, 0.0);
        for _ in 0..500 {
            let b = c.carry(0.1, &[at(110.0)], &followed, &[], PICTURE)[0].bbox;
            (y2, x2) = (y2 + f64::from(b.y2) / 500.0, x2 + f64::from(b.x2) / 500.0);
        }
        assert!((y2 - 205.0).abs() < 0.3 && (x2 - 154.0).abs() < 0.3, "{y2} {x2}");
    }

    #[test]
    fn only_followed_visible_large_enough_users_are_carried() {
        let mut c = never();
        let users = [
            seen(0, [100.0, 100.0, 140.0, 190.0], 10.0),
            // Not followed.
            seen(1, [300.0, 100.0, 340.0, 190.0], 10.0),
            // Too small: 5 px wide.
            seen(2, [500.0, 100.0, 505.0, 110.0], 60.0),
            // Half behind user 0, which is nearer.
            seen(3, [120.0, 100.0, 160.0, 190.0], 20.0),
        ];
        let followed: Vec<Followed> = [0, 2, 3].iter().map(|&a| exact(4 + a, &users[a])).collect();
        let got = c.carry(0.1, &users, &followed, &[], PICTURE);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].from, got[0].next.actor), (4, 0));
        let b = got[0].bbox;
        assert!((b.x1 - 100.0).abs() < 3.0 && (b.y2 - 190.0).abs() < 6.0, "{b:?}");
    }

    #[test]
    fn a_box_is_followed_until_found_again_or_for_its_time_at_most() {
        let mut c = never();
        let u = [seen(0, [100.0, 100.0, 140.0, 200.0], 10.0)];
        let mut f = vec![exact(0, &u[0])];
        // Followed frame after frame, across a detected frame that missed it…
        for k in 1..=10 {
            let t = f64::from(k) / 15.0;
            let got = c.carry(t, &u, &f, &[], PICTURE);
            assert_eq!(got.len(), 1, "frame {k}");
            f = vec![got[0].next.at(0)];
        }
        // … until the detector finds it again there…
        let again = Detection {
            class_id: class_id(Class::Motorcycle),
            score: 0.8,
            bbox: BBox::new(100.0, 100.0, 140.0, 200.0),
        };
        assert!(c.carry(11.0 / 15.0, &u, &f, &[again], PICTURE).is_empty());
        // … or its time is up (0.7 s: frame 10 at 15 a second is the last).
        assert!(c.carry(11.0 / 15.0, &u, &f, &[], PICTURE).is_empty());
    }

    #[test]
    fn the_drift_grows_with_the_frames_since_the_detection() {
        // A 100 px high box: its bottom edge's spread after 1 and 4 carried frames, over 2000
        // detections, is 2 px and 4 px (the square root of the frames).
        let mut c = never();
        let users = [seen(0, [100.0, 100.0, 140.0, 200.0], 10.0)];
        let (mut first, mut fourth) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let mut f = vec![exact(0, &users[0])];
            for k in 1..=4 {
                let got = c.carry(f64::from(k) / 15.0, &users, &f, &[], PICTURE)[0];
                let y2 = f64::from(got.bbox.y2) - 200.0;
                f = vec![got.next];
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
        let carried: usize = (0..2000).map(|_| c.carry(0.1, &users, &[exact(0, &users[0])], &[], PICTURE).len()).sum();
        assert!((1880..=1960).contains(&carried), "{carried} of 2000");
    }
}
