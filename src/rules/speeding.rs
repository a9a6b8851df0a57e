//! `speeding`: a vehicle or motorcycle in a zone faster than the zone's limit for `for_s`.
//! A speed is read from a second or more of detections: to start, it counts for the zone if
//! the road user is in it now or was at the moment the reading is centred on, up to a second
//! ago.
//!
//! Speeds are the smoothed ground speeds of [`super::motion`] (a least-squares slope over a
//! second, given only when its standard error is small), so box jitter does not make spikes; and over the last `max(for_s, 1 s)` the track
//! must also have covered 80 % of the distance the threshold speed would, so a box whose bottom
//! edge jumps (a parked car partly hidden by a passer-by) does not fire. Hysteresis: once started, the event ends only
//! after the speed stayed below `limit_kmh - hysteresis_kmh` (or the track was out of the zone)
//! for `end_after_s`, so a car cruising at the limit fires once, not on every wobble; and the
//! same track does not start again for `cooldown_s`.

use std::collections::HashMap;

use serde::Deserialize;

use super::defaults;
use super::episode::Episode;
use super::kinematics::{Kinematics, TrackKinematics};
use crate::event::Phase;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Id, Seconds, Speed, SpeedMargin};

/// `speeding`: a vehicle or motorcycle in the zone above `limit_kmh` for `for_s` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedingConfig {
    pub name: Id,
    pub zone: Id,
    pub limit_kmh: Speed,
    /// Above the limit this long to start, on top of the speed's own fit (a speed is already
    /// 0.6–1 s of detections): 0 decides on the first reading, which a car at 100 km/h in a
    /// 40 m view at 3–5 fps needs.
    #[serde(default = "zero_s")]
    pub for_s: Seconds,
    /// Once started, it ends only below `limit_kmh - hysteresis_kmh`…
    #[serde(default = "five_kmh")]
    pub hysteresis_kmh: SpeedMargin,
    /// … held this long (or when the track leaves the zone or ends).
    #[serde(default = "defaults::two_s")]
    pub end_after_s: Seconds,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl SpeedingConfig {
    /// Whether it needs `[cameras.calibration]`. Speeds are ground speeds.
    pub fn needs_calibration(&self) -> bool {
        true
    }
}

fn zero_s() -> Seconds {
    Seconds(0.0)
}
fn five_kmh() -> SpeedMargin {
    SpeedMargin(5.0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedingHit {
    pub phase: Phase,
    pub track_id: u64,
    pub class_id: u32,
    /// Latest smoothed speed.
    pub speed_kmh: f64,
    /// Highest and mean speed since it went above the limit.
    pub max_kmh: f64,
    pub mean_kmh: f64,
}

/// Share of the distance at the threshold speed a track must really have covered over the
/// check window: a box whose bottom edge jumps (a passer-by hides a parked car's wheels) makes
/// the smoothed speed spike for a second without the car going anywhere.
const COVERED_SHARE: f64 = 0.8;
/// The shortest window of that check: as long as a speed's fit, so a car seen for a second
/// can be judged.
const COVERED_WINDOW_S: f64 = super::kinematics::SPEED_WINDOW_S;

/// Net ground distance over the last `window_s` (at least half of it seen) per time, km/h.
fn average_kmh(m: &TrackKinematics, t: f64, window_s: f64) -> Option<f64> {
    let first = m.since(t - window_s).find(|s| s.ground.is_some())?;
    let last = m.latest()?;
    let (g0, g1) = (first.ground?, last.ground?);
    let span = last.t - first.t;
    (span >= window_s / 2.0).then(|| (g1.0 - g0.0).hypot(g1.1 - g0.1) / span * 3.6)
}

#[derive(Debug, Clone)]
struct Stats {
    max: f64,
    sum: f64,
    n: u32,
}

impl Stats {
    fn new() -> Self {
        Self { max: 0.0, sum: 0.0, n: 0 }
    }
    fn add(&mut self, v: f64) {
        self.max = self.max.max(v);
        self.sum += v;
        self.n += 1;
    }
    fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum / f64::from(self.n) }
    }
}

#[derive(Debug, Clone)]
struct Vehicle {
    episode: Episode,
    stats: Stats,
    last_kmh: f64,
    class_id: u32,
    /// Above the limit, waiting for a precise enough speed to start.
    pending: Option<Pending>,
}

