//! One tracked object: its state, its filtered and detected boxes, and the detections the
//! perspective-aware prediction is fitted to.

use super::kalman::{self, KalmanState};
use super::perspective::Observations;
use super::{PARKED_S, STILL_GRACE_S, STILL_SPEED_H};
use crate::detect::types::{BBox, Detection};

/// Life cycle of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Seen fewer than `min_hits` times in a row: maybe a false positive; never reported.
    Tentative,
    /// Matched at the latest update.
    Confirmed,
    /// Confirmed before, unmatched at the latest update; its box is the Kalman prediction.
    Lost,
}

/// How far back the carried boxes give a carried track's motion, seconds: long enough that their
/// drift of a few per cent of the box does not make it (three or four frames at 15 a second),
/// short enough to follow a braking.
pub const TRAIL_S: f64 = 0.2;

/// One tracked object.
#[derive(Debug, Clone)]
pub struct Track {
    /// Unique within one [`Tracker`](super::Tracker): starts at 1, increases, never reused.
    pub id: u64,
    pub class_id: u32,
    pub state: TrackState,
    /// The Kalman-filtered box after the latest update: corrected when matched, predicted
    /// otherwise. Smoother than the detections, so better for line crossings.
    pub bbox: BBox,
    /// The last matched detection's box, as the detector gave it.
    pub det_bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// Highest detection score so far, and that detection's box (for a snapshot of the object).
    pub best_score: f32,
    pub best_bbox: BBox,
    /// Frame time of the first and of the latest matched detection.
    pub first_seen: f64,
    pub last_seen: f64,
    /// Number of matched detections.
    pub hits: u32,
    /// Updates in a row without a match (0 when matched at the latest one).
    pub(super) misses: u32,
    pub(super) kf: KalmanState,
    /// The last few detected boxes, for the perspective-aware prediction used to associate.
    pub(super) obs: Observations,
    /// Since when, and until when, the track has been seen standing at its matches (see
    /// [`Track::parked`]).
    pub(super) still: Option<(f64, f64)>,
    /// Where its detections last stood ([`Observations::still_box`] at its latest match that
    /// gave one, or its filtered box at its latest match standing by its filter and not
    /// covered): a parked car covered bit by bit by a road user passing in front gives boxes cut
    /// where it is hidden, and its last few no longer say where it stands (see
    /// [`super::Tracker::update`]).
    pub(super) stood: Option<BBox>,
    /// A detection of it while parked was cut by a road user passing in front
    /// (`super::covered`), and its detections have not stood again since; cleared when it is
    /// no longer parked.
    pub(super) covered: bool,
    /// The boxes carried onto it since its latest matched detection, with their times (see
    /// [`super::Tracker::carry`]).
    pub(super) trail: Vec<(f64, BBox)>,
    /// The picture's top edge or a side edge cut its latest matched detection
    /// (`super::clipped`).
    pub(super) clipped: bool,
}

impl Track {
    /// Velocity of the box centre in pixels per second (Kalman estimate).
    pub fn velocity(&self) -> (f32, f32) {
        self.kf.velocity()
    }

