//! Carrying a box from one decoded frame to the next without the detector: where the pixels of a
//! road user's box went, so that between two detections (3–5 a second on a box) speed and
//! weaving could get a sample on every decoded frame (issue 13's item 4).
//!
//! Median flow (Kalal et al., "Forward-backward error", 2010): an 8 × 8 grid of points over the
//! box's inner part (its corners are background) is followed point by point with pyramidal
//! Lucas–Kanade on a 7 × 7 window, from a guess of the shift (the track's own motion), and each
//! point is followed back from where it went. The half of the points that came back closest and
//! whose windows still look most alike are kept: the box moves by their median shift and scales
//! by the median ratio of their distances (a road user riding away shrinks every frame). A point
//! on a walking person's leg or on the background beside a rider does not pull the box with it,
//! as it would in one alignment of the whole box (on vtest.avi that was twice as far off after
//! four frames, and refused half the carries).
//!
//! A carry is refused, rather than guessed, when most of the box is too plain to fix a shift
//! ([`MIN_EIG`]), when the points did not come back to where they started
//! ([`MAX_FB_SHARE`] of the box's height: occlusion, a turned or blurred object), or when their
//! windows no longer look alike ([`MIN_NCC`]). The detector, at its next frame, takes over.
//!
//! Plain computation on grey pixels, no I/O.

use crate::detect::Picture;
use crate::detect::types::BBox;

/// Levels of the pyramid at most; each halves the picture, down to about [`MIN_LEVEL_W`] wide.
const MAX_LEVELS: usize = 4;
/// The coarsest level is at least this wide.
const MIN_LEVEL_W: usize = 40;
/// The inner part of the box whose points are followed: its middle 60 % across and 70 % down.
const INNER_W: f32 = 0.6;
const INNER_H: f32 = 0.7;
/// A box whose inner part is narrower than this many pixels is not carried.
const MIN_SIDE: f32 = 4.0;
/// Grid points a side, and the half-size of each point's window.
const POINTS: usize = 8;
const HALF: i32 = 3;
/// Lucas–Kanade steps per level at most, and the step (pixels) below which it has converged.
const MAX_STEPS: usize = 20;
const CONVERGED_PX: f32 = 0.02;
/// The kept points' windows must correlate with where they went at least this much (median).
pub const MIN_NCC: f32 = 0.6;
/// The points must come back within this share of the box's height of where they started
/// (median; at least [`MIN_FB_PX`]).
pub const MAX_FB_SHARE: f32 = 0.1;
pub const MIN_FB_PX: f32 = 1.0;
/// A point's window must have at least this much gradient in its weakest direction (the smaller
/// eigenvalue of its structure tensor per pixel, grey levels² per pixel²) to fix a shift: on a
/// flat wall or a plain car roof, or along a single edge, a point slides.
pub const MIN_EIG: f32 = 0.1;

/// One level of a grey pyramid, pixels as `f32` (0–255).
#[derive(Debug, Clone)]
struct Level {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

impl Level {
    /// The grey level at `(x, y)` (pixel centres at integers), bilinear; `None` outside.
    fn at(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0) {
            return None;
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        if x0 + 1 >= self.w || y0 + 1 >= self.h {
            return None;
        }
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * self.w + x0;
        let (a, b, c, d) = (self.px[i], self.px[i + 1], self.px[i + self.w], self.px[i + self.w + 1]);
        Some((a + (b - a) * fx) + ((c + (d - c) * fx) - (a + (b - a) * fx)) * fy)
    }

    /// The next level: half the size, each pixel the mean of a 2 × 2 block.
    fn half(&self) -> Self {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            let (r0, r1) = (2 * y * self.w, (2 * y + 1) * self.w);
            for x in 0..w {
                let s = self.px[r0 + 2 * x] + self.px[r0 + 2 * x + 1] + self.px[r1 + 2 * x] + self.px[r1 + 2 * x + 1];
                px.push(s * 0.25);
            }
        }
        Self { w, h, px }
    }
}

/// A frame's grey picture (luma, one byte a pixel): what the source keeps of a decoded frame
/// to carry boxes onto it, a third of its RGB and freed from GStreamer's buffer pool at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub px: Vec<u8>,
}

