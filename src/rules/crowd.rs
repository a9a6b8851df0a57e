//! `crowd`: at least `min_persons` persons in a zone for `for_s` seconds.
//!
//! The rule sees only the count of persons in the zone at each frame. Counts flicker (people
//! occlude each other, detections come and go), so both edges have hysteresis: while gathering,
//! a dip below `min_persons` shorter than `end_after_s` does not restart the `for_s` clock; once
//! started, the crowd ends only after the count stayed below `min_persons` for `end_after_s`;
//! after an end no new crowd starts for `cooldown_s`. Count changes are sent as `update`s at
//! most once per `update_interval_s`, carrying the latest count.

use serde::Deserialize;

use super::defaults;
use crate::event::Phase;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Count, Id, Seconds};
use crate::track::Track;

/// `crowd`: at least `min_persons` persons in the zone for `for_s` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrowdConfig {
    pub name: Id,
    pub zone: Id,
    pub min_persons: Count,
    pub for_s: Seconds,
    /// The count must stay below `min_persons` this long for the crowd to end.
    pub end_after_s: Seconds,
    /// At most one `update` per this many seconds.
    #[serde(default = "defaults::five_s")]
    pub update_interval_s: Seconds,
    /// After an end, no new start for this long.
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl CrowdConfig {
    /// Whether it needs `[cameras.calibration]`. Counts persons in the picture: no metres.
    pub fn needs_calibration(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrowdHit {
    pub phase: Phase,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CrowdState {
    Idle { above_since: Option<f64>, below_since: Option<f64>, quiet_until: f64 },
    Active { below_since: Option<f64>, sent_count: u32, sent_at: f64 },
}

#[derive(Debug, Clone)]
pub struct Crowd {
    min: u32,
    for_s: f64,
    end_after_s: f64,
    update_interval_s: f64,
    cooldown_s: f64,
    state: CrowdState,
}

/// Persons (by `is_person`) whose ground point is in `zone`.
pub fn count_in_zone<'a>(
    tracks: impl Iterator<Item = &'a Track>,
    zone: &[Point],
    is_person: impl Fn(u32) -> bool,
) -> u32 {
    tracks.filter(|t| is_person(t.class_id) && point_in_polygon(zone, t.bbox.bottom_center())).count() as u32
}

impl Crowd {
    pub fn new(cfg: &CrowdConfig) -> Self {
        Self {
            min: cfg.min_persons.0,
            for_s: cfg.for_s.0,
            end_after_s: cfg.end_after_s.0,
            update_interval_s: cfg.update_interval_s.0,
            cooldown_s: cfg.cooldown_s.0,
            state: CrowdState::Idle { above_since: None, below_since: None, quiet_until: f64::NEG_INFINITY },
        }
    }

    /// The count of persons in the zone at time `t`; returns a start, update or end if due.
    pub fn update(&mut self, t: f64, count: u32) -> Option<CrowdHit> {
        let above = count >= self.min;
        match &mut self.state {
            CrowdState::Idle { above_since, below_since, quiet_until } => {
                if above {
                    *below_since = None;
                    let since = *above_since.get_or_insert(t);
                    if t - since >= self.for_s && t >= *quiet_until {
                        self.state = CrowdState::Active { below_since: None, sent_count: count, sent_at: t };
                        return Some(CrowdHit { phase: Phase::Start, count });
                    }
                } else if above_since.is_some() {
                    let dip = *below_since.get_or_insert(t);
                    if t - dip >= self.end_after_s {
                        *above_since = None;
                        *below_since = None;
                    }
                }
                None
            }
            CrowdState::Active { below_since, sent_count, sent_at } => {
                if above {
                    *below_since = None;
                } else {
                    let since = *below_since.get_or_insert(t);
                    if t - since >= self.end_after_s {
                        self.state =
                            CrowdState::Idle { above_since: None, below_since: None, quiet_until: t + self.cooldown_s };
                        return Some(CrowdHit { phase: Phase::End, count });
                    }
                }
                if count != *sent_count && t - *sent_at >= self.update_interval_s {
                    *sent_count = count;
                    *sent_at = t;
                    return Some(CrowdHit { phase: Phase::Update, count });
                }
                None
            }
        }
    }

    /// The stream ended: end an open crowd.
    pub fn finish(&mut self) -> Option<CrowdHit> {
        match self.state {
            CrowdState::Active { sent_count, .. } => {
                self.state = CrowdState::Idle { above_since: None, below_since: None, quiet_until: f64::NEG_INFINITY };
                Some(CrowdHit { phase: Phase::End, count: sent_count })
            }
            CrowdState::Idle { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::{BBox, Detection};
    use crate::track::{Tracker, TrackerConfig};

    const PERSON: u32 = 0;

    fn cfg(min: u32, for_s: f64, end_after_s: f64, cooldown_s: f64) -> CrowdConfig {
        toml::from_str(&format!(
            "name = \"c\"\nzone = \"z\"\nmin_persons = {min}\nfor_s = {for_s}\nend_after_s = {end_after_s}\ncooldown_s = {cooldown_s}"
        ))
        .expect("crowd config")
    }

    const ZONE: [Point; 4] = [(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)];

    /// A person standing with their feet at (x, y).
    fn person(x: f32, y: f32) -> Detection {
        Detection { class_id: PERSON, score: 0.9, bbox: BBox::new(x - 10.0, y - 50.0, x + 10.0, y) }
    }

    /// Persons (their feet) per frame at 5 fps through a real tracker; the rule's hits with
    /// their times.
    fn run(rule: &mut Crowd, frames: impl Iterator<Item = Vec<(f32, f32)>>) -> Vec<(f64, CrowdHit)> {
        let mut tracker =
            Tracker::new(TrackerConfig { min_hits: 1, max_lost_stationary_s: 0.0, ..TrackerConfig::default() });
        let mut hits = Vec::new();
        for (i, feet) in frames.enumerate() {
            let t = i as f64 * 0.2;
            let dets: Vec<Detection> = feet.iter().map(|&(x, y)| person(x, y)).collect();
            tracker.update(t, &dets);
            let n = count_in_zone(tracker.tracks(), &ZONE, |c| c == PERSON);
            hits.extend(rule.update(t, n).map(|h| (t, h)));
        }
        hits.extend(rule.finish().map(|h| (f64::INFINITY, h)));
        hits
    }

    /// `n` persons in a row, inside the zone (x < 400) or, from index `inside`, outside it.
    fn row(n: usize, inside: usize) -> Vec<(f32, f32)> {
        (0..n)
            .map(|k| if k < inside { (20.0 + 30.0 * k as f32, 200.0) } else { (500.0 + 30.0 * k as f32, 200.0) })
            .collect()
    }

    #[test]
    fn starts_after_for_s_and_ends_after_end_after_s() {
        let mut rule = Crowd::new(&cfg(5, 3.0, 2.0, 0.0));
        // 4 s with 5 inside, then 4 s with 2 inside.
        let frames = (0..40).map(|i| if i < 20 { row(5, 5) } else { row(5, 2) });
        let hits = run(&mut rule, frames);
        let phases: Vec<(Phase, u32)> = hits.iter().map(|(_, h)| (h.phase, h.count)).collect();
        assert_eq!(phases, vec![(Phase::Start, 5), (Phase::End, 2)], "{hits:?}");
        assert!((hits[0].0 - 3.0).abs() < 0.01, "started at {}", hits[0].0);
        // The three who left still count while their tracks are lost (1.5 s, as when occluded),
        // then the count must stay low for 2 s: the end comes at about 4 + 1.5 + 2 s.
        assert!(hits[1].0 > 7.0 && hits[1].0 < 8.0, "ended at {}", hits[1].0);
    }

    #[test]
    fn flicker_at_the_threshold_fires_once() {
        let mut rule = Crowd::new(&cfg(6, 2.0, 3.0, 30.0));
        // The sixth person steps in and out of the zone every frame for 20 s.
        let frames = (0..100).map(|i| row(6, if i % 2 == 0 { 6 } else { 5 }));
        let hits = run(&mut rule, frames);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).filter(|p| *p != Phase::Update).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        // Updates are rate limited: at most one per 5 s.
        let updates: Vec<f64> = hits.iter().filter(|(_, h)| h.phase == Phase::Update).map(|(t, _)| *t).collect();
        assert!(updates.windows(2).all(|w| w[1] - w[0] >= 5.0 - 1e-9), "{updates:?}");
        assert!(updates.len() <= 4, "{updates:?}");
    }

    #[test]
    fn flickering_counts_fire_once_and_update_at_the_interval() {
        // The count itself, without a tracker: 6 and 5 alternating each frame for 30 s around
        // a threshold of 6, then 0.
        let mut rule = Crowd::new(&cfg(6, 2.0, 3.0, 30.0));
        let mut hits = Vec::new();
        for i in 0..200 {
            let t = f64::from(i) * 0.2;
            let n = if i >= 150 {
                0
            } else if i % 2 == 0 {
                6
            } else {
                5
            };
            hits.extend(rule.update(t, n).map(|h| (t, h)));
        }
        assert!(rule.finish().is_none(), "already ended");
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases.first(), Some(&Phase::Start), "{hits:?}");
        assert_eq!(phases.last(), Some(&Phase::End), "{hits:?}");
        assert_eq!(phases.iter().filter(|p| **p != Phase::Update).count(), 2, "{hits:?}");
        let updates: Vec<f64> = hits.iter().filter(|(_, h)| h.phase == Phase::Update).map(|(t, _)| *t).collect();
        // Started at 2 s; the count changes every frame, so an update every 5 s, the last one
        // (count 0) while the end is pending.
        assert_eq!(updates.len(), 6, "{updates:?}");
        assert!(updates.windows(2).all(|w| (w[1] - w[0] - 5.0).abs() < 1e-6), "{updates:?}");
        // Below 6 from the last 5 at 29.8 s on: ended 3 s (end_after_s) later.
        assert!((hits.last().expect("end").0 - 32.8).abs() < 1e-6, "{hits:?}");
    }

    #[test]
    fn cooldown_holds_back_a_second_start() {
        let mut rule = Crowd::new(&cfg(3, 1.0, 1.0, 10.0));
        // Crowd 2 s, gone 5 s (their tracks linger 1.5 s as lost), crowd again 13 s: back
        // within the cooldown, and still there after it.
        let frames = (0..100).map(|i| match i {
            0..10 => row(3, 3),
            10..35 => row(3, 0),
            _ => row(3, 3),
        });
        let hits = run(&mut rule, frames);
        let starts: Vec<f64> = hits.iter().filter(|(_, h)| h.phase == Phase::Start).map(|(t, _)| *t).collect();
        assert_eq!(starts.len(), 2, "{hits:?}");
        // The second start waits for the cooldown after the first end.
        let end = hits.iter().find(|(_, h)| h.phase == Phase::End).expect("end").0;
        assert!(starts[1] >= end + 10.0 - 1e-9 && starts[1] < end + 10.5, "{hits:?}");
    }

    #[test]
    fn too_few_never_start() {
        let mut rule = Crowd::new(&cfg(5, 1.0, 1.0, 0.0));
        assert!(run(&mut rule, (0..50).map(|_| row(8, 4))).is_empty());
    }
}
