//! `loitering`: a person staying in a zone longer than `for_s`.
//!
//! The dwell clock starts when a person's ground point enters the zone. Stepping out for less
//! than `leave_after_s` (or the box jittering across the edge) does not stop it; out for longer
//! ends the stay, and the event if one was started. After an end the same track does not start
//! again for `cooldown_s`.

use std::collections::HashMap;

use serde::Deserialize;

use super::defaults;
use crate::event::Phase;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Id, Seconds};
use crate::track::{Track, TrackState};

/// `loitering`: a person in the zone for longer than `for_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoiteringConfig {
    pub name: Id,
    pub zone: Id,
    pub for_s: Seconds,
    /// Out of the zone this long ends it (so a step across the edge does not).
    #[serde(default = "defaults::two_s")]
    pub leave_after_s: Seconds,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl LoiteringConfig {
    /// Whether it needs `[cameras.calibration]`. Times persons in the picture: no metres.
    pub fn needs_calibration(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoiteringHit {
    pub phase: Phase,
    pub track_id: u64,
    pub class_id: u32,
    pub dwell_s: f64,
}

#[derive(Debug, Clone, Copy)]
struct Stay {
    entered: Option<f64>,
    last_in: f64,
    active: bool,
    quiet_until: f64,
}

#[derive(Debug, Clone)]
pub struct Loitering {
    zone: Vec<Point>,
    for_s: f64,
    leave_after_s: f64,
    cooldown_s: f64,
    stays: HashMap<u64, Stay>,
}

impl Loitering {
    pub fn new(cfg: &LoiteringConfig, zone: &[Point]) -> Self {
        Self {
            zone: zone.to_vec(),
            for_s: cfg.for_s.0,
            leave_after_s: cfg.leave_after_s.0,
            cooldown_s: cfg.cooldown_s.0,
            stays: HashMap::new(),
        }
    }

    /// Feed the camera's tracks at time `t`; only persons (by `is_person`) matched in this
    /// frame move the clocks. Hits are appended to `out`.
    pub fn update<'a>(
        &mut self,
        t: f64,
        tracks: impl Iterator<Item = &'a Track>,
        is_person: impl Fn(u32) -> bool,
        out: &mut Vec<LoiteringHit>,
    ) {
        for tr in tracks.filter(|tr| tr.state == TrackState::Confirmed && is_person(tr.class_id)) {
            let inside = point_in_polygon(&self.zone, tr.bbox.bottom_center());
            let s = self.stays.entry(tr.id).or_insert(Stay {
                entered: None,
                last_in: t,
                active: false,
                quiet_until: f64::NEG_INFINITY,
            });
            if inside {
                let entered = *s.entered.get_or_insert(t);
                s.last_in = t;
                if !s.active && t - entered >= self.for_s && t >= s.quiet_until {
                    s.active = true;
                    out.push(LoiteringHit {
                        phase: Phase::Start,
                        track_id: tr.id,
                        class_id: tr.class_id,
                        dwell_s: t - entered,
                    });
                }
            } else if let Some(entered) = s.entered
                && t - s.last_in >= self.leave_after_s
            {
                if s.active {
                    s.active = false;
                    s.quiet_until = t + self.cooldown_s;
                    out.push(LoiteringHit {
                        phase: Phase::End,
                        track_id: tr.id,
                        class_id: tr.class_id,
                        dwell_s: s.last_in - entered,
                    });
                }
                s.entered = None;
            }
        }
    }

    /// A track ended: end its stay.
    pub fn remove(&mut self, track: &Track, out: &mut Vec<LoiteringHit>) {
        if let Some(s) = self.stays.remove(&track.id)
            && s.active
        {
            let dwell_s = s.entered.map_or(0.0, |e| s.last_in - e);
            out.push(LoiteringHit { phase: Phase::End, track_id: track.id, class_id: track.class_id, dwell_s });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::{BBox, Detection};
    use crate::track::{Tracker, TrackerConfig};

    const PERSON: u32 = 0;
    const CAR: u32 = 2;
    const ZONE: [Point; 4] = [(100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0)];

    fn cfg(for_s: f64, cooldown_s: f64) -> LoiteringConfig {
        toml::from_str(&format!("name = \"l\"\nzone = \"z\"\nfor_s = {for_s}\ncooldown_s = {cooldown_s}")).expect("cfg")
    }

    fn det(class_id: u32, x: f32, y: f32) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::new(x - 20.0, y - 100.0, x + 20.0, y) }
    }

    /// One object per frame at 10 fps (None: not detected); hits with their times.
    fn run(rule: &mut Loitering, class_id: u32, path: &[Option<(f32, f32)>]) -> Vec<(f64, LoiteringHit)> {
        let mut tracker =
            Tracker::new(TrackerConfig { min_hits: 1, max_lost_stationary_s: 0.0, ..TrackerConfig::default() });
        let mut hits = Vec::new();
        let mut out = Vec::new();
        for (i, p) in path.iter().enumerate() {
            let t = i as f64 * 0.1;
            let dets: Vec<Detection> = p.iter().map(|&(x, y)| det(class_id, x, y)).collect();
            let o = tracker.update(t, &dets);
            for ended in &o.ended {
                rule.remove(ended, &mut out);
            }
            rule.update(t, tracker.tracks(), |c| c == PERSON, &mut out);
            hits.extend(out.drain(..).map(|h| (t, h)));
        }
        for ended in tracker.finish() {
            rule.remove(&ended, &mut out);
        }
        hits.extend(out.drain(..).map(|h| (f64::INFINITY, h)));
        hits
    }

    fn stand(at: (f32, f32), frames: usize) -> Vec<Option<(f32, f32)>> {
        vec![Some(at); frames]
    }

    #[test]
    fn a_person_staying_starts_then_ends_on_leaving() {
        let mut rule = Loitering::new(&cfg(5.0, 60.0), &ZONE);
        // Walk in (crossing the edge at about 0.5 s), stand 8 s, walk out and away.
        let mut path: Vec<_> = (0..15).map(|i| Some((50.0 + 10.0 * i as f32, 200.0))).collect();
        path.extend(stand((200.0, 200.0), 80));
        path.extend((0..40).map(|i| Some((200.0 + 10.0 * i as f32, 200.0))));
        let hits = run(&mut rule, PERSON, &path);
        assert_eq!(hits.len(), 2, "{hits:?}");
        let (t0, start) = hits[0];
        assert_eq!((start.phase, start.track_id), (Phase::Start, 1));
        assert!(t0 > 5.4 && t0 < 6.0, "started at {t0}");
        assert!(start.dwell_s >= 5.0 && start.dwell_s < 5.2, "{start:?}");
        let (t1, end) = hits[1];
        assert_eq!((end.phase, end.track_id), (Phase::End, 1));
        // Left at about 10.5 s; ends 2 s (leave_after_s) later, with the dwell up to leaving.
        assert!(t1 > 12.2 && t1 < 13.0, "ended at {t1}");
        assert!(end.dwell_s > 9.5 && end.dwell_s < 10.3, "{end:?}");
    }

    #[test]
    fn jitter_across_the_edge_and_short_exits_do_not_end_it() {
        let mut rule = Loitering::new(&cfg(3.0, 60.0), &ZONE);
        // Standing on the right edge (x = 300) with ±5 px jitter for 20 s.
        let path: Vec<_> = (0..200).map(|i| Some((if i % 2 == 0 { 295.0 } else { 305.0 }, 200.0))).collect();
        let hits = run(&mut rule, PERSON, &path);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        assert_eq!(hits[1].0, f64::INFINITY, "ended only with the track: {hits:?}");
    }

    #[test]
    fn passing_through_and_other_classes_do_not_count() {
        let mut rule = Loitering::new(&cfg(3.0, 60.0), &ZONE);
        let walk: Vec<_> = (0..40).map(|i| Some((50.0 + 10.0 * i as f32, 200.0))).collect();
        assert!(run(&mut rule, PERSON, &walk).is_empty());
        let mut rule = Loitering::new(&cfg(3.0, 60.0), &ZONE);
        assert!(run(&mut rule, CAR, &stand((200.0, 200.0), 100)).is_empty());
    }

    #[test]
    fn the_track_ending_ends_it_and_cooldown_holds_a_return() {
        let mut rule = Loitering::new(&cfg(2.0, 60.0), &ZONE);
        // In 3 s, not detected for 3 s (the track ends after 1.5 s lost: this tracker keeps
        // standing objects no longer than moving ones).
        let mut path = stand((200.0, 200.0), 30);
        path.extend(vec![None; 30]);
        let hits = run(&mut rule, PERSON, &path);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        assert!(hits[1].0 < 5.0, "ended when the track did: {hits:?}");

        // In 3 s, walk out, out 3 s, walk back in and stay 5 s: the same track (slow steps
        // keep it) is held back by the cooldown.
        let mut rule = Loitering::new(&cfg(2.0, 60.0), &ZONE);
        let mut path = stand((200.0, 200.0), 30);
        path.extend((0..30).map(|i| Some((200.0 - 5.0 * i as f32, 200.0))));
        path.extend(stand((50.0, 200.0), 30));
        path.extend((0..30).map(|i| Some((50.0 + 5.0 * i as f32, 200.0))));
        path.extend(stand((200.0, 200.0), 50));
        let hits = run(&mut rule, PERSON, &path);
        let phases: Vec<(Phase, u64)> = hits.iter().map(|(_, h)| (h.phase, h.track_id)).collect();
        assert_eq!(phases, vec![(Phase::Start, 1), (Phase::End, 1)], "{hits:?}");
        assert!(hits[1].0 < 10.0, "ended on leaving, not with the track: {hits:?}");
    }
}
