//! Association of detections (rows) with tracks (columns): similarity edges plus an optimal
//! assignment.
//!
//! The similarity of a pair of the same class is the larger of
//! - the IoU of the two boxes, and
//! - a **distance score** `1 - d / radius`, where `d` is the distance between the box centres and
//!   `radius` is the column's search radius ([`Item::radius`], 0 for none), provided the two
//!   heights differ by less than a factor [`MAX_SIZE_RATIO`] (the widths, for a detection cut
//!   by the picture's top edge, whose height is only the part in the picture).
//!
//! The distance score is what keeps fast objects at low detect rates: near the camera a rider
//! moves more than its own box length between two detections, so a box and the track's
//! predicted box may not overlap at all although the prediction is good. The radius is chosen by
//! the tracker from the object's size, speed and time unseen.
//!
//! A column seen once and cut by the picture's edge ([`Item::entering`], found by
//! [`inward_normal`]) is entering the picture: its next box lies further in, and a box where it
//! was, or beside it, is more likely the next road user entering behind it (a rider riding away
//! from a pole camera at 80 km/h moves its own box height between two detections at 5 per
//! second, and the one behind it takes its place). For such a column only movement across the
//! edge's normal counts as distance, movement inwards is free, and a detection that did not move
//! in keeps [`ENTERING_STAY`] of its score (its IoU too).
//!
//! Where the road's direction is known (a calibrated camera with a zone drawn along the road), a
//! column seen once carries the picture's line through its foot towards the road's vanishing
//! point ([`Item::road`]): road users move along the road, so a detection whose foot lies off
//! that line by more than [`ROAD_FREE_W`] of its own width keeps less of its distance score,
//! down to [`ROAD_FLOOR`]. At 3 detections a second a rider riding away moves further than the
//! gap to the rider entering behind it, and the nearest box is often that rider, beside the
//! first one's line rather than on it.
//!
//! A column riding in a cluster carries the road's line through its expected foot and how far
//! off it a detection may lie ([`Item::lane`]): beyond, the detection is a neighbour's, one
//! lane over, and scores by IoU only.
//!
//! Where the camera is calibrated, a row whose foot lies further on the ground from a column's
//! last detection than a road user could have gone in the time unseen scores 0, its overlap too
//! ([`Item::reach`], see [`super::ground`]).
//!
//! The problem solved is a maximum-weight bipartite matching where a pair may only be matched if
//! its similarity reaches the gate; a pair's weight is `similarity - gate` (plus a hair, so a
//! pair exactly at the gate still counts). That is what ByteTrack gets from `lapjv` with
//! `cost_limit`: leaving a row and a column unmatched costs as much as matching them at the gate.
//!
//! Two things keep it fast with hundreds of objects, where a dense Hungarian over everything
//! would be cubic:
//! - candidate pairs come from a sweep over columns sorted by `(class, x1 - radius)`, so only
//!   boxes that can overlap or lie within the radius are ever compared;
//! - the graph of candidate pairs is split into connected components, and each is solved on
//!   its own: a single pair is matched directly, a star (one row or one column) takes its best
//!   edge, and only real conflicts go to the Hungarian method, on a small dense matrix.
//!
//! All buffers live in [`Assigner`] and are reused, so steady-state association allocates
//! nothing.

use super::ground::{Foot, Reach};
use crate::detect::types::BBox;

/// Added to every edge weight so an IoU exactly at the gate is still worth matching.
const WEIGHT_EPS: f32 = 1e-6;
const NONE: u32 = u32::MAX;

/// A distance match needs the detection's height within this factor of the track's height
/// (predicted or last detected): a different object at the predicted place (a far motorcycle
/// where a near one is expected) is no match.
pub const MAX_SIZE_RATIO: f32 = 1.8;

