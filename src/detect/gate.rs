//! Motion gating: run the detector only when something in the picture changed.
//!
//! Each frame the detector would get is shrunk to a grey thumbnail [`THUMB_W`] pixels wide (from
//! the RGB frame the source already delivers: no second GStreamer branch) and compared with the
//! thumbnail of the frame last detected on. When too few thumbnail pixels changed, the frame is
//! not detected on: the camera's last detections are handed on again, so the tracker and rules go
//! on with time as if the detector had seen the same still scene. The detector still runs at
//! least every `refresh_s` seconds, so objects that stay still keep being confirmed (or found
//! gone), and at once on the first frame that changed, so a new object is detected on the first
//! frame it moves in.

use serde::Deserialize;

use super::letterbox::Letterbox;
use super::{Detection, Detector};

/// Thumbnail width in pixels; its height follows the frame's aspect ratio.
pub const THUMB_W: usize = 80;

/// `[cameras.motion]`: when the detector may skip a frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawMotion")]
pub struct MotionConfig {
    /// Skip frames in which nothing moved.
    pub enabled: bool,
    /// Detect at least this often (stream seconds), moving or not.
    pub refresh_s: f64,
    /// A thumbnail pixel changed when its grey level moved by more than this (0–255).
    pub pixel_delta: u8,
    /// Detect when at least this share of thumbnail pixels changed (0–1).
    pub min_changed: f64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self { enabled: true, refresh_s: 2.0, pixel_delta: 10, min_changed: 0.001 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMotion {
    enabled: Option<bool>,
    refresh_s: Option<f64>,
    pixel_delta: Option<u8>,
    min_changed: Option<f64>,
}

impl TryFrom<RawMotion> for MotionConfig {
    type Error = String;
    fn try_from(r: RawMotion) -> Result<Self, String> {
        let d = Self::default();
        let c = Self {
            enabled: r.enabled.unwrap_or(d.enabled),
            refresh_s: r.refresh_s.unwrap_or(d.refresh_s),
            pixel_delta: r.pixel_delta.unwrap_or(d.pixel_delta),
            min_changed: r.min_changed.unwrap_or(d.min_changed),
        };
        if !(c.refresh_s.is_finite() && c.refresh_s > 0.0) {
            return Err(format!("motion.refresh_s must be a positive number of seconds, got {}", c.refresh_s));
        }
        if !(0.0..=1.0).contains(&c.min_changed) {
            return Err(format!("motion.min_changed must be a share between 0 and 1, got {}", c.min_changed));
        }
        Ok(c)
    }
}

/// Grey thumbnail of an RGB frame: each thumbnail pixel is the mean grey level of every fourth
/// pixel of every fourth row in its cell (4 samples of an 8x8 cell: enough to average out
/// sensor noise, at a sixteenth of the reads).
pub fn thumbnail(rgb: &[u8], stride: usize, w: usize, h: usize, out: &mut Vec<u8>) {
    out.clear();
    if w == 0 || h == 0 {
        return;
    }
    let tw = THUMB_W.min(w);
    let th = (h * tw / w).max(1);
    for ty in 0..th {
        let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1));
        for tx in 0..tw {
            let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1));
            let (mut sum, mut n) = (0u32, 0u32);
            for y in (y0..y1).step_by(4) {
                let Some(row) = rgb.get(y * stride + x0 * 3..y * stride + x1 * 3) else { continue };
                for p in row.chunks_exact(12) {
                    // (R + 2G + B) / 4: close enough to luma to see change, no multiplies.
                    sum += (p[0] as u32 + 2 * p[1] as u32 + p[2] as u32) >> 2;
                    n += 1;
                }
                // A cell narrower than four pixels still gets its first pixel.
                if row.len() < 12 && row.len() >= 3 {
                    sum += (row[0] as u32 + 2 * row[1] as u32 + row[2] as u32) >> 2;
                    n += 1;
                }
            }
            out.push((sum / n.max(1)) as u8);
        }
    }
}

