//! Motion regions: where only part of the picture moved, detect on crops of the moving parts at
//! the camera's own resolution, packed side by side into the model's input (a mosaic), instead
//! of on the whole picture scaled down to the input.
//!
//! A 1280x720 camera is scaled by 0.5 to fit a 640x384 input: a motorcycle 50 m away, 24 px tall
//! in the picture, reaches the model 12 px tall. When it is what moves, a crop around it goes to
//! the model at up to its own size. The policy, in order:
//!
//! - **What moved** comes from the motion gate's thumbnail: changed cells, grouped into areas
//!   (8-connected), each grown to include the last detections it touches (so an object whose
//!   legs move is cropped whole) and a margin.
//! - **Areas become crops** of one tile each in a grid of the input (1, 2 or 4 tiles); areas that
//!   overlap are merged, and the closest are merged while there are more than the grid's tiles.
//!   A crop takes its tile's aspect and is shown at the largest scale, at most 1 (never
//!   enlarged). The grid that shows its smallest crop largest wins, and of equals the one with
//!   fewest tiles: larger crops cut fewer objects.
//! - **A mosaic is used only when it pays:** every crop must be shown at least [`MIN_GAIN`] times
//!   larger than the whole picture shows it. Otherwise the whole picture is detected, which also
//!   sees everything that did not move.
//! - **Nothing is lost or doubled at a crop's edge.** A crop that would cut one of the last
//!   detections grows to take it in. A box in the overlap of two crops is found twice and
//!   suppressed as in any detection; a box cut by a crop edge inside the picture is dropped if
//!   another crop holds the same object whole or if it is weak (below 0.5), and otherwise the
//!   frame is detected whole again ([`MappedBack::Cut`]): one more inference, never half an
//!   object.
//! - **What did not move keeps its last detection**: last boxes mostly outside every crop are
//!   handed on with the new ones, as the gate hands on a whole still frame.
//!
//! Pure geometry, no inference: `detect::Detector::detect_mosaic` runs it.

use super::nms::nms_in_place;
use super::types::{BBox, Detection};

/// At most this many crops in one mosaic (a 2 x 2 grid of tiles).
pub const MAX_TILES: usize = 4;

/// A mosaic is used only if every crop in it is shown at least this many times larger than the
/// whole picture scaled to the input: below that, the resolution gained does not pay for the
/// rest of the picture unseen.
pub const MIN_GAIN: f32 = 1.25;

/// Margin around a moving area: this share of its larger side, and at least [`MIN_MARGIN_PX`].
const MARGIN_SHARE: f32 = 0.25;
const MIN_MARGIN_PX: f32 = 16.0;

/// A box edge this close to a crop edge (input pixels) touches it.
const EDGE_PX: f32 = 2.0;

/// A cut box is the same object as a whole box from another crop when this share of it lies
/// inside the whole one.
const SAME_OBJECT_SHARE: f32 = 0.7;

/// A cut box this sure or surer asks for the whole picture; a weaker one is dropped. The tracker
/// starts and confirms tracks only from boxes of 0.5 and up (its default `high_thresh`); a weak box
/// only extends a track, which a truncated box would pull off its object, and weak boxes at crop
/// edges are mostly fragments (measured: most cuts on a busy street scored 0.1–0.3).
const CUT_MIN_SCORE: f32 = 0.5;

/// A last detection is handed on when less than this share of it lies inside the crops.
const KEEP_OUTSIDE_SHARE: f32 = 0.5;

/// A pixel rectangle of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn bbox(&self) -> BBox {
        BBox::new(self.x as f32, self.y as f32, (self.x + self.w) as f32, (self.y + self.h) as f32)
    }
}

/// One crop of the picture and where it goes in the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tile {
    /// The crop, in picture pixels.
    pub crop: Rect,
    /// Where its scaled pixels start in the input.
    pub at: (u32, u32),
    /// Its size in the input (the crop times its scale, within the tile).
    pub fit: (u32, u32),
}

impl Tile {
    fn scale(&self) -> (f32, f32) {
        (self.fit.0 as f32 / self.crop.w as f32, self.fit.1 as f32 / self.crop.h as f32)
    }

