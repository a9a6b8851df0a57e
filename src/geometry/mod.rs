//! Plane geometry in image pixels, and the ground calibration that maps them to metres
//! ([`homography`]).

pub mod homography;

pub type Point = (f32, f32);

/// Which side of the directed line a→b point p lies on, scaled by |ab|: > 0 on its right and
/// < 0 on its left, as seen on screen looking from a to b (image y points down).
pub fn side(a: Point, b: Point, p: Point) -> f32 {
    (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
}

/// Signed distance of p from the infinite line through a and b (same sign as [`side`]).
pub fn signed_distance(a: Point, b: Point, p: Point) -> f32 {
    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    if len == 0.0 { 0.0 } else { side(a, b, p) / len }
}

/// Whether segments p1–p2 and q1–q2 intersect (touching counts).
pub fn segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = side(q1, q2, p1);
    let d2 = side(q1, q2, p2);
    let d3 = side(p1, p2, q1);
    let d4 = side(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    let on = |a: Point, b: Point, p: Point, d: f32| {
        d == 0.0 && p.0 >= a.0.min(b.0) && p.0 <= a.0.max(b.0) && p.1 >= a.1.min(b.1) && p.1 <= a.1.max(b.1)
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

/// Whether p is inside the polygon (even-odd rule; points exactly on an edge may go either way).
pub fn point_in_polygon(poly: &[Point], p: Point) -> bool {
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        // Cast a ray to the right of p; count the edges it crosses.
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Area of a simple polygon (shoelace formula), in the square of its units.
pub fn polygon_area(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    let twice: f64 = (0..n).map(|i| poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1]).sum();
    twice.abs() / 2.0
}

/// The principal axes of a simple polygon's area: the unit direction of its long axis and how
/// elongated it is (long over short extent; a rectangle gives its length over its width).
/// None for a polygon without area.
pub fn long_axis(poly: &[[f64; 2]]) -> Option<((f64, f64), f64)> {
    let n = poly.len();
    let (mut a, mut cx, mut cy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let ([x0, y0], [x1, y1]) = (poly[i], poly[(i + 1) % n]);
        let c = x0 * y1 - x1 * y0;
        a += c / 2.0;
        cx += (x0 + x1) * c / 6.0;
        cy += (y0 + y1) * c / 6.0;
        sxx += (x0 * x0 + x0 * x1 + x1 * x1) * c / 12.0;
        syy += (y0 * y0 + y0 * y1 + y1 * y1) * c / 12.0;
        sxy += (x0 * y1 + 2.0 * x0 * y0 + 2.0 * x1 * y1 + x1 * y0) * c / 24.0;
    }
    if a.abs() < 1e-12 {
        return None;
    }
    // Second moments about the centroid (the signs of `a` and the sums cancel).
    let (cx, cy) = (cx / a, cy / a);
    let (vxx, vyy, vxy) = (sxx / a - cx * cx, syy / a - cy * cy, sxy / a - cx * cy);
    let mid = (vxx + vyy) / 2.0;
    let half = ((vxx - vyy) / 2.0).hypot(vxy);
    let (big, small) = (mid + half, mid - half);
    if small <= 0.0 {
        return None;
    }
    let angle = 0.5 * (2.0 * vxy).atan2(vxx - vyy);
    Some(((angle.cos(), angle.sin()), (big / small).sqrt()))
}

/// Whether two edges of the closed polygon that do not share a corner cross or touch.
pub fn self_intersects(poly: &[Point]) -> bool {
    let n = poly.len();
    let edge = |i: usize| (poly[i], poly[(i + 1) % n]);
    for i in 0..n {
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue; // the first and last edges share the first corner
            }
            let ((p1, p2), (q1, q2)) = (edge(i), edge(j));
            if segments_intersect(p1, p2, q1, q2) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polygons_long_axis_and_elongation() {
        // 40 by 10, turned 30°: the axis at 30° (either way along it), 4 times longer than wide.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let rect: Vec<[f64; 2]> = [(0.0, 0.0), (40.0, 0.0), (40.0, 10.0), (0.0, 10.0)]
            .iter()
            .map(|&(x, y)| [x * c - y * s, x * s + y * c])
            .collect();
        let ((dx, dy), e) = long_axis(&rect).expect("axis");
        assert!((dx * c + dy * s).abs() > 0.9999, "{dx} {dy}");
        assert!((e - 4.0).abs() < 1e-9, "{e}");
        // Either winding.
        let back: Vec<[f64; 2]> = rect.iter().rev().copied().collect();
        assert!((long_axis(&back).expect("axis").1 - 4.0).abs() < 1e-9);
        let square = [[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0]];
        assert!((long_axis(&square).expect("axis").1 - 1.0).abs() < 1e-9);
        assert_eq!(long_axis(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), None, "no area");
    }

    #[test]
    fn inside_and_outside_polygons() {
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        assert!(point_in_polygon(&square, (5.0, 5.0)));
        assert!(!point_in_polygon(&square, (15.0, 5.0)));
        assert!(!point_in_polygon(&square, (5.0, -0.1)));
        // A concave "U": the notch is outside.
        let u = [
            (0.0, 0.0),
            (30.0, 0.0),
            (30.0, 30.0),
            (20.0, 30.0),
            (20.0, 10.0),
            (10.0, 10.0),
            (10.0, 30.0),
            (0.0, 30.0),
        ];
        assert!(!point_in_polygon(&u, (15.0, 20.0)));
        assert!(
            point_in_polygon(&u, (5.0, 20.0))
                && point_in_polygon(&u, (25.0, 20.0))
                && point_in_polygon(&u, (15.0, 5.0))
        );
        assert!(!point_in_polygon(&[], (0.0, 0.0)));
    }

    #[test]
    fn areas_and_self_intersection() {
        assert_eq!(polygon_area(&[[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0]]), 12.0);
        assert_eq!(polygon_area(&[[0.0, 0.0], [0.0, 3.0], [4.0, 3.0], [4.0, 0.0]]), 12.0, "either winding");
        assert_eq!(polygon_area(&[[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]]), 6.0);
        assert!(!self_intersects(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]));
        assert!(self_intersects(&[(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]), "a bow tie");
        assert!(!self_intersects(&[(0.0, 0.0), (10.0, 0.0), (5.0, 8.0)]));
    }

    #[test]
    fn sides_and_distance() {
        // Heading right along y = 10 on screen, the right-hand side is below the line (y > 10).
        assert!(side((0.0, 10.0), (10.0, 10.0), (5.0, 20.0)) > 0.0);
        assert!(side((0.0, 10.0), (10.0, 10.0), (5.0, 0.0)) < 0.0);
        assert!((signed_distance((0.0, 10.0), (10.0, 10.0), (5.0, 13.0)) - 3.0).abs() < 1e-6);
    }

    #[test]
    fn intersections() {
        assert!(segments_intersect((0.0, 0.0), (10.0, 10.0), (0.0, 10.0), (10.0, 0.0)));
        assert!(!segments_intersect((0.0, 0.0), (1.0, 1.0), (0.0, 10.0), (10.0, 0.0)));
        assert!(segments_intersect((0.0, 0.0), (5.0, 5.0), (0.0, 10.0), (10.0, 0.0)), "touching counts");
        assert!(!segments_intersect((0.0, 0.0), (10.0, 0.0), (0.0, 1.0), (10.0, 1.0)), "parallel");
    }
}
