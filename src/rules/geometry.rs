//! Plane geometry in image pixels.

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

#[cfg(test)]
mod tests {
    use super::*;

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
