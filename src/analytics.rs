//! One camera's analytics, from detections to events: tracker → rules → event messages.
//!
//! Plain computation with no I/O, so the daemon, `replay` and the tests run the very same code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::feasibility::road_direction;
use crate::config::{CameraConfig, RuleConfig};
use crate::detect::manifest::{Group, LabelMap};
use crate::detect::{BBox, Detection};
use crate::event::{Body, CountRow, CountsMessage, Event, Phase, new_id, rfc3339, round_box, round_s, round1, round3};
use crate::geometry::homography::Homography;
use crate::geometry::{Point, polygon_area};
use crate::rules::collision::Collision;
use crate::rules::counts::{Counts, Interval};
use crate::rules::crowd::{Crowd, count_in_zone};
use crate::rules::kinematics::Kinematics;
use crate::rules::line_cross::{Crossing, LineCross};
use crate::rules::loitering::{Loitering, LoiteringHit};
use crate::rules::racing::{Racing, road_axis};
use crate::rules::speeding::{Speeding, SpeedingHit};
use crate::rules::stopped_vehicle::{StoppedHit, StoppedVehicle};
use crate::rules::wrong_way::{WrongWay, WrongWayHit, line_direction};
use crate::track::{Track, TrackState, Tracker, TrackerConfig};

struct OpenObject {
    event_id: String,
}

enum ZoneRuleState {
    Crowd { rule: Crowd, zone: Vec<Point>, area_m2: Option<f64> },
    Loitering(Loitering),
    StoppedVehicle(StoppedVehicle),
    Speeding(Speeding),
    Racing(Racing),
    Collision(Collision),
    WrongWay(WrongWay),
}

impl ZoneRuleState {
    /// Whether the rule reads per-track motion (speeds, displacements).
    fn uses_motion(&self) -> bool {
        matches!(self, Self::Speeding(_) | Self::Racing(_) | Self::Collision(_) | Self::WrongWay(_))
    }
}

/// One configured zone rule and its state.
struct ZoneRule {
    name: String,
    zone: String,
    state: ZoneRuleState,
}

/// A rule's state change, before it becomes an event: `key` tells its event apart from the
/// rule's others ((0, 0) for a zone-wide event, (track id, 0), or a pair of track ids).
struct RuleHit {
    phase: Phase,
    key: (u64, u64),
    body: Body,
}

/// What the rules read at a frame.
struct Scene<'a> {
    tracker: &'a Tracker,
    /// Per-track motion; there whenever a rule reads it (see [`ZoneRuleState::uses_motion`]).
    motion: Option<&'a Kinematics>,
    labels: &'a LabelMap,
}

impl Scene<'_> {
    fn is(&self, g: Group) -> impl Fn(u32) -> bool + '_ {
        move |c| self.labels.group(c) == Some(g)
    }

    fn road_user(&self) -> impl Fn(u32) -> bool + '_ {
        |c| matches!(self.labels.group(c), Some(Group::Vehicle | Group::Motorcycle))
    }
}

/// A rule that judges tracks one at a time, each of its events about one track: loitering,
/// stopped vehicle, speeding, wrong way. They differ only in what they read and what their
/// events say, so [`run_track_rule`] drives them all.
trait TrackRule {
    type Hit;
    /// Reads per-track motion: without it the rule does nothing.
    const READS_MOTION: bool;
    /// Forget a track that ended at frame time `t` (`None`: at the end of the stream).
    fn forget(&mut self, track: &Track, t: Option<f64>, out: &mut Vec<Self::Hit>);
    /// Judge the tracks at frame time `t`.
    fn judge(&mut self, t: f64, scene: &Scene, out: &mut Vec<Self::Hit>);
    /// The hit's phase, its track and its event body.
    fn event(&self, hit: Self::Hit, names: &(String, String), labels: &LabelMap) -> (Phase, u64, Body);
}

/// One frame (`Some(t)`) or the end of the stream (`None`) of a [`TrackRule`]: ended tracks
/// first, so that their events end before the survivors are judged.
fn run_track_rule<R: TrackRule>(
    rule: &mut R,
    t: Option<f64>,
    ended: &[Track],
    scene: &Scene,
    names: &(String, String),
    out: &mut Vec<RuleHit>,
) {
    if R::READS_MOTION && scene.motion.is_none() {
        return;
    }
    let mut got = Vec::new();
    for tr in ended {
        rule.forget(tr, t, &mut got);
    }
    if let Some(t) = t {
        rule.judge(t, scene, &mut got);
    }
    out.extend(got.into_iter().map(|h| {
        let (phase, track_id, body) = rule.event(h, names, scene.labels);
        RuleHit { phase, key: (track_id, 0), body }
    }));
}

