//! `racing`: a group of at least `min_group` motorcycles riding together (each within
//! `max_gap_m` of another of the group) at `min_speed_kmh` or more, or a fast motorcycle weaving
//! from side to side, for `for_s` seconds.
//!
//! Weaving is judged in the ground plane over the last `weave_window_s`, on as much of it as the
//! rider was seen: its sideways movement across the road (the zone's long axis, see
//! [`road_axis`]) must swing by at least `2 × weave_amplitude_m` and reverse at least
//! `weave_min_swings` times (see [`weave`]). Box jitter makes no swing, a lane change one swing
//! and no reversal, an overtake's swerve out and back one reversal, and a bend at most one.
//!
//! A rider has a speed when it had a fitted speed in the last [`HOLD_S`] (a speed is a fit over
//! about a second, and a fast rider near the edge of the measurable area has points too coarse
//! for a new one), and it counts while it is in the zone or was within the last [`HOLD_S`] (its
//! one reading may come as it leaves). A rider seen now is taken at the more precise of its
//! latest reading and the fit over its whole time in view
//! ([`super::kinematics::TrackKinematics::best_speed`], as `speeding` reports): a weaver's latest
//! reading rests on its last few detections, often far away, and read 9 % high on the wide pole
//! at 3 fps. Until the event starts, a rider last seen within
//! [`HOLD_S`] counts too, even one that has left the picture, where its ground velocity has
//! taken it: a group passes a short view one rider after the other. At 60–100 km/h a group is measurable for only a second or
//! so in a pole camera's view: a group that was racing for the whole time it was seen, until its
//! members left the zone (their tracks unmatched, ended or out of the zone), starts when it
//! leaves even if that was shorter than `for_s`, if it was seen at two frames or its riders were
//! already together at an earlier frame (at 3 detections a second the riders of a group may all
//! have speeds at one frame only). A weaver leaving while weaving starts it too, even if seen
//! weaving at one frame only: its two reversals already took a second or more, and a rider at
//! 70 km/h in an 8 m pole camera's view for about 2 s shows them just before it leaves. A
//! rider stays a weaver for [`HOLD_S`] after the window that showed its reversals.
//!
//! Hysteresis: once started, members need only `min_speed_kmh - hysteresis_kmh`, and the event
//! ends only after the situation has been gone for `end_after_s`. The rule is zone-wide: one
//! event at a time, then `cooldown_s` of quiet.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::defaults;
use super::episode::Episode;
use super::kinematics::{Kinematics, TrackKinematics};
use crate::event::Phase;
use crate::geometry::homography::Homography;
use crate::geometry::{Point, long_axis, point_in_polygon};
use crate::schema::{Count, Distance, Id, Seconds, Speed, SpeedMargin};

/// `racing`: motorcycles riding fast together, or one weaving fast.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RacingConfig {
    pub name: Id,
    pub zone: Id,
    /// K: motorcycles in a group.
    #[serde(default = "three")]
    pub min_group: Count,
    /// D: a motorcycle within this many metres of another of the group is in it.
    #[serde(default = "fifteen_m")]
    pub max_gap_m: Distance,
    /// V: every member (or the weaver) at least this fast.
    pub min_speed_kmh: Speed,
    /// T: the situation lasts this long to start (on top of the speeds' own fit of 0.6–1 s);
    /// a group seen above the speed for the whole time it is measurable in the zone starts when
    /// it leaves, even if that was shorter.
    #[serde(default = "half_s")]
    pub for_s: Seconds,
    /// Once started, members count down to `min_speed_kmh - hysteresis_kmh`.
    #[serde(default = "ten_kmh")]
    pub hysteresis_kmh: SpeedMargin,
    /// Weaving: swings across the road of at least twice this, metres…
    #[serde(default = "weave_amplitude")]
    pub weave_amplitude_m: Distance,
    /// … reversing at least this many times…
    #[serde(default = "two")]
    pub weave_min_swings: Count,
    /// … within this window, seconds (judged on as much of it as the rider was seen: a rider
    /// at 80 km/h is in a pole camera's view for about 2 s).
    #[serde(default = "weave_window")]
    pub weave_window_s: Seconds,
    /// The group broken up or slowed down this long ends it.
    #[serde(default = "defaults::three_s")]
    pub end_after_s: Seconds,
    /// An `update` every this many seconds while it lasts.
    #[serde(default = "defaults::five_s")]
    pub update_interval_s: Seconds,
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl RacingConfig {
    /// Whether it needs `[cameras.calibration]`. Speeds and gaps are on the ground.
    pub fn needs_calibration(&self) -> bool {
        true
    }
}