    /// The tile's pixels in the input.
    fn in_input(&self) -> BBox {
        let (x, y) = (self.at.0 as f32, self.at.1 as f32);
        BBox::new(x, y, x + self.fit.0 as f32, y + self.fit.1 as f32)
    }

    /// A box in input pixels → picture pixels, clamped to the crop.
    pub fn to_picture(&self, b: BBox) -> BBox {
        let (sx, sy) = self.scale();
        let c = self.crop.bbox();
        let (ax, ay) = (self.at.0 as f32, self.at.1 as f32);
        BBox::new(
            (c.x1 + (b.x1 - ax) / sx).clamp(c.x1, c.x2),
            (c.y1 + (b.y1 - ay) / sy).clamp(c.y1, c.y2),
            (c.x1 + (b.x2 - ax) / sx).clamp(c.x1, c.x2),
            (c.y1 + (b.y2 - ay) / sy).clamp(c.y1, c.y2),
        )
    }

    /// Whether a box (input pixels) touches an edge of the crop that lies inside the picture:
    /// the object may go on beyond it.
    fn cuts(&self, b: BBox, picture: (u32, u32)) -> bool {
        let t = self.in_input();
        let c = self.crop;
        (c.x > 0 && b.x1 <= t.x1 + EDGE_PX)
            || (c.y > 0 && b.y1 <= t.y1 + EDGE_PX)
            || (c.x + c.w < picture.0 && b.x2 >= t.x2 - EDGE_PX)
            || (c.y + c.h < picture.1 && b.y2 >= t.y2 - EDGE_PX)
    }
}

/// Crops of a picture packed into one model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Mosaic {
    /// The picture's size.
    pub picture: (u32, u32),
    /// The model input's size.
    pub input: (u32, u32),
    pub tiles: Vec<Tile>,
}

impl Mosaic {
    /// The smallest scale at which a crop is shown (input pixels per picture pixel).
    pub fn min_scale(&self) -> f32 {
        self.tiles.iter().map(|t| t.scale().0.min(t.scale().1)).fold(f32::INFINITY, f32::min)
    }
}

