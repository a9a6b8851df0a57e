//! A pinhole camera on a pole above a flat road, to turn simulated road users into pixels.
//!
//! World axes, metres: `x` across the road (right, seen from the camera), `y` along the road away
//! from the camera, `z` up. The camera stands at `(x_m, 0, height_m)` and looks along `+y`,
//! turned right by `pan_deg` and down by `tilt_deg`. Pixels have `u` rightwards and `v` down, as
//! in the detector's boxes.

/// Points closer than this in front of the lens are treated as behind it: their projection
/// would be meaningless (and they are far below the picture anyway).
const MIN_DEPTH_M: f64 = 0.1;

#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub name: &'static str,
    pub height_m: f64,
    /// Down from horizontal.
    pub tilt_deg: f64,
    /// Horizontal field of view.
    pub hfov_deg: f64,
    pub width: u32,
    pub height: u32,
    /// Rightwards from the road's direction.
    pub pan_deg: f64,
    /// The camera's position across the road.
    pub x_m: f64,
    /// The part of the road (along `y`) the scenarios' zones and the calibration may use: from
    /// just inside the bottom of the picture to where one pixel still spans well under 0.5 m on
    /// the ground (the rules give no speed beyond that).
    pub near_m: f64,
    pub far_m: f64,
}

/// The named geometries `anttd scenarios --geometry` knows.
pub const GEOMETRIES: &[&str] = &["pole8", "pole6wide", "rooftop10"];

impl Camera {
    /// A named geometry, or `None`.
    pub fn named(name: &str) -> Option<Camera> {
        let c = match name {
            // 8 m pole, 62° lens: road visible from about 8 m to 55 m.
            "pole8" => Camera {
                name: "pole8",
                height_m: 8.0,
                tilt_deg: 27.0,
                hfov_deg: 62.0,
                width: 1280,
                height: 720,
                pan_deg: 0.0,
                x_m: 0.0,
                near_m: 9.0,
                far_m: 50.0,
            },
            // 6 m pole, wide 90° lens at 1080p: from about 5 m to the horizon; pixels get coarse
            // beyond about 45 m.
            "pole6wide" => Camera {
                name: "pole6wide",
                height_m: 6.0,
                tilt_deg: 22.0,
                hfov_deg: 90.0,
                width: 1920,
                height: 1080,
                pan_deg: 0.0,
                x_m: 0.0,
                near_m: 6.0,
                far_m: 45.0,
            },
            // 10 m rooftop looking steeply down: a short stretch, about 8 m to 33 m.
            "rooftop10" => Camera {
                name: "rooftop10",
                height_m: 10.0,
                tilt_deg: 35.0,
                hfov_deg: 60.0,
                width: 1280,
                height: 720,
                pan_deg: 0.0,
                x_m: 0.0,
                near_m: 9.0,
                far_m: 32.0,
            },
            _ => return None,
        };
        Some(c)
    }

    /// Focal length in pixels (square pixels).
    pub fn focal_px(&self) -> f64 {
        f64::from(self.width) / 2.0 / (self.hfov_deg.to_radians() / 2.0).tan()
    }

    /// The camera's unit axes in world coordinates: forward, right, down (picture `v`).
    fn axes(&self) -> ([f64; 3], [f64; 3], [f64; 3]) {
        let (t, p) = (self.tilt_deg.to_radians(), self.pan_deg.to_radians());
        let fwd = [p.sin() * t.cos(), p.cos() * t.cos(), -t.sin()];
        let right = [p.cos(), -p.sin(), 0.0];
        // down = forward × right
        let down = [
            fwd[1] * right[2] - fwd[2] * right[1],
            fwd[2] * right[0] - fwd[0] * right[2],
            fwd[0] * right[1] - fwd[1] * right[0],
        ];
        (fwd, right, down)
    }

    /// Depth in front of the lens (metres along the optical axis) and pixel position of a world
    /// point; `None` when it is behind the camera.
    pub fn project(&self, p: [f64; 3]) -> Option<(f64, f64, f64)> {
        let (fwd, right, down) = self.axes();
        let d = [p[0] - self.x_m, p[1], p[2] - self.height_m];
        let dot = |a: [f64; 3]| a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
        let depth = dot(fwd);
        if depth < MIN_DEPTH_M {
            return None;
        }
        let f = self.focal_px();
        let u = f64::from(self.width) / 2.0 + f * dot(right) / depth;
        let v = f64::from(self.height) / 2.0 + f * dot(down) / depth;
        Some((depth, u, v))
    }

    /// Pixel position of a ground point `(x, y)`.
    pub fn ground_to_image(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        self.project([x, y, 0.0]).map(|(_, u, v)| (u, v))
    }

