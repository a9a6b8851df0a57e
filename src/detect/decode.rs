//! Output decoders: from the model's raw tensor to scored, classed boxes in model-input pixels.

use super::types::{BBox, Detection};

/// Reusable buffers for decoding, so the per-frame path does not allocate.
#[derive(Debug, Default)]
pub struct DecodeScratch {
    best_score: Vec<f32>,
    best_class: Vec<u32>,
}

/// Decode the YOLOv8-family layout `[1, 4 + nc, n]`: for each of `n` candidates, the box centre,
/// width and height, then one score per class (no objectness). Candidates whose best class scores
/// below `score_threshold` are dropped. Results are appended to `out` (cleared first).
///
/// The tensor is walked row by row (one class over all candidates at a time): contiguous reads
/// that the compiler vectorises, instead of a strided walk per candidate.
pub fn decode_yolov8(
    data: &[f32],
    num_classes: usize,
    num_candidates: usize,
    score_threshold: f32,
    scratch: &mut DecodeScratch,
    out: &mut Vec<Detection>,
) -> Result<(), String> {
    out.clear();
    let n = num_candidates;
    if data.len() != (4 + num_classes) * n {
        return Err(format!("output has {} values, expected (4 + {num_classes}) x {n}", data.len()));
    }
    if n == 0 || num_classes == 0 {
        return Ok(());
    }
    let best = &mut scratch.best_score;
    let cls = &mut scratch.best_class;
    best.clear();
    best.extend_from_slice(&data[4 * n..5 * n]);
    cls.clear();
    cls.resize(n, 0);
    for c in 1..num_classes {
        let row = &data[(4 + c) * n..(5 + c) * n];
        let c = c as u32;
        for ((b, k), &s) in best.iter_mut().zip(cls.iter_mut()).zip(row) {
            // Branch-free selects, so the loop compiles to SIMD compares and blends.
            let gt = s > *b;
            *b = if gt { s } else { *b };
            *k = if gt { c } else { *k };
        }
    }
    let (cx, rest) = data.split_at(n);
    let (cy, rest) = rest.split_at(n);
    let (w, rest) = rest.split_at(n);
    let h = &rest[..n];
    for i in 0..n {
        let s = best[i];
        // Written so that NaN scores are dropped too.
        if s.is_nan() || s < score_threshold {
            continue;
        }
        let (hw, hh) = (w[i] * 0.5, h[i] * 0.5);
        let bbox = BBox::new(cx[i] - hw, cy[i] - hh, cx[i] + hw, cy[i] + hh);
        if bbox.area().is_nan() || bbox.area() <= 0.0 || !bbox.x1.is_finite() || !bbox.y2.is_finite() {
            continue;
        }
        out.push(Detection { class_id: cls[i], score: s, bbox });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a [4 + nc, n] tensor from (cx, cy, w, h, class scores) rows.
    fn tensor(cands: &[([f32; 4], Vec<f32>)], nc: usize) -> Vec<f32> {
        let n = cands.len();
        let mut t = vec![0.0; (4 + nc) * n];
        for (i, (b, scores)) in cands.iter().enumerate() {
            for k in 0..4 {
                t[k * n + i] = b[k];
            }
            for (c, s) in scores.iter().enumerate() {
                t[(4 + c) * n + i] = *s;
            }
        }
        t
    }

    #[test]
    fn picks_best_class_and_converts_to_corners() {
        let t = tensor(
            &[([100.0, 50.0, 20.0, 40.0], vec![0.1, 0.9, 0.3]), ([10.0, 10.0, 4.0, 4.0], vec![0.05, 0.1, 0.2])],
            3,
        );
        let (mut s, mut out) = (DecodeScratch::default(), Vec::new());
        decode_yolov8(&t, 3, 2, 0.25, &mut s, &mut out).expect("shape ok");
        assert_eq!(out.len(), 1, "the second candidate is below threshold");
        assert_eq!(out[0].class_id, 1);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(<[f32; 4]>::from(out[0].bbox), [90.0, 30.0, 110.0, 70.0]);
    }

    #[test]
    fn drops_nan_and_empty_boxes() {
        let t = tensor(
            &[
                ([1.0, 1.0, 0.0, 5.0], vec![0.9]),
                ([f32::NAN, 1.0, 2.0, 2.0], vec![0.9]),
                ([5.0, 5.0, 2.0, 2.0], vec![f32::NAN]),
            ],
            1,
        );
        let (mut s, mut out) = (DecodeScratch::default(), Vec::new());
        decode_yolov8(&t, 1, 3, 0.25, &mut s, &mut out).expect("shape ok");
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn refuses_wrong_shape() {
        let (mut s, mut out) = (DecodeScratch::default(), Vec::new());
        assert!(decode_yolov8(&[0.0; 10], 80, 8400, 0.25, &mut s, &mut out).is_err());
    }
}