impl Vehicle {
    /// A start reports the most precise speed read while it waited, once.
    fn take_waited_speed(&mut self) {
        if let Some((k, _)) = self.pending.as_mut().and_then(|p| p.best.take()) {
            self.last_kmh = k;
        }
    }

    fn hit(&self, phase: Phase, track_id: u64) -> SpeedingHit {
        SpeedingHit {
            phase,
            track_id,
            class_id: self.class_id,
            speed_kmh: self.last_kmh,
            max_kmh: self.stats.max,
            mean_kmh: self.stats.mean(),
        }
    }
}

/// A start waiting for a precise speed.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Since when it has been above the limit.
    since: f64,
    /// The most precise speed (km/h, standard error) read while waiting: a start that cannot
    /// wait longer reports it, not whatever the latest reading is.
    best: Option<(f64, f64)>,
}

impl Pending {
    /// This frame's speed (km/h, standard error), kept if it is the most precise yet.
    fn offer(&mut self, speed: Option<(f64, f64)>) {
        if let Some(b) = speed.filter(|b| self.best.is_none_or(|q| b.1 <= q.1)) {
            self.best = Some(b);
        }
    }
}

/// A start waits until its speed's standard error is within this share of it (with 2 %, a fit
/// of four far detections on the wide pole read 5.9 % high with a standard error of 1.6 %: so few
/// points understate their error)…
const START_SE_SHARE: f64 = 0.015;
/// … but at most this long after it was first above the limit, or until it is no longer
/// measured (it left the zone or the measurable area, or its track ended): then it starts with
/// the best speed it had.
const START_WAIT_S: f64 = 0.6;
/// Float slack on times like k/3 s.
const EPS_S: f64 = 1e-6;
/// A reading centred in the zone starts an event up to this long after its centre: a
/// reading's own window (the fit over the whole time in view is centred further back, on
/// where the road user was a second or two before).
const CENTRE_BACK_S: f64 = super::kinematics::SPEED_WINDOW_S;

#[derive(Debug, Clone)]
pub struct Speeding {
    zone: Vec<Point>,
    limit: f64,
    hysteresis: f64,
    for_s: f64,
    end_after_s: f64,
    cooldown_s: f64,
    vehicles: HashMap<u64, Vehicle>,
}

impl Speeding {
    pub fn new(cfg: &SpeedingConfig, zone: &[Point]) -> Self {
        Self {
            zone: zone.to_vec(),
            limit: cfg.limit_kmh.0,
            hysteresis: cfg.hysteresis_kmh.0,
            for_s: cfg.for_s.0,
            end_after_s: cfg.end_after_s.0,
            cooldown_s: cfg.cooldown_s.0,
            vehicles: HashMap::new(),
        }
    }

    /// The limit this rule enforces, km/h.
    pub fn limit_kmh(&self) -> f64 {
        self.limit
    }

