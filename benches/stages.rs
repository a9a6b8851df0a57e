//! Per-stage costs of everything around inference: pre-processing, output decoding + NMS,
//! tracking and event serialisation. Run with `cargo bench --bench stages`.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use anttd::detect::decode::{DecodeScratch, decode_yolov8};
use anttd::detect::letterbox::Letterbox;
use anttd::detect::nms::nms_in_place;
use anttd::detect::{BBox, Detection};
use anttd::event::{Body, Event, Phase, new_id, rfc3339};
use anttd::track::{Tracker, TrackerConfig};

/// A deterministic pseudo-random sequence (no extra crate needed for benchmark inputs).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn preprocess(c: &mut Criterion) {
    let mut g = c.benchmark_group("preprocess_fill_chw");
    for (w, h) in [(1920u32, 1080u32), (768, 576)] {
        let lb = Letterbox::new(w, h, 640, 640);
        let stride = (lb.fit_w as usize * 3).next_multiple_of(4);
        let rgb: Vec<u8> = (0..stride * lb.fit_h as usize).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = vec![0f32; 3 * 640 * 640];
        g.bench_function(BenchmarkId::from_parameter(format!("{w}x{h}")), |b| {
            b.iter(|| lb.fill_chw(black_box(&rgb), stride, 114, &mut out).expect("sizes"))
        });
    }
    g.finish();
}

/// A YOLOv8-shaped output: 8400 candidates, 80 classes, mostly background with a few dozen
/// objects each seen by several neighbouring candidates (what NMS has to clean up).
fn synthetic_output() -> Vec<f32> {
    let (nc, n) = (80usize, 8400usize);
    let mut r = Lcg(7);
    let mut t = vec![0f32; (4 + nc) * n];
    for i in 0..n {
        t[i] = r.next() * 640.0;
        t[n + i] = r.next() * 640.0;
        t[2 * n + i] = 10.0 + r.next() * 60.0;
        t[3 * n + i] = 20.0 + r.next() * 120.0;
        for c in 0..nc {
            t[(4 + c) * n + i] = r.next() * 0.02;
        }
    }
    for obj in 0..40 {
        let (cx, cy) = (20.0 + (obj % 8) as f32 * 75.0, 40.0 + (obj / 8) as f32 * 110.0);
        for k in 0..6 {
            let i = obj * 200 + k;
            t[i] = cx + k as f32;
            t[n + i] = cy + k as f32;
            t[2 * n + i] = 30.0;
            t[3 * n + i] = 80.0;
            t[(4 + obj % 3) * n + i] = 0.5 + 0.05 * k as f32;
        }
    }
    t
}

fn decode_nms(c: &mut Criterion) {
    let t = synthetic_output();
    let (mut scratch, mut out) = (DecodeScratch::default(), Vec::with_capacity(1024));
    c.bench_function("decode_nms_8400x80", |b| {
        b.iter(|| {
            decode_yolov8(black_box(&t), 80, 8400, 0.1, &mut scratch, &mut out).expect("shape");
            nms_in_place(&mut out, 0.45, 300);
            black_box(out.len())
        })
    });
}

fn tracker(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker_update");
    for n in [10usize, 100, 500] {
        // Objects on a grid, walking slowly; one frame per iteration at 10 fps.
        let cols = (n as f32).sqrt().ceil() as usize;
        let frame = |k: usize| -> Vec<Detection> {
            (0..n)
                .map(|i| {
                    let (x, y) = ((i % cols) as f32 * 60.0 + k as f32 * 1.5, (i / cols) as f32 * 90.0);
                    Detection { class_id: 0, score: 0.8, bbox: BBox::new(x, y, x + 30.0, y + 80.0) }
                })
                .collect()
        };
        let frames: Vec<Vec<Detection>> = (0..200).map(frame).collect();
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut tr = Tracker::new(TrackerConfig::default());
            let mut k = 0usize;
            b.iter(|| {
                let out = tr.update(k as f64 * 0.1, &frames[k % frames.len()]);
                black_box(out.active.len());
                k += 1;
                if k.is_multiple_of(frames.len()) {
                    tr = Tracker::new(TrackerConfig::default());
                    k = 0;
                }
            })
        });
    }
    g.finish();
}

fn events(c: &mut Criterion) {
    let e = Event {
        id: new_id(),
        event_id: new_id(),
        phase: Phase::Start,
        camera: "campus-road".into(),
        ts: rfc3339(SystemTime::now()),
        body: Body::Object {
            label: "motorcycle".into(),
            track_id: 1234,
            first_seen: rfc3339(SystemTime::now()),
            last_seen: rfc3339(SystemTime::now()),
            best_score: 0.876,
            bbox: [100.5, 200.0, 300.2, 400.9],
        },
    };
    c.bench_function("event_to_json", |b| b.iter(|| black_box(e.to_json())));
    c.bench_function("event_id_and_time", |b| b.iter(|| black_box((new_id(), rfc3339(SystemTime::now())))));
}

/// The motion gate's per-frame cost: grey thumbnail of a 640x480 RGB frame, and its comparison
/// with the reference, on a frame that did not move (the common case when it pays off).
fn motion_gate(c: &mut Criterion) {
    use anttd::detect::gate::{MotionConfig, MotionGate, thumbnail};
    let (w, h) = (640usize, 480usize);
    let stride = w * 3;
    let rgb: Vec<u8> = (0..stride * h).map(|i| (i * 7 % 251) as u8).collect();
    let mut thumb = Vec::new();
    c.bench_function("motion_thumbnail/640x480", |b| b.iter(|| thumbnail(black_box(&rgb), stride, w, h, &mut thumb)));
    let mut gate = MotionGate::new(&MotionConfig { refresh_s: 1e9, ..MotionConfig::default() });
    gate.should_detect(&rgb, stride, w, h, 0.0);
    let mut t = 0.0;
    c.bench_function("motion_gate_still_frame/640x480", |b| {
        b.iter(|| {
            t += 0.1;
            gate.should_detect(black_box(&rgb), stride, w, h, t)
        })
    });
}

criterion_group!(benches, preprocess, decode_nms, tracker, events, motion_gate);
criterion_main!(benches);
