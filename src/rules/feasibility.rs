//! Whether a speed rule can fire on a camera at all (issue 13, item 3), for `anttd check`, and
//! where in the picture a speed can be measured, for `anttd overlay` to shade.
//!
//! A speed rule needs a track's speed, and then the speed above its threshold for `for_s`. An
//! object at exactly the threshold speed is in the rule's zone, where the picture is fine enough
//! to measure a speed, for as long as its path through that area takes: if that is shorter than
//! what the rule needs at the camera's `detect_fps`, no object at or near the threshold can raise
//! an event, however well the rest is set up. Pure computation; `check` prints the results.

use super::geometry::{Point, point_in_polygon};
use super::homography::Homography;
use super::kinematics::MAX_M_PER_PX;
use super::racing::{ROAD_MIN_ELONGATION, zone_axis};
use super::speed::{MIN_POINTS, MIN_SPAN_S};
use crate::config::{CameraConfig, RuleConfig};

/// Detections a speed needs: [`MIN_POINTS`] of them, spanning at least [`MIN_SPAN_S`] (the
/// first fit [`super::speed`] accepts).
pub const MIN_SPEED_SAMPLES: u32 = MIN_POINTS as u32;

pub use super::kinematics::measurable;

/// Side of the square blocks [`measurable_mask`] decides at once, pixels.
pub const MASK_BLOCK: u32 = 8;

/// Which pixels of a `width` × `height` picture are [`measurable`] (at the pixel's centre), for
/// `anttd overlay` to shade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurableMask {
    pub width: u32,
    pub height: u32,
    /// Row by row: pixel (x, y) at `y * width + x`.
    cells: Vec<bool>,
}

impl MeasurableMask {
    /// Whether pixel (x, y) is measurable; `false` outside the picture.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.cells[(y as usize) * (self.width as usize) + x as usize]
    }

    /// How many pixels are measurable.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|&&c| c).count()
    }
}

/// The measurable area of a `width` × `height` picture. Cheap: the area is bounded by one smooth
/// curve (where a pixel spans [`MAX_M_PER_PX`]) and the horizon, so each [`MASK_BLOCK`]-square
/// block whose four corner pixels agree is filled with their answer, and only blocks the boundary
/// crosses are tested pixel by pixel: measured on the docs' example calibration, 2 ms for
/// 1280 × 720 (5 ms for 1920 × 1080) against 23 ms (45 ms) pixel by pixel, with the same answer.
/// One test per row would be cheaper still but wrong on 1–2 % of the pixels even there: the
/// limit is not a row.
pub fn measurable_mask(h: &Homography, width: u32, height: u32) -> MeasurableMask {
    let (w, hgt) = (width as usize, height as usize);
    let mut cells = vec![false; w * hgt];
    let at = |x: u32, y: u32| measurable(h, (x as f32 + 0.5, y as f32 + 0.5));
    for by in (0..height).step_by(MASK_BLOCK as usize) {
        let y1 = (by + MASK_BLOCK).min(height) - 1;
        for bx in (0..width).step_by(MASK_BLOCK as usize) {
            let x1 = (bx + MASK_BLOCK).min(width) - 1;
            let corners = [at(bx, by), at(x1, by), at(bx, y1), at(x1, y1)];
            let uniform = corners.iter().all(|&c| c == corners[0]);
            for y in by..=y1 {
                for x in bx..=x1 {
                    cells[(y as usize) * w + x as usize] = if uniform { corners[0] } else { at(x, y) };
                }
            }
        }
    }
    MeasurableMask { width, height, cells }
}

/// Seconds of track a speed takes at `fps` detections a second: the samples must span
/// [`MIN_SPAN_S`], and [`MIN_SPEED_SAMPLES`] samples span that many frames less one.
pub fn speed_needs_s(fps: u32) -> f64 {
    let frames = f64::from(MIN_SPEED_SAMPLES.saturating_sub(1)) / f64::from(fps.max(1));
    MIN_SPAN_S.max(frames)
}

