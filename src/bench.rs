//! `anttd bench`: the real pipeline (GStreamer decode and scale, detector, tracker, rules, event
//! serialisation and the on-disk outbox) on a config's cameras, with no broker, and a report of
//! where the time goes.
//!
//! "Publish" here is everything the daemon does with an event before MQTT: serialise it and write
//! it to the SQLite outbox (a throw-away one in the temp folder). Sending to a broker is left out:
//! it happens in its own task, off the frame path, and would measure the network.
//!
//! The wiring mirrors the daemon's (one source thread per camera, the hub, one detector thread,
//! one analytics thread per camera) with timing at each stage boundary; the raw inference rate of
//! the same session is measured in the same run: before and after the pipeline, and in pauses
//! that alternate with it (see `Interleave`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};

use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::gate::CameraGate;
use crate::detect::letterbox::Letterbox;
use crate::detect::{Detection, Detector, DetectorOptions};
use crate::health::CameraStats;
use crate::health::timing::{self, Stage, StageTimes, Summary};
use crate::publish::event_record;
use crate::publish::outbox::Outbox;
use crate::source::hub::{Hub, Item};
use crate::source::{self, Frame, SourceSpec, StreamClock};

/// What to run; `None` fields keep the config's value.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// Only this camera of the config.
    pub camera: Option<String>,
    /// Run this many copies of the selected camera(s) (ids get `-1`, `-2`… appended).
    pub copies: Option<usize>,
    /// Stop after this many frames have been processed (all cameras together).
    pub frames: Option<u64>,
    /// Stop after this many seconds (file sources loop so that they last).
    pub duration: Option<f64>,
    /// Play files at their own pace (as cameras would) instead of as fast as possible.
    pub realtime: bool,
    pub spin: Option<bool>,
    pub arena: Option<bool>,
    pub memory_pattern: Option<bool>,
    pub trim: Option<bool>,
    pub threads: Option<usize>,
    /// Force motion gating on or off for every camera.
    pub gate: Option<bool>,
    /// Inference runs for the raw rate, before and after the pipeline each.
    pub raw_runs: usize,
    /// Playing as fast as possible, pause every this many frames (more than [`SETTLE_FRAMES`])
    /// for as many raw runs as the stretch had timed frames (0: raw runs only before and
    /// after). The VM this was built on drifts by 10–30 % in speed over minutes and seconds;
    /// alternating every few seconds puts both rates on the same seconds.
    pub raw_every: u64,
    /// Override the sources' streaming-thread niceness (by default [`source::default_nice`]).
    pub source_nice: Option<i32>,
    /// Also write every event to this file, one JSON line each (to compare runs).
    pub events: Option<PathBuf>,
}

/// One camera's part of the result.
#[derive(Debug, Clone)]
pub struct CameraResult {
    pub id: String,
    pub frames: u64,
    pub inferences: u64,
    pub events: u64,
    pub fps: f64,
    pub latency: Summary,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub model: String,
    pub settings: String,
    pub seconds: f64,
    pub frames: u64,
    pub inferences: u64,
    pub events: u64,
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    /// RSS after the model was loaded and run (before any camera started).
    pub rss_model_bytes: u64,
    /// RSS sampled once a second during the run (bytes).
    pub rss_samples: Vec<u64>,
    /// Of the RSS at the end of the run, the clean file-backed part (shared libraries), bytes.
    pub rss_file_bytes: u64,
    pub raw_ms: Summary,
    pub raw_fps: f64,
    /// Mean raw inference time before the pipeline, in its pauses, and after it (ms): how far the
    /// host's speed drifted during the run.
    /// (None: no runs there, e.g. no pauses in real time.)
    pub raw_parts_ms: [Option<f64>; 3],
    /// Pipeline ÷ raw inference rate in each stretch between two pauses for raw runs (see
    /// [`BenchOptions::raw_every`]), each against the raw runs that bracket it.
    pub segment_ratios: Vec<f64>,
    /// All timed stretches pooled against all raw runs in the pauses (see [`pooled_ratio`]).
    pub steady_ratio: Option<f64>,
    pub stages: Vec<(Stage, Summary)>,
    pub cameras: Vec<CameraResult>,
}

