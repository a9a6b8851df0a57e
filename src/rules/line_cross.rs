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

#[cfg(test)]
mod tests {
    //! Tracks come from a real [`Tracker`] (confirmed at the first detection) fed synthetic
    //! detections, so the ground points are the Kalman-filtered ones the daemon uses.

    use super::*;
    use crate::detect::types::{BBox, Detection};
    use crate::rules::geometry::side;
    use crate::track::{Tracker, TrackerConfig};

    const PERSON: u32 = 0;
    const CAR: u32 = 2;
    /// Box size of a walking person: the hysteresis margin is 10% of the height, 10 px.
    const W: f32 = 40.0;
    const H: f32 = 100.0;

    /// A line from its TOML, as the config reads it.
    fn line(toml: &str) -> LineConfig {
        toml::from_str(&format!("name = \"l\"\n{toml}")).unwrap()
    }

    /// A vertical line at `x`, spanning y 200..=400, drawn bottom to top: its left is the
    /// screen's left (checked against [`side`] in `sign_convention`).
    fn vertical(x: f32) -> LineConfig {
        line(&format!("points = [[{x}, 400], [{x}, 200]]"))
    }

    /// A detection whose ground point (bottom-centre) is `(x, y)`.
    fn det(class_id: u32, x: f32, y: f32) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::new(x - W / 2.0, y - H, x + W / 2.0, y) }
    }

    /// A tracker and the rule, stepped at 10 frames per second.
    struct Sim {
        tracker: Tracker,
        rule: LineCross,
        frame: u32,
        /// Every crossing counted so far.
        crossings: Vec<Crossing>,
        /// Ground point of each active track at each frame: (frame, track id, point).
        ground: Vec<(u32, u64, Point)>,
    }

    impl Sim {
        fn new(lines: &[LineConfig]) -> Self {
            let tracker = Tracker::new(TrackerConfig { min_hits: 1, ..TrackerConfig::default() });
            Self { tracker, rule: LineCross::new(lines), frame: 0, crossings: Vec::new(), ground: Vec::new() }
        }

        /// One frame; returns the crossings counted in it.
        fn step(&mut self, dets: &[Detection]) -> Vec<Crossing> {
            let out = self.tracker.update(f64::from(self.frame) * 0.1, dets);
            assert_eq!(out.active.len(), dets.len(), "frame {}: every detection is tracked", self.frame);
            let mut new = Vec::new();
            self.rule.update(out.active.iter(), &mut new);
            for t in out.active {
                self.ground.push((self.frame, t.id, t.bbox.bottom_center()));
            }
            self.frame += 1;
            self.crossings.extend(new.iter().cloned());
            new
        }

        /// One object walking in a straight line from `from` to `to` (ground points) in `steps`
        /// frames after the first; returns the crossings counted on the way.
        fn walk(&mut self, class_id: u32, from: Point, to: Point, steps: u32) -> Vec<Crossing> {
            let mut got = Vec::new();
            for i in 0..=steps {
                let f = i as f32 / steps as f32;
                got.extend(self.step(&[det(class_id, from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f)]));
            }
            got
        }
    }

    fn crossing(line: usize, direction: usize, track_id: u64, class_id: u32) -> Crossing {
        Crossing { line, direction, track_id, class_id }
    }

    /// Several objects at once, each walking in a straight line; ids are given in this order
    /// to new tracks.
    fn walk_all(sim: &mut Sim, walks: &[(u32, Point, Point)], steps: u32) -> Vec<Crossing> {
        let mut got = Vec::new();
        for i in 0..=steps {
            let f = i as f32 / steps as f32;
            let dets: Vec<Detection> = walks
                .iter()
                .map(|&(c, from, to)| det(c, from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f))
                .collect();
            got.extend(sim.step(&dets));
        }
        got
    }

    #[test]
    fn sign_convention() {
        // The vertical test line is drawn upwards, so its left is the screen's left...
        let l = vertical(200.0).points.0;
        let (a, b) = ((l[0][0], l[0][1]), (l[1][0], l[1][1]));
        assert!(side(a, b, (150.0, 300.0)) < 0.0);
        assert!(side(a, b, (250.0, 300.0)) > 0.0);
        // ... and a line drawn left to right has its left above it.
        assert!(side((100.0, 300.0), (500.0, 300.0), (300.0, 250.0)) < 0.0);
    }

    #[test]
    fn walking_across_counts_once_left_to_right() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got = sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
        // Counted at the first frame the ground point is clearly (beyond the 10 px margin) on
        // the right, not as soon as it touches the line.
        let at = |f: u32| sim.ground.iter().find(|g| g.0 == f).unwrap().2.0;
        let first_clear = (0..sim.frame).find(|&f| at(f) > 210.0).unwrap();
        assert!(at(first_clear - 1) > 200.0, "the point was on the line, within the margin, the frame before");
        let mut sim = Sim::new(&[vertical(200.0)]);
        let counted_at = (0..=20u32)
            .find(|&i| !sim.step(&[det(PERSON, 100.0 + 10.0 * i as f32, 300.0)]).is_empty())
            .expect("counted");
        assert_eq!(counted_at, first_clear);

        // A line drawn left to right: walking down the screen goes from its left to its right.
        let mut sim = Sim::new(&[line("points = [[100, 300], [500, 300]]")]);
        let got = sim.walk(CAR, (300.0, 200.0), (300.0, 400.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, CAR)]);
    }

    #[test]
    fn walking_back_counts_once_the_other_way() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got = sim.walk(PERSON, (300.0, 300.0), (100.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 1, 1, PERSON)]);
        // Then back again: the same track counts once more, the first way.
        let got = sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 20);
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
        assert_eq!(sim.rule.totals.get(&(0, PERSON, 0)), Some(&1));
        assert_eq!(sim.rule.totals.get(&(0, PERSON, 1)), Some(&1));
    }

    #[test]
    fn jitter_on_the_line_does_not_count_but_real_steps_do() {
        let mut sim = Sim::new(&[vertical(200.0)]);
        // Walk slowly up to the line from the left, then stand on it with the box jittering
        // ±3 px for 50 frames.
        assert!(sim.walk(PERSON, (150.0, 300.0), (200.0, 300.0), 25).is_empty());
        let start = sim.frame;
        for i in 0..50 {
            let dx = if i % 2 == 0 { 3.0 } else { -3.0 };
            sim.step(&[det(PERSON, 200.0 + dx, 300.0)]);
        }
        assert!(sim.crossings.is_empty(), "{:?}", sim.crossings);
        // The filtered ground point did cross the line back and forth: only the margin held.
        let xs: Vec<f32> = sim.ground.iter().filter(|g| g.0 >= start).map(|g| g.2.0).collect();
        let flips = xs.windows(2).filter(|w| (w[0] < 200.0) != (w[1] < 200.0)).count();
        assert!(flips >= 40, "{flips} flips: {xs:?}");
        assert!(xs.iter().all(|x| (x - 200.0).abs() < 10.0), "{xs:?}");

        // Stepping 40 px to either side for real, three times, counts three times.
        let mut got = sim.walk(PERSON, (200.0, 300.0), (240.0, 300.0), 8);
        got.extend(sim.walk(PERSON, (240.0, 300.0), (160.0, 300.0), 16));
        got.extend(sim.walk(PERSON, (160.0, 300.0), (240.0, 300.0), 16));
        let directions: Vec<usize> = got.iter().map(|c| c.direction).collect();
        assert_eq!(directions, vec![0, 1, 0]);
        assert!(got.iter().all(|c| c.track_id == 1 && c.line == 0));
    }

    #[test]
    fn passing_beyond_the_end_of_the_line_counts_nothing() {
        // The line spans y 200..=400; above its top end and below its bottom end, nothing.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let got =
            walk_all(&mut sim, &[(PERSON, (100.0, 150.0), (300.0, 150.0)), (CAR, (300.0, 480.0), (100.0, 480.0))], 20);
        assert!(got.is_empty(), "{got:?}");
        // Walking round the end: along the left, past the top, down the right.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(PERSON, (150.0, 300.0), (150.0, 150.0), 15);
        got.extend(sim.walk(PERSON, (150.0, 150.0), (250.0, 150.0), 10));
        got.extend(sim.walk(PERSON, (250.0, 150.0), (250.0, 300.0), 15));
        assert!(got.is_empty(), "{got:?}");
        // ... but inside the segment, near its end, it counts.
        let mut sim = Sim::new(&[vertical(200.0)]);
        assert_eq!(sim.walk(PERSON, (100.0, 390.0), (300.0, 390.0), 20), vec![crossing(0, 0, 1, PERSON)]);
        // And coming down the left side from beyond the end, close to the line, then crossing the
        // segment counts: the path is judged from the last point on the old side, not the first.
        let mut sim = Sim::new(&[vertical(200.0)]);
        let mut got = sim.walk(PERSON, (188.0, 50.0), (188.0, 300.0), 25);
        got.extend(sim.walk(PERSON, (188.0, 300.0), (248.0, 300.0), 6));
        assert_eq!(got, vec![crossing(0, 0, 1, PERSON)]);
    }

    #[test]
    fn two_lines_are_independent() {
        let mut sim = Sim::new(&[vertical(200.0), vertical(400.0)]);
        // A person crosses the first line only; a car crosses the second only, the other way.
        let got =
            walk_all(&mut sim, &[(PERSON, (100.0, 300.0), (300.0, 300.0)), (CAR, (500.0, 250.0), (300.0, 250.0))], 20);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&crossing(0, 0, 1, PERSON)), "{got:?}");
        assert!(got.contains(&crossing(1, 1, 2, CAR)), "{got:?}");
        // Standing between the lines: nothing more.
        assert!(
            walk_all(&mut sim, &[(PERSON, (300.0, 300.0), (300.0, 300.0)), (CAR, (300.0, 250.0), (300.0, 250.0))], 5)
                .is_empty()
        );
        // The person goes on across the second line: only that one counts, for the person.
        let got =
            walk_all(&mut sim, &[(PERSON, (300.0, 300.0), (500.0, 300.0)), (CAR, (300.0, 250.0), (300.0, 250.0))], 20);
        assert_eq!(got, vec![crossing(1, 0, 1, PERSON)]);
    }

    #[test]
    fn remove_forgets_a_track() {
        let lines = [vertical(200.0), vertical(100.0)];
        // Seen on the left of the first line (and the right of the second), then removed while
        // on the line, within the margin: when it comes out on the right, there is no known
        // side to come from.
        let mut sim = Sim::new(&lines);
        sim.walk(PERSON, (150.0, 300.0), (195.0, 300.0), 9);
        assert_eq!(sim.rule.state.len(), 2);
        sim.rule.remove(1);
        assert!(sim.rule.state.is_empty());
        assert!(sim.walk(PERSON, (195.0, 300.0), (250.0, 300.0), 11).is_empty());
        // From there on it is tracked afresh.
        assert_eq!(sim.walk(PERSON, (250.0, 300.0), (150.0, 300.0), 10), vec![crossing(0, 1, 1, PERSON)]);

        // Removing another track forgets nothing of this one.
        let mut sim = Sim::new(&lines);
        sim.walk(PERSON, (150.0, 300.0), (195.0, 300.0), 9);
        sim.rule.remove(2);
        assert_eq!(sim.rule.state.len(), 2);
        assert_eq!(sim.walk(PERSON, (195.0, 300.0), (250.0, 300.0), 11), vec![crossing(0, 0, 1, PERSON)]);
    }

    #[test]
    fn totals_count_per_line_class_and_direction() {
        let mut sim = Sim::new(&[vertical(200.0), vertical(400.0)]);
        // Tracks 1-3: two persons and a car cross line 0 left to right; the car goes on across
        // line 1 too; track 2 then comes back across line 0.
        walk_all(
            &mut sim,
            &[
                (PERSON, (100.0, 300.0), (300.0, 300.0)),
                (PERSON, (100.0, 220.0), (300.0, 220.0)),
                (CAR, (50.0, 390.0), (450.0, 390.0)),
            ],
            40,
        );
        sim.walk(PERSON, (300.0, 220.0), (100.0, 220.0), 20);
        let expected: HashMap<(usize, u32, usize), u64> =
            [((0, PERSON, 0), 2), ((0, CAR, 0), 1), ((1, CAR, 0), 1), ((0, PERSON, 1), 1)].into_iter().collect();
        assert_eq!(sim.rule.totals, expected);
        assert_eq!(sim.crossings.len(), 5);
    }

    #[test]
    fn no_lines_no_state() {
        let mut sim = Sim::new(&[]);
        assert!(sim.walk(PERSON, (100.0, 300.0), (300.0, 300.0), 10).is_empty());
        assert!(sim.rule.state.is_empty() && sim.rule.totals.is_empty());
    }
}