impl TrackRule for Loitering {
    type Hit = LoiteringHit;
    const READS_MOTION: bool = false;
    fn forget(&mut self, track: &Track, _: Option<f64>, out: &mut Vec<LoiteringHit>) {
        self.remove(track, out);
    }
    fn judge(&mut self, t: f64, scene: &Scene, out: &mut Vec<LoiteringHit>) {
        self.update(t, scene.tracker.tracks(), scene.is(Group::Person), out);
    }
    fn event(&self, h: LoiteringHit, (rule, zone): &(String, String), labels: &LabelMap) -> (Phase, u64, Body) {
        let body = Body::Loitering {
            rule: rule.clone(),
            zone: zone.clone(),
            label: labels.name(h.class_id).to_string(),
            track_id: h.track_id,
            dwell_s: round_s(h.dwell_s),
        };
        (h.phase, h.track_id, body)
    }
}

impl TrackRule for StoppedVehicle {
    type Hit = StoppedHit;
    const READS_MOTION: bool = false;
    fn forget(&mut self, track: &Track, _: Option<f64>, out: &mut Vec<StoppedHit>) {
        self.remove(track, out);
    }
    fn judge(&mut self, t: f64, scene: &Scene, out: &mut Vec<StoppedHit>) {
        self.update(t, scene.tracker.tracks(), scene.is(Group::Vehicle), out);
    }
    fn event(&self, h: StoppedHit, (rule, zone): &(String, String), labels: &LabelMap) -> (Phase, u64, Body) {
        let body = Body::StoppedVehicle {
            rule: rule.clone(),
            zone: zone.clone(),
            label: labels.name(h.class_id).to_string(),
            track_id: h.track_id,
            stopped_s: round_s(h.stopped_s),
            bbox: round_box(h.bbox),
        };
        (h.phase, h.track_id, body)
    }
}

impl TrackRule for Speeding {
    type Hit = SpeedingHit;
    const READS_MOTION: bool = true;
    fn forget(&mut self, track: &Track, t: Option<f64>, out: &mut Vec<SpeedingHit>) {
        self.remove(track.id, t.unwrap_or(track.last_seen), out);
    }
    fn judge(&mut self, t: f64, scene: &Scene, out: &mut Vec<SpeedingHit>) {
        if let Some(motion) = scene.motion {
            self.update(t, motion, scene.road_user(), out);
        }
    }
    fn event(&self, h: SpeedingHit, (rule, zone): &(String, String), labels: &LabelMap) -> (Phase, u64, Body) {
        let body = Body::Speeding {
            rule: rule.clone(),
            zone: zone.clone(),
            label: labels.name(h.class_id).to_string(),
            track_id: h.track_id,
            limit_kmh: self.limit_kmh(),
            speed_kmh: round1(h.speed_kmh),
            max_kmh: round1(h.max_kmh),
            mean_kmh: round1(h.mean_kmh),
        };
        (h.phase, h.track_id, body)
    }
}

impl TrackRule for WrongWay {
    type Hit = WrongWayHit;
    const READS_MOTION: bool = true;
    fn forget(&mut self, track: &Track, t: Option<f64>, out: &mut Vec<WrongWayHit>) {
        self.remove(track.id, t.unwrap_or(track.last_seen), out);
    }
    fn judge(&mut self, t: f64, scene: &Scene, out: &mut Vec<WrongWayHit>) {
        if let Some(motion) = scene.motion {
            self.update(t, motion, scene.road_user(), out);
        }
    }
    fn event(&self, h: WrongWayHit, (rule, zone): &(String, String), labels: &LabelMap) -> (Phase, u64, Body) {
        let body = Body::WrongWay {
            rule: rule.clone(),
            zone: zone.clone(),
            label: labels.name(h.class_id).to_string(),
            track_id: h.track_id,
            angle_deg: round1(h.angle_deg),
            moved: round1(h.moved),
        };
        (h.phase, h.track_id, body)
    }
}