/// One box to associate: a detection or a track's predicted box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Item {
    pub class_id: u32,
    pub bbox: BBox,
    /// Pixels from the box centre within which a centre scores by distance; 0 for IoU only.
    /// Set on columns (tracks); ignored on rows.
    pub radius: f32,
    /// The heights a matching detection may have for a distance score, `(low, high)`; a
    /// column's own box height is always allowed too. Ignored on rows.
    pub heights: (f32, f32),
    /// Where the ground is, for a column whose object's size must fit where a detection stands.
    /// Ignored on rows.
    pub scale: Option<Scale>,
    /// For a column whose object was seen once, cut by the picture's edge: the unit vector
    /// pointing into the picture from that edge (see [`inward_normal`]). Ignored on rows.
    pub entering: Option<(f32, f32)>,
    /// For a column seen once, where the road's direction is known: the picture's line through
    /// its foot along the road, `a x + b y + c = 0` with `a² + b² = 1` (see [`road_line`]).
    /// Ignored on rows.
    pub road: Option<(f32, f32, f32)>,
    /// For a row: the box touches the picture's top edge, so its height is only the part in
    /// the picture (a rider riding away from a pole camera leaves at the top) and its size is
    /// judged by its width. (A box cut by the bottom edge belongs to a road user entering or
    /// leaving under the camera, which [`Item::entering`] and [`Scale`] judge.) Ignored on
    /// columns.
    pub cut: bool,
    /// For a column sought around its last detection by reach: the unit direction of its
    /// motion; a detection behind it scores by IoU only. Ignored on rows.
    pub ahead: Option<(f32, f32)>,
    /// For a column sought around its last detection by reach: its expected box lies clear of
    /// the picture's top edge, so a row cut by that edge is a road user entering there, not
    /// this one (a car riding away that the detector missed twice is beside the oncoming car
    /// entering at the top, within its reach). Ignored on rows.
    pub inside: bool,
    /// For a column riding in a cluster: the picture's line along the road through its
    /// expected foot; a row whose foot lies further off it than [`super::LANE_W`] of its width
    /// scores by IoU only (a neighbour's, one lane over). Ignored on rows.
    pub lane: Option<Lane>,
    /// For a column moving on: a row whose foot lies behind its last detection's, against its
    /// motion, further than it allows scores by IoU only (see [`Back`]). Ignored on rows.
    pub back: Option<Back>,
    /// For a column standing still: what a row must not be to be its (see [`Nearer`]).
    /// Ignored on rows.
    pub nearer: Option<Nearer>,
    /// For a row, where the camera is calibrated: where its foot may lie on the ground.
    /// Ignored on columns.
    pub foot: Option<Foot>,
    /// For a column, where the camera is calibrated: how far on the ground from its last
    /// detection a row's foot may lie (see [`super::ground`]); beyond, the pair scores 0, its
    /// overlap too. Ignored on rows.
    pub reach: Option<Reach>,
}

impl Item {
    pub fn new(class_id: u32, bbox: BBox) -> Self {
        let h = bbox.y2 - bbox.y1;
        Self {
            class_id,
            bbox,
            radius: 0.0,
            heights: (h, h),
            scale: None,
            entering: None,
            road: None,
            cut: false,
            ahead: None,
            inside: false,
            lane: None,
            back: None,
            nearer: None,
            foot: None,
            reach: None,
        }
    }
}

/// How far back a moving column's detection may lie (see [`Item::back`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Back {
    /// The foot (bottom centre) of the column's last detection.
    pub from: (f32, f32),
    /// The unit direction of its motion.
    pub dir: (f32, f32),
    /// How far behind `from`, along `dir`, a row's foot may lie (jitter), in pixels.
    pub tol: f32,
}

impl Back {
    /// Whether `b`'s foot lies behind further than allowed.
    fn refuses(&self, b: &BBox) -> bool {
        let c = b.bottom_center();
        (c.0 - self.from.0) * self.dir.0 + (c.1 - self.from.1) * self.dir.1 < -self.tol
    }
}

/// A nearer road user than a standing column: a row whose top and bottom edges lie lower in
/// the picture than these and that is wider than `width` (see [`super::STANDING_DROP_H`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Nearer {
    pub top: f32,
    pub bottom: f32,
    pub width: f32,
}

impl Nearer {
    fn refuses(&self, b: &BBox) -> bool {
        b.y1 > self.top && b.y2 > self.bottom && b.width() > self.width
    }
}

/// A column's lane in a cluster (see [`Item::lane`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lane {
    /// The road's line through the column's expected foot (see [`road_line`]).
    pub line: (f32, f32, f32),
    /// How far off it a detection's foot may lie, in the detection's widths.
    pub max_off_w: f32,
}

/// Share of its score a detection keeps against a column entering the picture
/// ([`Item::entering`]) when it did not move in at all; one that moved in by its own height
/// keeps it all (see the module doc).
pub const ENTERING_STAY: f32 = 0.75;

/// The inward unit vector for a box touching the edges of a `width`×`height` picture (within
/// `margin` pixels: across, for the left and right edges, and down, for the top and bottom),
/// or `None` if it touches none (or opposite ones only).
pub(crate) fn inward_normal(b: &BBox, (width, height): (f32, f32), margin: (f32, f32)) -> Option<(f32, f32)> {
    let mut n = (0.0_f32, 0.0_f32);
    if b.x1 <= margin.0 {
        n.0 += 1.0;
    }
    if b.x2 >= width - margin.0 {
        n.0 -= 1.0;
    }
    if b.y1 <= margin.1 {
        n.1 += 1.0;
    }
    if b.y2 >= height - margin.1 {
        n.1 -= 1.0;
    }
    let len = n.0.hypot(n.1);
    (len > 0.0).then(|| (n.0 / len, n.1 / len))
}

