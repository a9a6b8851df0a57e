//! `collision_suspect`: two road users whose boxes meet while at least one of them brakes
//! hard, and which then both stop, or one of which vanishes (hidden by or merged with the other
//! in the picture), within `within_s` of meeting.
//!
//! Boxes meet all the time in a picture (a near car passes in front of a far one, riders side
//! by side touch), so meeting alone means nothing. Where the camera looks along the road only
//! road users in line, one behind the other on the ground, meet ([`in_line`]), and one of the
//! two must have been at `min_speed_kmh` or more in the two seconds before and then have
//! slowed at `min_decel_mps2` or more (the drop from a speed fit then to its latest fit after
//! they met, or behind a car that stood to any fit at which it stands, each fit's error
//! counted against the braking). A queue closing up brakes gently and
//! does not count; an overtaking car that hides another does not brake.
//!
//! Nor does a car that brakes hard and stands just short of the one ahead, a near miss. From a
//! pole the gap between them is hidden behind the braking car, and the rule does not measure it
//! (a detector's box of the half-hidden car ends where it is hidden, so its foot reads far off).
//! It measures how the braking car came to stand, and what the car ahead did meanwhile
//! ([`Collision::stopped_short`]): brakes slow a car evenly, and it is seen creeping in, far
//! behind the line it drove on, while the car ahead draws away from it, or, standing, stays
//! where it stood. A car that runs into another stops from a speed it still had, or is shoved
//! on together with the car it hit, which does not draw away; a standing car that is hit, even
//! bounced off, moves only from the impact.
//! Where the detect rate is too low to see the car creep in (about 0.8 to 0.4 s before it
//! stands), the near miss still reads as a crash.
//!
//! `start` when the conditions are met; `end` when both tracks have ended (or the stream does).
//! After an event neither track takes part in another for `cooldown_s`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::defaults;
use super::kinematics::{FitReading, Kinematics, MIN_SE_KMH, Sample, TrackKinematics};
use super::speed::line;
use crate::detect::BBox;
use crate::event::Phase;
use crate::geometry::homography::Homography;
use crate::geometry::{Point, point_in_polygon};
use crate::schema::{Distance, Id, Seconds, Speed};

/// `collision_suspect`: two road users whose boxes meet while one brakes hard, then stop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollisionConfig {
    pub name: Id,
    pub zone: Id,
    /// At least one of the two was this fast just before they met…
    #[serde(default = "fifteen_kmh")]
    pub min_speed_kmh: Speed,
    /// … and slowed down at least this hard, m/s².
    #[serde(default = "four_mps2")]
    pub min_decel_mps2: Distance,
    /// Then both are at or below this speed (or one has vanished)…
    #[serde(default = "five_kmh_speed")]
    pub stop_kmh: Speed,
    /// … within this many seconds of meeting.
    #[serde(default = "defaults::five_s")]
    pub within_s: Seconds,
    /// After an event, neither track takes part in another for this long.
    #[serde(default = "defaults::sixty_s")]
    pub cooldown_s: Seconds,
}

impl CollisionConfig {
    /// Whether it needs `[cameras.calibration]`. Speeds and braking are on the ground.
    pub fn needs_calibration(&self) -> bool {
        true
    }
}

