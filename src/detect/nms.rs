//! Class-wise non-maximum suppression.

use super::types::Detection;

/// Keep the best-scoring box of every cluster of same-class boxes that overlap by more than
/// `iou_threshold`; at most `max_out` boxes, best first. Works in place on `dets`.
///
/// Candidates are few after the score threshold (tens to a few hundred), so the quadratic
/// greedy pass is cheaper than building any index.
pub fn nms_in_place(dets: &mut Vec<Detection>, iou_threshold: f32, max_out: usize) {
    dets.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..dets.len() {
        if kept >= max_out {
            break;
        }
        let cand = dets[i];
        let suppressed =
            dets[..kept].iter().any(|k| k.class_id == cand.class_id && k.bbox.iou(&cand.bbox) > iou_threshold);
        if !suppressed {
            dets[kept] = cand;
            kept += 1;
        }
    }
    dets.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::types::BBox;

    fn d(class_id: u32, score: f32, b: [f32; 4]) -> Detection {
        Detection { class_id, score, bbox: BBox::from(b) }
    }

    #[test]
    fn suppresses_overlapping_same_class_only() {
        let mut v = vec![
            d(0, 0.8, [0.0, 0.0, 10.0, 10.0]),
            d(0, 0.9, [1.0, 1.0, 11.0, 11.0]),
            d(3, 0.7, [0.0, 0.0, 10.0, 10.0]), // another class: kept (a rider on a motorcycle)
            d(0, 0.6, [50.0, 50.0, 60.0, 60.0]), // far away: kept
        ];
        nms_in_place(&mut v, 0.45, 100);
        let got: Vec<(u32, f32)> = v.iter().map(|x| (x.class_id, x.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (3, 0.7), (0, 0.6)]);
    }

    #[test]
    fn keeps_touching_boxes_below_threshold() {
        let mut v = vec![d(0, 0.9, [0.0, 0.0, 10.0, 10.0]), d(0, 0.8, [6.0, 0.0, 16.0, 10.0])]; // IoU 0.25
        nms_in_place(&mut v, 0.45, 100);
        assert_eq!(v.len(), 2);
        nms_in_place(&mut v, 0.2, 100);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn caps_output() {
        let mut v: Vec<Detection> =
            (0..50).map(|i| d(0, i as f32 / 100.0, [i as f32 * 20.0, 0.0, i as f32 * 20.0 + 10.0, 10.0])).collect();
        nms_in_place(&mut v, 0.45, 5);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].score, 0.49);
    }
}