/// The distance that counts for a displacement `(dx, dy)` from a box entering along `n` with
/// search radius `radius`, and the share of the score kept for how far in it moved, for a box
/// `h` pixels high. Moving in is free up to the radius, not beyond.
fn entering_distance(n: (f32, f32), (dx, dy): (f32, f32), h: f32, radius: f32) -> (f32, f32) {
    let along = dx * n.0 + dy * n.1;
    if along <= 0.0 {
        return (dx.hypot(dy), ENTERING_STAY);
    }
    let across = (dx * n.1 - dy * n.0).abs();
    let keep = ENTERING_STAY + (1.0 - ENTERING_STAY) * (along / h.max(1.0)).min(1.0);
    (across.hypot((along - radius).max(0.0)), keep)
}

/// Across the road, a detection's foot may lie this many of its widths off the line of a
/// column seen once and keep its whole distance score (box jitter, a rider drifting in its
/// lane)…
pub const ROAD_FREE_W: f32 = 0.5;
/// … beyond it the score falls over this many widths more…
pub const ROAD_SPAN_W: f32 = 1.0;
/// … to this share: a preference, not a veto (a car turning into a side street is still
/// matched when nothing else is there).
pub const ROAD_FLOOR: f32 = 0.5;

/// The picture's line through `foot` towards the vanishing point `vp` (homogeneous pixels),
/// normalised so that `a x + b y + c` is the signed distance in pixels; `None` when the foot is
/// (nearly) at the vanishing point.
pub(crate) fn road_line(foot: (f32, f32), vp: (f32, f32, f32)) -> Option<(f32, f32, f32)> {
    let (px, py) = foot;
    let (vx, vy, vw) = vp;
    // The cross product of (px, py, 1) and (vx, vy, vw).
    let (a, b, c) = (py * vw - vy, vx - px * vw, px * vy - py * vx);
    let n = a.hypot(b);
    (n.is_finite() && n > 1e-6 * vx.hypot(vy).hypot(vw).max(1.0)).then(|| (a / n, b / n, c / n))
}

/// How far the foot of `row` lies off the road line `line`, in widths of `row`.
fn off_road_w(line: (f32, f32, f32), row: &BBox) -> f32 {
    let foot = row.bottom_center();
    (line.0 * foot.0 + line.1 * foot.1 + line.2).abs() / (row.x2 - row.x1).max(1.0)
}

/// The share of its distance score a detection `row` keeps against a column whose road line is
/// `line` (see the module doc).
fn road_fit(line: (f32, f32, f32), row: &BBox) -> f32 {
    let off = off_road_w(line, row);
    1.0 - (1.0 - ROAD_FLOOR) * ((off - ROAD_FREE_W) / ROAD_SPAN_W).clamp(0.0, 1.0)
}

/// How wide an object standing on the ground appears wherever it stands: under a pinhole camera
/// its width and the height of its foot below the horizon both fall as one over its distance, so
/// their ratio is the object's own. A track seen once has no motion to predict from, and a rider
/// riding away from the camera is followed by the next one entering where it was: of the two
/// detections near its last box, only its own has the width its new place calls for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    /// The object's box width and foot (bottom centre) when last seen.
    pub width: f32,
    pub foot: (f32, f32),
    /// The horizon, `y = slope * x + intercept`.
    pub horizon: (f32, f32),
}

/// A detection's width may differ from what [`Scale`] expects by this factor: box jitter, a
/// box clipped by the picture's edge, a person's changing stride.
pub const MAX_SCALE_ERROR: f32 = 1.5;

/// The distance score of a box that does not fit the scale at all is kept at this share: it
/// loses to one that fits, but a lone candidate near enough is still taken.
pub const SCALE_FLOOR: f32 = 0.35;

impl Scale {
    /// How well a box of `width` with its foot at `foot` fits this object: 1 for the width
    /// expected there, falling to 0 at [`MAX_SCALE_ERROR`] either way.
    pub(crate) fn fit(&self, width: f32, foot: (f32, f32)) -> f32 {
        let below = |p: (f32, f32)| p.1 - (self.horizon.0 * p.0 + self.horizon.1);
        let (was, now) = (below(self.foot), below(foot));
        if !(was > 1.0 && now > 1.0 && width > 0.0) {
            return 0.0;
        }
        let expected = self.width * now / was;
        (1.0 - (width / expected).ln().abs() / MAX_SCALE_ERROR.ln()).max(0.0)
    }
}

