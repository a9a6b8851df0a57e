//! Per-track kinematics (ground positions and speeds; the motion gate is `detect::gate`) shared
//! by the moving-object rules (`speeding`, `racing`, `collision_suspect`, `wrong_way`): recent
//! image and ground points and the fitted ground speed, kept once per camera so each rule does
//! not keep its own copy.
//!
//! Speeds are fitted to the ground points of the **detected** boxes, not the Kalman-filtered
//! ones: at 3–5 detections a second a fast object's filter is still settling when it has
//! crossed half the view, and its filtered positions lag by metres. A tentative track's points
//! are kept from its first detection (the analytics feed in `Tracker::live_tracks`), so the fit
//! has them when the track is confirmed: at 3 detections a second that is a third of the time a
//! fast rider is in view. The rules only see confirmed tracks.

use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};

use super::speed::{Fix, SpeedEstimator, SpeedFit};
use crate::detect::BBox;
use crate::geometry::Point;
use crate::geometry::homography::Homography;
use crate::track::{Track, TrackState, cut_at_top};

/// How much history is kept per track; rule windows longer than this see only this much.
pub const HISTORY_S: f64 = 12.0;

/// How long after a track's latest whole box its boxes cut by the picture's bottom edge, or
/// with their foot hidden by a road user in front, are no points of a speed (see
/// `Kinematics::feed`): as long as a speed fit reaches back.
pub const CUT_SKIP_S: f64 = super::speed::MAX_WINDOW_S;

/// A detected box less tall for its width than this share of its track's usual shape (the
/// median height-to-width of its latest whole boxes, [`SHAPES`] of them, at least 3)…
pub const HIDDEN_FOOT_SHAPE: f32 = 0.8;
/// … with the box of a road user nearer the camera over its bottom edge (that box's bottom
/// lower in the picture by this share of its height) has its foot hidden: see
/// [`foot_hidden`].
pub const NEARER_BY_H: f32 = 0.2;
/// How far below `seen`'s bottom the nearer box's top may be and still lie over it, as a share
/// of `seen`'s height: the one box ends where the other begins, each jittered.
pub const MEET_SLACK_H: f32 = 0.1;
/// How many of a track's latest whole boxes its usual shape is the median of.
pub const SHAPES: usize = 5;

/// One matched position of a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: f64,
    /// Ground point (bottom-centre of the filtered box), source pixels.
    pub image: Point,
    /// The same point on the ground, metres, when the camera is calibrated.
    pub ground: Option<(f64, f64)>,
    /// Ground point of the detected box's bottom-centre, metres (the measurement itself, for
    /// speeds and swings).
    pub measured: Option<(f64, f64)>,
    /// How far off `measured` may be, metres ([`fix_sd`]): a speed fit's error is never
    /// smaller than its points' spreads give. `None` for a carried sample, which no fit takes.
    pub measured_sd: Option<f64>,
    /// Fitted ground speed at that time, km/h: once the fit has enough points, where a pixel is
    /// at most [`MAX_M_PER_PX`] on the ground, and when its standard error is within
    /// [`max_se_kmh`].
    pub kmh: Option<f64>,
    /// That speed's standard error, km/h.
    pub kmh_se: Option<f64>,
    /// The fit at that time whatever its error (where a pixel is fine enough): for rules that
    /// only need to know a speed is well above or below a threshold, with its error as margin.
    pub fit: Option<FitReading>,
    /// Frames its box was carried from the track's latest detection (`Tracker::carry`); 0 for
    /// a detection. A carried sample's speed fields are those of the latest detection's.
    pub carried: u32,
}

/// A speed fit in km/h, with the times of its points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitReading {
    pub kmh: f64,
    pub se_kmh: f64,
    /// Time of its first point, and the mean time of its points (what the speed is centred on).
    pub t_first: f64,
    pub t_mid: f64,
}

impl FitReading {
    /// The speed less `k` standard errors (at least 0).
    pub fn low(&self, k: f64) -> f64 {
        (self.kmh - k * self.se_kmh).max(0.0)
    }

    /// The speed plus `k` standard errors.
    pub fn high(&self, k: f64) -> f64 {
        self.kmh + k * self.se_kmh
    }
}

