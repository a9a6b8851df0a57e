//! Whether a camera's speed rules can fire at all (issue 13, item 3), and whether its
//! `collision_suspect` can tell a near miss from a crash, for `anttd check`; and the road's
//! direction that its zones give the tracker.
//!
//! The pure measurements (how long a speed takes at a detect rate, how far a zone can be
//! measured through the calibration) are in [`crate::rules::feasibility`]; this applies them to
//! a camera's config. Pure computation; `check` prints the results.

use super::{CameraConfig, RuleConfig};
use crate::rules::feasibility::{
    MIN_SPEED_SAMPLES, MISSES_ALLOWED, WEAVE_MAX_ACCEL_MPS2, measurable_path_m, speed_needs_s, view_needs_s,
    weave_needs_s,
};
use crate::rules::kinematics::MAX_M_PER_PX;
use crate::rules::racing::{ROAD_MIN_ELONGATION, zone_axis};

/// A speed rule's view at its threshold speed: how long an object at that speed is in the
/// rule's zone where speeds can be measured, and how long the rule needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedView {
    pub rule: String,
    pub kind: &'static str,
    pub zone: String,
    pub speed_kmh: f64,
    /// Longest path through the zone where a speed can be measured, metres.
    pub path_m: f64,
    /// Seconds an object at `speed_kmh` takes along it.
    pub in_view_s: f64,
    pub fps: u32,
    /// Seconds for a speed at `fps` ([`speed_needs_s`]) …
    pub speed_s: f64,
    /// … plus the rule's `for_s` (0 for `collision_suspect`, and for `racing`, which waives it
    /// for a group or weaver that leaves the zone) …
    pub for_s: f64,
    /// … in whole intervals between detections, with one for the first detection's phase and
    /// one per missed detection ([`view_needs_s`]).
    pub needs_s: f64,
    /// A racing rule's `weave_amplitude_m` and `weave_min_swings`.
    pub weave: Option<(f64, u32)>,
}

impl SpeedView {
    /// The highest speed at which an object is in view for as long as the rule needs.
    pub fn max_kmh(&self) -> f64 {
        self.path_m / self.needs_s.max(1e-9) * 3.6
    }

    /// What the rule's `needs_s` is made of, for a message.
    fn needs_text(&self) -> String {
        let interval = 1.0 / f64::from(self.fps.max(1));
        let misses = match MISSES_ALLOWED {
            0 => String::new(),
            1 => format!(", + {interval:.1} s for one missed detection"),
            n => format!(", + {:.1} s for {n} missed detections", f64::from(n) * interval),
        };
        // Racing waives for_s for a group that leaves, and collision_suspect has none.
        let for_s = if self.kind == "speeding" { format!(", + for_s {:.1} s", self.for_s) } else { String::new() };
        format!(
            "{:.1} s at detect_fps {} ({:.1} s for a speed from >= {MIN_SPEED_SAMPLES} detections{for_s}, \
             + {interval:.1} s as the first detection can come that long after the object enters{misses})",
            self.needs_s, self.fps, self.speed_s
        )
    }
}

/// A speed rule fires at its threshold but misses what it exists for when an object at this
/// many times the threshold passes the view too fast to be measured: the speeders and racers a
/// district wants caught are the clearly fast ones.
pub const ESCAPE_FACTOR: f64 = 1.5;

/// A `speeding` or `racing` rule that fires at its threshold, but only up to
/// [`SpeedView::max_kmh`], below [`ESCAPE_FACTOR`] times the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct FastEscape(pub SpeedView);

/// A speed rule that cannot be relied on to fire: an object at its threshold speed is in view
/// (zone and measurable area) for less time than the rule needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall(pub SpeedView);

