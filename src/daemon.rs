//! The daemon: wires sources, the shared detector, per-camera analytics and the publisher.
//!
//! Threads: one per camera source (GStreamer streaming threads feed its slot in the hub), one
//! detector serving the cameras in fair turns, one analytics thread per camera (tracker, rules,
//! events), and a small tokio runtime for MQTT, stats and signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc::{Sender, UnboundedSender, channel, unbounded_channel};

use crate::analytics::CameraAnalytics;
use crate::config::{Config, ConfigError};
use crate::detect::gate::CameraGate;
use crate::detect::{Detection, Detector, DetectorOptions};
use crate::event::rfc3339;
use crate::health::status::StatusBoard;
use crate::health::{CameraStats, RateTracker};
use crate::publish::commands;
use crate::publish::mqtt::{self, LinkStats};
use crate::publish::outbox::{self, Outbox, OutboxError};
use crate::publish::{Outgoing, event_record};
use crate::reload;
use crate::replay::{FrameRecord, Recorder};
use crate::source::decoders::{self, DecoderTemplate};
use crate::source::hub::{Hub, Item};
use crate::source::{self, Frame, SourceSpec, supervise};

/// What the detector passes to a camera's analytics thread.
#[expect(clippy::large_enum_variant, reason = "EndOfStream is sent once; boxing Frame would allocate per frame")]
enum Detected {
    Frame {
        time_s: f64,
        wall: SystemTime,
        /// The picture's width and height (the detections' pixel space).
        picture: (u32, u32),
        detections: Vec<Detection>,
        /// The decoded frame itself (evidence on): copied for a snapshot only when an event
        /// starts on it, so frames without events cost no copy.
        frame: Option<Frame>,
    },
    EndOfStream,
}

/// Load what `run` and `check` both need: the model, checked against the config.
pub fn load_detector(cfg: &Config) -> Result<Detector> {
    let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
    let opts = DetectorOptions::new(cfg.model.threads.as_ref().map(|t| t.0), cfg.model.spin);
    let runtime = cfg.model.runtime.as_ref().map(|p| cfg.base_dir().join(p));
    let detector = Detector::load(&manifest, runtime.as_deref(), &opts)?;
    cfg.check_labels(&detector.labels.labels)?;
    Ok(detector)
}

/// The decode template of every camera (named in the config, or probed for `auto`), with the
/// preferred hardware decoders raised in GStreamer's registry.
pub fn choose_decoders(cfg: &Config) -> Result<Vec<DecoderTemplate>> {
    source::init()?;
    let templates = decoders::builtin();
    let mut chosen = Vec::with_capacity(cfg.cameras.len());
    for (i, cam) in cfg.cameras.iter().enumerate() {
        let wanted = &cam.decoder.get_ref().0;
        let t = decoders::choose(&templates, wanted, &decoders::gst_has_element).map_err(|e| {
            let span = cam.decoder.span();
            let msg = format!("camera `{}`: {e}", cam.id.get_ref().0);
            if span.is_empty() {
                anyhow!(ConfigError::new(&cfg.path, msg))
            } else {
                anyhow!(ConfigError::at(&cfg.path, &cfg.text, span, format!("cameras[{i}].decoder"), msg))
            }
        })?;
        tracing::info!(camera = %cam.id.get_ref().0, decoder = %t.name, requested = %wanted, "{}", t.description);
        decoders::apply_preferences(t);
        chosen.push(t.clone());
    }
    Ok(chosen)
}

