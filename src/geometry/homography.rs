//! Ground calibration: the plane homography from image pixels to ground metres, fitted to four
//! or more point pairs with the normalised direct linear transform (Hartley & Zisserman, alg. 4.2).

use nalgebra::{DMatrix, Matrix3, Vector3};

/// Maps image pixels to ground metres (and back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography {
    h: Matrix3<f64>,
    inv: Matrix3<f64>,
}

/// How far from collinear three points must be: the sine of the angle they make at the first
/// point. 0.01 is about half a degree, well below what any usable calibration has.
const MIN_SINE: f64 = 0.01;

/// Most pairs accepted; the general-position search below is O(n⁴).
pub const MAX_PAIRS: usize = 32;

fn collinear(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> bool {
    let (u, v) = ([b[0] - a[0], b[1] - a[1]], [c[0] - a[0], c[1] - a[1]]);
    let cross = (u[0] * v[1] - u[1] * v[0]).abs();
    let norms = u[0].hypot(u[1]) * v[0].hypot(v[1]);
    norms == 0.0 || cross / norms < MIN_SINE
}

/// Whether some four of the points have no three on one line: without that, the homography is
/// not determined.
fn has_general_quad(p: &[[f64; 2]]) -> bool {
    let n = p.len();
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                if collinear(p[a], p[b], p[c]) {
                    continue;
                }
                for d in c + 1..n {
                    if !collinear(p[a], p[b], p[d]) && !collinear(p[a], p[c], p[d]) && !collinear(p[b], p[c], p[d]) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// The similarity taking the points' centroid to the origin and their mean distance from it
/// to √2, which makes the DLT well conditioned.
fn normaliser(p: &[[f64; 2]]) -> Matrix3<f64> {
    let n = p.len() as f64;
    let (cx, cy) = (p.iter().map(|q| q[0]).sum::<f64>() / n, p.iter().map(|q| q[1]).sum::<f64>() / n);
    let mean = p.iter().map(|q| (q[0] - cx).hypot(q[1] - cy)).sum::<f64>() / n;
    let s = if mean > 0.0 { std::f64::consts::SQRT_2 / mean } else { 1.0 };
    Matrix3::new(s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0)
}

fn apply(m: &Matrix3<f64>, p: [f64; 2]) -> Option<[f64; 2]> {
    let v = m * Vector3::new(p[0], p[1], 1.0);
    // A point on (or beyond) the horizon has no place on the ground.
    if v.z.abs() < 1e-12 || !v.x.is_finite() || !v.y.is_finite() {
        return None;
    }
    Some([v.x / v.z, v.y / v.z])
}

impl Homography {
    /// Fit image → ground from pairs `image[i]` ↔ `ground[i]`. Refuses what does not determine a
    /// homography: fewer than four pairs, duplicate points, no four points with no three in a
    /// line, or a singular result.
    pub fn from_pairs(image: &[[f64; 2]], ground: &[[f64; 2]]) -> Result<Self, String> {
        if image.len() != ground.len() {
            return Err(format!("{} image points but {} ground points: they go in pairs", image.len(), ground.len()));
        }
        let n = image.len();
        if n < 4 {
            return Err(format!("{n} point pairs are too few: a ground calibration needs at least 4"));
        }
        if n > MAX_PAIRS {
            return Err(format!("{n} point pairs are too many: use at most {MAX_PAIRS}"));
        }
        for (what, pts, tol) in [("image", image, 0.5), ("ground", ground, 0.01)] {
            if pts.iter().flatten().any(|c| !c.is_finite()) {
                return Err(format!("{what} points must be finite numbers"));
            }
            for i in 0..n {
                for j in i + 1..n {
                    if (pts[i][0] - pts[j][0]).abs() < tol && (pts[i][1] - pts[j][1]).abs() < tol {
                        return Err(format!("{what} points {} and {} are the same point", i + 1, j + 1));
                    }
                }
            }
            if !has_general_quad(pts) {
                return Err(format!("the {what} points are degenerate: no four of them are free of three on one line"));
            }
        }
        let (ti, tg) = (normaliser(image), normaliser(ground));
        // At least nine rows, so the SVD yields the full 9×9 V even for four pairs.
        let rows = (2 * n).max(9);
        let mut a = DMatrix::<f64>::zeros(rows, 9);
        for (k, (p, q)) in image.iter().zip(ground).enumerate() {
            let (Some([x, y]), Some([u, v])) = (apply(&ti, *p), apply(&tg, *q)) else {
                return Err("the points cannot be normalised".into());
            };
            let r = 2 * k;
            a.row_mut(r).copy_from_slice(&[-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u]);
            a.row_mut(r + 1).copy_from_slice(&[0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v]);
        }
        let svd = a.svd(false, true);
        let vt = svd.v_t.ok_or("the fit failed (no SVD)")?;
        let (k, _) = svd
            .singular_values
            .iter()
            .enumerate()
            .fold((0, f64::INFINITY), |best, (i, &s)| if s < best.1 { (i, s) } else { best });
        let h = vt.row(k);
        let hn = Matrix3::new(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
        let tg_inv = tg.try_inverse().ok_or("the ground points cannot be normalised")?;
        let mut m = tg_inv * hn * ti;
        let sv = m.singular_values();
        let (lo, hi) = (sv.min(), sv.max());
        if !(hi > 0.0 && lo / hi > 1e-10) {
            return Err("the fitted homography is singular: check that the pairs match".into());
        }
        m /= hi;
        let inv = m.try_inverse().ok_or("the fitted homography is singular: check that the pairs match")?;
        let out = Self { h: m, inv };
        // Every calibration point must land in front of the camera, on the same side of the
        // horizon; otherwise the pairs contradict each other.
        let sign = |p: [f64; 2]| (m * Vector3::new(p[0], p[1], 1.0)).z.signum();
        if image.iter().any(|p| sign(*p) != sign(image[0])) {
            return Err("the pairs put some points beyond the horizon: check that they match".into());
        }
        Ok(out)
    }

    /// The ground point (metres) of an image point (pixels); `None` at or above the horizon.
    pub fn to_ground(&self, p: (f32, f32)) -> Option<(f64, f64)> {
        apply(&self.h, [f64::from(p.0), f64::from(p.1)]).map(|[x, y]| (x, y))
    }

    /// A polygon's corners on the ground, metres; None when a corner has no ground point (at or
    /// beyond the horizon).
    pub fn polygon_to_ground(&self, polygon: &[(f32, f32)]) -> Option<Vec<[f64; 2]>> {
        polygon.iter().map(|&p| self.to_ground(p).map(|g| [g.0, g.1])).collect()
    }

    /// The image point (pixels) of a ground point (metres).
    pub fn to_image(&self, g: (f64, f64)) -> Option<(f32, f32)> {
        apply(&self.inv, [g.0, g.1]).map(|[x, y]| (x as f32, y as f32))
    }

    /// The vanishing point in the picture of the ground direction `dir` (metres, any length):
    /// where every straight line along it converges, as homogeneous pixel coordinates
    /// `(x, y, w)` (`w` near 0 for a direction the picture shows parallel). `None` for no
    /// direction.
    pub fn vanishing_point(&self, dir: (f64, f64)) -> Option<(f64, f64, f64)> {
        if !(dir.0.is_finite() && dir.1.is_finite()) || dir.0.hypot(dir.1) == 0.0 {
            return None;
        }
        let v = self.inv * Vector3::new(dir.0, dir.1, 0.0);
        (v.x.is_finite() && v.y.is_finite() && v.z.is_finite() && v.x.hypot(v.y).hypot(v.z) > 0.0)
            .then_some((v.x, v.y, v.z))
    }

    /// The horizon in the picture, the image of the ground's points at infinity, as
    /// `y = slope * x + intercept` (pixels); `None` when it is (near) vertical, which no road
    /// camera has. The tracker uses it for where an object of a given size stands.
    pub fn horizon(&self) -> Option<(f64, f64)> {
        let (a, b, c) = (self.h[(2, 0)], self.h[(2, 1)], self.h[(2, 2)]);
        if b.abs() < 1e-12 || !(a / b).is_finite() || !(c / b).is_finite() {
            return None;
        }
        Some((-a / b, -c / b))
    }

    /// Ground distance in metres between two image points.
    pub fn distance(&self, a: (f32, f32), b: (f32, f32)) -> Option<f64> {
        let (a, b) = (self.to_ground(a)?, self.to_ground(b)?);
        Some((a.0 - b.0).hypot(a.1 - b.1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A camera looking down a road: ground (X across, Y along, metres) → image pixels. Y = 0
    /// is at the bottom of a 1280×720 image, Y = 30 m near its top; far things are smaller.
    pub(crate) fn camera() -> Matrix3<f64> {
        Matrix3::new(40.0, -8.0, 640.0, 0.0, -20.0, 700.0, 0.0, 0.04, 1.0)
    }

    /// No perspective: a pixel spans `m_per_px` metres everywhere.
    pub(crate) fn flat(m_per_px: f64) -> Homography {
        let m = 100.0 * m_per_px;
        Homography::from_pairs(
            &[[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]],
            &[[0.0, 0.0], [m, 0.0], [m, m], [0.0, m]],
        )
        .expect("a square is a camera view")
    }

    pub(crate) fn project(g: (f64, f64)) -> [f64; 2] {
        apply(&camera(), [g.0, g.1]).expect("in front of the camera")
    }

    /// The four corners of a 10 m × 30 m stretch of road, as pairs.
    pub(crate) fn corners() -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
        let ground = vec![[-5.0, 0.0], [5.0, 0.0], [5.0, 30.0], [-5.0, 30.0]];
        (ground.iter().map(|g| project((g[0], g[1]))).collect(), ground)
    }

    #[test]
    fn known_pairs_give_known_distances() {
        let (image, ground) = corners();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        // Points that were not among the pairs, far apart in depth.
        for (a, b) in [((-3.0, 5.0), (4.0, 22.0)), ((0.0, 1.0), (0.0, 2.0)), ((-4.0, 28.0), (4.0, 28.0))] {
            let truth = f64::hypot(a.0 - b.0, a.1 - b.1);
            let (pa, pb) = (project(a), project(b));
            let d = h.distance((pa[0] as f32, pa[1] as f32), (pb[0] as f32, pb[1] as f32)).expect("on the ground");
            assert!((d - truth).abs() / truth < 0.01, "{a:?}–{b:?}: {d} m, not {truth} m");
        }
        // And back: to_image inverts to_ground.
        let p = h.to_image((2.0, 10.0)).expect("visible");
        let g = h.to_ground(p).expect("ground");
        assert!((g.0 - 2.0).abs() < 1e-3 && (g.1 - 10.0).abs() < 1e-3, "{g:?}");
    }

    #[test]
    fn more_pairs_with_pixel_noise_still_fit() {
        let ground: Vec<[f64; 2]> =
            [(-5.0, 0.0), (5.0, 0.0), (5.0, 30.0), (-5.0, 30.0), (0.0, 15.0), (-2.0, 8.0), (3.0, 20.0)]
                .iter()
                .map(|g| [g.0, g.1])
                .collect();
        // Half a pixel of alternating error, as from clicking the points by hand.
        let image: Vec<[f64; 2]> = ground
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let p = project((g[0], g[1]));
                let e = if i % 2 == 0 { 0.5 } else { -0.5 };
                [p[0] + e, p[1] - e]
            })
            .collect();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        let (a, b) = (project((-4.0, 2.0)), project((4.0, 2.0)));
        let d = h.distance((a[0] as f32, a[1] as f32), (b[0] as f32, b[1] as f32)).expect("ground");
        assert!((d - 8.0).abs() < 0.08, "{d}");
    }

    #[test]
    fn degenerate_point_sets_are_refused() {
        let (image, ground) = corners();
        let e = Homography::from_pairs(&image[..3], &ground[..3]).unwrap_err();
        assert!(e.contains("at least 4"), "{e}");
        let e = Homography::from_pairs(&image, &ground[..3]).unwrap_err();
        assert!(e.contains("in pairs"), "{e}");
        // Three image points on one line.
        let mut bad = image.clone();
        bad[2] = [(bad[0][0] + bad[1][0]) / 2.0, bad[0][1]];
        let e = Homography::from_pairs(&bad, &ground).unwrap_err();
        assert!(e.contains("image points are degenerate"), "{e}");
        // A duplicate ground point.
        let mut bad = ground.clone();
        bad[3] = bad[1];
        let e = Homography::from_pairs(&image, &bad).unwrap_err();
        assert!(e.contains("ground points 2 and 4 are the same"), "{e}");
        // Pairs that contradict each other: two ground points swapped (a "bow tie").
        let mut bad = ground.clone();
        bad.swap(2, 3);
        assert!(Homography::from_pairs(&image, &bad).is_err(), "a mirrored quad is not a camera view");
        // But a fifth point on a line with two others is fine when four are in general position.
        let mut image5 = image.clone();
        let mut ground5 = ground.clone();
        ground5.push([0.0, 0.0]);
        image5.push(project((0.0, 0.0)));
        assert!(Homography::from_pairs(&image5, &ground5).is_ok());
    }

    #[test]
    fn horizon_has_no_ground_point() {
        let (image, ground) = corners();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        // As Y → ∞ the road's image tends to y = -20 / 0.04 = -500: the horizon.
        let far = h.to_ground((640.0, -500.0));
        assert!(far.is_none_or(|g| g.1 < 0.0 || g.1 > 1000.0), "{far:?}");
    }

    #[test]
    fn lines_along_the_road_meet_at_its_vanishing_point() {
        let (image, ground) = corners();
        let h = Homography::from_pairs(&image, &ground).expect("fit");
        // Along Y the test camera's road tends to x = -8 / 0.04, y = -20 / 0.04.
        let (x, y, w) = h.vanishing_point((0.0, 5.0)).expect("a vanishing point");
        assert!((x / w + 200.0).abs() < 1e-3 && (y / w + 500.0).abs() < 1e-3, "{:?}", (x / w, y / w));
        assert_eq!(h.vanishing_point((0.0, 0.0)), None);
    }

    #[test]
    fn the_horizon_is_where_the_ground_ends() {
        let h = Homography::from_pairs(
            &[[440.0, 700.0], [840.0, 700.0], [700.0, 160.0], [560.0, 160.0]],
            &[[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [0.0, 30.0]],
        )
        .expect("fit");
        let (slope, intercept) = h.horizon().expect("a horizon");
        assert!(slope.abs() < 1e-9, "a level camera has a level horizon: {slope}");
        // Just below the horizon the ground is far away; on it, nowhere.
        let below = h.to_ground((640.0, (intercept + 2.0) as f32)).expect("ground").1;
        assert!(below > 200.0, "{below}");
        assert!(h.to_ground((640.0, (intercept - 2.0) as f32)).is_none_or(|g| g.1 < 0.0));
    }
}
