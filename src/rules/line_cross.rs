//! `line_cross`: a track's ground point (bottom-centre of its box) crossing a named line.
//!
//! A side only counts once the point is clearly on it (further from the line than a margin that
//! grows with the box, since bigger boxes jitter more), and a crossing needs the path from the
//! last point clearly on the old side to the first clearly on the new one to cut the line segment
//! itself. So a track that hovers on the line counts once, and one that walks around the end of a
//! line does not count at all.

use std::collections::HashMap;

use super::geometry::{Point, segments_intersect, signed_distance};
use crate::config::LineConfig;
use crate::track::Track;

/// A counted crossing.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub line: usize,
    /// 0: from the left of p1→p2 to its right (`directions[0]`); 1: the other way.
    pub direction: usize,
    pub track_id: u64,
    pub class_id: u32,
}

#[derive(Debug, Clone, Copy)]
struct SideState {
    /// -1 left, +1 right.
    side: i8,
    /// The last point seen clearly on that side.
    anchor: Point,
}

#[derive(Debug)]
pub struct LineCross {
    lines: Vec<(Point, Point)>,
    state: HashMap<(usize, u64), SideState>,
    /// Crossings counted per line, per class and direction since start.
    pub totals: HashMap<(usize, u32, usize), u64>,
}

/// Hysteresis margin for a box: 10% of its height, at least 2 px.
fn margin(track: &Track) -> f32 {
    (track.bbox.height() * 0.1).max(2.0)
}

impl LineCross {
    pub fn new(lines: &[LineConfig]) -> Self {
        let lines = lines
            .iter()
            .map(|l| ((l.points.0[0][0], l.points.0[0][1]), (l.points.0[1][0], l.points.0[1][1])))
            .collect();
        Self { lines, state: HashMap::new(), totals: HashMap::new() }
    }

    /// Feed the tracks matched in this frame; crossings are appended to `out`.
    pub fn update<'a>(&mut self, tracks: impl Iterator<Item = &'a Track>, out: &mut Vec<Crossing>) {
        if self.lines.is_empty() {
            return;
        }
        for t in tracks {
            let p = t.bbox.bottom_center();
            let m = margin(t);
            for (li, &(a, b)) in self.lines.iter().enumerate() {
                let d = signed_distance(a, b, p);
                if d.abs() <= m {
                    continue; // on the line, within the jitter band: no side yet
                }
                let side: i8 = if d > 0.0 { 1 } else { -1 };
                match self.state.get_mut(&(li, t.id)) {
                    None => {
                        self.state.insert((li, t.id), SideState { side, anchor: p });
                    }
                    Some(s) if s.side == side => s.anchor = p,
                    Some(s) => {
                        if segments_intersect(s.anchor, p, a, b) {
                            let direction = if side > 0 { 0 } else { 1 };
                            *self.totals.entry((li, t.class_id, direction)).or_default() += 1;
                            out.push(Crossing { line: li, direction, track_id: t.id, class_id: t.class_id });
                        }
                        *s = SideState { side, anchor: p };
                    }
                }
            }
        }
    }

    /// Forget an ended track.
    pub fn remove(&mut self, track_id: u64) {
        self.state.retain(|(_, id), _| *id != track_id);
    }
}