/// Check everything `run` would need, without running: config, model, file sources, decoders.
///
/// With `skip_model` the model manifest is still read and validated but the ONNX model is not
/// loaded (no ONNX Runtime): for checking a binary where ONNX Runtime cannot run, e.g. an
/// aarch64 build under qemu-user, where ONNX Runtime aborts while reading the CPU topology.
pub fn check(cfg: &Config, skip_model: bool) -> Result<String> {
    let model = if skip_model {
        let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
        format!("model {} not loaded (--skip-model)", manifest.name)
    } else {
        let mut detector = load_detector(cfg)?;
        // Every input shape, so a broken picture-shaped file is found here, not at a camera's
        // first frame.
        detector.load_all()?;
        let inputs: Vec<String> = detector.input_sizes().iter().map(|(w, h)| format!("{w}x{h}")).collect();
        format!(
            "model {} ({} labels, input{} {})",
            detector.manifest.name,
            detector.labels.labels.len(),
            if inputs.len() > 1 { "s" } else { "" },
            inputs.join(", ")
        )
    };
    let decoders = choose_decoders(cfg)?;
    for cam in &cfg.cameras {
        if let Some(p) = cam.uri.file_path(&cfg.base_dir()) {
            std::fs::File::open(&p)
                .with_context(|| format!("camera {}: cannot read video file {}", cam.id.get_ref().0, p.display()))?;
        }
    }
    let names: Vec<&str> = decoders.iter().map(|d| d.name.as_str()).collect();
    let mut out = format!(
        "{}: OK: {} camera(s) (decoders: {}), {model}",
        cfg.path.display(),
        cfg.cameras.len(),
        names.join(", ")
    );
    // Rules that cannot fire at this detect rate and calibration: a warning, not a failure.
    for cam in &cfg.cameras {
        for s in crate::rules::feasibility::shortfalls(cam) {
            out += &format!("\n{}: warning: camera `{}`: {s}", cfg.path.display(), cam.id.get_ref().0);
        }
        for s in crate::rules::feasibility::no_road_axis(cam) {
            out += &format!("\n{}: warning: camera `{}`: {s}", cfg.path.display(), cam.id.get_ref().0);
        }
    }
    out += &format!("\n{}: {}", cfg.path.display(), extraction_summary(cfg)?);
    if cfg.plaintext_credentials() {
        out += &format!("\n{}: warning: {PLAINTEXT_CREDENTIALS}", cfg.path.display());
    }
    Ok(out)
}

const PLAINTEXT_CREDENTIALS: &str =
    "[mqtt] sends its password to a broker that is not on this machine without TLS: add [mqtt.tls]";

/// Whether stations can ask this box for footage, and the box's public key for `fetch --box-key`.
fn extraction_summary(cfg: &Config) -> Result<String> {
    let x = &cfg.extract;
    if !x.enabled() {
        return Ok("extraction on request: off (no [extract] station_keys)".into());
    }
    if !cfg.evidence.enabled {
        return Ok("warning: [extract] station_keys are set but [evidence] is off: there is no footage to give".into());
    }
    let path = x.key_path(&cfg.base_dir(), &cfg.data_dir());
    let key = if path.exists() {
        let k = crate::evidence::signed::read_key(&path).context("[extract] key_file")?;
        format!("box key {} (public key {})", path.display(), crate::evidence::signed::public_text(&k.verifying_key()))
    } else {
        format!("box key {} made at first start (`anttd pubkey` prints its public key)", path.display())
    };
    Ok(format!("extraction on request: on, for {} station key(s); {key}", x.station_keys.len()))
}

/// What became of the outbox file at start: normally nothing; a corrupt one is moved aside.
#[derive(Debug, Clone, Default)]
struct OutboxStart {
    moved_aside: Option<std::path::PathBuf>,
}

/// Open the outbox; a corrupt file is moved aside (and reported in every `stats`) so that the
/// box goes on publishing: stopping would lose every event from now on, not just the old ones.
fn open_outbox(cfg: &Config) -> Result<(Outbox, OutboxStart)> {
    let path = cfg.outbox_path();
    let max = cfg.outbox.max_events.0;
    match Outbox::open(&path, max) {
        Ok(o) => Ok((o, OutboxStart::default())),
        Err(e @ OutboxError::Corrupt { .. }) => {
            let aside = outbox::move_aside(&path)
                .with_context(|| format!("{e}; and it cannot be moved aside (do it by hand)"))?;
            tracing::error!(aside = %aside.display(), "{e}: moved aside, starting with an empty outbox; the events in it were not delivered");
            let o = Outbox::open(&path, max)?;
            Ok((o, OutboxStart { moved_aside: Some(aside) }))
        }
        Err(e) => Err(e.into()),
    }
}

/// Options of `anttd run` beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Write every detected frame here as JSON Lines (see [`crate::replay`]).
    pub record_detections: Option<PathBuf>,
}

type RecorderSlot = Option<(Recorder<std::io::BufWriter<std::fs::File>>, PathBuf)>;

/// The cameras of one configuration, running: sources, the shared detector and per-camera
/// analytics. Stopped as a whole at shutdown and when a reloaded config replaces them.
struct CameraSet {
    /// The model's labels, to check a reloaded config against when the model stays.
    labels: Vec<String>,
    stop: Arc<AtomicBool>,
    hub: Arc<Hub<Frame>>,
    stats: Vec<Arc<CameraStats>>,
    analytics: Vec<JoinHandle<()>>,
    sources: Vec<JoinHandle<()>>,
    detector: JoinHandle<(Detector, RecorderSlot)>,
}

