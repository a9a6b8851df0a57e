//! Which resize to use between the decoder and the detector, measured (issue: "pick the fastest
//! correct resize by measuring"). Run with `cargo bench --bench resize`.
//!
//! The decoder hands over I420 at the camera's size; the detector wants RGB at the letterbox
//! size. The candidates:
//!
//! - `gst/convert_then_scale`: GStreamer `videoconvert ! videoscale` (anttd's tail until
//!   2026-11-28): converts every source pixel to RGB, then scales RGB.
//! - `gst/scale_then_convert`: `videoscale ! videoconvert` (anttd's tail now): scales the YUV
//!   planes, then converts only the letterbox's pixels.
//! - `gst/convert_only` + `rust/fast_image_resize`: GStreamer converts at full size and a SIMD
//!   resizer (fast_image_resize, bilinear) scales the RGB in Rust; the two rows add up.
//! - `rust/image_triangle`: the `image` crate's bilinear (Triangle) resize, for reference.
//!
//! The GStreamer rows push one buffer through `appsrc ! … ! appsink` and pull the result, so they
//! include a thread hand-off (tens of µs) that the Rust rows do not.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fast_image_resize as fr;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use anttd::detect::letterbox::Letterbox;

const SOURCES: [(u32, u32); 2] = [(768, 576), (1920, 1080)];

/// A smooth test pattern (bilinear scaling and colour conversion have no data-dependent paths,
/// so content matters only in that it is not constant).
fn pattern(len: usize, w: usize) -> Vec<u8> {
    (0..len).map(|i| ((i % w) * 3 + (i / w) * 5) as u8).collect()
}

/// `appsrc ! {tail} ! appsink`, playing, with the appsrc and appsink handles.
struct GstTail {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    input: gst::Buffer,
}

impl GstTail {
    fn new(w: u32, h: u32, tail: &str) -> Self {
        let desc = format!(
            "appsrc name=src format=time caps=video/x-raw,format=I420,width={w},height={h},framerate=10/1 \
             ! {tail} ! appsink name=sink sync=false max-buffers=1"
        );
        let pipeline = gst::parse::launch(&desc).expect("pipeline").downcast::<gst::Pipeline>().expect("pipeline");
        let src = pipeline.by_name("src").and_downcast::<gst_app::AppSrc>().expect("appsrc");
        let sink = pipeline.by_name("sink").and_downcast::<gst_app::AppSink>().expect("appsink");
        let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
        let input = gst::Buffer::from_mut_slice(pattern(w as usize * h as usize + 2 * cw * ch, w as usize));
        pipeline.set_state(gst::State::Playing).expect("play");
        Self { pipeline, src, sink, input }
    }

    /// One frame through the tail; returns the output's size in bytes.
    fn frame(&self, pts: u64) -> usize {
        let mut buf = self.input.copy();
        buf.get_mut().expect("fresh copy").set_pts(gst::ClockTime::from_mseconds(pts * 100));
        self.src.push_buffer(buf).expect("push");
        self.sink.pull_sample().expect("sample").buffer().map_or(0, |b| b.size())
    }
}

impl Drop for GstTail {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn gst_tails(c: &mut Criterion) {
    gst::init().expect("GStreamer");
    let mut g = c.benchmark_group("resize/gst");
    for (w, h) in SOURCES {
        let lb = Letterbox::new(w, h, 640, 640);
        let rgb_fit = format!("video/x-raw,format=RGB,width={},height={}", lb.fit_w, lb.fit_h);
        let tails = [
            ("convert_then_scale", format!("videoconvert ! videoscale ! {rgb_fit}")),
            ("scale_then_convert", format!("videoscale ! videoconvert ! {rgb_fit}")),
            ("convert_only", "videoconvert ! video/x-raw,format=RGB".to_string()),
        ];
        for (name, tail) in tails {
            let t = GstTail::new(w, h, &tail);
            let mut pts = 0;
            g.bench_function(BenchmarkId::new(name, format!("{w}x{h}")), |b| {
                b.iter(|| {
                    pts += 1;
                    black_box(t.frame(pts))
                })
            });
        }
    }
    g.finish();
}

fn rust_resizers(c: &mut Criterion) {
    let mut g = c.benchmark_group("resize/rust");
    for (w, h) in SOURCES {
        let lb = Letterbox::new(w, h, 640, 640);
        let rgb = pattern(w as usize * h as usize * 3, w as usize * 3);

        let src = fr::images::Image::from_vec_u8(w, h, rgb.clone(), fr::PixelType::U8x3).expect("source image");
        let mut dst = fr::images::Image::new(lb.fit_w, lb.fit_h, fr::PixelType::U8x3);
        let mut resizer = fr::Resizer::new();
        let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
        g.bench_function(BenchmarkId::new("fast_image_resize", format!("{w}x{h}")), |b| {
            b.iter(|| resizer.resize(black_box(&src), &mut dst, &opts).expect("resize"))
        });

        let img = image::RgbImage::from_raw(w, h, rgb).expect("source image");
        g.bench_function(BenchmarkId::new("image_triangle", format!("{w}x{h}")), |b| {
            b.iter(|| {
                image::imageops::resize(black_box(&img), lb.fit_w, lb.fit_h, image::imageops::FilterType::Triangle)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, gst_tails, rust_resizers);
criterion_main!(benches);
