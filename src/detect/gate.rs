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
use super::regions::{self, MappedBack, Rect};
use super::{Detection, Detector, Picture};

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
    /// Where only part of the picture moved, detect crops of it at the camera's own resolution
    /// (motion regions, [`super::regions`]); the source then delivers full-size frames.
    pub regions: bool,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self { enabled: true, refresh_s: 2.0, pixel_delta: 10, min_changed: 0.001, regions: false }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMotion {
    enabled: Option<bool>,
    refresh_s: Option<f64>,
    pixel_delta: Option<u8>,
    min_changed: Option<f64>,
    regions: Option<bool>,
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
            regions: r.regions.unwrap_or(d.regions),
        };
        if c.regions && !c.enabled {
            return Err("motion.regions needs motion.enabled: regions are what the gate sees move".into());
        }
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

/// The thumbnail grid of a `w` x `h` picture: [`THUMB_W`] cells wide (fewer for a narrower
/// picture), as many rows as keep the aspect.
pub fn grid(w: usize, h: usize) -> (usize, usize) {
    if w == 0 || h == 0 {
        return (0, 0);
    }
    let tw = THUMB_W.min(w);
    (tw, (h * tw / w).max(1))
}

/// What the gate saw in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Nothing moved since the last detection, and no refresh is due.
    Still,
    /// The whole picture is due: the first frame, `refresh_s` passed, or a new picture size.
    Due,
    /// Something moved ([`MotionGate::changed`] says where).
    Moved,
}

/// The gate's decision logic for one camera, without the detector (unit tested on its own).
#[derive(Debug, Clone)]
pub struct MotionGate {
    cfg: MotionConfig,
    /// Thumbnail of what was last detected on (cell by cell: a mosaic refreshes only its crops).
    reference: Vec<u8>,
    current: Vec<u8>,
    /// The grid of `current`.
    grid: (usize, usize),
    /// When the whole picture was last detected.
    last_detect_s: Option<f64>,
}

impl MotionGate {
    pub fn new(cfg: &MotionConfig) -> Self {
        Self { cfg: cfg.clone(), reference: Vec::new(), current: Vec::new(), grid: (0, 0), last_detect_s: None }
    }

    /// Compare a frame with what was last detected on. Nothing is committed until the caller
    /// says what it detected ([`MotionGate::took_whole`], [`MotionGate::took_crops`]).
    pub fn look(&mut self, rgb: &[u8], stride: usize, w: usize, h: usize, time_s: f64) -> Look {
        thumbnail(rgb, stride, w, h, &mut self.current);
        self.grid = grid(w, h);
        let due = self.last_detect_s.is_none_or(|t| time_s - t >= self.cfg.refresh_s || time_s < t);
        match changed_pixels(&self.current, &self.reference, self.cfg.pixel_delta) {
            None => Look::Due,
            _ if due => Look::Due,
            Some(n) if n as f64 >= (self.cfg.min_changed * self.current.len() as f64).max(1.0) => Look::Moved,
            Some(_) => Look::Still,
        }
    }

    /// Which thumbnail cells changed in the frame last looked at, row by row, and the grid.
    pub fn changed(&self) -> (Vec<bool>, (usize, usize)) {
        let delta = self.cfg.pixel_delta;
        let mask = if self.current.len() == self.reference.len() {
            self.current.iter().zip(&self.reference).map(|(a, b)| a.abs_diff(*b) > delta).collect()
        } else {
            vec![true; self.current.len()]
        };
        (mask, self.grid)
    }

    /// The whole frame last looked at was detected on: it is the new reference.
    pub fn took_whole(&mut self, time_s: f64) {
        std::mem::swap(&mut self.reference, &mut self.current);
        self.last_detect_s = Some(time_s);
    }

    /// Crops of the frame last looked at were detected on (`crops` in picture pixels of a
    /// `picture`-sized frame): their cells become the reference; the rest keeps adding up change
    /// against what was detected there, and the whole picture stays due at `refresh_s`.
    pub fn took_crops(&mut self, crops: &[Rect], picture: (u32, u32)) {
        let (gw, gh) = self.grid;
        if self.reference.len() != self.current.len() || gw == 0 || gh == 0 {
            return;
        }
        let (pw, ph) = (picture.0.max(1) as usize, picture.1.max(1) as usize);
        for c in crops {
            // Cells wholly inside the crop.
            let (x0, y0) = ((c.x as usize * gw).div_ceil(pw), (c.y as usize * gh).div_ceil(ph));
            let (x1, y1) = (((c.x + c.w) as usize * gw / pw).min(gw), ((c.y + c.h) as usize * gh / ph).min(gh));
            // A crop narrower than a cell holds no whole cell.
            if x0 >= x1 {
                continue;
            }
            for y in y0..y1 {
                let row = y * gw;
                self.reference[row + x0..row + x1].copy_from_slice(&self.current[row + x0..row + x1]);
            }
        }
    }