/// What a camera set shares with the rest of the daemon, across reloads.
struct Shared {
    outbox: Arc<Outbox>,
    /// Rings, clips, snapshots, retention (src/evidence); None when `[evidence]` is off. Started
    /// once with the first config: `[evidence]` changes take a restart.
    evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    board: Arc<StatusBoard>,
    detector_beat: Arc<std::sync::atomic::AtomicU64>,
}

impl CameraSet {
    /// Start `cfg`'s cameras. `done` is held by each analytics thread: it closes once every one
    /// has finished (every stream ended).
    fn start(
        cfg: &Config,
        mut detector: Detector,
        mut recorder: RecorderSlot,
        decoders: &[DecoderTemplate],
        shared: &Shared,
        done: &UnboundedSender<()>,
    ) -> Result<Self> {
        let inputs = detector.input_sizes();
        let labels = Arc::new(detector.labels.clone());
        let n = cfg.cameras.len();
        let stop = Arc::new(AtomicBool::new(false));
        let hub: Arc<Hub<Frame>> = Arc::new(Hub::new(n));
        let stats: Vec<Arc<CameraStats>> = (0..n).map(|_| Arc::new(CameraStats::default())).collect();

        // Analytics, one thread per camera.
        let mut det_txs = Vec::with_capacity(n);
        let mut analytics_threads = Vec::with_capacity(n);
        // Detection buffers travel to the analytics threads and come back empty (no per-frame allocation).
        let (spare_tx, spare_rx) = std_mpsc::channel::<Vec<Detection>>();
        for (i, cam) in cfg.cameras.iter().enumerate() {
            let (tx, rx) = std_mpsc::channel::<Detected>();
            det_txs.push(tx);
            let analytics = CameraAnalytics::new(cam, &cfg.tracker, Arc::clone(&labels));
            let outbox = Arc::clone(&shared.outbox);
            let done = done.clone();
            let spare = spare_tx.clone();
            let evidence = shared.evidence.clone();
            let cam_stats = Arc::clone(&stats[i]);
            analytics_threads.push(spawn(&format!("analytics-{}", cam.id.get_ref().0), move || {
                analytics_loop(analytics, rx, &outbox, &spare, evidence.as_deref(), &cam_stats);
                drop(done);
            })?);
        }

        // The detector, shared by all cameras. Its heartbeat advances on every turn of its loop (at
        // least every 200 ms when idle), so a detector stuck inside inference stops it.
        let snapshots = shared.evidence.is_some();
        let detector_thread = {
            let hub = Arc::clone(&hub);
            let beat = Arc::clone(&shared.detector_beat);
            let stats = stats.clone();
            let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
            // Motion gating per camera (see detect::gate).
            let mut gates: Vec<CameraGate> = cfg.cameras.iter().map(|c| CameraGate::new(&c.motion)).collect();
            spawn("detector", move || {
                let mut dets = Vec::new();
                loop {
                    beat.fetch_add(1, Ordering::Relaxed);
                    let Some((cam, item)) = hub.next(Duration::from_millis(200)) else {
                        if hub.is_closed() {
                            break;
                        }
                        continue;
                    };
                    let msg = match item {
                        Item::Frame(f) => {
                            match gates[cam].run(&mut detector, f.rgb(), f.stride, &f.letterbox, f.time_s, &mut dets) {
                                Ok(inferred) => {
                                    if inferred {
                                        stats[cam].frame_processed(detector.last_timings.inference_ms);
                                    } else {
                                        stats[cam].frame_skipped();
                                    }
                                    if let Some((rec, path)) = &mut recorder {
                                        let size = (f.letterbox.src_w, f.letterbox.src_h);
                                        let frame = FrameRecord::new(
                                            &ids[cam],
                                            f.time_s,
                                            f.wall,
                                            size,
                                            &dets,
                                            &detector.labels,
                                        );
                                        // A full disk should not stop the cameras: say so once, stop recording.
                                        if let Err(e) = rec.frame(&frame) {
                                            tracing::error!(file = %path.display(), "recording detections stopped: {e}");
                                            recorder = None;
                                        }
                                    }
                                    let detections =
                                        std::mem::replace(&mut dets, spare_rx.try_recv().unwrap_or_default());
                                    let (time_s, wall) = (f.time_s, f.wall);
                                    let picture = (f.letterbox.src_w, f.letterbox.src_h);
                                    // Detections always go (the tracker needs every one); the
                                    // picture (~1 MB) only while few wait, so a slow camera
                                    // cannot pile pictures up in memory.
                                    let keep = stats[cam].queued(MAX_PICTURES_WAITING) && snapshots;
                                    Detected::Frame { time_s, wall, picture, detections, frame: keep.then_some(f) }
                                }
                                Err(e) => {
                                    tracing::error!(camera = %ids[cam], "detection failed: {e:#}");
                                    continue;
                                }
                            }
                        }
                        Item::EndOfStream => Detected::EndOfStream,
                    };
                    let _ = det_txs[cam].send(msg);
                }
                (detector, recorder)
            })?
        };

        // Sources, one thread per camera, restarted with backoff on failure or stall.
        let mut source_threads = Vec::with_capacity(n);
        for (i, cam) in cfg.cameras.iter().enumerate() {
            let recorder = shared.evidence.as_ref().and_then(|e| e.recorder(cam.id.get_ref().0.as_str()));
            let spec = SourceSpec::for_camera(cfg, i, decoders[i].clone(), inputs.clone(), recorder);
            let (hub, stats, stop) = (Arc::clone(&hub), Arc::clone(&stats[i]), Arc::clone(&stop));
            let board = Arc::clone(&shared.board);
            let stall = Duration::from_secs(cam.stall_timeout_s.0);
            source_threads.push(spawn(&format!("source-{}", spec.id), move || {
                supervise::run(&spec, &hub, &stats, &stop, &board, stall)
            })?);
        }
        Ok(Self {
            labels: labels.labels.clone(),
            stop,
            hub,
            stats,
            analytics: analytics_threads,
            sources: source_threads,
            detector: detector_thread,
        })
    }

