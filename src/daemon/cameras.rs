//! The cameras of one configuration, running: a source thread per camera feeding the hub, the
//! detector serving the cameras in fair turns, and an analytics thread per camera (tracker,
//! rules, events into the outbox, evidence).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow};
use tokio::sync::mpsc::UnboundedSender;

use super::spawn;
use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::gate::CameraGate;
use crate::detect::{Detection, Detector};
use crate::health::CameraStats;
use crate::health::status::StatusBoard;
use crate::publish::event_record;
use crate::publish::outbox::Outbox;
use crate::replay::{DetectionRecorder, FrameRecord};
use crate::source::decoders::DecoderTemplate;
use crate::source::hub::{Hub, Item};
use crate::source::{Frame, SourceSpec, supervise};

/// What the detector passes to a camera's analytics thread.
#[expect(clippy::large_enum_variant, reason = "EndOfStream is sent once; boxing Frame would allocate per frame")]
pub(super) enum Detected {
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

pub(super) type RecorderSlot = Option<(DetectionRecorder<std::io::BufWriter<std::fs::File>>, PathBuf)>;

/// The cameras of one configuration, running: sources, the shared detector and per-camera
/// analytics. Stopped as a whole at shutdown and when a reloaded config replaces them.
pub(super) struct CameraSet {
    /// The model's labels, to check a reloaded config against when the model stays.
    pub(super) labels: Vec<String>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) hub: Arc<Hub<Frame>>,
    pub(super) stats: Vec<Arc<CameraStats>>,
    pub(super) analytics: Vec<JoinHandle<()>>,
    pub(super) sources: Vec<JoinHandle<()>>,
    pub(super) detector: JoinHandle<(Detector, RecorderSlot)>,
}

/// What a camera set shares with the rest of the daemon, across reloads.
pub(super) struct Shared {
    pub(super) outbox: Arc<Outbox>,
    /// Rings, clips, snapshots, retention (src/evidence); None when `[evidence]` is off. Started
    /// once with the first config: `[evidence]` changes take a restart.
    pub(super) evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    pub(super) board: Arc<StatusBoard>,
    pub(super) detector_beat: Arc<std::sync::atomic::AtomicU64>,
}

impl CameraSet {
    /// Start `cfg`'s cameras. `done` is held by each analytics thread: it closes once every one
    /// has finished (every stream ended).
    pub(super) fn start(
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
    pub(super) fn stop(self) -> Result<(Detector, RecorderSlot)> {
        self.stop.store(true, Ordering::Relaxed);
        self.hub.close();
        for t in self.analytics.into_iter().chain(self.sources) {
            let _ = t.join();
        }
        self.detector.join().map_err(|_| anyhow!("the detector thread panicked"))
    }
}

/// Store each event in the outbox (on disk before the next frame is looked at).
pub(super) fn store(outbox: &Outbox, events: &mut Vec<crate::event::Event>) {
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
pub(super) fn store_counts(outbox: &Outbox, counts: Vec<crate::event::CountsMessage>) {
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