    /// Whether a pixel position is inside the picture.
    pub fn in_picture(&self, u: f64, v: f64) -> bool {
        (0.0..=f64::from(self.width)).contains(&u) && (0.0..=f64::from(self.height)).contains(&v)
    }

    /// A pixel clamped into the picture.
    pub fn clamp(&self, u: f64, v: f64) -> (f64, f64) {
        (u.clamp(0.0, f64::from(self.width) - 1.0), v.clamp(0.0, f64::from(self.height) - 1.0))
    }

    /// Ground calibration pairs (`image`, `ground`) for `[cameras.calibration]`: the corners and
    /// edge midpoints of a rectangle `half_width_m` to each side of the road's middle, from
    /// `near_m` to `far_m`, projected. Points that fall outside the picture are left out.
    pub fn calibration(&self, half_width_m: f64) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
        let mid = (self.near_m + self.far_m) / 2.0;
        let ground = [
            [-half_width_m, self.near_m],
            [half_width_m, self.near_m],
            [half_width_m, mid],
            [half_width_m, self.far_m],
            [-half_width_m, self.far_m],
            [-half_width_m, mid],
        ];
        let mut img = Vec::new();
        let mut gnd = Vec::new();
        for g in ground {
            if let Some((u, v)) = self.ground_to_image(g[0], g[1]).filter(|&(u, v)| self.in_picture(u, v)) {
                // Rounded to tenths of a pixel, as a person would type them.
                img.push([(u * 10.0).round() / 10.0, (v * 10.0).round() / 10.0]);
                gnd.push(g);
            }
        }
        (img, gnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::homography::Homography;

    #[test]
    fn the_road_straight_ahead_projects_to_the_middle_column() {
        for name in GEOMETRIES {
            let cam = Camera::named(name).expect("geometry");
            let (u, v) = cam.ground_to_image(0.0, 20.0).expect("in front");
            assert!((u - f64::from(cam.width) / 2.0).abs() < 1e-9, "{name}: {u}");
            // Farther is higher up the picture.
            let (_, v2) = cam.ground_to_image(0.0, 30.0).expect("in front");
            assert!(v2 < v, "{name}");
            // The point where the optical axis meets the ground is the picture's centre.
            let y_axis = cam.height_m / cam.tilt_deg.to_radians().tan();
            let (uc, vc) = cam.ground_to_image(0.0, y_axis).expect("in front");
            assert!((uc - f64::from(cam.width) / 2.0).abs() < 1e-6 && (vc - f64::from(cam.height) / 2.0).abs() < 1e-6);
            // Behind the camera: no projection.
            assert!(cam.project([0.0, -20.0, 0.0]).is_none());
        }
    }

    #[test]
    fn pole8_sees_the_road_from_about_8_to_55_m() {
        let cam = Camera::named("pole8").expect("pole8");
        let (_, v) = cam.ground_to_image(0.0, 8.0).expect("front");
        assert!(v > 700.0 && v < 740.0, "{v}");
        let (_, v) = cam.ground_to_image(0.0, 52.0).expect("front");
        assert!(v > 0.0 && v < 30.0, "{v}");
        let (_, v) = cam.ground_to_image(0.0, 58.0).expect("front");
        assert!(v < 0.0, "{v}");
        // A known point: 2 m right at 20 m.
        let (u, _) = cam.ground_to_image(2.0, 20.0).expect("front");
        let depth = 20.0 * 27f64.to_radians().cos() + 8.0 * 27f64.to_radians().sin();
        assert!((u - (640.0 + cam.focal_px() * 2.0 / depth)).abs() < 1e-6, "{u}");
    }

    #[test]
    fn calibration_round_trips_through_the_homography() {
        for name in GEOMETRIES {
            let cam = Camera::named(name).expect("geometry");
            let (img, gnd) = cam.calibration(5.0);
            assert!(img.len() >= 4, "{name}: {img:?}");
            let h = Homography::from_pairs(&img, &gnd).expect("homography");
            // Points between the calibration points, not only the points themselves.
            for (x, y) in [(0.0, 15.0), (-3.0, 25.0), (4.0, 30.0), (1.0, cam.far_m - 1.0)] {
                let (u, v) = cam.ground_to_image(x, y).expect("front");
                let (gx, gy) = h.to_ground((u as f32, v as f32)).expect("ground");
                let err = ((gx - x).powi(2) + (gy - y).powi(2)).sqrt();
                // f32 pixels and tenth-pixel rounding: centimetres, more far away.
                assert!(err < 0.05 + 0.003 * y, "{name} ({x}, {y}): {err} m");
            }
        }
    }
}
