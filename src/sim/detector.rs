//! A model of what the detector makes of the road users in the picture: jittered boxes, misses,
//! small objects lost, occlusion, scores, a few spurious weak boxes. Deterministic for a seed.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::actors::{Class, Seen};
use crate::detect::{BBox, Detection};

/// The detector's habits; the defaults are those of a small model on a street camera.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorModel {
    /// Chance a visible, unhidden object is missed in a frame.
    pub miss_rate: f64,
    /// Box edge jitter: standard deviation as a share of the box's width (left/right edges) or
    /// height (top/bottom), at least `min_jitter_px`.
    pub jitter: f64,
    pub min_jitter_px: f64,
    /// Boxes lower than this are mostly missed…
    pub small_px: f64,
    /// … with this chance.
    pub small_miss_rate: f64,
    /// Covered this much by nearer boxes: missed…
    pub hidden: f64,
    /// … this much: detected with a low score.
    pub half_hidden: f64,
    /// Spurious weak boxes per frame (mean).
    pub false_positive_rate: f64,
    /// A box partly hidden by nearer ones is the extent of what is seen of it, as a detector
    /// trained on boxes drawn round the visible part (COCO's) gives it: a car behind another,
    /// seen from a pole, has its lower part cut off where the nearer one hides it.
    pub cut_hidden: bool,
}

impl Default for DetectorModel {
    fn default() -> Self {
        Self {
            miss_rate: 0.08,
            jitter: 0.03,
            min_jitter_px: 1.0,
            small_px: 12.0,
            small_miss_rate: 0.9,
            hidden: 0.6,
            half_hidden: 0.3,
            false_positive_rate: 0.02,
            cut_hidden: true,
        }
    }
}

/// The detector model with its random state.
pub struct SimDetector {
    pub model: DetectorModel,
    rng: ChaCha8Rng,
}

/// Class ids of the shipped model, by label; see [`super::COCO_LABELS`].
/// Box `b` with each edge moved by its `draws` (standard normal) times `jitter.0` of the box's
/// width or height (at least `jitter.1` pixels), kept in the picture; `None` when under a pixel
/// wide or high then.
pub fn jittered(b: [f64; 4], jitter: (f64, f64), draws: [f64; 4], picture: (u32, u32)) -> Option<BBox> {
    let [x1, y1, x2, y2] = b;
    let (sx, sy) = ((jitter.0 * (x2 - x1)).max(jitter.1), (jitter.0 * (y2 - y1)).max(jitter.1));
    let (wd, ht) = (f64::from(picture.0), f64::from(picture.1));
    let j = [
        (x1 + sx * draws[0]).clamp(0.0, wd),
        (y1 + sy * draws[1]).clamp(0.0, ht),
        (x2 + sx * draws[2]).clamp(0.0, wd),
        (y2 + sy * draws[3]).clamp(0.0, ht),
    ];
    (j[2] - j[0] >= 1.0 && j[3] - j[1] >= 1.0).then(|| BBox::new(j[0] as f32, j[1] as f32, j[2] as f32, j[3] as f32))
}

pub fn class_id(c: Class) -> u32 {
    super::COCO_LABELS.iter().position(|l| *l == c.label()).map_or(0, |i| i as u32)
}

fn area(b: [f64; 4]) -> f64 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn intersection(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]
}