fn fifteen_kmh() -> Speed {
    Speed(15.0)
}
fn four_mps2() -> Distance {
    Distance(4.0)
}
fn five_kmh_speed() -> Speed {
    Speed(5.0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollisionHit {
    pub phase: Phase,
    pub track_ids: [u64; 2],
    pub class_ids: [u32; 2],
    /// Each one's highest speed measured from detections that began before the boxes met
    /// (within the two seconds before), km/h.
    pub speeds_before_kmh: [f64; 2],
}

/// How far back "before they met" looks.
const BEFORE_S: f64 = 2.0;
/// Unmatched this long counts as vanished (the tracker keeps a lost track a while longer).
const GONE_S: f64 = 0.5;
/// How far a road user not matched now may have gone on since its last box for that box to
/// meet another's, m (see [`box_current`]): half a car's length.
const STALE_M: f64 = 2.0;
/// How far a road user that vanished in a crash may have gone on unseen in [`GONE_S`], m (see
/// [`stayed`]): a car hit while rolling is shoved on about 3 m (3.3 m in the simulator's
/// `rear_end_rolling`, hidden behind the car that hit it and shoved out of the rooftop
/// camera's view, its latest reading 16.5 ± 0.9 km/h).
const SHOVED_M: f64 = 3.0;
/// The share of a vanished road user's last box that the box of the one it met must cover for
/// it to have been hidden there (see [`stayed`]).
const HIDDEN_SHARE: f32 = 0.5;
/// Standard errors of a speed fit taken as its margin when judging braking.
const MARGIN_SE: f64 = 2.0;
/// Box jitter allowed for in the ground distance a braking track moves on before it vanishes,
/// and beyond what its speed allows between two detections (see [`jumps`]).
const DRIVE_ON_SLACK_M: f64 = 1.0;
/// Standard errors of two places by which a track's step between them must exceed what its
/// speed allows for it to have jumped to another road user's box (see [`jumps`]).
const JUMP_SE: f64 = 3.0;
/// How fast a road user may speed up between two detections for [`jumps`], m/s²: a car moving
/// off briskly, missed for a second, is 2 m further on than its speed before says.
const JUMP_ACCEL_MPS2: f64 = 4.0;
/// A braking reading on a track's one detection after a gap longer than this many of its
/// detect intervals, with none after it, is no crash's: the track was lost and took a box it
/// was near, most often the road user following the one it lost, and vanished again. In dense
/// traffic on the wide pole at 10 fps, a rider hidden 0.6 s behind the one following it had
/// its lost track take the follower's box for one frame; the fit bridging the gap read a hard
/// drop beside a neighbour. (At 3 detections a second one missed detection is a gap of 2.)
const REFOUND_GAP: f64 = 2.5;
/// How far behind the line it drove on a car seen still moving must be to have stopped short,
/// per m/s of that line's speed, seconds (see [`Collision::stopped_short`]). A car braking at
/// `a` from `v0` to a stand falls behind that line until, standing, it is `v0 / 2a` behind
/// (0.87 s from 50 km/h at 8 m/s²); seen at speed `v` it is `(v0 - v)² / (2 a v0)` behind. One
/// that runs into another at `v_hit` is seen moving at `v_hit` or faster, so at most
/// `(v0 - v_hit)² / (2 a v0)` behind (0.14 s hitting at 30 km/h after braking from 50 at 8
/// m/s²). 0.018 s per m/s (0.25 s from 50 km/h) is that bound for braking at 10 m/s² (about 1
/// g) before an impact at 40 % of `v0`. Gentler braking or a slower impact leave a crash further
/// behind: after braking at 8 m/s² an impact under 46 % of `v0`, at 4 m/s² under 62 %, can
/// pass this test, and the other condition of a stop short must then tell them apart (the car
/// ahead drew away). In the simulator, over 100 runs at 3, 5 and 10 fps on each camera, rear-end
/// crashes (30 km/h after 8 m/s²) were seen at most 0.22 s behind (once 0.30 s, at 3 fps), the
/// near miss `queue_brake` 0.27–0.63 s at 10 fps.
const STOPPED_SHORT_SHARE: f64 = 0.6 * 0.6 / (2.0 * 10.0);
/// Standard errors by which a detection must be short of where its track stands to count as
/// still moving (at 2, one standing box in 40 would).
const SHORT_SE: f64 = 3.0;
/// Standard errors by which the car ahead must have gone on further than the one that stood
/// short of it, from that one's first detection at its stand (see [`Collision::stopped_short`]).
/// In the simulator's near miss the car ahead rolls on 1.4 s and 1.4 m after the braking car
/// stands, and about 2 m after its first detection within [`SHORT_SE`] of its stand, against
/// 0.3–0.5 m of error. A crash into a car still rolling (`rear_end_rolling`) shoves it on,
/// and it draws away too, about 0.6 m after the car that hit it stands: such a crash that
/// reads as a stop short must pass the lag test too.
const DREW_AWAY_SE: f64 = 2.0;
/// Box jitter allowed beyond the standard errors when telling whether a standing car ahead
/// stayed put (see [`stayed_put`]), m. As the braking car stands over the lower part of the
/// standing car's box, that box's foot moves a little without being hidden: in the simulator's
/// `queue_stop` on the 8 m pole at 5 fps the medians before and after differed by 0.3–0.55 m
/// in 15 of 100 runs against 0.3 m of 2 standard errors. A car run into while standing is
/// shoved on 1.4 m in `rear_end_shove`; one hit at 20 km/h with its brakes held goes about 0.5
/// m.
const STAYED_PUT_SLACK_M: f64 = 0.3;
/// The share of the narrower road user's width by which two must overlap across a way to be
/// in line (see [`in_line`]). Over 5 runs of the simulator's `red_light` on each camera at 5
/// fps the riders neighbouring across whose contacts made an event overlapped by −0.25 to 0.4
/// m (their feet about 0.95 m wide), those one behind the other by 0.7 to 1.3 m; cars in line
/// in the crash scenarios by 1.9 to 2.3 m of about 2.2 (measured along the nearer box's
/// bottom edge, which on those cameras lies across the road). Less than half: the box of a
/// car ahead whose foot the other hides ends higher up the picture, and placed on the ground
/// there it is wider and, off the camera's axis, further aside than the car. (With the way
/// read over the last 2 s only, at 0.5 `red_light`
/// raised 119/152, 136/247 and 119/189 false events over 100 runs at 3/5 fps on the 8 m pole,
/// the wide pole and the rooftop; at 0.3, 124/158, 140/248 and 120/189.)
const IN_LINE_SHARE: f64 = 0.3;
/// Detections of a standing car ahead since the braking car stood that settle that it stayed
/// where it stood (see [`stayed_put`]).
const SETTLED_FIXES: usize = 3;
/// How far around the time the braking car was first seen at its stand the detections of the
/// car ahead place it then, seconds.
const DREW_AWAY_AROUND_S: f64 = 0.5;
/// Float slack on times like k/3 s.
const EPS_S: f64 = 1e-6;

#[derive(Debug, Clone, Copy)]
struct Contact {
    t: f64,
    near_miss: bool,
}

#[derive(Debug, Clone)]
struct Open {
    hit: CollisionHit,
    ended: [bool; 2],
}

#[derive(Debug, Clone)]
pub struct Collision {
    zone: Vec<Point>,
    min_speed: f64,
    min_decel: f64,
    stop_kmh: f64,
    within_s: f64,
    cooldown_s: f64,
    /// In order of the pair's ids: which of several contacts settling at once makes the one
    /// event (see `update`) must not depend on a hash's order.
    contacts: BTreeMap<(u64, u64), Contact>,
    open: Vec<Open>,
    quiet_until: HashMap<u64, f64>,
}

fn boxes_meet(a: &BBox, b: &BBox) -> bool {
    a.x1 <= b.x2 && b.x1 <= a.x2 && a.y1 <= b.y2 && b.y1 <= a.y2
}

/// Whether two tracks' boxes meet: their filtered boxes or their detected ones (a fast object's
/// filtered box lags behind it at a few detections a second).
fn meet(a: &TrackKinematics, b: &TrackKinematics) -> bool {
    boxes_meet(&a.bbox, &b.bbox) || boxes_meet(&a.det_bbox, &b.det_bbox)
}

/// Whether two road users were in line, one behind the other, across the way either of them
/// went: placed on the ground through `h`, the bottom edges of their boxes, seen across that
/// way, overlap by [`IN_LINE_SHARE`] of the narrower one's width. Road users side by side in
/// neighbouring columns, whose boxes touch in the picture while both brake for a red light,
/// are a gap apart on the ground; a car run into from behind is in line with the one that hit
/// it, and one hit on its side is in line across the way of the one that hit it. Where a
/// box's bottom edge lies along the way (a camera seeing it from the side: the edge measures a
/// length, not a width), or neither has gone a metre lately to tell its way, nothing is asked.
fn in_line(a: &TrackKinematics, b: &TrackKinematics, h: &Homography) -> bool {
    let edge = |x: &BBox| Some((h.to_ground((x.x1, x.y2))?, h.to_ground((x.x2, x.y2))?));
    let (Some(ea), Some(eb)) = (edge(&a.det_bbox), edge(&b.det_bbox)) else { return true };
    let near = if a.det_bbox.y2 >= b.det_bbox.y2 { ea } else { eb };
    // Checked for every pair of boxes that meet on every frame: no allocation.
    let ways = [heading(a), heading(b)];
    ways.iter().all(Option::is_none) || ways.into_iter().flatten().any(|way| in_line_across(ea, eb, near, way))
}

/// A box's bottom edge on the ground, its two ends.
type Edge = ((f64, f64), (f64, f64));

/// [`in_line`] across `way`, `near` being the nearer box's edge.
fn in_line_across(a: Edge, b: Edge, near: Edge, way: (f64, f64)) -> bool {
    let across = (-way.1, way.0);
    let span = |(p, q): Edge| {
        let (x, y) = (along(p, (0.0, 0.0), across), along(q, (0.0, 0.0), across));
        (x.min(y), x.max(y))
    };
    let (n_lo, n_hi) = span(near);
    let near_len = (near.1.0 - near.0.0).hypot(near.1.1 - near.0.1);
    // Within 60° of the way: seen from the side.
    if near_len <= 0.0 || n_hi - n_lo < 0.866 * near_len {
        return true;
    }
    let ((a_lo, a_hi), (b_lo, b_hi)) = (span(a), span(b));
    a_hi.min(b_hi) - a_lo.max(b_lo) >= IN_LINE_SHARE * (a_hi - a_lo).min(b_hi - b_lo)
}

/// The way `m` went on the ground since it was first seen (a unit vector), if at least a
/// metre: a road user standing at a red light has come a way, and one standing for seconds
/// beside another is still not in line with it. From the detections speeds are fitted to (not
/// carried, not cut, foot not hidden).
fn heading(m: &TrackKinematics) -> Option<(f64, f64)> {
    // As [`fixes`] picks them, without collecting them all for the two ends.
    let fix = |s: &Sample| s.measured_sd.and(s.measured);
    let (first, last) = (m.history.iter().find_map(fix)?, m.history.iter().rev().find_map(fix)?);
    let d = (last.0 - first.0).hypot(last.1 - first.1);
    (d >= 1.0).then(|| ((last.0 - first.0) / d, (last.1 - first.1) / d))
}

/// Whether `m`'s last box still says where it is at `t`: it was matched now, or its latest
/// speed reading, over the time since, puts it at most [`STALE_M`] on (any box of a road user
/// of unknown speed). A road user still moving leaves its last box behind: in [`GONE_S`] a car
/// at 50 km/h goes 7 m, and a car behind reaching that box has met nothing. (Where the car
/// ahead was lost for good, only its track's end, `max_lost_s` later, kept that from reading
/// as a crash when the one behind braked to a stand.)
fn box_current(m: &TrackKinematics, t: f64) -> bool {
    m.matched || latest_fit(m).is_none_or(|f| f.kmh / 3.6 * (t - m.last_seen) <= STALE_M)
}

/// Whether `m`, unseen for [`GONE_S`], vanished where a crash leaves it rather than drove on
/// out of sight: its last box lies mostly under `by`'s box (hidden by the road user that ran
/// into it, or merged with it), or its latest speed reading less [`MARGIN_SE`] standard
/// errors would not have taken it [`SHOVED_M`] on in that time. A car that drove on out of
/// the view at 30 km/h was 4 m on; the car behind it, whose box met its box while both were
/// seen (from a pole a close follower's box overlaps the car ahead's), then braking to a stand
/// at a red light, ran into nothing.
fn stayed(m: &TrackKinematics, by: &TrackKinematics) -> bool {
    m.det_bbox.intersection(&by.det_bbox) >= HIDDEN_SHARE * m.det_bbox.area()
        || latest_fit(m).is_none_or(|f| f.low(MARGIN_SE) / 3.6 * GONE_S <= SHOVED_M)
}

/// Whether one of `samples`' detections lies further from the one before than that one's latest
/// speed fit (plus [`MARGIN_SE`] standard errors, and a road user speeding up at
/// [`JUMP_ACCEL_MPS2`] over the time between) could have taken it, by more than [`JUMP_SE`]
/// standard errors of the two places and [`DRIVE_ON_SLACK_M`]: the track jumped to another road
/// user's box (see [`Collision::jumped`]).
fn jumps<'s>(samples: impl Iterator<Item = &'s Sample>) -> bool {
    // The previous detection's time, place and its spread, and its latest speed fit, m/s.
    let mut prev: Option<(f64, (f64, f64), f64)> = None;
    let mut speed: Option<f64> = None;
    for s in samples {
        let (Some(g), Some(sd)) = (s.measured, s.measured_sd) else { continue };
        if let (Some((t0, g0, sd0)), Some(v)) = (prev, speed) {
            let dt = s.t - t0;
            let beyond = (g.0 - g0.0).hypot(g.1 - g0.1) - v * dt - JUMP_ACCEL_MPS2 / 2.0 * dt * dt;
            if beyond > JUMP_SE * sd0.hypot(sd) + DRIVE_ON_SLACK_M {
                return true;
            }
        }
        prev = Some((s.t, g, sd));
        // The fit at a detection takes that detection in: it judges the next one only.
        speed = s.fit.map(|f| f.high(MARGIN_SE) / 3.6).or(speed);
    }
    false
}

/// `m`'s latest speed fit: a road user's latest sample may have none (where a pixel spans
/// more than `MAX_M_PER_PX`), and the fit before it is the best word on its speed.
fn latest_fit(m: &TrackKinematics) -> Option<FitReading> {
    m.history.iter().rev().find_map(|s| s.fit)
}

/// Whether `s` is `m`'s latest detection and came after a gap of more than [`REFOUND_GAP`]
/// of its shortest interval between detections: a lost track that took one box and then, if it
/// is gone, vanished again.
fn refound_once(m: &TrackKinematics, s: &Sample) -> bool {
    let h = &m.history;
    let n = h.len();
    if n < 2 || h[n - 1].t != s.t {
        return false;
    }
    let usual = h.iter().zip(h.iter().skip(1)).map(|(a, b)| b.t - a.t).fold(f64::INFINITY, f64::min);
    h[n - 1].t - h[n - 2].t > REFOUND_GAP * usual
}

/// How a braking track came to stand: see [`Collision::stopped_short`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stop {
    /// How far behind the line it drove on it was last seen moving, seconds…
    lag_s: f64,
    /// … that line's speed along the way it went, m/s.
    v0: f64,
    /// The time of its first detection at its stand (within [`SHORT_SE`] standard errors of
    /// it), how far it crept on from there to where it stands, m, and how far off that may be.
    stood_t: f64,
    crept_m: f64,
    crept_sd: f64,
    /// The way it went on the ground (a unit vector).
    way: (f64, f64),
    /// Where it stands on the ground.
    stand: (f64, f64),
}

