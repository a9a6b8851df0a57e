//! The installer's picture (`anttd overlay`): a camera frame with its zones, its lines and their
//! direction arrows, a 1 m ground grid from the calibration with the area where speeds can be
//! measured shaded, and the current detections. Installers check a set-up by looking at it.

use ab_glyph::FontVec;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_hollow_polygon_mut, draw_line_segment_mut};
use imageproc::point::Point as IPoint;

use super::draw::{draw_arrow, draw_detections, draw_label};
use crate::detect::Detection;
use crate::detect::manifest::LabelMap;
use crate::geometry::Point;
use crate::geometry::homography::Homography;
use crate::rules::feasibility::{MeasurableMask, measurable_mask};
use crate::rules::kinematics::MAX_M_PER_PX;

/// What the overlay draws of a camera's set-up (`crate::config::CameraConfig::scene` makes it):
/// its zones, its counting lines and, where it is calibrated, the ground.
#[derive(Debug, Clone, Default)]
pub struct Scene {
    pub zones: Vec<SceneZone>,
    pub lines: Vec<SceneLine>,
    pub ground: Option<Ground>,
}

#[derive(Debug, Clone)]
pub struct SceneZone {
    pub name: String,
    pub polygon: Vec<Point>,
}

/// A counting line: from `points[0]` to `points[1]`, with the names of the directions that cross
/// it to the arrow's right and to its left.
#[derive(Debug, Clone)]
pub struct SceneLine {
    pub name: String,
    pub points: [[f32; 2]; 2],
    pub directions: [String; 2],
}

/// A calibrated ground: the 1 m grid is drawn over `extent` (x0, y0, x1, y1 in metres).
#[derive(Debug, Clone)]
pub struct Ground {
    pub homography: Homography,
    pub extent: [f64; 4],
}

const ZONE: Rgb<u8> = Rgb([80, 255, 80]);
const LINE: Rgb<u8> = Rgb([255, 60, 60]);
const GRID: Rgb<u8> = Rgb([255, 255, 120]);
/// The tint of the area where speeds can be measured, and how much of it a shaded pixel takes.
const MEASURABLE: Rgb<u8> = Rgb([60, 130, 255]);
const TINT: f32 = 0.3;

/// Draw a camera's `scene` on `img`, then the detections.
pub fn draw_overlay(img: &mut RgbImage, scene: &Scene, dets: &[Detection], labels: &LabelMap, font: Option<&FontVec>) {
    // Under everything else, so zones, lines and the grid keep their colours.
    let mut measurable_px = None;
    if let Some(g) = &scene.ground {
        let mask = measurable_mask(&g.homography, img.width(), img.height());
        shade(img, &mask, MEASURABLE, TINT);
        measurable_px = Some(mask.count());
        draw_ground_grid(img, &g.homography, &g.extent, GRID);
    }
    for z in &scene.zones {
        let pts: Vec<IPoint<f32>> = z.polygon.iter().map(|&(x, y)| IPoint::new(x, y)).collect();
        // imageproc refuses a closed list; the polygon is closed implicitly.
        if pts.len() >= 3 && pts.first() != pts.last() {
            for dx in [-1.0f32, 0.0, 1.0] {
                let shifted: Vec<IPoint<f32>> = pts.iter().map(|p| IPoint::new(p.x + dx, p.y)).collect();
                draw_hollow_polygon_mut(img, &shifted, ZONE);
            }
        }
        if let (Some(font), Some(&(x, y))) = (font, z.polygon.first()) {
            draw_label(img, font, x, y, &format!("zone {}", z.name), ZONE);
        }
    }
    for l in &scene.lines {
        let [a, b] = l.points;
        draw_arrow(img, (a[0], a[1]), (b[0], b[1]), LINE);
        if let Some(font) = font {
            let d = &l.directions;
            let text = format!("{}: {} → right of arrow, {} → left", l.name, d[0], d[1]);
            draw_label(img, font, a[0], a[1], &text, LINE);
        }
    }
    draw_detections(img, dets, labels, font);
    // Last, so no box hides it: what the tint means, at the bottom left.
    if let (Some(font), Some(n)) = (font, measurable_px) {
        draw_label(img, font, 0.0, img.height() as f32, &legend(n), MEASURABLE);
    }
}

