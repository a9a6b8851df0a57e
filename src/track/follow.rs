//! Following a camera's boxes from each decoded frame onto the next with the carrier
//! ([`super::carry`]), between the frames the detector runs on: which boxes are followed, for
//! how long, and where a chain of carried boxes ends. The daemon runs it on every frame it
//! decodes at the camera's `carry_fps`; its boxes are what a recording holds as `carried`
//! (`replay::CarriedBox`), so a replay gives the tracker and the rules the very same boxes.
//!
//! The policy, which the simulator's model of the carrier (`sim::carrier`) follows too:
//! - every box of a frame is followed onto the next: its detections and the boxes carried onto
//!   it, so a road user the detector misses on one detected frame is still followed there
//!   (those of classes the camera does not track too: they hide what is behind them, and to
//!   know where a passing truck covers on the frames between detections it must be followed);
//! - a chain ends where the carrier refuses a box (plain, occluded, turned or blurred: the
//!   detector takes over at its next frame), where the carried box no longer looks like its
//!   detection ([`MIN_LIKE`]), where a third of the carried box is covered by the
//!   nearer boxes of the frame together ([`HIDDEN_SHARE`]), [`MAX_CARRY_S`] after its detection (its drift
//!   grows with every frame, and a road user the detector no longer finds should be lost, not
//!   carried on), or on a detected frame whose detection found it again ([`FOUND_AGAIN_IOU`]):
//!   the detection goes on in its place;
//! - the carrier's first guess of a box's shift is its chain's last shift per second; right
//!   after a detection, the shift of the chain it found again, else its track's velocity
//!   ([`Follower::guide`], from `CameraAnalytics::guide`), so a fast rider's points are sought
//!   where it went rather than where it was; a box refused from its guess (or unlike its
//!   detection there) is sought around it ([`super::carry::search`]) and carried from what
//!   that finds, checked again: a rider seen once has no velocity yet.
//!
//! Boxes are in the detections' pixels (the camera's own size); the pictures may be smaller
//! (the letterbox's fit size), so each frame says its scale. Plain computation, no I/O.

use super::carry::{Look, Pyramid, Refused, carry, search};
use crate::detect::{BBox, Detection};

/// How long a box is followed from its detection without a new one, seconds: across two
/// missed detections at 3 a second, three at 5. The carrier's drift grows with the frames
/// (about 2 % of the box a frame as a random walk on vtest.avi, `tests/it/carry_vtest.rs`).
pub const MAX_CARRY_S: f64 = 0.7;

/// A box carried onto a detected frame whose detection found it again (same class, overlapping
/// it by this much) ends there: the detection goes on in its place.
pub const FOUND_AGAIN_IOU: f32 = 0.5;

/// A carried box covered this much by nearer boxes of its frame (detections or carried boxes
/// whose bottom edge is lower in the picture: on a camera looking down at the road, nearer the
/// camera) ends there. The carrier's checks do not see a road user passing in front of another
/// in time: the points on the one behind are covered a few at a time, the rest carry the box,
/// and once covered the box holds the one in front, whose points follow it well. Simulated (a
/// stopped car behind a passing truck, `sim::render`) boxes were carried off with the truck.
pub const HIDDEN_SHARE: f32 = 1.0 / 3.0;

/// A carried box whose look correlates less than this with its detection's ([`Look`]) ends
/// there. Each step of the carrier compares a frame with the one before, so a box can slide,
/// a frame at a time, onto what is beside or in front of it; this compares it with what was
/// detected. Simulated (`sim::render`), a rider too fast for the carrier's first guess left its
/// box on the road behind it, followed there as standing still.
pub const MIN_LIKE: f32 = 0.5;

/// A box is nearer than another when its bottom edge is lower by more than this share of the
/// other's height (two boxes standing on one line hide neither).
const NEARER_SHARE: f32 = 0.05;

/// One box of the latest frame, as it is followed.
#[derive(Debug, Clone)]
struct Chain {
    bbox: BBox,
    class_id: u32,
    /// Time of the detection the chain started from.
    since: f64,
    /// Its last shift, pixels a second (x, y).
    velocity: (f32, f32),
    /// What its detection looked like (`None`: plain, or not seen in a picture).
    look: Option<Look>,
}

/// The latest frame's picture.
struct Seen {
    time_s: f64,
    pyramid: Pyramid,
    /// Picture pixels per detection pixel, across and down.
    scale: (f32, f32),
}