/// A detection's time, ground point and that point's spread, m.
type Fix = (f64, (f64, f64), f64);

/// Whether `s` is a detection that speeds are fitted to (not carried, not cut): one of
/// [`fixes`].
fn is_fix(s: &Sample) -> bool {
    s.measured_sd.is_some()
}

/// A track's detections with a ground point that speeds are fitted to (not carried, not cut).
fn fixes(m: &TrackKinematics) -> Vec<Fix> {
    m.history.iter().filter_map(|s| Some((s.t, s.measured?, s.measured_sd?))).collect()
}

/// Where `m` stands now, as a point on the ground, and how far off that may be: the median along
/// `way` of its latest fit's points (a standing box jittered is one of many), from `origin`.
fn standing_at(m: &TrackKinematics, fixes: &[Fix], origin: (f64, f64), way: (f64, f64)) -> Option<(f64, f64)> {
    let last = m.history.iter().rev().find(|s| is_fix(s))?;
    median_along(fixes, (last.fit?.t_first, f64::INFINITY), origin, way)
}

/// The median along `way` from `origin` of the places of `fixes` between `from` and `to`, and
/// how far off it may be (from the spread of the latest of them).
fn median_along(fixes: &[Fix], (from, to): (f64, f64), origin: (f64, f64), way: (f64, f64)) -> Option<(f64, f64)> {
    let near: Vec<&Fix> = fixes.iter().filter(|f| f.0 >= from - EPS_S && f.0 <= to + EPS_S).collect();
    let mut xs: Vec<f64> = near.iter().map(|f| along(f.1, origin, way)).collect();
    xs.sort_by(f64::total_cmp);
    let x = *xs.get(xs.len() / 2)?;
    // A median's error is about 1.25 times a mean's.
    Some((x, 1.25 * near.last()?.2 / (xs.len() as f64).sqrt()))
}

/// The least-squares line through `fixes` along `way` from `origin`: its mean time and place,
/// its speed along `way` and Σ(t − t̄)² (`speed::line`, projected).
fn line_along(fixes: &[&Fix], origin: (f64, f64), way: (f64, f64)) -> Option<(f64, f64, f64, f64)> {
    let pts: Vec<(f64, (f64, f64))> = fixes.iter().map(|f| (f.0, f.1)).collect();
    let ((tm, xm, ym), (vx, vy), stt) = line(&pts)?;
    Some((tm, along((xm, ym), origin, way), vx * way.0 + vy * way.1, stt))
}

/// Metres along `way` from `origin` to `g`.
fn along(g: (f64, f64), origin: (f64, f64), way: (f64, f64)) -> f64 {
    (g.0 - origin.0) * way.0 + (g.1 - origin.1) * way.1
}

/// How `m` came to stand after a contact at `tc` (see [`Collision::stopped_short`]).
fn stop_of(m: &TrackKinematics, tc: f64) -> Option<Stop> {
    let fixes = fixes(m);
    let (line_end, line) = m
        .since(tc - BEFORE_S)
        .filter_map(|s| s.fit.map(|f| (s.t, f)))
        .filter(|(_, f)| f.t_first <= tc + EPS_S)
        .max_by(|a, b| a.1.low(MARGIN_SE).total_cmp(&b.1.low(MARGIN_SE)))?;
    let on_line: Vec<_> = fixes.iter().filter(|f| f.0 >= line.t_first - EPS_S && f.0 <= line_end + EPS_S).collect();
    let (first, stand) = (on_line.first()?.1, fixes.last()?.1);
    let len = (stand.0 - first.0).hypot(stand.1 - first.1);
    if len < 1.0 {
        return None;
    }
    let way = ((stand.0 - first.0) / len, (stand.1 - first.1) / len);
    // The line through the fit's points, along the way it went: the fit's own speed is along
    // its heading, and a track that turned went less far along this way than that.
    let (t0, x0, v0, _) = line_along(&on_line, first, way)?;
    // A line unlike the fit (a point the fit dropped as a box grown over a neighbour, a turn)
    // is no line to judge by.
    if v0 < 1.0 || (v0 * 3.6 - line.kmh).abs() > MARGIN_SE * line.se_kmh.max(MIN_SE_KMH) {
        return None;
    }
    let (x_stand, stand_sd) = standing_at(m, &fixes, first, way)?;
    let short = |f: &&Fix| x_stand - along(f.1, first, way) > SHORT_SE * f.2.hypot(stand_sd);
    let after: Vec<&Fix> = fixes.iter().filter(|f| f.0 > line_end + EPS_S).collect();
    let lag_s = after
        .iter()
        .take_while(|f| short(f))
        .map(|f| (f.0 - t0) - (along(f.1, first, way) - x0) / v0)
        .max_by(f64::total_cmp)?;
    let stood = after.iter().find(|f| !short(f))?;
    Some(Stop {
        lag_s,
        v0,
        stood_t: stood.0,
        crept_m: x_stand - along(stood.1, first, way),
        crept_sd: stood.2.hypot(stand_sd),
        way,
        stand: (first.0 + x_stand * way.0, first.1 + x_stand * way.1),
    })
}

/// Where the line through `fixes` between `from` and `to` puts its track at `t`, metres along
/// `way` from `origin`, and that place's variance (one far box alone is too rough a place).
fn place_at(fixes: &[Fix], t: f64, (from, to): (f64, f64), origin: (f64, f64), way: (f64, f64)) -> Option<(f64, f64)> {
    let near: Vec<&Fix> = fixes.iter().filter(|f| f.0 >= from - EPS_S && f.0 <= to + EPS_S).collect();
    match (near.as_slice(), line_along(&near, origin, way)) {
        (_, Some((tm, xm, v, stt))) => {
            // The line's value at t weighs each point by 1/n + dt·(tᵢ − t̄)/Σ(t − t̄)².
            let (n, dt) = (near.len() as f64, t - tm);
            let var = near.iter().map(|f| ((1.0 / n + dt * (f.0 - tm) / stt) * f.2).powi(2)).sum();
            Some((xm + v * dt, var))
        }
        // One point alone places its track only at its own time.
        ([f], None) if (t - f.0).abs() <= EPS_S => Some((along(f.1, origin, way), f.2 * f.2)),
        _ => None,
    }
}

/// How much further than `stop`'s track `other` went on along the same way after that track's
/// first detection at its stand, m, and how far off that may be: from where its detections of
/// the second around then put it then, to where those of its latest second put it at its
/// latest detection (a car ahead still rolling to its stop when the rule judges, as a fit may
/// read standing at up to 5 km/h). None unless `other` is ahead of where `stop`'s track stands:
/// with traffic towards the camera the nearer car leads, and the one behind closing up to it
/// would read as drawing away.
///
/// From the stand, not from the braking car's last detection while moving: a car run into
/// while rolling is shoved on faster than it rolled and draws away from the car that hit it,
/// but only for the half second or so both take to stand after the impact, most of which lies
/// before the braking car is seen standing. A car ahead of a near miss rolls on at its own
/// pace long after.
fn drew_away(other: &TrackKinematics, stop: &Stop) -> Option<(f64, f64)> {
    let fixes = fixes(other);
    let (t_then, t_last) = (stop.stood_t, fixes.last()?.0);
    let around = (t_then - DREW_AWAY_AROUND_S, t_then + DREW_AWAY_AROUND_S);
    let (x_then, var_then) = place_at(&fixes, t_then, around, stop.stand, stop.way)?;
    let (x_last, var_last) =
        place_at(&fixes, t_last, (t_last - 2.0 * DREW_AWAY_AROUND_S, t_last), stop.stand, stop.way)?;
    if x_last <= 0.0 {
        return None;
    }
    let sd = (var_then + var_last + stop.crept_sd.powi(2)).sqrt();
    Some((x_last - x_then - stop.crept_m, sd))
}

