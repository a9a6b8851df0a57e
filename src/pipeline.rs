//! The cameras of one configuration, running: a source thread per camera feeding the hub, the
//! detector serving the cameras in fair turns, and an analytics thread per camera (tracker,
//! rules, events into the outbox, evidence).
//!
//! This is the one pipeline: `anttd run` runs it (and starts it again on a reload), and
//! `anttd bench` runs it too, watching it through a [`Probe`]: stage timings, inference counts,
//! pauses for raw inference runs and a frame limit, without a say over what flows through it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc::UnboundedSender;

use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::gate::{CameraGate, Ran};
use crate::detect::{Detection, Detector};
use crate::event::Event;
use crate::health::CameraStats;
use crate::health::status::StatusBoard;
use crate::publish::event_record;
use crate::publish::outbox::Outbox;
use crate::replay::{DetectionRecorder, FrameRecord};
use crate::source::decoders::DecoderTemplate;
use crate::source::hub::{Hub, Item};
use crate::source::{Frame, SourceSpec, supervise};

/// Watches the detector thread of a running [`CameraSet`] (the bench's timings); every method
/// does nothing by default, which is what the daemon uses ([`NoProbe`]).
pub trait Probe: Send {
    /// A frame of camera `cam` came out of the hub.
    fn received(&mut self, _cam: usize) {}
    /// That frame went through the detector (`ran` says how: the motion gate may have skipped
    /// it, or detected a mosaic of what moved). `Ok(false)` stops the set (a frame limit); the
    /// probe may use the detector meanwhile (raw inference runs), the camera waiting.
    fn detected(&mut self, _detector: &mut Detector, _cam: usize, _ran: Ran) -> Result<bool> {
        Ok(true)
    }
    /// Detection failed on a frame of camera `cam` (logged, and the frame dropped).
    fn failed(&mut self, _cam: usize, _error: &anyhow::Error) {}
    /// A probe for the analytics thread of camera `index`.
    fn camera(&self, _index: usize) -> Box<dyn CameraProbe> {
        Box::new(NoProbe)
    }
}

/// Watches one camera's analytics thread.
pub trait CameraProbe: Send {
    /// The tracker and rules ran on a frame and raised `events` (before they are stored).
    fn analysed(&mut self, _analytics: &CameraAnalytics, _events: &[Event]) {}
    /// The frame's events were stored in `took`; the frame had arrived from the decoder at `arrived`.
    fn stored(&mut self, _took: Duration, _arrived: Instant) {}
    /// The stream ended: the events that closed what was open.
    fn finished(&mut self, _events: &[Event]) {}
}

/// The probe that watches nothing.
pub struct NoProbe;
impl Probe for NoProbe {}
impl CameraProbe for NoProbe {}

/// What the detector passes to a camera's analytics thread.
#[expect(clippy::large_enum_variant, reason = "EndOfStream is sent once; boxing Frame would allocate per frame")]
enum Detected {
    Frame {
        time_s: f64,
        wall: SystemTime,
        /// When the decoder handed the frame over (latency).
        arrived: Instant,
        /// The picture's width and height (the detections' pixel space).
        picture: (u32, u32),
        detections: Vec<Detection>,
        /// The decoded frame itself (evidence on): copied for a snapshot only when an event
        /// starts on it, so frames without events cost no copy.
        frame: Option<Frame>,
    },
    EndOfStream,
}

pub type RecorderSlot = Option<(DetectionRecorder<std::io::BufWriter<std::fs::File>>, PathBuf)>;

/// The cameras of one configuration, running: sources, the shared detector and per-camera
/// analytics. Stopped as a whole at shutdown and when a reloaded config replaces them.
pub struct CameraSet {
    /// The model's labels, to check a reloaded config against when the model stays.
    pub labels: Vec<String>,
    pub stop: Arc<AtomicBool>,
    pub hub: Arc<Hub<Frame>>,
    pub stats: Vec<Arc<CameraStats>>,
    analytics: Vec<JoinHandle<()>>,
    sources: Vec<JoinHandle<()>>,
    detector: JoinHandle<(Detector, RecorderSlot)>,
}