impl BenchReport {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let _ = writeln!(s, "model {}, {}", self.model, self.settings);
        let _ = writeln!(
            s,
            "processed: {} frames ({} inferences, {} events) in {:.1} s = {:.2} fps",
            self.frames,
            self.inferences,
            self.events,
            self.seconds,
            self.fps()
        );
        let inf_fps = self.inferences as f64 / self.seconds.max(1e-9);
        let _ = writeln!(
            s,
            "raw inference (same session, {} runs): {:.1} ms mean, {:.1} ms median = {:.2} fps; mean before / in the pauses / after the pipeline {} ms",
            self.raw_ms.count,
            self.raw_ms.mean_ms,
            self.raw_ms.median_ms,
            self.raw_fps,
            self.raw_parts_ms.map(|m| m.map_or("-".to_string(), |m| format!("{m:.1}"))).join(" / ")
        );
        let _ = writeln!(
            s,
            "whole run (start-up included) pipeline inferences/s ÷ raw = {:.1} %",
            100.0 * inf_fps / self.raw_fps.max(1e-9)
        );
        if let Some(steady) = self.steady_ratio {
            let mut r = self.segment_ratios.clone();
            r.sort_by(f64::total_cmp);
            let q = |p: f64| r.get(((r.len().max(1) - 1) as f64 * p).round() as usize).map_or(f64::NAN, |x| 100.0 * x);
            let _ = writeln!(
                s,
                "steady state, interleaved: pipeline ÷ raw = {:.1} %; per stretch ({}): median {:.1} %, quartiles {:.1}..{:.1} %, range {:.1}..{:.1} %",
                100.0 * steady,
                r.len(),
                q(0.5),
                q(0.25),
                q(0.75),
                q(0.0),
                q(1.0)
            );
        }
        let per = |n: u64| if n == 0 { 0.0 } else { self.cpu_s / n as f64 };
        let _ = writeln!(
            s,
            "cpu: {:.1} s user+system = {:.3} CPU-s per frame, {:.3} per inference, {:.2} CPU-s per second",
            self.cpu_s,
            per(self.frames),
            per(self.inferences),
            self.cpu_s / self.seconds.max(1e-9)
        );
        let (lo, hi) =
            (self.rss_samples.iter().copied().min().unwrap_or(0), self.rss_samples.iter().copied().max().unwrap_or(0));
        let _ = writeln!(
            s,
            "memory: peak RSS {:.1} MB; with the model loaded and run, before the cameras: {:.1} MB; during the run {:.1}..{:.1} MB, at the end {:.1} MB ({} samples, 1/s), of it {:.1} MB clean file-backed (shared libraries)",
            mb(self.peak_rss_bytes),
            mb(self.rss_model_bytes),
            mb(lo),
            mb(hi),
            mb(self.rss_samples.last().copied().unwrap_or(0)),
            self.rss_samples.len(),
            mb(self.rss_file_bytes)
        );
        if self.rss_samples.len() > 60 {
            let per_min: Vec<String> = self.rss_samples.iter().step_by(60).map(|&b| format!("{:.1}", mb(b))).collect();
            let _ = writeln!(s, "RSS once a minute (MB): {}", per_min.join(" "));
        }
        let _ = writeln!(s, "{:<24} {:>8} {:>10} {:>10} {:>10}", "stage (ms)", "count", "median", "p99", "mean");
        for (st, m) in &self.stages {
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>10.3} {:>10.3} {:>10.3}",
                st.name(),
                m.count,
                m.median_ms,
                m.p99_ms,
                m.mean_ms
            );
        }
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>10} {:>8} {:>8} {:>12} {:>12} {:>14}",
            "camera", "frames", "inferences", "events", "fps", "lat p50 ms", "lat p99 ms", "interval ms"
        );
        for c in &self.cameras {
            // The camera's mean time between two of its inferences.
            let interval = 1000.0 * self.seconds / c.inferences.max(1) as f64;
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>10} {:>8} {:>8.2} {:>12.1} {:>12.1} {:>14.1}",
                c.id, c.frames, c.inferences, c.events, c.fps, c.latency.median_ms, c.latency.p99_ms, interval
            );
        }
        if self.cameras.len() > 1 {
            let f: Vec<f64> = self.cameras.iter().map(|c| c.fps).collect();
            let (min, max) = f.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
            let _ = writeln!(s, "fairness: slowest camera at {:.1} % of the fastest", 100.0 * min / max.max(1e-9));
        }
        s
    }
}

/// What the detector hands to a camera's analytics thread.
enum Msg {
    Frame { time_s: f64, wall: SystemTime, arrived: Instant, picture: (u32, u32), dets: Vec<Detection> },
    End,
}