/// One camera's boxes, followed from frame to frame.
#[derive(Default)]
pub struct Follower {
    last: Option<Seen>,
    /// The latest frame's boxes: its detections, then the boxes carried onto it.
    boxes: Vec<Chain>,
    next: Vec<Chain>,
    carried: Vec<(usize, BBox)>,
    refused: u64,
    /// Scratch for [`Follower::end_hidden`], kept so that a frame allocates nothing there.
    cover: Cover,
}

/// Scratch of [`Follower::end_hidden`] and [`Cover::area`].
#[derive(Debug, Default)]
struct Cover {
    /// The boxes nearer than the one judged.
    nearer: Vec<BBox>,
    /// Per carried box of the frame, whether it is hidden.
    hidden: Vec<bool>,
    clipped: Vec<BBox>,
    xs: Vec<f32>,
    spans: Vec<(f32, f32)>,
}

impl Follower {
    pub fn new() -> Self {
        Self::default()
    }

    /// A frame at `time_s` the detector did not run on, its picture `pyramid` (`None`: not
    /// carried onto, and every chain ends) at `scale` picture pixels per detection pixel. The
    /// boxes carried onto it, each with the index of its box of the frame before.
    pub fn carried(&mut self, time_s: f64, pyramid: Option<Pyramid>, scale: (f32, f32)) -> &[(usize, BBox)] {
        self.onto(time_s, pyramid, scale, None)
    }

    /// A frame at `time_s` with the detector's `detections`: the boxes of the frame before
    /// carried onto it that the detector did not find again.
    pub fn detected(
        &mut self,
        time_s: f64,
        pyramid: Option<Pyramid>,
        scale: (f32, f32),
        detections: &[Detection],
    ) -> &[(usize, BBox)] {
        self.onto(time_s, pyramid, scale, Some(detections))
    }

    /// End the carried boxes (`self.next` after its first `detected`, as `self.carried`) that
    /// nearer boxes of the frame cover by [`HIDDEN_SHARE`] or more.
    fn end_hidden(&mut self, detected: usize) {
        let Self { next, carried, cover, .. } = self;
        cover.hidden.clear();
        for i in detected..next.len() {
            let b = next[i].bbox;
            cover.nearer.clear();
            cover.nearer.extend(
                next.iter()
                    .enumerate()
                    .filter(|&(o, other)| o != i && other.bbox.y2 > b.y2 + NEARER_SHARE * b.height())
                    .map(|(_, other)| other.bbox),
            );
            let hidden = cover.area(&b) >= HIDDEN_SHARE * b.area();
            cover.hidden.push(hidden);
        }
        if !cover.hidden.contains(&true) {
            return;
        }
        let hidden = &cover.hidden;
        let mut flags = hidden.iter();
        carried.retain(|_| flags.next() == Some(&false));
        let mut k = 0;
        next.retain(|_| {
            let keep = k < detected || !hidden[k - detected];
            k += 1;
            keep
        });
    }

    /// How many boxes the latest frame has (its detections, then the boxes carried onto it).
    pub fn boxes(&self) -> usize {
        self.boxes.len()
    }

    /// Box `i` of the latest frame moves at `velocity` (pixels a second, x and y), as its track
    /// says: the carrier's first guess for a box whose chain has not moved yet (a detection).
    /// Without it, a road user moving further in a frame than the carrier reaches from no
    /// motion (a few pixels a level of its pyramid) is refused at its first step.
    pub fn guide(&mut self, i: usize, velocity: (f32, f32)) {
        if let Some(c) = self.boxes.get_mut(i)
            && c.velocity == (0.0, 0.0)
            && velocity.0.is_finite()
            && velocity.1.is_finite()
        {
            c.velocity = velocity;
        }
    }

