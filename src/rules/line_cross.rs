//! `line_cross`: a track's ground point (bottom-centre of its box) crossing a named line.
//!
//! A side only counts once the point is clearly on it (further from the line than a margin that
//! grows with the box, since bigger boxes jitter more), and a crossing needs the path from the
//! last point clearly on the old side to the first clearly on the new one to cut the line segment
//! itself. So a track that hovers on the line counts once, and one that walks around the end of a
//! line does not count at all. A track that steps in one go from two margins before the line to
//! just past it, inside the margin, is moving, not hovering, and counts there ([`leapt`]): a
//! fast object may leave the picture right after a line.
//!
//! **Crossings before confirmation.** At 3–5 detections per second a rider entering near the
//! camera moves most of its box height between two detections, and the tracker may need several
//! of them (riders side by side in a cluster) before it confirms a track; by then the rider can be
//! past a line 20 m out, and a track whose first known side is the far one never counts. So the
//! daemon also gives the frame's detections ([`LineCross::update_frame`]): the ones no confirmed
//! track took are kept for [`BACKFILL_S`], and a track seen for the first time is followed back
//! through them and its sides are replayed from there: first through the detections it took
//! itself while tentative ([`Track::recent_detections`]; its velocity at confirmation, from two
//! detections perhaps with a miss between, is too rough to find them near the camera), then on
//! from the oldest of those (nearest detection of its class to where its motion puts it a frame
//! earlier). Each detection is used once. The walk back stops at a detection a
//! confirmed track not matched now took: that object's own track decides its sides, so a
//! broken track is not counted twice. A detection of a track matched now is another object's
//! (in a cluster they are all around) and is passed over.
//!
//! Where the camera is calibrated ([`LineCross::with_ground`]), the walk back expects the object
//! where its ground speed puts it, which holds under perspective, and bridges up to two missed
//! frames in a row instead of one, and it may follow detections too weak to start a track
//! right where it expects the object ([`WEAK_REACH`]). Where the road's direction is known too
//! ([`LineCross::with_road`]), a walk back takes no step across lanes ([`ACROSS_M`]): in a
//! cluster a tentative track hops onto the rider beside it when its own is missed, and the
//! detections it took before the hop are left for that rider's own track.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Deserialize;
use toml::Spanned;

use crate::detect::types::Detection;
use crate::geometry::homography::Homography;
use crate::geometry::{Point, segments_intersect, signed_distance};
use crate::schema::{Directions, Id, LinePoints};
use crate::track::{Track, cut_at_top};

/// `[[cameras.lines]]`: a counting line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: Spanned<Id>,
    /// Two points in source pixels; crossing from the left of p1→p2 to its right is `directions[0]`.
    pub points: LinePoints,
    #[serde(default)]
    pub directions: Directions,
}

/// A counted crossing.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub line: usize,
    /// 0: from the left of p1→p2 to its right (`directions[0]`); 1: the other way.
    pub direction: usize,
    pub track_id: u64,
    pub class_id: u32,
}

#[derive(Debug, Clone, Copy)]
struct SideState {
    /// -1 left, +1 right.
    side: i8,
    /// The last point seen clearly on that side, or the point it leapt to ([`leapt`]).
    anchor: Point,
    /// The signed distance from the line of the track's previous point, in the band or not;
    /// `None` when the side was taken up from another track (see [`LineCross::update_frame`]),
    /// whose point is no step of this one.
    prev: Option<f32>,
    /// The side was taken by a leap, from within the band: a new track does not take it up.
    leapt: bool,
}

#[derive(Debug)]
pub struct LineCross {
    lines: Vec<(Point, Point)>,
    state: HashMap<(usize, u64), SideState>,
    /// Crossings counted per line, per class and direction since start.
    pub totals: HashMap<(usize, u32, usize), u64>,
    /// Tracks seen so far (confirmed or lost), so a new one is followed back once.
    known: HashSet<u64>,
    /// The detections of the last [`BACKFILL_S`] seconds of frames, oldest frame first.
    recent: VecDeque<(f64, Vec<Seen>)>,
    /// Detections below this score (the tracker's `high_thresh`) are followed back only
    /// within [`WEAK_REACH`].
    min_score: f32,
    /// The camera's ground calibration, if any: a walk back then expects the object where its
    /// ground velocity puts it ([`LineCross::with_ground`]).
    ground: Option<Homography>,
    /// The road's direction on the ground (unit vector), where known: a walk back then takes
    /// no step across lanes ([`LineCross::with_road`]).
    road: Option<(f64, f64)>,
}

/// How far back a newly seen track is followed through the detections no confirmed track took:
/// longer than a tracker takes to confirm a rider near the camera at 3 detections per second.
pub const BACKFILL_S: f64 = 2.0;

/// A detection scoring below `min_score` (too weak to start a track) is followed back too, but
/// only where the ground speed gives the expectation, and within this share of the usual
/// reach (a box height): half hidden behind its neighbour, a rider of a cluster may be detected
/// only weakly for the second before a line.
pub const WEAK_REACH: f32 = 0.5;

/// A detection kept for following tracks back.
#[derive(Debug, Clone, Copy)]
struct Seen {
    class_id: u32,
    /// Bottom-centre of the box.
    p: Point,
    height: f32,
    /// The confirmed track that took it at its frame: a walk back stops there.
    claimed: Option<u64>,
    /// Already used by the walk back of another track.
    used: bool,
    /// Scored below `min_score`: followed back only as [`WEAK_REACH`] says.
    weak: bool,
    /// Cut by the picture's top edge ([`cut_at_top`]): its height is only a lower bound, so
    /// it may be smaller than the size check of a walk back allows.
    cut: bool,
}

/// The most one object moves across the road between two detections, in metres, plus
/// [`ACROSS_SPEED`] for each second between them. Measured in dense traffic at 3 detections a
/// second over 20 seeds on both pole cameras: steps of one rider across the road were at most
/// 0.74 m (99th percentile 0.30 m, jitter included); a step onto the rider beside it was at
/// least 1.0 m.
pub const ACROSS_M: f64 = 0.6;
/// A rider changing lanes drifts across the road at up to about 1.5 m/s; jitter does not grow
/// with time, so 1 m/s over a missed frame or two is enough.
pub const ACROSS_SPEED: f64 = 1.0;