    /// Stop the sources, let the detector finish, end every open object (into the outbox), and
    /// hand the detector back. Blocks until every thread has finished.
    fn stop(self) -> Result<(Detector, RecorderSlot)> {
        self.stop.store(true, Ordering::Relaxed);
        self.hub.close();
        for t in self.analytics.into_iter().chain(self.sources) {
            let _ = t.join();
        }
        self.detector.join().map_err(|_| anyhow!("the detector thread panicked"))
    }
}

/// Run until every camera's stream has ended (files that do not loop) or SIGINT/SIGTERM; SIGHUP
/// reloads the config (see [`reload`]).
pub fn run(cfg: Config, opts: RunOptions) -> Result<()> {
    source::init()?;
    let detector = load_detector(&cfg)?;
    let decoders = choose_decoders(&cfg)?;
    let run_started = std::time::Instant::now();
    // Created before anything starts, so a path that cannot be written is refused at once.
    let recorder = match &opts.record_detections {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--record-detections: cannot create {}", path.display()))?;
            let rec = Recorder::new(
                std::io::BufWriter::new(file),
                &detector.manifest.name,
                &detector.labels,
                &detector.manifest.groups,
            )
            .with_context(|| format!("--record-detections: cannot write {}", path.display()))?;
            Some((rec, path.clone()))
        }
        None => None,
    };
    let (outbox, outbox_start) = open_outbox(&cfg)?;
    let outbox = Arc::new(outbox);
    if !outbox.is_empty() {
        tracing::info!(path = %outbox.path().display(), waiting = outbox.len(), "outbox holds events from before: they are sent first");
    }
    let camera_ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    let shared = Shared {
        outbox: Arc::clone(&outbox),
        evidence: crate::evidence::worker::Evidence::start(
            &cfg,
            Arc::new(detector.labels.clone()),
            Arc::clone(&outbox),
        )?,
        board: Arc::new(StatusBoard::new(&camera_ids)),
        detector_beat: Arc::new(std::sync::atomic::AtomicU64::new(0)),
    };
    // Closed when every analytics thread of the current camera set has finished.
    let (done_tx, mut done_rx) = unbounded_channel::<()>();
    let mut cameras = CameraSet::start(&cfg, detector, recorder, &decoders, &shared, &done_tx)?;
    drop(done_tx);

    if cfg.plaintext_credentials() {
        tracing::warn!("{PLAINTEXT_CREDENTIALS}");
    }
    let mut box_key = load_box_key(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let link = Arc::new(LinkStats::default());
    let mut cfg = cfg;
    let result = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int, mut hup) =
            (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?, signal(SignalKind::hangup())?);
        let mut publisher = Publisher::start(&cfg, &shared, &link, box_key.as_ref());
        let mut stats_task = tokio::spawn(stats_loop(
            cfg.clone(),
            cameras.stats.clone(),
            Arc::clone(&link),
            Arc::clone(&outbox),
            outbox_start.clone(),
            shared.evidence.clone(),
            publisher.out.clone(),
        ));
        // Cameras, detector, outbox and the broker connection task are set up (the broker itself
        // may still be away: the outbox holds events until it is back).
        notify(&[sd_notify::NotifyState::Ready]);
        let watchdog = sd_notify::watchdog_enabled().map(|period| {
            tokio::spawn(watchdog_loop(period, Arc::clone(&shared.detector_beat), Arc::clone(&link)))
        });

        loop {
            tokio::select! {
                _ = done_rx.recv() => {
                    tracing::info!("all streams ended");
                    break;
                }
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = hup.recv() => {
                    notify(&[sd_notify::NotifyState::Reloading]);
                    match tokio::task::block_in_place(|| prepare_reload(&cfg, &cameras.labels)) {
                        Err(e) => tracing::error!("config reload refused, keeping the running config: {e:#}"),
                        Ok(next) => {
                            let (done_tx, rx) = unbounded_channel::<()>();
                            let (c, d) = tokio::task::block_in_place(|| {
                                apply_reload(cameras, next, &shared, &done_tx)
                            })?;
                            drop(done_tx);
                            done_rx = rx;
                            cameras = c;
                            if reload::plan(&cfg, &d).mqtt_changed {
                                // The old connection delivers what it can first: one publisher
                                // reads the outbox at a time.
                                tracing::info!("[mqtt] changed: reconnecting with the new settings");
                                publisher.finish().await?;
                                // A key that cannot be read or made turns extraction off, not the box.
                                box_key = load_box_key(&d).unwrap_or_else(|e| {
                                    tracing::error!("extraction on request stays off: {e:#}");
                                    None
                                });
                                publisher = Publisher::start(&d, &shared, &link, box_key.as_ref());
                            }
                            stats_task.abort();
                            stats_task = tokio::spawn(stats_loop(
                                d.clone(),
                                cameras.stats.clone(),
                                Arc::clone(&link),
                                Arc::clone(&outbox),
                                outbox_start.clone(),
                                shared.evidence.clone(),
                                publisher.out.clone(),
                            ));
                            cfg = d;
                            tracing::info!(path = %cfg.path.display(), cameras = cfg.cameras.len(), "config reloaded");
                        }
                    }
                    notify(&[sd_notify::NotifyState::Ready]);
                }
            }
        }
        notify(&[sd_notify::NotifyState::Stopping]);
        if let Some(w) = watchdog {
            w.abort();
        }
        let stats = cameras.stats.clone();
        let (_detector, recorder) = tokio::task::block_in_place(|| cameras.stop())?;
        drop(recorder); // flushes the recording
        // Held `end` events get their clips (the rings are finished now) and go to the outbox.
        if let Some(ev) = &shared.evidence {
            tokio::task::block_in_place(|| ev.close());
        }
        stats_task.abort();
        let _ = stats_task.await;
        let left = publisher.finish().await?;
        if left > 0 {
            tracing::warn!(left, path = %outbox.path().display(), "events not delivered before exit: they stay in the outbox and are sent after the next start");
        }
        anyhow::Ok(stats)
    });
    let stats = result?;
    // One line per camera: what an operator (or a benchmark) wants to know after a run.
    let secs = run_started.elapsed().as_secs_f64();
    for (cam, s) in cfg.cameras.iter().zip(&stats) {
        let c = s.snapshot();
        let inferred = c.frames_processed - c.frames_skipped;
        let inf_ms = if inferred == 0 { 0.0 } else { c.inference_us as f64 / inferred as f64 / 1000.0 };
        tracing::info!(
            camera = %cam.id.get_ref().0,
            frames_in = c.frames_in,
            frames_processed = c.frames_processed,
            frames_dropped = c.frames_dropped,
            frames_skipped = c.frames_skipped,
            seconds = format!("{secs:.1}"),
            fps = format!("{:.2}", c.frames_processed as f64 / secs.max(1e-9)),
            inference_ms = format!("{inf_ms:.1}"),
            "run summary"
        );
    }
    Ok(())
}