impl Gray {
    /// The luma of an RGB picture (BT.601 weights, in integers); `None` when its buffer is
    /// shorter than its size says or it is empty.
    pub fn from_rgb(p: &Picture<'_>) -> Option<Self> {
        let (w, h) = (p.width as usize, p.height as usize);
        if w == 0 || h == 0 || p.stride < 3 * w || p.rgb.len() < p.stride * (h - 1) + 3 * w {
            return None;
        }
        let mut px = Vec::with_capacity(w * h);
        for row in p.rgb.chunks(p.stride).take(h) {
            px.extend(row[..3 * w].chunks_exact(3).map(|c| {
                let y = 77 * u32::from(c[0]) + 150 * u32::from(c[1]) + 29 * u32::from(c[2]);
                ((y + 128) >> 8) as u8
            }));
        }
        Some(Self { width: w, height: h, px })
    }

    pub fn pyramid(&self) -> Option<Pyramid> {
        Pyramid::from_gray(&self.px, self.width, self.height, self.width)
    }
}

/// A grey pyramid of one frame: level 0 at the frame's size, each next one half of it.
#[derive(Debug, Clone)]
pub struct Pyramid {
    levels: Vec<Level>,
}

impl Pyramid {
    /// From grey pixels, `width × height` with rows `stride` bytes apart; `None` when the
    /// buffer is shorter than that or the picture is empty.
    pub fn from_gray(px: &[u8], width: usize, height: usize, stride: usize) -> Option<Self> {
        if width == 0 || height == 0 || stride < width || px.len() < stride * (height - 1) + width {
            return None;
        }
        let mut level = Vec::with_capacity(width * height);
        for row in px.chunks(stride).take(height) {
            level.extend(row[..width].iter().map(|&v| f32::from(v)));
        }
        Some(Self::build(Level { w: width, h: height, px: level }))
    }

    /// From an RGB picture (the frames the detector gets), through its luma ([`Gray`], as
    /// the daemon keeps it); `None` when its buffer is shorter than its size says.
    pub fn from_rgb(p: &Picture<'_>) -> Option<Self> {
        Gray::from_rgb(p)?.pyramid()
    }

    fn build(base: Level) -> Self {
        let mut levels = vec![base];
        while levels.len() < MAX_LEVELS {
            let last = &levels[levels.len() - 1];
            if last.w / 2 < MIN_LEVEL_W || last.h / 2 < 2 {
                break;
            }
            let next = last.half();
            levels.push(next);
        }
        Self { levels }
    }

    /// Width and height of level 0.
    pub fn size(&self) -> (usize, usize) {
        (self.levels[0].w, self.levels[0].h)
    }

    /// The coarsest level at which a box side of `side` pixels (level 0) still spans a point's
    /// window: above it the windows would align the background. `None` when not even level 0.
    fn window_level(&self, side: f32) -> Option<usize> {
        (0..self.levels.len()).rev().find(|&l| side / (1u32 << l) as f32 >= (2 * HALF + 1) as f32)
    }
}

/// Where a box went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Carried {
    /// The box in the next frame.
    pub bbox: BBox,
    /// The points' median normalised correlation of their windows here and there (−1–1).
    pub ncc: f32,
    /// The points' median distance, pixels, between where they started and where following
    /// them back landed.
    pub fb_px: f32,
}

/// Why a box was not carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The box's centre is outside the picture, the two frames differ in size, or the box is
    /// too small to follow.
    Outside,
    /// Most of its points are too plain to follow ([`MIN_EIG`]), or lie where their windows
    /// leave the picture.
    Plain,
    /// Too few points were followed there and back.
    Lost,
    /// The points' windows no longer look alike ([`MIN_NCC`]).
    Unlike,
    /// The points did not come back to where they started ([`MAX_FB_SHARE`]).
    Inconsistent,
}