/// Frames after the start and after each pause that are not timed: the source decoded them
/// while the pipeline waited (its queue refills during a pause), so they would come without the
/// decoder's competition for the cores and flatter the pipeline.
pub const SETTLE_FRAMES: u64 = 5;

/// One timed stretch of the pipeline and the raw runs of the pause ending it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    seconds: f64,
    inferences: u64,
    raw_mean_s: f64,
}

/// Pipeline ÷ raw rate per stretch, each stretch against the mean raw time of the pauses before
/// and after it (the first has only the one after). Stretches without inferences are left out.
fn segment_ratios(segments: &[Segment]) -> Vec<f64> {
    segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.inferences > 0 && s.seconds > 0.0)
        .map(|(i, s)| {
            let raw = match i.checked_sub(1) {
                Some(p) => 0.5 * (segments[p].raw_mean_s + s.raw_mean_s),
                None => s.raw_mean_s,
            };
            (s.inferences as f64 / s.seconds) * raw
        })
        .collect()
}

/// All timed stretches pooled: their inferences per second ÷ the raw rate of all the pauses.
/// Stretches and raw blocks alternate every few seconds with equal numbers of runs, so a host
/// whose speed drifts over minutes weighs on both sides alike.
fn pooled_ratio(segments: &[Segment]) -> Option<f64> {
    let (inferences, seconds) = segments.iter().fold((0u64, 0.0), |(i, t), s| (i + s.inferences, t + s.seconds));
    let raw = segments.iter().map(|s| s.raw_mean_s).sum::<f64>() / segments.len() as f64;
    (inferences > 0 && seconds > 0.0).then(|| inferences as f64 / seconds * raw)
}

/// The pipeline alternating with raw inference (see [`BenchOptions::raw_every`]), kept by the
/// detector thread.
struct Interleave {
    every: u64,
    since_pause: u64,
    /// When the current stretch's timing began (after [`SETTLE_FRAMES`]), and its inferences since.
    start: Option<Instant>,
    inferences: u64,
    segments: Vec<Segment>,
    raw: Vec<Duration>,
    /// Wall time and process CPU seconds of the pauses, left out of the pipeline's numbers.
    paused: Duration,
    paused_cpu: f64,
}

impl Interleave {
    fn new(every: u64) -> Self {
        Self {
            every,
            since_pause: 0,
            start: None,
            inferences: 0,
            segments: Vec::new(),
            raw: Vec::new(),
            paused: Duration::ZERO,
            paused_cpu: 0.0,
        }
    }

    /// A frame went through the detector; true when it is time to pause for raw runs.
    fn frame_done(&mut self, inferred: bool) -> bool {
        self.since_pause += 1;
        if self.start.is_some() && inferred {
            self.inferences += 1;
        }
        if self.since_pause == SETTLE_FRAMES {
            self.start = Some(Instant::now());
            self.inferences = 0;
        }
        self.every > SETTLE_FRAMES && self.since_pause == self.every
    }

    /// Close the stretch and run as many timed raw inferences as it had frames timed, after one
    /// untimed run during which the source refills its queue and the analytics thread finishes
    /// the last frame (work that would otherwise be charged to the raw rate).
    fn pause(&mut self, detector: &mut Detector) -> Result<()> {
        let cpu_now = || timing::process_usage().map_or(0.0, |u| u.cpu.as_secs_f64());
        let (t, cpu) = (Instant::now(), cpu_now());
        detector.raw_inference(1)?;
        let block = detector.raw_inference((self.every - SETTLE_FRAMES) as usize)?;
        let block_s: f64 = block.iter().map(Duration::as_secs_f64).sum();
        if let Some(start) = self.start.take() {
            self.segments.push(Segment {
                seconds: (t - start).as_secs_f64(),
                inferences: std::mem::take(&mut self.inferences),
                raw_mean_s: block_s / block.len().max(1) as f64,
            });
        }
        self.raw.extend(block);
        self.paused += t.elapsed();
        self.paused_cpu += cpu_now() - cpu;
        self.since_pause = 0;
        Ok(())
    }
}

/// What the detector thread hands back.
struct DetectorDone {
    times: StageTimes,
    inferences: Vec<u64>,
    interleave: Interleave,
}