    /// Whether to detect this whole frame; when it says yes, the frame becomes the reference.
    pub fn should_detect(&mut self, rgb: &[u8], stride: usize, w: usize, h: usize, time_s: f64) -> bool {
        if !self.cfg.enabled {
            return true;
        }
        match self.look(rgb, stride, w, h, time_s) {
            Look::Still => false,
            Look::Due | Look::Moved => {
                self.took_whole(time_s);
                true
            }
        }
    }
}

/// What the detector did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Nothing moved: the last detections were handed on, no inference.
    Reused,
    /// One inference on the whole picture.
    Whole,
    /// One inference on a mosaic of this many crops of what moved.
    Regions(usize),
    /// A mosaic cut an object, so the whole picture was detected after it: two inferences.
    RegionsThenWhole,
    /// The whole picture was due while part of it moved: the whole picture and a mosaic of this
    /// many crops, two inferences.
    WholeAndRegions(usize),
}

impl Ran {
    /// Whether the detector ran.
    pub fn inferred(self) -> bool {
        self != Ran::Reused
    }

    /// How many inferences it took.
    pub fn inferences(self) -> u64 {
        match self {
            Ran::Reused => 0,
            Ran::Whole | Ran::Regions(_) => 1,
            Ran::RegionsThenWhole | Ran::WholeAndRegions(_) => 2,
        }
    }

    /// How many of them were on a mosaic of what moved.
    pub fn mosaics(self) -> u64 {
        match self {
            Ran::Reused | Ran::Whole => 0,
            Ran::Regions(_) | Ran::RegionsThenWhole | Ran::WholeAndRegions(_) => 1,
        }
    }
}

/// A camera's gate and its last detections, which a skipped frame reuses and a mosaic keeps
/// outside its crops.
#[derive(Debug, Clone)]
pub struct CameraGate {
    gate: MotionGate,
    last: Vec<Detection>,
}

impl CameraGate {
    pub fn new(cfg: &MotionConfig) -> Self {
        Self { gate: MotionGate::new(cfg), last: Vec::new() }
    }

    /// Detect on the frame into `out`: the whole picture, a mosaic of what moved (when
    /// `motion.regions` is on and the picture comes at the camera's own size, see
    /// [`super::regions`]), or nothing, handing on the last detections when nothing moved.
    pub fn run(
        &mut self,
        detector: &mut Detector,
        pic: Picture<'_>,
        lb: &Letterbox,
        time_s: f64,
        out: &mut Vec<Detection>,
    ) -> anyhow::Result<Ran> {
        if !self.gate.cfg.enabled {
            detector.detect_picture(pic, lb, out)?;
            return Ok(Ran::Whole);
        }
        let (w, h) = (pic.width as usize, pic.height as usize);
        let ran = match self.gate.look(pic.rgb, pic.stride, w, h, time_s) {
            Look::Still => {
                out.clear();
                out.extend_from_slice(&self.last);
                return Ok(Ran::Reused);
            }
            Look::Moved if self.gate.cfg.regions => self.regions(detector, pic, lb, time_s, out)?,
            Look::Due if self.gate.cfg.regions => self.refresh(detector, pic, lb, time_s, out)?,
            Look::Due | Look::Moved => {
                self.whole(detector, pic, lb, time_s, out)?;
                Ran::Whole
            }
        };
        self.last.clear();
        self.last.extend_from_slice(out);
        Ok(ran)
    }

    /// The whole picture is due: detect it, and if part of it moved, the mosaic of what moved
    /// too (what the whole picture, scaled down, would lose of the small things moving there).
    fn refresh(
        &mut self,
        detector: &mut Detector,
        pic: Picture<'_>,
        lb: &Letterbox,
        time_s: f64,
        out: &mut Vec<Detection>,
    ) -> anyhow::Result<Ran> {
        let mosaic = self.mosaic(pic, lb, detector);
        self.whole(detector, pic, lb, time_s, out)?;
        let Some(mosaic) = mosaic else { return Ok(Ran::Whole) };
        let mut moving = Vec::new();
        match detector.detect_mosaic(pic, &mosaic, &mut moving) {
            Ok(MappedBack::Whole) => {
                // Inside the crops the mosaic's finer view stands; outside them, the whole picture's.
                regions::hand_on_still(&mut moving, out, &mosaic);
                std::mem::swap(out, &mut moving);
                Ok(Ran::WholeAndRegions(mosaic.tiles.len()))
            }
            // The whole picture's boxes stand; the mosaic cost an inference all the same.
            Ok(MappedBack::Cut) => Ok(Ran::RegionsThenWhole),
            Err(e) => {
                tracing::warn!("a mosaic of what moved failed, the whole picture's boxes stand: {e:#}");
                Ok(Ran::Whole)
            }
        }
    }

    /// The mosaic of what moved since the reference, if one pays (none on a first frame).
    fn mosaic(&self, pic: Picture<'_>, lb: &Letterbox, detector: &Detector) -> Option<regions::Mosaic> {
        let picture = (pic.width, pic.height);
        let (mask, grid) = self.gate.changed();
        if self.gate.reference.len() != mask.len() {
            return None;
        }
        let areas = regions::moving_areas(&mask, grid, picture);
        let whole_scale = lb.fit_w as f32 / pic.width.max(1) as f32;
        // The camera's own input first; smaller ones of the model may serve a small mosaic.
        let inputs: Vec<(u32, u32)> = std::iter::once((lb.dst_w, lb.dst_h)).chain(detector.input_sizes()).collect();
        regions::plan(&areas, &self.last, picture, &inputs, whole_scale)
    }

