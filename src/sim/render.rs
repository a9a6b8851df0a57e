//! Grey pictures of a simulated scene, for the daemon's own carrier ([`crate::track::follow`])
//! to follow boxes on, in place of the model of it ([`super::carrier`]).
//!
//! What the carrier needs from a picture is texture that moves with what it belongs to. Each
//! road user's box is filled with its own texture, pinned to the box (so it grows as the road
//! user comes nearer), drawn over a still textured background, nearer road users over farther
//! ones. So the carrier meets what the model leaves out: a box carried onto the road user
//! passing in front of it, points on the background beside a thin rider, a road user half out
//! of the picture. It does not meet motion blur, changing light, or a road user that turns
//! (a texture pinned to the box never changes its look), so it carries more easily than on a
//! street; its numbers are an upper bound, and the model's a measured one.
//!
//! Pictures are at half the camera's size: the daemon carries on the letterbox of a 1280x720
//! camera for a 640-wide model, 640x360.

use super::actors::Seen;
use crate::track::carry::Gray;

/// Picture pixels per camera pixel.
pub const SCALE: f32 = 0.5;

/// Texture cells across and down a road user's box, and the background's cell sizes (pixels).
const USER_CELLS: f64 = 6.0;
const COARSE_PX: f64 = 12.0;
const FINE_PX: f64 = 4.0;

pub struct Renderer {
    width: usize,
    height: usize,
    background: Vec<u8>,
    seed: u64,
}

impl Renderer {
    /// For a camera of `size` pixels; textures drawn from `seed`.
    pub fn new(size: (u32, u32), seed: u64) -> Self {
        let (width, height) =
            (((size.0 as f32) * SCALE).round().max(1.0) as usize, ((size.1 as f32) * SCALE).round().max(1.0) as usize);
        let mut background = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (x as f64, y as f64);
                let v = 0.65 * noise(seed, 0, fx / COARSE_PX, fy / COARSE_PX)
                    + 0.35 * noise(seed, 1, fx / FINE_PX, fy / FINE_PX);
                background.push((70.0 + 90.0 * v) as u8);
            }
        }
        Self { width, height, background, seed }
    }

    /// The picture of the road users `seen` (boxes in camera pixels).
    pub fn render(&self, seen: &[Seen]) -> Gray {
        let mut px = self.background.clone();
        let mut order: Vec<&Seen> = seen.iter().collect();
        // Farthest first, so nearer road users are drawn over them.
        order.sort_by(|a, b| b.depth.total_cmp(&a.depth));
        let s = f64::from(SCALE);
        for u in order {
            let [x1, y1, x2, y2] = u.bbox.map(|v| v * s);
            let (w, h) = ((x2 - x1).max(1e-6), (y2 - y1).max(1e-6));
            let (c0, c1) = (x1.floor().max(0.0) as usize, (x2.ceil() as usize).min(self.width));
            let (r0, r1) = (y1.floor().max(0.0) as usize, (y2.ceil() as usize).min(self.height));
            let key = self.seed ^ (u.actor as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for y in r0..r1 {
                let v = (y as f64 + 0.5 - y1) / h;
                if !(0.0..1.0).contains(&v) {
                    continue;
                }
                for x in c0..c1 {
                    let uu = (x as f64 + 0.5 - x1) / w;
                    if !(0.0..1.0).contains(&uu) {
                        continue;
                    }
                    let t = noise(key, 2, uu * USER_CELLS, v * USER_CELLS);
                    px[y * self.width + x] = (30.0 + 200.0 * t) as u8;
                }
            }
        }
        Gray { width: self.width, height: self.height, px }
    }
}

/// Smooth value noise in 0–1: random values on a unit grid (from `seed` and `layer`),
/// interpolated between grid points.
fn noise(seed: u64, layer: u64, x: f64, y: f64) -> f64 {
    let (ix, iy) = (x.floor(), y.floor());
    let (fx, fy) = (x - ix, y - iy);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let at = |dx: f64, dy: f64| lattice(seed, layer, (ix + dx) as i64, (iy + dy) as i64);
    let top = at(0.0, 0.0) + (at(1.0, 0.0) - at(0.0, 0.0)) * sx;
    let bottom = at(0.0, 1.0) + (at(1.0, 1.0) - at(0.0, 1.0)) * sx;
    top + (bottom - top) * sy
}

/// A random value in 0–1 for one grid point (splitmix64 of its coordinates).
fn lattice(seed: u64, layer: u64, x: i64, y: i64) -> f64 {
    let mut z = seed
        ^ layer.wrapping_mul(0xd6e8_feb8_6659_fd93)
        ^ (x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (y as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use crate::sim::actors::Class;
    use crate::track::carry::carry;

    fn user(actor: usize, bbox: [f64; 4], depth: f64) -> Seen {
        Seen { actor, class: Class::Car, bbox, depth }
    }

    #[test]
    fn the_carrier_follows_a_rendered_road_user_and_nearer_ones_hide_farther_ones() {
        let r = Renderer::new((1280, 720), 3);
        let a = r.render(&[user(0, [400.0, 300.0, 520.0, 400.0], 20.0)]);
        let z = r.render(&[user(0, [430.0, 304.0, 550.0, 404.0], 20.0)]);
        assert_eq!((a.width, a.height), (640, 360));
        let (pa, pz) = (a.pyramid().expect("pyramid"), z.pyramid().expect("pyramid"));
        let got = carry(&pa, &pz, &BBox::new(200.0, 150.0, 260.0, 200.0), (0.0, 0.0)).expect("carried").bbox;
        assert!((got.x1 - 215.0).abs() < 1.0 && (got.y1 - 152.0).abs() < 1.0, "{got:?}");
        // A nearer road user over it: its pixels are the nearer one's, whatever the order given.
        let both = [user(1, [450.0, 320.0, 600.0, 420.0], 10.0), user(0, [400.0, 300.0, 520.0, 400.0], 20.0)];
        let hidden = r.render(&both);
        let reversed = r.render(&[both[1], both[0]]);
        assert_eq!(hidden, reversed);
        let alone = r.render(&both[..1]);
        let at = |g: &Gray, x: usize, y: usize| g.px[y * g.width + x];
        assert_eq!(at(&hidden, 240, 180), at(&alone, 240, 180));
        assert_ne!(at(&hidden, 240, 180), at(&a, 240, 180));
    }
}
