//! Letterboxing: fit a source image into the model's input, aspect kept, nothing cropped, the rest
//! padded; and the inverse, to bring boxes back to source pixels.

use super::types::BBox;

/// The mapping between a source image and the model input it is letterboxed into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
    /// Size of the scaled image inside the input.
    pub fit_w: u32,
    pub fit_h: u32,
    /// Where the scaled image starts inside the input (the padding before it).
    pub pad_x: u32,
    pub pad_y: u32,
    /// Horizontal and vertical scale from source to input (equal but for rounding).
    pub sx: f32,
    pub sy: f32,
}

impl Letterbox {
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        let (sw, sh) = (src_w.max(1), src_h.max(1));
        let scale = (dst_w as f64 / sw as f64).min(dst_h as f64 / sh as f64);
        let fit_w = ((sw as f64 * scale).round() as u32).clamp(1, dst_w);
        let fit_h = ((sh as f64 * scale).round() as u32).clamp(1, dst_h);
        Self {
            src_w: sw,
            src_h: sh,
            dst_w,
            dst_h,
            fit_w,
            fit_h,
            pad_x: (dst_w - fit_w) / 2,
            pad_y: (dst_h - fit_h) / 2,
            // The exact per-axis factors of the scaled image, so rounding does not shift boxes.
            sx: fit_w as f32 / sw as f32,
            sy: fit_h as f32 / sh as f32,
        }
    }

    /// The letterbox into the best of several model inputs (`inputs`, the model's own first):
    /// the one that shows the picture largest, and of those (within 1 % of its pixels) the
    /// smallest, which pads least. A 16:9 picture goes to 640x384 rather than 640x640 (the same
    /// 640x360 pixels, 40 % less input); a 4:3 one to 640x480 if there is one, never to 640x384
    /// (where it would be 512x384).
    pub fn choose(src_w: u32, src_h: u32, inputs: &[(u32, u32)]) -> Self {
        let all: Vec<Self> = inputs.iter().map(|&(w, h)| Self::new(src_w, src_h, w, h)).collect();
        let shown = |l: &Self| u64::from(l.fit_w) * u64::from(l.fit_h);
        let most = all.iter().map(shown).max().unwrap_or(0);
        all.into_iter()
            .filter(|l| shown(l) * 100 >= most * 99)
            .min_by_key(|l| u64::from(l.dst_w) * u64::from(l.dst_h))
            .unwrap_or_else(|| Self::new(src_w, src_h, 640, 640))
    }

    /// The same scaled picture placed in another input at least as large (centred again): for
    /// a frame scaled for one model input, run on another.
    pub fn within(&self, dst_w: u32, dst_h: u32) -> Option<Self> {
        (dst_w >= self.fit_w && dst_h >= self.fit_h).then(|| Self {
            dst_w,
            dst_h,
            pad_x: (dst_w - self.fit_w) / 2,
            pad_y: (dst_h - self.fit_h) / 2,
            ..*self
        })
    }

    /// A box in model-input pixels → source pixels, clamped to the image.
    pub fn to_source(&self, b: BBox) -> BBox {
        let (px, py) = (self.pad_x as f32, self.pad_y as f32);
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        BBox::new(
            ((b.x1 - px) / self.sx).clamp(0.0, w),
            ((b.y1 - py) / self.sy).clamp(0.0, h),
            ((b.x2 - px) / self.sx).clamp(0.0, w),
            ((b.y2 - py) / self.sy).clamp(0.0, h),
        )
    }

    /// A box in source pixels → model-input pixels.
    pub fn to_input(&self, b: BBox) -> BBox {
        let (px, py) = (self.pad_x as f32, self.pad_y as f32);
        BBox::new(b.x1 * self.sx + px, b.y1 * self.sy + py, b.x2 * self.sx + px, b.y2 * self.sy + py)
    }

    /// Write an already scaled RGB image (`fit_w` x `fit_h`, rows `stride` bytes apart) into a
    /// planar CHW float tensor of the input size, scaled to 0..1, with `pad` grey around it.
    ///
    /// One pass over the output, no allocation: this runs for every detected frame.
    pub fn fill_chw(&self, rgb: &[u8], stride: usize, pad: u8, out: &mut [f32]) -> Result<(), String> {
        let (dw, dh) = (self.dst_w as usize, self.dst_h as usize);
        let (fw, fh) = (self.fit_w as usize, self.fit_h as usize);
        let (px, py) = (self.pad_x as usize, self.pad_y as usize);
        if out.len() != 3 * dw * dh {
            return Err(format!("input tensor holds {} values, expected {}", out.len(), 3 * dw * dh));
        }
        if stride < fw * 3 || rgb.len() < stride * (fh - 1) + fw * 3 {
            return Err(format!("frame of {} bytes is too small for {fw}x{fh} RGB with stride {stride}", rgb.len()));
        }
        // The padding around the picture, then the picture.
        let padv = pad as f32 / 255.0;
        for plane in out.chunks_exact_mut(dw * dh) {
            plane[..py * dw].fill(padv);
            plane[(py + fh) * dw..].fill(padv);
            for row in plane[py * dw..(py + fh) * dw].chunks_exact_mut(dw) {
                row[..px].fill(padv);
                row[px + fw..].fill(padv);
            }
        }
        write_chw(rgb, stride, (fw, fh), (px, py), (dw, dh), out)
    }
}