/// The areas of changed cells in a `grid.0` x `grid.1` mask (row by row), 8-connected, as boxes
/// in picture pixels.
pub fn moving_areas(mask: &[bool], grid: (usize, usize), picture: (u32, u32)) -> Vec<BBox> {
    let (gw, gh) = grid;
    if gw == 0 || gh == 0 || mask.len() != gw * gh {
        return Vec::new();
    }
    let mut seen = vec![false; mask.len()];
    let mut areas = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (gw, gh, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % gw, i / gw);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            for ny in y.saturating_sub(1)..=(y + 1).min(gh - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(gw - 1) {
                    let j = ny * gw + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        // Cell edges in picture pixels, as the thumbnail cut the picture into cells.
        let px = |c: usize| (c as u64 * u64::from(picture.0) / gw as u64) as f32;
        let py = |c: usize| (c as u64 * u64::from(picture.1) / gh as u64) as f32;
        areas.push(BBox::new(px(x0), py(y0), px(x1 + 1), py(y1 + 1)));
    }
    areas
}

fn union(a: BBox, b: BBox) -> BBox {
    BBox::new(a.x1.min(b.x1), a.y1.min(b.y1), a.x2.max(b.x2), a.y2.max(b.y2))
}

fn intersection(a: &BBox, b: &BBox) -> f32 {
    (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0) * (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0)
}

fn overlap(a: &BBox, b: &BBox) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

/// The areas to crop: each moving area grown to the last detections it touches and a margin,
/// clamped to the picture, overlapping ones merged.
fn wanted(areas: &[BBox], last: &[Detection], picture: (u32, u32)) -> Vec<BBox> {
    let (pw, ph) = (picture.0 as f32, picture.1 as f32);
    let want: Vec<BBox> = areas
        .iter()
        .map(|a| {
            let grown = last.iter().filter(|d| overlap(&d.bbox, a)).fold(*a, |u, d| union(u, d.bbox));
            let m = (grown.width().max(grown.height()) * MARGIN_SHARE).max(MIN_MARGIN_PX);
            BBox::new((grown.x1 - m).max(0.0), (grown.y1 - m).max(0.0), (grown.x2 + m).min(pw), (grown.y2 + m).min(ph))
        })
        .collect();
    merged(want, usize::MAX)
}

/// `want` with overlapping boxes merged, then the pairs whose union adds the least area while
/// more than `at_most` remain.
fn merged(mut want: Vec<BBox>, at_most: usize) -> Vec<BBox> {
    let pairs = |n: usize| (0..n).flat_map(move |i| (i + 1..n).map(move |j| (i, j)));
    loop {
        let pair = pairs(want.len()).find(|&(i, j)| overlap(&want[i], &want[j])).or_else(|| {
            let cost = |i: usize, j: usize| union(want[i], want[j]).area() - want[i].area() - want[j].area();
            (want.len() > at_most)
                .then(|| pairs(want.len()).min_by(|a, b| cost(a.0, a.1).total_cmp(&cost(b.0, b.1))))
                .flatten()
        });
        let Some((i, j)) = pair else { break };
        let b = want.swap_remove(j);
        want[i] = union(want[i], b);
    }
    want
}

/// The crop for `area` in a `tile_w` x `tile_h` tile at `at`: the area grown to the tile's
/// aspect around its centre (the tile's own size at least, as nothing is enlarged), moved inside
/// the picture.
fn tile_for(area: BBox, (tile_w, tile_h): (u32, u32), at: (u32, u32), picture: (u32, u32)) -> Tile {
    let (tw, th) = (tile_w as f32, tile_h as f32);
    let scale = (tw / area.width().max(1.0)).min(th / area.height().max(1.0)).min(1.0);
    let cw = ((tw / scale).round() as u32).clamp(1, picture.0);
    let ch = ((th / scale).round() as u32).clamp(1, picture.1);
    let (cx, cy) = area.center();
    let place = |c: f32, size: u32, limit: u32| ((c - size as f32 / 2.0).round().max(0.0) as u32).min(limit - size);
    let crop = Rect { x: place(cx, cw, picture.0), y: place(cy, ch, picture.1), w: cw, h: ch };
    let s = (tw / cw as f32).min(th / ch as f32).min(1.0);
    let fit = (((cw as f32 * s).round() as u32).clamp(1, tile_w), ((ch as f32 * s).round() as u32).clamp(1, tile_h));
    Tile { crop, at, fit }
}

/// The tile for `area` whose crop cuts none of the `last` detections: a crop that would cut one
/// grows to take it in (a few times at most; a cut left over is caught in [`map_back`]). Known
/// objects are where cuts come from: each one costs a second inference on the whole picture.
fn uncut_tile(mut area: BBox, last: &[Detection], tile: (u32, u32), at: (u32, u32), picture: (u32, u32)) -> Tile {
    const GROWTHS: usize = 4;
    let mut t = tile_for(area, tile, at, picture);
    for _ in 0..GROWTHS {
        let crop = t.crop.bbox();
        let cut: Vec<BBox> = last
            .iter()
            .map(|d| d.bbox)
            .filter(|b| overlap(b, &crop) && intersection(b, &crop) < b.area() * 0.999)
            .collect();
        if cut.is_empty() {
            break;
        }
        area = cut.into_iter().fold(area, union);
        t = tile_for(area, tile, at, picture);
    }
    t
}

/// The mosaic for the moving `areas` of a `picture` (with the camera's `last` detections), in
/// one of the model's `inputs` (the camera's own first; the others only if smaller) where the
/// whole picture would be shown at `whole_scale`; `None` when the whole picture should be
/// detected instead (nothing moved, or no mosaic shows every crop [`MIN_GAIN`] times larger).
///
/// Of the inputs and grids, the one that shows the smallest crop largest wins; of equals, the
/// smallest input (a lone rider far away needs no more than 320x320, a quarter of the
/// inference), then the fewest tiles.
pub fn plan(
    areas: &[BBox],
    last: &[Detection],
    picture: (u32, u32),
    inputs: &[(u32, u32)],
    whole_scale: f32,
) -> Option<Mosaic> {
    let &own = inputs.first()?;
    if areas.is_empty() || picture.0 == 0 || picture.1 == 0 {
        return None;
    }
    let want = wanted(areas, last, picture);
    let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let mut sizes: Vec<(u32, u32)> = inputs.iter().copied().filter(|&i| pixels(i) <= pixels(own)).collect();
    sizes.sort_by_key(|&i| pixels(i));
    sizes.dedup();
    let layouts: [(u32, u32); 4] = [(1, 1), (2, 1), (1, 2), (2, 2)];
    sizes
        .iter()
        .flat_map(|&input| layouts.iter().map(move |&layout| (input, layout)))
        .map(|((iw, ih), (cols, rows))| {
            let input = (iw, ih);
            // Fewer tiles than areas: the closest areas share a crop.
            let areas = merged(want.clone(), (cols * rows) as usize);
            let tile = (iw / cols, ih / rows);
            let tiles = areas
                .iter()
                .enumerate()
                .map(|(k, a)| {
                    let (c, r) = (k as u32 % cols, k as u32 / cols);
                    uncut_tile(*a, last, tile, (c * tile.0, r * tile.1), picture)
                })
                .collect();
            Mosaic { picture, input, tiles }
        })
        // The largest smallest scale; of equals, the first (smallest input, fewest tiles).
        .fold(None::<Mosaic>, |best, m| match best {
            Some(b) if b.min_scale() >= m.min_scale() => Some(b),
            _ => Some(m),
        })
        .filter(|m| m.min_scale() >= whole_scale * MIN_GAIN)
}

/// What became of a mosaic's detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBack {
    /// Every object found lies whole inside a crop.
    Whole,
    /// An object is cut by a crop's edge and no other crop holds it whole: detect the whole
    /// picture.
    Cut,
}