/// The box `b` of `prev` in `next`, its shift first guessed as `guess` pixels (the track's own
/// motion since `prev`; zero when unknown). Both pyramids must be of one size.
pub fn carry(prev: &Pyramid, next: &Pyramid, b: &BBox, guess: (f32, f32)) -> Result<Carried, Refused> {
    if prev.size() != next.size() {
        return Err(Refused::Outside);
    }
    let (cx, cy) = b.center();
    let (iw, ih) = (b.width() * INNER_W, b.height() * INNER_H);
    let (w, h) = prev.size();
    if !(iw >= MIN_SIDE && ih >= MIN_SIDE && cx >= 0.0 && cy >= 0.0 && cx < w as f32 && cy < h as f32) {
        return Err(Refused::Outside);
    }
    let side = iw.min(ih);
    let top = prev.window_level(side).unwrap_or(0);
    let mut pts = Vec::with_capacity(POINTS * POINTS);
    let mut plain = 0;
    for j in 0..POINTS {
        for i in 0..POINTS {
            let p =
                (cx + (i as f32 / (POINTS - 1) as f32 - 0.5) * iw, cy + (j as f32 / (POINTS - 1) as f32 - 0.5) * ih);
            let Some(q) = flow(prev, next, top, p, guess) else {
                plain += 1;
                continue;
            };
            let Some(r) = flow(next, prev, top, q, (p.0 - q.0, p.1 - q.1)) else { continue };
            let fb = (r.0 - p.0).hypot(r.1 - p.1);
            let Some(ncc) = patch_ncc(&prev.levels[0], &next.levels[0], p, q) else { continue };
            pts.push((p, q, fb, ncc));
        }
    }
    if plain > POINTS * POINTS / 2 {
        return Err(Refused::Plain);
    }
    if pts.len() < 4 {
        return Err(Refused::Lost);
    }
    let med = |mut v: Vec<f32>| -> f32 {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let fb_med = med(pts.iter().map(|p| p.2).collect());
    let ncc_med = med(pts.iter().map(|p| p.3).collect());
    let kept: Vec<_> = pts.iter().filter(|p| p.2 <= fb_med && p.3 >= ncc_med).collect();
    if kept.len() < 3 {
        return Err(Refused::Lost);
    }
    if fb_med > (MAX_FB_SHARE * b.height()).max(MIN_FB_PX) {
        return Err(Refused::Inconsistent);
    }
    if ncc_med < MIN_NCC {
        return Err(Refused::Unlike);
    }
    let dx = med(kept.iter().map(|p| p.1.0 - p.0.0).collect());
    let dy = med(kept.iter().map(|p| p.1.1 - p.0.1).collect());
    let mut ratios = Vec::new();
    for (n, a) in kept.iter().enumerate() {
        for c in &kept[n + 1..] {
            let d0 = (a.0.0 - c.0.0).hypot(a.0.1 - c.0.1);
            if d0 >= 2.0 {
                ratios.push((a.1.0 - c.1.0).hypot(a.1.1 - c.1.1) / d0);
            }
        }
    }
    let scale = if ratios.is_empty() { 1.0 } else { med(ratios) };
    let (hw, hh) = (0.5 * b.width() * scale, 0.5 * b.height() * scale);
    let (nx, ny) = (cx + dx, cy + dy);
    Ok(Carried { bbox: BBox::new(nx - hw, ny - hh, nx + hw, ny + hh), ncc: ncc_med, fb_px: fb_med })
}

/// How far [`search`] looks around its guess, in pixels of the level it searches.
const SEARCH_REACH: i32 = 8;
/// How far, in pixels of that level, Lucas–Kanade finds a shift from its guess by itself (its
/// window's half-size, less a pixel).
const OWN_REACH: i32 = HALF - 1;

/// A first guess of where box `b` of `prev` went in `next`, for a box whose motion is not known
/// or whose carry from the known motion was refused: the whole inner box compared, by the sum
/// of absolute differences, at every whole-pixel shift within [`SEARCH_REACH`] of `around`, on
/// the coarsest level where it still spans a point's window. Lucas–Kanade from no motion
/// reaches a few pixels a level; a rider near the camera moves 25 px of a 640-wide picture a
/// frame at 15 frames a second, and its track's velocity after one detection is not known.
/// The carry from this guess is checked as any other ([`carry`]). `None` where nothing is found
/// beyond the carrier's own reach from `around`.
pub fn search(prev: &Pyramid, next: &Pyramid, b: &BBox, around: (f32, f32)) -> Option<(f32, f32)> {
    let (w, h) = prev.size();
    let (cx, cy) = b.center();
    // As `carry` asks, and a guess within the picture: every sum below then stays small.
    if prev.size() != next.size()
        || !(cx >= 0.0 && cy >= 0.0 && cx < w as f32 && cy < h as f32)
        || !(around.0.abs() < w as f32 && around.1.abs() < h as f32)
    {
        return None;
    }
    let (iw, ih) = (b.width() * INNER_W, b.height() * INNER_H);
    if !(iw <= w as f32 && ih <= h as f32) {
        return None;
    }
    let side = iw.min(ih);
    let l = prev.window_level(side)?;
    let k = 1.0 / (1u32 << l) as f32;
    let (la, lz) = (&prev.levels[l], &next.levels[l]);
    let x0 = ((cx - 0.5 * iw) * k).round() as i32;
    let y0 = ((cy - 0.5 * ih) * k).round() as i32;
    let (tw, th) = ((iw * k).round() as i32, (ih * k).round() as i32);
    let inside = |lv: &Level, x: i32, y: i32| x >= 0 && y >= 0 && x + tw <= lv.w as i32 && y + th <= lv.h as i32;
    if tw < 1 || th < 1 || !inside(la, x0, y0) {
        return None;
    }
    let (gx, gy) = ((around.0 * k).round() as i32, (around.1 * k).round() as i32);
    let mut best: Option<(f32, i32, i32)> = None;
    for dy in gy - SEARCH_REACH..=gy + SEARCH_REACH {
        for dx in gx - SEARCH_REACH..=gx + SEARCH_REACH {
            if !inside(lz, x0 + dx, y0 + dy) {
                continue;
            }
            let mut sad = 0.0;
            for y in 0..th {
                let ra = (y0 + y) as usize * la.w + x0 as usize;
                let rz = (y0 + dy + y) as usize * lz.w + (x0 + dx) as usize;
                sad += la.px[ra..ra + tw as usize]
                    .iter()
                    .zip(&lz.px[rz..rz + tw as usize])
                    .map(|(a, z)| (a - z).abs())
                    .sum::<f32>();
            }
            // Ties go to the shift nearest the guess.
            let near = (dx - gx).abs() + (dy - gy).abs();
            if best.is_none_or(|(s, bx, by)| sad < s || (sad == s && near < (bx - gx).abs() + (by - gy).abs())) {
                best = Some((sad, dx, dy));
            }
        }
    }
    // Found within the carrier's own reach from the guess: its refusal stands (occlusion, a
    // turn, blur), and a second try from nearby would only find something else that passes.
    // The search is for the box beyond that reach.
    best.filter(|&(_, dx, dy)| (dx - gx).abs() > OWN_REACH || (dy - gy).abs() > OWN_REACH)
        .map(|(_, dx, dy)| (dx as f32 / k, dy as f32 / k))
}

/// Where point `p` of `a` went in `z` (pyramidal Lucas–Kanade on a small window, from level
/// `top` down), from `guess`.
fn flow(a: &Pyramid, z: &Pyramid, top: usize, p: (f32, f32), guess: (f32, f32)) -> Option<(f32, f32)> {
    const SIDE: usize = (2 * HALF + 1) as usize;
    let mut d = guess;
    for l in (0..=top.min(a.levels.len() - 1)).rev() {
        let k = 1.0 / (1u32 << l) as f32;
        let (la, lz) = (&a.levels[l], &z.levels[l]);
        // The window around the nearest pixel: template reads need no interpolation, and the
        // shift of a point half a pixel away is the same shift.
        let (cx, cy) = ((p.0 * k).round() as i64, (p.1 * k).round() as i64);
        let (x0, y0) = (cx - i64::from(HALF), cy - i64::from(HALF));
        if x0 < 1 || y0 < 1 || x0 + SIDE as i64 >= la.w as i64 || y0 + SIDE as i64 >= la.h as i64 {
            if l == 0 {
                return None;
            }
            continue;
        }
        // Template and its gradients, once per level (inverse compositional).
        let mut tpl = [(0.0f32, 0.0f32, 0.0f32); SIDE * SIDE];
        let (mut hxx, mut hxy, mut hyy) = (0.0f32, 0.0f32, 0.0f32);
        for v in 0..SIDE {
            let row = (y0 as usize + v) * la.w + x0 as usize;
            for u in 0..SIDE {
                let i = row + u;
                let gx = 0.5 * (la.px[i + 1] - la.px[i - 1]);
                let gy = 0.5 * (la.px[i + la.w] - la.px[i - la.w]);
                hxx += gx * gx;
                hxy += gx * gy;
                hyy += gy * gy;
                tpl[v * SIDE + u] = (la.px[i], gx, gy);
            }
        }
        let n = (SIDE * SIDE) as f32;
        let det = hxx * hyy - hxy * hxy;
        // The smaller eigenvalue per pixel: too little texture to fix a shift at this level.
        let tr = hxx + hyy;
        let min_eig = 0.5 * (tr - (tr * tr - 4.0 * det).max(0.0).sqrt());
        if min_eig / n < MIN_EIG {
            if l == 0 {
                return None;
            }
            continue;
        }
        let mut ld = (d.0 * k, d.1 * k);
        let mut errs = [0.0f32; SIDE * SIDE];
        for _ in 0..MAX_STEPS {
            // The window in `z`, shifted by `ld`: one set of bilinear weights for all its pixels.
            let (wx, wy) = (x0 as f32 + ld.0, y0 as f32 + ld.1);
            let (ix, iy) = (wx.floor(), wy.floor());
            if !(ix >= 0.0 && iy >= 0.0) || ix as usize + SIDE >= lz.w || iy as usize + SIDE >= lz.h {
                return None;
            }
            let (fx, fy) = (wx - ix, wy - iy);
            let (w00, w01, w10, w11) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy);
            let mut mean_e = 0.0f32;
            for v in 0..SIDE {
                let row = (iy as usize + v) * lz.w + ix as usize;
                for u in 0..SIDE {
                    let i = row + u;
                    let val = w00 * lz.px[i] + w01 * lz.px[i + 1] + w10 * lz.px[i + lz.w] + w11 * lz.px[i + lz.w + 1];
                    let e = val - tpl[v * SIDE + u].0;
                    errs[v * SIDE + u] = e;
                    mean_e += e;
                }
            }
            mean_e /= n;
            let (mut bx, mut by) = (0.0f32, 0.0f32);
            for (e, &(_, gx, gy)) in errs.iter().zip(&tpl) {
                // Brightness offset removed: the window's mean difference.
                bx += gx * (e - mean_e);
                by += gy * (e - mean_e);
            }
            let (mut sx, mut sy) = (-(hyy * bx - hxy * by) / det, -(hxx * by - hxy * bx) / det);
            // A step longer than the window is a guess off the slope: take it only in part.
            let len = sx.hypot(sy);
            if len > HALF as f32 {
                (sx, sy) = (sx * HALF as f32 / len, sy * HALF as f32 / len);
            }
            ld = (ld.0 + sx, ld.1 + sy);
            if sx.hypot(sy) < CONVERGED_PX {
                break;
            }
        }
        d = (ld.0 / k, ld.1 / k);
    }
    Some((p.0 + d.0, p.1 + d.1))
}

