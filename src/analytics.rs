//! One camera's analytics, from detections to events: tracker → rules → event messages.
//!
//! Plain computation with no I/O, so the daemon, `replay` and the tests run the very same code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{CameraConfig, RuleConfig};
use crate::detect::Detection;
use crate::detect::manifest::{Group, LabelMap};
use crate::event::{Body, CountRow, CountsMessage, Event, Phase, new_id, rfc3339, round_box, round_s, round1, round3};
use crate::rules::collision::Collision;
use crate::rules::counts::{Counts, Interval};
use crate::rules::crowd::{Crowd, count_in_zone};
use crate::rules::geometry::{Point, polygon_area};
use crate::rules::homography::Homography;
use crate::rules::line_cross::{Crossing, LineCross};
use crate::rules::loitering::Loitering;
use crate::rules::motion::Motion;
use crate::rules::racing::Racing;
use crate::rules::speeding::Speeding;
use crate::rules::stopped_vehicle::StoppedVehicle;
use crate::rules::wrong_way::{WrongWay, line_direction};
use crate::track::{Track, Tracker, TrackerConfig};

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

/// A rule's state change, before it becomes an event.
enum RuleHit {
    Crowd {
        phase: Phase,
        count: u32,
        per_m2: Option<f64>,
    },
    Track {
        phase: Phase,
        track_id: u64,
        class_id: u32,
        seconds: f64,
        bbox: Option<crate::detect::BBox>,
    },
    /// A hit whose body is made already; `key` tells its event apart from the rule's others.
    Ready {
        phase: Phase,
        key: (u64, u64),
        body: Body,
    },
}