/// The box's signing key for extraction replies, when `[extract]` lets stations ask for
/// footage and there is evidence to give; made at the first start. Some exactly when the
/// command connection runs.
fn load_box_key(cfg: &Config) -> Result<Option<Arc<ed25519_dalek::SigningKey>>> {
    if !cfg.extract.enabled() || !cfg.evidence.enabled {
        return Ok(None);
    }
    let path = cfg.extract.key_path(&cfg.base_dir(), &cfg.data_dir());
    let key = crate::evidence::signed::load_or_create(&path).context("[extract] key_file")?;
    Ok(Some(Arc::new(key)))
}

/// The MQTT task and its QoS 0 channel (stats); and, when stations may ask for footage, the
/// command connection (src/publish/commands.rs) with the extraction threads behind it.
struct Publisher {
    task: tokio::task::JoinHandle<Result<u64>>,
    out: Sender<Outgoing>,
    shutdown: tokio::sync::watch::Sender<bool>,
    commands: Option<tokio::task::JoinHandle<()>>,
}

impl Publisher {
    fn start(
        cfg: &Config,
        shared: &Shared,
        link: &Arc<LinkStats>,
        box_key: Option<&Arc<ed25519_dalek::SigningKey>>,
    ) -> Self {
        // Only QoS 0 messages (stats) go through this channel; events go through the outbox.
        let (out, out_rx) = channel::<Outgoing>(16);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let commands = match (&shared.evidence, box_key) {
            (Some(ev), Some(key)) => {
                use crate::evidence::{extract, signed};
                let (requests_tx, requests_rx) = channel(16);
                let (replies_tx, replies_rx) = channel(commands::WINDOW);
                let gate = extract::Gate {
                    station_keys: cfg.extract.station_keys.clone(),
                    cameras: Vec::new(),
                    root: cfg.topic_root(),
                    // Requests issued before this start are refused: ids taken before it are forgotten.
                    guard: signed::ReplayGuard::new(
                        crate::evidence::ring::ms(SystemTime::now()),
                        cfg.extract.max_skew_s,
                    ),
                };
                ev.serve_extracts(requests_rx, replies_tx, gate, Arc::clone(key), Arc::clone(&shared.outbox));
                let command = commands::Command { subtopic: extract::REQUEST, max_bytes: extract::MAX_REQUEST_BYTES };
                Some(tokio::spawn(commands::run(
                    cfg.clone(),
                    command,
                    requests_tx,
                    replies_rx,
                    Arc::clone(&link.commands),
                    shutdown_rx.clone(),
                )))
            }
            _ => None,
        };
        let (cfg, link, outbox, cams) =
            (cfg.clone(), Arc::clone(link), Arc::clone(&shared.outbox), shared.board.subscribe());
        let states = mqtt::States { cams, snapshots: shared.evidence.as_ref().and_then(|e| e.snapshot_feed()) };
        let task = tokio::spawn(async move {
            mqtt::run(&cfg, outbox, out_rx, states, link, shutdown_rx, Duration::from_secs(10)).await
        });
        Self { task, out, shutdown, commands }
    }