/// Write a `w` x `h` RGB image (rows `stride` bytes apart) into a planar CHW float tensor of
/// `dst_w` x `dst_h`, scaled to 0..1, with its top-left corner at `at`; the rest of the tensor
/// is left as it is (a mosaic writes several images into one input).
pub fn write_chw(
    rgb: &[u8],
    stride: usize,
    (w, h): (usize, usize),
    at: (usize, usize),
    (dst_w, dst_h): (usize, usize),
    out: &mut [f32],
) -> Result<(), String> {
    if at.0 + w > dst_w || at.1 + h > dst_h || out.len() != 3 * dst_w * dst_h {
        return Err(format!("a {w}x{h} image at {at:?} does not fit a {dst_w}x{dst_h} input"));
    }
    if h > 0 && (stride < w * 3 || rgb.len() < stride * (h - 1) + w * 3) {
        return Err(format!("image of {} bytes is too small for {w}x{h} RGB with stride {stride}", rgb.len()));
    }
    const INV: f32 = 1.0 / 255.0;
    let plane = dst_w * dst_h;
    for y in 0..h {
        let src = &rgb[y * stride..y * stride + w * 3];
        let row = (at.1 + y) * dst_w + at.0;
        for (i, p) in src.chunks_exact(3).enumerate() {
            out[row + i] = p[0] as f32 * INV;
            out[plane + row + i] = p[1] as f32 * INV;
            out[2 * plane + row + i] = p[2] as f32 * INV;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landscape_pads_top_and_bottom() {
        let lb = Letterbox::new(768, 576, 640, 640);
        assert_eq!((lb.fit_w, lb.fit_h), (640, 480));
        assert_eq!((lb.pad_x, lb.pad_y), (0, 80));
        let hd = Letterbox::new(1920, 1080, 640, 640);
        assert_eq!((hd.fit_w, hd.fit_h, hd.pad_x, hd.pad_y), (640, 360, 0, 140));
    }

    #[test]
    fn the_input_that_shows_the_picture_largest_and_pads_least_is_chosen() {
        // (input chosen, picture inside it) for a w x h picture.
        let pick = |inputs: &[(u32, u32)], w, h| {
            let l = Letterbox::choose(w, h, inputs);
            (l.dst_w, l.dst_h, l.fit_w, l.fit_h)
        };
        let two = [(640, 640), (640, 384)];
        assert_eq!(pick(&two, 1920, 1080), (640, 384, 640, 360));
        assert_eq!(pick(&two, 1280, 720), (640, 384, 640, 360));
        assert_eq!(pick(&two, 640, 272), (640, 384, 640, 272));
        // 4:3 and portrait pictures would be shown smaller in 640x384.
        assert_eq!(pick(&two, 768, 576), (640, 640, 640, 480));
        assert_eq!(pick(&two, 480, 640), (640, 640, 480, 640));
        // With a 4:3 input too, 4:3 pictures go there, 16:9 ones still to the smaller 640x384.
        let three = [(640, 640), (640, 384), (640, 480)];
        assert_eq!(pick(&three, 768, 576), (640, 480, 640, 480));
        assert_eq!(pick(&three, 1280, 720), (640, 384, 640, 360));
        assert_eq!(pick(&three, 480, 640), (640, 640, 480, 640));
        // A small input for motion regions' mosaics never takes a camera's picture, small or not.
        let four = [(640, 640), (640, 384), (640, 480), (320, 320)];
        for (w, h) in [(1920, 1080), (768, 576), (320, 320), (320, 240), (160, 120), (240, 320)] {
            assert_ne!((pick(&four, w, h).0, pick(&four, w, h).1), (320, 320), "{w}x{h}");
        }
        // One input only, or none: that one, or the default square.
        assert_eq!(Letterbox::choose(1920, 1080, &[(640, 640)]), Letterbox::new(1920, 1080, 640, 640));
        assert_eq!(Letterbox::choose(1920, 1080, &[]), Letterbox::new(1920, 1080, 640, 640));
    }

    #[test]
    fn a_frame_scaled_for_one_input_fits_a_larger_one() {
        let lb = Letterbox::new(1280, 720, 640, 384);
        assert_eq!((lb.pad_x, lb.pad_y), (0, 12));
        let sq = lb.within(640, 640).expect("fits");
        assert_eq!((sq.fit_w, sq.fit_h, sq.pad_x, sq.pad_y), (640, 360, 0, 140));
        assert_eq!(sq, Letterbox::new(1280, 720, 640, 640));
        assert_eq!(lb.within(320, 320), None);
    }

    #[test]
    fn portrait_pads_left_and_right() {
        let lb = Letterbox::new(480, 640, 640, 640);
        assert_eq!((lb.fit_w, lb.fit_h), (480, 640));
        assert_eq!((lb.pad_x, lb.pad_y), (80, 0));
    }

    #[test]
    fn inverse_round_trips_boxes() {
        for (w, h) in [(768, 576), (1920, 1080), (352, 288), (480, 640), (640, 640), (100, 1000)] {
            let lb = Letterbox::new(w, h, 640, 640);
            let b = BBox::new(w as f32 * 0.1, h as f32 * 0.2, w as f32 * 0.7, h as f32 * 0.9);
            let back = lb.to_source(lb.to_input(b));
            for (a, e) in <[f32; 4]>::from(back).iter().zip(<[f32; 4]>::from(b)) {
                assert!((a - e).abs() < 1e-2, "{w}x{h}: {back:?} != {b:?}");
            }
        }
    }

    #[test]
    fn inverse_clamps_to_the_image() {
        let lb = Letterbox::new(768, 576, 640, 640);
        // A box reaching into the bottom padding ends at the image's bottom edge.
        let b = lb.to_source(BBox::new(-5.0, 60.0, 700.0, 600.0));
        assert_eq!(<[f32; 4]>::from(b), [0.0, 0.0, 768.0, 576.0]);
    }

    #[test]
    fn fill_places_pixels_and_padding() {
        let lb = Letterbox::new(4, 2, 4, 4); // fits 4x2, pads one row above and below
        assert_eq!((lb.pad_x, lb.pad_y), (0, 1));
        let stride = 12 + 4; // GStreamer-style padded rows
        let mut rgb = vec![0u8; stride * 2];
        rgb[0..3].copy_from_slice(&[255, 0, 51]); // pixel (0,0)
        rgb[stride + 9..stride + 12].copy_from_slice(&[0, 255, 0]); // pixel (3,1)
        let mut out = vec![-1.0f32; 3 * 16];
        lb.fill_chw(&rgb, stride, 114, &mut out).expect("sizes match");
        let at = |c: usize, x: usize, y: usize| out[c * 16 + y * 4 + x];
        let pad = 114.0 / 255.0;
        assert!((at(0, 0, 0) - pad).abs() < 1e-6 && (at(2, 3, 3) - pad).abs() < 1e-6);
        assert_eq!((at(0, 0, 1), at(1, 0, 1)), (1.0, 0.0));
        assert!((at(2, 0, 1) - 0.2).abs() < 1e-6);
        assert_eq!(at(1, 3, 2), 1.0);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "every value written");
    }

    #[test]
    fn write_places_an_image_at_an_offset_and_leaves_the_rest() {
        // A 2x1 image (stride 8, padded) written at (1, 2) of a 3x3 input.
        let rgb = [255u8, 0, 0, 0, 255, 0, 9, 9];
        let mut out = vec![-1.0f32; 27];
        write_chw(&rgb, 8, (2, 1), (1, 2), (3, 3), &mut out).expect("fits");
        let at = |c: usize, x: usize, y: usize| out[c * 9 + y * 3 + x];
        assert_eq!((at(0, 1, 2), at(1, 1, 2), at(0, 2, 2), at(1, 2, 2)), (1.0, 0.0, 0.0, 1.0));
        assert_eq!(out.iter().filter(|v| **v == -1.0).count(), 27 - 6, "only the image's pixels written");
        assert!(write_chw(&rgb, 8, (2, 1), (2, 2), (3, 3), &mut out).is_err(), "beyond the input");
        assert!(write_chw(&rgb[..4], 8, (2, 1), (0, 0), (3, 3), &mut out).is_err(), "short image");
    }

    #[test]
    fn fill_refuses_short_frames() {
        let lb = Letterbox::new(4, 2, 4, 4);
        let mut out = vec![0.0f32; 48];
        assert!(lb.fill_chw(&[0u8; 10], 12, 114, &mut out).is_err());
        assert!(lb.fill_chw(&[0u8; 24], 12, 114, &mut out[..10]).is_err());
    }
}