/// Whether a step of one object from `a` to the ground point `gb` ([`to_ground_if_road`] of the
/// later position, found once for all the candidates of a frame), `dt` seconds apart, goes
/// across lanes on the `ground` with the `road` along that direction (see [`ACROSS_M`]).
/// Unknown without both.
fn across_lanes(
    ground: Option<&Homography>,
    road: Option<(f64, f64)>,
    a: Point,
    gb: Option<(f64, f64)>,
    dt: f32,
) -> bool {
    let (Some(h), Some(r), Some(gb)) = (ground, road, gb) else { return false };
    let Some(ga) = h.to_ground(a) else { return false };
    let across = ((gb.0 - ga.0) * r.1 - (gb.1 - ga.1) * r.0).abs();
    across > ACROSS_M + ACROSS_SPEED * f64::from(dt)
}

/// `p` on the ground, where a walk back checks steps across lanes (see [`across_lanes`]).
fn to_ground_if_road(ground: Option<&Homography>, road: Option<(f64, f64)>, p: Point) -> Option<(f64, f64)> {
    ground.filter(|_| road.is_some())?.to_ground(p)
}

/// Hysteresis margin for a box of this height: 10% of it, at least 2 px.
fn margin(height: f32) -> f32 {
    (height * 0.1).max(2.0)
}

/// Whether a track whose previous point lay at signed distance `prev` from the line has moved,
/// in one step, across it to `d` (within the jitter band `margin`): then that point counts as
/// across. The band is there for an object standing on the line, whose jitter swings it from
/// side to side; one that arrives in one step from two bands away is moving. A bus riding away
/// from a rooftop camera leaves the picture (its top cut off) with its foot one detection past
/// a line 20 m out, inside a band of a tenth of its box height: it was never counted (dense
/// traffic at 3 fps, every seed).
fn leapt(prev: f32, d: f32, margin: f32) -> bool {
    prev * d < 0.0 && prev.abs() >= LEAP * margin
}

/// How many jitter bands (`margin`s) from the line a track's previous point must lie for a
/// point within the band on the other side to count as across ([`leapt`]).
pub const LEAP: f32 = 2.0;

/// Where a walk back expects an object `dt` seconds before it was at `p`, moving at `v` in the
/// picture and `vg` on the `ground` (see [`LineCross::with_ground`]).
fn expect_at(ground: Option<&Homography>, p: Point, v: (f32, f32), vg: Option<(f64, f64)>, dt: f32) -> Point {
    let on_ground = ground.zip(vg).and_then(|(h, vg)| {
        let g = h.to_ground(p)?;
        h.to_image((g.0 - vg.0 * f64::from(dt), g.1 - vg.1 * f64::from(dt)))
    });
    on_ground.unwrap_or((p.0 - v.0 * dt, p.1 - v.1 * dt))
}

/// Ground velocity from `from` to `to` over `dt` seconds, where the camera is calibrated.
fn ground_velocity(ground: Option<&Homography>, from: Point, to: Point, dt: f32) -> Option<(f64, f64)> {
    let h = ground?;
    let (a, b) = (h.to_ground(from)?, h.to_ground(to)?);
    Some(((b.0 - a.0) / f64::from(dt), (b.1 - a.1) / f64::from(dt)))
}

impl LineCross {
    pub fn new(lines: &[LineConfig]) -> Self {
        let lines = lines
            .iter()
            .map(|l| ((l.points.0[0][0], l.points.0[0][1]), (l.points.0[1][0], l.points.0[1][1])))
            .collect();
        Self {
            lines,
            state: HashMap::new(),
            totals: HashMap::new(),
            known: HashSet::new(),
            recent: VecDeque::new(),
            min_score: 0.5,
            ground: None,
            road: None,
        }
    }

    /// The camera's ground calibration. A walk back then expects the object a frame earlier
    /// where its speed on the ground puts it, once two points give that speed: under
    /// perspective a rider's image velocity near the camera is twice what it was 10 m further
    /// out, so an image extrapolation over a second misses it by its box height. And as that
    /// expectation holds over a second, a walk back may bridge two missed frames in a row, not
    /// one (at 3 detections a second, a rider of a cluster entering near the camera and missed
    /// twice before a line 20 m out).
    pub fn with_ground(mut self, ground: Option<Homography>) -> Self {
        self.ground = ground;
        self
    }

    /// The road's direction on the ground (unit vector; `analytics` takes it from the zone
    /// drawn along the road), with [`LineCross::with_ground`]. In a cluster a tentative track
    /// may hop onto the rider beside it, and the detections it took before the hop are the
    /// first rider's: its walk back stops at the hop ([`ACROSS_M`]) and leaves them for that
    /// rider's own track.
    pub fn with_road(mut self, road: Option<(f64, f64)>) -> Self {
        self.road = road;
        self
    }

    /// Detections scoring below `score` are followed back only within [`WEAK_REACH`] (give the
    /// tracker's `high_thresh`: weaker ones never start a track).
    pub fn with_min_score(mut self, score: f32) -> Self {
        self.min_score = score;
        self
    }

    /// A frame at time `now`: its detections (those given to the tracker) and the confirmed
    /// tracks matched in it (`TrackerOutput::active`); crossings are appended to `out`. A
    /// track seen for the first time is first followed back through the recent detections no
    /// confirmed track took, so a crossing made before the track was confirmed counts.
    pub fn update_frame(&mut self, now: f64, detections: &[Detection], tracks: &[Track], out: &mut Vec<Crossing>) {
        if self.lines.is_empty() {
            return;
        }
        while self.recent.front().is_some_and(|(t, _)| now - t > BACKFILL_S) {
            self.recent.pop_front();
        }
        for t in tracks {
            if self.known.insert(t.id) {
                let (chain, before) = self.follow_back(now, t, tracks);
                // The walk back ended on a track not matched now: this may be that
                // object again under a new id, so the new track starts from that track's sides
                // and the crossing counts once. That track keeps them too: at 3–5 detections a
                // second it is as often a rider of a cluster missed for one frame, with the new
                // track a neighbour's, and it comes back (dense traffic at 3 fps on the 8 m pole,
                // 20 seeds: 986 of 1,000 riders riding away counted with them kept, 983 without).
                // Not a side that track took by a leap ([`leapt`]): that one is a guess from
                // within the band, and a neighbour's new track taking it up counted a
                // crossing back at its own first point.
                if let Some(old) = before {
                    for li in 0..self.lines.len() {
                        if let Some(s) = self.state.get(&(li, old)).copied().filter(|s| !s.leapt) {
                            self.state.entry((li, t.id)).or_insert(SideState { prev: None, ..s });
                        }
                    }
                }
                for (p, h) in chain {
                    self.step(t.id, t.class_id, p, h, out);
                }
            }
            self.step(t.id, t.class_id, t.bbox.bottom_center(), t.bbox.height(), out);
        }
        let frame = detections
            .iter()
            .map(|d| Seen {
                weak: d.score < self.min_score,
                cut: cut_at_top(&d.bbox),
                class_id: d.class_id,
                p: d.bbox.bottom_center(),
                height: d.bbox.height(),
                claimed: tracks.iter().find(|t| t.det_bbox == d.bbox).map(|t| t.id),
                used: false,
            })
            .collect();
        self.recent.push_back((now, frame));
    }