/// How many pixels differ by more than `delta`; `None` when the sizes differ.
pub fn changed_pixels(a: &[u8], b: &[u8], delta: u8) -> Option<usize> {
    (a.len() == b.len()).then(|| a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > delta).count())
}

/// The gate's decision logic for one camera, without the detector (unit tested on its own).
#[derive(Debug, Clone)]
pub struct MotionGate {
    cfg: MotionConfig,
    /// Thumbnail of the frame last detected on.
    reference: Vec<u8>,
    current: Vec<u8>,
    last_detect_s: Option<f64>,
}

impl MotionGate {
    pub fn new(cfg: &MotionConfig) -> Self {
        Self { cfg: cfg.clone(), reference: Vec::new(), current: Vec::new(), last_detect_s: None }
    }

    /// Whether to detect on this frame. When it says yes, the frame becomes the new reference.
    pub fn should_detect(&mut self, rgb: &[u8], stride: usize, w: usize, h: usize, time_s: f64) -> bool {
        if !self.cfg.enabled {
            return true;
        }
        thumbnail(rgb, stride, w, h, &mut self.current);
        let due = self.last_detect_s.is_none_or(|t| time_s - t >= self.cfg.refresh_s || time_s < t);
        let moved = match changed_pixels(&self.current, &self.reference, self.cfg.pixel_delta) {
            Some(n) => n as f64 >= (self.cfg.min_changed * self.current.len() as f64).max(1.0),
            None => true,
        };
        if due || moved {
            std::mem::swap(&mut self.reference, &mut self.current);
            self.last_detect_s = Some(time_s);
            true
        } else {
            false
        }
    }
}

/// A camera's gate and its last detections, which a skipped frame reuses.
#[derive(Debug, Clone)]
pub struct CameraGate {
    gate: MotionGate,
    last: Vec<Detection>,
}

impl CameraGate {
    pub fn new(cfg: &MotionConfig) -> Self {
        Self { gate: MotionGate::new(cfg), last: Vec::new() }
    }