/// The legend of the shaded area, given how many pixels are shaded.
fn legend(measurable_px: usize) -> String {
    if measurable_px == 0 {
        format!("nothing shaded: no speed can be measured anywhere here (no pixel ≤ {MAX_M_PER_PX} m on the ground)")
    } else {
        format!("shaded: speeds measurable (a pixel ≤ {MAX_M_PER_PX} m on the ground)")
    }
}

/// Blend `colour` into every pixel of `mask`, `alpha` of it, and draw the mask's edge inside the
/// picture in `colour` itself (2 pixels wide), so the limit shows on any scene.
pub fn shade(img: &mut RgbImage, mask: &MeasurableMask, colour: Rgb<u8>, alpha: f32) {
    let (w, h) = (img.width(), img.height());
    // In the mask, next to a pixel of the picture that is not (within 2 pixels).
    let edge = |x: u32, y: u32| {
        [(-1i64, 0i64), (1, 0), (0, -1), (0, 1), (-2, 0), (2, 0), (0, -2), (0, 2)].iter().any(|&(dx, dy)| {
            let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
            nx >= 0 && ny >= 0 && nx < i64::from(w) && ny < i64::from(h) && !mask.get(nx as u32, ny as u32)
        })
    };
    for (x, y, p) in img.enumerate_pixels_mut() {
        if !mask.get(x, y) {
            continue;
        }
        if edge(x, y) {
            *p = colour;
            continue;
        }
        for c in 0..3 {
            p[c] = (f32::from(p[c]) * (1.0 - alpha) + f32::from(colour[c]) * alpha).round() as u8;
        }
    }
}