/// The zone's area on the ground in m², when every corner has a ground point.
fn ground_area(h: &Homography, zone: &[Point]) -> Option<f64> {
    h.polygon_to_ground(zone).map(|p| polygon_area(&p)).filter(|a| *a > 0.0)
}

/// The road's vanishing point in the picture, for the tracker (see `Tracker::with_road`), from
/// [`road_direction`].
fn road_vanishing_point(cam: &CameraConfig) -> Option<(f32, f32, f32)> {
    let dir = road_direction(cam)?;
    cam.homography()?.vanishing_point(dir).map(|(x, y, w)| (x as f32, y as f32, w as f32))
}

fn zone_rules(cam: &CameraConfig) -> Vec<ZoneRule> {
    let h = cam.homography();
    let mut out = Vec::new();
    for r in &cam.rules {
        let r = r.get_ref();
        // Zone names were checked at load; a rule without its zone cannot occur.
        let Some(zone) = cam.zone(r.zone()) else { continue };
        let poly = zone.polygon.0.clone();
        let state = match r {
            RuleConfig::Crowd(c) => ZoneRuleState::Crowd {
                rule: Crowd::new(c),
                area_m2: h.as_ref().and_then(|h| ground_area(h, &poly)),
                zone: poly,
            },
            RuleConfig::Loitering(c) => ZoneRuleState::Loitering(Loitering::new(c, &poly)),
            RuleConfig::StoppedVehicle(c) => ZoneRuleState::StoppedVehicle(StoppedVehicle::new(c, &poly, h)),
            RuleConfig::Speeding(c) => ZoneRuleState::Speeding(Speeding::new(c, &poly)),
            RuleConfig::Racing(c) => {
                ZoneRuleState::Racing(Racing::new(c, &poly, h.as_ref().and_then(|h| road_axis(h, &poly))))
            }
            RuleConfig::CollisionSuspect(c) => ZoneRuleState::Collision(Collision::new(c, &poly)),
            RuleConfig::WrongWay(c) => {
                let allowed = match (&c.direction, &c.line, &c.line_direction) {
                    (Some(v), _, _) => (v.0[0], v.0[1]),
                    // Line and direction names were checked at load.
                    (None, Some(line), Some(dir)) => match cam.lines.iter().find(|l| l.name.get_ref() == line) {
                        Some(l) => line_direction(l, &dir.0),
                        None => continue,
                    },
                    _ => continue,
                };
                ZoneRuleState::WrongWay(WrongWay::new(c, &poly, allowed))
            }
        };
        out.push(ZoneRule { name: r.name().0.clone(), zone: r.zone().0.clone(), state });
    }
    out
}

/// What kind of frame the rules judge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RulesAt {
    Detected,
    /// Boxes carried between detections: only the rules that read motion judge it.
    Carried,
}

pub struct CameraAnalytics {
    camera: String,
    labels: Arc<LabelMap>,
    /// Which class ids this camera reports, by class id.
    enabled: Vec<bool>,
    tracker: Tracker,
    lines: LineCross,
    line_names: Vec<(String, [String; 2])>,
    open: HashMap<u64, OpenObject>,
    rules: Vec<ZoneRule>,
    /// Per-track motion, when a rule reads it.
    motion: Option<Kinematics>,
    /// Open rule events by (rule index, key: track id and 0, (0, 0) for a zone-wide event, a
    /// pair of track ids) → event id.
    open_rules: HashMap<(usize, (u64, u64)), String>,
    /// The latest frame's stream time and wall-clock time, to place track times on the clock.
    clock: Option<(f64, SystemTime)>,
    dets: Vec<Detection>,
    /// Per box of the latest frame (its detections, then its carried boxes), its index among
    /// those given to the tracker (the detections of the classes this camera reports, then the
    /// carried boxes whose box of the frame before was given), if given.
    kept: Vec<Option<usize>>,
    /// The frame before's `kept`, while the frame's is made (kept for its memory).
    kept_before: Vec<Option<usize>>,
    /// The carried boxes given to the tracker at the latest frame, each naming its box of the
    /// frame before in the tracker's terms.
    carried: Vec<(usize, BBox)>,
    crossings: Vec<Crossing>,
    /// Time the last [`CameraAnalytics::on_frame`] spent in the tracker and in the rules
    /// (crossings, zone rules, building events), for `anttd bench`.
    pub last_timings: (Duration, Duration),
    /// Crossings per interval, for cameras with lines.
    counts: Option<Counts>,
    /// Closed intervals not yet taken by [`CameraAnalytics::take_counts`].
    closed: Vec<Interval>,
    counts_out: Vec<CountsMessage>,
}