/// The bounding box of what `covers` leave visible of `b`, `None` if they hide it all. The
/// rectangles' edges cut `b` into cells each wholly covered or wholly not; the answer is the
/// extent of the uncovered ones.
pub fn visible_extent(b: [f64; 4], covers: &[[f64; 4]]) -> Option<[f64; 4]> {
    let covers: Vec<[f64; 4]> = covers.iter().map(|&c| intersection(b, c)).filter(|c| area(*c) > 0.0).collect();
    let cuts = |lo: f64, hi: f64, edges: &dyn Fn(&[f64; 4]) -> [f64; 2]| {
        let mut v: Vec<f64> = covers.iter().flat_map(edges).filter(|&e| e > lo && e < hi).collect();
        v.extend([lo, hi]);
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let xs = cuts(b[0], b[2], &|c| [c[0], c[2]]);
    let ys = cuts(b[1], b[3], &|c| [c[1], c[3]]);
    let mut seen: Option<[f64; 4]> = None;
    for x in xs.windows(2) {
        for y in ys.windows(2) {
            let (cx, cy) = ((x[0] + x[1]) / 2.0, (y[0] + y[1]) / 2.0);
            if covers.iter().any(|c| cx >= c[0] && cx < c[2] && cy >= c[1] && cy < c[3]) {
                continue;
            }
            seen = Some(match seen {
                None => [x[0], y[0], x[1], y[1]],
                Some(e) => [e[0].min(x[0]), e[1].min(y[0]), e[2].max(x[1]), e[3].max(y[1])],
            });
        }
    }
    seen
}

/// The share of `b` covered by the union of `covers`, measured on a coarse grid over `b`
/// (summing overlaps would count twice where two nearer boxes overlap each other).
pub fn covered_share(b: [f64; 4], covers: &[[f64; 4]]) -> f64 {
    const N: usize = 16;
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let covers: Vec<[f64; 4]> = covers.iter().map(|&c| intersection(b, c)).filter(|c| area(*c) > 0.0).collect();
    if covers.is_empty() {
        return 0.0;
    }
    let mut hit = 0;
    for i in 0..N {
        for j in 0..N {
            let (x, y) = (b[0] + w * (i as f64 + 0.5) / N as f64, b[1] + h * (j as f64 + 0.5) / N as f64);
            if covers.iter().any(|c| x >= c[0] && x < c[2] && y >= c[1] && y < c[3]) {
                hit += 1;
            }
        }
    }
    f64::from(hit) / (N * N) as f64
}

impl SimDetector {
    pub fn new(model: DetectorModel, seed: u64) -> Self {
        Self { model, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    fn normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.rng)
    }

    /// Detections for one frame of a `width`×`height` picture. Every object draws the same
    /// random numbers whatever happens to it, so one change (a miss) does not reshuffle the
    /// jitter of everything after it.
    pub fn detect(&mut self, seen: &[Seen], width: u32, height: u32) -> Vec<Detection> {
        self.detect_users(seen, width, height).into_iter().map(|(d, _)| d).collect()
    }

    /// [`SimDetector::detect`], each detection with the road user it is of (`None`: a spurious
    /// box), for the carrier model ([`super::carrier`]), which follows only what was detected.
    pub fn detect_users(&mut self, seen: &[Seen], width: u32, height: u32) -> Vec<(Detection, Option<usize>)> {
        let m = self.model.clone();
        let mut out = Vec::new();
        for s in seen {
            let draws: [f64; 4] = [self.normal(), self.normal(), self.normal(), self.normal()];
            let (u_miss, u_score, u_small): (f64, f64, f64) = (self.rng.random(), self.rng.random(), self.rng.random());
            let h = s.bbox[3] - s.bbox[1];
            if h < m.small_px && (u_small < m.small_miss_rate || h < m.small_px / 2.0) {
                continue;
            }
            if u_miss < m.miss_rate {
                continue;
            }
            let nearer: Vec<[f64; 4]> = seen.iter().filter(|o| o.depth < s.depth).map(|o| o.bbox).collect();
            let hidden = covered_share(s.bbox, &nearer);
            if hidden >= m.hidden {
                continue;
            }
            let mut score = if hidden >= m.half_hidden {
                0.2 + 0.25 * u_score
            } else {
                // Small boxes score lower: up to 0.2 less below 40 px high.
                0.55 + 0.35 * u_score - 0.2 * ((40.0 - h) / 40.0).clamp(0.0, 1.0)
            };
            score = score.clamp(0.05, 0.99);
            let outline = if m.cut_hidden { visible_extent(s.bbox, &nearer) } else { Some(s.bbox) };
            let Some(outline) = outline else { continue };
            let Some(bbox) = jittered(outline, (m.jitter, m.min_jitter_px), draws, (width, height)) else { continue };
            out.push((Detection { class_id: class_id(s.class), score: score as f32, bbox }, Some(s.actor)));
        }
        // Spurious weak boxes: below the tracker's thresholds for new tracks, as real ones mostly are.
        let u: f64 = self.rng.random();
        if u < m.false_positive_rate {
            let (a, b, c, d): (f64, f64, f64, f64) =
                (self.rng.random(), self.rng.random(), self.rng.random(), self.rng.random());
            let (wd, ht) = (f64::from(width), f64::from(height));
            let (bw, bh) = (20.0 + 60.0 * c, 20.0 + 60.0 * c);
            let (x, y) = (a * (wd - bw), ht * 0.3 + b * (ht * 0.7 - bh));
            let class = if d < 0.5 { Class::Person } else { Class::Car };
            let bbox = BBox::new(x as f32, y as f32, (x + bw) as f32, (y + bh) as f32);
            out.push((Detection { class_id: class_id(class), score: (0.15 + 0.25 * d) as f32, bbox }, None));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(actor: usize, bbox: [f64; 4], depth: f64) -> Seen {
        Seen { actor, class: Class::Car, bbox, depth }
    }

    fn no_noise() -> DetectorModel {
        DetectorModel { miss_rate: 0.0, false_positive_rate: 0.0, ..DetectorModel::default() }
    }

    #[test]
    fn a_box_hidden_by_a_nearer_one_is_missed_and_a_half_hidden_one_scores_low() {
        let far = seen(0, [100.0, 100.0, 200.0, 200.0], 30.0);
        // 70 % covered by a nearer box: missed, every time.
        let near = seen(1, [130.0, 90.0, 260.0, 260.0], 20.0);
        let mut d = SimDetector::new(no_noise(), 7);
        for _ in 0..50 {
            let dets = d.detect(&[far, near], 1280, 720);
            assert_eq!(dets.len(), 1);
            assert_eq!(dets[0].class_id, 2);
            assert!(dets[0].bbox.x1 > 120.0, "the near one: {:?}", dets[0]);
        }
        // 40 % covered: detected, with a low score.
        let near = seen(1, [160.0, 90.0, 260.0, 260.0], 20.0);
        for _ in 0..50 {
            let dets = d.detect(&[far, near], 1280, 720);
            assert_eq!(dets.len(), 2);
            assert!((0.2..=0.45).contains(&dets[0].score), "{:?}", dets[0]);
        }
        // Swap who is nearer: the first box is now whole (a normal score), and the second is
        // a third covered (a low score).
        let dets = d.detect(
            &[seen(0, [100.0, 100.0, 200.0, 200.0], 10.0), seen(1, [130.0, 90.0, 260.0, 260.0], 20.0)],
            1280,
            720,
        );
        assert_eq!(dets.len(), 2);
        assert!(dets[0].score >= 0.5 && dets[1].score <= 0.45, "{dets:?}");
    }

    #[test]
    fn a_box_partly_hidden_is_drawn_round_what_is_seen_of_it() {
        let b = [100.0, 100.0, 200.0, 200.0];
        // A nearer box across its whole width from y 160 down: its bottom is cut there.
        assert_eq!(visible_extent(b, &[[90.0, 160.0, 300.0, 400.0]]), Some([100.0, 100.0, 200.0, 160.0]));
        // Over its left part only, from top to bottom: cut from the left.
        assert_eq!(visible_extent(b, &[[50.0, 50.0, 130.0, 250.0]]), Some([130.0, 100.0, 200.0, 200.0]));
        // Over its bottom left corner: its extent is whole (its bottom is seen on the right).
        assert_eq!(visible_extent(b, &[[50.0, 150.0, 150.0, 250.0]]), Some(b));
        // Two nearer boxes that together span its width: cut where the higher one's top is
        // (below that, the two cover it).
        let two = [[50.0, 170.0, 160.0, 250.0], [150.0, 150.0, 250.0, 250.0]];
        assert_eq!(visible_extent(b, &two), Some([100.0, 100.0, 200.0, 170.0]));
        // Wholly covered: nothing seen.
        assert_eq!(visible_extent(b, &[[0.0, 0.0, 300.0, 300.0]]), None);
        assert_eq!(visible_extent(b, &[]), Some(b));

        // The detector draws the cut box (its edges jittered about it), and a box behind a
        // nearer one no longer reaches its foot.
        let far = seen(0, [100.0, 100.0, 200.0, 200.0], 30.0);
        let near = seen(1, [90.0, 170.0, 260.0, 320.0], 20.0);
        let mut d = SimDetector::new(no_noise(), 5);
        for _ in 0..50 {
            let dets = d.detect(&[far, near], 1280, 720);
            let far_det = dets.iter().find(|x| x.bbox.y1 < 140.0).expect("the far box, 30 % hidden");
            assert!((far_det.bbox.y2 - 170.0).abs() < 12.0, "{far_det:?}");
        }
        let whole =
            SimDetector::new(DetectorModel { cut_hidden: false, ..no_noise() }, 5).detect(&[far, near], 1280, 720);
        assert!(whole.iter().any(|x| (x.bbox.y2 - 200.0).abs() < 12.0 && x.bbox.y1 < 140.0), "{whole:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_detections() {
        let s = [seen(0, [100.0, 100.0, 200.0, 200.0], 30.0), seen(1, [400.0, 300.0, 420.0, 310.0], 60.0)];
        let run = |seed| {
            let mut d = SimDetector::new(DetectorModel { false_positive_rate: 0.3, ..DetectorModel::default() }, seed);
            (0..100).map(|_| d.detect(&s, 1280, 720)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn jitter_is_about_three_percent_per_edge() {
        let b = [100.0, 100.0, 300.0, 200.0];
        let mut d = SimDetector::new(no_noise(), 3);
        let xs: Vec<f64> = (0..2000)
            .filter_map(|_| d.detect(&[seen(0, b, 10.0)], 1280, 720).first().map(|x| f64::from(x.bbox.x1)))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((mean - 100.0).abs() < 0.5 && (sd - 6.0).abs() < 0.6, "{mean} {sd}");
    }
}