    /// Shut the connections down, delivering the outbox for at most 10 s; how many events are left.
    async fn finish(self) -> Result<u64> {
        let _ = self.shutdown.send(true);
        if let Some(c) = self.commands {
            let _ = c.await;
        }
        self.task.await.map_err(|e| anyhow!("publisher task failed: {e}"))?
    }
}

/// A reloaded config, checked as far as `anttd check` would, ready to replace the running one.
struct NextConfig {
    cfg: Config,
    decoders: Vec<DecoderTemplate>,
    /// The new model, when `[model]` changed.
    detector: Option<Detector>,
}

/// Read and check the config file again; nothing running is touched.
fn prepare_reload(current: &Config, labels: &[String]) -> Result<NextConfig> {
    let cfg = Config::load(&current.path)?;
    let plan = reload::plan(current, &cfg);
    let detector = if plan.model_changed {
        Some(load_detector(&cfg)?)
    } else {
        cfg.check_labels(labels)?;
        None
    };
    let decoders = choose_decoders(&cfg)?;
    for cam in &cfg.cameras {
        if let Some(p) = cam.uri.file_path(&cfg.base_dir()) {
            std::fs::File::open(&p)
                .with_context(|| format!("camera {}: cannot read video file {}", cam.id.get_ref().0, p.display()))?;
        }
    }
    if plan.outbox_changed {
        tracing::warn!("data_dir and [outbox] changes take effect at the next start; the outbox stays where it is");
    }
    Ok(NextConfig { cfg, decoders, detector })
}

