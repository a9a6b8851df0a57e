//! One camera's analytics, from detections to events: tracker → rules → event messages.
//!
//! Plain computation with no I/O, so the daemon, `replay` and the tests run the very same code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::CameraConfig;
use crate::detect::Detection;
use crate::detect::manifest::LabelMap;
use crate::event::{Body, Event, Phase, new_id, rfc3339, round_box, round3};
use crate::rules::line_cross::{Crossing, LineCross};
use crate::track::{Track, Tracker, TrackerConfig};

struct OpenObject {
    event_id: String,
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
    /// The latest frame's stream time and wall-clock time, to place track times on the clock.
    clock: Option<(f64, SystemTime)>,
    dets: Vec<Detection>,
    crossings: Vec<Crossing>,
}

impl CameraAnalytics {
    pub fn new(cam: &CameraConfig, tracker: &TrackerConfig, labels: Arc<LabelMap>) -> Self {
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
            clock: None,
            dets: Vec::new(),
            crossings: Vec::new(),
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
        self.clock = Some((time_s, wall));
        self.dets.clear();
        self.dets.extend(detections.iter().filter(|d| self.enabled.get(d.class_id as usize).copied().unwrap_or(false)));
        let output = self.tracker.update(time_s, &self.dets);
        let ended = output.ended;
        let started: Vec<Track> = output.active.iter().filter(|t| output.confirmed.contains(&t.id)).cloned().collect();
        self.crossings.clear();
        self.lines.update(output.active.iter(), &mut self.crossings);

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
        for track in ended {
            self.end_object(&track, out);
        }
    }

    /// The stream ended: end every open track.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for track in self.tracker.finish() {
            self.end_object(&track, out);
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