impl CameraAnalytics {
    pub fn new(cam: &CameraConfig, tracker: &TrackerConfig, labels: Arc<LabelMap>) -> Self {
        let mut me = Self::build(cam, tracker, labels);
        if me.rules.iter().any(|r| r.state.uses_motion()) {
            me.motion = Some(Kinematics::new(cam.homography()));
        }
        me
    }

    fn build(cam: &CameraConfig, tracker: &TrackerConfig, labels: Arc<LabelMap>) -> Self {
        let enabled = (0..labels.labels.len() as u32)
            .map(|c| {
                if cam.labels.is_empty() {
                    labels.group(c).is_some()
                } else {
                    cam.labels.iter().any(|l| l.get_ref() == labels.name(c))
                }
            })
            .collect();
        Self {
            camera: cam.id.get_ref().0.clone(),
            labels,
            enabled,
            tracker: Tracker::new(tracker.clone())
                .with_horizon(cam.homography().and_then(|h| h.horizon()).map(|(a, b)| (a as f32, b as f32)))
                .with_ground(cam.homography())
                .with_road(road_vanishing_point(cam)),
            lines: LineCross::new(&cam.lines)
                .with_min_score(tracker.high_thresh)
                .with_ground(cam.homography())
                .with_road(road_direction(cam)),
            line_names: cam.lines.iter().map(|l| (l.name.get_ref().0.clone(), l.directions.0.clone())).collect(),
            open: HashMap::new(),
            motion: None,
            rules: zone_rules(cam),
            open_rules: HashMap::new(),
            clock: None,
            dets: Vec::new(),
            kept: Vec::new(),
            kept_before: Vec::new(),
            carried: Vec::new(),
            crossings: Vec::new(),
            last_timings: Default::default(),
            counts: (!cam.lines.is_empty()).then(|| Counts::new(cam.counts_interval_s.0 as f64)),
            closed: Vec::new(),
            counts_out: Vec::new(),
        }
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The camera's tracker, for measuring it (`anttd scenarios`).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    fn wall(&self, t: f64) -> SystemTime {
        match self.clock {
            Some((t0, w0)) if t >= t0 => w0 + Duration::from_secs_f64(t - t0),
            Some((t0, w0)) => w0.checked_sub(Duration::from_secs_f64(t0 - t)).unwrap_or(w0),
            None => SystemTime::now(),
        }
    }

    /// Process one detected frame of a `picture` (width, height: the detections' pixel
    /// space); events are appended to `out`.
    pub fn on_frame(
        &mut self,
        time_s: f64,
        wall: SystemTime,
        picture: (u32, u32),
        detections: &[Detection],
        out: &mut Vec<Event>,
    ) {
        self.on_frame_carried(time_s, wall, picture, detections, &[], out);
    }

    /// [`CameraAnalytics::on_frame`] with boxes carried onto the frame too (see
    /// [`CameraAnalytics::on_carried`]): a road user the detector missed and the carrier
    /// followed keeps its track (`Tracker::update_carried`).
    pub fn on_frame_carried(
        &mut self,
        time_s: f64,
        wall: SystemTime,
        picture: (u32, u32),
        detections: &[Detection],
        carried: &[(usize, BBox)],
        out: &mut Vec<Event>,
    ) {
        let t0 = std::time::Instant::now();
        self.clock = Some((time_s, wall));
        self.tracker.set_picture(picture.0 as f32, picture.1 as f32);
        let before = self.start_kept();
        self.dets.clear();
        for d in detections {
            let keep = self.enabled.get(d.class_id as usize).copied().unwrap_or(false);
            self.kept.push(keep.then_some(self.dets.len()));
            if keep {
                self.dets.push(*d);
            }
        }
        self.keep_carried(&before, carried, self.dets.len());
        self.kept_before = before;
        let output = self.tracker.update_carried(time_s, &self.dets, &self.carried);
        let t1 = std::time::Instant::now();
        let ended = output.ended;
        let started: Vec<Track> = output.active.iter().filter(|t| output.confirmed.contains(&t.id)).cloned().collect();
        self.crossings.clear();
        self.lines.update_frame(time_s, &self.dets, output.active, &mut self.crossings);
        if let Some(c) = &mut self.counts {
            c.tick(time_s, &mut self.closed);
            for x in &self.crossings {
                c.add(x.line, x.class_id, x.direction);
            }
        }

        let ts = rfc3339(wall);
        for track in started {
            let event_id = new_id();
            out.push(self.object_event(&track, Phase::Start, event_id.clone(), ts.clone()));
            self.open.insert(track.id, OpenObject { event_id });
        }
        self.push_crossings(&ts, out);
        if let Some(m) = &mut self.motion {
            // Tentative tracks too: a fast object's speed counts from its first detection.
            m.update(time_s, self.tracker.live_tracks());
        }
        self.run_rules(Some(time_s), &ended, &ts, RulesAt::Detected, out);
        for track in ended {
            self.end_object(&track, out);
        }
        self.last_timings = (t1 - t0, t1.elapsed());
    }