    /// Boxes the carrier refused so far (each ends its chain).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// A frame at `t`, with the detector's `detections` when it ran on it: [`Follower::detected`]
    /// or [`Follower::carried`].
    pub fn onto(
        &mut self,
        t: f64,
        pyramid: Option<Pyramid>,
        scale: (f32, f32),
        detections: Option<&[Detection]>,
    ) -> &[(usize, BBox)] {
        self.carried.clear();
        self.next.clear();
        let dets = detections.unwrap_or_default();
        let look = |b: &BBox| {
            let (sx, sy) = scale;
            pyramid.as_ref().and_then(|p| Look::of(p, &BBox::new(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy)))
        };
        self.next.extend(dets.iter().map(|d| Chain {
            bbox: d.bbox,
            class_id: d.class_id,
            since: t,
            velocity: (0.0, 0.0),
            look: look(&d.bbox),
        }));
        if let (Some(last), Some(pyr)) = (&self.last, &pyramid)
            && last.pyramid.size() == pyr.size()
            && last.scale == scale
            && t > last.time_s
            && scale.0 > 0.0
            && scale.1 > 0.0
        {
            let dt = (t - last.time_s) as f32;
            let (sx, sy) = scale;
            for (i, c) in self.boxes.iter().enumerate() {
                if t - c.since > MAX_CARRY_S + 1e-9 {
                    continue;
                }
                let b = c.bbox;
                let in_picture = BBox::new(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy);
                let guess = (c.velocity.0 * dt * sx, c.velocity.1 * dt * sy);
                let attempt = |guess| {
                    let to = carry(&last.pyramid, pyr, &in_picture, guess)?.bbox;
                    match &c.look {
                        Some(was) if Look::of(pyr, &to).is_none_or(|now| now.like(was) < MIN_LIKE) => {
                            Err(Refused::Unlike)
                        }
                        _ => Ok(to),
                    }
                };
                // Refused from its guess (a rider faster than its track says, or seen once),
                // it is sought around it; a box outside the picture or too small is not.
                let to = match attempt(guess) {
                    Ok(to) => Some(to),
                    Err(Refused::Outside) => None,
                    Err(_) => search(&last.pyramid, pyr, &in_picture, guess).and_then(|g| attempt(g).ok()),
                };
                let Some(to) = to else {
                    self.refused += 1;
                    continue;
                };
                let bbox = BBox::new(to.x1 / sx, to.y1 / sy, to.x2 / sx, to.y2 / sy);
                let (a, z) = (b.center(), bbox.center());
                let velocity = ((z.0 - a.0) / dt, (z.1 - a.1) / dt);
                let found = dets.iter().position(|d| d.class_id == c.class_id && d.bbox.iou(&bbox) >= FOUND_AGAIN_IOU);
                if let Some(k) = found {
                    // The detection goes on, moving as the chain it took over moved.
                    if self.next[k].velocity == (0.0, 0.0) {
                        self.next[k].velocity = velocity;
                    }
                    continue;
                }
                self.carried.push((i, bbox));
                self.next.push(Chain { bbox, velocity, ..c.clone() });
            }
            self.end_hidden(dets.len());
        }
        std::mem::swap(&mut self.boxes, &mut self.next);
        self.last = pyramid.map(|pyramid| Seen { time_s: t, pyramid, scale });
        &self.carried
    }
}

