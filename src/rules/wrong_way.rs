//! `wrong_way`: a road user in a zone moving against the zone's allowed direction.
//!
//! The movement judged is the net displacement of the track's ground point over the last
//! `window_s`, not frame-to-frame steps: box jitter and a car standing still move it by a few
//! pixels, well below `min_distance`, so they never fire. The direction is compared in the
//! picture (perspective keeps "towards" and "away" apart, only bending angles a little, which
//! the tolerance absorbs); the distance is in metres when the rule is given `min_distance_m`.
//!
//! Hysteresis: once started it ends only after the track was not going the wrong way (stopped,
//! turned round, or out of the zone) for `end_after_s`, or when the track ends; the same track
//! does not start again for `cooldown_s`.

use std::collections::HashMap;

use serde::Deserialize;

use super::defaults;
use super::episode::Episode;
use super::kinematics::{Kinematics, Sample};
use super::line_cross::LineConfig;
use crate::event::Phase;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Angle, Distance, Id, Seconds, Vector};

/// `wrong_way`: a road user moving against the zone's allowed direction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrongWayConfig {
    pub name: Id,
    pub zone: Id,
    /// The allowed direction of travel as a vector in source pixels (`[0, 1]`: down the
    /// picture)…
    #[serde(default)]
    pub direction: Option<Vector>,
    /// … or as the crossing direction of a line of the camera: `line` and one of its
    /// `directions`.
    #[serde(default)]
    pub line: Option<Id>,
    #[serde(default)]
    pub line_direction: Option<Id>,
    /// Moving within this many degrees of straight against the allowed direction counts.
    #[serde(default = "sixty_deg")]
    pub tolerance_deg: Angle,
    /// The net movement over `window_s` must be at least this far: metres (calibrated)…
    #[serde(default)]
    pub min_distance_m: Option<Distance>,
    /// … or source pixels. Exactly one of the two.
    #[serde(default)]
    pub min_distance_px: Option<Distance>,
    #[serde(default = "defaults::three_s")]
    pub window_s: Seconds,
    /// Not wrong-way this long (stopped, turned, left the zone) ends it.
    #[serde(default = "defaults::two_s")]
    pub end_after_s: Seconds,
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl WrongWayConfig {
    /// Whether it needs `[cameras.calibration]`. Only when its distance is given in metres.
    pub fn needs_calibration(&self) -> bool {
        self.min_distance_m.is_some()
    }
}

