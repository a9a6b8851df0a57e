//! `stopped_vehicle`: a vehicle in a zone whose ground point has stayed put for `for_s`.
//!
//! Box jitter moves the ground point a few pixels every frame even for a parked car, so the
//! test is robust rather than frame to frame: over the last `for_s` seconds, the median ground
//! point is found and at least 95 % of the points must lie within the allowed movement of it.
//! The event ends when the median of the last second is more than twice the allowed movement
//! from where it stopped (hysteresis: jitter does not end it), or when the track ends. The same
//! track does not start again for `cooldown_s`. Movement is in metres on the ground when the
//! camera is calibrated (`max_move_m`), else in source pixels (`max_move_px`).

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use super::defaults;
use crate::detect::BBox;
use crate::event::Phase;
use crate::geometry::homography::Homography;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Distance, Id, Seconds};
use crate::track::{Track, TrackState};

/// `stopped_vehicle`: a vehicle in the zone that has not moved for `for_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoppedVehicleConfig {
    pub name: Id,
    pub zone: Id,
    pub for_s: Seconds,
    /// Most the ground point may move, in metres (needs `[cameras.calibration]`)…
    #[serde(default)]
    pub max_move_m: Option<Distance>,
    /// … or in source pixels. Exactly one of the two.
    #[serde(default)]
    pub max_move_px: Option<Distance>,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl StoppedVehicleConfig {
    /// Whether it needs `[cameras.calibration]`. Only when its allowed movement is given in metres.
    pub fn needs_calibration(&self) -> bool {
        self.max_move_m.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoppedHit {
    pub phase: Phase,
    pub track_id: u64,
    pub class_id: u32,
    /// How long it has stood still: the window at start, the whole stop at end.
    pub stopped_s: f64,
    pub bbox: BBox,
}

/// Share of the window's points that must be within the allowed movement of its median.
const STILL_SHARE: f64 = 0.95;

#[derive(Debug, Clone)]
struct Vehicle {
    /// (time, measured point, image point)
    samples: VecDeque<(f64, [f64; 2], Point)>,
    /// Where and since when it stands, while an event is open.
    stopped: Option<([f64; 2], f64)>,
    quiet_until: f64,
    bbox: BBox,
}

#[derive(Debug, Clone)]
pub struct StoppedVehicle {
    zone: Vec<Point>,
    for_s: f64,
    max_move: f64,
    /// Set when movement is measured in metres.
    ground: Option<Homography>,
    cooldown_s: f64,
    vehicles: HashMap<u64, Vehicle>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_point<'a>(pts: impl Iterator<Item = &'a [f64; 2]> + Clone) -> [f64; 2] {
    [median(pts.clone().map(|p| p[0]).collect()), median(pts.map(|p| p[1]).collect())]
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

impl StoppedVehicle {
    /// `homography` is used (and required) when the rule measures in metres; config loading
    /// refuses `max_move_m` on an uncalibrated camera.
    pub fn new(cfg: &StoppedVehicleConfig, zone: &[Point], homography: Option<Homography>) -> Self {
        let (max_move, ground) = match (&cfg.max_move_m, &cfg.max_move_px) {
            (Some(m), _) => (m.0, homography),
            (None, Some(px)) => (px.0, None),
            (None, None) => (0.0, None),
        };
        Self {
            zone: zone.to_vec(),
            for_s: cfg.for_s.0,
            max_move,
            ground,
            cooldown_s: cfg.cooldown_s.0,
            vehicles: HashMap::new(),
        }
    }

    /// Feed the camera's tracks at time `t`; only vehicles (by `is_vehicle`) matched in this
    /// frame are measured. Hits are appended to `out`.
    pub fn update<'a>(
        &mut self,
        t: f64,
        tracks: impl Iterator<Item = &'a Track>,
        is_vehicle: impl Fn(u32) -> bool,
        out: &mut Vec<StoppedHit>,
    ) {
        // Thinned so that a long window holds a few hundred points, whatever the frame rate.
        let spacing = self.for_s / 300.0;
        for tr in tracks.filter(|tr| tr.state == TrackState::Confirmed && is_vehicle(tr.class_id)) {
            let px = tr.bbox.bottom_center();
            let measured = match &self.ground {
                Some(h) => match h.to_ground(px) {
                    Some(g) => [g.0, g.1],
                    None => continue, // above the horizon: no ground point to judge
                },
                None => [f64::from(px.0), f64::from(px.1)],
            };
            let v = self.vehicles.entry(tr.id).or_insert(Vehicle {
                samples: VecDeque::new(),
                stopped: None,
                quiet_until: f64::NEG_INFINITY,
                bbox: tr.det_bbox,
            });
            v.bbox = tr.det_bbox;
            if v.samples.back().is_none_or(|s| t - s.0 >= spacing) {
                v.samples.push_back((t, measured, px));
            }
            // Keep one point at or before the window's start, so a full window is recognised.
            while v.samples.len() > 1 && v.samples[1].0 <= t - self.for_s {
                v.samples.pop_front();
            }
            match v.stopped {
                Some((at, since)) => {
                    let recent = median_point(v.samples.iter().filter(|s| s.0 >= t - 1.0).map(|s| &s.1));
                    if dist(recent, at) > 2.0 * self.max_move {
                        v.stopped = None;
                        v.quiet_until = t + self.cooldown_s;
                        let hit = StoppedHit {
                            phase: Phase::End,
                            track_id: tr.id,
                            class_id: tr.class_id,
                            stopped_s: t - since,
                            bbox: v.bbox,
                        };
                        out.push(hit);
                    }
                }
                None => {
                    let Some(&(first, _, _)) = v.samples.front() else { continue };
                    if t - first < self.for_s || t < v.quiet_until {
                        continue;
                    }
                    let centre = median_point(v.samples.iter().map(|s| &s.1));
                    let still = v.samples.iter().filter(|s| dist(s.1, centre) <= self.max_move).count();
                    let px_med: Vec<[f64; 2]> =
                        v.samples.iter().map(|s| [f64::from(s.2.0), f64::from(s.2.1)]).collect();
                    let pm = median_point(px_med.iter());
                    let inside = point_in_polygon(&self.zone, (pm[0] as f32, pm[1] as f32));
                    if inside && still as f64 >= STILL_SHARE * v.samples.len() as f64 {
                        v.stopped = Some((centre, first));
                        let hit = StoppedHit {
                            phase: Phase::Start,
                            track_id: tr.id,
                            class_id: tr.class_id,
                            stopped_s: t - first,
                            bbox: v.bbox,
                        };
                        out.push(hit);
                    }
                }
            }
        }
    }

    /// A track ended: end its stop, if one is open.
    pub fn remove(&mut self, track: &Track, out: &mut Vec<StoppedHit>) {
        if let Some(v) = self.vehicles.remove(&track.id)
            && let Some((_, since)) = v.stopped
        {
            let stopped_s = (track.last_seen - since).max(0.0);
            out.push(StoppedHit {
                phase: Phase::End,
                track_id: track.id,
                class_id: track.class_id,
                stopped_s,
                bbox: v.bbox,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::Detection;
    use crate::geometry::homography::tests::{corners, project};
    use crate::track::{Tracker, TrackerConfig};

    const PERSON: u32 = 0;
    const CAR: u32 = 2;
    const ZONE: [Point; 4] = [(100.0, 100.0), (700.0, 100.0), (700.0, 700.0), (100.0, 700.0)];

    fn cfg(extra: &str) -> StoppedVehicleConfig {
        toml::from_str(&format!("name = \"s\"\nzone = \"z\"\nfor_s = 10\ncooldown_s = 60\n{extra}")).expect("cfg")
    }

    /// A car whose ground point is (x, y), its box jittering by `j` pixels.
    fn car(class_id: u32, x: f32, y: f32, j: f32) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::new(x - 40.0 + j, y - 60.0 - j, x + 40.0 - j, y + j) }
    }

    /// One object per frame at 5 fps; hits with their times (ended tracks at the end: ∞).
    fn run(rule: &mut StoppedVehicle, class_id: u32, path: &[(f32, f32)]) -> Vec<(f64, StoppedHit)> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let (mut hits, mut out) = (Vec::new(), Vec::new());
        for (i, &(x, y)) in path.iter().enumerate() {
            let t = i as f64 * 0.2;
            // ±3 px jitter in a pattern that does not repeat every frame.
            let j = [3.0, -2.0, 0.0, -3.0, 2.0, 1.0, -1.0][i % 7];
            let o = tracker.update(t, &[car(class_id, x, y, j)]);
            for ended in &o.ended {
                rule.remove(ended, &mut out);
            }
            rule.update(t, tracker.tracks(), |c| c == CAR, &mut out);
            hits.extend(out.drain(..).map(|h| (t, h)));
        }
        for ended in tracker.finish() {
            rule.remove(&ended, &mut out);
        }
        hits.extend(out.drain(..).map(|h| (f64::INFINITY, h)));
        hits
    }

    fn phases(hits: &[(f64, StoppedHit)]) -> Vec<Phase> {
        hits.iter().map(|(_, h)| h.phase).collect()
    }

    #[test]
    fn a_parked_car_with_jitter_starts_once() {
        let mut rule = StoppedVehicle::new(&cfg("max_move_px = 8"), &ZONE, None);
        let hits = run(&mut rule, CAR, &vec![(400.0, 400.0); 300]);
        assert_eq!(phases(&hits), vec![Phase::Start, Phase::End], "{hits:?}");
        assert!((hits[0].0 - 10.0).abs() < 0.3, "started at {}", hits[0].0);
        assert!(hits[0].1.stopped_s >= 10.0, "{hits:?}");
        assert_eq!(hits[1].0, f64::INFINITY, "ended with the track only");
        assert!((hits[1].1.stopped_s - 59.8).abs() < 0.5, "{hits:?}");
    }

    #[test]
    fn moving_slowly_or_outside_the_zone_or_not_a_vehicle_is_not_stopped() {
        // 3 px a frame (15 px/s) is slow, but over 10 s it is 150 px.
        let mut rule = StoppedVehicle::new(&cfg("max_move_px = 8"), &ZONE, None);
        let creep: Vec<(f32, f32)> = (0..150).map(|i| (150.0 + 3.0 * i as f32, 400.0)).collect();
        assert!(run(&mut rule, CAR, &creep).is_empty());
        let mut rule = StoppedVehicle::new(&cfg("max_move_px = 8"), &ZONE, None);
        assert!(run(&mut rule, CAR, &vec![(800.0, 400.0); 100]).is_empty(), "outside the zone");
        let mut rule = StoppedVehicle::new(&cfg("max_move_px = 8"), &ZONE, None);
        assert!(run(&mut rule, PERSON, &vec![(400.0, 400.0); 100]).is_empty(), "a person");
    }

    #[test]
    fn driving_off_ends_it() {
        let mut rule = StoppedVehicle::new(&cfg("max_move_px = 8"), &ZONE, None);
        let mut path = vec![(400.0, 400.0); 100];
        path.extend((0..30).map(|i| (400.0 + 8.0 * i as f32, 400.0)));
        let hits = run(&mut rule, CAR, &path);
        assert_eq!(phases(&hits), vec![Phase::Start, Phase::End], "{hits:?}");
        // Moving off at 20 s: the median of the last second is 16 px away within a second.
        assert!(hits[1].0 > 20.0 && hits[1].0 < 21.5, "ended at {}", hits[1].0);
    }

    #[test]
    fn metres_through_the_calibration() {
        let (image, ground) = corners();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        let zone = [(0.0, 0.0), (1280.0, 0.0), (1280.0, 720.0), (0.0, 720.0)];
        // Parked 25 m away, where a metre is a few pixels: ±3 px of jitter is within 1 m…
        let far = project((0.0, 25.0));
        let mut rule = StoppedVehicle::new(&cfg("max_move_m = 1.0"), &zone, Some(h));
        let hits = run(&mut rule, CAR, &vec![(far[0] as f32, far[1] as f32); 100]);
        assert_eq!(phases(&hits), vec![Phase::Start, Phase::End], "{hits:?}");
        // … while creeping 2 m/s near the camera is not stopped.
        let mut rule = StoppedVehicle::new(&cfg("max_move_m = 1.0"), &zone, Some(h));
        let creep: Vec<(f32, f32)> = (0..100)
            .map(|i| {
                let p = project((-4.0 + 0.4 * f64::from(i) / 5.0, 3.0));
                (p[0] as f32, p[1] as f32)
            })
            .collect();
        assert!(run(&mut rule, CAR, &creep).is_empty());
    }
}