impl std::fmt::Display for FastEscape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.0;
        write!(
            f,
            "rule `{}` ({}) measures speeds only up to {:.0} km/h: a faster object is in zone `{}` where \
             speeds can be measured ({:.1} m) for less than the rule needs, {}, so one at {:.0} km/h ({ESCAPE_FACTOR} x {:.0}) \
             may pass unseen; raise detect_fps, lower for_s, or enlarge the zone",
            s.rule,
            s.kind,
            s.max_kmh(),
            s.zone,
            s.path_m,
            s.needs_text(),
            ESCAPE_FACTOR * s.speed_kmh,
            s.speed_kmh
        )
    }
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.0;
        write!(
            f,
            "rule `{}` ({}) cannot be relied on at {:.0} km/h: an object at that speed is in zone `{}` where \
             speeds can be measured (a pixel spans <= {MAX_M_PER_PX} m) for {:.1} s ({:.1} m), but the rule \
             needs {}; lower for_s, raise detect_fps, or enlarge the zone",
            s.rule,
            s.kind,
            s.speed_kmh,
            s.zone,
            s.in_view_s,
            s.path_m,
            s.needs_text()
        )
    }
}

/// Every speed rule of `cam` that cannot be relied on at its threshold speed; none without a
/// calibration.
pub fn shortfalls(cam: &CameraConfig) -> Vec<Shortfall> {
    speed_views(cam).into_iter().filter(|s| s.in_view_s < s.needs_s).map(Shortfall).collect()
}

/// Every `speeding` and `racing` rule of `cam` that fires at its threshold but not at
/// [`ESCAPE_FACTOR`] times it.
pub fn fast_escapes(cam: &CameraConfig) -> Vec<FastEscape> {
    speed_views(cam)
        .into_iter()
        .filter(|s| s.kind != "collision_suspect" && s.in_view_s >= s.needs_s)
        .filter(|s| s.max_kmh() < ESCAPE_FACTOR * s.speed_kmh)
        .map(FastEscape)
        .collect()
}

/// Every speed rule's numbers at its threshold speed, whether it fits or not.
pub fn speed_views(cam: &CameraConfig) -> Vec<SpeedView> {
    let Some(h) = cam.homography() else {
        return Vec::new();
    };
    let fps = cam.detect_fps.0;
    let mut out = Vec::new();
    for r in &cam.rules {
        let r = r.get_ref();
        let (speed_kmh, for_s, weave) = match r {
            RuleConfig::Speeding(c) => (c.limit_kmh.0, c.for_s.0, None),
            // A group or weaver that leaves the zone still racing starts the event however short
            // its time was (`rules::racing`): what it needs is a speed.
            RuleConfig::Racing(c) => (c.min_speed_kmh.0, 0.0, Some((c.weave_amplitude_m.0, c.weave_min_swings.0))),
            RuleConfig::CollisionSuspect(c) => (c.min_speed_kmh.0, 0.0, None),
            _ => continue,
        };
        let Some(zone) = cam.zone(r.zone()) else { continue };
        if speed_kmh <= 0.0 {
            continue;
        }
        let path_m = measurable_path_m(&h, &zone.polygon.0);
        let in_view_s = path_m / (speed_kmh / 3.6);
        out.push(SpeedView {
            rule: r.name().0.clone(),
            kind: r.kind(),
            zone: r.zone().0.clone(),
            speed_kmh,
            path_m,
            in_view_s,
            fps,
            speed_s: speed_needs_s(fps),
            for_s,
            needs_s: view_needs_s(fps, for_s, MISSES_ALLOWED),
            weave,
        });
    }
    out
}

/// A racing rule that cannot see a weaver: a rider at `min_speed_kmh` is in the zone where
/// speeds can be measured for less time than even the sharpest weave a rider can ride at the
/// rule's `weave_amplitude_m` takes to show `weave_min_swings` reversals (and a speed).
#[derive(Debug, Clone, PartialEq)]
pub struct WeaveShortfall {
    pub rule: String,
    pub zone: String,
    pub speed_kmh: f64,
    pub path_m: f64,
    pub in_view_s: f64,
    pub amplitude_m: f64,
    pub swings: u32,
    /// The sharpest weave's period ([`weave_needs_s`]) …
    pub period_s: f64,
    /// … and the time it needs in view, at least that of a speed.
    pub needs_s: f64,
}

impl std::fmt::Display for WeaveShortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule `{}` (racing) cannot see a weaver at {:.0} km/h: a rider at that speed is in zone `{}` \
             where speeds can be measured for {:.1} s ({:.1} m), but even the sharpest weave of +-{} m \
             (every {:.1} s, {WEAVE_MAX_ACCEL_MPS2} m/s2 sideways) shows {} reversals only after {:.1} s; \
             racing groups are still judged; weaving needs a longer view of the road",
            self.rule,
            self.speed_kmh,
            self.zone,
            self.in_view_s,
            self.path_m,
            self.amplitude_m,
            self.period_s,
            self.swings,
            self.needs_s
        )
    }
}