/// The longest straight path on the ground (metres) inside both the zone (`polygon`, image
/// pixels) and the measurable area, along the zone's longest ground extent (the two zone
/// corners furthest apart on the ground), over parallel paths across the zone.
pub fn measurable_path_m(h: &Homography, polygon: &[Point]) -> f64 {
    // Corners at or beyond the horizon have no ground point; nothing there is measurable.
    let ground: Vec<(f64, f64)> = polygon.iter().filter_map(|&p| h.to_ground(p)).collect();
    let mut far = (0.0, (0.0, 0.0), (0.0, 0.0));
    for (i, &a) in ground.iter().enumerate() {
        for &b in &ground[i + 1..] {
            let d = (a.0 - b.0).hypot(a.1 - b.1);
            if d > far.0 {
                far = (d, a, b);
            }
        }
    }
    let (len, a, b) = far;
    if len <= 0.0 {
        return 0.0;
    }
    let dir = ((b.0 - a.0) / len, (b.1 - a.1) / len);
    let normal = (-dir.1, dir.0);
    let across = |g: (f64, f64)| (g.0 - a.0) * normal.0 + (g.1 - a.1) * normal.1;
    let (o0, o1) = ground.iter().fold((0.0f64, 0.0f64), |(lo, hi), &g| (lo.min(across(g)), hi.max(across(g))));
    // Within 500 m, in at most 2000 steps of at least 10 cm.
    let len = len.min(500.0);
    let step = (len / 2000.0).max(0.1);
    let mut best: f64 = 0.0;
    const PATHS: usize = 21;
    for k in 0..PATHS {
        let o = o0 + (o1 - o0) * (k as f64 + 0.5) / PATHS as f64;
        let mut run: f64 = 0.0;
        let mut s = 0.0;
        while s <= len {
            let g = (a.0 + dir.0 * s + normal.0 * o, a.1 + dir.1 * s + normal.1 * o);
            let ok = h.to_image(g).is_some_and(|p| point_in_polygon(polygon, p) && measurable(h, p));
            run = if ok { run + step } else { 0.0 };
            best = best.max(run);
            s += step;
        }
    }
    best
}

/// One speed rule that cannot fire: an object at its threshold speed is in view (zone and
/// measurable area) for less time than the rule needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
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
    /// … plus the rule's `for_s` (0 for `collision_suspect`).
    pub for_s: f64,
}

impl Shortfall {
    pub fn needs_s(&self) -> f64 {
        self.speed_s + self.for_s
    }
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule `{}` ({}) cannot fire at {:.0} km/h: an object at that speed is in zone `{}` where speeds \
             can be measured (a pixel spans <= {MAX_M_PER_PX} m) for {:.1} s ({:.1} m), but the rule needs \
             {:.1} s at detect_fps {} ({:.1} s for a speed from >= {MIN_SPEED_SAMPLES} detections + for_s {:.1} s); \
             lower for_s, raise detect_fps, or enlarge the zone",
            self.rule,
            self.kind,
            self.speed_kmh,
            self.zone,
            self.in_view_s,
            self.path_m,
            self.needs_s(),
            self.fps,
            self.speed_s,
            self.for_s
        )
    }
}