    /// Process one decoded frame between two detected ones (no detector ran on it), onto which
    /// boxes were carried ([`crate::track::carry`]): each with the index of the box of the frame
    /// before it was carried from (that frame's detections, then its carried boxes). The tracks
    /// those boxes went to take them (`Tracker::carry`); their points count at the
    /// lines they cross and are motion samples. The rules that read motion (speeding, racing,
    /// collision, wrong way) judge the frame; the others judge detected frames only, whose
    /// tracks a carried frame does not change. Events are appended to `out`.
    pub fn on_carried(&mut self, time_s: f64, wall: SystemTime, boxes: &[(usize, BBox)], out: &mut Vec<Event>) {
        let t0 = std::time::Instant::now();
        let before = self.start_kept();
        self.keep_carried(&before, boxes, 0);
        self.kept_before = before;
        if self.tracker.carry(time_s, &self.carried) == 0 {
            self.last_timings = (t0.elapsed(), Duration::ZERO);
            return;
        }
        self.clock = Some((time_s, wall));
        let t1 = std::time::Instant::now();
        let carried = |tr: &&Track| tr.carried_at(time_s).is_some() && tr.state == TrackState::Confirmed;
        self.crossings.clear();
        self.lines.update_carried(self.tracker.tracks().filter(carried), &mut self.crossings);
        if let Some(c) = &mut self.counts {
            c.tick(time_s, &mut self.closed);
            for x in &self.crossings {
                c.add(x.line, x.class_id, x.direction);
            }
        }
        let ts = rfc3339(wall);
        self.push_crossings(&ts, out);
        if let Some(m) = &mut self.motion {
            m.carried(time_s, self.tracker.live_tracks());
            self.run_rules(Some(time_s), &[], &ts, RulesAt::Carried, out);
        }
        self.last_timings = (t1 - t0, t1.elapsed());
    }