/// The largest standard error a speed may have to be given, km/h: 4 % of the speed (with
/// exact calibration the readings given are then within 5 % in the simulator's scenes at 3–10
/// fps; a tighter gate leaves a fast rider without any reading in a wide lens's short
/// measurable stretch), and at least 1.5 km/h so that standing and slow objects read as such.
pub fn max_se_kmh(kmh: f64) -> f64 {
    (MAX_SE_SHARE * kmh).max(MIN_SE_KMH)
}

/// See [`max_se_kmh`].
pub const MAX_SE_SHARE: f64 = 0.04;
pub const MIN_SE_KMH: f64 = 1.5;

#[derive(Debug, Clone)]
pub struct TrackKinematics {
    pub class_id: u32,
    /// The filtered box at the latest match.
    pub bbox: BBox,
    /// The detected box of the latest match, or the box carried onto it since (at a few
    /// detections a second a fast object's filtered box lags behind it).
    pub det_bbox: BBox,
    /// Time of the latest match.
    pub last_seen: f64,
    /// Matched in the latest frame.
    pub matched: bool,
    /// Confirmed by the tracker: only confirmed tracks are shown to the rules.
    confirmed: bool,
    /// Matched samples of the last [`HISTORY_S`] seconds, oldest first.
    pub history: VecDeque<Sample>,
    estimator: SpeedEstimator,
    /// [`TrackKinematics::best_reading`], worked out at most once per match, when first asked:
    /// `speeding` and `racing` both ask every frame (racing twice for some riders), and the
    /// whole-view fit is the costliest part of either; a camera without them never pays for it.
    best: OnceCell<Option<FitReading>>,
    /// When the latest detection not cut by the picture's bottom edge was seen…
    whole_at: Option<f64>,
    /// … and the latest whose foot no road user in front hid either ([`foot_hidden`]), and the
    /// height-to-width of the latest of those clear of every edge of the picture.
    foot_at: Option<f64>,
    shapes: Shapes,
}

/// The height-to-width of a track's latest [`SHAPES`] whole boxes.
#[derive(Debug, Clone, Default)]
struct Shapes {
    last: [f32; SHAPES],
    n: usize,
}

impl Shapes {
    fn push(&mut self, shape: f32) {
        self.last.rotate_right(1);
        self.last[0] = shape;
        self.n = (self.n + 1).min(SHAPES);
    }

    /// Their median, from 3 boxes on (one box's shape is off by its edges' jitter).
    fn usual(&self) -> Option<f32> {
        if self.n < 3 {
            return None;
        }
        let mut v = self.last;
        let v = &mut v[..self.n];
        v.sort_unstable_by(f32::total_cmp);
        Some(v[self.n / 2])
    }
}

/// Whether the foot of `seen`, a detected box, is hidden by a road user in front: the box is
/// less tall for its width than [`HIDDEN_FOOT_SHAPE`] of `usual` (its track's usual shape),
/// and one of `others` (the boxes detected with it) lies over its bottom edge, that box's own
/// bottom lower in the picture by [`NEARER_BY_H`] of `seen`'s height. A detector boxes what it
/// sees: a rider riding away behind another is boxed down to the other's top, and its foot
/// reads metres further out than it is. Not where `seen` touches the picture's top edge: that
/// shrinks a box from above, and its foot is whole.
pub fn foot_hidden(seen: &BBox, usual: Option<f32>, mut others: impl Iterator<Item = BBox>) -> bool {
    let (Some(usual), w, h) = (usual, seen.width(), seen.height()) else { return false };
    if !(w > 0.0 && h < HIDDEN_FOOT_SHAPE * usual * w) || cut_at_top(seen) {
        return false;
    }
    others.any(|o| {
        o.y2 > seen.y2 + NEARER_BY_H * h && o.y1 < seen.y2 + MEET_SLACK_H * h && o.x1 < seen.x2 && o.x2 > seen.x1
    })
}

impl TrackKinematics {
    pub fn latest(&self) -> Option<&Sample> {
        self.history.back()
    }