fn three() -> Count {
    Count(3)
}
fn fifteen_m() -> Distance {
    Distance(15.0)
}
fn half_s() -> Seconds {
    Seconds(0.5)
}
fn ten_kmh() -> SpeedMargin {
    SpeedMargin(10.0)
}
fn weave_amplitude() -> Distance {
    Distance(0.5)
}
fn two() -> Count {
    Count(2)
}
fn weave_window() -> Seconds {
    Seconds(2.0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct RacingHit {
    pub phase: Phase,
    /// Motorcycles in the group (or weaving) now; at `end`, the most at any time.
    pub group_size: u32,
    /// Their track ids; at `end`, every track that took part.
    pub track_ids: Vec<u64>,
    /// Highest and mean speed of the members now; at `end`, over the whole event.
    pub max_kmh: f64,
    pub mean_kmh: f64,
    /// Whether a member was weaving (now; at `end`, at any time).
    pub weaving: bool,
}

/// How a track swings across the road over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weave {
    /// Half the largest swing from one side to the other, metres.
    pub amplitude_m: f64,
    /// Reversals of the sideways movement, each between two swings of at least twice the
    /// amplitude threshold.
    pub swings: u32,
}

/// The sideways swings of `(t, ground)` points (time-ordered), across `axis` (the road's unit
/// direction on the ground) or, without one, across the straight line fitted to the points.
/// A swing is a sideways movement of at least `2 × amplitude_m`, one side to the other, and
/// `swings` counts its reversals (a zigzag with that hysteresis, so jitter makes none). The
/// points before the first swing count as the end of one the view cut if they moved the other
/// way by at least `amplitude_m`, and its turn is a reversal: a weaver riding away from an 8 m
/// pole camera is in view for 1.25 periods, and at 5 detections a second its first turn came
/// 0.3–0.5 s after its first detection (in 100 runs 10 weavers were missed, 9 of them so; 1 now).
///
/// Across the road, a lane change is one swing and no reversal, a swerve out to overtake and
/// back one reversal, a bend at most one, and a weaving rider one reversal per half period.
/// Across the track's own line the lane change looks like a weave (the line takes up half of
/// it, leaving out, back, out), which is why the road's axis is used where it is known.
/// None for fewer than 4 points (5 without an axis) or no movement.
pub fn weave(points: &[(f64, (f64, f64))], axis: Option<(f64, f64)>, amplitude_m: f64) -> Option<Weave> {
    let lateral: Vec<f64> = match axis {
        Some((ax, ay)) if points.len() >= 4 => {
            if points.iter().all(|p| p.1 == points[0].1) {
                return None;
            }
            points.iter().map(|&(_, (x, y))| -x * ay + y * ax).collect()
        }
        None if points.len() >= 5 => {
            let ((tm, xm, ym), (vx, vy), _) = super::speed::line(points)?;
            let speed = vx.hypot(vy);
            if speed <= 0.0 {
                return None;
            }
            let (nx, ny) = (-vy / speed, vx / speed);
            points.iter().map(|&(t, (x, y))| (x - xm - vx * (t - tm)) * nx + (y - ym - vy * (t - tm)) * ny).collect()
        }
        _ => return None,
    };
    let leg = 2.0 * amplitude_m;
    // Zigzag: `dir` is the current swing's direction (0 until the first swing), `ext` its
    // furthest point so far, `from` where it began.
    let (mut dir, mut swings) = (0i8, 0u32);
    let (mut lo, mut hi) = (lateral[0], lateral[0]);
    let (mut from, mut ext) = (lateral[0], lateral[0]);
    let mut largest: f64 = 0.0;
    for &e in &lateral[1..] {
        match dir {
            0 => {
                lo = lo.min(e);
                hi = hi.max(e);
                // The first full swing; if the points before it moved the other way by at least
                // the amplitude, that was the end of a swing the view cut, and its turn counts.
                if e - lo >= leg {
                    (dir, from, ext) = (1, lo, e);
                    swings += u32::from(lateral[0] - lo >= amplitude_m);
                } else if hi - e >= leg {
                    (dir, from, ext) = (-1, hi, e);
                    swings += u32::from(hi - lateral[0] >= amplitude_m);
                }
            }
            _ => {
                let d = f64::from(dir);
                if (e - ext) * d > 0.0 {
                    ext = e;
                } else if (ext - e) * d >= leg {
                    swings += 1;
                    (dir, from, ext) = (-dir, ext, e);
                }
            }
        }
        largest = largest.max((ext - from).abs());
    }
    Some(Weave { amplitude_m: largest.max(hi - lo) / 2.0, swings })
}

#[derive(Debug, Clone, Default)]
struct Totals {
    max_group: u32,
    ids: BTreeSet<u64>,
    max: f64,
    sum: f64,
    n: u64,
    weaving: bool,
}

#[derive(Debug, Clone)]
pub struct Racing {
    zone: Vec<Point>,
    min_group: usize,
    max_gap_m: f64,
    min_speed: f64,
    hysteresis: f64,
    weave_amplitude_m: f64,
    weave_min_swings: u32,
    weave_window_s: f64,
    /// The road's direction on the ground, from the zone's shape (see [`road_axis`]).
    road_axis: Option<(f64, f64)>,
    update_interval_s: f64,
    episode: Episode,
    last_sent: f64,
    summary: Totals,
    /// While gathering: the latest members, to start with when they leave together.
    pending: Vec<Member>,
    /// The latest time there were members.
    last_on: f64,
    /// While gathering: an earlier frame at which the first members were already riding
    /// together (see [`Racing::together_before`]).
    together_since: Option<f64>,
}

/// A zone at least this much longer than wide on the ground lies along a road.
pub const ROAD_MIN_ELONGATION: f64 = 1.5;

/// The long axis of the zone's ground shape and how elongated it is ([`long_axis`]); None for
/// a zone reaching past the horizon.
pub fn zone_axis(h: &Homography, zone: &[Point]) -> Option<((f64, f64), f64)> {
    long_axis(&h.polygon_to_ground(zone)?)
}

/// The road's direction on the ground: the zone's long axis ([`zone_axis`]), when the zone is
/// at least [`ROAD_MIN_ELONGATION`] times longer than wide (a racing zone is drawn along the
/// road). None for a squarish zone (a junction) or one reaching past the horizon.
pub fn road_axis(h: &Homography, zone: &[Point]) -> Option<(f64, f64)> {
    zone_axis(h, zone).filter(|(_, e)| *e >= ROAD_MIN_ELONGATION).map(|(d, _)| d)
}

/// One member now: (track id, speed km/h, weaving).
type Member = (u64, f64, bool);

/// Whether the points are all linked by steps of at most `gap` (one chain).
fn linked(pts: &[(f64, f64)], gap: f64) -> bool {
    let mut reached = vec![false; pts.len()];
    let mut stack = vec![0];
    reached[0] = !pts.is_empty();
    while let Some(i) = stack.pop() {
        for j in 0..pts.len() {
            if !reached[j] && (pts[i].0 - pts[j].0).hypot(pts[i].1 - pts[j].1) <= gap {
                reached[j] = true;
                stack.push(j);
            }
        }
    }
    reached.iter().all(|&r| r)
}

/// How long a rider's latest fitted speed stands for it, and a rider that left the view stays
/// in a group, seconds.
pub const HOLD_S: f64 = 1.0;

/// A held rider this close to a motorcycle that appeared since it was last seen is taken for
/// it, metres (a broken track, not a second rider).
const SAME_RIDER_M: f64 = 5.0;

/// Where a rider last seen at `m.last_seen` is at `t` if it kept its ground velocity (from its
/// samples of the last second); where it was last seen if that cannot be told.
fn carried(m: &TrackKinematics, t: f64) -> Option<(f64, f64)> {
    let last = m.latest()?;
    let g = last.ground?;
    let first = m.history.iter().find(|s| last.t - s.t <= HOLD_S + EPS_S && s.ground.is_some())?;
    let (g0, dt) = (first.ground?, last.t - first.t);
    if dt < 0.2 {
        return Some(g);
    }
    let k = (t - last.t) / dt;
    Some((g.0 + (g.0 - g0.0) * k, g.1 + (g.1 - g0.1) * k))
}
/// Float slack on times like k/3 s.
const EPS_S: f64 = 1e-6;

impl Racing {
    /// `road_axis`: the road's direction on the ground where it is known ([`road_axis`]).
    pub fn new(cfg: &RacingConfig, zone: &[Point], road_axis: Option<(f64, f64)>) -> Self {
        Self {
            road_axis,
            zone: zone.to_vec(),
            min_group: cfg.min_group.0 as usize,
            max_gap_m: cfg.max_gap_m.0,
            min_speed: cfg.min_speed_kmh.0,
            hysteresis: cfg.hysteresis_kmh.0,
            weave_amplitude_m: cfg.weave_amplitude_m.0,
            weave_min_swings: cfg.weave_min_swings.0,
            weave_window_s: cfg.weave_window_s.0,
            update_interval_s: cfg.update_interval_s.0,
            episode: Episode::new(cfg.for_s.0, cfg.end_after_s.0, cfg.cooldown_s.0),
            last_sent: f64::NEG_INFINITY,
            summary: Totals::default(),
            pending: Vec::new(),
            last_on: f64::NEG_INFINITY,
            together_since: None,
        }
    }

    /// Whether the track reversed `weave_min_swings` times within a window ending at one of its
    /// samples of the last [`HOLD_S`]. Whatever part of a window the track has been seen: a
    /// fast rider is in a pole camera's view for about 2 s, and a weaver shows its reversals in
    /// what there is. Held like a speed: as the rider rides on, its first reversal slides out of
    /// the window, and at 3–5 detections a second the one window that shows two reversals may
    /// end a frame before the rider leaves the view.
    fn is_weaving(&self, t: f64, m: &TrackKinematics) -> bool {
        m.history.iter().rev().take_while(|end| t - end.t <= HOLD_S + EPS_S).any(|end| {
            let pts: Vec<(f64, (f64, f64))> = m
                .history
                .iter()
                .filter(|s| s.t <= end.t && end.t - s.t <= self.weave_window_s + EPS_S)
                .filter_map(|s| s.measured.map(|g| (s.t, g)))
                .collect();
            weave(&pts, self.road_axis, self.weave_amplitude_m).is_some_and(|w| w.swings >= self.weave_min_swings)
        })
    }

    /// The members now: the largest group of at least `min_group` fast motorcycles close
    /// together, and any fast weaver.
    fn members(&self, t: f64, motion: &Kinematics, is_motorcycle: &impl Fn(u32) -> bool) -> Vec<Member> {
        let threshold = if self.episode.is_active() { self.min_speed - self.hysteresis } else { self.min_speed };
        // Before the event starts, riders seen within the last HOLD_S count too, also those that
        // have just left the picture: a group passes a short view one after the other, and the
        // first may be gone before the last has a speed. A rider unseen now counts where its
        // speed has taken it since. Once started, the riders in view keep the event going.
        let held = |m: &TrackKinematics| !self.episode.is_active() && t - m.last_seen <= HOLD_S + EPS_S;
        let fast: Vec<(u64, f64, (f64, f64), &TrackKinematics)> = motion
            .iter()
            .filter(|(_, m)| is_motorcycle(m.class_id) && (m.matched || held(m)))
            .filter_map(|(id, m)| {
                // In the zone now or within the last HOLD_S, with its latest speed of the last
                // HOLD_S: a fast rider is measurable for a second or so, and its reading may
                // come just as it leaves the zone.
                let recent = || m.history.iter().rev().take_while(|p| t - p.t <= HOLD_S + EPS_S);
                let kmh = recent().find_map(|p| p.kmh)?;
                let kmh = if m.matched { m.best_speed().map_or(kmh, |b| b.0) } else { kmh };
                let g = if m.matched { m.latest()?.ground? } else { carried(m, t)? };
                // A rider seen again under a new id is not a second rider: a held track near a
                // motorcycle that appeared since it was last seen is that motorcycle.
                if !m.matched
                    && motion.iter().any(|(_, n)| {
                        n.matched
                            && is_motorcycle(n.class_id)
                            && n.history.front().is_some_and(|f| f.t > m.last_seen)
                            && n.latest()
                                .and_then(|s| s.ground)
                                .is_some_and(|h| (h.0 - g.0).hypot(h.1 - g.1) <= SAME_RIDER_M)
                    })
                {
                    return None;
                }
                (kmh >= threshold && recent().any(|p| point_in_polygon(&self.zone, p.image))).then_some((id, kmh, g, m))
            })
            .collect();
        // Connected components under "within max_gap_m": a chain of riders is one group.
        let mut comp: Vec<usize> = (0..fast.len()).collect();
        fn root(c: &mut [usize], mut i: usize) -> usize {
            while c[i] != i {
                c[i] = c[c[i]];
                i = c[i];
            }
            i
        }
        for i in 0..fast.len() {
            for j in i + 1..fast.len() {
                let (a, b) = (fast[i].2, fast[j].2);
                if (a.0 - b.0).hypot(a.1 - b.1) <= self.max_gap_m {
                    let (ri, rj) = (root(&mut comp, i), root(&mut comp, j));
                    comp[ri] = rj;
                }
            }
        }
        let mut sizes = vec![0usize; fast.len()];
        for i in 0..fast.len() {
            let r = root(&mut comp, i);
            sizes[r] += 1;
        }
        let best = (0..fast.len()).max_by_key(|&r| sizes[r]).filter(|&r| sizes[r] >= self.min_group);
        let mut out: Vec<Member> = Vec::new();
        for (i, &(id, kmh, _, m)) in fast.iter().enumerate() {
            if best.is_some_and(|b| root(&mut comp, i) == b) {
                out.push((id, kmh, self.is_weaving(t, m)));
            }
        }
        // Weavers, over the whole window: the swings show over the rider's whole time in view,
        // also beyond the zone's far end and the measurable area (across the road a pixel is
        // far finer than along it), where its speed was measured a second or two before.
        for (id, m) in motion.iter().filter(|(_, m)| m.matched && is_motorcycle(m.class_id)) {
            if out.iter().any(|o| o.0 == id) {
                continue;
            }
            let window = || m.history.iter().rev().take_while(|p| t - p.t <= self.weave_window_s + EPS_S);
            let Some(kmh) = window().find_map(|p| p.kmh) else { continue };
            let kmh = m.best_speed().map_or(kmh, |b| b.0);
            if kmh >= threshold && window().any(|p| point_in_polygon(&self.zone, p.image)) && self.is_weaving(t, m) {
                out.push((id, kmh, true));
            }
        }
        out.sort_by_key(|m| m.0);
        out
    }

    /// The latest frame of the last [`HOLD_S`] before `t` at which all the group's `members`
    /// (weavers aside) were matched and linked within `max_gap_m` by their ground points at
    /// that frame: a group all measured fast at one frame (at 3 detections a second a wide
    /// lens may give no other) that was already riding together before.
    fn together_before(&self, t: f64, motion: &Kinematics, members: &[Member]) -> Option<f64> {
        let group: Vec<&TrackKinematics> = members.iter().filter(|m| !m.2).filter_map(|m| motion.get(m.0)).collect();
        if group.len() < self.min_group {
            return None;
        }
        let times = group[0].history.iter().rev().map(|s| s.t).filter(|&t0| t0 < t - EPS_S && t - t0 <= HOLD_S + EPS_S);
        times.into_iter().find(|&t0| {
            let pts: Option<Vec<(f64, f64)>> = group
                .iter()
                .map(|m| m.history.iter().find(|s| (s.t - t0).abs() < EPS_S).and_then(|s| s.ground))
                .collect();
            pts.is_some_and(|p| linked(&p, self.max_gap_m))
        })
    }

    fn hit(phase: Phase, members: &[Member]) -> RacingHit {
        let max = members.iter().map(|m| m.1).fold(0.0, f64::max);
        let mean =
            if members.is_empty() { 0.0 } else { members.iter().map(|m| m.1).sum::<f64>() / members.len() as f64 };
        RacingHit {
            phase,
            group_size: members.len() as u32,
            track_ids: members.iter().map(|m| m.0).collect(),
            max_kmh: max,
            mean_kmh: mean,
            weaving: members.iter().any(|m| m.2),
        }
    }

    fn end_hit(&mut self) -> RacingHit {
        let s = std::mem::take(&mut self.summary);
        RacingHit {
            phase: Phase::End,
            group_size: s.max_group,
            track_ids: s.ids.into_iter().collect(),
            max_kmh: s.max,
            mean_kmh: if s.n == 0 { 0.0 } else { s.sum / s.n as f64 },
            weaving: s.weaving,
        }
    }

    /// Judge the camera's motorcycles (by `is_motorcycle`) at time `t`.
    pub fn update(&mut self, t: f64, motion: &Kinematics, is_motorcycle: impl Fn(u32) -> bool) -> Option<RacingHit> {
        let members = self.members(t, motion, &is_motorcycle);
        let left = |id: &u64| {
            motion
                .get(*id)
                .is_none_or(|m| !m.matched || m.latest().is_none_or(|s| !point_in_polygon(&self.zone, s.image)))
        };
        let phase = if self.episode.is_active() {
            self.episode.update(t, !members.is_empty())
        } else if !members.is_empty() {
            if self.episode.on_since().is_none() {
                self.together_since = self.together_before(t, motion, &members);
            }
            self.pending = members.clone();
            self.episode.update(t, true)
        } else if !self.pending.is_empty()
            && self.episode.on_since().is_some_and(|since| {
                self.last_on > since
                    || self.together_since.is_some_and(|t0| t0 < since)
                    || self.pending.iter().any(|m| m.2)
            })
            && self.pending.iter().all(|m| left(&m.0))
            && self.episode.start_early(t)
        {
            Some(Phase::Start)
        } else {
            self.episode.update(t, false)
        };
        if !self.episode.is_active() && self.episode.on_since().is_none() {
            self.pending.clear();
            self.together_since = None;
        }
        if !members.is_empty() {
            self.last_on = t;
        }
        // Started by leaving: the event is about the group as last seen.
        let members =
            if phase == Some(Phase::Start) && members.is_empty() { std::mem::take(&mut self.pending) } else { members };
        if self.episode.is_active() || phase == Some(Phase::End) {
            let s = &mut self.summary;
            s.max_group = s.max_group.max(members.len() as u32);
            for &(id, kmh, weaving) in &members {
                s.ids.insert(id);
                s.max = s.max.max(kmh);
                s.sum += kmh;
                s.n += 1;
                s.weaving |= weaving;
            }
        }
        match phase {
            Some(Phase::End) => Some(self.end_hit()),
            Some(p) => {
                self.last_sent = t;
                Some(Self::hit(p, &members))
            }
            None if self.episode.is_active() && !members.is_empty() && t - self.last_sent >= self.update_interval_s => {
                self.last_sent = t;
                Some(Self::hit(Phase::Update, &members))
            }
            None => None,
        }
    }

    /// The stream ended: end an open event.
    pub fn finish(&mut self, t: f64) -> Option<RacingHit> {
        self.episode.stop(t).then(|| self.end_hit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use crate::detect::types::Detection;
    use crate::geometry::homography::tests::flat;
    use crate::track::{Tracker, TrackerConfig};
    use std::f64::consts::TAU;

    const MOTO: u32 = 3;
    const CAR: u32 = 2;

    const ZONE: [Point; 4] = [(0.0, 0.0), (5000.0, 0.0), (5000.0, 1000.0), (0.0, 1000.0)];
    /// The road along the zone: x on the ground.
    const ROAD: Option<(f64, f64)> = Some((1.0, 0.0));

    fn cfg(extra: &str) -> RacingConfig {
        toml::from_str(&format!(
            "name = \"r\"\nzone = \"z\"\nmin_speed_kmh = 60\nfor_s = 2\nend_after_s = 2\nupdate_interval_s = 2\n{extra}"
        ))
        .expect("cfg")
    }

    type Rider<'a> = (u32, &'a dyn Fn(f64) -> Option<(f64, f64)>);

    /// Riders given as (class, ground position at time t in metres), at 10 fps for `secs`;
    /// hits with their times.
    fn ride(rule: &mut Racing, riders: &[Rider], secs: f64) -> Vec<(f64, RacingHit)> {
        ride_at(rule, riders, secs, 10)
    }

    /// [`ride`] at `fps` detections a second.
    fn ride_at(rule: &mut Racing, riders: &[Rider], secs: f64, fps: u32) -> Vec<(f64, RacingHit)> {
        ride_classes(rule, riders, secs, fps, &|c| c == MOTO)
    }

    /// [`ride_at`], with the classes that are motorcycles.
    fn ride_classes(
        rule: &mut Racing,
        riders: &[Rider],
        secs: f64,
        fps: u32,
        is_moto: &dyn Fn(u32) -> bool,
    ) -> Vec<(f64, RacingHit)> {
        let mut tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
        // 4 px a metre: a motorcycle's box moves 9 px a frame at 80 km/h, 10 fps.
        let mut motion = Kinematics::new(Some(flat(0.25)));
        let mut hits = Vec::new();
        for i in 0..(secs * f64::from(fps)) as u32 {
            let t = f64::from(i) / f64::from(fps);
            let dets: Vec<Detection> = riders
                .iter()
                .filter_map(|(c, f)| {
                    let (x, y) = f(t)?;
                    let (px, py) = ((x * 4.0) as f32, (y * 4.0) as f32);
                    Some(Detection { class_id: *c, score: 0.9, bbox: BBox::new(px - 10.0, py - 24.0, px + 10.0, py) })
                })
                .collect();
            let ended: Vec<u64> = tracker.update(t, &dets).ended.iter().map(|e| e.id).collect();
            motion.update(t, tracker.tracks());
            hits.extend(rule.update(t, &motion, is_moto).map(|h| (t, h)));
            for e in ended {
                motion.remove(e);
            }
        }
        hits.extend(rule.finish(secs).map(|h| (f64::INFINITY, h)));
        hits
    }

    fn phases(hits: &[(f64, RacingHit)]) -> Vec<Phase> {
        hits.iter().map(|(_, h)| h.phase).collect()
    }

    #[test]
    fn weave_counts_reversals_not_jitter_bends_lane_changes_or_an_overtake() {
        let pts =
            |f: &dyn Fn(f64) -> (f64, f64)| (0..40).map(|i| f64::from(i) * 0.1).map(|t| (t, f(t))).collect::<Vec<_>>();
        let road = ROAD;
        // 20 m/s along x, ±1.5 m across with a 1.6 s period: 4 s hold 4 reversals after the
        // first swing, with the road's axis or the track's own line.
        let weaver = pts(&|t| (20.0 * t, 1.5 * (TAU * t / 1.6).sin()));
        for axis in [road, None] {
            let w = weave(&weaver, axis, 0.5).expect("weave");
            assert!((w.amplitude_m - 1.5).abs() < 0.2, "{w:?}");
            assert_eq!(w.swings, 4, "{axis:?} {w:?}");
        }
        // The same, 3.3 points a second for 1.5 periods: up, down, up, down.
        let sparse: Vec<_> = weaver.iter().copied().step_by(3).filter(|p| p.0 <= 2.5).collect();
        assert_eq!(weave(&sparse, road, 0.5).map(|w| w.swings), Some(3), "{sparse:?}");
        // Seen from the middle of a swing at 5 points a second, 1.25 periods (as a pole camera
        // sees a weaver riding away): the points before its first turn rise 0.9 m, the end of a
        // swing the view cut, so that turn counts with the one after it.
        let cut: Vec<_> = weaver.iter().copied().filter(|p| (0.05..2.15).contains(&p.0)).step_by(2).collect();
        assert_eq!(weave(&cut, road, 0.5).map(|w| w.swings), Some(2), "{cut:?}");
        // ±10 cm jitter: no swings.
        let jitter = pts(&|t| (20.0 * t, if (t * 10.0).round() as i64 % 2 == 0 { 0.1 } else { -0.1 }));
        assert_eq!(weave(&jitter, road, 0.5).map(|w| w.swings), Some(0));
        assert_eq!(weave(&jitter, None, 0.5).map(|w| w.swings), Some(0));
        // A bend: 80 m along an arc of 100 m radius. At most one reversal.
        let bend = pts(&|t| (100.0 * (0.2 * t).sin(), 100.0 * (1.0 - (0.2 * t).cos())));
        assert!(weave(&bend, road, 0.5).unwrap().swings <= 1);
        assert!(weave(&bend, None, 0.5).unwrap().swings <= 1);
        // A lane change (3.5 m in 1 s): none across the road. An overtake, 2 m out and back
        // in 1.6 s: one, as one period of weaving would show; a weaver needs two.
        let ease = |x: f64| (1.0 - (std::f64::consts::PI * x.clamp(0.0, 1.0)).cos()) / 2.0;
        let lane = pts(&|t| (20.0 * t, 3.5 * ease(t - 1.5)));
        assert_eq!(weave(&lane, road, 0.5).map(|w| w.swings), Some(0));
        let overtake = pts(&|t| (20.0 * t, 2.0 * ease((t - 1.0) / 0.8) - 2.0 * ease((t - 1.8) / 0.8)));
        assert_eq!(weave(&overtake, road, 0.5).map(|w| w.swings), Some(1));
        // Drifting 0.3 m the other way first is no cut swing.
        let drift =
            pts(&|t| (20.0 * t, -0.3 * ease(t / 0.5) + 2.0 * ease((t - 1.0) / 0.8) - 2.0 * ease((t - 1.8) / 0.8)));
        assert_eq!(weave(&drift, road, 0.5).map(|w| w.swings), Some(1));
        assert_eq!(weave(&pts(&|_| (3.0, 4.0)), road, 0.5), None, "standing still");
        assert_eq!(weave(&pts(&|_| (3.0, 4.0)), None, 0.5), None, "standing still");
    }

    /// A short view (25 m of road, a steep rooftop camera): riders 6.5 m apart at 80 km/h
    /// pass it one after the other. Each has a speed only after 0.6 s in view, by when the
    /// first has left; the group is judged with the riders that just left where their speed has
    /// taken them. Riders 3 s apart are no group.
    #[test]
    fn a_group_passing_a_short_view_one_after_the_other_races_once() {
        let v = 80.0 / 3.6;
        let in_view = |x: f64| (10.0..35.0).contains(&x);
        let rider = |k: f64, gap_s: f64| {
            move |t: f64| {
                let x = 10.0 + v * (t - 1.0 - k * gap_s);
                in_view(x).then_some((x, 50.0 + 3.0 * k))
            }
        };
        let cfg: RacingConfig = toml::from_str(
            "name = \"r\"\nzone = \"z\"\nmin_speed_kmh = 70\nmin_group = 3\nmax_gap_m = 15\nfor_s = 0.5",
        )
        .expect("cfg");
        for fps in [5, 10] {
            let (a, b, c) = (rider(0.0, 6.5 / v), rider(1.0, 6.5 / v), rider(2.0, 6.5 / v));
            let mut rule = Racing::new(&cfg, &ZONE, ROAD);
            let hits = ride_at(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 8.0, fps);
            let starts: Vec<&RacingHit> = hits.iter().filter(|h| h.1.phase == Phase::Start).map(|h| &h.1).collect();
            assert_eq!(starts.len(), 1, "{fps} fps: {hits:?}");
            assert_eq!(starts[0].group_size, 3, "{fps} fps: {hits:?}");

            let (a, b, c) = (rider(0.0, 3.0), rider(1.0, 3.0), rider(2.0, 3.0));
            let mut rule = Racing::new(&cfg, &ZONE, ROAD);
            let hits = ride_at(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 14.0, fps);
            assert!(hits.is_empty(), "{fps} fps, 3 s apart: {hits:?}");
        }
    }

    /// Two riders, one of whose tracks breaks (the detector calls it another motorcycle class
    /// from 3 s on, so the tracker starts a new id): the lost track, held for a second, is the
    /// same rider as the new one, not a third member of a group.
    #[test]
    fn a_rider_seen_again_under_a_new_id_is_not_a_second_rider() {
        const MOTO2: u32 = 4;
        let v = 80.0 / 3.6;
        let a = |t: f64| Some((10.0 + v * t, 50.0));
        let b_before = |t: f64| (t < 3.0).then_some((5.0 + v * t, 53.0));
        let b_after = |t: f64| (t >= 3.0).then_some((5.0 + v * t, 53.0));
        let cfg: RacingConfig =
            toml::from_str("name = \"r\"\nzone = \"z\"\nmin_speed_kmh = 70\nmin_group = 3\nmax_gap_m = 15\nfor_s = 0")
                .expect("cfg");
        let mut rule = Racing::new(&cfg, &ZONE, ROAD);
        let riders: [Rider; 3] = [(MOTO, &a), (MOTO, &b_before), (MOTO2, &b_after)];
        let hits = ride_classes(&mut rule, &riders, 6.0, 10, &|c| c == MOTO || c == MOTO2);
        assert!(hits.is_empty(), "{hits:?}");
    }

    /// Three riders side by side (10 m apart across, 5 m along) at 80 km/h for 12 s, then gone.
    #[test]
    fn a_fast_group_starts_updates_and_ends_once() {
        let v = 80.0 / 3.6;
        let rider = |k: f64| move |t: f64| (t < 12.0).then_some((10.0 + 5.0 * k + v * t, 50.0 + 10.0 * k));
        let (a, b, c) = (rider(0.0), rider(1.0), rider(2.0));
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        let hits = ride(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 16.0);
        let p = phases(&hits);
        assert_eq!(p.first(), Some(&Phase::Start), "{hits:?}");
        assert_eq!(p.iter().filter(|p| **p == Phase::Start).count(), 1, "{hits:?}");
        assert_eq!(p.iter().filter(|p| **p == Phase::End).count(), 1, "{hits:?}");
        assert_eq!(p.last(), Some(&Phase::End));
        assert!(p.iter().filter(|p| **p == Phase::Update).count() >= 3, "{hits:?}");
        let (t0, start) = &hits[0];
        // Fast from about 0.5 s (the speed needs half a second of track), then 2 s.
        assert!(*t0 > 2.0 && *t0 < 3.5, "started at {t0}");
        assert_eq!((start.group_size, start.track_ids.clone(), start.weaving), (3, vec![1, 2, 3], false));
        assert!((start.max_kmh - 80.0).abs() < 2.0 && (start.mean_kmh - 80.0).abs() < 2.0, "{start:?}");
        let (t1, end) = hits.last().unwrap();
        // Gone at 12 s (their tracks linger 1.5 s, unmatched), then 2 s.
        assert!(*t1 > 13.5 && *t1 < 15.0, "ended at {t1}");
        assert_eq!((end.group_size, end.track_ids.clone()), (3, vec![1, 2, 3]));
    }

    /// At 3 fps three riders at 80 km/h, 5 m apart along and 10 m across, come into view one after the other and
    /// leave it 35 m on: all three have speeds at one frame only (1.33 s), but they were riding
    /// together at the frame before, so the group starts when it has passed.
    #[test]
    fn a_group_fast_together_at_one_frame_only_starts_when_it_passes() {
        let v = 80.0 / 3.6;
        let rider = |k: f64| {
            move |t: f64| {
                let x = -5.0 * k + v * t;
                (0.0..=35.0).contains(&x).then_some((x, 50.0 + 10.0 * k))
            }
        };
        let (a, b, c) = (rider(0.0), rider(1.0), rider(2.0));
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        let hits = ride_at(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 8.0, 3);
        assert_eq!(phases(&hits), vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, start) = &hits[0];
        assert!(*t0 > 1.5 && *t0 < 3.0, "started at {t0}");
        assert_eq!(start.group_size, 3, "{start:?}");
        assert!((start.mean_kmh - 80.0).abs() < 4.0, "{start:?}");
        // Only two of them together, and the third alone: nothing.
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        let far = move |t: f64| c(t - 3.0);
        assert!(ride_at(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &far)], 8.0, 3).is_empty());
    }

    #[test]
    fn slow_groups_small_groups_and_cars_do_not_race() {
        let slow = 30.0 / 3.6;
        let (a, b, c) = (
            move |t: f64| Some((10.0 + slow * t, 50.0)),
            move |t: f64| Some((10.0 + slow * t, 52.0)),
            move |t: f64| Some((15.0 + slow * t, 50.0)),
        );
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        assert!(ride(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 15.0).is_empty(), "too slow");
        let v = 100.0 / 3.6;
        let (a, b) = (move |t: f64| Some((10.0 + v * t, 50.0)), move |t: f64| Some((10.0 + v * t, 53.0)));
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        assert!(ride(&mut rule, &[(MOTO, &a), (MOTO, &b)], 10.0).is_empty(), "two are not a group of three");
        let c = move |t: f64| Some((18.0 + v * t, 50.0));
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        assert!(ride(&mut rule, &[(CAR, &a), (CAR, &b), (CAR, &c)], 10.0).is_empty(), "cars");
        // Three fast riders, but 40 m apart: not together.
        let (a, b, c) = (
            move |t: f64| Some((10.0 + v * t, 50.0)),
            move |t: f64| Some((50.0 + v * t, 50.0)),
            move |t: f64| Some((90.0 + v * t, 50.0)),
        );
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        assert!(ride(&mut rule, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 10.0).is_empty(), "spread out");
    }

    #[test]
    fn one_fast_weaver_races_alone_a_straight_rider_a_lane_change_or_an_overtake_does_not() {
        let v = 70.0 / 3.6;
        let road = ROAD;
        let weaver = move |t: f64| Some((10.0 + v * t, 50.0 + 1.5 * (TAU * t / 1.6).sin()));
        let mut rule = Racing::new(&cfg(""), &ZONE, road);
        let hits = ride(&mut rule, &[(MOTO, &weaver)], 12.0);
        assert_eq!(phases(&hits).first(), Some(&Phase::Start), "{hits:?}");
        let (t0, start) = &hits[0];
        // The second reversal at about 1.5 s, then `for_s` (2 s).
        assert!(*t0 >= 3.0 && *t0 < 4.5, "started at {t0}");
        assert_eq!((start.group_size, start.weaving), (1, true));
        assert_eq!(phases(&hits).iter().filter(|p| **p == Phase::Start).count(), 1);
        let ease = |x: f64| (1.0 - (std::f64::consts::PI * x.clamp(0.0, 1.0)).cos()) / 2.0;
        let straight = move |t: f64| Some((10.0 + v * t, 50.0));
        let lane = move |t: f64| Some((10.0 + v * t, 50.0 + 3.5 * ease(t - 3.0)));
        let overtake =
            move |t: f64| Some((10.0 + v * t, 50.0 + 2.0 * ease((t - 3.0) / 0.8) - 2.0 * ease((t - 4.0) / 0.8)));
        for rider in [&straight as &dyn Fn(f64) -> Option<(f64, f64)>, &lane, &overtake] {
            let mut rule = Racing::new(&cfg(""), &ZONE, road);
            assert!(ride(&mut rule, &[(MOTO, rider)], 12.0).is_empty());
        }
    }

    #[test]
    fn a_weaver_leaving_the_view_at_its_second_reversal_starts_as_it_leaves() {
        // At 5 detections a second the second reversal shows at 1.6 s, the rider's last frame
        // in view: one frame of weaving, far short of `for_s` (2 s), and the window that shows
        // both reversals is the last one there is.
        let v = 70.0 / 3.6;
        let weaver = move |t: f64| (t < 1.7).then(|| (10.0 + v * t, 50.0 + 1.5 * (TAU * t / 1.6).sin()));
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        let hits = ride_at(&mut rule, &[(MOTO, &weaver)], 6.0, 5);
        assert_eq!(phases(&hits), vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, start) = &hits[0];
        assert!((*t0 - 1.8).abs() < 1e-6, "started at {t0}, the first frame without the rider");
        assert_eq!((start.group_size, start.weaving), (1, true));
        // The same rider leaving before its second reversal is no weaver.
        let early = move |t: f64| (t < 1.3).then(|| weaver(t)).flatten();
        let mut rule = Racing::new(&cfg(""), &ZONE, ROAD);
        assert!(ride_at(&mut rule, &[(MOTO, &early)], 6.0, 5).is_empty());
    }

    #[test]
    fn the_road_runs_along_a_long_zone() {
        let h = flat(0.25);
        // 4 px a metre: 1250 m by 250 m on the ground, along x.
        let axis = road_axis(&h, &ZONE).expect("a long zone");
        assert!(axis.0.abs() > 0.999, "{axis:?}");
        let square = [(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)];
        assert_eq!(road_axis(&h, &square), None);
    }
}