    /// Detect on the frame into `out`, or, when nothing moved since the last detection, copy
    /// that detection's results into `out`. Returns whether the detector ran.
    pub fn run(
        &mut self,
        detector: &mut Detector,
        rgb: &[u8],
        stride: usize,
        lb: &Letterbox,
        time_s: f64,
        out: &mut Vec<Detection>,
    ) -> anyhow::Result<bool> {
        if self.gate.should_detect(rgb, stride, lb.fit_w as usize, lb.fit_h as usize, time_s) {
            detector.detect(rgb, stride, lb, out)?;
            if self.gate.cfg.enabled {
                self.last.clear();
                self.last.extend_from_slice(out);
            }
            Ok(true)
        } else {
            out.clear();
            out.extend_from_slice(&self.last);
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 160x120 RGB frame of grey `g` with a white `size`-pixel square at (x, y).
    fn frame(g: u8, square: Option<(usize, usize, usize)>) -> Vec<u8> {
        let (w, h) = (160, 120);
        let mut f = vec![g; w * h * 3];
        if let Some((x, y, s)) = square {
            for yy in y..y + s {
                f[(yy * w + x) * 3..(yy * w + x + s) * 3].fill(255);
            }
        }
        f
    }

    fn cfg() -> MotionConfig {
        MotionConfig { enabled: true, refresh_s: 2.0, pixel_delta: 10, min_changed: 0.001 }
    }

    #[test]
    fn thumbnail_averages_cells() {
        let f = frame(100, Some((0, 0, 2)));
        let mut t = Vec::new();
        thumbnail(&f, 160 * 3, 160, 120, &mut t);
        assert_eq!(t.len(), 80 * 60);
        // The first cell (2x2) samples only its top-left pixel, white; the rest stays grey.
        assert_eq!((t[0], t[1], t[80]), (255, 100, 100));
        // 640x480 cells are 8x8: a white 4x4 block in the top-left corner is one of four samples.
        let mut big = vec![0u8; 640 * 480 * 3];
        for y in 0..4 {
            big[y * 1920..y * 1920 + 12].fill(255);
        }
        thumbnail(&big, 1920, 640, 480, &mut t);
        assert_eq!((t.len(), t[0], t[1]), (80 * 60, 63, 0));
    }

    #[test]
    fn still_frames_are_skipped_until_refresh() {
        let mut g = MotionGate::new(&cfg());
        let f = frame(100, None);
        assert!(g.should_detect(&f, 480, 160, 120, 0.0), "first frame");
        let skipped = (1..20).filter(|i| !g.should_detect(&f, 480, 160, 120, *i as f64 * 0.1)).count();
        assert_eq!(skipped, 19);
        assert!(g.should_detect(&f, 480, 160, 120, 2.0), "refresh after refresh_s");
        assert!(!g.should_detect(&f, 480, 160, 120, 2.1));
    }

    #[test]
    fn motion_is_detected_on_the_first_changed_frame() {
        let mut g = MotionGate::new(&cfg());
        assert!(g.should_detect(&frame(100, Some((20, 20, 8))), 480, 160, 120, 0.0));
        assert!(!g.should_detect(&frame(100, Some((20, 20, 8))), 480, 160, 120, 0.1));
        // The object moves by 4 pixels: detect at once.
        assert!(g.should_detect(&frame(100, Some((24, 20, 8))), 480, 160, 120, 0.2));
        // Compression-like noise of a few grey levels everywhere is not motion.
        let mut noisy = frame(100, Some((24, 20, 8)));
        for (i, v) in noisy.iter_mut().enumerate() {
            *v = v.saturating_add((i % 7) as u8);
        }
        assert!(!g.should_detect(&noisy, 480, 160, 120, 0.3));
    }

    #[test]
    fn slow_motion_adds_up_against_the_reference() {
        // One pixel per frame is below the threshold frame to frame, but the reference is the
        // last detected frame, so the change accumulates until it triggers a detection.
        let mut g = MotionGate::new(&MotionConfig { min_changed: 0.002, ..cfg() });
        let at = |x: usize| frame(100, Some((x, 40, 8)));
        // Moving by one pixel changes at most 8 thumbnail pixels: fewer than the 10 needed.
        let mut fresh = g.clone();
        assert!(fresh.should_detect(&at(41), 480, 160, 120, 0.0));
        assert!(!fresh.should_detect(&at(42), 480, 160, 120, 0.01));
        assert!(g.should_detect(&at(40), 480, 160, 120, 0.0));
        let fired = (1..=10).find(|&k| g.should_detect(&at(40 + k), 480, 160, 120, k as f64 * 0.01));
        assert!(matches!(fired, Some(k) if (2..=6).contains(&k)), "{fired:?}");
    }

    #[test]
    fn disabled_gate_always_detects() {
        let mut g = MotionGate::new(&MotionConfig { enabled: false, ..cfg() });
        let f = frame(100, None);
        assert!((0..5).all(|i| g.should_detect(&f, 480, 160, 120, i as f64 * 0.1)));
    }

    #[test]
    fn config_checks_ranges() {
        let ok: MotionConfig = toml::from_str("refresh_s = 5.0").expect("valid");
        assert_eq!((ok.enabled, ok.refresh_s), (true, 5.0));
        let e = toml::from_str::<MotionConfig>("refresh_s = 0").expect_err("zero refresh");
        assert!(e.to_string().contains("motion.refresh_s"), "{e}");
        let e = toml::from_str::<MotionConfig>("min_changed = 1.5").expect_err("share > 1");
        assert!(e.to_string().contains("motion.min_changed"), "{e}");
        assert!(toml::from_str::<MotionConfig>("treshold = 3").is_err(), "unknown key");
    }
}