    /// The boxes of the latest frame carried onto the next, at `time_s` with its `pyramid` at
    /// `scale` (and the detector's `detections` if it ran on it: `Follower::onto`), each guided
    /// by the track it went to. The daemon and the simulator carry through here.
    pub fn carry_onto<'f>(
        &self,
        follower: &'f mut crate::track::follow::Follower,
        time_s: f64,
        pyramid: Option<crate::track::carry::Pyramid>,
        scale: (f32, f32),
        detections: Option<&[Detection]>,
    ) -> &'f [(usize, BBox)] {
        self.guide(follower);
        follower.onto(time_s, pyramid, scale, detections)
    }

    /// Give `follower` the velocity of the track each box of the latest frame went to, as its
    /// first guess of where a detection moves (`Follower::guide`).
    fn guide(&self, follower: &mut crate::track::follow::Follower) {
        for i in 0..follower.boxes() {
            let track = self.kept.get(i).copied().flatten().and_then(|j| self.tracker.owner(j));
            if let Some(t) = track {
                follower.guide(i, t.velocity());
            }
        }
    }

    /// Starts the frame's `kept` empty and hands out the frame before's, to be put back in
    /// `kept_before` once read: both buffers keep their memory from frame to frame.
    fn start_kept(&mut self) -> Vec<Option<usize>> {
        std::mem::swap(&mut self.kept, &mut self.kept_before);
        self.kept.clear();
        std::mem::take(&mut self.kept_before)
    }

    /// The carried boxes `boxes` (each naming its box of the frame before) in the tracker's
    /// terms, into `self.carried`, given after `given` detections; `before` is the frame
    /// before's [`CameraAnalytics::kept`]. A box whose box of the frame before the tracker was
    /// not given is not given either.
    fn keep_carried(&mut self, before: &[Option<usize>], boxes: &[(usize, BBox)], given: usize) {
        self.carried.clear();
        for &(from, b) in boxes {
            match before.get(from).copied().flatten() {
                Some(i) => {
                    self.kept.push(Some(given + self.carried.len()));
                    self.carried.push((i, b));
                }
                None => self.kept.push(None),
            }
        }
    }

    /// Line-cross events for `self.crossings`.
    fn push_crossings(&mut self, ts: &str, out: &mut Vec<Event>) {
        for c in std::mem::take(&mut self.crossings) {
            let (line, dirs) = &self.line_names[c.line];
            let event_id = new_id();
            out.push(Event {
                id: event_id.clone(),
                event_id,
                phase: Phase::Start,
                camera: self.camera.clone(),
                ts: ts.to_string(),
                body: Body::LineCross {
                    line: line.clone(),
                    direction: dirs[c.direction].clone(),
                    label: self.labels.name(c.class_id).to_string(),
                    track_id: c.track_id,
                },
            });
        }
    }

    /// The stream ended: end every open track, and every open rule event.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let ended = self.tracker.finish();
        let ts = rfc3339(self.clock.map_or_else(SystemTime::now, |c| c.1));
        self.run_rules(None, &ended, &ts, RulesAt::Detected, out);
        for track in ended {
            self.end_object(&track, out);
        }
        if let Some(last) = self.counts.as_mut().and_then(Counts::finish) {
            self.closed.push(last);
        }
    }

    /// `<camera>/counts` messages for the intervals closed so far (by frames or the end of the
    /// stream), oldest first.
    pub fn take_counts(&mut self) -> Vec<CountsMessage> {
        let closed = std::mem::take(&mut self.closed);
        for iv in closed {
            let counts = iv
                .counts
                .iter()
                .map(|(&(li, class, dir), &count)| {
                    let (line, dirs) = &self.line_names[li];
                    CountRow {
                        line: line.clone(),
                        label: self.labels.name(class).to_string(),
                        direction: dirs[dir].clone(),
                        count,
                    }
                })
                .collect();
            let msg = CountsMessage {
                id: new_id(),
                camera: self.camera.clone(),
                kind: "counts",
                from: rfc3339(self.wall(iv.from)),
                to: rfc3339(self.wall(iv.to)),
                interval_s: round_s(iv.to - iv.from),
                counts,
            };
            self.counts_out.push(msg);
        }
        std::mem::take(&mut self.counts_out)
    }

    /// The latest frame's stream time.
    fn now(&self) -> f64 {
        self.clock.map_or(0.0, |c| c.0)
    }

    /// Zone rules: at a frame (`Some(t)`), or at the end of the stream (`None`); at a carried
    /// frame only those that read motion.
    fn run_rules(&mut self, t: Option<f64>, ended: &[Track], ts: &str, at: RulesAt, out: &mut Vec<Event>) {
        if self.rules.is_empty() {
            return;
        }
        let now = self.now();
        let scene = Scene { tracker: &self.tracker, motion: self.motion.as_ref(), labels: &self.labels };
        let rule_names: Vec<(String, String)> = self.rules.iter().map(|r| (r.name.clone(), r.zone.clone())).collect();
        let mut hits: Vec<(usize, RuleHit)> = Vec::new();
        let mut got = Vec::new();
        for (ri, rule) in self.rules.iter_mut().enumerate() {
            if at == RulesAt::Carried && !rule.state.uses_motion() {
                continue;
            }
            let names = &rule_names[ri];
            match &mut rule.state {
                ZoneRuleState::Crowd { rule, zone, area_m2 } => {
                    let hit = match t {
                        Some(t) => rule.update(t, count_in_zone(scene.tracker.tracks(), zone, scene.is(Group::Person))),
                        None => rule.finish(),
                    };
                    if let Some(h) = hit {
                        let per_m2 = area_m2.map(|a| (f64::from(h.count) / a * 1000.0).round() / 1000.0);
                        let body = Body::Crowd {
                            rule: names.0.clone(),
                            zone: names.1.clone(),
                            count: h.count,
                            persons_per_m2: per_m2,
                        };
                        got.push(RuleHit { phase: h.phase, key: (0, 0), body });
                    }
                }
                ZoneRuleState::Loitering(rule) => run_track_rule(rule, t, ended, &scene, names, &mut got),
                ZoneRuleState::StoppedVehicle(rule) => run_track_rule(rule, t, ended, &scene, names, &mut got),
                ZoneRuleState::Speeding(rule) => run_track_rule(rule, t, ended, &scene, names, &mut got),
                ZoneRuleState::WrongWay(rule) => run_track_rule(rule, t, ended, &scene, names, &mut got),
                ZoneRuleState::Racing(rule) => {
                    let Some(motion) = scene.motion else { continue };
                    let hit = match t {
                        Some(t) => rule.update(t, motion, scene.is(Group::Motorcycle)),
                        None => rule.finish(now),
                    };
                    if let Some(h) = hit {
                        let body = Body::Racing {
                            rule: names.0.clone(),
                            zone: names.1.clone(),
                            group_size: h.group_size,
                            track_ids: h.track_ids,
                            max_kmh: round1(h.max_kmh),
                            mean_kmh: round1(h.mean_kmh),
                            weaving: h.weaving,
                        };
                        got.push(RuleHit { phase: h.phase, key: (0, 0), body });
                    }
                }
                ZoneRuleState::Collision(rule) => {
                    let Some(motion) = scene.motion else { continue };
                    let mut c = Vec::new();
                    if let Some(t) = t {
                        rule.update(t, motion, scene.road_user(), &mut c);
                    }
                    for tr in ended {
                        rule.remove(tr.id, &mut c);
                    }
                    if t.is_none() {
                        rule.finish(&mut c);
                    }
                    got.extend(c.into_iter().map(|h| {
                        let body = Body::CollisionSuspect {
                            rule: names.0.clone(),
                            zone: names.1.clone(),
                            track_ids: h.track_ids,
                            labels: h.class_ids.map(|c| scene.labels.name(c).to_string()),
                            speeds_before_kmh: h.speeds_before_kmh.map(round1),
                        };
                        RuleHit { phase: h.phase, key: (h.track_ids[0], h.track_ids[1]), body }
                    }));
                }
            }
            hits.extend(got.drain(..).map(|h| (ri, h)));
        }
        if let Some(m) = &mut self.motion {
            for tr in ended {
                m.remove(tr.id);
            }
        }
        for (ri, RuleHit { phase, key, body }) in hits {
            let key = (ri, key);
            let event_id = match phase {
                Phase::Start => {
                    let id = new_id();
                    self.open_rules.insert(key, id.clone());
                    id
                }
                Phase::Update => self.open_rules.get(&key).cloned().unwrap_or_else(new_id),
                Phase::End => self.open_rules.remove(&key).unwrap_or_else(new_id),
            };
            let id = if phase == Phase::Start { event_id.clone() } else { new_id() };
            out.push(Event { id, event_id, phase, camera: self.camera.clone(), ts: ts.to_string(), body });
        }
    }

    /// Counted line crossings so far: (line name, label, direction name) → count.
    pub fn line_totals(&self) -> Vec<(String, String, String, u64)> {
        let mut v: Vec<_> = self
            .lines
            .totals
            .iter()
            .map(|(&(li, class, dir), &n)| {
                let (name, dirs) = &self.line_names[li];
                (name.clone(), self.labels.name(class).to_string(), dirs[dir].clone(), n)
            })
            .collect();
        v.sort();
        v
    }

    fn end_object(&mut self, track: &Track, out: &mut Vec<Event>) {
        self.lines.remove(track.id);
        if let Some(open) = self.open.remove(&track.id) {
            let ts = rfc3339(self.wall(track.last_seen));
            out.push(self.object_event(track, Phase::End, open.event_id, ts));
        }
    }

    fn object_event(&self, track: &Track, phase: Phase, event_id: String, ts: String) -> Event {
        let id = if phase == Phase::Start { event_id.clone() } else { new_id() };
        Event {
            id,
            event_id,
            phase,
            camera: self.camera.clone(),
            ts,
            body: Body::Object {
                label: self.labels.name(track.class_id).to_string(),
                track_id: track.id,
                first_seen: rfc3339(self.wall(track.first_seen)),
                last_seen: rfc3339(self.wall(track.last_seen)),
                best_score: round3(track.best_score),
                bbox: round_box(if phase == Phase::Start { track.det_bbox } else { track.best_bbox }),
            },
        }
    }
}