fn sixty_deg() -> Angle {
    Angle(60.0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrongWayHit {
    pub phase: Phase,
    pub track_id: u64,
    pub class_id: u32,
    /// Angle between its movement and the allowed direction, degrees (180: straight against).
    pub angle_deg: f64,
    /// Net movement over the window: metres (with `min_distance_m`) or pixels.
    pub moved: f64,
}

#[derive(Debug, Clone)]
struct Mover {
    episode: Episode,
    class_id: u32,
    last: (f64, f64),
}

#[derive(Debug, Clone)]
pub struct WrongWay {
    zone: Vec<Point>,
    /// Unit vector of the allowed direction in the picture.
    allowed: (f64, f64),
    min_cos: f64,
    min_distance: f64,
    metres: bool,
    window_s: f64,
    for_s: f64,
    end_after_s: f64,
    cooldown_s: f64,
    movers: HashMap<u64, Mover>,
}

/// The allowed direction of a line's named crossing direction: from the left of p1→p2 to its
/// right for `directions[0]`, the other way for `directions[1]` (as `line_cross` counts them).
pub fn line_direction(line: &LineConfig, direction: &str) -> (f64, f64) {
    let [a, b] = line.points.0;
    let (dx, dy) = (f64::from(b[0] - a[0]), f64::from(b[1] - a[1]));
    // In image coordinates (y down) the right of a→b is (-dy, dx).
    let right = (-dy, dx);
    if direction == line.directions.0[0] { right } else { (dy, -dx) }
}

impl WrongWay {
    /// `allowed` is the allowed direction in source pixels (any length above 0).
    pub fn new(cfg: &WrongWayConfig, zone: &[Point], allowed: (f64, f64)) -> Self {
        let len = allowed.0.hypot(allowed.1).max(f64::MIN_POSITIVE);
        let (min_distance, metres) = match (&cfg.min_distance_m, &cfg.min_distance_px) {
            (Some(m), _) => (m.0, true),
            (None, Some(px)) => (px.0, false),
            (None, None) => (0.0, false),
        };
        Self {
            zone: zone.to_vec(),
            allowed: (allowed.0 / len, allowed.1 / len),
            min_cos: cfg.tolerance_deg.0.to_radians().cos(),
            min_distance,
            metres,
            window_s: cfg.window_s.0,
            // The window already asks for sustained movement.
            for_s: 0.0,
            end_after_s: cfg.end_after_s.0,
            cooldown_s: cfg.cooldown_s.0,
            movers: HashMap::new(),
        }
    }

    /// (angle to the allowed direction in degrees, distance moved) over the window ending at
    /// the latest sample; None without enough history or ground points.
    fn judge(&self, first: &Sample, last: &Sample) -> Option<(f64, f64)> {
        let (dx, dy) = (f64::from(last.image.0 - first.image.0), f64::from(last.image.1 - first.image.1));
        let px = dx.hypot(dy);
        if px == 0.0 {
            return Some((0.0, 0.0));
        }
        let moved = if self.metres {
            let (g0, g1) = (first.ground?, last.ground?);
            (g1.0 - g0.0).hypot(g1.1 - g0.1)
        } else {
            px
        };
        let cos = ((dx * self.allowed.0 + dy * self.allowed.1) / px).clamp(-1.0, 1.0);
        Some((cos.acos().to_degrees(), moved))
    }

    /// Judge every road user (by `is_road_user`) matched at time `t`.
    pub fn update(
        &mut self,
        t: f64,
        motion: &Kinematics,
        is_road_user: impl Fn(u32) -> bool,
        out: &mut Vec<WrongWayHit>,
    ) {
        for (id, m) in motion.iter() {
            if !m.matched || !is_road_user(m.class_id) {
                continue;
            }
            let (Some(first), Some(last)) = (m.since(t - self.window_s).next(), m.latest()) else { continue };
            let judged = self.judge(first, last);
            let inside = point_in_polygon(&self.zone, last.image);
            let on = inside
                && judged.is_some_and(|(angle, moved)| {
                    moved >= self.min_distance && (180.0 - angle).to_radians().cos() >= self.min_cos
                });
            let v = self.movers.entry(id).or_insert_with(|| Mover {
                episode: Episode::new(self.for_s, self.end_after_s, self.cooldown_s),
                class_id: m.class_id,
                last: (0.0, 0.0),
            });
            if on && let Some(j) = judged {
                v.last = j;
            }
            if let Some(phase) = v.episode.update(t, on) {
                let (angle_deg, moved) = if phase == Phase::Start { v.last } else { judged.unwrap_or(v.last) };
                out.push(WrongWayHit { phase, track_id: id, class_id: v.class_id, angle_deg, moved });
            }
        }
    }

    /// A track ended: end its event, if one is open.
    pub fn remove(&mut self, track_id: u64, t: f64, out: &mut Vec<WrongWayHit>) {
        if let Some(mut v) = self.movers.remove(&track_id)
            && v.episode.stop(t)
        {
            let (angle_deg, moved) = v.last;
            out.push(WrongWayHit { phase: Phase::End, track_id, class_id: v.class_id, angle_deg, moved });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use crate::detect::types::Detection;
    use crate::track::{Tracker, TrackerConfig};

    const CAR: u32 = 2;
    const ZONE: [Point; 4] = [(0.0, 0.0), (1280.0, 0.0), (1280.0, 720.0), (0.0, 720.0)];

    fn cfg(extra: &str) -> WrongWayConfig {
        toml::from_str(&format!("name = \"w\"\nzone = \"z\"\ndirection = [1, 0]\nmin_distance_px = 60\n{extra}"))
            .expect("cfg")
    }

    /// One car's ground point per frame at 10 fps (None: not detected), with ±3 px of jitter;
    /// hits with their times.
    fn run(rule: &mut WrongWay, path: &[Option<(f32, f32)>]) -> Vec<(f64, WrongWayHit)> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(None);
        let (mut hits, mut out) = (Vec::new(), Vec::new());
        for (i, p) in path.iter().enumerate() {
            let t = i as f64 * 0.1;
            let j = [3.0, -2.0, 0.0, -3.0, 2.0, 1.0, -1.0][i % 7];
            let dets: Vec<Detection> = p
                .iter()
                .map(|&(x, y)| Detection {
                    class_id: CAR,
                    score: 0.9,
                    bbox: BBox::new(x - 40.0 + j, y - 50.0 - j, x + 40.0 + j, y + j),
                })
                .collect();
            let ended: Vec<u64> = tracker.update(t, &dets).ended.iter().map(|e| e.id).collect();
            motion.update(t, tracker.tracks());
            for e in ended {
                rule.remove(e, t, &mut out);
                motion.remove(e);
            }
            rule.update(t, &motion, |c| c == CAR, &mut out);
            hits.extend(out.drain(..).map(|h| (t, h)));
        }
        hits
    }

    fn line_path(from: (f32, f32), to: (f32, f32), frames: usize) -> Vec<Option<(f32, f32)>> {
        (0..frames)
            .map(|i| {
                let f = i as f32 / (frames - 1) as f32;
                Some((from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f))
            })
            .collect()
    }

    #[test]
    fn driving_against_the_direction_starts_once_and_ends_with_the_track() {
        let mut rule = WrongWay::new(&cfg(""), &ZONE, (1.0, 0.0));
        // Right to left at 100 px/s, slightly downhill, then gone.
        let mut path = line_path((1200.0, 300.0), (200.0, 400.0), 100);
        path.extend(vec![None; 30]);
        let hits = run(&mut rule, &path);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, h) = hits[0];
        // 60 px takes 0.6 s.
        assert!(t0 > 0.5 && t0 < 1.2, "at {t0}");
        assert!(h.angle_deg > 170.0 && h.moved >= 60.0, "{h:?}");
        assert!(hits[1].0 > 9.9 && hits[1].0 < 11.8, "ended with the track: {hits:?}");
    }

    #[test]
    fn the_right_way_across_it_or_jitter_never_fire() {
        let mut rule = WrongWay::new(&cfg(""), &ZONE, (1.0, 0.0));
        assert!(run(&mut rule, &line_path((200.0, 300.0), (1200.0, 400.0), 100)).is_empty(), "the right way");
        let mut rule = WrongWay::new(&cfg(""), &ZONE, (1.0, 0.0));
        assert!(run(&mut rule, &line_path((600.0, 100.0), (600.0, 700.0), 100)).is_empty(), "across, 90°");
        let mut rule = WrongWay::new(&cfg(""), &ZONE, (1.0, 0.0));
        assert!(run(&mut rule, &vec![Some((600.0, 400.0)); 300]).is_empty(), "standing with jitter");
        // Rolling back 40 px: against, but not far enough.
        let mut rule = WrongWay::new(&cfg(""), &ZONE, (1.0, 0.0));
        let mut path = vec![Some((600.0, 400.0)); 20];
        path.extend(line_path((600.0, 400.0), (560.0, 400.0), 20));
        path.extend(vec![Some((560.0, 400.0)); 50]);
        assert!(run(&mut rule, &path).is_empty());
    }

    #[test]
    fn turning_round_ends_it_and_cooldown_holds_a_second_start() {
        let mut rule = WrongWay::new(&cfg("end_after_s = 1\ncooldown_s = 60"), &ZONE, (1.0, 0.0));
        // Wrong way for 4 s, right way for 4 s, wrong way again for 4 s.
        let mut path = line_path((1000.0, 400.0), (600.0, 400.0), 40);
        path.extend(line_path((600.0, 400.0), (1000.0, 400.0), 40));
        path.extend(line_path((1000.0, 400.0), (600.0, 400.0), 40));
        let hits = run(&mut rule, &path);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        assert!(hits[1].0 > 4.0 && hits[1].0 < 7.0, "{hits:?}");
    }

    #[test]
    fn a_line_gives_the_direction_it_counts() {
        let line: LineConfig =
            toml::from_str("name = \"l\"\npoints = [[200, 400], [200, 200]]\ndirections = [\"east\", \"west\"]")
                .expect("line");
        // Drawn upwards: its right is the screen's right, so `east` is +x.
        let e = line_direction(&line, "east");
        assert!(e.0 > 0.0 && e.1.abs() < 1e-9, "{e:?}");
        let w = line_direction(&line, "west");
        assert!(w.0 < 0.0 && w.1.abs() < 1e-9, "{w:?}");
    }
}