/// Normalised correlation of the windows around `p` in `a` and `q` in `z`.
fn patch_ncc(a: &Level, z: &Level, p: (f32, f32), q: (f32, f32)) -> Option<f32> {
    let (mut st, mut sv, mut stt, mut svv, mut stv, mut n) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for v in -HALF..=HALF {
        for u in -HALF..=HALF {
            let t = a.at(p.0 + u as f32, p.1 + v as f32)?;
            let w = z.at(q.0 + u as f32, q.1 + v as f32)?;
            (st, sv, stt, svv, stv, n) = (st + t, sv + w, stt + t * t, svv + w * w, stv + t * w, n + 1.0);
        }
    }
    let var = ((stt - st * st / n) * (svv - sv * sv / n)).max(0.0).sqrt();
    Some(if var > 0.0 { (stv - st * sv / n) / var } else { 0.0 })
}

/// Samples a side of a box's [`Look`].
const LOOK_SIDE: usize = 12;

/// What the inner part of a box looks like, scaled to a fixed grid and normalised (zero mean,
/// unit length): two looks compare by their correlation whatever the box's size and the light's
/// level. A carried box is checked against its detection's look ([`crate::track::follow`]): a box
/// that slid onto the background, or onto a road user passing in front, no longer looks alike,
/// though its points followed from frame to frame look alike at every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Look(Vec<f32>);