impl Cover {
    /// The area of `b` that [`Cover::nearer`] cover together: their union within `b`, so two
    /// boxes of one nearer road user (a rider and its motorcycle) are not counted twice.
    fn area(&mut self, b: &BBox) -> f32 {
        let Self { nearer, clipped, xs, spans, .. } = self;
        clipped.clear();
        clipped.extend(
            nearer
                .iter()
                .map(|o| BBox::new(o.x1.max(b.x1), o.y1.max(b.y1), o.x2.min(b.x2), o.y2.min(b.y2)))
                .filter(|o| o.x2 > o.x1 && o.y2 > o.y1),
        );
        // Cut `b` into strips at every clipped box's left and right edge; in each strip the
        // covered height is the union of the y-intervals of the boxes spanning it.
        xs.clear();
        xs.extend(clipped.iter().flat_map(|o| [o.x1, o.x2]));
        xs.sort_by(f32::total_cmp);
        xs.dedup();
        let mut area = 0.0;
        for w in xs.windows(2) {
            let (x1, x2) = (w[0], w[1]);
            spans.clear();
            spans.extend(clipped.iter().filter(|o| o.x1 <= x1 && o.x2 >= x2).map(|o| (o.y1, o.y2)));
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (mut height, mut reach) = (0.0, f32::NEG_INFINITY);
            for &(y1, y2) in spans.iter() {
                if y2 > reach {
                    height += y2 - y1.max(reach);
                    reach = y2;
                }
            }
            area += height * (x2 - x1);
        }
        area
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::carry::Gray;

    /// A 320×180 picture of smooth texture with a textured 30×40 block whose top-left is at
    /// `(x, y)`: what the carrier can follow.
    fn picture(x: f32, y: f32) -> Gray {
        let (w, h) = (320usize, 180usize);
        let mut px = vec![0u8; w * h];
        for (j, row) in px.chunks_mut(w).enumerate() {
            for (i, v) in row.iter_mut().enumerate() {
                let (fx, fy) = (i as f32, j as f32);
                let background = 60.0 + 20.0 * ((fx * 0.05).sin() + (fy * 0.07).cos());
                let (u, w2) = (fx - x, fy - y);
                let inside = (0.0..30.0).contains(&u) && (0.0..40.0).contains(&w2);
                let texture = 128.0 + 60.0 * (u * 0.9).sin() * (w2 * 0.7).cos() + 30.0 * (u * 0.31 + w2 * 0.45).sin();
                *v = if inside { texture } else { background } as u8;
            }
        }
        Gray { width: w, height: h, px }
    }

    fn pyr(x: f32, y: f32) -> Option<Pyramid> {
        picture(x, y).pyramid()
    }

    /// The block in detection pixels (twice the picture's): scale 0.5.
    const HALF: (f32, f32) = (0.5, 0.5);

    fn det(x: f32, y: f32) -> Detection {
        Detection { class_id: 3, score: 0.9, bbox: BBox::new(2.0 * x, 2.0 * y, 2.0 * (x + 30.0), 2.0 * (y + 40.0)) }
    }

    #[test]
    fn a_detection_is_carried_frame_to_frame_in_detection_pixels() {
        let mut f = Follower::new();
        assert!(f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]).is_empty());
        // 3 px a frame in the picture: 6 in detection pixels.
        for k in 1..=4 {
            let x = 100.0 + 3.0 * k as f32;
            let got = f.carried(k as f64 / 15.0, pyr(x, 60.0), HALF).to_vec();
            assert_eq!(got.len(), 1, "frame {k}");
            // Box 0 of the frame before: the detection, then the box carried from it.
            assert_eq!(got[0].0, 0);
            let b = got[0].1;
            assert!((b.x1 - 2.0 * x).abs() < 1.5 && (b.y1 - 120.0).abs() < 1.5, "frame {k}: {b:?}");
        }
    }

    #[test]
    fn a_box_the_detector_finds_again_ends_and_one_it_misses_goes_on() {
        let mut f = Follower::new();
        f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
        // Found again: the detection goes on in its place, nothing is carried.
        assert!(f.detected(0.1, pyr(104.0, 60.0), HALF, &[det(104.0, 60.0)]).is_empty());
        // Missed at the next detected frame: carried onto it, from the detection (box 0).
        let got = f.detected(0.2, pyr(108.0, 60.0), HALF, &[]).to_vec();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 0);
        assert!((got[0].1.x1 - 216.0).abs() < 1.5, "{:?}", got[0].1);
        // A detection of another class in the same place does not take it over: it is box 0
        // of that frame, and the carried box is box 1 of the next.
        let other = Detection { class_id: 0, ..det(112.0, 60.0) };
        let got = f.detected(0.3, pyr(112.0, 60.0), HALF, &[other]).to_vec();
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0]);
        let got = f.carried(0.35, pyr(114.0, 60.0), HALF).to_vec();
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn a_box_a_nearer_one_covers_by_a_third_ends_and_one_behind_it_does_not() {
        // The block is missed at each next detected frame, beside a detection of something
        // else whose bottom edge is 20 px (detection pixels) lower: nearer the camera.
        let nearer = |x: f32| Detection { class_id: 2, score: 0.9, bbox: BBox::new(x, 110.0, x + 200.0, 220.0) };
        let carried_beside = |other: Detection| {
            let mut f = Follower::new();
            f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
            f.detected(0.1, pyr(100.0, 60.0), HALF, &[other]).iter().any(|c| c.0 == 0)
        };
        // Covering its right fifth (12 of 60 px): carried on; its right half: ended.
        assert!(carried_beside(nearer(248.0)));
        assert!(!carried_beside(nearer(230.0)));
        // As much covered by something behind it (its bottom higher): carried on.
        assert!(carried_beside(Detection { bbox: BBox::new(230.0, 100.0, 430.0, 190.0), ..nearer(0.0) }));
    }

    #[test]
    fn nearer_boxes_overlapping_each_other_cover_once() {
        // One scratch for every call, as a follower keeps it.
        let mut cover = Cover::default();
        let mut covered = |b: &BBox, others: &[BBox]| {
            cover.nearer.clear();
            cover.nearer.extend_from_slice(others);
            cover.area(b)
        };
        let b = BBox::new(0.0, 0.0, 10.0, 10.0);
        let left = BBox::new(-5.0, 0.0, 5.0, 10.0);
        assert_eq!(covered(&b, &[]), 0.0);
        assert_eq!(covered(&b, &[left, left]), 50.0);
        assert_eq!(covered(&b, &[BBox::new(0.0, 0.0, 5.0, 5.0), BBox::new(5.0, 5.0, 10.0, 10.0)]), 50.0);
        assert_eq!(covered(&b, &[BBox::new(2.0, 2.0, 8.0, 8.0), BBox::new(0.0, 0.0, 5.0, 5.0)]), 36.0 + 25.0 - 9.0);
        assert_eq!(covered(&b, &[BBox::new(20.0, 0.0, 30.0, 10.0)]), 0.0, "beside it");
        // A rider and its motorcycle in front, both over the block's right fifth: a fifth
        // covered, carried on (summed, two fifths had ended it).
        let nearer = |class_id| Detection { class_id, score: 0.9, bbox: BBox::new(248.0, 110.0, 448.0, 220.0) };
        let mut f = Follower::new();
        f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
        assert!(f.detected(0.1, pyr(100.0, 60.0), HALF, &[nearer(0), nearer(2)]).iter().any(|c| c.0 == 0));
    }

    #[test]
    fn a_detection_too_fast_for_no_guess_is_carried_with_its_tracks_velocity() {
        // 24 px a frame in the picture (48 in detection pixels, 720 a second at 15 frames a
        // second): beyond the carrier's reach from no motion for a box this size.
        let carried_with = |velocity: Option<(f32, f32)>| {
            let mut f = Follower::new();
            f.detected(0.0, pyr(60.0, 60.0), HALF, &[det(60.0, 60.0)]);
            if let Some(v) = velocity {
                f.guide(0, v);
            }
            f.carried(1.0 / 15.0, pyr(84.0, 60.0), HALF).first().map(|c| c.1.x1)
        };
        assert!(carried_with(None).is_none_or(|x| (x - 168.0).abs() > 3.0), "{:?}", carried_with(None));
        let x = carried_with(Some((720.0, 0.0))).expect("carried");
        assert!((x - 168.0).abs() < 1.5, "{x}");
        // A box already guided keeps its shift: a second guide is ignored.
        let mut f = Follower::new();
        f.detected(0.0, pyr(60.0, 60.0), HALF, &[det(60.0, 60.0)]);
        f.guide(0, (720.0, 0.0));
        f.guide(0, (0.0, 500.0));
        assert!(f.carried(1.0 / 15.0, pyr(84.0, 60.0), HALF).len() == 1);
    }

    #[test]
    fn a_chain_ends_its_time_after_its_detection() {
        let mut f = Follower::new();
        f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
        let mut t = 0.0;
        let mut frames = 0;
        while !f.carried(t + 0.1, pyr(100.0, 60.0), HALF).is_empty() {
            t += 0.1;
            frames += 1;
            assert!(frames < 20);
        }
        assert_eq!(frames, 7, "carried for {MAX_CARRY_S} s");
    }

    #[test]
    fn a_frame_without_a_picture_or_of_another_size_ends_every_chain() {
        let mut f = Follower::new();
        f.detected(0.0, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
        assert!(f.carried(0.1, None, HALF).is_empty());
        assert!(f.carried(0.2, pyr(100.0, 60.0), HALF).is_empty());
        f.detected(0.3, pyr(100.0, 60.0), HALF, &[det(100.0, 60.0)]);
        let small = Gray { width: 160, height: 90, px: vec![50; 160 * 90] }.pyramid();
        assert!(f.carried(0.4, small, (0.25, 0.25)).is_empty());
    }

    #[test]
    fn a_plain_box_is_refused_and_counted() {
        let flat = || Gray { width: 320, height: 180, px: vec![90; 320 * 180] }.pyramid();
        let mut f = Follower::new();
        f.detected(0.0, flat(), HALF, &[det(100.0, 60.0)]);
        assert!(f.carried(0.1, flat(), HALF).is_empty());
        assert_eq!(f.refused(), 1);
    }
}