/// Whether `other`, not moving in the second before a contact at `tc`, stood where it stood
/// then from the time `stop`'s track was first seen at its stand on (not before the contact):
/// the medians of its detections' places in that second and since, along the way `stop`'s
/// track went and across it, agree within [`DREW_AWAY_SE`] standard errors and
/// [`STAYED_PUT_SLACK_M`]. A standing car run into is shoved on, unless it is much heavier
/// than the car that hit it; where no detection places it since (but one did before), it may
/// have been, and the answer is `None`. `Some(true)` when that is settled, with
/// [`SETTLED_FIXES`] detections since: fewer may have caught only the start of a shove.
///
/// Where no detection placed `other` in `before`, the contact was with the last box of a road
/// user hidden for a while, in a queue most often by the riders around it. If its last
/// detection, within the second before `before`, read standing (by `stands`, as the rule
/// reads a standing road user), its place since is compared with the second up to then.
/// Otherwise, or where no detection places it since, nothing can tell it moved, and the
/// braking car's creeping in alone judges: `Some(false)`. (Judged so whenever nothing placed
/// it in `before`, such contacts made 31–45 % of the false events of the simulator's
/// `red_light` at 5 fps; no crash scenario's event was one.)
fn stayed_put(
    other: &TrackKinematics,
    before: (f64, f64),
    stop: &Stop,
    stands: impl Fn(&Sample) -> bool,
) -> Option<bool> {
    let fixes = fixes(other);
    let since = (stop.stood_t.max(before.1), f64::INFINITY);
    let mut before = before;
    if !fixes.iter().any(|f| f.0 >= before.0 - EPS_S && f.0 <= before.1 + EPS_S) {
        // Its last detection before, if within the second before and standing: a car still
        // rolling when it was hidden has stood further on since, and is no shove.
        let last = other.history.iter().rev().find(|s| s.t < before.0 && is_fix(s));
        let stood_then = last.filter(|s| s.t >= before.0 - 1.0 - EPS_S && stands(s));
        let seen_since = fixes.iter().any(|f| f.0 >= since.0 - EPS_S);
        match (seen_since, stood_then) {
            (true, Some(s)) => before = (s.t - 1.0, s.t),
            _ => return Some(false),
        }
    }
    let across = (-stop.way.1, stop.way.0);
    let moved = |way| {
        let (x0, sd0) = median_along(&fixes, before, stop.stand, way)?;
        let (x1, sd1) = median_along(&fixes, since, stop.stand, way)?;
        Some((x1 - x0).abs() > DREW_AWAY_SE * sd0.hypot(sd1) + STAYED_PUT_SLACK_M)
    };
    if moved(stop.way)? || moved(across)? {
        return None;
    }
    Some(fixes.iter().filter(|f| f.0 >= since.0 - EPS_S).count() >= SETTLED_FIXES)
}

/// Whether `other` was moving in the second before a contact at `tc`: a speed fit then of more
/// than `stop_kmh` by [`MARGIN_SE`] standard errors. A car run into that stood before starts to
/// move only at the impact (and, bounced off, may move on further than the car that hit it).
fn moving_before(other: &TrackKinematics, tc: f64, stop_kmh: f64) -> bool {
    fits_before(other, tc).any(|f| f.low(MARGIN_SE) > stop_kmh)
}

/// `m`'s speed fits read in the second before a contact at `tc`.
fn fits_before(m: &TrackKinematics, tc: f64) -> impl Iterator<Item = FitReading> + '_ {
    m.since(tc - 1.0).filter(move |s| s.t <= tc + EPS_S).filter_map(|s| s.fit)
}

/// Whether `other` went faster after a contact at `tc` than before it: its fastest speed fit
/// begun within the second after the contact is faster than its fastest read in the second
/// before (which may have begun earlier). Only the second after: a car ahead that moves off
/// seconds later, while the contact waits for both to stand, was not shoved. A car hit
/// while rolling is shoved on faster than it rolled, and a fit spanning the impact reads at
/// least its speed before; the car ahead of a near miss, slowing in a queue, reads slower. On
/// a pole camera the two cars' boxes meet up to a second before the impact, so the fit after
/// the contact may begin before the impact too.
fn sped_up(other: &TrackKinematics, tc: f64) -> bool {
    fn fastest(fits: impl Iterator<Item = FitReading>) -> Option<f64> {
        fits.map(|f| f.kmh).max_by(f64::total_cmp)
    }
    let before = fastest(fits_before(other, tc));
    let after = fastest(
        other.since(tc).filter_map(|s| s.fit).filter(|f| f.t_first >= tc - EPS_S && f.t_first <= tc + 1.0 + EPS_S),
    );
    matches!((before, after), (Some(before), Some(after)) if after > before)
}

impl Collision {
    pub fn new(cfg: &CollisionConfig, zone: &[Point]) -> Self {
        Self {
            zone: zone.to_vec(),
            min_speed: cfg.min_speed_kmh.0,
            min_decel: cfg.min_decel_mps2.0,
            stop_kmh: cfg.stop_kmh.0,
            within_s: cfg.within_s.0,
            cooldown_s: cfg.cooldown_s.0,
            contacts: BTreeMap::new(),
            open: Vec::new(),
            quiet_until: HashMap::new(),
        }
    }

    /// Whether `m` braked hard around a contact at `tc`: the drop of its speed from a fit that
    /// began before the contact (within the two seconds before it) to its latest fit, if that
    /// is after the contact, their centres at least half a second apart (a fit spans 0.6–1 s,
    /// so shorter spans only show noise). The latest: a car that slowed for a moment and drove
    /// on did not crash, and one that braked hard and stood short of a car still rolling reads,
    /// by the time that car stands too, a drop spread over the longer time.
    ///
    /// Neither fit need be precise enough for a speed to be reported (at 3–5 detections a
    /// second a car that brakes within a second of coming into view has no such speed before it
    /// hits, and a car standing far off may have none for seconds): their errors count against
    /// the braking instead, the earlier speed less [`MARGIN_SE`] standard errors, the later plus
    /// as many.
    ///
    /// With `behind_standing` (the road user it met stood at the contact and stands again
    /// now, see [`Collision::update`]), a drop to any fit since the contact that says `m`
    /// stands counts, not only to the latest: a standing car run into is shoved on, and the
    /// contact waits for it to stand again while `m`'s drop spreads over the wait. A car that
    /// stops short of a standing one settles as soon as it stands, so there the latest reading
    /// guards nothing. (A car ahead that stood, drove off and stood again within `within_s` is
    /// judged as if it had stood throughout; one that drove off out of sight is not.)
    fn braked(&self, m: &TrackKinematics, tc: f64, behind_standing: bool) -> bool {
        if behind_standing {
            return m.since(tc).filter(|s| s.fit.is_some() && self.stands(s)).any(|s| self.drop_to(m, tc, s));
        }
        self.latest_drop(m, tc, |s| s.fit.is_some()).is_some()
    }

    /// Whether `m` stood at a contact at `tc`: its latest speed fit then reads at most
    /// `stop_kmh` with [`MARGIN_SE`] standard errors.
    fn stood_at(&self, m: &TrackKinematics, tc: f64) -> bool {
        fits_before(m, tc).last().is_some_and(|f| self.fit_stands(f))
    }

    /// Whether the fit `f` says its track stands: at most `stop_kmh` with [`MARGIN_SE`]
    /// standard errors.
    fn fit_stands(&self, f: FitReading) -> bool {
        f.high(MARGIN_SE) <= self.stop_kmh
    }

    /// Whether the reading of `s` says its track stands: its speed is at most `stop_kmh`, or,
    /// where that speed is not precise enough to be reported, the fit's plus [`MARGIN_SE`]
    /// standard errors is. On the wide pole a car standing 25 m out reads 1.0 ± 1.8 km/h at 3
    /// fps, over the 1.5 km/h a reading may be off; it stood (at most 4.6 km/h, with the margin)
    /// for two seconds before a reading said so, and the drop to that reading was then too
    /// spread out to read as hard braking.
    fn stands(&self, s: &Sample) -> bool {
        s.kmh.map_or_else(|| s.fit.is_some_and(|f| self.fit_stands(f)), |v| v <= self.stop_kmh)
    }

    /// Whether the reading of `s1` is a hard drop from a fit that began before a contact at `tc`
    /// (see [`Collision::braked`]).
    fn drop_to(&self, m: &TrackKinematics, tc: f64, s1: &Sample) -> bool {
        let Some(f1) = s1.fit else { return false };
        m.since(tc - BEFORE_S)
            .filter_map(|s| s.fit)
            .filter(|f0| f0.t_first <= tc + EPS_S && f0.low(MARGIN_SE) >= self.min_speed)
            .filter(|f0| f1.t_mid - f0.t_mid >= 0.5 - EPS_S)
            .any(|f0| (f0.low(MARGIN_SE) - f1.high(MARGIN_SE)) / 3.6 / (f1.t_mid - f0.t_mid) >= self.min_decel)
    }