impl Look {
    /// The look of box `b` (pixels of level 0) in `p`; `None` when its inner part is partly
    /// outside the picture or plain.
    pub fn of(p: &Pyramid, b: &BBox) -> Option<Self> {
        let l = &p.levels[0];
        let (cx, cy) = b.center();
        let (iw, ih) = (b.width() * INNER_W, b.height() * INNER_H);
        let mut v = Vec::with_capacity(LOOK_SIDE * LOOK_SIDE);
        for j in 0..LOOK_SIDE {
            for i in 0..LOOK_SIDE {
                let fx = (i as f32 + 0.5) / LOOK_SIDE as f32 - 0.5;
                let fy = (j as f32 + 0.5) / LOOK_SIDE as f32 - 0.5;
                v.push(l.at(cx + fx * iw, cy + fy * ih)?);
            }
        }
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        v.iter_mut().for_each(|x| *x -= mean);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        // Less than about one grey level of spread a sample: nothing to compare.
        if norm < LOOK_SIDE as f32 {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Some(Self(v))
    }

    /// The correlation of two looks (−1–1).
    pub fn like(&self, other: &Look) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture of smooth random blobs (like a street's texture at a few pixels' scale), with
    /// `patch` drawn over it: a rectangle (x, y, w, h) of another texture, shifted by (dx, dy)
    /// and scaled by `scale` about its centre.
    /// An object drawn over the background: its rectangle (x, y, w, h), shift and scale.
    type Patch = ((f32, f32, f32, f32), (f32, f32), f32);

    fn scene(w: usize, h: usize, seed: u64, patch: Option<Patch>) -> Vec<u8> {
        let tex = |x: f32, y: f32, seed: u64| -> f32 {
            // Sinusoids in seeded directions, from coarse to fine with falling amplitude (as a
            // photograph's detail falls off with its frequency): smooth, no repeats in a picture.
            let mut v = 0.0;
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for i in 0..8 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let f = 0.04 * 1.4f32.powi(i);
                let a = ((s >> 33) % 628) as f32 / 100.0;
                let ph = ((s >> 43) % 628) as f32 / 100.0;
                v += (f * (a.cos() * x + a.sin() * y) + ph).sin() / f.sqrt();
            }
            128.0 + 4.0 * v
        };
        let mut px = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                let mut v = tex(xf, yf, seed);
                if let Some(((px0, py0, pw, ph), (dx, dy), scale)) = patch {
                    let (cx, cy) = (px0 + pw / 2.0 + dx, py0 + ph / 2.0 + dy);
                    // Back to the patch's own coordinates.
                    let (ux, uy) = ((xf - cx) / scale, (yf - cy) / scale);
                    if ux.abs() <= pw / 2.0 && uy.abs() <= ph / 2.0 {
                        v = tex(ux, uy, seed + 1);
                    }
                }
                px[y * w + x] = v.clamp(0.0, 255.0) as u8;
            }
        }
        px
    }

    fn pyr(px: &[u8], w: usize, h: usize) -> Pyramid {
        Pyramid::from_gray(px, w, h, w).expect("pyramid")
    }

    const W: usize = 320;
    const H: usize = 180;
    const BOX: (f32, f32, f32, f32) = (140.0, 60.0, 30.0, 50.0);

    fn bbox(shift: (f32, f32), scale: f32) -> BBox {
        let (x, y, w, h) = BOX;
        let (cx, cy) = (x + w / 2.0 + shift.0, y + h / 2.0 + shift.1);
        BBox::new(cx - w * scale / 2.0, cy - h * scale / 2.0, cx + w * scale / 2.0, cy + h * scale / 2.0)
    }

    fn close(a: &BBox, b: &BBox) -> f32 {
        [a.x1 - b.x1, a.y1 - b.y1, a.x2 - b.x2, a.y2 - b.y2].iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn a_shifted_object_is_found_to_a_fraction_of_a_pixel() {
        let prev = pyr(&scene(W, H, 1, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        for shift in [(3.4, -2.7), (-8.6, 6.3), (0.0, -12.5)] {
            let next = pyr(&scene(W, H, 1, Some((BOX, shift, 1.0))), W, H);
            let c = carry(&prev, &next, &bbox((0.0, 0.0), 1.0), (0.0, 0.0)).expect("carried");
            assert!(close(&c.bbox, &bbox(shift, 1.0)) < 0.3, "{shift:?}: {c:?}");
            assert!(c.ncc > 0.95 && c.fb_px < 1.0, "{c:?}");
        }
    }

    #[test]
    fn a_shrinking_object_is_found_with_its_new_size() {
        // Riding away: 8 % smaller and 6 px up in one frame.
        let prev = pyr(&scene(W, H, 2, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        let next = pyr(&scene(W, H, 2, Some((BOX, (1.0, -6.0), 0.92))), W, H);
        let c = carry(&prev, &next, &bbox((0.0, 0.0), 1.0), (0.0, 0.0)).expect("carried");
        // Within 0.8 px; the box kept at its old size would be 2 px off at the top and bottom.
        assert!(close(&c.bbox, &bbox((1.0, -6.0), 0.92)) < 0.8, "{c:?}");
    }

    #[test]
    fn a_long_move_is_found_from_the_tracks_own_guess() {
        // 60 px in a frame (a rider near the camera): out of reach from no guess, found from a
        // guess 5 px off.
        let prev = pyr(&scene(W, H, 3, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        let next = pyr(&scene(W, H, 3, Some((BOX, (60.0, 5.0), 1.0))), W, H);
        assert!(carry(&prev, &next, &bbox((0.0, 0.0), 1.0), (0.0, 0.0)).is_err());
        let c = carry(&prev, &next, &bbox((0.0, 0.0), 1.0), (56.0, 2.0)).expect("carried");
        assert!(close(&c.bbox, &bbox((60.0, 5.0), 1.0)) < 0.3, "{c:?}");
    }

    #[test]
    fn a_move_out_of_reach_from_no_guess_is_found_by_the_search() {
        // 15 px across and 11 up in a frame, with no guess: the search, on the level where the
        // 18 px wide inner box is 9 px, reaches 16 px.
        let prev = pyr(&scene(W, H, 3, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        let next = pyr(&scene(W, H, 3, Some((BOX, (15.0, -11.0), 1.0))), W, H);
        let b = bbox((0.0, 0.0), 1.0);
        assert!(carry(&prev, &next, &b, (0.0, 0.0)).is_err());
        let g = search(&prev, &next, &b, (0.0, 0.0)).expect("a guess");
        assert!((g.0 - 15.0).abs() <= 2.0 && (g.1 + 11.0).abs() <= 2.0, "{g:?}");
        let c = carry(&prev, &next, &b, g).expect("carried");
        assert!(close(&c.bbox, &bbox((15.0, -11.0), 1.0)) < 0.3, "{c:?}");
        // Around a guess, as far again; nothing found outside the picture.
        let far = pyr(&scene(W, H, 3, Some((BOX, (40.0, -11.0), 1.0))), W, H);
        let g = search(&prev, &far, &b, (30.0, 0.0)).expect("a guess");
        assert!((g.0 - 40.0).abs() <= 2.0 && (g.1 + 11.0).abs() <= 2.0, "{g:?}");
        assert_eq!(search(&prev, &next, &BBox::new(400.0, 10.0, 430.0, 60.0), (0.0, 0.0)), None);
        // Nothing beyond the carrier's own reach: no second guess.
        assert_eq!(search(&prev, &prev, &b, (0.0, 0.0)), None, "not moved");
        assert_eq!(search(&prev, &next, &b, (14.0, -10.0)), None, "guessed well");
        assert_eq!(search(&prev, &next, &b, (f32::MAX, 0.0)), None, "a guess off the picture");
        assert_eq!(search(&prev, &next, &b, (f32::NAN, 0.0)), None);
        assert_eq!(search(&prev, &next, &BBox::new(-1e9, -1e9, 1e9, 1e9), (0.0, 0.0)), None, "larger than the picture");
    }

    #[test]
    fn a_brighter_frame_does_not_move_the_box() {
        // Auto exposure: every pixel 20 levels brighter, the object 4 px across.
        let prev = pyr(&scene(W, H, 4, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        let next: Vec<u8> = scene(W, H, 4, Some((BOX, (4.0, 0.0), 1.0))).iter().map(|v| v.saturating_add(20)).collect();
        let c = carry(&prev, &pyr(&next, W, H), &bbox((0.0, 0.0), 1.0), (0.0, 0.0)).expect("carried");
        assert!(close(&c.bbox, &bbox((4.0, 0.0), 1.0)) < 0.3, "{c:?}");
    }

    #[test]
    fn a_plain_box_is_refused() {
        let flat = vec![90u8; W * H];
        let p = pyr(&flat, W, H);
        assert_eq!(carry(&p, &p, &bbox((0.0, 0.0), 1.0), (0.0, 0.0)), Err(Refused::Plain));
    }

    #[test]
    fn a_box_whose_object_is_gone_is_refused() {
        // The next frame shows other texture where the object was and nowhere near it.
        let prev = pyr(&scene(W, H, 5, Some((BOX, (0.0, 0.0), 1.0))), W, H);
        let next = pyr(&scene(W, H, 6, None), W, H);
        let got = carry(&prev, &next, &bbox((0.0, 0.0), 1.0), (0.0, 0.0));
        assert!(matches!(got, Err(Refused::Unlike | Refused::Inconsistent | Refused::Lost)), "{got:?}");
    }

    #[test]
    fn a_box_outside_the_picture_or_too_small_is_refused() {
        let p = pyr(&scene(W, H, 7, None), W, H);
        assert_eq!(carry(&p, &p, &BBox::new(400.0, 10.0, 430.0, 60.0), (0.0, 0.0)), Err(Refused::Outside));
        assert_eq!(carry(&p, &p, &BBox::new(100.0, 100.0, 104.0, 104.0), (0.0, 0.0)), Err(Refused::Outside));
    }

    #[test]
    fn short_or_empty_buffers_make_no_pyramid() {
        assert!(Pyramid::from_gray(&[0u8; 10], 4, 4, 4).is_none());
        assert!(Pyramid::from_gray(&[], 0, 0, 0).is_none());
        let rgb = [0u8; 20];
        assert!(Pyramid::from_rgb(&Picture { rgb: &rgb, stride: 12, width: 4, height: 4 }).is_none());
    }

    #[test]
    fn grey_is_the_luma_of_each_rgb_pixel_row_by_row() {
        // Two rows of white, red, green, blue; each row padded to 16 bytes.
        let mut rgb = vec![0u8; 32];
        for row in 0..2 {
            let px = [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]];
            for (k, c) in px.iter().enumerate() {
                rgb[16 * row + 3 * k..16 * row + 3 * k + 3].copy_from_slice(c);
            }
        }
        let g = Gray::from_rgb(&Picture { rgb: &rgb, stride: 16, width: 4, height: 2 }).expect("grey");
        assert_eq!((g.width, g.height), (4, 2));
        assert_eq!(g.px, [255, 77, 149, 29, 255, 77, 149, 29]);
    }

    #[test]
    fn a_pyramid_halves_down_to_its_smallest_level() {
        let p = pyr(&vec![7u8; 640 * 360], 640, 360);
        let sizes: Vec<(usize, usize)> = p.levels.iter().map(|l| (l.w, l.h)).collect();
        assert_eq!(sizes, [(640, 360), (320, 180), (160, 90), (80, 45)]);
        assert!(p.levels[3].px.iter().all(|&v| (v - 7.0).abs() < 1e-4));
    }
}