/// Stop the running cameras (their open objects end, into the outbox) and start the new set.
fn apply_reload(
    running: CameraSet,
    next: NextConfig,
    shared: &Shared,
    done: &UnboundedSender<()>,
) -> Result<(CameraSet, Config)> {
    let (detector, recorder) = running.stop()?;
    let (detector, recorder) = match next.detector {
        Some(new) => {
            if let Some((_, path)) = &recorder {
                tracing::warn!(file = %path.display(), "recording detections stopped: the model changed");
            }
            (new, None)
        }
        None => (detector, recorder),
    };
    let ids: Vec<String> = next.cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    shared.board.reset(&ids);
    let set = CameraSet::start(&next.cfg, detector, recorder, &next.decoders, shared, done)?;
    Ok((set, next.cfg))
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(f).with_context(|| format!("cannot start thread {name}"))
}

/// Store each event in the outbox (on disk before the next frame is looked at).
fn store(outbox: &Outbox, events: &mut Vec<crate::event::Event>) {
    for e in events.drain(..) {
        match outbox.push(&event_record(&e)) {
            // The tests read this line as the daemon's own record of what it produced.
            Ok(_) => tracing::debug!(camera = %e.camera, id = %e.id, "event stored"),
            Err(err) => {
                tracing::error!(camera = %e.camera, id = %e.id, "event lost: cannot store it in the outbox: {err}")
            }
        }
    }
}

/// Store `<camera>/counts` messages in the outbox, like events.
fn store_counts(outbox: &Outbox, counts: Vec<crate::event::CountsMessage>) {
    for c in counts {
        if let Err(err) = outbox.push(&crate::publish::counts_record(&c)) {
            tracing::error!(camera = %c.camera, id = %c.id, "counts lost: cannot store them in the outbox: {err}");
        }
    }
}

/// Pictures of one camera that may wait for its analytics thread; frames beyond it go on with
/// their detections but without the picture (counted in `stats` as `pictures_dropped`).
const MAX_PICTURES_WAITING: u64 = 4;

fn analytics_loop(
    mut analytics: CameraAnalytics,
    rx: std_mpsc::Receiver<Detected>,
    outbox: &Outbox,
    spare: &std_mpsc::Sender<Vec<Detection>>,
    evidence: Option<&crate::evidence::worker::Evidence>,
    stats: &CameraStats,
) {
    let mut events = Vec::new();
    // The channel closes when the detector stops (shutdown): end open tracks then as well.
    while let Ok(msg) = rx.recv() {
        match msg {
            Detected::Frame { time_s, wall, picture, mut detections, frame } => {
                analytics.on_frame(time_s, wall, picture, &detections, &mut events);
                // Evidence stores the events itself: with snapshots, and `end` once its clip is cut.
                // It decides which event gets a snapshot; only then is the frame copied.
                if let Some(ev) = evidence {
                    ev.process(outbox, analytics.camera(), &mut events, &detections, wall, || {
                        frame
                            .as_ref()
                            .and_then(|f| crate::evidence::snapshot::SnapFrame::new(f.rgb(), f.stride, &f.letterbox))
                    });
                }
                detections.clear();
                let _ = spare.send(detections);
                stats.dequeued();
            }
            Detected::EndOfStream => break,
        }
        store(outbox, &mut events);
        store_counts(outbox, analytics.take_counts());
    }
    analytics.finish(&mut events);
    if let Some(ev) = evidence {
        ev.process(outbox, analytics.camera(), &mut events, &[], SystemTime::now(), || None);
    }
    store(outbox, &mut events);
    store_counts(outbox, analytics.take_counts());
    tracing::info!(camera = %analytics.camera(), "analytics finished");
}

/// A URI safe to log: `rtsp://user:pass@host/…` becomes `rtsp://***@host/…`.
pub fn redact_uri(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => uri.to_string(),
            }
        }
        None => uri.to_string(),
    }
}

/// The `stats` message.
#[derive(serde::Serialize)]
struct StatsPayload {
    ts: String,
    uptime_s: u64,
    mqtt: MqttReport,
    outbox: OutboxReport,
    cameras: Vec<crate::health::CameraReport>,
    /// How full the evidence store is (src/evidence/retention.rs); absent when evidence is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<crate::evidence::retention::EvidenceReport>,
}