/// What a camera set shares with the rest of the daemon (across reloads) or the bench.
pub struct Links {
    pub outbox: Arc<Outbox>,
    /// Rings, clips, snapshots, retention (src/evidence); None when `[evidence]` is off. Started
    /// once with the first config: `[evidence]` changes take a restart.
    pub evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    pub board: Arc<StatusBoard>,
    pub detector_beat: Arc<std::sync::atomic::AtomicU64>,
    /// The sources' streaming-thread niceness instead of [`crate::source::default_nice`] (the
    /// bench's `--source-nice`).
    pub source_nice: Option<i32>,
}

impl CameraSet {
    /// Start `cfg`'s cameras, watched by `probe`. `done` is held by each analytics thread: it
    /// closes once every one has finished (every stream ended).
    pub fn start(
        cfg: &Config,
        mut detector: Detector,
        mut recorder: RecorderSlot,
        decoders: &[DecoderTemplate],
        shared: &Links,
        done: &UnboundedSender<()>,
        mut probe: Box<dyn Probe>,
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
            let cam_probe = probe.camera(i);
            analytics_threads.push(spawn(&format!("analytics-{}", cam.id.get_ref().0), move || {
                analytics_loop(analytics, rx, &outbox, &spare, evidence.as_deref(), &cam_stats, cam_probe);
                drop(done);
            })?);
        }

        // The detector, shared by all cameras. Its heartbeat advances on every turn of its loop (at
        // least every 200 ms when idle), so a detector stuck inside inference stops it.
        let snapshots = shared.evidence.is_some();
        let detector_thread = {
            let (hub, stop) = (Arc::clone(&hub), Arc::clone(&stop));
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
                    let f = match item {
                        Item::Frame(f) => f,
                        Item::EndOfStream => {
                            let _ = det_txs[cam].send(Detected::EndOfStream);
                            continue;
                        }
                    };
                    probe.received(cam);
                    let inference_before = detector.inference_ms_sum;
                    let ran = match gates[cam].run(&mut detector, f.picture(), &f.letterbox, f.time_s, &mut dets) {
                        Ok(ran) => ran,
                        Err(e) => {
                            tracing::error!(camera = %ids[cam], "detection failed: {e:#}");
                            probe.failed(cam, &e);
                            continue;
                        }
                    };
                    let inferred = ran.inferred();
                    if ran.mosaics() > 0 {
                        stats[cam].frame_mosaic();
                    }
                    if inferred {
                        let ms = detector.inference_ms_sum - inference_before;
                        stats[cam].frame_processed(ms, ran.inferences());
                    } else {
                        stats[cam].frame_skipped();
                    }
                    if let Some((rec, path)) = &mut recorder {
                        let size = (f.letterbox.src_w, f.letterbox.src_h);
                        let frame = FrameRecord::new(&ids[cam], f.time_s, f.wall, size, &dets, &detector.labels);
                        // A full disk should not stop the cameras: say so once, stop recording.
                        if let Err(e) = rec.frame(&frame) {
                            tracing::error!(file = %path.display(), "recording detections stopped: {e}");
                            recorder = None;
                        }
                    }
                    let detections = std::mem::replace(&mut dets, spare_rx.try_recv().unwrap_or_default());
                    let (time_s, wall, arrived) = (f.time_s, f.wall, f.arrived);
                    let picture = (f.letterbox.src_w, f.letterbox.src_h);
                    // Detections always go (the tracker needs every one); the picture (~1 MB)
                    // only while few wait, so a slow camera cannot pile pictures up in memory.
                    let keep = stats[cam].queued(MAX_PICTURES_WAITING) && snapshots;
                    let frame = keep.then_some(f);
                    let _ = det_txs[cam].send(Detected::Frame { time_s, wall, arrived, picture, detections, frame });
                    match probe.detected(&mut detector, cam, ran) {
                        Ok(true) => {}
                        Ok(false) => {
                            stop.store(true, Ordering::Relaxed);
                            hub.close();
                        }
                        Err(e) => tracing::error!("probe: {e:#}"),
                    }
                }
                (detector, recorder)
            })?
        };

        // Sources, one thread per camera, restarted with backoff on failure or stall.
        let mut source_threads = Vec::with_capacity(n);
        for (i, cam) in cfg.cameras.iter().enumerate() {
            let recorder = shared
                .evidence
                .as_ref()
                .and_then(|e| e.recorder(cam.id.get_ref().0.as_str()))
                .map(|r| r as Arc<dyn crate::source::StreamTap>);
            let mut spec = source_spec(cfg, i, decoders[i].clone(), inputs.clone(), recorder);
            if let Some(nice) = shared.source_nice {
                spec.nice = nice;
            }
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
    pub fn stop(self) -> Result<(Detector, RecorderSlot)> {
        self.stop.store(true, Ordering::Relaxed);
        self.hub.close();
        for t in self.analytics.into_iter().chain(self.sources) {
            let _ = t.join();
        }
        self.detector.join().map_err(|_| anyhow!("the detector thread panicked"))
    }
}