/// Similarity of a detection (`row`) and a track's predicted box (`col`), see the module doc.
pub(crate) fn similarity(row: &Item, col: &Item) -> f32 {
    if col.nearer.is_some_and(|n| n.refuses(&row.bbox))
        || col.reach.zip(row.foot).is_some_and(|(reach, foot)| reach.refuses(&foot))
    {
        return 0.0;
    }
    let iou = row.bbox.iou(&col.bbox);
    if col.radius <= 0.0 {
        return iou;
    }
    let (a, b) = (&row.bbox, &col.bbox);
    let (ha, hb) = (a.y2 - a.y1, b.y2 - b.y1);
    let (lo, hi) = (col.heights.0.min(hb), col.heights.1.max(hb));
    let size_differs = if row.cut {
        let (wa, wb) = (a.x2 - a.x1, b.x2 - b.x1);
        wa * MAX_SIZE_RATIO < wb || wa > wb * MAX_SIZE_RATIO
    } else {
        ha * MAX_SIZE_RATIO < lo || ha > hi * MAX_SIZE_RATIO
    };
    if size_differs
        || (row.cut && col.inside)
        || col.lane.is_some_and(|l| off_road_w(l.line, a) > l.max_off_w)
        || col.back.is_some_and(|k| k.refuses(a))
    {
        return iou;
    }
    // A floor, not a veto: the first box of an object entering at the picture's edge is cut
    // by it, and its foot then lies above the ground point the scale assumes.
    let fit =
        col.scale.map_or(1.0, |s| SCALE_FLOOR + (1.0 - SCALE_FLOOR) * s.fit(a.x2 - a.x1, ((a.x1 + a.x2) * 0.5, a.y2)));
    let fit = fit * col.road.map_or(1.0, |line| road_fit(line, a));
    let dx = (a.x1 + a.x2 - b.x1 - b.x2) * 0.5;
    let dy = (a.y1 + a.y2 - b.y1 - b.y2) * 0.5;
    if col.ahead.is_some_and(|(ux, uy)| dx * ux + dy * uy < 0.0) {
        return iou;
    }
    if let Some(n) = col.entering {
        let (d, keep) = entering_distance(n, (dx, dy), hb, col.radius);
        return (iou * ENTERING_STAY).max((1.0 - d / col.radius) * fit * keep);
    }
    iou.max((1.0 - dx.hypot(dy) / col.radius) * fit)
}

#[derive(Debug, Clone, Copy)]
struct Edge {
    row: u32,
    col: u32,
    weight: f32,
    /// Component id (union-find root), filled in by [`Assigner::solve`].
    comp: u32,
}

/// Reusable association workspace.
#[derive(Debug, Default)]
pub(crate) struct Assigner {
    edges: Vec<Edge>,
    /// Valid columns as `(class, x1 - radius, col)`, sorted, for the overlap sweep.
    sorted_cols: Vec<(u32, f32, u32)>,
    parent: Vec<u32>,
    local_row: Vec<u32>,
    local_col: Vec<u32>,
    comp_rows: Vec<u32>,
    comp_cols: Vec<u32>,
    hungarian: Hungarian,
}

impl Assigner {
    /// Matches `rows` with `cols`: same class, [`similarity`] `>= gate` and `> 0`, maximising
    /// the sum of `similarity - gate`. Writes `(row, col)` index pairs into `out` (cleared first).
    pub fn associate(&mut self, rows: &[Item], cols: &[Item], gate: f32, out: &mut Vec<(u32, u32)>) {
        self.build_edges(rows, cols, gate);
        self.solve(rows.len(), cols.len(), out);
    }

    /// Fills the edge list with every same-class pair whose similarity passes the gate.
    fn build_edges(&mut self, rows: &[Item], cols: &[Item], gate: f32) {
        self.edges.clear();
        self.sorted_cols.clear();
        // Widths of the columns' boxes grown by their radius on both sides.
        let mut max_w = 0.0_f32;
        for (j, c) in cols.iter().enumerate() {
            let r = if c.radius.is_finite() { c.radius.max(0.0) } else { 0.0 };
            if valid_box(&c.bbox) {
                self.sorted_cols.push((c.class_id, c.bbox.x1 - r, j as u32));
                max_w = max_w.max(c.bbox.x2 - c.bbox.x1 + 2.0 * r);
            }
        }
        self.sorted_cols.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (i, r) in rows.iter().enumerate() {
            let b = &r.bbox;
            if !valid_box(b) {
                continue;
            }
            // A column starting left of `x1 - max_w` ends left of `x1`: it cannot overlap.
            let lo = b.x1 - max_w;
            let class = r.class_id;
            let start = self.sorted_cols.partition_point(|&(c, x1, _)| c < class || (c == class && x1 < lo));
            for &(c, x1, j) in &self.sorted_cols[start..] {
                if c != class || x1 >= b.x2 {
                    break;
                }
                let sim = similarity(r, &cols[j as usize]);
                if sim > 0.0 && sim >= gate {
                    self.edges.push(Edge { row: i as u32, col: j, weight: sim - gate + WEIGHT_EPS, comp: 0 });
                }
            }
        }
    }

    /// Starts a problem given by explicit edges (for tests and callers with their own costs).
    #[cfg(test)]
    pub fn clear(&mut self) {
        self.edges.clear();
    }

    /// Adds a candidate pair; only positive, finite weights are kept.
    #[cfg(test)]
    pub fn add_edge(&mut self, row: u32, col: u32, weight: f32) {
        if weight.is_finite() && weight > 0.0 {
            self.edges.push(Edge { row, col, weight, comp: 0 });
        }
    }