#[derive(serde::Serialize)]
struct MqttReport {
    connected: bool,
    connects: u64,
    /// QoS 1 messages sent but not yet acknowledged by the broker.
    unacked: u64,
    /// Failures that cost a connection, and acknowledgements the outbox could not store yet.
    errors: u64,
    /// The command connection (extraction requests).
    commands: commands::CommandReport,
}

#[derive(serde::Serialize)]
struct OutboxReport {
    /// Events waiting for the broker's acknowledgement.
    len: u64,
    max_events: u64,
    /// Events dropped (oldest first) because the outbox was full, over the file's life.
    dropped: u64,
    /// Where a corrupt outbox found at start was moved; null normally.
    moved_aside: Option<String>,
}

async fn stats_loop(
    cfg: Config,
    stats: Vec<Arc<CameraStats>>,
    link: Arc<LinkStats>,
    outbox: Arc<Outbox>,
    start: OutboxStart,
    evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    out: Sender<Outgoing>,
) {
    let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    let mut rates = RateTracker::new(ids.len());
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.mqtt.stats_interval_s.0));
    tick.tick().await;
    loop {
        tick.tick().await;
        let cams: Vec<(String, &CameraStats)> = ids.iter().cloned().zip(stats.iter().map(|s| s.as_ref())).collect();
        let payload = StatsPayload {
            ts: rfc3339(SystemTime::now()),
            uptime_s: started.elapsed().as_secs(),
            mqtt: MqttReport {
                connected: link.connected.load(Ordering::Relaxed),
                connects: link.connects.load(Ordering::Relaxed),
                unacked: link.sent_qos1.load(Ordering::Relaxed).saturating_sub(link.acked.load(Ordering::Relaxed)),
                errors: link.errors.load(Ordering::Relaxed),
                commands: link.commands.report(),
            },
            outbox: OutboxReport {
                len: outbox.len(),
                max_events: outbox.max_events(),
                dropped: outbox.dropped(),
                moved_aside: start.moved_aside.as_ref().map(|p| p.display().to_string()),
            },
            cameras: rates.report(&cams),
            evidence: evidence.as_ref().and_then(|e| e.report()),
        };
        let payload = serde_json::to_string(&payload).unwrap_or_default();
        let msg = Outgoing { subtopic: "stats".into(), payload: payload.into_bytes(), qos: 0, retain: false };
        // QoS 0: when the publisher is behind, this one is dropped (the next is fresher anyway).
        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = out.try_send(msg) {
            return;
        }
    }
}

/// Tell systemd (when started by it with `Type=notify`); outside systemd this does nothing.
fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// Ping systemd's watchdog at half its period, but only while the detector makes progress and
/// the publisher's loop turns (it turns at least every [`mqtt::BEAT`], connected or not, and
/// stops only if the publisher ended or hangs): either stuck, the pings stop and systemd
/// restarts the process. The pings come from the tokio runtime, so a wedged runtime stops them too.
async fn watchdog_loop(period: Duration, detector_beat: Arc<std::sync::atomic::AtomicU64>, link: Arc<LinkStats>) {
    let mut tick = tokio::time::interval(period / 2);
    let mut last = (detector_beat.load(Ordering::Relaxed), link.beat.load(Ordering::Relaxed));
    tracing::info!(period = ?period, "systemd watchdog enabled");
    loop {
        tick.tick().await;
        let now = (detector_beat.load(Ordering::Relaxed), link.beat.load(Ordering::Relaxed));
        match (now.0 != last.0, now.1 != last.1) {
            (true, true) => notify(&[sd_notify::NotifyState::Watchdog]),
            (false, _) => {
                tracing::error!("the detector made no progress for {:?}: not pinging the watchdog", period / 2)
            }
            (_, false) => {
                tracing::error!("the MQTT publisher stopped for {:?}: not pinging the watchdog", period / 2)
            }
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::redact_uri;

    #[test]
    fn credentials_are_not_logged() {
        assert_eq!(
            redact_uri("rtsp://admin:secret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_uri("rtsp://10.0.0.5/s"), "rtsp://10.0.0.5/s");
        assert_eq!(redact_uri("file:///a@b/video.avi"), "file:///a@b/video.avi");
    }
}