/// Every racing rule of `cam` that cannot see a weaver at its threshold speed; none without a
/// calibration.
pub fn weave_shortfalls(cam: &CameraConfig) -> Vec<WeaveShortfall> {
    speed_views(cam)
        .into_iter()
        .filter_map(|v| {
            let (amplitude_m, swings) = v.weave?;
            let (period_s, weave_s) = weave_needs_s(amplitude_m, swings);
            let needs_s = weave_s.max(v.speed_s);
            (v.in_view_s < needs_s).then_some(WeaveShortfall {
                rule: v.rule,
                zone: v.zone,
                speed_kmh: v.speed_kmh,
                path_m: v.path_m,
                in_view_s: v.in_view_s,
                amplitude_m,
                swings,
                period_s,
                needs_s,
            })
        })
        .collect()
}

/// A racing rule whose zone gives no road direction: its ground shape is less than
/// [`ROAD_MIN_ELONGATION`] times longer than wide, so weaving is judged across each rider's own
/// line, where a lane change at speed looks like a weave ([`super::racing::weave`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NoRoadAxis {
    pub rule: String,
    pub zone: String,
    /// How much longer than wide the zone is on the ground (None: it reaches past the horizon).
    pub elongation: Option<f64>,
}

impl std::fmt::Display for NoRoadAxis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shape = match self.elongation {
            Some(e) => format!("is {e:.1} times longer than wide on the ground"),
            None => "reaches past the horizon".to_string(),
        };
        write!(
            f,
            "rule `{}` (racing): zone `{}` {shape}, so it gives no road direction (it needs \
             {ROAD_MIN_ELONGATION} or more): weaving is judged across each rider's own line, where a fast \
             lane change can look like weaving; draw the zone along the road",
            self.rule, self.zone
        )
    }
}

/// Every racing rule of `cam` whose zone gives no road direction; none without a calibration.
pub fn no_road_axis(cam: &CameraConfig) -> Vec<NoRoadAxis> {
    let Some(h) = cam.homography() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &cam.rules {
        let r = r.get_ref();
        let RuleConfig::Racing(_) = r else { continue };
        let Some(zone) = cam.zone(r.zone()) else { continue };
        let elongation = zone_axis(&h, &zone.polygon.0).map(|(_, e)| e);
        if elongation.is_some_and(|e| e >= ROAD_MIN_ELONGATION) {
            continue;
        }
        out.push(NoRoadAxis { rule: r.name().0.clone(), zone: r.zone().0.clone(), elongation });
    }
    out
}

/// The road's direction on the ground (unit vector) where the camera is calibrated: the long
/// axis of its most elongated zone, if one is at least [`ROAD_MIN_ELONGATION`] times longer than
/// wide (drawn along the road). The tracker takes it for tracks seen once (`Tracker::with_road`).
pub fn road_direction(cam: &CameraConfig) -> Option<(f64, f64)> {
    let h = cam.homography()?;
    cam.zones
        .iter()
        .filter_map(|z| zone_axis(&h, &z.polygon.0))
        .filter(|(_, elongation)| *elongation >= ROAD_MIN_ELONGATION)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(dir, _)| dir)
}

/// A calibrated camera with rules on fast traffic but no zone drawn along the road: the tracker
/// has no road direction ([`road_direction`]), and at 3–5 detections a second a fast rider seen
/// once may lose its id to the one entering behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct NoRoadDirection {
    /// The rules that judge fast traffic (`speeding`, `racing`, `collision_suspect`).
    pub rules: Vec<String>,
}

impl std::fmt::Display for NoRoadDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no zone is drawn along the road ({ROAD_MIN_ELONGATION} or more times longer than wide on the \
             ground), so the tracker does not know the road's direction: at 3–5 detections a second a fast \
             rider seen once can be taken for the one entering behind it, and rules {} lose riders; draw one \
             zone along the road",
            self.rules.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// [`NoRoadDirection`] for `cam`, if it applies; none without a calibration.