/// Bring detections in input pixels (`dets`, already suppressed) back to picture pixels: each
/// goes by the tile that holds its centre (those in no tile are padding and dropped); boxes
/// found twice in overlapping crops are suppressed (`nms_iou`), and cut boxes that another crop
/// holds whole are dropped.
pub fn map_back(mosaic: &Mosaic, dets: &mut Vec<Detection>, nms_iou: f32) -> MappedBack {
    let mut flagged: Vec<(Detection, bool)> = Vec::with_capacity(dets.len());
    for d in dets.iter() {
        let (cx, cy) = d.bbox.center();
        let Some(t) = mosaic.tiles.iter().find(|t| {
            let r = t.in_input();
            cx >= r.x1 && cx < r.x2 && cy >= r.y1 && cy < r.y2
        }) else {
            continue;
        };
        let r = t.in_input();
        let clipped = BBox::new(d.bbox.x1.max(r.x1), d.bbox.y1.max(r.y1), d.bbox.x2.min(r.x2), d.bbox.y2.min(r.y2));
        let back = Detection { bbox: t.to_picture(clipped), ..*d };
        if back.bbox.area() > 0.0 {
            flagged.push((back, t.cuts(clipped, mosaic.picture)));
        }
    }
    let whole: Vec<BBox> = flagged.iter().filter(|(_, cut)| !cut).map(|(d, _)| d.bbox).collect();
    let mut still_cut = false;
    dets.clear();
    for (d, cut) in flagged {
        if cut {
            let held = whole.iter().any(|w| intersection(w, &d.bbox) >= SAME_OBJECT_SHARE * d.bbox.area());
            if held || d.score < CUT_MIN_SCORE {
                continue;
            }
            still_cut = true;
        }
        dets.push(d);
    }
    nms_in_place(dets, nms_iou, usize::MAX);
    if still_cut { MappedBack::Cut } else { MappedBack::Whole }
}