/// What an analytics thread hands back when it is done.
struct AnalyticsDone {
    times: StageTimes,
    latency: StageTimes,
    frames: u64,
    events: u64,
}

pub fn run(mut cfg: Config, opts: &BenchOptions) -> Result<BenchReport> {
    if opts.raw_every != 0 && opts.raw_every <= SETTLE_FRAMES {
        bail!("--raw-every {}: must be 0 or more than {SETTLE_FRAMES}", opts.raw_every);
    }
    source::init()?;
    if let Some(id) = &opts.camera {
        let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
        cfg.cameras.retain(|c| &c.id.get_ref().0 == id);
        if cfg.cameras.is_empty() {
            bail!("{}: no camera `{id}` (cameras: {})", cfg.path.display(), ids.join(", "));
        }
    }
    if cfg.cameras.is_empty() {
        bail!("{}: no cameras to run", cfg.path.display());
    }
    let copies = opts.copies.unwrap_or(1).max(1);
    let originals = std::mem::take(&mut cfg.cameras);
    for k in 1..=copies {
        for c in &originals {
            let mut c = c.clone();
            if copies > 1 {
                let id = format!("{}-{k}", c.id.get_ref().0);
                *c.id.get_mut() = crate::config::Id(id);
            }
            c.realtime = opts.realtime;
            if opts.duration.is_some() {
                c.looping = true;
            }
            if let Some(g) = opts.gate {
                c.motion.enabled = g;
            }
            cfg.cameras.push(c);
        }
    }

    let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
    let mut dopts = DetectorOptions::new(cfg.model.threads.as_ref().map(|t| t.0), cfg.model.spin);
    if let Some(s) = opts.spin {
        dopts.spin = s;
    }
    if let Some(a) = opts.arena {
        dopts.arena = a;
    }
    if let Some(m) = opts.memory_pattern {
        dopts.memory_pattern = m;
    }
    if let Some(t) = opts.trim {
        dopts.trim = t;
    }
    if opts.threads.is_some() {
        dopts.threads = opts.threads;
    }
    let runtime = cfg.model.runtime.as_ref().map(|p| cfg.base_dir().join(p));
    let mut detector = Detector::load(&manifest, runtime.as_deref(), &dopts)?;
    cfg.check_labels(&detector.labels.labels)?;
    let decoders = crate::daemon::choose_decoders(&cfg)?;
    let settings = format!(
        "threads {}, spin {}, arena {}, memory pattern {}, trim {}, {} camera(s), {}, motion gating {}, source threads nice {}",
        dopts.threads.map_or("all cores".to_string(), |t| t.to_string()),
        on_off(dopts.spin),
        on_off(dopts.arena),
        on_off(dopts.memory_pattern),
        on_off(dopts.trim),
        cfg.cameras.len(),
        if opts.realtime { "real time" } else { "as fast as possible" },
        cfg.cameras.iter().map(|c| on_off(c.motion.enabled)).collect::<Vec<_>>().join("/"),
        cfg.cameras
            .iter()
            .map(|c| format!("+{}", opts.source_nice.unwrap_or_else(|| source::default_nice(c))))
            .collect::<Vec<_>>()
            .join("/"),
    );

    // Raw rate, part one (after a short warm-up that the pipeline would also pay), on the input
    // the first camera's pictures go to (the model's own if its first frame cannot be had).
    if let Some(cam) = cfg.cameras.first()
        && let Ok(img) = source::still::grab_frame(&cam.uri.to_gst_uri(&cfg.base_dir()), 0.0)
    {
        let lb = Letterbox::choose(img.width(), img.height(), &detector.input_sizes());
        detector.select((lb.dst_w, lb.dst_h))?;
    }
    let mut raw = Vec::with_capacity(2 * opts.raw_runs);
    detector.raw_inference(3)?;
    raw.extend(detector.raw_inference(opts.raw_runs)?);
    let before = raw.len();
    let rss_model_bytes = timing::current_rss_bytes().unwrap_or(0);

    let outbox_path =
        std::env::temp_dir().join(format!("anttd-bench-{}-{}.sqlite", std::process::id(), unique_suffix()));
    let outbox = Arc::new(Outbox::open(&outbox_path, 1_000_000).context("bench outbox")?);
    let result = run_pipeline(&cfg, &decoders, &mut detector, &outbox, opts);
    drop(outbox);
    for ext in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(PathBuf::from(format!("{}{ext}", outbox_path.display())));
    }
    let (mut report, interleaved) = result?;
    raw.extend(interleaved);
    let paused = raw.len();

    // Raw rate, part two: same session, now warm from the pipeline.
    raw.extend(detector.raw_inference(opts.raw_runs)?);
    let mean_ms = |d: &[Duration]| {
        (!d.is_empty()).then(|| 1000.0 * d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len() as f64)
    };
    report.raw_parts_ms = [mean_ms(&raw[..before]), mean_ms(&raw[before..paused]), mean_ms(&raw[paused..])];
    let raw_ms: Vec<f32> = raw.iter().map(|d| (d.as_secs_f64() * 1000.0) as f32).collect();
    report.raw_ms = timing::summarise(&raw_ms);
    let total: f64 = raw.iter().map(Duration::as_secs_f64).sum();
    report.raw_fps = raw.len() as f64 / total.max(1e-9);
    report.model = manifest.name.clone();
    report.settings = settings;
    report.rss_model_bytes = rss_model_bytes;
    report.peak_rss_bytes = timing::process_usage().map_or(0, |u| u.peak_rss_bytes);
    Ok(report)
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn unique_suffix() -> u128 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn run_pipeline(
    cfg: &Config,
    decoders: &[crate::source::decoders::DecoderTemplate],
    detector: &mut Detector,
    outbox: &Arc<Outbox>,
    opts: &BenchOptions,
) -> Result<(BenchReport, Vec<Duration>)> {
    let n = cfg.cameras.len();
    let inputs = detector.input_sizes();
    let labels = Arc::new(detector.labels.clone());
    let hub: Arc<Hub<Frame>> = Arc::new(Hub::new(n));
    let stop = Arc::new(AtomicBool::new(false));
    let stats: Vec<Arc<CameraStats>> = (0..n).map(|_| Arc::new(CameraStats::default())).collect();
    let capacity = opts.frames.unwrap_or(10_000).min(1_000_000) as usize;
    let events_out = match &opts.events {
        Some(p) => Some(Arc::new(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("--events: cannot create {}", p.display()))?,
        )))),
        None => None,
    };
    // Detection buffers go to the analytics thread and come back empty: none allocated per frame.
    let (spare_tx, spare_rx) = std_mpsc::channel::<Vec<Detection>>();

    let usage0 = timing::process_usage().ok_or_else(|| anyhow!("getrusage failed"))?;
    let started = Instant::now();

    let mut txs = Vec::with_capacity(n);
    let mut analytics = Vec::with_capacity(n);
    for cam in &cfg.cameras {
        let (tx, rx) = std_mpsc::channel::<Msg>();
        txs.push(tx);
        let mut a = CameraAnalytics::new(cam, &cfg.tracker, Arc::clone(&labels));
        let outbox = Arc::clone(outbox);
        let spare = spare_tx.clone();
        let events_out = events_out.clone();
        let cap = capacity / n + 16;
        analytics.push(
            std::thread::Builder::new()
                .name(format!("analytics-{}", cam.id.get_ref().0))
                .spawn(move || {
                    let mut done = AnalyticsDone {
                        times: StageTimes::with_capacity(cap),
                        latency: StageTimes::with_capacity(cap),
                        frames: 0,
                        events: 0,
                    };
                    let mut events = Vec::new();
                    let write_events = |events: &[crate::event::Event]| {
                        if let Some(w) = &events_out {
                            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                            for e in events {
                                let _ = w.write_all(&e.to_json()).and_then(|_| w.write_all(b"\n"));
                            }
                        }
                    };
                    while let Ok(Msg::Frame { time_s, wall, arrived, picture, mut dets }) = rx.recv() {
                        a.on_frame(time_s, wall, picture, &dets, &mut events);
                        done.times.record(Stage::Tracking, a.last_timings.0);
                        done.times.record(Stage::Rules, a.last_timings.1);
                        done.frames += 1;
                        done.events += events.len() as u64;
                        write_events(&events);
                        for e in events.drain(..) {
                            let t = Instant::now();
                            if let Err(err) = outbox.push(&event_record(&e)) {
                                tracing::error!("bench outbox: {err}");
                            }
                            done.times.lap(Stage::Publish, t);
                        }
                        done.latency.lap(Stage::Latency, arrived);
                        dets.clear();
                        let _ = spare.send(dets);
                    }
                    a.finish(&mut events);
                    done.events += events.len() as u64;
                    write_events(&events);
                    if let Some(w) = &events_out {
                        let _ = w.lock().unwrap_or_else(|p| p.into_inner()).flush();
                    }
                    done
                })
                .context("cannot start an analytics thread")?,
        );
    }
    drop(spare_tx);

    let gates: Vec<CameraGate> = cfg.cameras.iter().map(|c| CameraGate::new(&c.motion)).collect();
    let processed = Arc::new(AtomicU64::new(0));
    let det_result = std::thread::scope(|scope| -> Result<(DetectorDone, Vec<u64>, u64)> {
        let det = {
            let hub = Arc::clone(&hub);
            let stop = Arc::clone(&stop);
            let processed = Arc::clone(&processed);
            let frames_limit = opts.frames;
            let raw_every = if opts.realtime { 0 } else { opts.raw_every };
            let mut gates = gates;
            scope.spawn(move || -> Result<DetectorDone> {
                let mut times = StageTimes::with_capacity(capacity);
                let mut inferences = vec![0u64; n];
                let mut interleave = Interleave::new(raw_every);
                let mut ended = 0;
                let mut t_wait = Instant::now();
                while ended < n {
                    let Some((cam, item)) = hub.next(Duration::from_millis(200)) else {
                        if hub.is_closed() {
                            break;
                        }
                        continue;
                    };
                    match item {
                        Item::Frame(f) => {
                            times.lap(Stage::Wait, t_wait);
                            let mut dets = spare_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(64));
                            let inferred = gates[cam]
                                .run(detector, f.rgb(), f.stride, &f.letterbox, f.time_s, &mut dets)
                                .with_context(|| format!("camera {}", cfg.cameras[cam].id.get_ref().0))?;
                            if inferred {
                                let t = detector.last_timings;
                                times.record_ms(Stage::Preprocess, t.preprocess_ms);
                                times.record_ms(Stage::Inference, t.inference_ms);
                                times.record_ms(Stage::Postprocess, t.postprocess_ms);
                                inferences[cam] += 1;
                            }
                            let picture = (f.letterbox.src_w, f.letterbox.src_h);
                            let msg = Msg::Frame { time_s: f.time_s, wall: f.wall, arrived: f.arrived, picture, dets };
                            drop(f);
                            let _ = txs[cam].send(msg);
                            let done = processed.fetch_add(1, Ordering::Relaxed) + 1;
                            if frames_limit.is_some_and(|l| done >= l) {
                                stop.store(true, Ordering::Relaxed);
                                hub.close();
                                break;
                            }
                            if interleave.frame_done(inferred) {
                                // The file waits meanwhile (its appsink blocks): a pause, not a loss.
                                interleave.pause(detector)?;
                            }
                        }
                        Item::EndOfStream => {
                            ended += 1;
                            let _ = txs[cam].send(Msg::End);
                        }
                    }
                    t_wait = Instant::now();
                }
                for tx in &txs {
                    let _ = tx.send(Msg::End);
                }
                Ok(DetectorDone { times, inferences, interleave })
            })
        };

        let mut sources = Vec::with_capacity(n);
        for (i, decoder) in decoders.iter().enumerate() {
            // The bench measures detection; evidence recording is off like in a default config.
            let mut spec = SourceSpec::for_camera(cfg, i, decoder.clone(), inputs.clone(), None);
            if let Some(nice) = opts.source_nice {
                spec.nice = nice;
            }
            let (hub, stats, stop) = (Arc::clone(&hub), Arc::clone(&stats[i]), Arc::clone(&stop));
            sources.push(scope.spawn(move || {
                let clock = Arc::new(Mutex::new(StreamClock::default()));
                let r = source::run(&spec, &hub, &stats, &clock, &stop);
                hub.end_of_stream(spec.index);
                r.map(|_| ()).with_context(|| format!("camera {}", spec.id))
            }));
        }

        // RSS once a second; the duration limit.
        let mut rss = Vec::new();
        let deadline = opts.duration.map(|d| started + Duration::from_secs_f64(d));
        let mut next_sample = Instant::now() + Duration::from_secs(1);
        while !det.is_finished() {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= next_sample {
                rss.extend(timing::current_rss_bytes());
                next_sample += Duration::from_secs(1);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                stop.store(true, Ordering::Relaxed);
                hub.close();
            }
        }
        stop.store(true, Ordering::Relaxed);
        hub.close();
        let r = det.join().map_err(|_| anyhow!("the detector thread panicked"))?;
        // A camera that failed makes the whole measurement meaningless: report it, do not
        // print numbers for fewer cameras than asked for.
        for s in sources {
            s.join().map_err(|_| anyhow!("a source thread panicked"))??;
        }
        Ok((r?, rss, timing::current_rss_file_bytes().unwrap_or(0)))
    });
    let usage1 = timing::process_usage().ok_or_else(|| anyhow!("getrusage failed"))?;
    let (DetectorDone { mut times, inferences, interleave }, rss_samples, rss_file_bytes) = det_result?;
    let Interleave { raw, segments, paused, paused_cpu, .. } = interleave;
    // The pipeline's own time: the pauses for raw runs are not part of it.
    let seconds = started.elapsed().saturating_sub(paused).as_secs_f64();

    let mut cameras = Vec::with_capacity(n);
    let mut events = 0;
    for ((t, cam), inf) in analytics.into_iter().zip(&cfg.cameras).zip(&inferences) {
        let done = t.join().map_err(|_| anyhow!("an analytics thread panicked"))?;
        times.merge(&done.times);
        events += done.events;
        cameras.push(CameraResult {
            id: cam.id.get_ref().0.clone(),
            frames: done.frames,
            inferences: *inf,
            events: done.events,
            fps: done.frames as f64 / seconds.max(1e-9),
            latency: done.latency.summary(Stage::Latency),
        });
        times.merge(&done.latency);
    }
    Ok((
        BenchReport {
            model: String::new(),
            settings: String::new(),
            seconds,
            frames: cameras.iter().map(|c| c.frames).sum(),
            inferences: inferences.iter().sum(),
            events,
            cpu_s: (usage1.cpu - usage0.cpu).as_secs_f64() - paused_cpu,
            peak_rss_bytes: usage1.peak_rss_bytes,
            rss_model_bytes: 0,
            rss_samples,
            rss_file_bytes,
            raw_ms: Summary::default(),
            raw_fps: 0.0,
            raw_parts_ms: [None; 3],
            segment_ratios: segment_ratios(&segments),
            steady_ratio: pooled_ratio(&segments),
            stages: Stage::ALL.iter().map(|&s| (s, times.summary(s))).collect(),
            cameras,
        },
        raw,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stretch_is_judged_against_the_raw_runs_around_it() {
        let seg = |seconds, inferences, raw_mean_s| Segment { seconds, inferences, raw_mean_s };
        // 10 inferences in 1.0 s against raw 0.1 s: 100 %. Then the host slows down: 10 in 1.5 s
        // against raw 0.1 s before and 0.2 s after (mean 0.15): 100 % again, where one raw rate
        // for the whole run would call it 2/3 or 4/3. A stretch with no inference says nothing.
        let r = segment_ratios(&[seg(1.0, 10, 0.1), seg(1.5, 10, 0.2), seg(0.5, 0, 0.2), seg(2.0, 10, 0.2)]);
        assert_eq!(r.len(), 3, "{r:?}");
        for (got, want) in r.iter().zip([1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-9, "{r:?}");
        }
        let slow = segment_ratios(&[seg(1.0, 10, 0.1), seg(1.0, 9, 0.1)]);
        assert!((slow[1] - 0.9).abs() < 1e-9, "{slow:?}");
        // Pooled: 30 inferences in 4.5 s against a mean raw 0.175 s.
        let pooled = pooled_ratio(&[seg(1.0, 10, 0.1), seg(1.5, 10, 0.2), seg(2.0, 10, 0.2)]);
        assert!(pooled.is_some_and(|p| (p - 30.0 / 4.5 * 0.5 / 3.0).abs() < 1e-9), "{pooled:?}");
        assert_eq!(pooled_ratio(&[]), None);
    }

    #[test]
    fn the_first_frames_after_a_pause_are_not_timed() {
        let mut il = Interleave::new(8);
        let pauses: Vec<bool> = (0..8).map(|i| il.frame_done(i % 2 == 0)).collect();
        assert_eq!(pauses, [false, false, false, false, false, false, false, true]);
        // Timed from the 5th frame on: frames 6, 7 and 8 (indices 5..8), of which index 6 inferred.
        assert!(il.start.is_some());
        assert_eq!(il.inferences, 1);
        // Without interleaving it never pauses.
        let mut off = Interleave::new(0);
        assert!((0..100).all(|_| !off.frame_done(true)));
    }
}