/// The zone's area on the ground in m², when every corner has a ground point.
fn ground_area(h: &Homography, zone: &[Point]) -> Option<f64> {
    let pts: Option<Vec<[f64; 2]>> = zone.iter().map(|&p| h.to_ground(p).map(|g| [g.0, g.1])).collect();
    pts.map(|p| polygon_area(&p)).filter(|a| *a > 0.0)
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
            RuleConfig::Racing(c) => ZoneRuleState::Racing(Racing::new(c, &poly)),
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
    motion: Option<Motion>,
    /// Open rule events by (rule index, key: track id and 0, (0, 0) for a zone-wide event, a
    /// pair of track ids) → event id.
    open_rules: HashMap<(usize, (u64, u64)), String>,
    /// The latest frame's stream time and wall-clock time, to place track times on the clock.
    clock: Option<(f64, SystemTime)>,
    dets: Vec<Detection>,
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
            me.motion = Some(Motion::new(cam.homography()));
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
            tracker: Tracker::new(tracker.clone()),
            lines: LineCross::new(&cam.lines),
            line_names: cam.lines.iter().map(|l| (l.name.get_ref().0.clone(), l.directions.0.clone())).collect(),
            open: HashMap::new(),
            motion: None,
            rules: zone_rules(cam),
            open_rules: HashMap::new(),
            clock: None,
            dets: Vec::new(),
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

    fn wall(&self, t: f64) -> SystemTime {
        match self.clock {
            Some((t0, w0)) if t >= t0 => w0 + Duration::from_secs_f64(t - t0),
            Some((t0, w0)) => w0.checked_sub(Duration::from_secs_f64(t0 - t)).unwrap_or(w0),
            None => SystemTime::now(),
        }
    }

    /// Process one detected frame; events are appended to `out`.
    pub fn on_frame(&mut self, time_s: f64, wall: SystemTime, detections: &[Detection], out: &mut Vec<Event>) {
        let t0 = std::time::Instant::now();
        self.clock = Some((time_s, wall));
        self.dets.clear();
        self.dets.extend(detections.iter().filter(|d| self.enabled.get(d.class_id as usize).copied().unwrap_or(false)));
        let output = self.tracker.update(time_s, &self.dets);
        let t1 = std::time::Instant::now();
        let ended = output.ended;
        let started: Vec<Track> = output.active.iter().filter(|t| output.confirmed.contains(&t.id)).cloned().collect();
        self.crossings.clear();
        self.lines.update(output.active.iter(), &mut self.crossings);
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
        for c in std::mem::take(&mut self.crossings) {
            let (line, dirs) = &self.line_names[c.line];
            let event_id = new_id();
            out.push(Event {
                id: event_id.clone(),
                event_id,
                phase: Phase::Start,
                camera: self.camera.clone(),
                ts: ts.clone(),
                body: Body::LineCross {
                    line: line.clone(),
                    direction: dirs[c.direction].clone(),
                    label: self.labels.name(c.class_id).to_string(),
                    track_id: c.track_id,
                },
            });
        }
        if let Some(m) = &mut self.motion {
            m.update(time_s, self.tracker.tracks());
        }
        self.run_rules(Some(time_s), &ended, &ts, out);
        for track in ended {
            self.end_object(&track, out);
        }
        self.last_timings = (t1 - t0, t1.elapsed());
    }

    /// The stream ended: end every open track, and every open rule event.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let ended = self.tracker.finish();
        let ts = rfc3339(self.clock.map_or_else(SystemTime::now, |c| c.1));
        self.run_rules(None, &ended, &ts, out);
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

    /// Zone rules: at a frame (`Some(t)`), or at the end of the stream (`None`).
    fn run_rules(&mut self, t: Option<f64>, ended: &[crate::track::Track], ts: &str, out: &mut Vec<Event>) {
        if self.rules.is_empty() {
            return;
        }
        let labels = &self.labels;
        let is = |g: Group| move |c: u32| labels.group(c) == Some(g);
        let road_user = |c: u32| matches!(labels.group(c), Some(Group::Vehicle | Group::Motorcycle));
        let now = self.now();
        let rule_names: Vec<(String, String)> = self.rules.iter().map(|r| (r.name.clone(), r.zone.clone())).collect();
        let mut hits: Vec<(usize, RuleHit)> = Vec::new();
        for (ri, rule) in self.rules.iter_mut().enumerate() {
            match &mut rule.state {
                ZoneRuleState::Crowd { rule, zone, area_m2 } => {
                    let hit = match t {
                        Some(t) => rule.update(t, count_in_zone(self.tracker.tracks(), zone, is(Group::Person))),
                        None => rule.finish(),
                    };
                    if let Some(h) = hit {
                        let per_m2 = area_m2.map(|a| (f64::from(h.count) / a * 1000.0).round() / 1000.0);
                        hits.push((ri, RuleHit::Crowd { phase: h.phase, count: h.count, per_m2 }));
                    }
                }
                ZoneRuleState::Loitering(rule) => {
                    let mut got = Vec::new();
                    for tr in ended {
                        rule.remove(tr, &mut got);
                    }
                    if let Some(t) = t {
                        rule.update(t, self.tracker.tracks(), is(Group::Person), &mut got);
                    }
                    hits.extend(got.into_iter().map(|h| {
                        let (phase, track_id, class_id, seconds) = (h.phase, h.track_id, h.class_id, h.dwell_s);
                        (ri, RuleHit::Track { phase, track_id, class_id, seconds, bbox: None })
                    }));
                }
                ZoneRuleState::StoppedVehicle(rule) => {
                    let mut got = Vec::new();
                    for tr in ended {
                        rule.remove(tr, &mut got);
                    }
                    if let Some(t) = t {
                        rule.update(t, self.tracker.tracks(), is(Group::Vehicle), &mut got);
                    }
                    hits.extend(got.into_iter().map(|h| {
                        let (phase, track_id, class_id, seconds) = (h.phase, h.track_id, h.class_id, h.stopped_s);
                        (ri, RuleHit::Track { phase, track_id, class_id, seconds, bbox: Some(h.bbox) })
                    }));
                }
                ZoneRuleState::Speeding(rule) => {
                    let Some(motion) = &self.motion else { continue };
                    let mut got = Vec::new();
                    for tr in ended {
                        rule.remove(tr.id, t.unwrap_or(tr.last_seen), &mut got);
                    }
                    if let Some(t) = t {
                        rule.update(t, motion, road_user, &mut got);
                    }
                    let (rname, zname, limit) = (&rule_names[ri].0, &rule_names[ri].1, rule.limit_kmh());
                    hits.extend(got.into_iter().map(|h| {
                        let body = Body::Speeding {
                            rule: rname.clone(),
                            zone: zname.clone(),
                            label: labels.name(h.class_id).to_string(),
                            track_id: h.track_id,
                            limit_kmh: limit,
                            speed_kmh: round1(h.speed_kmh),
                            max_kmh: round1(h.max_kmh),
                            mean_kmh: round1(h.mean_kmh),
                        };
                        (ri, RuleHit::Ready { phase: h.phase, key: (h.track_id, 0), body })
                    }));
                }
                ZoneRuleState::Racing(rule) => {
                    let Some(motion) = &self.motion else { continue };
                    let hit = match t {
                        Some(t) => rule.update(t, motion, is(Group::Motorcycle)),
                        None => rule.finish(now),
                    };
                    if let Some(h) = hit {
                        let body = Body::Racing {
                            rule: rule_names[ri].0.clone(),
                            zone: rule_names[ri].1.clone(),
                            group_size: h.group_size,
                            track_ids: h.track_ids,
                            max_kmh: round1(h.max_kmh),
                            mean_kmh: round1(h.mean_kmh),
                            weaving: h.weaving,
                        };
                        hits.push((ri, RuleHit::Ready { phase: h.phase, key: (0, 0), body }));
                    }
                }
                ZoneRuleState::Collision(rule) => {
                    let Some(motion) = &self.motion else { continue };
                    let mut got = Vec::new();
                    if let Some(t) = t {
                        rule.update(t, motion, road_user, &mut got);
                    }
                    for tr in ended {
                        rule.remove(tr.id, &mut got);
                    }
                    if t.is_none() {
                        rule.finish(&mut got);
                    }
                    hits.extend(got.into_iter().map(|h| {
                        let body = Body::CollisionSuspect {
                            rule: rule_names[ri].0.clone(),
                            zone: rule_names[ri].1.clone(),
                            track_ids: h.track_ids,
                            labels: h.class_ids.map(|c| labels.name(c).to_string()),
                            speeds_before_kmh: h.speeds_before_kmh.map(round1),
                        };
                        (ri, RuleHit::Ready { phase: h.phase, key: (h.track_ids[0], h.track_ids[1]), body })
                    }));
                }
                ZoneRuleState::WrongWay(rule) => {
                    let Some(motion) = &self.motion else { continue };
                    let mut got = Vec::new();
                    for tr in ended {
                        rule.remove(tr.id, t.unwrap_or(tr.last_seen), &mut got);
                    }
                    if let Some(t) = t {
                        rule.update(t, motion, road_user, &mut got);
                    }
                    hits.extend(got.into_iter().map(|h| {
                        let body = Body::WrongWay {
                            rule: rule_names[ri].0.clone(),
                            zone: rule_names[ri].1.clone(),
                            label: labels.name(h.class_id).to_string(),
                            track_id: h.track_id,
                            angle_deg: round1(h.angle_deg),
                            moved: round1(h.moved),
                        };
                        (ri, RuleHit::Ready { phase: h.phase, key: (h.track_id, 0), body })
                    }));
                }
            }
        }
        if let Some(m) = &mut self.motion {
            for tr in ended {
                m.remove(tr.id);
            }
        }
        for (ri, hit) in hits {
            let (phase, key) = match &hit {
                RuleHit::Crowd { phase, .. } => (*phase, (ri, (0, 0))),
                RuleHit::Track { phase, track_id, .. } => (*phase, (ri, (*track_id, 0))),
                RuleHit::Ready { phase, key, .. } => (*phase, (ri, *key)),
            };
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
            let (rule, zone) = (self.rules[ri].name.clone(), self.rules[ri].zone.clone());
            let body = match (hit, &self.rules[ri].state) {
                (RuleHit::Ready { body, .. }, _) => body,
                (RuleHit::Crowd { count, per_m2, .. }, _) => Body::Crowd { rule, zone, count, persons_per_m2: per_m2 },
                (RuleHit::Track { track_id, class_id, seconds, .. }, ZoneRuleState::Loitering(_)) => Body::Loitering {
                    rule,
                    zone,
                    label: self.labels.name(class_id).to_string(),
                    track_id,
                    dwell_s: round_s(seconds),
                },
                (RuleHit::Track { track_id, class_id, seconds, bbox, .. }, _) => Body::StoppedVehicle {
                    rule,
                    zone,
                    label: self.labels.name(class_id).to_string(),
                    track_id,
                    stopped_s: round_s(seconds),
                    bbox: round_box(bbox.unwrap_or_default()),
                },
            };
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