/// The source of camera `index` of `cfg`, scaled for the best of the model's `inputs` sizes
/// (width, height).
fn source_spec(
    cfg: &Config,
    index: usize,
    decoder: DecoderTemplate,
    inputs: Vec<(u32, u32)>,
    recorder: Option<Arc<dyn crate::source::StreamTap>>,
) -> SourceSpec {
    let cam = &cfg.cameras[index];
    SourceSpec {
        index,
        id: cam.id.get_ref().0.clone(),
        uri: cam.uri.to_gst_uri(&cfg.base_dir()),
        detect_fps: cam.detect_fps.0,
        realtime: cam.realtime,
        looping: cam.looping,
        is_file: cam.uri.is_file(),
        inputs,
        decoder,
        recorder,
        nice: crate::source::default_nice(cam.uri.is_file(), cam.realtime),
        full_size: cam.motion.enabled && cam.motion.regions,
    }
}

fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(f).with_context(|| format!("cannot start thread {name}"))
}

/// Store each event in the outbox (on disk before the next frame is looked at).
pub fn store(outbox: &Outbox, events: &mut Vec<crate::event::Event>) {
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
pub fn store_counts(outbox: &Outbox, counts: Vec<crate::event::CountsMessage>) {
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
    mut probe: Box<dyn CameraProbe>,
) {
    let mut events = Vec::new();
    // The channel closes when the detector stops (shutdown): end open tracks then as well.
    while let Ok(msg) = rx.recv() {
        let arrived = match msg {
            Detected::Frame { time_s, wall, arrived, picture, mut detections, frame } => {
                analytics.on_frame(time_s, wall, picture, &detections, &mut events);
                probe.analysed(&analytics, &events);
                // Evidence stores the events itself: with snapshots, and `end` once its clip is cut.
                // It decides which event gets a snapshot; only then is the frame copied.
                if let Some(ev) = evidence {
                    ev.process(outbox, analytics.camera(), &mut events, &detections, wall, || {
                        frame
                            .as_ref()
                            .and_then(|f| crate::evidence::snapshot::SnapFrame::new(f.picture(), &f.letterbox))
                    });
                }
                detections.clear();
                let _ = spare.send(detections);
                stats.dequeued();
                arrived
            }
            Detected::EndOfStream => break,
        };
        let t = Instant::now();
        store(outbox, &mut events);
        store_counts(outbox, analytics.take_counts());
        probe.stored(t.elapsed(), arrived);
    }
    analytics.finish(&mut events);
    probe.finished(&events);
    if let Some(ev) = evidence {
        ev.process(outbox, analytics.camera(), &mut events, &[], SystemTime::now(), || None);
    }
    store(outbox, &mut events);
    store_counts(outbox, analytics.take_counts());
    tracing::info!(camera = %analytics.camera(), "analytics finished");
}
