//! `anttd bench`: the real pipeline (GStreamer decode and scale, detector, tracker, rules, event
//! serialisation and the on-disk outbox) on a config's cameras, with no broker, and a report of
//! where the time goes.
//!
//! "Publish" here is everything the daemon does with an event before MQTT: serialise it and write
//! it to the SQLite outbox (a throw-away one in the temp folder). Sending to a broker is left out:
//! it happens in its own task, off the frame path, and would measure the network.
//!
//! It runs the daemon's own pipeline ([`crate::pipeline::CameraSet`]: supervised sources, the
//! hub, the shared detector thread, one analytics thread per camera), watched through a probe
//! that times each stage; the raw inference rate of the same session is measured in the same
//! run: before and after the pipeline, and in pauses that alternate with it (see `Interleave`).

mod interleave;
mod probe;
mod report;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};

use crate::config::Config;
use crate::detect::letterbox::Letterbox;
use crate::detect::{Detector, DetectorOptions};
use crate::health::status::StatusBoard;
use crate::health::timing::{self, Stage, StageSummary, StageTimes};
use crate::pipeline::{CameraSet, Links};
use crate::publish::outbox::Outbox;
use crate::source;
use interleave::{Interleave, SETTLE_FRAMES, pooled_ratio, segment_ratios};
use probe::{AnalyticsDone, BenchProbe, DetectorDone};
pub use report::{BenchReport, CameraResult};

/// What to run; `None` fields keep the config's value. Also `anttd bench`'s options (the field
/// docs are its `--help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BenchOptions {
    /// Only this camera.
    #[arg(long)]
    pub camera: Option<String>,
    /// Run N copies of the camera(s), sharing the detector (ids get `-1`, `-2`… appended).
    #[arg(long, value_name = "N")]
    pub copies: Option<usize>,
    /// Stop after N frames processed (all cameras together).
    #[arg(long)]
    pub frames: Option<u64>,
    /// Stop after this many seconds; file sources loop to last that long.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Play files at their own pace (as live cameras) instead of as fast as possible.
    #[arg(long)]
    pub realtime: bool,
    /// Override model.spin.
    #[arg(long)]
    pub spin: Option<bool>,
    /// ONNX Runtime's CPU memory arena (default on).
    #[arg(long)]
    pub arena: Option<bool>,
    /// ONNX Runtime's memory pattern (default off).
    #[arg(long)]
    pub memory_pattern: Option<bool>,
    /// malloc_trim after loading the model (default on).
    #[arg(long)]
    pub trim: Option<bool>,
    /// Override model.threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Force motion gating on or off for every camera.
    #[arg(long)]
    pub gate: Option<bool>,
    /// Inference runs on a fixed input for the raw rate, before and after the pipeline each.
    #[arg(long, default_value_t = 20)]
    pub raw_runs: usize,
    /// Playing as fast as possible, pause the pipeline every N frames (more than 5) for
    /// N - 5 raw runs: its first 5 frames after each pause are not timed, and pipeline and
    /// raw rate alternate on the same seconds (0: raw runs only before and after).
    // The VM this was built on drifts by 10–30 % in speed over minutes and seconds: alternating
    // every few seconds puts both rates on the same seconds.
    #[arg(long, default_value_t = 30)]
    pub raw_every: u64,
    /// Niceness added to the sources' GStreamer threads (default: 10 for files played as
    /// fast as possible, 0 for live sources and real time).
    #[arg(long)]
    pub source_nice: Option<i32>,
    /// Also write every event to FILE, one JSON line each.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
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
            .map(|c| format!(
                "+{}",
                opts.source_nice.unwrap_or_else(|| source::default_nice(c.uri.is_file(), c.realtime))
            ))
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
    let result = run_pipeline(&cfg, &decoders, detector, &outbox, opts);
    drop(outbox);
    for ext in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(PathBuf::from(format!("{}{ext}", outbox_path.display())));
    }
    let (mut report, interleaved, mut detector) = result?;
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