/// Every speed rule of `cam` that cannot fire at its threshold speed; none without a
/// calibration.
pub fn shortfalls(cam: &CameraConfig) -> Vec<Shortfall> {
    let Some(h) = cam.homography() else {
        return Vec::new();
    };
    let fps = cam.detect_fps.0;
    let mut out = Vec::new();
    for r in &cam.rules {
        let r = r.get_ref();
        let (speed_kmh, for_s) = match r {
            RuleConfig::Speeding(c) => (c.limit_kmh.0, c.for_s.0),
            RuleConfig::Racing(c) => (c.min_speed_kmh.0, c.for_s.0),
            RuleConfig::CollisionSuspect(c) => (c.min_speed_kmh.0, 0.0),
            _ => continue,
        };
        let Some(zone) = cam.zone(r.zone()) else { continue };
        if speed_kmh <= 0.0 {
            continue;
        }
        let path_m = measurable_path_m(&h, &zone.polygon.0);
        let in_view_s = path_m / (speed_kmh / 3.6);
        let speed_s = speed_needs_s(fps);
        if in_view_s < speed_s + for_s {
            out.push(Shortfall {
                rule: r.name().0.clone(),
                kind: r.kind(),
                zone: r.zone().0.clone(),
                speed_kmh,
                path_m,
                in_view_s,
                fps,
                speed_s,
                for_s,
            });
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 px a metre, no perspective: a pixel spans 0.1 m everywhere.
    fn flat() -> Homography {
        Homography::from_pairs(
            &[[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
        )
        .expect("fit")
    }

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<Point> {
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    }

    #[test]
    fn a_speed_takes_the_minimum_span_or_three_detections() {
        assert!((speed_needs_s(10) - MIN_SPAN_S).abs() < 1e-9);
        assert!((speed_needs_s(5) - MIN_SPAN_S).abs() < 1e-9);
        // At 2 fps three detections span 1 s.
        assert!((speed_needs_s(2) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_path_is_the_zone_s_longest_ground_extent_where_fine_enough() {
        let h = flat();
        // 50 m × 4 m of road: the path runs along the 50 m (within a step or two).
        let got = measurable_path_m(&h, &rect(0.0, 0.0, 500.0, 40.0));
        assert!((got - 50.0).abs() < 0.3, "{got}");
        // A pixel spanning 2 m: nothing is measurable.
        let coarse = Homography::from_pairs(
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
            &[[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]],
        )
        .expect("fit");
        assert_eq!(measurable_path_m(&coarse, &rect(0.0, 0.0, 50.0, 4.0)), 0.0);
        assert!(measurable(&h, (10.0, 10.0)) && !measurable(&coarse, (1.0, 1.0)));
    }

    /// The docs' example calibration on a 1280 × 720 picture: a road seen in perspective, pixels
    /// coarse towards the top.
    fn road() -> Homography {
        Homography::from_pairs(
            &[[440.0, 700.0], [840.0, 700.0], [700.0, 160.0], [560.0, 160.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit")
    }

    fn brute_force(h: &Homography, width: u32, height: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..height {
            for x in 0..width {
                if measurable(h, (x as f32 + 0.5, y as f32 + 0.5)) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    fn listed(m: &MeasurableMask) -> Vec<(u32, u32)> {
        (0..m.height).flat_map(|y| (0..m.width).map(move |x| (x, y))).filter(|&(x, y)| m.get(x, y)).collect()
    }

    #[test]
    fn the_mask_by_blocks_is_the_pixel_by_pixel_test() {
        // Perspective, a picture size that is no multiple of the block, and the same road turned
        // a little (so the boundary is not a row).
        let turned = Homography::from_pairs(
            &[[400.0, 690.0], [800.0, 710.0], [690.0, 170.0], [550.0, 150.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit");
        for (h, w, hgt) in [(road(), 1280, 720), (road(), 1283, 717), (turned, 1280, 720)] {
            let m = measurable_mask(&h, w, hgt);
            let want = brute_force(&h, w, hgt);
            assert_eq!(listed(&m), want);
            let n = want.len();
            assert!(n > 0 && n < (w * hgt) as usize, "{n}: both parts are in the picture");
            assert_eq!(m.count(), n);
        }
        // Near the camera (bottom) measurable, towards the horizon (top) not.
        let m = measurable_mask(&road(), 1280, 720);
        assert!(m.get(640, 700) && !m.get(640, 5));
        assert!(!m.get(1280, 700) && !m.get(0, 720), "outside the picture");
        // Everything at 10 px a metre; nothing at 2 m a pixel.
        assert_eq!(measurable_mask(&flat(), 50, 30).count(), 1500);
        let coarse = Homography::from_pairs(
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
            &[[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]],
        )
        .expect("fit");
        assert_eq!(measurable_mask(&coarse, 50, 30).count(), 0);
        assert_eq!(measurable_mask(&flat(), 0, 0).count(), 0);
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

    #[test]
    fn a_rule_whose_for_s_does_not_fit_the_view_is_named_with_its_numbers() {
        // 50 m at 60 km/h: 3.0 s in view. for_s 2 + 0.6 s for a speed fits; for_s 3 does not.
        let rule = |name: &str, for_s: f64| {
            format!(
                "[[cameras.rules]]\nkind = \"speeding\"\nname = \"{name}\"\nzone = \"road\"\nlimit_kmh = 60\nfor_s = {for_s}\n"
            )
        };
        let cam = camera(5, &(rule("ok", 2.0) + &rule("slow", 3.0)));
        let got = shortfalls(&cam);
        assert_eq!(got.len(), 1, "{got:?}");
        let s = &got[0];
        assert_eq!((s.rule.as_str(), s.kind, s.zone.as_str(), s.fps), ("slow", "speeding", "road", 5));
        assert!((s.path_m - 50.0).abs() < 0.3 && (s.in_view_s - 3.0).abs() < 0.02, "{s:?}");
        assert!((s.needs_s() - (speed_needs_s(5) + 3.0)).abs() < 1e-9);
        let text = s.to_string();
        assert!(text.starts_with("rule `slow` (speeding) cannot fire at 60 km/h"), "{text}");
        assert!(text.contains("for 3.0 s (50.") && text.contains("needs 3.6 s at detect_fps 5"), "{text}");

        // Racing and collision thresholds too; no calibration, no warning.
        let cam = camera(
            3,
            "[[cameras.rules]]\nkind = \"racing\"\nname = \"race\"\nzone = \"road\"\nmin_speed_kmh = 120\nfor_s = 1\n\
             [[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"crash\"\nzone = \"road\"\n",
        );
        let got: Vec<&str> = shortfalls(&cam).iter().map(|s| s.kind).collect::<Vec<_>>();
        // 50 m at 120 km/h is 1.5 s: racing needs 1 s + a speed; collision at 15 km/h fits.
        assert_eq!(got, vec!["racing"]);
        let mut cam = cam;
        cam.calibration = None;
        assert!(shortfalls(&cam).is_empty());
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