    /// The latest fitted speed, km/h.
    pub fn kmh(&self) -> Option<f64> {
        self.latest().and_then(|s| s.kmh)
    }

    /// Samples at or after `t0`.
    pub fn since(&self, t0: f64) -> impl Iterator<Item = &Sample> + Clone {
        self.history.iter().filter(move |s| s.t >= t0)
    }

    /// The speed over the whole time the track has lined up, at most the last `back_s`: a
    /// robust fit (see [`super::speed::fit`]) through the measured ground points from the first
    /// point of the earliest reported speed of that time on, with its error. At 3–5 detections
    /// a second one reading is 3–6 points of a second; the points of the whole time in view
    /// are more and span longer, so their slope is several times more precise (the slope's
    /// error falls with the span to the power 1.5). `None` until a speed has been reported.
    pub fn whole_fit(&self, back_s: f64) -> Option<FitReading> {
        let now = self.latest()?.t;
        let first = self.since(now - back_s).find(|s| s.kmh.is_some()).and_then(|s| s.fit)?;
        let pts: Vec<Fix> = self
            .since(first.t_first.max(now - back_s))
            .filter(|s| s.carried == 0)
            .filter_map(|s| Some(Fix { t: s.t, g: s.measured?, sd: s.measured_sd? }))
            .collect();
        let f = super::speed::fit(&pts)?;
        Some(FitReading { kmh: f.mps * 3.6, se_kmh: f.se_mps * 3.6, t_first: f.t_first, t_mid: f.t_mid })
    }

    /// The more precise of the latest reading and the fit over the whole time in view (at most
    /// [`WHOLE_FIT_S`]), both within [`max_se_kmh`]: (km/h, standard error).
    pub fn best_speed(&self) -> Option<(f64, f64)> {
        self.best_reading().map(|f| (f.kmh, f.se_kmh))
    }

    /// [`TrackKinematics::best_speed`]'s fit, with the times of its points.
    pub fn best_reading(&self) -> Option<FitReading> {
        *self.best.get_or_init(|| self.fit_best_reading())
    }

    fn fit_best_reading(&self) -> Option<FitReading> {
        let s = self.latest()?;
        let reading = s.fit.filter(|_| s.kmh.is_some());
        let whole = self.whole_fit(WHOLE_FIT_S).filter(|f| f.se_kmh <= max_se_kmh(f.kmh));
        match (reading, whole) {
            (Some(r), Some(w)) => Some(if w.se_kmh < r.se_kmh { w } else { r }),
            (r, w) => r.or(w),
        }
    }

    /// The latest sample at or before `t`.
    pub fn at(&self, t: f64) -> Option<&Sample> {
        self.history.iter().rev().find(|s| s.t <= t)
    }