/// Lines every metre across `extent` (x0, y0, x1, y1 in metres), projected into the image; each
/// line is drawn in short pieces so that parts beyond the horizon are simply left out.
pub fn draw_ground_grid(img: &mut RgbImage, h: &Homography, extent: &[f64; 4], colour: Rgb<u8>) {
    let [x0, y0, x1, y1] = *extent;
    // Bounded, so a huge calibration cannot make this run for ever.
    if !(x1 > x0 && y1 > y0) || (x1 - x0) * (y1 - y0) > 250_000.0 {
        return;
    }
    let (w, hgt) = (img.width() as f32, img.height() as f32);
    let mut segment = |a: (f64, f64), b: (f64, f64)| {
        if let (Some(p), Some(q)) = (h.to_image(a), h.to_image(b))
            && [p.0, p.1, q.0, q.1].iter().all(|v| v.is_finite())
            && (p.0 - q.0).abs() < w
            && (p.1 - q.1).abs() < hgt
        {
            draw_line_segment_mut(img, p, q, colour);
        }
    };
    const STEP: f64 = 0.25;
    let mut x = x0;
    while x <= x1 {
        let mut y = y0;
        while y < y1 {
            segment((x, y), (x, y + STEP));
            y += STEP;
        }
        x += 1.0;
    }
    let mut y = y0;
    while y <= y1 {
        let mut x = x0;
        while x < x1 {
            segment((x, y), (x + STEP, y));
            x += STEP;
        }
        y += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn camera() -> Scene {
        let text = r#"site = "s"
device = "d"
[model]
manifest = "m.toml"
[[cameras]]
id = "c"
uri = "rtsp://h/s"
[[cameras.lines]]
name = "gate"
points = [[20, 150], [180, 150]]
[[cameras.zones]]
name = "road"
polygon = [[10, 10], [100, 10], [100, 90], [10, 90]]
[cameras.calibration]
image = [[0, 0], [200, 0], [200, 200], [0, 200]]
ground = [[0, 0], [10, 0], [10, 10], [0, 10]]
"#;
        Config::from_str(std::path::Path::new("/x/a.toml"), text).expect("config").cameras.remove(0).scene()
    }

    #[test]
    fn zones_lines_and_grid_land_where_configured() {
        let cam = camera();
        let labels = LabelMap::new(
            vec!["person".into()],
            &crate::detect::manifest::Groups { person: vec!["person".into()], vehicle: vec![], motorcycle: vec![] },
        )
        .expect("labels");
        let mut img = RgbImage::new(200, 200);
        draw_overlay(&mut img, &cam, &[], &labels, None);
        assert_eq!(*img.get_pixel(55, 10), ZONE, "top edge of the zone");
        assert_eq!(*img.get_pixel(100, 50), ZONE, "right edge of the zone");
        assert_eq!(*img.get_pixel(100, 150), LINE, "the line");
        // 20 px per metre: grid lines at x = 20, 40, ... away from zone and line.
        assert_eq!(*img.get_pixel(140, 175), GRID, "a vertical grid line");
        assert_eq!(*img.get_pixel(150, 180), GRID, "a horizontal grid line");
        // 0.05 m a pixel everywhere: all of the picture is measurable, so shaded.
        assert_eq!(*img.get_pixel(150, 175), tinted(Rgb([0, 0, 0])), "between grid lines");
    }

    fn tinted(p: Rgb<u8>) -> Rgb<u8> {
        let mut img = RgbImage::from_pixel(1, 1, p);
        // 0.1 m a pixel.
        let ten = SQUARE.map(|[x, y]| [x * 10.0, y * 10.0]);
        let mask = measurable_mask(&Homography::from_pairs(&ten, &SQUARE).expect("fit"), 1, 1);
        shade(&mut img, &mask, MEASURABLE, TINT);
        *img.get_pixel(0, 0)
    }

    const SQUARE: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];

    #[test]
    fn the_measurable_area_is_shaded_and_the_rest_left_alone() {
        // A road seen in perspective on 1280 × 720: fine near the camera (bottom), coarse towards
        // the horizon (top).
        let text = r#"site = "s"
device = "d"
[model]
manifest = "m.toml"
[[cameras]]
id = "c"
uri = "rtsp://h/s"
[cameras.calibration]
image = [[440, 700], [840, 700], [700, 160], [560, 160]]
ground = [[0, 0], [10, 0], [10, 30], [0, 30]]
"#;
        let cam = Config::from_str(std::path::Path::new("/x/a.toml"), text).expect("config").cameras.remove(0).scene();
        let grey = Rgb([100, 100, 100]);
        let mut img = RgbImage::from_pixel(1280, 720, grey);
        let labels = LabelMap::new(
            vec!["person".into()],
            &crate::detect::manifest::Groups { person: vec!["person".into()], vehicle: vec![], motorcycle: vec![] },
        )
        .expect("labels");
        let font = super::super::draw::load_font();
        draw_overlay(&mut img, &cam, &[], &labels, font.as_ref());
        let mask = measurable_mask(&cam.ground.as_ref().expect("calibrated").homography, 1280, 720);
        assert!(mask.get(1270, 600) && !mask.get(1270, 10), "the test needs both parts");
        // Off the grid (right edge): shaded where measurable, untouched where not.
        assert_eq!(*img.get_pixel(1270, 600), tinted(grey));
        assert_eq!(*img.get_pixel(1270, 10), grey);
        // The limit itself, on the first measurable row of a column, in full colour.
        let top = (0..720).find(|&y| mask.get(1270, y)).expect("a measurable row");
        assert_eq!(*img.get_pixel(1270, top), MEASURABLE);
        assert_eq!(*img.get_pixel(1270, top - 1), grey);
        assert_ne!(tinted(grey), grey);
        // The legend's tab at the bottom left, when a font is installed.
        if font.is_some() {
            assert_eq!(*img.get_pixel(1, 718), MEASURABLE, "legend");
        }
        assert!(legend(5).starts_with("shaded: speeds measurable (a pixel ≤ 0.5 m"));
        assert!(legend(0).starts_with("nothing shaded"));
    }
}