pub fn no_road_direction(cam: &CameraConfig) -> Option<NoRoadDirection> {
    cam.homography()?;
    let rules: Vec<String> = cam
        .rules
        .iter()
        .map(|r| r.get_ref())
        .filter(|r| matches!(r, RuleConfig::Speeding(_) | RuleConfig::Racing(_) | RuleConfig::CollisionSuspect(_)))
        .map(|r| r.name().0.clone())
        .collect();
    (!rules.is_empty() && road_direction(cam).is_none()).then_some(NoRoadDirection { rules })
}

/// The detect rate below which `collision_suspect` often takes a near miss for a crash: a car
/// that brakes hard and stands just short of the one ahead is told from one that ran into it
/// by its detections as it creeps in, about 0.8 to 0.4 s before it stands (`rules::collision`),
/// and at 3 a second it is often not seen then. Over 100 simulated runs of such a near miss it
/// raised the event in 36 at 3 fps, 20 at 5 and 1 at 10 on an 8 m pole, and 15, 15 and 8 on a
/// 6 m pole with a wide lens. Below 5 a second is where the installer is told: 5 is the default
/// rate, and it halves the 8 m pole's share.
pub const NEAR_MISS_MIN_FPS: u32 = 5;

/// A `collision_suspect` rule on a camera detecting too rarely to tell a near miss from a crash.
#[derive(Debug, Clone, PartialEq)]
pub struct NearMissBlind {
    pub rule: String,
    pub fps: u32,
}

impl std::fmt::Display for NearMissBlind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule `{}` (collision_suspect): at detect_fps {} a car that brakes hard and stands just short of \
             the one ahead is often seen too rarely as it stops to tell it from one that ran into it, and is \
             reported as a crash (in the simulator a third of such near misses at 3 a second, a sixth at 5, \
             few at 10); detect at {NEAR_MISS_MIN_FPS} or more a second",
            self.rule, self.fps
        )
    }
}