    /// Judge every road user (by `is_road_user`) matched at time `t`.
    pub fn update(
        &mut self,
        t: f64,
        motion: &Kinematics,
        is_road_user: impl Fn(u32) -> bool,
        out: &mut Vec<SpeedingHit>,
    ) {
        for (id, m) in motion.iter() {
            if !m.matched || !is_road_user(m.class_id) {
                continue;
            }
            let Some(s) = m.latest() else { continue };
            let v = self.vehicles.entry(id).or_insert_with(|| Vehicle {
                episode: Episode::new(self.for_s, self.end_after_s, self.cooldown_s),
                stats: Stats::new(),
                last_kmh: 0.0,
                class_id: m.class_id,
                pending: None,
            });
            let reading = m.best_reading();
            let best = reading.map(|f| (f.kmh, f.se_kmh));
            let kmh = best.map(|b| b.0);
            let threshold = if v.episode.is_active() { self.limit - self.hysteresis } else { self.limit };
            let covered =
                average_kmh(m, t, self.for_s.max(COVERED_WINDOW_S)).is_some_and(|a| a >= COVERED_SHARE * threshold);
            // To start, in the zone now or where the reading is centred, if that is at most
            // [`CENTRE_BACK_S`] ago: a reading rests on a second or more of detections, and the
            // first precise one may come just after the road user left the zone, when it is
            // still the speed it had in it (on the wide pole at 3 fps, a car at 95 km/h missed
            // twice as it came into view had its first reading one detection past the zone's
            // far end in 4 of 100 runs, which raised nothing). Once started, the zone is where
            // it is now, so an end is not put off.
            let centred_in_zone = || {
                reading
                    .filter(|f| t - f.t_mid <= CENTRE_BACK_S + EPS_S)
                    .and_then(|f| m.at(f.t_mid + EPS_S))
                    .is_some_and(|c| point_in_polygon(&self.zone, c.image))
            };
            let in_zone = point_in_polygon(&self.zone, s.image) || (!v.episode.is_active() && centred_in_zone());
            let on = in_zone && kmh.is_some_and(|k| k >= threshold) && covered;
            if let Some(k) = kmh {
                v.last_kmh = k;
            }
            // A start waits for a precise speed (the one it reports), a little while at most.
            let on = if v.episode.is_active() {
                on
            } else if on && v.pending.is_none() && s.carried > 0 {
                // A start waits from a detection's own reading: a carried frame only repeats the
                // latest one, which was not above the limit where the road user is now (it may
                // have entered the zone since), and at the next detection a fit of few far
                // points may miss the gate, which would start it with that reading.
                false
            } else if on {
                let p = v.pending.get_or_insert(Pending { since: t, best: None });
                p.offer(best);
                best.is_some_and(|(k, se)| se <= START_SE_SHARE * k) || t - p.since >= START_WAIT_S - EPS_S
            } else if let Some(p) = v.pending.as_mut().filter(|_| covered && kmh.is_none_or(|k| k >= threshold)) {
                // No longer measured while waiting, or it left the zone: start with the most
                // precise speed it had, this frame's included (the frame it leaves the zone in
                // may be the one whose fit has the most points).
                p.offer(best);
                true
            } else {
                v.pending = None;
                false
            };
            if on && !v.episode.is_active() {
                v.take_waited_speed();
            }
            // Statistics cover the time above the limit, from the start of gathering on.
            if !v.episode.is_active() && v.episode.on_since().is_none() {
                v.stats = Stats::new();
            }
            let phase = v.episode.update(t, on);
            if v.episode.is_active() {
                v.pending = None;
            }
            if on && let Some(k) = kmh {
                v.stats.add(k);
            }
            if let Some(phase) = phase {
                out.push(v.hit(phase, id));
            }
        }
    }