    /// Maximum-weight matching over the current edges, component by component.
    pub fn solve(&mut self, n_rows: usize, n_cols: usize, out: &mut Vec<(u32, u32)>) {
        out.clear();
        let Self { edges, parent, local_row, local_col, comp_rows, comp_cols, hungarian, .. } = self;
        if edges.is_empty() {
            return;
        }

        // Union-find over rows `0..n_rows` and columns `n_rows..`.
        parent.clear();
        parent.extend(0..(n_rows + n_cols) as u32);
        for e in edges.iter() {
            let a = find(parent, e.row);
            let b = find(parent, n_rows as u32 + e.col);
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
        for e in edges.iter_mut() {
            e.comp = find(parent, e.row);
        }
        // Sorting by component makes each one a contiguous run, and the order deterministic.
        edges.sort_unstable_by_key(|e| (e.comp, e.row, e.col));

        local_row.clear();
        local_row.resize(n_rows, NONE);
        local_col.clear();
        local_col.resize(n_cols, NONE);

        for group in edges.chunk_by(|a, b| a.comp == b.comp) {
            if let [e] = group {
                out.push((e.row, e.col));
                continue;
            }
            comp_rows.clear();
            comp_cols.clear();
            for e in group {
                if local_row[e.row as usize] == NONE {
                    local_row[e.row as usize] = comp_rows.len() as u32;
                    comp_rows.push(e.row);
                }
                if local_col[e.col as usize] == NONE {
                    local_col[e.col as usize] = comp_cols.len() as u32;
                    comp_cols.push(e.col);
                }
            }
            let (nr, nc) = (comp_rows.len(), comp_cols.len());
            if nr == 1 || nc == 1 {
                // A star: only one pair can be matched; take the heaviest.
                let best = group.iter().fold(group[0], |best, e| if e.weight > best.weight { *e } else { best });
                out.push((best.row, best.col));
            } else {
                // Hungarian needs rows <= columns: transpose when the component is tall.
                let transpose = nr > nc;
                let (n, m) = if transpose { (nc, nr) } else { (nr, nc) };
                hungarian.reset(n, m);
                for e in group {
                    let (i, j) = (local_row[e.row as usize] as usize, local_col[e.col as usize] as usize);
                    let (i, j) = if transpose { (j, i) } else { (i, j) };
                    hungarian.cost[i * m + j] = -f64::from(e.weight);
                }
                hungarian.solve(n, m);
                for j in 0..m {
                    let i = hungarian.row_of_col(j);
                    // Cells that are not edges cost 0; an assignment there means "unmatched".
                    let Some(i) = i.filter(|&i| hungarian.cost[i * m + j] < 0.0) else {
                        continue;
                    };
                    let (r, c) = if transpose { (j, i) } else { (i, j) };
                    out.push((comp_rows[r], comp_cols[c]));
                }
            }
            for &r in comp_rows.iter() {
                local_row[r as usize] = NONE;
            }
            for &c in comp_cols.iter() {
                local_col[c as usize] = NONE;
            }
        }
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        // Path halving keeps the trees flat without recursion.
        let grand = parent[parent[x as usize] as usize];
        parent[x as usize] = grand;
        x = grand;
    }
    x
}

fn valid_box(b: &BBox) -> bool {
    b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite() && b.x2 > b.x1 && b.y2 > b.y1
}

/// Dense min-cost assignment of `n` rows into `m >= n` columns (Hungarian method with
/// potentials, O(n² m)); every row gets a column. Buffers are kept between calls.
#[derive(Debug, Default)]
pub(crate) struct Hungarian {
    /// Row-major `n x m` costs; must be finite.
    pub cost: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    /// `p[j]` = 1-based row assigned to 1-based column `j`, 0 for none; `p[0]` is scratch.
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
}

impl Hungarian {
    /// Sizes the cost matrix for `n x m` and zeroes it.
    pub fn reset(&mut self, n: usize, m: usize) {
        self.cost.clear();
        self.cost.resize(n * m, 0.0);
    }