    /// The track's last few matched detections (up to [`OBSERVATIONS`](super::perspective::OBSERVATIONS)), oldest
    /// first: frame time, bottom centre and box height. Before confirmation these are the
    /// detections it took while tentative.
    pub fn recent_detections(&self) -> impl DoubleEndedIterator<Item = (f64, (f32, f32), f32)> + '_ {
        self.obs.feet()
    }

    /// Whether a detection was matched at frame time `t`, the time given to that frame's
    /// [`Tracker::update`](super::Tracker::update) (for a time that went backwards the tracker used the previous one;
    /// [`TrackerOutput::active`](super::TrackerOutput::active) is exact in every case).
    pub fn matched_at(&self, t: f64) -> bool {
        self.last_seen == t
    }

    /// Whether the picture's bottom edge cut the latest matched detection: its bottom is then
    /// the edge, not the road user's foot.
    pub fn detection_cut(&self) -> bool {
        self.obs.last_cut()
    }

    /// Whether the picture's top edge or one of its side edges cut the latest matched
    /// detection: its foot is whole, but its shape is only the part in the picture.
    pub fn detection_clipped(&self) -> bool {
        self.clipped
    }

    /// The latest box the detector or the carrier gave: the box carried onto the track since its
    /// latest matched detection, if any, else that detection's.
    pub fn seen_box(&self) -> BBox {
        self.trail.last().map_or(self.det_bbox, |c| c.1)
    }

    /// Whether a box was carried onto the track at frame time `t` (see
    /// [`super::Tracker::carry`]): then how many frames since its latest matched detection.
    pub fn carried_at(&self, t: f64) -> Option<u32> {
        self.trail.last().filter(|c| c.0 == t).map(|_| self.trail.len() as u32)
    }

    /// A track from its first detection, in a picture of this size if known (its edges may cut
    /// the box).
    pub(super) fn new(id: u64, det: &Detection, z: &kalman::Measurement, t: f64, picture: Option<(f32, f32)>) -> Self {
        let kf = KalmanState::initiate(z);
        Self {
            id,
            class_id: det.class_id,
            state: TrackState::Tentative,
            bbox: kf.bbox(),
            det_bbox: det.bbox,
            score: det.score,
            best_score: det.score,
            best_bbox: det.bbox,
            first_seen: t,
            last_seen: t,
            hits: 1,
            misses: 0,
            kf,
            obs: {
                let mut obs = Observations::default();
                obs.push(t, &det.bbox, super::cut_at_bottom(&det.bbox, picture));
                obs
            },
            still: None,
            stood: None,
            covered: false,
            trail: Vec::new(),
            clipped: super::clipped(&det.bbox, picture),
        }
    }

    /// Its next detection, in a picture of this size if known.
    pub(super) fn apply(&mut self, det: &Detection, t: f64, picture: Option<(f32, f32)>) {
        // Detections reaching here passed `valid_detection`, so the measurement exists.
        if let Some(z) = kalman::measurement_from_bbox(&det.bbox)
            && !self.kf.update(&z)
        {
            self.kf = KalmanState::initiate(&z);
        }
        self.bbox = self.kf.bbox();
        self.det_bbox = det.bbox;
        self.score = det.score;
        if det.score > self.best_score {
            self.best_score = det.score;
            self.best_bbox = det.bbox;
        }
        self.last_seen = t;
        self.hits = self.hits.saturating_add(1);
        self.misses = 0;
        self.obs.push(t, &det.bbox, super::cut_at_bottom(&det.bbox, picture));
        self.clipped = super::clipped(&det.bbox, picture);
        self.trail.clear();
        // Its still box, or at more than 5 detections a second (its last few then span too
        // short a time for one) its filtered box while the filter says it stands; not a box
        // cut by a road user in front.
        if let Some(b) = self.obs.still_box() {
            self.stood = Some(b);
            self.covered = false;
        } else if self.standing() && !self.covered {
            self.stood = Some(self.bbox);
        }
        if self.standing() {
            self.still = Some((self.still.map_or(t, |(since, _)| since), t));
        } else if self.still.is_some_and(|(_, until)| t - until > STILL_GRACE_S) {
            self.still = None;
        }
        self.covered &= self.parked();
    }

    /// A box carried onto the track at frame time `t`, between detections: its latest box
    /// ([`Track::seen_box`]), but no hit, no measurement for its filter, not its detected box
    /// (which the association's edge and reach rules read), and not one of the detections its
    /// prediction is fitted to. A carried box drifts a little more each frame from where its
    /// detection put it (a random walk of about 2 % of the box a frame): at 15 frames a second
    /// a filter would read that drift as a speed of a third of the box a second, and a car standing behind
    /// another would no longer stand (it would then be forgotten after `max_lost_s` instead of
    /// `max_lost_stationary_s`). Its prediction from detections at a few a second would span a
    /// fifth of a second. Where it was carried is kept in its trail ([`Track::carried_motion`]).
    pub(super) fn carry(&mut self, b: &BBox, t: f64) {
        self.bbox = *b;
        self.trail.push((t, *b));
    }

    /// Where the carrier last had the track (time, box) and how its box's centre moved over
    /// its last [`TRAIL_S`] of carried boxes, pixels a second: `None` unless it was carried for
    /// that long since its latest detection.
    pub(super) fn carried_motion(&self) -> Option<((f64, BBox), (f32, f32))> {
        let &(t1, b1) = self.trail.last()?;
        let &(t0, b0) = self.trail.iter().rev().find(|(t, _)| t1 - t >= TRAIL_S - 1e-6)?;
        let centre = |b: &BBox| ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5);
        let (p, q) = (centre(&b0), centre(&b1));
        let dt = (t1 - t0) as f32;
        Some(((t1, b1), ((q.0 - p.0) / dt, (q.1 - p.1) / dt)))
    }

    /// Whether the track stood still for at least [`PARKED_S`] until at most [`STILL_GRACE_S`]
    /// before its latest match: a parked car that a passing vehicle covers bit by bit gives
    /// boxes that shrink and shift for a second or two before it vanishes, and its filtered
    /// velocity then says it moves; it is still the parked car.
    pub(super) fn parked(&self) -> bool {
        self.still.is_some_and(|(since, until)| until - since >= PARKED_S && self.last_seen - until <= STILL_GRACE_S)
    }

    /// Whether it is parked, covered by a road user in front (`super::covered`), and lost: it
    /// is then sought where its detections stood (`stood`). Lost only: while it is
    /// still detected, cut, its filter follows the cut boxes (a person in a crowd covered as
    /// they walked off was held where they had stood).
    pub(super) fn behind(&self) -> bool {
        self.covered && self.parked() && self.state == TrackState::Lost
    }

    /// Whether the box moves less than [`STILL_SPEED_H`] of its height per second.
    pub(super) fn standing(&self) -> bool {
        let (vx, vy) = self.kf.velocity();
        let h = (self.bbox.y2 - self.bbox.y1).max(1.0);
        vx.hypot(vy) < STILL_SPEED_H * h
    }
}