    /// The highest speed among the samples in `[t0, t1]`, with its time.
    pub fn max_kmh_between(&self, t0: f64, t1: f64) -> Option<(f64, f64)> {
        self.history
            .iter()
            .filter(|s| s.t >= t0 && s.t <= t1)
            .filter_map(|s| s.kmh.map(|v| (s.t, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

#[derive(Debug, Clone)]
pub struct Kinematics {
    homography: Option<Homography>,
    window_s: f64,
    tracks: HashMap<u64, TrackKinematics>,
}

/// Where one pixel of the picture spans more than this on the ground (far away, near the
/// horizon, or beyond the calibrated area), a pixel of box jitter is a speed of metres per
/// second: no speed is given there.
pub const MAX_M_PER_PX: f64 = 0.5;

/// How far back [`TrackKinematics::best_speed`]'s whole-view fit reaches, seconds: longer than
/// any fast road user is measurable in a pole camera's view.
pub const WHOLE_FIT_S: f64 = 4.0;

/// Ground metres one pixel spans at image point `p`: the larger of a pixel below and a pixel
/// beside it. None off the ground.
pub fn m_per_px(h: &Homography, p: Point) -> Option<f64> {
    let down = h.distance(p, (p.0, p.1 + 1.0))?;
    let across = h.distance(p, (p.0 + 1.0, p.1))?;
    Some(down.max(across))
}

/// Whether a speed can be measured at image point `p`: a pixel below and a pixel beside it are
/// at most [`MAX_M_PER_PX`] away on the ground. `anttd check` and `anttd overlay` use the same
/// test (`feasibility`).
pub fn measurable(h: &Homography, p: Point) -> bool {
    m_per_px(h, p).is_some_and(|d| d <= MAX_M_PER_PX)
}

/// A detector's box edges are off by about this share of the box's size from one frame to the
/// next (a few per cent is what detectors of the YOLO family show on video, and what the
/// simulator draws)…
pub const BOX_JITTER_SHARE: f64 = 0.03;
/// … and by at least about a pixel.
pub const MIN_JITTER_PX: f64 = 1.0;

/// How far off the ground point of a detected box may be, metres: the bottom-centre of a box
/// `height` pixels tall jitters by [`BOX_JITTER_SHARE`] of the height (at least
/// [`MIN_JITTER_PX`]), and a pixel there spans `m_per_px` ([`m_per_px`]). Near the camera the box is large but
/// a pixel is centimetres; 60 m out the box is a few pixels and a pixel most of a metre. A
/// speed fit's error is never smaller than its points' spreads give ([`super::speed::Fix`]).
pub fn fix_sd(m_per_px: f64, height: f32) -> f64 {
    m_per_px * (BOX_JITTER_SHARE * f64::from(height)).max(MIN_JITTER_PX)
}

/// Window of the speed estimator: a second averages out box jitter at any frame rate the
/// daemon runs (1–60 fps), with half a second of lag. At 3 fps and below it reaches back up to
/// [`super::speed::MAX_WINDOW_S`] to have [`super::speed::MIN_POINTS`] points.
pub const SPEED_WINDOW_S: f64 = 1.0;

impl Kinematics {
    pub fn new(homography: Option<Homography>) -> Self {
        Self { homography, window_s: SPEED_WINDOW_S, tracks: HashMap::new() }
    }

    pub fn homography(&self) -> Option<&Homography> {
        self.homography.as_ref()
    }

    /// Feed the camera's tracks after the tracker's update at time `t`. Tracks matched in this
    /// frame, or carried onto it, add a sample (tentative ones too, shown to the rules once
    /// confirmed); lost ones keep their history.
    pub fn update<'a>(&mut self, t: f64, tracks: impl Iterator<Item = &'a Track> + Clone) {
        self.feed(t, tracks, false);
    }

    /// Feed the camera's tracks after boxes were carried onto a frame at time `t` between
    /// detections (`Tracker::carry`): only the tracks carried add a sample, marked carried and
    /// repeating the latest detection's speed reading; the others are not seen at this frame.
    pub fn carried<'a>(&mut self, t: f64, tracks: impl Iterator<Item = &'a Track> + Clone) {
        self.feed(t, tracks, true);
    }

    fn feed<'a>(&mut self, t: f64, tracks: impl Iterator<Item = &'a Track> + Clone, carried_frame: bool) {
        for m in self.tracks.values_mut() {
            m.matched = false;
        }
        let mut live = Vec::new();
        for tr in tracks.clone() {
            live.push(tr.id);
            let confirmed = tr.state == TrackState::Confirmed;
            let carried = tr.carried_at(t);
            let seen = if carried_frame {
                carried.is_some() && tr.state != TrackState::Lost
            } else {
                confirmed || (tr.state == TrackState::Tentative && (tr.matched_at(t) || carried.is_some()))
            };
            if !seen {
                continue;
            }
            let image = tr.bbox.bottom_center();
            // The detected box, or the carried one on a frame it was carried onto.
            let seen_box = tr.seen_box();
            let det = seen_box.bottom_center();
            let h = self.homography.as_ref();
            let ground = h.and_then(|h| h.to_ground(image));
            let measured = h.and_then(|h| h.to_ground(det));
            let window_s = self.window_s;
            let m = self.tracks.entry(tr.id).or_insert_with(|| TrackKinematics {
                class_id: tr.class_id,
                bbox: tr.bbox,
                det_bbox: seen_box,
                last_seen: t,
                matched: true,
                confirmed,
                history: VecDeque::new(),
                estimator: SpeedEstimator::new(window_s),
                best: OnceCell::new(),
                whole_at: None,
                foot_at: None,
                shapes: Shapes::default(),
            });
            m.bbox = tr.bbox;
            m.det_bbox = seen_box;
            m.last_seen = t;
            m.matched = true;
            m.confirmed = confirmed;
            let px = h.and_then(|h| m_per_px(h, det));
            let fine = px.is_some_and(|d| d <= MAX_M_PER_PX);
            let carried = carried.unwrap_or(0);
            // A box cut by the picture's bottom edge has the edge for its foot: a road user
            // leaving under the camera would seem to slow down (over 100 runs, the worst
            // reading of a motorcycle riding towards the 8 m pole at 3 fps went from 5.4 % to
            // 3.1 % off without them). So for [`CUT_SKIP_S`] after its track's latest whole
            // box, a cut one is no point of a speed, and its sample repeats the latest reading.
            // Not longer: a road user still cut after that stands or crawls at the edge, where
            // the edge is as good a foot as any, and a repeated reading would hide its stop.
            // One entering has no whole box yet, and its first boxes are all it has (their
            // feet on the edge make its first readings a little slow): on the rooftop camera at
            // 3 fps a racer is seen three times.
            // So is a box whose foot a road user in front hides ([`foot_hidden`]): in dense
            // traffic on the wide pole (30–50 km/h), riders riding away were boxed down to the
            // top of the one in front in their last detections and read up to 65 km/h (over 100
            // runs, false `speeding` at 3, 5 and 10 fps fell from 6, 1 and 2 to 1, 0 and 0).
            // Its foot hidden for longer than that, the road user rides on behind the other one:
            // its usual shape is learned again, from what is seen of it.
            let others = || tracks.clone().filter(|o| o.id != tr.id && o.matched_at(t)).map(|o| o.seen_box());
            let edge_cut = carried == 0 && tr.detection_cut();
            let hidden = carried == 0 && !edge_cut && foot_hidden(&seen_box, m.shapes.usual(), others());
            if carried == 0 && !edge_cut {
                m.whole_at = Some(t);
            }
            let recent = |at: Option<f64>| at.is_some_and(|w| t - w <= CUT_SKIP_S + 1e-6);
            if hidden && !recent(m.foot_at) {
                m.shapes = Shapes::default();
            }
            if carried == 0 && !edge_cut && !hidden {
                m.foot_at = Some(t);
                let shape = seen_box.height() / seen_box.width();
                if !tr.detection_clipped() && shape.is_finite() {
                    m.shapes.push(shape);
                }
            }
            let cut = (edge_cut && recent(m.whole_at)) || (hidden && recent(m.foot_at));
            let measured_sd = px.filter(|_| carried == 0 && !cut).map(|d| fix_sd(d, seen_box.height()));
            // Speeds are fitted to detections alone. A carried box keeps its detection's error
            // for every frame it is carried: the fit would count one error several times and
            // take its points for independent ones, and its standard error would shrink below
            // what its speed is worth (in the simulator, with carried points, the worst
            // readings of the pole cameras went from 5 % to 8 % off while passing the gate).
            let (kmh, kmh_se, reading) = if carried > 0 || cut {
                m.history.back().map_or((None, None, None), |s| (s.kmh, s.kmh_se, s.fit))
            } else {
                let fit: Option<SpeedFit> = measured.zip(measured_sd).and_then(|(g, sd)| {
                    m.estimator.push(Fix { t, g, sd });
                    m.estimator.fit().filter(|_| fine)
                });
                let reading = fit.map(|f| FitReading {
                    kmh: f.mps * 3.6,
                    se_kmh: f.se_mps * 3.6,
                    t_first: f.t_first,
                    t_mid: f.t_mid,
                });
                match fit {
                    Some(f) if f.se_mps * 3.6 <= max_se_kmh(f.mps * 3.6) => {
                        (Some(f.mps * 3.6), Some(f.se_mps * 3.6), reading)
                    }
                    _ => (None, None, reading),
                }
            };
            m.history.push_back(Sample { t, image, ground, measured, measured_sd, kmh, kmh_se, fit: reading, carried });
            while m.history.front().is_some_and(|s| t - s.t > HISTORY_S) {
                m.history.pop_front();
            }
            m.best = OnceCell::new();
        }
        // Tentative tracks the tracker dropped are forgotten here (confirmed ones are removed
        // by the caller when they end).
        self.tracks.retain(|id, m| m.confirmed || live.contains(id));
    }

    /// A confirmed track's motion.
    pub fn get(&self, id: u64) -> Option<&TrackKinematics> {
        self.tracks.get(&id).filter(|m| m.confirmed)
    }

    /// The confirmed tracks' motion.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &TrackKinematics)> {
        self.tracks.iter().filter(|(_, m)| m.confirmed).map(|(&id, m)| (id, m))
    }

    /// Forget an ended track.
    pub fn remove(&mut self, id: u64) {
        self.tracks.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::Detection;
    use crate::geometry::homography::tests::flat;
    use crate::track::{Tracker, TrackerConfig};

    #[test]
    fn samples_only_matched_confirmed_tracks_and_forgets_old_history() {
        // 10 px a metre, no perspective.
        let h = flat(0.1);
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(h));
        // 10 m/s to the right at 10 fps for 15 s, then not detected for a frame.
        for i in 0..150 {
            let t = f64::from(i) * 0.1;
            let x = 50.0 + 10.0 * i as f32;
            tracker
                .update(t, &[Detection { class_id: 2, score: 0.9, bbox: BBox::new(x - 20.0, 60.0, x + 20.0, 100.0) }]);
            motion.update(t, tracker.tracks());
        }
        let m = motion.get(1).expect("track 1");
        assert!(m.matched);
        assert!((m.kmh().expect("speed") - 36.0).abs() < 1.0, "{:?}", m.kmh());
        let span = m.history.back().unwrap().t - m.history.front().unwrap().t;
        assert!(span <= HISTORY_S && span > HISTORY_S - 0.2, "{span}");
        tracker.update(15.0, &[]);
        motion.update(15.0, tracker.tracks());
        let m = motion.get(1).expect("kept while lost");
        assert!(!m.matched && (m.last_seen - 14.9).abs() < 1e-9);
        motion.remove(1);
        assert!(motion.get(1).is_none());
    }

    /// A point's spread is the ground a pixel spans there times the box's edge jitter: 3 % of
    /// its height, at least a pixel.
    #[test]
    fn a_points_spread_is_its_pixel_size_times_its_box_jitter() {
        // 10 px a metre: a pixel is 0.1 m.
        let h = flat(0.1);
        let px = m_per_px(&h, (50.0, 50.0)).expect("on the ground");
        assert!((px - 0.1).abs() < 1e-9, "{px}");
        assert!((fix_sd(px, 200.0) - 0.6).abs() < 1e-9, "6 px of jitter");
        assert!((fix_sd(px, 20.0) - 0.1).abs() < 1e-9, "a pixel, not 0.6 px");
        // The samples carry it.
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(h));
        tracker.update(0.0, &[Detection { class_id: 2, score: 0.9, bbox: BBox::new(30.0, 0.0, 70.0, 100.0) }]);
        motion.update(0.0, tracker.tracks());
        let sd = motion.get(1).and_then(|m| m.latest()).and_then(|s| s.measured_sd).expect("a spread");
        assert!((sd - 0.3).abs() < 1e-6, "{sd}");
    }