    /// Solves the current `n x m` cost matrix; requires `n <= m`.
    pub fn solve(&mut self, n: usize, m: usize) {
        debug_assert!(n <= m && self.cost.len() == n * m);
        let Self { cost, u, v, p, way, minv, used } = self;
        u.clear();
        u.resize(n + 1, 0.0);
        v.clear();
        v.resize(m + 1, 0.0);
        p.clear();
        p.resize(m + 1, 0);
        way.clear();
        way.resize(m + 1, 0);
        minv.resize(m + 1, f64::INFINITY);
        used.resize(m + 1, false);
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0;
            minv.fill(f64::INFINITY);
            used.fill(false);
            loop {
                used[j0] = true;
                let i0 = p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                let row = &cost[(i0 - 1) * m..i0 * m];
                for j in 1..=m {
                    if !used[j] {
                        let cur = row[j - 1] - u[i0] - v[j];
                        if cur < minv[j] {
                            minv[j] = cur;
                            way[j] = j0;
                        }
                        if minv[j] < delta {
                            delta = minv[j];
                            j1 = j;
                        }
                    }
                }
                if j1 == 0 {
                    // Only possible with non-finite costs; give up on this row rather than loop.
                    break;
                }
                for j in 0..=m {
                    if used[j] {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
                if p[j0] == 0 {
                    break;
                }
            }
            if p[j0] != 0 {
                continue;
            }
            // Flip the augmenting path back to the root.
            loop {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
    }

    /// 0-based row assigned to 0-based column `j` after [`Hungarian::solve`].
    pub fn row_of_col(&self, j: usize) -> Option<usize> {
        match self.p.get(j + 1) {
            Some(&i) if i > 0 => Some(i - 1),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic generator so the randomised checks are reproducible.
    struct Lcg(u64);
    impl Lcg {
        fn next_f32(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
        }
    }

    fn total(weights: &[Vec<f32>], pairs: &[(u32, u32)]) -> f32 {
        pairs.iter().map(|&(r, c)| weights[r as usize][c as usize]).sum()
    }

    fn assert_is_matching(pairs: &[(u32, u32)]) {
        for (k, a) in pairs.iter().enumerate() {
            for b in &pairs[k + 1..] {
                assert!(a.0 != b.0 && a.1 != b.1, "not a matching: {pairs:?}");
            }
        }
    }

    /// Best total weight over all matchings (weights <= 0 mean "no edge").
    fn brute_force(weights: &[Vec<f32>], row: usize, used: &mut Vec<bool>) -> f32 {
        if row == weights.len() {
            return 0.0;
        }
        let mut best = brute_force(weights, row + 1, used);
        for c in 0..used.len() {
            if !used[c] && weights[row][c] > 0.0 {
                used[c] = true;
                best = best.max(weights[row][c] + brute_force(weights, row + 1, used));
                used[c] = false;
            }
        }
        best
    }

    fn solve_weights(weights: &[Vec<f32>]) -> Vec<(u32, u32)> {
        let mut a = Assigner::default();
        a.clear();
        for (r, row) in weights.iter().enumerate() {
            for (c, &w) in row.iter().enumerate() {
                a.add_edge(r as u32, c as u32, w);
            }
        }
        let mut out = Vec::new();
        let n_cols = weights.first().map_or(0, Vec::len);
        a.solve(weights.len(), n_cols, &mut out);
        out
    }

    #[test]
    fn optimal_beats_greedy() {
        // Greedy takes (0,0)=0.9 first and is left with (1,1)=0.1: total 1.0.
        // The optimum crosses over: 0.8 + 0.85 = 1.65.
        let w = vec![vec![0.9, 0.8], vec![0.85, 0.1]];
        let mut out = solve_weights(&w);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 1), (1, 0)]);
        assert!((total(&w, &out) - 1.65).abs() < 1e-6);
    }

    #[test]
    fn rectangular_wide_and_tall() {
        // 2 rows x 3 columns: row 0 must give up its favourite column to row 1.
        let wide = vec![vec![0.9, 0.85, 0.0], vec![0.8, 0.0, 0.0]];
        let mut out = solve_weights(&wide);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 1), (1, 0)]);

        // 3 rows x 2 columns: one row stays unmatched, the best two are chosen.
        let tall = vec![vec![0.5, 0.4], vec![0.6, 0.0], vec![0.0, 0.45]];
        let mut out = solve_weights(&tall);
        out.sort_unstable();
        assert_eq!(out, vec![(1, 0), (2, 1)]);
        assert_is_matching(&out);
    }