/// Every `collision_suspect` rule of `cam` if it detects fewer than [`NEAR_MISS_MIN_FPS`] times
/// a second.
pub fn near_miss_blind(cam: &CameraConfig) -> Vec<NearMissBlind> {
    let fps = cam.detect_fps.0;
    if fps >= NEAR_MISS_MIN_FPS {
        return Vec::new();
    }
    cam.rules
        .iter()
        .map(|r| r.get_ref())
        .filter(|r| matches!(r, RuleConfig::CollisionSuspect(_)))
        .map(|r| NearMissBlind { rule: r.name().0.clone(), fps })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Point;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<Point> {
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    }

    /// A camera at `fps` with a flat 10 px/m calibration, a 50 m × 4 m zone and `rules`.
    fn camera(fps: u32, rules: &str) -> CameraConfig {
        let text = format!(
            "site = \"s\"\ndevice = \"d\"\n[model]\nmanifest = \"m.toml\"\n[[cameras]]\nid = \"cam1\"\n\
             uri = \"rtsp://h/s\"\ndetect_fps = {fps}\n[[cameras.zones]]\nname = \"road\"\n\
             polygon = [[0, 0], [500, 0], [500, 40], [0, 40]]\n[cameras.calibration]\n\
             image = [[0, 0], [100, 0], [100, 100], [0, 100]]\nground = [[0, 0], [10, 0], [10, 10], [0, 10]]\n{rules}"
        );
        let mut cfg = crate::config::Config::from_str(std::path::Path::new("t.toml"), &text).expect("config");
        cfg.cameras.remove(0)
    }

    /// A speeding rule on zone `road`, limit 60 km/h.
    fn speeding(name: &str, for_s: f64) -> String {
        format!(
            "[[cameras.rules]]\nkind = \"speeding\"\nname = \"{name}\"\nzone = \"road\"\nlimit_kmh = 60\nfor_s = {for_s}\n"
        )
    }

    #[test]
    fn a_rule_whose_for_s_does_not_fit_the_view_is_named_with_its_numbers() {
        // 50 m at 60 km/h: 3.0 s in view. At 5 fps a speed takes 3 intervals, the first
        // detection's phase and a missed one 2 more: for_s 1.5 (8 intervals) fits in 2.6 s,
        // for_s 3 (15) does not.
        let cam = camera(5, &(speeding("ok", 1.5) + &speeding("slow", 3.0)));
        let got = shortfalls(&cam);
        assert_eq!(got.len(), 1, "{got:?}");
        let s = &got[0].0;
        assert_eq!((s.rule.as_str(), s.kind, s.zone.as_str(), s.fps), ("slow", "speeding", "road", 5));
        assert!((s.path_m - 50.0).abs() < 0.3 && (s.in_view_s - 3.0).abs() < 0.02, "{s:?}");
        assert!((s.needs_s - 4.0).abs() < 1e-9 && (s.needs_s - view_needs_s(5, 3.0, MISSES_ALLOWED)).abs() < 1e-9);
        let text = got[0].to_string();
        assert!(text.starts_with("rule `slow` (speeding) cannot be relied on at 60 km/h"), "{text}");
        assert!(text.contains("for 3.0 s (49.9 m)") && text.contains("needs 4.0 s at detect_fps 5"), "{text}");
        assert!(
            text.contains("+ for_s 3.0 s, + 0.2 s as the first detection") && text.contains("one missed"),
            "{text}"
        );

        // Racing and collision thresholds too; no calibration, no warning.
        let cam = camera(
            3,
            "[[cameras.rules]]\nkind = \"racing\"\nname = \"race\"\nzone = \"road\"\nmin_speed_kmh = 150\nfor_s = 1\n\
             [[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"crash\"\nzone = \"road\"\n",
        );
        let got: Vec<&str> = shortfalls(&cam).iter().map(|s| s.0.kind).collect::<Vec<_>>();
        // 50 m at 150 km/h is 1.2 s: racing needs a speed (its for_s is waived for a group that
        // leaves), 4 intervals at 3 fps, 1.33 s; collision at 15 km/h fits.
        assert_eq!(got, vec!["racing"]);
        assert!((shortfalls(&cam)[0].0.needs_s - 4.0 / 3.0).abs() < 1e-9);
        let mut cam = cam;
        cam.calibration = None;
        assert!(shortfalls(&cam).is_empty());
    }

    #[test]
    fn a_rule_that_fires_at_its_threshold_but_not_at_half_again_is_named_with_its_reach() {
        // 50 m: at 3 fps a speed with a missed detection and the phase takes 4 intervals, so a
        // speeding rule with for_s 0 measures up to 135 km/h; with for_s 1, 7 intervals (2.33 s):
        // up to 77 km/h, short of 90 for a 60 km/h limit.
        let cam = camera(3, &(speeding("quick", 0.0) + &speeding("late", 1.0)));
        assert!(shortfalls(&cam).is_empty(), "both fire at 60 km/h");
        let got = fast_escapes(&cam);
        assert_eq!(got.iter().map(|e| e.0.rule.as_str()).collect::<Vec<_>>(), ["late"]);
        assert!((got[0].0.max_kmh() - 50.0 / (7.0 / 3.0) * 3.6).abs() < 0.5, "{:?}", got[0]);
        let text = got[0].to_string();
        assert!(text.starts_with("rule `late` (speeding) measures speeds only up to 77 km/h"), "{text}");
        assert!(text.contains("one at 90 km/h"), "{text}");
        // Collision rules are left out: a crash is slow by the time it happens.
        let crash =
            "[[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"crash\"\nzone = \"road\"\nmin_speed_kmh = 100\n";
        assert!(fast_escapes(&camera(3, crash)).is_empty());
    }

    #[test]
    fn a_racing_rule_whose_view_is_shorter_than_a_weave_is_named_with_its_numbers() {
        // ±0.5 m at 1 g: a period of 1.42 s, two reversals after 1.25 of it, 1.78 s. The 50 m
        // zone is 2.6 s at 70 km/h and 1.5 s at 120.
        let (period, needs) = weave_needs_s(0.5, 2);
        assert!((period - 1.419).abs() < 0.01 && (needs - 1.25 * period).abs() < 1e-9, "{period} {needs}");
        let racing = |name: &str, kmh: u32, extra: &str| {
            format!(
                "[[cameras.rules]]\nkind = \"racing\"\nname = \"{name}\"\nzone = \"road\"\nmin_speed_kmh = {kmh}\n{extra}"
            )
        };
        let rules = racing("town", 70, "") + &racing("highway", 120, "");
        let got = weave_shortfalls(&camera(5, &rules));
        assert_eq!(got.iter().map(|w| w.rule.as_str()).collect::<Vec<_>>(), ["highway"], "{got:?}");
        assert!((got[0].in_view_s - 1.5).abs() < 0.02 && (got[0].needs_s - needs).abs() < 1e-9, "{got:?}");
        let text = got[0].to_string();
        assert!(text.starts_with("rule `highway` (racing) cannot see a weaver at 120 km/h"), "{text}");
        assert!(text.contains("for 1.5 s (49.9 m)") && text.contains("shows 2 reversals only after 1.8 s"), "{text}");
        // A wider weave is slower: a rule that asks for ±1.5 m needs longer than the view at 70.
        let wide = weave_shortfalls(&camera(5, &racing("town", 70, "weave_amplitude_m = 1.5\n")));
        assert_eq!(wide.len(), 1, "{wide:?}");
        let mut cam = camera(5, &rules);
        cam.calibration = None;
        assert!(weave_shortfalls(&cam).is_empty());
    }

    #[test]
    fn a_camera_with_fast_traffic_rules_and_no_zone_along_the_road_is_told_to_draw_one() {
        let speeding = "[[cameras.rules]]\nkind = \"speeding\"\nname = \"fast\"\nzone = \"road\"\nlimit_kmh = 60\n";
        // The 50 m by 4 m zone runs along the road (x on the ground).
        let cam = camera(5, speeding);
        assert!(road_direction(&cam).is_some_and(|d| d.0.abs() > 0.999), "{:?}", road_direction(&cam));
        assert_eq!(no_road_direction(&cam), None);
        // The same rule on a square zone: no road direction.
        let mut square = cam.clone();
        square.zones[0].polygon.0 = rect(0.0, 0.0, 100.0, 100.0);
        assert_eq!(road_direction(&square), None);
        let got = no_road_direction(&square).expect("a warning");
        assert_eq!(got.rules, vec!["fast".to_string()]);
        assert!(got.to_string().contains("rules `fast` lose riders; draw one zone along the road"), "{got}");
        // No rule on fast traffic, or no calibration: nothing to say.
        let mut quiet = square.clone();
        quiet.rules.clear();
        assert_eq!(no_road_direction(&quiet), None);
        square.calibration = None;
        assert_eq!(no_road_direction(&square), None);
    }

    #[test]
    fn a_collision_rule_detecting_under_5_a_second_is_told_it_takes_near_misses_for_crashes() {
        let crash = "[[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"crash\"\nzone = \"road\"\n";
        let got = near_miss_blind(&camera(3, crash));
        assert_eq!(got, vec![NearMissBlind { rule: "crash".into(), fps: 3 }]);
        let text = got[0].to_string();
        assert!(text.starts_with("rule `crash` (collision_suspect): at detect_fps 3 a car"), "{text}");
        assert!(text.ends_with("detect at 5 or more a second"), "{text}");
        assert!(near_miss_blind(&camera(5, crash)).is_empty());
        assert!(near_miss_blind(&camera(3, &speeding("fast", 1.0))).is_empty());
    }

    #[test]
    fn a_racing_zone_that_gives_no_road_direction_is_named() {
        let racing = |zone: &str| {
            format!(
                "[[cameras.rules]]\nkind = \"racing\"\nname = \"race-{zone}\"\nzone = \"{zone}\"\nmin_speed_kmh = 70\n"
            )
        };
        // The road zone is 50 m by 4 m; a junction zone 10 m by 10 m.
        let junction = "[[cameras.zones]]\nname = \"junction\"\npolygon = [[0, 0], [100, 0], [100, 100], [0, 100]]\n";
        let cam = camera(5, &format!("{junction}{}{}", racing("road"), racing("junction")));
        let got = no_road_axis(&cam);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].rule.as_str(), got[0].zone.as_str()), ("race-junction", "junction"));
        assert!(got[0].elongation.is_some_and(|e| (e - 1.0).abs() < 1e-6), "{got:?}");
        let text = got[0].to_string();
        assert!(text.starts_with("rule `race-junction` (racing): zone `junction` is 1.0 times longer"), "{text}");
        assert!(text.contains("draw the zone along the road"), "{text}");
        let mut cam = cam;
        cam.calibration = None;
        assert!(no_road_axis(&cam).is_empty());
    }
}