/// The daemon's pipeline ([`CameraSet`]) on `cfg`'s cameras with a throw-away outbox and no
/// broker, watched by a [`BenchProbe`]; hands the detector back for the raw runs after it.
fn run_pipeline(
    cfg: &Config,
    decoders: &[crate::source::decoders::DecoderTemplate],
    detector: Detector,
    outbox: &Arc<Outbox>,
    opts: &BenchOptions,
) -> Result<(BenchReport, Vec<Duration>, Detector)> {
    let n = cfg.cameras.len();
    let capacity = opts.frames.unwrap_or(10_000).min(1_000_000) as usize;
    let events_out = match &opts.events {
        Some(p) => Some(Arc::new(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("--events: cannot create {}", p.display()))?,
        )))),
        None => None,
    };
    let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    // The bench measures detection; evidence (rings, snapshots) is off as in a default config.
    let shared = Links {
        outbox: Arc::clone(outbox),
        evidence: None,
        board: Arc::new(StatusBoard::new(&ids)),
        detector_beat: Arc::new(AtomicU64::new(0)),
        source_nice: opts.source_nice,
    };
    let state = Arc::new(Mutex::new(DetectorDone {
        times: StageTimes::with_capacity(capacity),
        inferences: vec![0; n],
        mosaics: 0,
        interleave: Interleave::new(if opts.realtime { 0 } else { opts.raw_every }),
        processed: 0,
        frames_limit: opts.frames,
        t_wait: Instant::now(),
        error: None,
    }));
    let cameras_done = Arc::new(Mutex::new((0..n).map(|_| None).collect::<Vec<Option<AnalyticsDone>>>()));
    let probe = BenchProbe {
        state: Arc::clone(&state),
        cameras: Arc::clone(&cameras_done),
        capacity: capacity / n + 16,
        events_out,
    };

    let usage0 = timing::process_usage().ok_or_else(|| anyhow!("getrusage failed"))?;
    let started = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let set = CameraSet::start(cfg, detector, None, decoders, &shared, &done_tx, Box::new(probe))?;
    drop(done_tx);
    // Until every analytics thread is done (streams ended, or the frame limit closed the hub):
    // RSS once a second, and the duration limit.
    let mut rss = Vec::new();
    let deadline = opts.duration.map(|d| started + Duration::from_secs_f64(d));
    let mut next_sample = Instant::now() + Duration::from_secs(1);
    while !matches!(done_rx.try_recv(), Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)) {
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() >= next_sample {
            rss.extend(timing::current_rss_bytes());
            next_sample += Duration::from_secs(1);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            set.stop.store(true, Ordering::Relaxed);
            set.hub.close();
        }
    }
    let rss_file_bytes = timing::current_rss_file_bytes().unwrap_or(0);
    let restarts: Vec<u64> = set.stats.iter().map(|s| s.snapshot().restarts).collect();
    let (detector, _) = set.stop()?;
    let usage1 = timing::process_usage().ok_or_else(|| anyhow!("getrusage failed"))?;

    // A camera that failed makes the whole measurement meaningless: report it, do not print
    // numbers for fewer cameras than asked for.
    for (id, r) in ids.iter().zip(&restarts) {
        if *r > 0 {
            bail!("camera {id} failed and was restarted {r} time(s) (see the log): no measurement");
        }
    }
    // The probes went with the threads `stop` joined: the results are the bench's alone now.
    let st = Arc::into_inner(state).ok_or_else(|| anyhow!("a probe outlived the pipeline"))?;
    let st = st.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.error {
        bail!("detection failed: {e}");
    }
    let DetectorDone { mut times, inferences, mosaics, interleave, .. } = st;
    let Interleave { raw, segments, paused, paused_cpu, .. } = interleave;
    // The pipeline's own time: the pauses for raw runs are not part of it.
    let seconds = started.elapsed().saturating_sub(paused).as_secs_f64();

    let mut cameras = Vec::with_capacity(n);
    let mut events = 0;
    let done = Arc::into_inner(cameras_done).ok_or_else(|| anyhow!("a probe outlived the pipeline"))?;
    let done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    for ((done, cam), inf) in done.into_iter().zip(&cfg.cameras).zip(&inferences) {
        let done = done.ok_or_else(|| anyhow!("camera {}: its analytics thread did not finish", cam.id.get_ref().0))?;
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
            mosaics,
            events,
            cpu_s: (usage1.cpu - usage0.cpu).as_secs_f64() - paused_cpu,
            peak_rss_bytes: usage1.peak_rss_bytes,
            rss_model_bytes: 0,
            rss_samples: rss,
            rss_file_bytes,
            raw_ms: StageSummary::default(),
            raw_fps: 0.0,
            raw_parts_ms: [None; 3],
            segment_ratios: segment_ratios(&segments),
            steady_ratio: pooled_ratio(&segments),
            stages: Stage::ALL.iter().map(|&s| (s, times.summary(s))).collect(),
            cameras,
        },
        raw,
        detector,
    ))
}