    /// The latest speed reading of `m`, if it is after a contact at `tc` and shows a hard drop
    /// (see [`Collision::braked`]): for a track that vanished, whose latest reading is where
    /// it was last known to move.
    fn braking_reading<'m>(&self, m: &'m TrackKinematics, tc: f64) -> Option<&'m Sample> {
        self.latest_drop(m, tc, |s| s.kmh.is_some())
    }

    /// `m`'s latest sample that has `reading`, if it is after a contact at `tc` and shows a
    /// hard drop from before it ([`Collision::drop_to`]).
    fn latest_drop<'m>(&self, m: &'m TrackKinematics, tc: f64, reading: fn(&Sample) -> bool) -> Option<&'m Sample> {
        let s1 = m.history.iter().rev().find(|s| reading(s)).filter(|s| s.t >= tc)?;
        self.drop_to(m, tc, s1).then_some(s1)
    }

    /// Whether `m` braked hard around a contact at `tc` and then vanished where it slowed: a
    /// track that drove on after its braking reading, further than that reading's speed (plus
    /// [`MARGIN_SE`] standard errors, plus [`DRIVE_ON_SLACK_M`] of box jitter) allows, and then
    /// vanished did not crash. That is what a track looks like that lost its rider behind
    /// another for a second and was re-found on a different, slower one in front: the fit
    /// bridging the gap reads a hard drop, and the "braked" track drives on at the others'
    /// speed until it is lost again. Nor did one whose braking reading is its only detection
    /// after such a gap (see [`REFOUND_GAP`]): it had no time to drive on.
    fn braked_and_vanished(&self, m: &TrackKinematics, tc: f64) -> bool {
        let Some(s1) = self.braking_reading(m, tc) else { return false };
        let (Some(f1), Some(g1)) = (s1.fit, s1.measured) else { return false };
        if refound_once(m, s1) {
            return false;
        }
        m.since(s1.t)
            .filter_map(|s| s.measured.map(|g| (s.t, g)))
            .all(|(t, g)| (g.0 - g1.0).hypot(g.1 - g1.1) <= f1.high(MARGIN_SE) / 3.6 * (t - s1.t) + DRIVE_ON_SLACK_M)
    }

    /// Whether `m`'s track jumped (see [`jumps`]) between two seconds before a contact at `tc`
    /// and its first detection standing after it (or its latest, if it has none): such a track
    /// took another road user's box, and its braking is two road users' together. In a queue a
    /// rider's track that lost it took the box of the one standing ahead of it (whose own track
    /// had lost that one), and read a drop from the speed of one to the stand of the other. A
    /// jump after it stood (a box merged with the one it hit) had no part in the braking.
    fn jumped(&self, m: &TrackKinematics, tc: f64) -> bool {
        let stood = m.since(tc).find(|s| is_fix(s) && self.stands(s)).map_or(f64::INFINITY, |s| s.t);
        jumps(m.since(tc - BEFORE_S).take_while(|s| s.t <= stood + EPS_S))
    }

    /// Whether `m`, standing after braking around a contact at `tc`, stopped short of `other`
    /// rather than ran into it: a near miss, which a pole camera sees as a crash (the gap lies
    /// hidden behind the braking car, and their boxes meet). `Some(true)` when that verdict is
    /// settled for good (behind a standing car, see [`stayed_put`]), `Some(false)` when it
    /// holds for now. All of these tell it:
    /// - `m` was seen still moving further behind the line it drove on before the contact than
    ///   a crash leaves it ([`STOPPED_SHORT_SHARE`]): brakes slow a car evenly, and it is seen
    ///   creeping in; a crash stops it from a speed it still had.
    /// - From `m`'s first detection at its stand on, `other`, ahead of it, went on further than
    ///   `m` did, by [`DREW_AWAY_SE`] standard errors: the car ahead drew away from the one that
    ///   stood. One run into stands, or is shoved on together with the car that hit it, or,
    ///   rolling when hit, is shoved on for the moment both take to stand ([`drew_away`]).
    /// - `other` did not go faster after the contact than before it ([`sped_up`]): a car hit
    ///   while rolling is shoved on faster than it rolled.
    ///
    /// Behind a car that was not moving in the second before the contact ([`moving_before`]),
    /// the car ahead cannot draw away: a standing car run into moves only when hit, and,
    /// bounced off, may move on further than the car that hit it. There the second test is
    /// that `other` stayed where it stood ([`stayed_put`]): what tells a crash from a stop
    /// short is then that the car run into was shoved on, or that the one that hit it stopped
    /// at once from a speed it still had (the first test), as against a wall or a truck. A
    /// crash that passes the first test and shoves the car it hit less than
    /// [`STAYED_PUT_SLACK_M`] and the error on (an impact under about 20 km/h into a car with
    /// its brakes held) reads as a stop short.
    ///
    /// The line is `m`'s fit before the contact with the highest speed less its margin (as in
    /// [`Collision::drop_to`]), through its points along the way `m` went. Its detections after
    /// that fit count until the first one within [`SHORT_SE`] standard errors of where it stands
    /// (the median of its latest fit's points): a standing box jittered short of the others
    /// would read as ever further behind. Only for a track nearer the camera than `other` (its
    /// box's bottom lower in the picture): the box of one beyond the other is cut where the
    /// other hides it, and its foot reads short.
    fn stopped_short(&self, m: &TrackKinematics, other: &TrackKinematics, tc: f64) -> Option<bool> {
        if m.det_bbox.y2 <= other.det_bbox.y2 {
            return None;
        }
        let moving = moving_before(other, tc, self.stop_kmh);
        if moving && sped_up(other, tc) {
            return None;
        }
        let stop = stop_of(m, tc).filter(|s| s.lag_s > STOPPED_SHORT_SHARE * s.v0)?;
        if !moving {
            return stayed_put(other, (tc - 1.0, tc), &stop, |s| self.stands(s));
        }
        // Moving a second before the contact, but standing before this one stood (a queue
        // closing up): it is judged as a car that stood, from its first readings standing.
        // From a detection's reading: a cut or carried sample repeats a fit read before it.
        let stood = other.since(tc).find(|s| is_fix(s) && s.fit.is_some_and(|f| self.fit_stands(f)));
        if let Some(stood) = stood.map(|s| s.t).filter(|&t| t < stop.stood_t) {
            // Up to just before the braking car's first detection at its stand, which starts
            // the time since (the windows' bounds take `EPS_S` in).
            let end = (stood + DREW_AWAY_AROUND_S).min(stop.stood_t - 2.0 * EPS_S);
            return stayed_put(other, (stood, end), &stop, |s| self.stands(s));
        }
        let (further_m, sd) = drew_away(other, &stop)?;
        (further_m > DREW_AWAY_SE * sd).then_some(false)
    }

    /// `m`'s highest speed measured from detections that began before a contact at `tc` (within
    /// the two seconds before it): of the reported speeds if it has any, else of the fits.
    fn speed_before(m: &TrackKinematics, tc: f64) -> f64 {
        let before = || m.since(tc - BEFORE_S).filter(|s| s.fit.is_some_and(|f| f.t_first <= tc + EPS_S));
        let reported = before().filter_map(|s| s.kmh).fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        reported.unwrap_or_else(|| before().filter_map(|s| s.fit.map(|f| f.kmh)).fold(0.0, f64::max))
    }

    /// Judge every road user (by `is_road_user`) at time `t`; hits are appended to `out`.
    pub fn update(
        &mut self,
        t: f64,
        motion: &Kinematics,
        is_road_user: impl Fn(u32) -> bool,
        out: &mut Vec<CollisionHit>,
    ) {
        // Cooldowns that ran out are forgotten, so the map does not grow with every track ever seen.
        self.quiet_until.retain(|_, q| t < *q);
        let quiet = |id: u64| self.quiet_until.get(&id).is_some_and(|&q| t < q);
        // Tracks matched now, or seen within [`GONE_S`] while their last box still says where
        // they are ([`box_current`]), and standing ones not detected now at their last box: a
        // car hidden by the one that runs into it may not be detected again. Standing as
        // `stands` reads it, with the fit's margin where no speed was precise enough to be
        // reported: on the rooftop camera at 3 fps a car standing cut by the picture's top edge
        // was hidden by the car braking into it before any reading said it stood, and a car
        // still rolling there was last detected a moment before their boxes met.
        let seen = |m: &TrackKinematics| t - m.last_seen < GONE_S;
        let mut here: Vec<(u64, &TrackKinematics)> = motion
            .iter()
            .filter(|(id, m)| {
                ((seen(m) && box_current(m, t)) || m.latest().is_some_and(|s| self.stands(s)))
                    && is_road_user(m.class_id)
                    && !quiet(*id)
                    && m.latest().is_some_and(|s| point_in_polygon(&self.zone, s.image))
            })
            .collect();
        here.sort_by_key(|h| h.0);
        for i in 0..here.len() {
            for j in i + 1..here.len() {
                let ((a, ma), (b, mb)) = (here[i], here[j]);
                // The ground test last: only for boxes that meet and no contact yet.
                if (ma.matched || mb.matched)
                    && meet(ma, mb)
                    && !self.contacts.contains_key(&(a, b))
                    && motion.homography().is_none_or(|h| in_line(ma, mb, h))
                {
                    self.contacts.insert((a, b), Contact { t, near_miss: false });
                }
            }
        }
        let mut fired = Vec::new();
        let mut contacts = std::mem::take(&mut self.contacts);
        contacts.retain(|&(a, b), c| {
            if t - c.t > self.within_s {
                return false;
            }
            let (Some(ma), Some(mb)) = (motion.get(a), motion.get(b)) else { return false };
            let gone = |m: &TrackKinematics| !seen(m);
            // A car missed by one detection stands as its latest reading says: waiting for the
            // next one would judge a drop diluted by the wait (see [`Collision::braked`]).
            let stopped = |m: &TrackKinematics| seen(m) && m.latest().is_some_and(|s| self.stands(s));
            let settled = (stopped(ma) && stopped(mb)) || (gone(ma) != gone(mb));
            if c.near_miss {
                return true;
            }
            // The one that braked is one that stands or vanished: a car that brakes and drives on
            // (or whose box is cut by the picture's edge, which reads as slowing) did not crash.
            // Nor did one that stopped short of the other, nor one whose road user ahead
            // vanished by driving on out of sight.
            let mut near_miss = false;
            let mut braked_to_a_stop = |m: &TrackKinematics, other: &TrackKinematics| {
                let behind_standing = stopped(other) && self.stood_at(other, c.t);
                let braked = stopped(m)
                    && (!gone(other) || stayed(other, m))
                    && self.braked(m, c.t, behind_standing)
                    && !self.jumped(m, c.t);
                let short = if braked { self.stopped_short(m, other, c.t) } else { None };
                near_miss |= short == Some(true);
                (braked && short.is_none()) || (gone(m) && self.braked_and_vanished(m, c.t) && !self.jumped(m, c.t))
            };
            // Both ways round: the verdict must not hang on which track has the lower id.
            let crash = settled && {
                let (ab, ba) = (braked_to_a_stop(ma, mb), braked_to_a_stop(mb, ma));
                ab || ba
            };
            // A stop short of a car that stood is settled once enough of the car ahead has been
            // seen since: nothing it does later changes where it stood, and judged again on
            // every frame for `within_s` a jittered box would in time tell it otherwise. Short
            // of one that was moving it is not: later detections of the car ahead add to the
            // drawing away (settled at once, the crash into a rolling car was found in 91 and
            // 82 of 100 runs on the 8 m and wide poles at 5 fps, not 93 and 89).
            if !crash && near_miss {
                c.near_miss = true;
                return true;
            }
            if crash {
                fired.push(CollisionHit {
                    phase: Phase::Start,
                    track_ids: [a, b],
                    class_ids: [ma.class_id, mb.class_id],
                    speeds_before_kmh: [Self::speed_before(ma, c.t), Self::speed_before(mb, c.t)],
                });
                return false;
            }
            true
        });
        self.contacts = contacts;
        for hit in fired {
            // Another contact of either track fired this frame already: one event is enough.
            if hit.track_ids.iter().any(|id| self.quiet_until.get(id).is_some_and(|&q| t < q)) {
                continue;
            }
            for id in hit.track_ids {
                self.quiet_until.insert(id, t + self.cooldown_s);
            }
            self.open.push(Open { hit, ended: [false; 2] });
            out.push(hit);
        }
    }

    /// A track ended: end the events of which both tracks have now ended.
    pub fn remove(&mut self, track_id: u64, out: &mut Vec<CollisionHit>) {
        self.contacts.retain(|k, _| k.0 != track_id && k.1 != track_id);
        for o in &mut self.open {
            for k in 0..2 {
                if o.hit.track_ids[k] == track_id {
                    o.ended[k] = true;
                }
            }
        }
        self.open.retain(|o| {
            if o.ended == [true, true] {
                out.push(CollisionHit { phase: Phase::End, ..o.hit });
                false
            } else {
                true
            }
        });
    }

    /// The stream ended: end every open event.
    pub fn finish(&mut self, out: &mut Vec<CollisionHit>) {
        out.extend(self.open.drain(..).map(|o| CollisionHit { phase: Phase::End, ..o.hit }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::Detection;
    use crate::geometry::homography::tests::flat;
    use crate::track::{Tracker, TrackerConfig};

    const CAR: u32 = 2;

    const ZONE: [Point; 4] = [(0.0, 0.0), (3000.0, 0.0), (3000.0, 1000.0), (0.0, 1000.0)];

    fn cfg() -> CollisionConfig {
        toml::from_str("name = \"c\"\nzone = \"z\"\ncooldown_s = 30").expect("cfg")
    }

    /// Cars given as the image y of their box's bottom and the x of their front bumper at
    /// time t (metres, None: not detected), 4.5 m long and 30 px high, at 10 fps; hits with
    /// their times.
    type Car<'a> = (f32, &'a dyn Fn(f64) -> Option<f64>);

    fn drive(cars: &[Car], secs: f64) -> Vec<(f64, CollisionHit)> {
        drive_at(cars, secs, 10)
    }

    /// [`drive`] at `fps` detections a second.
    fn drive_at(cars: &[Car], secs: f64, fps: u32) -> Vec<(f64, CollisionHit)> {
        drive_with(cars, secs, fps, drive_tracking())
    }

    /// The tracker the tests drive: a track from its first detection.
    fn drive_tracking() -> TrackerConfig {
        TrackerConfig { min_hits: 1, ..TrackerConfig::default() }
    }

    /// [`drive_at`] with the tracker set up as `tracking`.
    fn drive_with(cars: &[Car], secs: f64, fps: u32, tracking: TrackerConfig) -> Vec<(f64, CollisionHit)> {
        let boxes: Vec<Box<dyn Fn(f64) -> Option<BBox> + '_>> = cars
            .iter()
            .map(|&(y, f)| {
                Box::new(move |t| {
                    let x = (f(t)? * 10.0) as f32;
                    Some(BBox::new(x - 45.0, y - 30.0, x, y))
                }) as Box<dyn Fn(f64) -> Option<BBox>>
            })
            .collect();
        drive_boxes(&boxes, secs, fps, tracking)
    }

    /// Road users given as their detected box at time t (None: not detected), at `fps`.
    fn drive_boxes(
        cars: &[Box<dyn Fn(f64) -> Option<BBox> + '_>],
        secs: f64,
        fps: u32,
        tracking: TrackerConfig,
    ) -> Vec<(f64, CollisionHit)> {
        let mut rule = Collision::new(&cfg(), &ZONE);
        let mut tracker = Tracker::new(tracking);
        let mut motion = Kinematics::new(Some(flat(0.1)));
        let (mut hits, mut out) = (Vec::new(), Vec::new());
        for i in 0..(secs * f64::from(fps)) as u32 {
            let t = f64::from(i) / f64::from(fps);
            let dets: Vec<Detection> =
                cars.iter().filter_map(|f| Some(Detection { class_id: CAR, score: 0.9, bbox: f(t)? })).collect();
            let ended: Vec<u64> = tracker.update(t, &dets).ended.iter().map(|e| e.id).collect();
            motion.update(t, tracker.tracks());
            rule.update(t, &motion, |c| c == CAR, &mut out);
            for e in ended {
                rule.remove(e, &mut out);
                motion.remove(e);
            }
            hits.extend(out.drain(..).map(|h| (t, h)));
        }
        for e in tracker.finish() {
            rule.remove(e.id, &mut out);
        }
        hits.extend(out.drain(..).map(|h| (f64::INFINITY, h)));
        hits
    }

    /// A rider seen from behind, as a camera looking along the road sees it on this flat
    /// ground: 0.9 m wide, riding up the picture from y = 900 px, centred at `x` px, `f(t)`
    /// metres on at time t.
    fn rider<'a>(x: f32, f: &'a dyn Fn(f64) -> Option<f64>) -> Box<dyn Fn(f64) -> Option<BBox> + 'a> {
        Box::new(move |t| {
            let y = 900.0 - (f(t)? * 10.0) as f32;
            Some(BBox::new(x - 4.5, y - 16.0, x + 4.5, y))
        })
    }

    /// No hit from [`drive_at`] 8 s at 10 fps, whether the tracker ends a lost track after its
    /// default 1.5 s or keeps it 5 s.
    fn no_hits_however_long_lost(cars: &[Car]) {
        for max_lost_s in [1.5, 5.0] {
            let tracking = TrackerConfig { min_hits: 1, max_lost_s, ..TrackerConfig::default() };
            let hits = drive_with(cars, 8.0, 10, tracking);
            assert!(hits.is_empty(), "kept {max_lost_s} s: {hits:?}");
        }
    }

    /// A car at 50 km/h that brakes at 8 m/s² from `brake_at` s to a stand.
    fn braking(start: f64, brake_at: f64) -> impl Fn(f64) -> Option<f64> {
        braking_from(50.0, start, brake_at)
    }

    /// [`braking`] from `kmh`.
    fn braking_from(kmh: f64, start: f64, brake_at: f64) -> impl Fn(f64) -> Option<f64> {
        let v = kmh / 3.6;
        move |t| {
            let tb = t.min(brake_at);
            let x = start + v * tb;
            let dt = (t - brake_at).max(0.0).min(v / 8.0);
            Some(x + v * dt - 4.0 * dt * dt)
        }
    }

    /// A car at `kmh` from `start`, slowing at `a` m/s² from `from` s to a stand.
    fn slowing(kmh: f64, start: f64, from: f64, a: f64) -> impl Fn(f64) -> Option<f64> {
        let v = kmh / 3.6;
        move |t| {
            let dt = (t - from).clamp(0.0, v / a);
            Some(start + v * t.min(from) + v * dt - a / 2.0 * dt * dt)
        }
    }

    /// The car `f`, shoved at `at` s on at `v` m/s and braking at 7 m/s² from there.
    fn shoved<'a>(f: &'a dyn Fn(f64) -> Option<f64>, at: f64, v: f64) -> impl Fn(f64) -> Option<f64> + 'a {
        move |t| {
            let dt = (t - at).clamp(0.0, v / 7.0);
            f(t.min(at)).map(|x| x + v * dt - 3.5 * dt * dt)
        }
    }

    /// A car at `kmh` from `start`, not detected from `gone_at` s on (it left the view).
    fn leaving(kmh: f64, start: f64, gone_at: f64) -> impl Fn(f64) -> Option<f64> {
        let v = kmh / 3.6;
        move |t| (t < gone_at).then_some(start + v * t)
    }

    /// [`braking`], but its front runs into something at `wall` m and stops there at once.
    fn braking_into(start: f64, brake_at: f64, wall: f64) -> impl Fn(f64) -> Option<f64> {
        let free = braking(start, brake_at);
        move |t| free(t).map(|x| x.min(wall))
    }

    #[test]
    fn a_car_braking_into_a_standing_one_is_a_collision() {
        // The standing car's rear is at 90 m; the moving one (nearer the camera: its box's
        // bottom a pixel lower) brakes from 1.8 s (front at 85 m) and runs into it at 2.2 s at
        // 37 km/h, its front 0.3 m into it.
        let moving = braking_into(60.0, 1.8, 90.3);
        let standing = |_t: f64| Some(94.5);
        let hits = drive(&[(401.0, &moving), (400.0, &standing)], 8.0);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, h) = hits[0];
        // They meet at about 2.2 s, when the moving one stands; its smoothed speed says so later.
        assert!(t0 > 3.0 && t0 < 5.5, "at {t0}: {h:?}");
        assert_eq!(h.track_ids, [1, 2]);
        assert!((h.speeds_before_kmh[0] - 50.0).abs() < 3.0, "{h:?}");
        assert!(h.speeds_before_kmh[1] < 3.0, "{h:?}");
    }

    #[test]
    fn one_vanishing_after_a_hard_stop_counts() {
        // The moving one brakes into the standing one and is not detected any more from 3 s
        // (merged into its box).
        let moving = braking(60.0, 1.8);
        let merged = move |t: f64| if t < 3.0 { moving(t) } else { None };
        let standing = |_t: f64| Some(94.5);
        let hits = drive(&[(400.0, &merged), (400.0, &standing)], 8.0);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        // Vanished for GONE_S.
        assert!(hits[0].0 >= 3.4 && hits[0].0 < 4.0, "{hits:?}");
    }

    #[test]
    fn at_3_fps_a_car_braking_into_one_it_hides_counts() {
        // The moving car comes into view at 1.2 s and brakes from 1.8 s: two detections before
        // it brakes. Its front runs 0.3 m into the standing car's rear (90 m) at 2.2 s at 39 km/h,
        // and that car is hidden behind it from then on and not detected again: the contact
        // is with its last box.
        let moving = braking_into(60.5, 1.8, 90.3);
        let seen = move |t: f64| (t >= 1.2).then(|| moving(t)).flatten();
        let hidden = move |t: f64| (t < 2.2).then_some(94.5);
        let hits = drive_at(&[(401.0, &seen), (400.0, &hidden)], 8.0, 3);
        let phases: Vec<Phase> = hits.iter().map(|(_, h)| h.phase).collect();
        assert_eq!(phases, vec![Phase::Start, Phase::End], "{hits:?}");
        let (t0, h) = hits[0];
        assert!(t0 > 3.0 && t0 < 5.5, "at {t0}: {h:?}");
        // Track 1 is the standing car, seen from the start.
        assert!(h.speeds_before_kmh[0] < 3.0 && h.speeds_before_kmh[1] > 40.0, "{h:?}");
    }

    #[test]
    fn a_lost_track_refound_once_behind_where_it_was_and_lost_again_is_no_collision() {
        // Car 1 at 50 km/h comes up beside car 2 at 40 km/h one lane over (their boxes meet from
        // about 3.8 s). Car 1 is hidden from 4.0 s; at 4.8 s its track takes one box 4 m behind
        // where car 1 is (as a lost track takes the road user behind the one it lost) and
        // is lost again. The fit bridging the gap reads 35 km/h, a drop of over 4 m/s², and the
        // track vanished where it "slowed": one re-found box, not a crash.
        let v1 = 50.0 / 3.6;
        let one = move |t: f64| match t {
            t if t < 3.95 => Some(20.0 + v1 * t),
            t if (t - 4.8).abs() < 0.01 => Some(20.0 + v1 * t - 4.0),
            _ => None,
        };
        let two = |t: f64| Some(35.0 + 40.0 / 3.6 * t);
        let hits = drive(&[(400.0, &one), (372.0, &two)], 8.0);
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn a_car_braking_hard_to_a_stand_short_of_one_rolling_on_is_no_collision() {
        // As a pole camera sees a near miss: the car behind brakes at 8 m/s² from 50 km/h and
        // stands at 3.5 s, its front at 97 m, while the one ahead, which rolled at 15 km/h and
        // slows at 1.5 m/s², still rolls at 8 km/h and stands 1.4 s later. Their boxes meet
        // from 2.9 s as the picture's perspective makes them: here the one ahead is a row up
        // the picture, 2.8 m aside on this flat ground, its box overlapping the other's.
        let moving = braking(60.0, 1.8);
        let ahead = slowing(15.0, 87.1, 2.2, 1.5);
        assert!(drive(&[(400.0, &moving), (372.0, &ahead)], 10.0).is_empty());
        // Had it run into that car at 27 km/h, its front at 93.5 m, it would not have fallen
        // so far behind the line it drove on before it stopped.
        let crash = braking_into(60.0, 1.8, 93.5);
        let hits = drive(&[(400.0, &crash), (372.0, &ahead)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
        // Nor had the car ahead stood from 2.9 s: nothing drew away from the one behind as it
        // crept in, as nothing does from a car that ran into another (which stands, or is
        // shoved on with it).
        let stands_too = |t: f64| ahead(t.min(2.9));
        let hits = drive(&[(400.0, &moving), (372.0, &stands_too)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
        // Seen beyond the other, where that one's box may hide its foot, it is not judged so.
        let hits = drive(&[(372.0, &moving), (400.0, &ahead)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
        // Nor had the car ahead gone faster after their boxes met: shoved at 3.3 s to 24 km/h
        // (and braking at 7 m/s² from there), it draws away, but was hit.
        let shoved = shoved(&ahead, 3.3, 6.8);
        let hits = drive(&[(400.0, &moving), (372.0, &shoved)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn a_car_braking_hard_to_a_stand_short_of_a_standing_one_is_no_collision() {
        // A red light: the car behind brakes at 8 m/s² from 50 km/h and stands at 3.5 s, its
        // front at 97 m, short of a car that stood there all along (a row up the picture, its
        // box overlapping the other's from 2.9 s, as with the car rolling on above). It crept
        // in, and the car ahead stayed where it stood.
        let moving = braking(60.0, 1.8);
        let standing = |_t: f64| Some(100.5);
        assert!(drive(&[(400.0, &moving), (372.0, &standing)], 10.0).is_empty());
        // Had it run into a car standing there at 27 km/h (its front at 93.5 m), it would
        // have stopped at once from a speed it still had.
        let crash = braking_into(60.0, 1.8, 93.5);
        let hit = |_t: f64| Some(97.0);
        let hits = drive(&[(400.0, &crash), (372.0, &hit)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
        // Nor is it a stop short where the car ahead was shoved 1.4 m on as the one behind
        // came to stand (at 3.3 s, to 16 km/h, braking at 7 m/s² from there).
        let shoved = shoved(&standing, 3.3, 4.5);
        let hits = drive(&[(400.0, &moving), (372.0, &shoved)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn a_car_creeping_in_behind_a_standing_one_hidden_since_before_they_met_is_no_collision() {
        // As above, but the car standing ahead is not detected from 1.5 s on (hidden by the
        // traffic around it): the boxes meet at its last box at 2.9 s, and nothing places it
        // in the second before or since. The braking car crept in.
        let moving = braking(60.0, 1.8);
        let hidden = |t: f64| (t < 1.5).then_some(100.5);
        assert!(drive(&[(400.0, &moving), (372.0, &hidden)], 10.0).is_empty());
        // Seen again from 4 s on, shoved 1.4 m on from where it was last seen, it was hit.
        let standing = |_t: f64| Some(100.5);
        let shoved = shoved(&standing, 3.3, 4.5);
        let seen_shoved = |t: f64| if (1.5..4.0).contains(&t) { None } else { shoved(t) };
        let hits = drive(&[(400.0, &moving), (372.0, &seen_shoved)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
        // One that stopped at once, 27 km/h into it, still ran into it.
        let crash = braking_into(60.0, 1.8, 93.5);
        let hidden_hit = |t: f64| (t < 1.5).then_some(97.0);
        let hits = drive(&[(400.0, &crash), (372.0, &hidden_hit)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn a_track_that_took_the_box_of_the_road_user_ahead_jumped() {
        // A rider at 20 km/h (±1) seen 5 times a second, its places 0.13 m off.
        let sample = |t: f64, x: f64| Sample {
            t,
            image: (0.0, 0.0),
            ground: Some((0.0, x)),
            measured: Some((0.0, x)),
            measured_sd: Some(0.13),
            kmh: Some(20.0),
            kmh_se: Some(1.0),
            fit: Some(FitReading { kmh: 20.0, se_kmh: 1.0, t_first: t - 0.8, t_mid: t - 0.4 }),
            carried: 0,
        };
        let v = 20.0 / 3.6;
        let riding: Vec<Sample> = (0..10).map(|i| sample(0.2 * f64::from(i), v * 0.2 * f64::from(i))).collect();
        assert!(!jumps(riding.iter()));
        // Missed for a second, and found where its speed took it.
        let missed: Vec<Sample> =
            riding.iter().enumerate().filter(|(i, _)| !(4..9).contains(i)).map(|(_, s)| *s).collect();
        assert!(!jumps(missed.iter()));
        // Its track took the box of the rider standing 3.6 m ahead of it instead, and stayed.
        let mut took = riding[..7].to_vec();
        took.extend((7..10).map(|i| sample(0.2 * f64::from(i), v * 1.2 + 3.6)));
        assert!(jumps(took.iter()));
        // The fit at the jump takes the jump in and reads fast: the speed before judges it.
        took[7].fit = Some(FitReading { kmh: 60.0, ..took[7].fit.expect("fit") });
        assert!(jumps(took.iter()));
    }

    #[test]
    fn a_standing_car_bounced_on_by_the_one_that_hit_it_is_a_collision() {
        // Braking at 5 m/s² from 1.8 s, the car behind hits the standing one at 27 km/h at 3.1
        // s, by then 0.3 s behind the line it drove on; the two bounce a little apart and roll
        // on, 0.6 m and 1.4 m. The car hit drew away from it, but only when hit.
        let (v, wall) = (50.0 / 3.6, 98.67);
        let hit_at = 1.8 + (v - 7.5) / 5.0;
        let behind = move |t: f64| {
            let tb = (t - 1.8).clamp(0.0, hit_at - 1.8);
            let x = 60.0 + v * t.min(1.8) + v * tb - 2.5 * tb * tb;
            let ta = (t - hit_at).clamp(0.0, 3.0 / 7.0);
            Some(x.min(wall) + 3.0 * ta - 3.5 * ta * ta)
        };
        let ahead = move |t: f64| {
            let ta = (t - hit_at).clamp(0.0, 4.5 / 7.0);
            Some(wall + 4.5 + 4.5 * ta - 3.5 * ta * ta)
        };
        let hits = drive(&[(400.0, &behind), (372.0, &ahead)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn a_car_braking_where_the_one_ahead_was_last_seen_a_while_ago_is_no_collision() {
        // The car ahead, at 30 km/h, leaves the view at 2 s (last detected at 1.9 s); the one
        // behind follows 2 m back, reaches where its box was last seen 0.25 s later, and
        // brakes at 8 m/s² to a stand from 2.2 s (a red light). The box it reached lay 2 m
        // behind the car by then, and no test of a stop short has anything of the car ahead to
        // judge. Once only time kept it from firing: the tracker ended the lost track 1.5 s
        // after it was last seen (`max_lost_s`), and its contacts with it, before the car
        // behind read standing; kept 5 s, it fired. Now the box met is stale (`box_current`).
        // (The car behind stands over most of that box, so the car ahead might have been
        // hidden there: `stayed` lets it settle the contact.)
        let ahead = leaving(30.0, 100.0, 2.0);
        let behind = braking_from(30.0, 100.0 - 6.5, 2.2);
        no_hits_however_long_lost(&[(401.0, &behind), (400.0, &ahead)]);
    }

    #[test]
    fn a_car_braking_after_the_one_ahead_it_met_drove_out_of_sight_is_no_collision() {
        // As a pole sees a close follower: the nearer car's box (its bottom 20 px lower)
        // comes to overlap the one ahead's at 1.2 s, while both are seen, a contact. The car
        // ahead, at 30 km/h, leaves the view at 2 s; the one behind, at 36 km/h, brakes at 8
        // m/s² to a stand from 2 s. Gone at 30 km/h, the car ahead drove on: it was not hidden
        // where it was last seen.
        let ahead = leaving(30.0, 100.0, 2.0);
        let behind = braking_from(36.0, 100.0 - 6.5, 2.0);
        no_hits_however_long_lost(&[(420.0, &behind), (400.0, &ahead)]);
    }

    #[test]
    fn riders_braking_side_by_side_whose_boxes_touch_are_no_collision() {
        // A red light, seen along the road: two riders side by side, 0.9 m apart across it,
        // each brake at 8 m/s² from 50 km/h to a stand, the one beside 3 m further on and
        // braking 0.2 s sooner. Their 0.9 m wide boxes come to touch at an edge from 1.8 s, as
        // from a pole the boxes of riders side by side in neighbouring columns meet; their feet
        // do not overlap across the road.
        let near = braking(0.0, 1.0);
        let beside = braking(3.0, 0.8);
        let hits = drive_boxes(&[rider(400.0, &near), rider(409.0, &beside)], 8.0, 10, drive_tracking());
        assert!(hits.is_empty(), "{hits:?}");
        // One behind the other, in line, the nearer one braking from 1.8 s and running into
        // the other's back at about 43 km/h, it is a crash.
        let ahead = |_t: f64| Some(28.0);
        let crash = |t: f64| braking_into(0.0, 1.8, 28.0)(t).map(|y| y - 1.6);
        let hits = drive_boxes(&[rider(400.0, &crash), rider(401.0, &ahead)], 8.0, 10, drive_tracking());
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn a_rear_end_seen_by_a_camera_turned_off_the_road_is_in_line() {
        // The road runs 25° off the camera's view. Seen from behind and a little from the
        // side, a car's box is 3.5 m wide at its foot; the standing car, 4.5 m further along
        // the road, lies 1.9 m aside along the picture's rows. Across the road the two are in
        // line: the car braking at 8 m/s² from 50 km/h into its back at about 48 km/h crashed.
        let (sin, cos) = 25f64.to_radians().sin_cos();
        let car = |f: &dyn Fn(f64) -> Option<f64>, t: f64| {
            let d = f(t)?;
            let (x, y) = ((400.0 + 10.0 * d * sin) as f32, (900.0 - 10.0 * d * cos) as f32);
            Some(BBox::new(x - 17.5, y - 50.0, x + 17.5, y))
        };
        let crash = braking_into(0.0, 1.8, 25.5);
        let standing = |_t: f64| Some(30.0);
        let hits =
            drive_boxes(&[Box::new(|t| car(&crash, t)), Box::new(|t| car(&standing, t))], 8.0, 10, drive_tracking());
        assert_eq!(hits.len(), 2, "{hits:?}");
        // From the impact (1.9 s), not once the car had stood so long that its way was
        // forgotten: read along the picture's rows the two are not in line, and the event came
        // at 3.8 s.
        assert!(hits[0].0 < 3.0, "{hits:?}");
    }

    #[test]
    fn a_car_braking_to_a_stand_behind_one_that_stood_first_is_no_collision() {
        // A queue: the car ahead rolls at 15 km/h and slows at 5 m/s² to a stand at 3 s; the
        // one behind, at 50 km/h, brakes at 8 m/s² from 2.3 s and stands at 4 s, its front
        // 3.5 m short. Their boxes meet from about 3.3 s, while the car ahead was still
        // moving a second before; it stood before the other did and stayed where it stood.
        let moving = braking(60.0, 2.3);
        let ahead = slowing(15.0, 96.5, 2.2, 5.0);
        assert!(drive(&[(400.0, &moving), (372.0, &ahead)], 10.0).is_empty());
        // Shoved 1.4 m on at 3.9 s, as the other comes to stand, it was run into.
        let shoved = shoved(&ahead, 3.9, 4.5);
        let hits = drive(&[(400.0, &moving), (372.0, &shoved)], 10.0);
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn passing_close_and_queueing_gently_are_not_collisions() {
        // A fast car passes a standing one, their boxes overlapping by 5 px on screen (another
        // lane), and goes on.
        let v = 60.0 / 3.6;
        let fast = move |t: f64| Some(20.0 + v * t);
        let standing = |_t: f64| Some(94.5);
        assert!(drive(&[(400.0, &fast), (375.0, &standing)], 10.0).is_empty());
        // A car closing up to a queue at 1.5 m/s², stopping touching it.
        let v = 20.0 / 3.6;
        let gentle = move |t: f64| {
            let ts = v / 1.5;
            let dt = t.min(ts);
            Some(90.0 - (v * ts - 0.75 * ts * ts) + v * dt - 0.75 * dt * dt + 0.2)
        };
        assert!(drive(&[(400.0, &gentle), (400.0, &standing)], 10.0).is_empty());
    }
}