    /// A track ended: end its event, if one is open.
    pub fn remove(&mut self, track_id: u64, t: f64, out: &mut Vec<SpeedingHit>) {
        let Some(mut v) = self.vehicles.remove(&track_id) else { return };
        // Ended while waiting for a precise speed: it was above the limit; start with the most
        // precise speed it had while waiting, as a start that cannot wait longer does.
        v.take_waited_speed();
        if v.pending.is_some() && v.episode.update(t, true) == Some(Phase::Start) {
            v.stats.add(v.last_kmh);
            out.push(v.hit(Phase::Start, track_id));
        }
        if v.episode.stop(t) {
            out.push(v.hit(Phase::End, track_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use crate::detect::types::Detection;
    use crate::geometry::homography::tests::flat;
    use crate::track::{Tracker, TrackerConfig};

    const CAR: u32 = 2;
    const PERSON: u32 = 0;
    const ZONE: [Point; 4] = [(0.0, 0.0), (2000.0, 0.0), (2000.0, 720.0), (0.0, 720.0)];

    fn cfg(limit: f64) -> SpeedingConfig {
        toml::from_str(&format!("name = \"s\"\nzone = \"z\"\nlimit_kmh = {limit}\nfor_s = 2\nend_after_s = 2"))
            .expect("cfg")
    }

    /// One object driving along y = 400 with speed `kmh(t)` at 10 fps, with ±2 px of box jitter;
    /// hits with their times.
    fn drive(rule: &mut Speeding, class_id: u32, secs: f64, kmh: impl Fn(f64) -> f64) -> Vec<(f64, SpeedingHit)> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(flat(0.1)));
        let (mut x, mut hits, mut out) = (20.0_f64, Vec::new(), Vec::new());
        let n = (secs * 10.0) as u32;
        for i in 0..n {
            let t = f64::from(i) * 0.1;
            x += kmh(t) / 3.6 * 0.1 * 10.0;
            let j = if i % 2 == 0 { 2.0 } else { -2.0 };
            let xf = x as f32 + j;
            let det = Detection { class_id, score: 0.9, bbox: BBox::new(xf - 20.0, 360.0, xf + 20.0, 400.0) };
            let ended: Vec<u64> = tracker.update(t, &[det]).ended.iter().map(|e| e.id).collect();
            motion.update(t, tracker.tracks());
            for e in ended {
                rule.remove(e, t, &mut out);
            }
            rule.update(t, &motion, |c| c == CAR, &mut out);
            hits.extend(out.drain(..).map(|h| (t, h)));
        }
        for e in tracker.finish() {
            rule.remove(e.id, secs, &mut out);
        }
        hits.extend(out.drain(..).map(|h| (f64::INFINITY, h)));
        hits
    }

    #[test]
    fn above_the_limit_starts_once_and_ends_when_slowing() {
        let mut rule = Speeding::new(&cfg(50.0), &ZONE);
        // 40 km/h for 3 s, 70 km/h for 4 s, 30 km/h for 4 s: 144 m in all, within the zone.
        let hits = drive(&mut rule, CAR, 11.0, |t| {
            if t < 3.0 {
                40.0
            } else if t < 7.0 {
                70.0
            } else {
                30.0
            }
        });
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, start) = hits[0];
        // Above 50 from about 3.3 s (the smoothing lags), then 2 s.
        assert!(t0 > 5.0 && t0 < 6.0, "started at {t0}");
        assert!(start.max_kmh > 68.0 && start.max_kmh < 72.0, "{start:?}");
        assert!(start.mean_kmh > 55.0 && start.mean_kmh <= start.max_kmh, "{start:?}");
        let (t1, end) = hits[1];
        // Below 45 from about 7.4 s, then 2 s.
        assert!(t1 > 9.0 && t1 < 10.0, "ended at {t1}");
        assert!((end.max_kmh - start.max_kmh).abs() < 2.0 && end.speed_kmh < 45.0, "{end:?}");
    }

    #[test]
    fn hovering_at_the_limit_fires_once() {
        let mut rule = Speeding::new(&cfg(50.0), &ZONE);
        // 47 to 53 km/h, a wave every 2 s, for 9 s.
        let hits = drive(&mut rule, CAR, 9.0, |t| 50.0 + 3.0 * (t * std::f64::consts::PI).sin());
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert!(phases == vec![Phase::Start, Phase::End] || phases.is_empty(), "{hits:?}");
        assert!(hits.iter().skip(1).all(|(t, _)| t.is_infinite()), "ended only with the track: {hits:?}");
    }

    #[test]
    fn a_parked_car_whose_box_jumps_is_not_speeding() {
        // Far from the camera, 0.4 m a pixel: a passer-by hides the car's wheels for 2 s and
        // its box's bottom edge jumps 15 px (6 m) up and back. The smoothed speed spikes to
        // over 20 km/h for about a second each way; the car goes nowhere.
        let h = flat(0.4);
        let cfg: SpeedingConfig = toml::from_str("name = \"s\"\nzone = \"z\"\nlimit_kmh = 15\nfor_s = 1").expect("cfg");
        let mut rule = Speeding::new(&cfg, &ZONE);
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(h));
        let (mut out, mut peak) = (Vec::new(), 0.0_f64);
        let mut raw = crate::rules::speed::SpeedEstimator::new(crate::rules::kinematics::SPEED_WINDOW_S);
        for i in 0..100 {
            let t = f64::from(i) * 0.1;
            let bottom = if (40..60).contains(&i) { 385.0 } else { 400.0 };
            let det = Detection { class_id: CAR, score: 0.9, bbox: BBox::new(500.0, 360.0, 540.0, bottom) };
            tracker.update(t, &[det]);
            motion.update(t, tracker.tracks());
            // The spike is in the plain fit; the motion's error gate already holds most of it back.
            if let Some(g) = motion.get(1).and_then(|m| m.latest()).and_then(|s| s.measured) {
                raw.push(crate::rules::speed::Fix { t, g, sd: 0.0 });
            }
            peak = peak.max(raw.speed_kmh().unwrap_or(0.0));
            rule.update(t, &motion, |c| c == CAR, &mut out);
        }
        assert!(peak > 20.0, "the spike this guards against: {peak}");
        assert!(out.is_empty(), "{out:?}");
    }

