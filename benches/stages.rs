//! Per-stage costs of everything around inference: pre-processing, output decoding + NMS,
//! tracking and event serialisation. Run with `cargo bench --bench stages`.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use anttd::analytics::CameraAnalytics;
use anttd::config::Config;
use anttd::detect::decode::{DecodeScratch, decode_yolov8};
use anttd::detect::letterbox::Letterbox;
use anttd::detect::manifest::{Groups, LabelMap};
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

/// A calibrated highway camera with a counting line and every rule kind (the example of
/// docs/rules.md plus a crowd and a loitering zone): what one frame costs the tracker and all
/// rules together. Compare with `tracker_update` for the rules' share.
const HIGHWAY: &str = r#"
site = "bench"
device = "box"
[mqtt]
host = "127.0.0.1"
[model]
manifest = "models/yolov12n.toml"
[[cameras]]
id = "highway"
uri = "rtsp://127.0.0.1/none"
[[cameras.lines]]
name = "km-12"
points = [[100, 500], [1200, 520]]
directions = ["to-city", "from-city"]
[[cameras.zones]]
name = "carriageway"
polygon = [[0, 0], [1280, 0], [1280, 720], [0, 720]]
[[cameras.zones]]
name = "verge"
polygon = [[0, 0], [400, 0], [400, 300], [0, 300]]
[cameras.calibration]
image  = [[420, 700], [860, 700], [760, 320], [520, 320]]
ground = [[0, 0], [7, 0], [7, 60], [0, 60]]
[[cameras.rules]]
kind = "racing"
name = "street-race"
zone = "carriageway"
min_speed_kmh = 70
min_group = 3
max_gap_m = 15
for_s = 3
[[cameras.rules]]
kind = "speeding"
name = "limit-80"
zone = "carriageway"
limit_kmh = 80
[[cameras.rules]]
kind = "collision_suspect"
name = "crash"
zone = "carriageway"
[[cameras.rules]]
kind = "stopped_vehicle"
name = "breakdown"
zone = "carriageway"
for_s = 30
max_move_m = 2
[[cameras.rules]]
kind = "wrong_way"
name = "ghost-driver"
zone = "carriageway"
direction = [1, 0]
min_distance_m = 5
[[cameras.rules]]
kind = "crowd"
name = "gathering"
zone = "verge"
min_persons = 5
for_s = 5
end_after_s = 5
[[cameras.rules]]
kind = "loitering"
name = "lingering"
zone = "verge"
for_s = 60
"#;