    #[test]
    fn empty_inputs() {
        let mut a = Assigner::default();
        let mut out = vec![(9, 9)];
        a.associate(&[], &[], 0.2, &mut out);
        assert!(out.is_empty());
        let item = Item::new(0, BBox::new(0.0, 0.0, 10.0, 10.0));
        a.associate(&[item], &[], 0.2, &mut out);
        assert!(out.is_empty());
        a.associate(&[], &[item], 0.2, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn matches_brute_force_on_random_sparse_matrices() {
        let mut rng = Lcg(7);
        for case in 0..400 {
            let n_rows = 1 + case % 6;
            let n_cols = 1 + (case / 6) % 6;
            let density = 0.3 + 0.6 * rng.next_f32();
            let w: Vec<Vec<f32>> = (0..n_rows)
                .map(|_| {
                    (0..n_cols).map(|_| if rng.next_f32() < density { 0.01 + rng.next_f32() } else { 0.0 }).collect()
                })
                .collect();
            let out = solve_weights(&w);
            assert_is_matching(&out);
            for &(r, c) in &out {
                assert!(w[r as usize][c as usize] > 0.0, "matched a non-edge");
            }
            let best = brute_force(&w, 0, &mut vec![false; n_cols]);
            let got = total(&w, &out);
            assert!((got - best).abs() < 1e-4, "case {case}: got {got}, best {best}, {w:?}");
        }
    }

    #[test]
    fn components_are_solved_independently() {
        // Three components: a 1x1 pair, a 2x2 conflict and a star (one column, three rows);
        // a column with no edges at all in between.
        let mut w = vec![vec![0.0_f32; 7]; 6];
        w[0][0] = 0.7; // 1x1
        w[1][2] = 0.9; // 2x2: optimum (1,3)+(2,2)
        w[1][3] = 0.8;
        w[2][2] = 0.85;
        w[2][3] = 0.1;
        w[3][5] = 0.2; // star on column 5
        w[4][5] = 0.6;
        w[5][5] = 0.3;
        let mut out = solve_weights(&w);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 0), (1, 3), (2, 2), (4, 5)]);
    }

    #[test]
    fn the_road_line_runs_through_the_foot_to_the_vanishing_point() {
        // A finite vanishing point straight above the foot: the line is x = 640.
        let l = road_line((640.0, 600.0), (640.0, -300.0, 1.0)).expect("a line");
        let at = |x: f32, y: f32| l.0 * x + l.1 * y + l.2;
        assert!(at(640.0, 100.0).abs() < 1e-3 && (at(700.0, 100.0).abs() - 60.0).abs() < 1e-2, "{l:?}");
        // A direction the picture shows parallel (vanishing point at infinity): a horizontal line.
        let l = road_line((100.0, 400.0), (1.0, 0.0, 0.0)).expect("a line");
        assert!((l.0 * 900.0 + l.1 * 400.0 + l.2).abs() < 1e-3, "{l:?}");
        assert_eq!(road_line((640.0, -300.0), (640.0, -300.0, 1.0)), None, "the foot at the vanishing point");
        // Half a width off the line keeps the whole score, two widths off the floor.
        let b = |dx: f32| BBox::new(620.0 + dx, 100.0, 660.0 + dx, 180.0);
        let line = road_line((640.0, 600.0), (640.0, -300.0, 1.0)).expect("a line");
        assert_eq!(road_fit(line, &b(20.0)), 1.0);
        assert!((road_fit(line, &b(80.0)) - ROAD_FLOOR).abs() < 1e-6);
    }

    #[test]
    fn a_box_cut_by_the_top_edge_is_sized_by_its_width() {
        // A rider leaving at the top of the picture: half its height is above the edge.
        let col = Item { radius: 60.0, ..Item::new(3, BBox::new(100.0, -30.0, 124.0, 14.0)) };
        let row = |cut| Item { cut, ..Item::new(3, BBox::new(104.0, 0.0, 127.0, 22.0)) };
        assert!(similarity(&row(true), &col) > 0.5, "{}", similarity(&row(true), &col));
        assert!(similarity(&row(false), &col) < 0.4, "judged by height it is too short");
        // Cut or not, a box twice as wide is another object.
        let wide = Item { cut: true, ..Item::new(3, BBox::new(90.0, 0.0, 140.0, 22.0)) };
        assert!(similarity(&wide, &col) < 0.4);
    }

    #[test]
    fn iou_edges_respect_class_and_gate() {
        let b = |x: f32| BBox::new(x, 0.0, x + 10.0, 10.0);
        let rows = [
            Item::new(0, b(0.0)),
            Item::new(1, b(0.0)),
            Item::new(0, b(100.0)),
            Item::new(0, BBox::new(f32::NAN, 0.0, 1.0, 1.0)),
        ];
        let cols = [
            Item::new(1, b(1.0)),
            Item::new(0, b(0.5)),
            Item::new(0, b(108.0)), // IoU 2/18 < gate
            Item::new(0, BBox::new(0.0, 0.0, 0.0, 0.0)),
        ];
        let mut a = Assigner::default();
        let mut out = Vec::new();
        a.associate(&rows, &cols, 0.2, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn sweep_finds_the_same_pairs_as_all_pairs() {
        let mut rng = Lcg(99);
        let mut make = |n: usize| -> Vec<Item> {
            (0..n)
                .map(|_| {
                    let x = rng.next_f32() * 400.0;
                    let y = rng.next_f32() * 400.0;
                    let w = 5.0 + rng.next_f32() * 80.0;
                    let h = 5.0 + rng.next_f32() * 80.0;
                    Item::new((rng.next_f32() * 2.0) as u32, BBox::new(x, y, x + w, y + h))
                })
                .collect()
        };
        let rows = make(120);
        let mut cols = make(110);
        let brute = |rows: &[Item], cols: &[Item]| {
            let mut want = Vec::new();
            for (i, r) in rows.iter().enumerate() {
                for (j, c) in cols.iter().enumerate() {
                    let sim = similarity(r, c);
                    if r.class_id == c.class_id && sim > 0.0 && sim >= 0.1 {
                        want.push((i as u32, j as u32));
                    }
                }
            }
            want
        };
        let mut a = Assigner::default();
        for round in 0..2 {
            a.build_edges(&rows, &cols, 0.1);
            let mut got: Vec<(u32, u32)> = a.edges.iter().map(|e| (e.row, e.col)).collect();
            got.sort_unstable();
            let want = brute(&rows, &cols);
            assert!(!want.is_empty());
            assert_eq!(got, want, "round {round}");
            // Second round: columns with search radii of up to 150 px, so that boxes far
            // apart are candidates too.
            let mut rng = Lcg(7);
            for c in &mut cols {
                c.radius = rng.next_f32() * 150.0;
            }
        }
    }

    #[test]
    fn distance_score_needs_similar_sizes() {
        let col = Item { radius: 100.0, ..Item::new(0, BBox::new(0.0, 0.0, 50.0, 100.0)) };
        // Centre 50 px away, no overlap: half the radius.
        let near = Item::new(0, BBox::new(60.0, 20.0, 110.0, 120.0));
        assert_eq!(near.bbox.iou(&col.bbox), 0.0);
        assert!((similarity(&near, &col) - (1.0 - 60.0_f32.hypot(20.0) / 100.0)).abs() < 1e-6);
        // Same place, but twice the height: not the same object.
        let big = Item::new(0, BBox::new(60.0, -30.0, 160.0, 170.0));
        assert_eq!(similarity(&big, &col), big.bbox.iou(&col.bbox));
        // Beyond the radius: nothing.
        let far = Item::new(0, BBox::new(200.0, 0.0, 250.0, 100.0));
        assert_eq!(similarity(&far, &col), 0.0);
    }

    #[test]
    fn in_a_cluster_a_box_a_lane_over_scores_by_overlap_only() {
        // The column rides along the vertical line x = 25 through its foot, in a cluster,
        // allowed 1.5 of a detection's widths off it.
        let lane = Some(Lane { line: (1.0, 0.0, -25.0), max_off_w: 1.5 });
        let col = Item { radius: 300.0, lane, ..Item::new(0, BBox::new(0.0, 0.0, 50.0, 100.0)) };
        // 60 px (1.2 widths) across and 80 px up the road: a distance score.
        let along = Item::new(0, BBox::new(60.0, -80.0, 110.0, 20.0));
        assert!(similarity(&along, &col) > 0.5, "{}", similarity(&along, &col));
        // 80 px (1.6 widths) across: a neighbour's, no overlap, nothing.
        let beside = Item::new(0, BBox::new(80.0, -80.0, 130.0, 20.0));
        assert_eq!(similarity(&beside, &col), 0.0);
        // The same box for a column riding alone.
        assert!(similarity(&beside, &Item { lane: None, ..col }) > 0.5);
    }

    #[test]
    fn hungarian_dense_rectangular() {
        let mut h = Hungarian::default();
        // 2 x 3 min-cost: rows pick columns 2 and 0 (cost 1 + 2 = 3).
        h.reset(2, 3);
        h.cost.copy_from_slice(&[4.0, 5.0, 1.0, 2.0, 6.0, 3.0]);
        h.solve(2, 3);
        assert_eq!(h.row_of_col(0), Some(1));
        assert_eq!(h.row_of_col(1), None);
        assert_eq!(h.row_of_col(2), Some(0));
    }

    #[test]
    fn the_inward_normal_points_away_from_the_edges_a_box_touches() {
        let pic = (1280.0, 720.0);
        let n = |b: BBox| inward_normal(&b, pic, (3.0, 3.0));
        assert_eq!(n(BBox::new(100.0, 100.0, 200.0, 200.0)), None);
        assert_eq!(n(BBox::new(600.0, 500.0, 700.0, 719.0)), Some((0.0, -1.0)));
        assert_eq!(n(BBox::new(1.0, 300.0, 80.0, 400.0)), Some((1.0, 0.0)));
        let (x, y) = n(BBox::new(1200.0, 600.0, 1280.0, 720.0)).unwrap_or_default();
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((x + r).abs() < 1e-3 && (y + r).abs() < 1e-3, "{x} {y}");
        // A box as wide as the picture enters from neither side.
        assert_eq!(n(BBox::new(0.0, 300.0, 1280.0, 400.0)), None);
    }

    #[test]
    fn an_entering_column_prefers_the_box_that_moved_in_over_one_beside_it() {
        let col =
            Item { radius: 400.0, entering: Some((0.0, -1.0)), ..Item::new(3, BBox::new(760.0, 515.0, 840.0, 720.0)) };
        let moved_in = Item::new(3, BBox::new(715.0, 322.0, 790.0, 510.0));
        let beside = Item::new(3, BBox::new(905.0, 511.0, 985.0, 720.0));
        let stayed = Item::new(3, BBox::new(762.0, 515.0, 842.0, 720.0));
        let (a, b, c) = (similarity(&moved_in, &col), similarity(&beside, &col), similarity(&stayed, &col));
        assert!(a > b && a > c, "moved in {a}, beside {b}, stayed {c}");
        // A box that stayed is still a good match when nothing else is there (a parked car).
        assert!(c >= ENTERING_STAY * 0.95, "{c}");
        // Without the edge, the nearest wins.
        let plain = Item { entering: None, ..col };
        assert!(similarity(&beside, &plain) > similarity(&moved_in, &plain));
    }
}