    /// A car 40 px wide detected with its foot at (`x`, 400) at time `t`, fed to `tracker` and
    /// `motion`.
    fn see_car(tracker: &mut Tracker, motion: &mut Kinematics, t: f64, x: f64) {
        let det =
            Detection { class_id: CAR, score: 0.9, bbox: BBox::new(x as f32 - 20.0, 360.0, x as f32 + 20.0, 400.0) };
        tracker.update(t, &[det]);
        motion.update(t, tracker.tracks());
    }

    /// A start that cannot wait for a precise speed any longer reports the most precise reading
    /// it had while waiting, not the latest: with few, jittery points a later fit can be worse.
    #[test]
    fn a_start_that_cannot_wait_reports_the_most_precise_reading_it_had() {
        let cfg: SpeedingConfig = toml::from_str("name = \"s\"\nzone = \"z\"\nlimit_kmh = 50").expect("cfg");
        let mut rule = Speeding::new(&cfg, &ZONE);
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(flat(0.1)));
        let mut out = Vec::new();
        // 80 km/h at 5 fps (44 px a frame) with up to ±6 px of box jitter, from a fixed sequence.
        let jitter = [1.0, 6.0, -1.0, 5.0, 2.0, 5.0, -5.0, 4.0, -6.0, -1.0, 3.0, -6.0, -1.0, -5.0];
        let mut readings = Vec::new();
        for (i, j) in jitter.iter().enumerate() {
            let t = i as f64 * 0.2;
            let x = 20.0 + 80.0 / 3.6 * t * 10.0 + j;
            see_car(&mut tracker, &mut motion, t, x);
            let best = motion.get(1).and_then(|m| m.best_speed());
            rule.update(t, &motion, |c| c == CAR, &mut out);
            if let Some(hit) = out.first() {
                // Above the limit from its first reading on: the start came after waiting.
                let precise = readings.iter().chain(best.iter()).min_by(|a: &&(f64, f64), b| a.1.total_cmp(&b.1));
                let (kmh, se) = *precise.expect("readings");
                assert!(se > START_SE_SHARE * kmh, "it waited: no reading was precise enough");
                assert_eq!(hit.speed_kmh, kmh, "{readings:?} then {best:?}");
                let latest = best.expect("a reading at the start");
                assert_ne!(latest.0, kmh, "the latest reading is not the most precise one");
                return;
            }
            readings.extend(best);
        }
        panic!("no start: {readings:?}");
    }

    #[test]
    fn a_speed_read_just_after_leaving_the_zone_is_the_speed_it_had_in_it() {
        // 80 km/h at 3 fps (74 px a frame, 10 px a metre): the zone ends at x = 200, and the
        // third detection, the first reading (centred on the second), is past it.
        let zone = [(0.0, 0.0), (200.0, 0.0), (200.0, 720.0), (0.0, 720.0)];
        let cfg: SpeedingConfig = toml::from_str("name = \"s\"\nzone = \"z\"\nlimit_kmh = 60").expect("cfg");
        let mut rule = Speeding::new(&cfg, &zone);
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        let mut motion = Kinematics::new(Some(flat(0.1)));
        let mut hits = Vec::new();
        for i in 0..8 {
            let t = f64::from(i) / 3.0;
            let x = 60.0 + 80.0 / 3.6 * t * 10.0;
            see_car(&mut tracker, &mut motion, t, x);
            if i == 2 {
                let s = motion.get(1).and_then(|m| m.latest()).expect("a sample");
                assert!(s.image.0 > 200.0 && s.kmh.is_some(), "the first reading, out of the zone: {s:?}");
            }
            rule.update(t, &motion, |c| c == CAR, &mut hits);
        }
        let starts: Vec<&SpeedingHit> = hits.iter().filter(|h| h.phase == Phase::Start).collect();
        assert_eq!(starts.len(), 1, "{hits:?}");
        assert!((starts[0].speed_kmh - 80.0).abs() < 2.0, "{hits:?}");
    }

    #[test]
    fn below_the_limit_or_not_a_road_user_never_fires() {
        let mut rule = Speeding::new(&cfg(50.0), &ZONE);
        assert!(drive(&mut rule, CAR, 10.0, |_| 45.0).is_empty());
        let mut rule = Speeding::new(&cfg(50.0), &ZONE);
        assert!(drive(&mut rule, PERSON, 10.0, |_| 80.0).is_empty());
    }
}