/// Add to `new` (a mosaic's detections, in picture pixels) the `last` detections that lie
/// mostly outside every crop and are not found again: what did not move.
pub fn hand_on_still(new: &mut Vec<Detection>, last: &[Detection], mosaic: &Mosaic) {
    let found = new.len();
    for d in last {
        let area = d.bbox.area();
        if area <= 0.0 {
            continue;
        }
        let inside: f32 = mosaic.tiles.iter().map(|t| intersection(&t.crop.bbox(), &d.bbox)).sum();
        let again = new[..found].iter().any(|n| n.class_id == d.class_id && n.bbox.iou(&d.bbox) > 0.3);
        if inside < KEEP_OUTSIDE_SHARE * area && !again {
            new.push(*d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: (u32, u32) = (1280, 720);
    const INPUT: (u32, u32) = (640, 384);
    /// A 1280x720 picture in a 640x384 input is shown at half size.
    const WHOLE: f32 = 0.5;

    fn det(class_id: u32, b: [f32; 4]) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::from(b) }
    }

    fn inside(inner: &BBox, outer: &BBox) -> bool {
        inner.x1 >= outer.x1 && inner.y1 >= outer.y1 && inner.x2 <= outer.x2 && inner.y2 <= outer.y2
    }

    /// A box in picture pixels → input pixels through `t` (the inverse of `to_picture`).
    fn to_input(t: &Tile, b: BBox) -> BBox {
        let (sx, sy) = t.scale();
        let (cx, cy, ax, ay) = (t.crop.x as f32, t.crop.y as f32, t.at.0 as f32, t.at.1 as f32);
        BBox::new(ax + (b.x1 - cx) * sx, ay + (b.y1 - cy) * sy, ax + (b.x2 - cx) * sx, ay + (b.y2 - cy) * sy)
    }

    #[test]
    fn changed_cells_group_into_areas_in_picture_pixels() {
        // An 8x4 grid over 1280x720: cells of 160x180. Two blobs, one of them joined diagonally.
        let mut mask = vec![false; 32];
        for (x, y) in [(0, 0), (1, 1), (6, 2), (7, 2), (7, 3)] {
            mask[y * 8 + x] = true;
        }
        let areas = moving_areas(&mask, (8, 4), HD);
        assert_eq!(areas, vec![BBox::new(0.0, 0.0, 320.0, 360.0), BBox::new(960.0, 360.0, 1280.0, 720.0)]);
        assert!(moving_areas(&[false; 32], (8, 4), HD).is_empty());
        assert!(moving_areas(&mask, (8, 5), HD).is_empty(), "a mask of the wrong size is no motion");
    }

    #[test]
    fn a_small_moving_area_is_shown_at_the_cameras_own_resolution() {
        let rider = BBox::new(1000.0, 100.0, 1030.0, 150.0);
        let m = plan(&[rider], &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        assert_eq!(m.tiles.len(), 1);
        assert_eq!(m.min_scale(), 1.0, "{m:?}");
        let t = m.tiles[0];
        assert!(inside(&rider, &t.crop.bbox()), "{t:?}");
        // Never beyond the picture, never enlarged.
        assert!(t.crop.x + t.crop.w <= HD.0 && t.crop.y + t.crop.h <= HD.1, "{t:?}");
        assert_eq!(t.fit, (t.crop.w, t.crop.h));
    }

    #[test]
    fn a_lone_small_mover_goes_to_the_smallest_input_that_shows_it_as_large() {
        let inputs = [INPUT, (640, 640), (640, 480), (320, 320)];
        let rider = BBox::new(1000.0, 100.0, 1030.0, 150.0);
        let m = plan(&[rider], &[], HD, &inputs, WHOLE).expect("a mosaic pays");
        assert_eq!((m.input, m.tiles.len(), m.min_scale()), ((320, 320), 1, 1.0), "{m:?}");
        // Larger inputs than the camera's own are never used.
        let big = BBox::new(100.0, 100.0, 500.0, 350.0);
        let m = plan(&[big], &[], HD, &inputs, WHOLE).expect("a mosaic pays");
        assert_eq!(m.input, INPUT, "{m:?}");
        // Two riders far apart still fit 320x320 at full size, in two tiles of 160x320.
        let two = [rider, BBox::new(100.0, 600.0, 130.0, 650.0)];
        let m = plan(&two, &[], HD, &inputs, WHOLE).expect("a mosaic pays");
        assert_eq!((m.input, m.tiles.len(), m.min_scale()), ((320, 320), 2, 1.0), "{m:?}");
    }

    #[test]
    fn the_whole_picture_is_detected_when_a_mosaic_would_not_show_more() {
        // Motion over most of the picture: crops would be shown no larger than the whole.
        assert_eq!(plan(&[BBox::new(0.0, 0.0, 1200.0, 700.0)], &[], HD, &[INPUT], WHOLE), None);
        // Two areas far apart, each larger than a tile at 1.25 x the whole picture's scale.
        let big = [BBox::new(0.0, 0.0, 560.0, 700.0), BBox::new(700.0, 0.0, 1280.0, 700.0)];
        assert_eq!(plan(&big, &[], HD, &[INPUT], WHOLE), None);
        assert_eq!(plan(&[], &[], HD, &[INPUT], WHOLE), None, "nothing moved");
        // A picture already shown at its own size gains nothing.
        assert_eq!(plan(&[BBox::new(10.0, 10.0, 40.0, 40.0)], &[], (640, 360), &[INPUT], 1.0), None);
    }

    #[test]
    fn many_areas_share_at_most_four_tiles_and_every_area_is_inside_a_crop() {
        let areas: Vec<BBox> = (0..6)
            .map(|k| {
                let x = 40.0 + 200.0 * k as f32;
                BBox::new(x, 300.0 + 40.0 * (k % 2) as f32, x + 30.0, 340.0 + 40.0 * (k % 2) as f32)
            })
            .collect();
        let m = plan(&areas, &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        assert!(m.tiles.len() <= MAX_TILES, "{m:?}");
        for a in &areas {
            assert!(m.tiles.iter().any(|t| inside(a, &t.crop.bbox())), "{a:?} in no crop of {m:?}");
        }
        // Tiles never overlap in the input.
        for (i, a) in m.tiles.iter().enumerate() {
            for b in &m.tiles[i + 1..] {
                assert!(!overlap(&a.in_input(), &b.in_input()), "{a:?} {b:?}");
            }
            assert!(a.at.0 + a.fit.0 <= INPUT.0 && a.at.1 + a.fit.1 <= INPUT.1, "{a:?}");
        }
    }

    #[test]
    fn a_crop_takes_in_the_last_detection_its_motion_touches() {
        // Only a walker's legs moved; the walker was detected whole last time.
        let legs = BBox::new(600.0, 400.0, 640.0, 440.0);
        let walker = det(0, [590.0, 250.0, 650.0, 445.0]);
        let far_car = det(2, [100.0, 100.0, 200.0, 150.0]);
        let m = plan(&[legs], &[walker, far_car], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        assert!(m.tiles.iter().any(|t| inside(&walker.bbox, &t.crop.bbox())), "{m:?}");
    }

    #[test]
    fn a_crop_grows_rather_than_cut_a_known_object() {
        // A rider moves next to a parked bus that the crop around the rider would cut.
        let rider = BBox::new(600.0, 300.0, 630.0, 350.0);
        let bus = det(5, [200.0, 250.0, 420.0, 420.0]);
        let alone = plan(&[rider], &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        let crop = alone.tiles[0].crop.bbox();
        assert!(overlap(&bus.bbox, &crop) && !inside(&bus.bbox, &crop), "the bus is cut: {crop:?}");
        let m = plan(&[rider], &[bus], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        assert!(m.tiles.iter().any(|t| inside(&bus.bbox, &t.crop.bbox())), "{m:?}");
        assert!(m.tiles.iter().all(|t| !overlap(&bus.bbox, &t.crop.bbox()) || inside(&bus.bbox, &t.crop.bbox())));
    }

    #[test]
    fn boxes_come_back_to_where_they_are_in_the_picture() {
        let areas = [BBox::new(100.0, 100.0, 130.0, 150.0), BBox::new(1100.0, 500.0, 1150.0, 560.0)];
        let m = plan(&areas, &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        let mut dets: Vec<Detection> = areas
            .iter()
            .map(|a| {
                let t = m.tiles.iter().find(|t| inside(a, &t.crop.bbox())).expect("a crop holds it");
                det(3, <[f32; 4]>::from(to_input(t, *a)))
            })
            .collect();
        assert_eq!(map_back(&m, &mut dets, 0.45), MappedBack::Whole);
        assert_eq!(dets.len(), 2, "{dets:?}");
        for a in &areas {
            let got = dets.iter().find(|d| d.bbox.iou(a) > 0.0).expect("found");
            for (g, e) in <[f32; 4]>::from(got.bbox).iter().zip(<[f32; 4]>::from(*a)) {
                assert!((g - e).abs() < 0.5, "{:?} != {a:?}", got.bbox);
            }
        }
        // A 1280x300 strip leaves the input's bottom rows as padding: a box there is dropped.
        let m = plan(&[BBox::new(100.0, 100.0, 130.0, 150.0)], &[], (1280, 300), &[INPUT], WHOLE).expect("pays");
        assert_eq!(m.tiles[0].fit, (640, 300));
        let mut padding = vec![det(3, [100.0, 330.0, 120.0, 370.0])];
        assert_eq!(map_back(&m, &mut padding, 0.45), MappedBack::Whole);
        assert!(padding.is_empty(), "{padding:?}");
    }

    #[test]
    fn an_object_cut_by_a_crop_edge_inside_the_picture_asks_for_the_whole_picture() {
        let m = plan(&[BBox::new(600.0, 300.0, 640.0, 340.0)], &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        let t = m.tiles[0];
        assert!(t.crop.x > 0, "{t:?}");
        // A bus reaching into the crop from its left edge.
        let mut cut = vec![det(5, [t.at.0 as f32, 100.0, t.at.0 as f32 + 50.0, 200.0])];
        assert_eq!(map_back(&m, &mut cut, 0.45), MappedBack::Cut);
        assert_eq!(cut.len(), 1);
        // A weak cut box is a fragment more often than an object: dropped, no second inference.
        let mut weak = vec![Detection { score: 0.3, ..det(5, [t.at.0 as f32, 100.0, t.at.0 as f32 + 50.0, 200.0]) }];
        assert_eq!(map_back(&m, &mut weak, 0.45), MappedBack::Whole);
        assert!(weak.is_empty(), "{weak:?}");
        // Touching the crop's edge where it is the picture's own edge is not a cut.
        let m = plan(&[BBox::new(0.0, 300.0, 40.0, 340.0)], &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        assert_eq!(m.tiles[0].crop.x, 0);
        let mut edge = vec![det(0, [0.0, 100.0, 20.0, 200.0])];
        assert_eq!(map_back(&m, &mut edge, 0.45), MappedBack::Whole);
        assert_eq!(edge.len(), 1);
    }

    #[test]
    fn an_object_in_two_crops_is_found_once() {
        // Two crops that overlap: a hand-made mosaic of two 320x384 tiles at scale 1.
        let tiles = vec![
            Tile { crop: Rect { x: 100, y: 100, w: 320, h: 384 }, at: (0, 0), fit: (320, 384) },
            Tile { crop: Rect { x: 300, y: 100, w: 320, h: 384 }, at: (320, 0), fit: (320, 384) },
        ];
        let m = Mosaic { picture: HD, input: INPUT, tiles };
        // An object at x 330–380 lies whole in both crops; one at x 400–450 is cut by the first
        // crop's right edge (x 420) and whole in the second.
        let whole = BBox::new(330.0, 200.0, 380.0, 260.0);
        let across = BBox::new(400.0, 300.0, 450.0, 360.0);
        let mut dets = vec![
            det(0, <[f32; 4]>::from(to_input(&m.tiles[0], whole))),
            det(0, <[f32; 4]>::from(to_input(&m.tiles[1], whole))),
            det(0, <[f32; 4]>::from(to_input(&m.tiles[0], BBox::new(400.0, 300.0, 420.0, 360.0)))),
            det(0, <[f32; 4]>::from(to_input(&m.tiles[1], across))),
        ];
        assert_eq!(map_back(&m, &mut dets, 0.45), MappedBack::Whole);
        assert_eq!(dets.len(), 2, "{dets:?}");
        assert!(dets.iter().any(|d| d.bbox.iou(&whole) > 0.95) && dets.iter().any(|d| d.bbox.iou(&across) > 0.95));
    }

    #[test]
    fn what_did_not_move_keeps_its_last_detection() {
        let m = plan(&[BBox::new(1000.0, 100.0, 1030.0, 150.0)], &[], HD, &[INPUT], WHOLE).expect("a mosaic pays");
        let crop = m.tiles[0].crop.bbox();
        let parked = det(2, [10.0, 600.0, 200.0, 700.0]);
        assert!(!overlap(&parked.bbox, &crop));
        let moved_away = det(3, [crop.x1 + 10.0, crop.y1 + 10.0, crop.x1 + 40.0, crop.y1 + 60.0]);
        let rider_before = det(3, [1001.0, 100.0, 1031.0, 150.0]);
        let mut new = vec![det(3, [1000.0, 100.0, 1030.0, 150.0])];
        hand_on_still(&mut new, &[parked, moved_away, rider_before], &m);
        assert_eq!(new.len(), 2, "{new:?}");
        assert_eq!(new[1], parked);
    }
}