    /// Detect what moved on a mosaic if one pays, else the whole picture.
    fn regions(
        &mut self,
        detector: &mut Detector,
        pic: Picture<'_>,
        lb: &Letterbox,
        time_s: f64,
        out: &mut Vec<Detection>,
    ) -> anyhow::Result<Ran> {
        let picture = (pic.width, pic.height);
        let Some(mosaic) = self.mosaic(pic, lb, detector) else {
            self.whole(detector, pic, lb, time_s, out)?;
            return Ok(Ran::Whole);
        };
        let ran = match detector.detect_mosaic(pic, &mosaic, out) {
            Ok(MappedBack::Whole) => {
                regions::hand_on_still(out, &self.last, &mosaic);
                let crops: Vec<Rect> = mosaic.tiles.iter().map(|t| t.crop).collect();
                self.gate.took_crops(&crops, picture);
                return Ok(Ran::Regions(mosaic.tiles.len()));
            }
            Ok(MappedBack::Cut) => Ran::RegionsThenWhole,
            // A smaller input that cannot load, say: the whole picture serves (the input is then
            // left out of later mosaics).
            Err(e) => {
                tracing::warn!("a mosaic of what moved failed, the whole picture is detected: {e:#}");
                Ran::Whole
            }
        };
        self.whole(detector, pic, lb, time_s, out)?;
        Ok(ran)
    }

    /// Detect the whole picture, which becomes the gate's reference.
    fn whole(
        &mut self,
        detector: &mut Detector,
        pic: Picture<'_>,
        lb: &Letterbox,
        time_s: f64,
        out: &mut Vec<Detection>,
    ) -> anyhow::Result<()> {
        detector.detect_picture(pic, lb, out)?;
        self.gate.took_whole(time_s);
        Ok(())
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
        MotionConfig { enabled: true, refresh_s: 2.0, pixel_delta: 10, min_changed: 0.001, regions: false }
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
    fn changed_cells_are_where_the_frame_moved() {
        let mut g = MotionGate::new(&cfg());
        assert_eq!(g.look(&frame(100, None), 480, 160, 120, 0.0), Look::Due);
        g.took_whole(0.0);
        assert_eq!(g.look(&frame(100, Some((80, 40, 8))), 480, 160, 120, 0.1), Look::Moved);
        let (mask, grid) = g.changed();
        assert_eq!(grid, (80, 60));
        // The 8x8 square at (80, 40) covers thumbnail cells x 40–43, y 20–23 (2x2 pixels each).
        let moved: Vec<(usize, usize)> = (0..mask.len()).filter(|&i| mask[i]).map(|i| (i % 80, i / 80)).collect();
        assert_eq!(moved.len(), 16, "{moved:?}");
        assert!(moved.iter().all(|&(x, y)| (40..44).contains(&x) && (20..24).contains(&y)), "{moved:?}");
    }

    #[test]
    fn a_mosaic_refreshes_the_reference_only_inside_its_crops() {
        let mut g = MotionGate::new(&cfg());
        g.look(&frame(100, None), 480, 160, 120, 0.0);
        g.took_whole(0.0);
        // Two squares appear; only the crop around the first is detected on.
        let two = frame(100, Some((10, 10, 8)));
        let mut two = two;
        for y in 90..98 {
            two[(y * 160 + 140) * 3..(y * 160 + 148) * 3].fill(255);
        }
        assert_eq!(g.look(&two, 480, 160, 120, 0.1), Look::Moved);
        g.took_crops(&[Rect { x: 0, y: 0, w: 40, h: 40 }], (160, 120));
        // The second square still counts as moved against what was detected there...
        assert_eq!(g.look(&two, 480, 160, 120, 0.2), Look::Moved);
        let (mask, _) = g.changed();
        assert!(mask.iter().enumerate().filter(|(_, m)| **m).all(|(i, _)| i % 80 >= 70 && i / 80 >= 45));
        // A crop narrower than a cell (or beyond the picture) refreshes nothing, and does not panic.
        g.took_crops(&[Rect { x: 3, y: 3, w: 1, h: 1 }, Rect { x: 150, y: 110, w: 40, h: 40 }], (160, 120));
        // ...and the whole picture is still due at refresh_s after the last whole detection.
        g.took_crops(&[Rect { x: 120, y: 80, w: 40, h: 40 }], (160, 120));
        assert_eq!(g.look(&two, 480, 160, 120, 1.9), Look::Still);
        assert_eq!(g.look(&two, 480, 160, 120, 2.0), Look::Due);
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
        assert!(toml::from_str::<MotionConfig>("regions = true").expect("valid").regions);
        let e = toml::from_str::<MotionConfig>("enabled = false\nregions = true").expect_err("regions need the gate");
        assert!(e.to_string().contains("motion.regions"), "{e}");
    }
}