fn analytics(c: &mut Criterion) {
    let cfg = Config::from_str(std::path::Path::new("bench.toml"), HIGHWAY).expect("bench config is valid");
    let names = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"];
    let groups = Groups {
        person: vec!["person".into()],
        vehicle: vec!["car".into(), "bus".into(), "truck".into()],
        motorcycle: vec!["motorcycle".into()],
    };
    let labels = std::sync::Arc::new(LabelMap::new(names.iter().map(|s| s.to_string()).collect(), &groups).unwrap());
    let mut g = c.benchmark_group("analytics_frame");
    for n in [10usize, 100] {
        // Road users in lanes moving right at different speeds, and persons on the verge.
        let frame = |k: usize| -> Vec<Detection> {
            (0..n)
                .map(|i| {
                    let lane = (i % 10) as f32;
                    let class_id = [2u32, 3, 3, 7, 0][i % 5];
                    let (x, y) = if class_id == 0 {
                        (20.0 + (i / 5 % 6) as f32 * 60.0 + k as f32 * 0.2, 120.0 + (i / 30) as f32 * 40.0)
                    } else {
                        ((i / 10) as f32 * 110.0 + k as f32 * (4.0 + lane * 0.5), 330.0 + lane * 38.0)
                    };
                    Detection { class_id, score: 0.8, bbox: BBox::new(x, y, x + 40.0, y + 36.0) }
                })
                .collect()
        };
        let frames: Vec<Vec<Detection>> = (0..200).map(frame).collect();
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            let new = || CameraAnalytics::new(&cfg.cameras[0], &cfg.tracker, std::sync::Arc::clone(&labels));
            let mut a = new();
            let mut out = Vec::new();
            let mut k = 0usize;
            b.iter(|| {
                a.on_frame(k as f64 * 0.1, SystemTime::now(), (1280, 720), &frames[k], &mut out);
                black_box(out.len());
                out.clear();
                k += 1;
                if k == frames.len() {
                    a = new();
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

/// Motion regions' own cost per frame, without the inference: the gate's thumbnail of a 1080p
/// frame (regions take frames at full size), grouping the changed cells, planning the mosaic and
/// bringing 50 boxes back.
fn motion_regions(c: &mut Criterion) {
    use anttd::detect::gate::thumbnail;
    use anttd::detect::regions::{map_back, moving_areas, plan};
    let (w, h) = (1920usize, 1080usize);
    let rgb: Vec<u8> = (0..w * 3 * h).map(|i| (i * 7 % 251) as u8).collect();
    let mut thumb = Vec::new();
    c.bench_function("motion_thumbnail/1920x1080", |b| b.iter(|| thumbnail(black_box(&rgb), w * 3, w, h, &mut thumb)));
    // Three moving blobs on the 80x45 grid, and 20 last detections.
    let mut mask = vec![false; 80 * 45];
    for (x0, y0) in [(5usize, 5usize), (40, 20), (70, 35)] {
        for y in y0..y0 + 3 {
            mask[y * 80 + x0..y * 80 + x0 + 4].fill(true);
        }
    }
    let mut r = Lcg(7);
    // `n` boxes of `size` at random places within `span`.
    let mut boxes = |n: usize, span: (f32, f32), size: (f32, f32), score: f32| -> Vec<Detection> {
        (0..n)
            .map(|_| {
                let (x, y) = (r.next() * span.0, r.next() * span.1);
                Detection { class_id: 0, score, bbox: BBox::new(x, y, x + size.0, y + size.1) }
            })
            .collect()
    };
    let last = boxes(20, (1800.0, 1000.0), (40.0, 80.0), 0.8);
    c.bench_function("regions_plan/3_areas_20_last", |b| {
        b.iter(|| {
            let areas = moving_areas(black_box(&mask), (80, 45), (1920, 1080));
            plan(&areas, &last, (1920, 1080), &[(640, 384)], 1.0 / 3.0)
        })
    });
    let areas = moving_areas(&mask, (80, 45), (1920, 1080));
    let mosaic = plan(&areas, &last, (1920, 1080), &[(640, 384)], 1.0 / 3.0).expect("a mosaic pays");
    let dets = boxes(50, (600.0, 350.0), (20.0, 30.0), 0.6);
    c.bench_function("regions_map_back/50", |b| {
        b.iter(|| {
            let mut d = dets.clone();
            map_back(black_box(&mosaic), &mut d, 0.45)
        })
    });
}

/// Carrying boxes between detections ([`anttd::track::carry`]): the grey pyramid of a frame at
/// the model's input size (640x360, the letterbox of a 16:9 camera), built once per decoded
/// frame, and one box carried (forward and back, 64 points) for a rider near (40x90 px) and far
/// (12x24 px) in a picture of smooth texture that moved 3 px.
fn carry(c: &mut Criterion) {
    use anttd::detect::Picture;
    use anttd::track::carry::{Pyramid, carry, search};
    let (w, h) = (640usize, 360usize);
    let tex = |x: f32, y: f32| -> u8 {
        let v = (0.11 * x + 0.07 * y).sin() + (0.23 * x - 0.13 * y).sin() + (0.05 * x + 0.31 * y).cos();
        (128.0 + 35.0 * v) as u8
    };
    let frame = |dx: f32| -> Vec<u8> {
        (0..h).flat_map(|y| (0..w).flat_map(move |x| [tex(x as f32 - dx, y as f32); 3])).collect()
    };
    let (a, z) = (frame(0.0), frame(3.0));
    let pa =
        Pyramid::from_rgb(&Picture { rgb: &a, stride: 3 * w, width: w as u32, height: h as u32 }).expect("pyramid");
    let pz =
        Pyramid::from_rgb(&Picture { rgb: &z, stride: 3 * w, width: w as u32, height: h as u32 }).expect("pyramid");
    c.bench_function("carry_pyramid/640x360", |b| {
        b.iter(|| Pyramid::from_rgb(&Picture { rgb: black_box(&a), stride: 3 * w, width: w as u32, height: h as u32 }))
    });
    // The search gives no second guess within the carrier's own reach of the first (a few
    // pixels of the level it searches), so each box is sought over a move beyond it: 20 px for
    // the near box (searched at a coarse level), 6 px for the far one (at full size).
    for (name, bx, moved) in [
        ("near_40x90", BBox::new(300.0, 200.0, 340.0, 290.0), 20.0),
        ("far_12x24", BBox::new(300.0, 100.0, 312.0, 124.0), 6.0),
    ] {
        assert!(carry(&pa, &pz, &bx, (0.0, 0.0)).is_ok(), "{name} carries");
        c.bench_function(&format!("carry_box/{name}"), |b| b.iter(|| carry(black_box(&pa), &pz, &bx, (2.0, 0.0))));
        // A box refused from its guess is sought around it before it is given up.
        let m = frame(moved);
        let pm =
            Pyramid::from_rgb(&Picture { rgb: &m, stride: 3 * w, width: w as u32, height: h as u32 }).expect("pyramid");
        assert!(search(&pa, &pm, &bx, (0.0, 0.0)).is_some(), "{name} sought");
        c.bench_function(&format!("carry_search/{name}"), |b| b.iter(|| search(black_box(&pa), &pm, &bx, (0.0, 0.0))));
    }
    // What the daemon does on a decoded frame the detector did not run on, after its pyramid:
    // ten riders' boxes (40x90 px) followed from the frame before, each carried, checked against
    // its detection's look and against the boxes nearer it (`track::follow`).
    use anttd::detect::Detection;
    use anttd::track::follow::Follower;
    let dets: Vec<Detection> = (0..10)
        .map(|k| {
            let x = 20.0 + 60.0 * k as f32;
            Detection {
                class_id: 3,
                score: 0.9,
                bbox: BBox::new(x, 120.0 + 8.0 * k as f32, x + 40.0, 210.0 + 8.0 * k as f32),
            }
        })
        .collect();
    let started = || {
        let mut f = Follower::new();
        f.detected(0.0, Some(pa.clone()), (1.0, 1.0), &dets);
        (f, pz.clone())
    };
    assert_eq!(started().0.carried(1.0 / 15.0, Some(pz.clone()), (1.0, 1.0)).len(), 10, "every rider carried");
    c.bench_function("follow_frame/10_riders", |b| {
        b.iter_batched(
            started,
            |(mut f, p)| f.carried(1.0 / 15.0, Some(p), (1.0, 1.0)).len(),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, preprocess, decode_nms, tracker, analytics, events, motion_gate, motion_regions, carry);
criterion_main!(benches);