    /// A frame between detections, on which the confirmed tracks `carried` had their boxes
    /// carried (`Tracker::carry`): each one already seen at a detected frame steps to its new
    /// point. A track not yet seen waits for a detected frame, where it is followed back through
    /// the detections; a carried frame adds none to follow back through.
    pub fn update_carried<'a>(&mut self, carried: impl Iterator<Item = &'a Track>, out: &mut Vec<Crossing>) {
        if self.lines.is_empty() {
            return;
        }
        for t in carried {
            if self.known.contains(&t.id) {
                self.step(t.id, t.class_id, t.bbox.bottom_center(), t.bbox.height(), out);
            }
        }
    }

    /// The points (bottom-centre, box height) of a new track before `now`, oldest first: at
    /// each earlier frame, the detection of its class nearest to where its motion puts it,
    /// within a box height (a missed frame is skipped), until a frame has none or the nearest
    /// was taken by a confirmed track not among `matched` (those matched now); that track's id
    /// is returned too.
    fn follow_back(&mut self, now: f64, t: &Track, matched: &[Track]) -> (Vec<(Point, f32)>, Option<u64>) {
        let (mut p, mut h, mut at) = (t.bbox.bottom_center(), t.bbox.height(), now);
        let mut v = t.velocity();
        let mut vg = None;
        let mut chain = Vec::new();
        // First the detections the track itself took before it was confirmed (those of the
        // kept frames that no confirmed track took): the tracker linked them, so they are its
        // own whatever its still rough velocity says (at 3 detections per second, two of them
        // with a miss between are most of a picture apart near the camera). They are taken out
        // of other walks back.
        for (ft, fp, fh) in t.recent_detections().rev() {
            if ft >= at {
                continue;
            }
            let Some((_, frame)) = self.recent.iter_mut().find(|(x, _)| *x == ft) else { break };
            let Some(s) = frame.iter_mut().find(|s| s.p == fp && s.claimed.is_none() && !s.used) else { break };
            let dt = (at - ft) as f32;
            let gp = to_ground_if_road(self.ground.as_ref(), self.road, p);
            if across_lanes(self.ground.as_ref(), self.road, fp, gp, dt) {
                break; // the track hopped onto this rider from the one beside it
            }
            s.used = true;
            v = ((p.0 - fp.0) / dt, (p.1 - fp.1) / dt);
            vg = ground_velocity(self.ground.as_ref(), fp, p, dt);
            (p, h, at) = (fp, fh, ft);
            chain.push((p, h));
        }
        let mut skipped = 0;
        let mut before = None;
        let (ground, road) = (self.ground, self.road);
        for (ft, frame) in self.recent.iter_mut().rev() {
            let dt = (at - *ft) as f32;
            if dt <= 0.0 {
                continue;
            }
            let want = expect_at(ground.as_ref(), p, v, vg, dt);
            let max_skipped = if vg.is_some() { 2 } else { 1 };
            let radius = |s: &Seen| s.height.max(h);
            let dist = |s: &Seen| (s.p.0 - want.0).hypot(s.p.1 - want.1);
            let gp = to_ground_if_road(ground.as_ref(), road, p);
            let fits = |s: &Seen| {
                s.class_id == t.class_id
                    && (s.height >= 0.5 * h || s.cut)
                    && s.height <= 2.0 * h
                    && !across_lanes(ground.as_ref(), road, s.p, gp, dt)
            };
            // A confirmed track matched now is another object than this new one, wherever it
            // was: its detections are passed over (in a cluster they are all around), not taken
            // for this object's under an older id.
            let claimed = frame
                .iter()
                .filter_map(|s| {
                    s.claimed.filter(|id| fits(s) && matched.iter().all(|m| m.id != *id)).map(|id| (dist(s), id))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let near = frame
                .iter_mut()
                .filter(|s| {
                    s.claimed.is_none()
                        && !s.used
                        && fits(s)
                        && dist(s) <= radius(s) * if s.weak { WEAK_REACH } else { 1.0 }
                        && (!s.weak || vg.is_some())
                })
                .map(|s| (dist(s), s))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            match near {
                // Much nearer to a detection a confirmed track took: that track's object.
                Some((d, _)) if claimed.is_some_and(|c| c.0 < 0.5 * d) => {
                    before = claimed.map(|c| c.1);
                    break;
                }
                Some((_, s)) => {
                    s.used = true;
                    v = ((p.0 - s.p.0) / dt, (p.1 - s.p.1) / dt);
                    vg = ground_velocity(ground.as_ref(), s.p, p, dt);
                    (p, h, at) = (s.p, s.height, *ft);
                    chain.push((p, h));
                    skipped = 0;
                }
                None if claimed.is_some_and(|c| c.0 <= h) => {
                    before = claimed.map(|c| c.1);
                    break;
                }
                None if skipped < max_skipped => skipped += 1,
                None => break,
            }
        }
        chain.reverse();
        (chain, before)
    }

    /// One matched point of a track: its side of every line, and the crossings that gives.
    fn step(&mut self, id: u64, class_id: u32, p: Point, height: f32, out: &mut Vec<Crossing>) {
        let m = margin(height);
        for (li, &(a, b)) in self.lines.iter().enumerate() {
            let d = signed_distance(a, b, p);
            let side: i8 = if d > 0.0 { 1 } else { -1 };
            let Some(s) = self.state.get_mut(&(li, id)) else {
                if d.abs() > m {
                    self.state.insert((li, id), SideState { side, anchor: p, prev: Some(d), leapt: false });
                }
                continue;
            };
            let prev = s.prev.replace(d);
            let crossed = if d.abs() > m {
                let crossed = s.side != side && segments_intersect(s.anchor, p, a, b);
                *s = SideState { side, anchor: p, prev: Some(d), leapt: false };
                crossed
            } else if s.side != side && d != 0.0 && prev.is_some_and(|prev| leapt(prev, d, m)) {
                // Across, though within the band. A path past the line's end takes no side.
                let crossed = segments_intersect(s.anchor, p, a, b);
                if crossed {
                    *s = SideState { side, anchor: p, prev: Some(d), leapt: true };
                }
                crossed
            } else {
                false // on the line, within the jitter band: no side yet
            };
            if crossed {
                let direction = if side > 0 { 0 } else { 1 };
                *self.totals.entry((li, class_id, direction)).or_default() += 1;
                out.push(Crossing { line: li, direction, track_id: id, class_id });
            }
        }
    }

    /// Forget an ended track.
    pub fn remove(&mut self, track_id: u64) {
        self.state.retain(|(_, id), _| *id != track_id);
        self.known.remove(&track_id);
    }
}

#[cfg(test)]
mod tests {
    //! Tracks come from a real [`Tracker`] (confirmed at the first detection) fed synthetic
    //! detections, so the ground points are the Kalman-filtered ones the daemon uses.

    use super::*;
    use crate::detect::types::{BBox, Detection};
    use crate::geometry::side;
    use crate::track::{Tracker, TrackerConfig};

    const PERSON: u32 = 0;
    const CAR: u32 = 2;
    /// Box size of a walking person: the hysteresis margin is 10% of the height, 10 px.
    const W: f32 = 40.0;
    const H: f32 = 100.0;

    /// A line from its TOML, as the config reads it.
    fn line(toml: &str) -> LineConfig {
        toml::from_str(&format!("name = \"l\"\n{toml}")).unwrap()
    }

    /// A vertical line at `x`, spanning y 200..=400, drawn bottom to top: its left is the
    /// screen's left (checked against [`side`] in `sign_convention`).
    fn vertical(x: f32) -> LineConfig {
        line(&format!("points = [[{x}, 400], [{x}, 200]]"))
    }

    /// A detection whose ground point (bottom-centre) is `(x, y)`.
    fn det(class_id: u32, x: f32, y: f32) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::new(x - W / 2.0, y - H, x + W / 2.0, y) }
    }

    /// A tracker and the rule, stepped at 10 frames per second.
    struct Sim {
        tracker: Tracker,
        rule: LineCross,
        frame: u32,
        /// Every crossing counted so far.
        crossings: Vec<Crossing>,
        /// Ground point of each active track at each frame: (frame, track id, point).
        ground: Vec<(u32, u64, Point)>,
    }

    impl Sim {
        fn new(lines: &[LineConfig]) -> Self {
            let tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
            Self { tracker, rule: LineCross::new(lines), frame: 0, crossings: Vec::new(), ground: Vec::new() }
        }

        /// One frame; returns the crossings counted in it.
        fn step(&mut self, dets: &[Detection]) -> Vec<Crossing> {
            let out = self.tracker.update(f64::from(self.frame) * 0.1, dets);
            assert_eq!(out.active.len(), dets.len(), "frame {}: every detection is tracked", self.frame);
            let mut new = Vec::new();
            self.rule.update_frame(f64::from(self.frame) * 0.1, dets, out.active, &mut new);
            for t in out.active {
                self.ground.push((self.frame, t.id, t.bbox.bottom_center()));
            }
            self.frame += 1;
            self.crossings.extend(new.iter().cloned());
            new
        }

        /// One object walking in a straight line from `from` to `to` (ground points) in `steps`
        /// frames after the first; returns the crossings counted on the way.
        fn walk(&mut self, class_id: u32, from: Point, to: Point, steps: u32) -> Vec<Crossing> {
            let mut got = Vec::new();
            for i in 0..=steps {
                let f = i as f32 / steps as f32;
                got.extend(self.step(&[det(class_id, from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f)]));
            }
            got
        }
    }

    fn crossing(line: usize, direction: usize, track_id: u64, class_id: u32) -> Crossing {
        Crossing { line, direction, track_id, class_id }
    }

    /// Several objects at once, each walking in a straight line; ids are given in this order
    /// to new tracks.
    fn walk_all(sim: &mut Sim, walks: &[(u32, Point, Point)], steps: u32) -> Vec<Crossing> {
        let mut got = Vec::new();
        for i in 0..=steps {
            let f = i as f32 / steps as f32;
            let dets: Vec<Detection> = walks
                .iter()
                .map(|&(c, from, to)| det(c, from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f))
                .collect();
            got.extend(sim.step(&dets));
        }
        got
    }

    #[test]
    fn sign_convention() {
        // The vertical test line is drawn upwards, so its left is the screen's left...
        let l = vertical(200.0).points.0;
        let (a, b) = ((l[0][0], l[0][1]), (l[1][0], l[1][1]));
        assert!(side(a, b, (150.0, 300.0)) < 0.0);
        assert!(side(a, b, (250.0, 300.0)) > 0.0);
        // ... and a line drawn left to right has its left above it.
        assert!(side((100.0, 300.0), (500.0, 300.0), (300.0, 250.0)) < 0.0);
    }

    #[test]
    fn walking_across_counts_once_left_to_right() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got = sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
        // Counted at the first frame the ground point is clearly (beyond the 10 px margin) on
        // the right, not as soon as it touches the line.
        let at = |f: u32| sim.ground.iter().find(|g| g.0 == f).unwrap().2.0;
        let first_clear = (0..sim.frame).find(|&f| at(f) > 210.0).unwrap();
        assert!(at(first_clear - 1) > 200.0, "the point was on the line, within the margin, the frame before");
        let mut sim = Sim::new(&[vertical(200.0)]);
        let counted_at = (0..=20u32)
            .find(|&i| !sim.step(&[det(PERSON, 100.0 + 10.0 * i as f32, 300.0)]).is_empty())
            .expect("counted");
        assert_eq!(counted_at, first_clear);

        // A line drawn left to right: walking down the screen goes from its left to its right.
        let mut sim = Sim::new(&[line("points = [[100, 300], [500, 300]]")]);
        let got = sim.walk(CAR, (300.0, 200.0), (300.0, 400.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, CAR)]);
    }

    #[test]
    fn walking_back_counts_once_the_other_way() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got = sim.walk(PERSON, (300.0, 300.0), (100.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 1, 1, PERSON)]);
        // Then back again: the same track counts once more, the first way.
        let got = sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
        assert_eq!(sim.rule.totals.get(&(0, PERSON, 0)), Some(&1));
        assert_eq!(sim.rule.totals.get(&(0, PERSON, 1)), Some(&1));
    }

    #[test]
    fn jitter_on_the_line_does_not_count_but_real_steps_do() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        // Walk slowly up to the line from the left, then stand on it with the box jittering
        // ±3 px for 50 frames.
        assert!(sim.walk(PERSON, (150.0, 300.0), (200.0, 300.0), 25).is_empty());
        let start = sim.frame;
        for i in 0..50 {
            let dx = if i % 2 == 0 { 3.0 } else { -3.0 };
            sim.step(&[det(PERSON, 200.0 + dx, 300.0)]);
        }
        assert!(sim.crossings.is_empty(), "{:?}", sim.crossings);
        // The filtered ground point did cross the line back and forth: only the margin held.
        let xs: Vec<f32> = sim.ground.iter().filter(|g| g.0 >= start).map(|g| g.2.0).collect();
        let flips = xs.windows(2).filter(|w| (w[0] < 200.0) != (w[1] < 200.0)).count();
        assert!(flips >= 40, "{flips} flips: {xs:?}");
        assert!(xs.iter().all(|x| (x - 200.0).abs() < 10.0), "{xs:?}");

        // Stepping 40 px to either side for real, three times, counts three times.
        let mut got = sim.walk(PERSON, (200.0, 300.0), (240.0, 300.0), 8);
        got.extend(sim.walk(PERSON, (240.0, 300.0), (160.0, 300.0), 16));
        got.extend(sim.walk(PERSON, (160.0, 300.0), (240.0, 300.0), 16));
        let directions: Vec<usize> = got.iter().map(|c| c.direction).collect();
        assert_eq!(directions, vec![0, 1, 0]);
        assert!(got.iter().all(|c| c.track_id == 1 && c.line == 0));
    }

    #[test]
    fn a_step_from_well_clear_to_just_past_the_line_counts_once() {
        // A fast object's last point lies past the line, inside the band (a bus leaving the
        // picture one detection after the line): its step came from two bands away, so it
        // counts; jitter about that point does not count again, and a real return and a real
        // crossing again count as they would have.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(CAR, (60.0, 300.0), (180.0, 300.0), 4);
        got.extend(sim.step(&[det(CAR, 205.0, 300.0)]));
        let last = sim.ground.last().map(|g| g.2.0);
        assert!(last.is_some_and(|x| x > 200.0 && x < 210.0), "the last point is in the band: {last:?}");
        assert_eq!(got, vec![crossing(0, 0, 1, CAR)]);
        for i in 0..20 {
            got.extend(sim.step(&[det(CAR, if i % 2 == 0 { 197.0 } else { 205.0 }, 300.0)]));
        }
        assert_eq!(got, vec![crossing(0, 0, 1, CAR)], "{:?}", sim.ground);
        got.extend(sim.walk(CAR, (205.0, 300.0), (170.0, 300.0), 6));
        got.extend(sim.walk(CAR, (170.0, 300.0), (240.0, 300.0), 6));
        let directions: Vec<usize> = got.iter().map(|c| c.direction).collect();
        assert_eq!(directions, vec![0, 1, 0], "{:?}", sim.ground);

        // From just outside the band, the same last point counts nothing: that may be jitter.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(CAR, (150.0, 300.0), (186.0, 300.0), 12);
        got.extend(sim.step(&[det(CAR, 194.0, 300.0)]));
        got.extend(sim.step(&[det(CAR, 205.0, 300.0)]));
        assert!(got.is_empty(), "{got:?} {:?}", sim.ground);
    }

    #[test]
    fn an_object_stopping_on_the_line_is_not_counted_by_its_jitter() {
        // Walking up in steps of two bands, it stops just short of the line, then its box
        // jitters across it: the step across is from within the band, not from two bands away.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(CAR, (60.0, 300.0), (180.0, 300.0), 4);
        for _ in 0..10 {
            got.extend(sim.step(&[det(CAR, 195.0, 300.0)]));
        }
        for i in 0..20 {
            got.extend(sim.step(&[det(CAR, if i % 2 == 0 { 204.0 } else { 196.0 }, 300.0)]));
        }
        got.extend(sim.walk(CAR, (196.0, 300.0), (150.0, 300.0), 6));
        assert!(got.is_empty(), "{got:?} {:?}", sim.ground);
    }

    #[test]
    fn passing_beyond_the_end_of_the_line_counts_nothing() {
        // The line spans y 200..=400; above its top end and below its bottom end, nothing.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got =
            walk_all(&mut sim, &[(PERSON, (100.0, 150.0), (300.0, 150.0)), (CAR, (300.0, 480.0), (100.0, 480.0))], 20);
        assert!(got.is_empty(), "{got:?}");
        // Walking round the end: along the left, past the top, down the right.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(PERSON, (150.0, 300.0), (150.0, 150.0), 15);
        got.extend(sim.walk(PERSON, (150.0, 150.0), (250.0, 150.0), 10));
        got.extend(sim.walk(PERSON, (250.0, 150.0), (250.0, 300.0), 15));
        assert!(got.is_empty(), "{got:?}");
        // ... but inside the segment, near its end, it counts.
        let mut sim = Sim::new(&[vertical(200.0)]);
        assert_eq!(sim.walk(PERSON, (100.0, 390.0), (300.0, 390.0), 20), vec![crossing(0, 0, 1, PERSON)]);
        // And coming down the left side from beyond the end, close to the line, then crossing the
        // segment counts: the path is judged from the last point on the old side, not the first.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(PERSON, (188.0, 50.0), (188.0, 300.0), 25);
        got.extend(sim.walk(PERSON, (188.0, 300.0), (248.0, 300.0), 6));
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
    }

    #[test]
    fn two_lines_are_independent() {
        let mut sim = Sim::new(&[vertical(200.0), vertical(400.0)]);
        // A person crosses the first line only; a car crosses the second only, the other way.
        let got =
            walk_all(&mut sim, &[(PERSON, (100.0, 300.0), (300.0, 300.0)), (CAR, (500.0, 250.0), (300.0, 250.0))], 20);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&crossing(0, 0, 1, PERSON)), "{got:?}");
        assert!(got.contains(&crossing(1, 1, 2, CAR)), "{got:?}");
        // Standing between the lines: nothing more.
        assert!(
            walk_all(&mut sim, &[(PERSON, (300.0, 300.0), (300.0, 300.0)), (CAR, (300.0, 250.0), (300.0, 250.0))], 5)
                .is_empty()
        );
        // The person goes on across the second line: only that one counts, for the person.
        let got =
            walk_all(&mut sim, &[(PERSON, (300.0, 300.0), (500.0, 300.0)), (CAR, (300.0, 250.0), (300.0, 250.0))], 20);
        assert_eq!(got, vec![crossing(1, 0, 1, PERSON)]);
    }

    #[test]
    fn remove_forgets_a_track() {
        let lines = [vertical(200.0), vertical(100.0)];
        // Seen on the left of the first line (and the right of the second), then removed while
        // on the line, within the margin: when it comes out on the right, there is no known
        // side to come from.
        let mut sim = Sim::new(&lines);
        sim.walk(PERSON, (150.0, 300.0), (195.0, 300.0), 9);
        assert_eq!(sim.rule.state.len(), 2);
        sim.rule.remove(1);
        assert!(sim.rule.state.is_empty());
        assert!(sim.walk(PERSON, (195.0, 300.0), (250.0, 300.0), 11).is_empty());
        // From there on it is tracked afresh.
        assert_eq!(sim.walk(PERSON, (250.0, 300.0), (150.0, 300.0), 10), vec![crossing(0, 1, 1, PERSON)]);

        // Removing another track forgets nothing of this one.
        let mut sim = Sim::new(&lines);
        sim.walk(PERSON, (150.0, 300.0), (195.0, 300.0), 9);
        sim.rule.remove(2);
        assert_eq!(sim.rule.state.len(), 2);
        assert_eq!(sim.walk(PERSON, (195.0, 300.0), (250.0, 300.0), 11), vec![crossing(0, 0, 1, PERSON)]);
    }

    #[test]
    fn totals_count_per_line_class_and_direction() {
        let mut sim = Sim::new(&[vertical(200.0), vertical(400.0)]);
        // Tracks 1-3: two persons and a car cross line 0 left to right; the car goes on across
        // line 1 too; track 2 then comes back across line 0.
        walk_all(
            &mut sim,
            &[
                (PERSON, (100.0, 300.0), (300.0, 300.0)),
                (PERSON, (100.0, 220.0), (300.0, 220.0)),
                (CAR, (50.0, 390.0), (450.0, 390.0)),
            ],
            40,
        );
        sim.walk(PERSON, (300.0, 220.0), (100.0, 220.0), 20);
        let expected: HashMap<(usize, u32, usize), u64> =
            [((0, PERSON, 0), 2), ((0, CAR, 0), 1), ((1, CAR, 0), 1), ((0, PERSON, 1), 1)].into_iter().collect();
        assert_eq!(sim.rule.totals, expected);
        assert_eq!(sim.crossings.len(), 5);
    }

    /// A tracker that confirms at the third detection, and the rule fed whole frames.
    fn late_confirm(lines: &[LineConfig], walks: &[(u32, Point, Point)], steps: u32) -> Vec<Crossing> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 3, confirm_s: 10.0, ..TrackerConfig::default() });
        let mut rule = LineCross::new(lines);
        let mut got = Vec::new();
        for i in 0..=steps {
            let f = i as f32 / steps as f32;
            let dets: Vec<Detection> = walks
                .iter()
                .map(|&(c, from, to)| det(c, from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f))
                .collect();
            let out = tracker.update(f64::from(i) * 0.1, &dets);
            rule.update_frame(f64::from(i) * 0.1, &dets, out.active, &mut got);
        }
        got
    }

    #[test]
    fn a_crossing_before_confirmation_counts_once() {
        // 40 px a frame across the line at x 200: tentative at x 120 and 160, confirmed at 200,
        // already past the line's margin at 240.
        let got = late_confirm(&[vertical(200.0)], &[(PERSON, (120.0, 300.0), (400.0, 300.0))], 7);
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
        // Two side by side, each counted once, by its own track.
        let got = late_confirm(
            &[vertical(200.0)],
            &[(PERSON, (120.0, 250.0), (400.0, 250.0)), (CAR, (400.0, 380.0), (120.0, 380.0))],
            7,
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&crossing(0, 0, 1, PERSON)) && got.contains(&crossing(0, 1, 2, CAR)), "{got:?}");
    }

    /// The detections a track took before it was confirmed are its own: they are followed
    /// back first, whatever its rough velocity at confirmation says. Here that velocity puts
    /// it, a frame earlier, right next to a standing person's detection (a confirmed track's),
    /// which on its own would end the walk back on that person.
    #[test]
    fn a_tracks_own_detections_before_confirmation_are_followed_back() {
        let cfg = TrackerConfig { min_hits: 2, confirm_s: 10.0, ..TrackerConfig::default() };
        let walker = |i: u32| det(PERSON, 150.0 + 100.0 * (i as f32 - 2.0), 300.0);
        // Where the walker's velocity at its confirmation (frame 3) puts it at frame 2.
        let want = {
            let mut tracker = Tracker::new(cfg.clone());
            tracker.update(0.2, &[walker(2)]);
            let out = tracker.update(0.3, &[walker(3)]);
            let t = &out.active[0];
            let (p, v) = (t.bbox.bottom_center(), t.velocity());
            (p.0 - v.0 * 0.1, p.1 - v.1 * 0.1)
        };
        let own = walker(2).bbox.bottom_center();
        assert!((own.0 - want.0).hypot(own.1 - want.1) > 20.0, "the velocity is rough: {want:?}");
        let mut tracker = Tracker::new(cfg);
        let mut rule = LineCross::new(&[vertical(200.0)]);
        let mut got = Vec::new();
        for i in 0..6u32 {
            let mut dets = vec![det(PERSON, want.0, want.1 + 15.0)];
            if i >= 2 {
                dets.push(walker(i));
            }
            let out = tracker.update(f64::from(i) * 0.1, &dets);
            rule.update_frame(f64::from(i) * 0.1, &dets, out.active, &mut got);
        }
        assert_eq!(got, vec![crossing(0, 0, 2, PERSON)]);
    }

    #[test]
    fn a_track_broken_after_its_crossing_does_not_count_again() {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, max_lost_s: 0.15, ..TrackerConfig::default() });
        let mut rule = LineCross::new(&[vertical(200.0)]);
        let mut got = Vec::new();
        // Across the line at 10 px a frame, then unseen for 3 frames (the track ends), then on.
        for i in 0..30u32 {
            let dets = if (14..17).contains(&i) { vec![] } else { vec![det(PERSON, 100.0 + 10.0 * i as f32, 300.0)] };
            let out = tracker.update(f64::from(i) * 0.1, &dets);
            let ended: Vec<u64> = out.ended.iter().map(|t| t.id).collect();
            rule.update_frame(f64::from(i) * 0.1, &dets, out.active, &mut got);
            for id in ended {
                rule.remove(id);
            }
        }
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
    }

    /// A walker missed for one frame just before the line, while a new track appears next to
    /// where it was last seen: the new track's walk back ends on the walker's detection and it
    /// takes the walker's side of the line, but the walker keeps its own, so its crossing when
    /// it is seen again still counts (at 3–5 detections a second a rider in a cluster is missed
    /// that way now and then).
    #[test]
    fn a_track_missed_for_a_frame_keeps_its_side_when_a_new_one_takes_it_up() {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut rule = LineCross::new(&[vertical(200.0)]);
        let mut got = Vec::new();
        for i in 0..10u32 {
            let walker = det(PERSON, 100.0 + 20.0 * i as f32, 300.0);
            // Missed at frame 4 (x 180, left of the line); a stander appears then 95 px below
            // where the walker was last seen, and stays.
            let mut dets = if i == 4 { vec![] } else { vec![walker] };
            if i >= 4 {
                dets.push(det(PERSON, 160.0, 395.0));
            }
            let out = tracker.update(f64::from(i) * 0.1, &dets);
            if i == 4 {
                // The walker is unmatched now; its track lives on, the stander is a new one.
                assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), [2], "{:?}", out.active);
            }
            rule.update_frame(f64::from(i) * 0.1, &dets, out.active, &mut got);
        }
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
    }

    /// A new track that takes up the side of a track not matched now (the walk back ended on
    /// its detection) starts from that track's point, perhaps another object's: a first point
    /// of its own inside the band across from it is not a step, and counts nothing.
    #[test]
    fn a_side_taken_up_from_another_track_is_no_step_across() {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut rule = LineCross::new(&[vertical(200.0)]);
        let mut got = Vec::new();
        for i in 0..7u32 {
            // A walks across at 30 px a frame, ends at x 230 (frame 4) and is missed then; at
            // frame 5 a second person stands just left of the line, within the band.
            let dets = match i {
                0..=4 => vec![det(PERSON, 110.0 + 30.0 * i as f32, 300.0)],
                _ => vec![det(PERSON, 195.0, 300.0)],
            };
            let out = tracker.update(f64::from(i) * 0.1, &dets);
            if i == 5 {
                assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), [2], "{:?}", out.active);
            }
            rule.update_frame(f64::from(i) * 0.1, &dets, out.active, &mut got);
        }
        let b = rule.state.get(&(0, 2)).copied();
        assert!(b.is_some_and(|b| b.side == 1 && b.anchor.0 > 210.0), "B took up A's side and point: {b:?}");
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
    }

    /// A person's detection kept for walks back: its foot `p`, `height` high, strong, not cut,
    /// unused, taken by the confirmed track `claimed` if any.
    fn kept(p: Point, height: f32, claimed: Option<u64>) -> Seen {
        Seen { class_id: PERSON, p, height, claimed, used: false, weak: false, cut: false }
    }

    /// In a cluster, the detections of the neighbours are all around where a new track was
    /// expected a frame earlier: one a confirmed track took that is matched now is another
    /// object's, passed over as a missed frame; one whose track is not matched now may be this
    /// object's under an older id, and the walk back stops on it.
    #[test]
    fn the_walk_back_passes_over_a_neighbour_matched_now() {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let out = tracker.update(0.3, &[det(PERSON, 300.0, 380.0), det(PERSON, 300.0, 300.0)]);
        let (neighbour, walker) = (out.active[0].clone(), out.active[1].clone());
        assert_eq!((neighbour.id, walker.id), (1, 2));
        let mut rule = LineCross::new(&[vertical(200.0)]);
        // The walker's own earlier detection, then a frame it was missed in, with the
        // neighbour's 40 px from where it was expected.
        rule.recent.push_back((0.1, vec![kept((300.0, 300.0), H, None)]));
        rule.recent.push_back((0.2, vec![kept((300.0, 340.0), H, Some(1))]));
        let (chain, before) = rule.follow_back(0.3, &walker, &[neighbour, walker.clone()]);
        assert_eq!((chain, before), (vec![((300.0, 300.0), H)], None));
        let (chain, before) = rule.follow_back(0.3, &walker, std::slice::from_ref(&walker));
        assert_eq!((chain, before), (vec![], Some(1)));
    }

    /// A rider coming towards the camera was detected first with its box cut by the picture's
    /// top edge, under half the height of its next box: the size check of the walk back takes
    /// a cut box's height as the least it may be, and follows it.
    #[test]
    fn the_walk_back_follows_a_box_cut_by_the_top_edge() {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        // Its box now: y 30..130; its first one, a frame before: y 0..40.
        let out = tracker.update(0.2, &[det(PERSON, 300.0, 130.0)]);
        let rider = out.active[0].clone();
        for cut in [true, false] {
            let mut rule = LineCross::new(&[vertical(200.0)]);
            rule.recent.push_back((0.1, vec![Seen { cut, ..kept((300.0, 40.0), 40.0, None) }]));
            let (chain, _) = rule.follow_back(0.2, &rider, std::slice::from_ref(&rider));
            assert_eq!(chain.len(), usize::from(cut), "cut: {cut}");
        }
    }

    /// A road seen in perspective (the docs' example calibration): 10 m wide, 30 m long.
    fn road() -> Homography {
        Homography::from_pairs(
            &[[440.0, 700.0], [840.0, 700.0], [700.0, 160.0], [560.0, 160.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit")
    }

    /// The picture point of ground point `(x, y)` on [`road`].
    fn on_road(x: f64, y: f64) -> Point {
        road().to_image((x, y)).expect("in the picture")
    }

    /// A line across [`road`] (and 5 m beyond each side), `y` metres out.
    fn across_road(y: f64) -> LineConfig {
        let (a, b) = (on_road(-5.0, y), on_road(15.0, y));
        line(&format!("points = [[{}, {}], [{}, {}]]", a.0, a.1, b.0, b.1))
    }

    /// A rider seen once near the camera, missed twice, then seen past a line 13 m out: its
    /// first track was dropped, and the walk back of its second must bridge two missed frames.
    /// Where the camera is calibrated it expects the rider where its ground speed puts it,
    /// and counts the crossing; without a calibration it does not go that far.
    #[test]
    fn a_calibrated_walk_back_bridges_two_missed_frames() {
        let line = across_road(13.0);
        let run = |ground: Option<Homography>| {
            let mut tracker = Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 10.0, ..TrackerConfig::default() });
            let mut rule = LineCross::new(std::slice::from_ref(&line)).with_ground(ground);
            let mut got = Vec::new();
            for k in 0..6u32 {
                // 4 m a frame along the road, from 3 m out; missed at frames 1 and 2.
                let p = on_road(5.0, 3.0 + 4.0 * f64::from(k));
                let dets = if (1..3).contains(&k) { vec![] } else { vec![det(PERSON, p.0, p.1)] };
                let out = tracker.update(f64::from(k) * 0.1, &dets);
                rule.update_frame(f64::from(k) * 0.1, &dets, out.active, &mut got);
            }
            got
        };
        assert_eq!(run(Some(road())).len(), 1);
        assert!(run(None).is_empty());
    }

    /// A rider detected only weakly before a line 11 m out (too weak to start a track), then
    /// strongly past it: where the camera is calibrated the walk back follows the weak
    /// detections right where the rider's ground speed puts it, and counts the crossing.
    #[test]
    fn a_calibrated_walk_back_follows_weak_detections_where_it_expects_the_object() {
        let line = across_road(11.0);
        let run = |ground: Option<Homography>, offset_m: f64| {
            let mut tracker = Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 10.0, ..TrackerConfig::default() });
            let mut rule = LineCross::new(std::slice::from_ref(&line)).with_ground(ground);
            let mut got = Vec::new();
            for k in 0..6u32 {
                // 2 m a frame along the road from 6 m out; weak before the line, and there
                // `offset_m` across the road from where the rider is.
                let (weak, y) = (k < 3, 6.0 + 2.0 * f64::from(k));
                let p = if weak { on_road(4.0 + offset_m, y) } else { on_road(4.0, y) };
                let mut d = det(PERSON, p.0, p.1);
                d.score = if weak { 0.3 } else { 0.9 };
                let out = tracker.update(f64::from(k) / 3.0, &[d]);
                rule.update_frame(f64::from(k) / 3.0, &[d], out.active, &mut got);
            }
            got
        };
        assert_eq!(run(Some(road()), 0.0), vec![crossing(0, 1, 1, PERSON)]);
        assert!(run(None, 0.0).is_empty(), "without a calibration weak detections are not followed");
        assert!(run(Some(road()), 3.0).is_empty(), "nor weak detections 3 m off where it is expected");
    }

    /// In a cluster a tentative track may hop onto the rider beside it when its own is missed,
    /// and the detection it took first is then that rider's. Where the road's direction is
    /// known, that track's walk back stops at the hop, and the rider's own track, confirmed
    /// later, follows back through its detection and counts its crossing.
    #[test]
    fn a_walk_back_takes_no_step_across_lanes() {
        let line = across_road(12.5);
        let run = |direction: Option<(f64, f64)>| {
            let mut tracker = Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 10.0, ..TrackerConfig::default() });
            let mut rule = LineCross::new(std::slice::from_ref(&line)).with_ground(Some(road())).with_road(direction);
            let mut got = Vec::new();
            for k in 0..7u32 {
                let mut dets = Vec::new();
                // The rider: 2 m a frame along the road, seen first 8 m out, missed at frames 1
                // and 2 (it crosses the line 12.5 m out between frames 2 and 3).
                if !(1..3).contains(&k) {
                    let p = on_road(4.0, 8.0 + 2.0 * f64::from(k));
                    dets.push(det(PERSON, p.0, p.1));
                }
                // The one beside it, 1.5 m over, from frame 1, a little ahead of where the rider
                // was first seen: the rider's first track takes it.
                if k >= 1 {
                    let p = on_road(5.5, 8.5 + 2.0 * f64::from(k - 1));
                    dets.push(det(PERSON, p.0, p.1));
                }
                let out = tracker.update(f64::from(k) / 3.0, &dets);
                rule.update_frame(f64::from(k) / 3.0, &dets, out.active, &mut got);
            }
            got
        };
        // Track 1 is the rider's first, on the one beside it from frame 1; track 2 the rider's.
        let both = vec![crossing(0, 1, 1, PERSON), crossing(0, 1, 2, PERSON)];
        assert_eq!(run(Some((0.0, 1.0))), both);
        assert_eq!(run(None), both[..1], "without the road the rider's first detection goes with the hop");
    }

    #[test]
    fn no_lines_no_state() {
        let mut sim = Sim::new(&[]);
        assert!(sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 10).is_empty());
        assert!(sim.rule.state.is_empty() && sim.rule.totals.is_empty());
    }
}