    #[test]
    fn no_speed_where_a_pixel_is_too_coarse() {
        // 2 m a pixel: positions still, speeds not.
        let h = flat(2.0);
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(h));
        for i in 0..30 {
            let t = f64::from(i) * 0.1;
            let x = 50.0 + 2.0 * i as f32;
            tracker
                .update(t, &[Detection { class_id: 2, score: 0.9, bbox: BBox::new(x - 20.0, 60.0, x + 20.0, 100.0) }]);
            motion.update(t, tracker.tracks());
        }
        let m = motion.get(1).expect("track 1");
        assert!(m.latest().is_some_and(|s| s.ground.is_some()));
        assert_eq!(m.kmh(), None);
    }

    /// The samples of track 1 (the first box of frame 0) in a 1280×720 picture (10 px a
    /// metre, no perspective) at 10 fps, over `frames` frames of the boxes `boxes(i)`.
    fn samples_of_track_1(frames: u32, boxes: impl Fn(u32) -> Vec<BBox>) -> Vec<Sample> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        tracker.set_picture(1280.0, 720.0);
        let mut motion = Kinematics::new(Some(flat(0.1)));
        for i in 0..frames {
            let t = f64::from(i) * 0.1;
            let dets: Vec<Detection> =
                boxes(i).into_iter().map(|bbox| Detection { class_id: 2, score: 0.9, bbox }).collect();
            tracker.update(t, &dets);
            motion.update(t, tracker.tracks());
        }
        motion.get(1).expect("track 1").history.iter().copied().collect()
    }

    /// A car 100 px tall at 10 fps, its foot at `foot(i)` in frame `i`, for `frames` frames;
    /// its box is cut by the picture's bottom edge where its foot is beyond it. The samples of
    /// its track.
    fn by_the_bottom_edge(frames: u32, foot: impl Fn(f32) -> f32) -> Vec<Sample> {
        samples_of_track_1(frames, |i| {
            let y = foot(i as f32);
            vec![BBox::new(300.0, y - 100.0, 340.0, y.min(720.0))]
        })
    }

    #[test]
    fn a_box_cut_by_the_bottom_edge_after_whole_ones_is_no_point_of_a_speed() {
        // At 10 m/s, whole until its foot reaches 720 px at 1.8 s, cut for the 0.9 s after:
        // its foot stands at the edge while the car drives on, which a fit through it reads as
        // slowing.
        let samples = by_the_bottom_edge(27, |i| 540.0 + 10.0 * i);
        let (whole, cut): (Vec<&Sample>, Vec<&Sample>) = samples.iter().partition(|s| s.t < 1.75);
        assert!(whole.iter().all(|s| s.measured_sd.is_some()), "{samples:?}");
        assert_eq!(cut.len(), 9);
        for s in cut {
            assert_eq!(s.measured_sd, None, "at {}: no point of a fit", s.t);
            let kmh = s.kmh.unwrap_or_else(|| panic!("{samples:?}"));
            assert!((kmh - 36.0).abs() < 0.5, "at {}: {kmh} km/h", s.t);
        }
    }

    #[test]
    fn a_road_user_standing_cut_by_the_bottom_edge_is_measured_standing() {
        // Whole until 1 s, then it drives 10 px a frame into the edge and stands there, cut,
        // from 1.3 s: past CUT_SKIP_S its cut boxes count again, and it reads standing.
        let samples = by_the_bottom_edge(50, |i| (620.0 + 10.0 * i).min(750.0));
        let s = samples.last().expect("a sample");
        assert!(s.measured_sd.is_some(), "{s:?}");
        assert!(s.kmh.is_some_and(|v| v < 1.5), "{s:?}");
    }

    /// A rider riding away up the picture at 10 fps (10 px a metre, 10 m/s), its box 20 px wide
    /// and 40 tall. From 1 s a nearer one, 40 px by 80, comes in front and covers its bottom (it
    /// is not detected before), and its detected box ends at that one's top, `cut_px` above its
    /// foot.
    /// The nearer one is detected in frame `i` where `front(i)`. The samples of the one behind
    /// over `frames` frames.
    fn behind_a_rider(cut_px: f32, front: impl Fn(u32) -> bool, frames: u32) -> Vec<Sample> {
        samples_of_track_1(frames, |i| {
            let foot = 500.0 - 10.0 * i as f32;
            let cut = if i >= 10 { cut_px } else { 0.0 };
            let mut boxes = vec![BBox::new(300.0, foot - 40.0, 320.0, foot - cut)];
            if i >= 10 && front(i) {
                boxes.push(BBox::new(290.0, foot - cut, 330.0, foot - cut + 80.0));
            }
            boxes
        })
    }

    #[test]
    fn a_box_whose_foot_a_road_user_in_front_hides_is_no_point_of_a_speed() {
        // Cut 15 px above its foot (a box 25 px tall for 20 wide, against 40): its foot would
        // read 1.5 m further out, a jump of 15 m/s in a tenth of a second.
        let samples = behind_a_rider(15.0, |_| true, 15);
        let (whole, cut): (Vec<&Sample>, Vec<&Sample>) = samples.iter().partition(|s| s.t < 0.95);
        assert!(whole.iter().all(|s| s.measured_sd.is_some()), "{samples:?}");
        assert_eq!(cut.len(), 5);
        for s in cut {
            assert_eq!(s.measured_sd, None, "at {}: no point of a fit", s.t);
            let kmh = s.kmh.unwrap_or_else(|| panic!("{samples:?}"));
            assert!((kmh - 36.0).abs() < 0.5, "at {}: {kmh} km/h", s.t);
        }
        // Nothing in front detected, or a box only a little less tall (its jitter): points.
        for samples in [behind_a_rider(15.0, |_| false, 15), behind_a_rider(5.0, |_| true, 15)] {
            assert!(samples.iter().all(|s| s.measured_sd.is_some()), "{samples:?}");
        }
    }

    #[test]
    fn a_road_user_riding_on_behind_another_is_measured_again_after_cut_skip_s() {
        // Its foot hidden from 1 s to 4 s: no points for CUT_SKIP_S after its latest whole box
        // (0.9 s), then its cut boxes, which move with it, are its points again; its usual
        // shape is now theirs, so the one in front missed at 3 s does not make the next ones
        // cut again.
        let samples = behind_a_rider(15.0, |i| i != 30, 40);
        for s in &samples {
            let skipped = s.t > 0.95 && s.t <= 0.9 + CUT_SKIP_S + 1e-6;
            assert_eq!(s.measured_sd.is_none(), skipped, "at {}: {samples:?}", s.t);
        }
        let last = samples.last().expect("a sample");
        assert!(last.kmh.is_some_and(|v| (v - 36.0).abs() < 0.5), "{last:?}");
    }

    #[test]
    fn a_foot_is_hidden_only_by_a_nearer_box_over_a_box_less_tall_than_its_track_s() {
        let seen = BBox::new(100.0, 100.0, 120.0, 125.0);
        let nearer = BBox::new(90.0, 110.0, 130.0, 190.0);
        assert!(foot_hidden(&seen, Some(2.0), [nearer].into_iter()));
        // Its track's shape not known yet, or as tall as usual.
        assert!(!foot_hidden(&seen, None, [nearer].into_iter()));
        assert!(!foot_hidden(&seen, Some(1.3), [nearer].into_iter()));
        // Its top where it ends, give or take their jitter.
        assert!(foot_hidden(&seen, Some(2.0), [BBox::new(90.0, 127.0, 130.0, 190.0)].into_iter()));
        // The other box beside it, below its bottom edge, or not lower by a fifth of its height.
        for other in [
            BBox::new(130.0, 110.0, 170.0, 190.0),
            BBox::new(90.0, 128.0, 130.0, 190.0),
            BBox::new(90.0, 100.0, 130.0, 129.0),
        ] {
            assert!(!foot_hidden(&seen, Some(2.0), [other].into_iter()), "{other:?}");
        }
        // Cut by the picture's top edge, its foot is whole.
        let at_top = BBox::new(100.0, 0.5, 120.0, 25.0);
        assert!(!foot_hidden(&at_top, Some(2.0), [BBox::new(90.0, 10.0, 130.0, 90.0)].into_iter()));
    }

    #[test]
    fn a_track_entering_cut_by_the_bottom_edge_is_measured_from_its_first_box() {
        // Entering, it has no whole box to go by: its first boxes, cut, are its first points
        // (at 3 detections a second a rider riding away from a pole camera is cut for the
        // first of the few it gets).
        // Driving up into the picture, cut for its first 5 boxes.
        let samples = by_the_bottom_edge(8, |i| 760.0 - 10.0 * i);
        assert_eq!(samples.len(), 8);
        assert!(samples.iter().all(|s| s.measured_sd.is_some()), "{samples:?}");
        assert!(samples[6].fit.is_some_and(|f| f.t_first == 0.0), "a fit from its first box: {samples:?}");
    }
}
