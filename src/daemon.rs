//! The daemon: wires sources, the shared detector, per-camera analytics and the publisher.
//!
//! Threads: one per camera source (GStreamer streaming threads feed its slot in the hub), one
//! detector serving the cameras in fair turns, one analytics thread per camera (tracker, rules,
//! events), and a small tokio runtime for MQTT, stats and signals.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::analytics::CameraAnalytics;
use crate::config::{Config, ConfigError};
use crate::detect::{Detection, Detector, DetectorOptions};
use crate::event::rfc3339;
use crate::health::{CameraStats, RateTracker};
use crate::publish::mqtt::{self, LinkStats};
use crate::publish::outbox::{self, Outbox, OutboxError};
use crate::publish::{Outgoing, event_record};
use crate::replay::{FrameRecord, Recorder};
use crate::source::decoders::{self, DecoderTemplate};
use crate::source::hub::{Hub, Item};
use crate::source::{self, Ended, Frame, SourceSpec, StreamClock};

/// What the detector passes to a camera's analytics thread.
enum Detected {
    Frame {
        time_s: f64,
        wall: SystemTime,
        detections: Vec<Detection>,
        /// The frame itself, for event snapshots (evidence on).
        snap: Option<crate::evidence::snapshot::SnapFrame>,
    },
    EndOfStream,
}

/// Load what `run` and `check` both need: the model, checked against the config.
pub fn load_detector(cfg: &Config) -> Result<Detector> {
    let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
    let opts = DetectorOptions { threads: cfg.model.threads.as_ref().map(|t| t.0), spin: false };
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
        let detector = load_detector(cfg)?;
        format!(
            "model {} ({} labels, input {}x{})",
            detector.manifest.name,
            detector.labels.labels.len(),
            detector.manifest.input.width,
            detector.manifest.input.height
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
    Ok(format!("{}: OK: {} camera(s) (decoders: {}), {model}", cfg.path.display(), cfg.cameras.len(), names.join(", ")))
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

/// Run until every camera's stream has ended (files that do not loop) or SIGINT/SIGTERM.
pub fn run(cfg: Config, opts: RunOptions) -> Result<()> {
    source::init()?;
    let mut detector = load_detector(&cfg)?;
    let decoders = choose_decoders(&cfg)?;
    let run_started = std::time::Instant::now();
    let labels = Arc::new(detector.labels.clone());
    // Created before anything starts, so a path that cannot be written is refused at once.
    let mut recorder = match &opts.record_detections {
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
    let (iw, ih) = detector.input_size();
    let n = cfg.cameras.len();
    let stop = Arc::new(AtomicBool::new(false));
    let hub: Arc<Hub<Frame>> = Arc::new(Hub::new(n));
    let stats: Vec<Arc<CameraStats>> = (0..n).map(|_| Arc::new(CameraStats::default())).collect();
    let (outbox, outbox_start) = open_outbox(&cfg)?;
    let outbox = Arc::new(outbox);
    if !outbox.is_empty() {
        tracing::info!(path = %outbox.path().display(), waiting = outbox.len(), "outbox holds events from before: they are sent first");
    }
    // Evidence (src/evidence): rings, event clips, snapshots, retention; None when disabled.
    let evidence = crate::evidence::worker::Evidence::start(&cfg, Arc::clone(&labels), Arc::clone(&outbox))?;
    let snapshots = evidence.is_some();
    // Only QoS 0 messages (stats) go through this channel; events go through the outbox.
    let (out_tx, out_rx) = unbounded_channel::<Outgoing>();
    if let Some(ev) = &evidence {
        ev.serve_extracts(out_tx.clone(), Arc::clone(&outbox));
    }

    // Analytics, one thread per camera.
    let mut det_txs = Vec::with_capacity(n);
    let mut analytics_threads = Vec::with_capacity(n);
    for cam in &cfg.cameras {
        let (tx, rx) = std_mpsc::channel::<Detected>();
        det_txs.push(tx);
        let analytics = CameraAnalytics::new(cam, &cfg.tracker, Arc::clone(&labels));
        let outbox = Arc::clone(&outbox);
        let evidence = evidence.clone();
        analytics_threads.push(spawn(&format!("analytics-{}", cam.id.get_ref().0), move || {
            analytics_loop(analytics, rx, &outbox, evidence.as_deref())
        })?);
    }

    // The detector, shared by all cameras. Its heartbeat advances on every turn of its loop (at
    // least every 200 ms when idle), so a detector stuck inside inference stops it.
    let detector_beat = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let detector_thread = {
        let hub = Arc::clone(&hub);
        let beat = Arc::clone(&detector_beat);
        let stats = stats.clone();
        let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
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
                    Item::Frame(f) => match detector.detect(f.rgb(), f.stride, &f.letterbox, &mut dets) {
                        Ok(()) => {
                            stats[cam].frame_processed(detector.last_timings.inference_ms);
                            if let Some((rec, path)) = &mut recorder {
                                let size = (f.letterbox.src_w, f.letterbox.src_h);
                                let frame =
                                    FrameRecord::new(&ids[cam], f.time_s, f.wall, size, &dets, &detector.labels);
                                // A full disk should not stop the cameras: say so once, stop recording.
                                if let Err(e) = rec.frame(&frame) {
                                    tracing::error!(file = %path.display(), "recording detections stopped: {e}");
                                    recorder = None;
                                }
                            }
                            Detected::Frame {
                                time_s: f.time_s,
                                wall: f.wall,
                                detections: dets.clone(),
                                snap: snapshots
                                    .then(|| crate::evidence::snapshot::SnapFrame::new(f.rgb(), f.stride, &f.letterbox))
                                    .flatten(),
                            }
                        }
                        Err(e) => {
                            tracing::error!(camera = %ids[cam], "detection failed: {e:#}");
                            continue;
                        }
                    },
                    Item::EndOfStream => Detected::EndOfStream,
                };
                let _ = det_txs[cam].send(msg);
            }
        })?
    };

    // Sources, one thread per camera, restarted with backoff on failure.
    let mut source_threads = Vec::with_capacity(n);
    for (i, cam) in cfg.cameras.iter().enumerate() {
        let spec = SourceSpec {
            index: i,
            id: cam.id.get_ref().0.clone(),
            uri: cam.uri.to_gst_uri(&cfg.base_dir()),
            detect_fps: cam.detect_fps.0,
            realtime: cam.realtime,
            looping: cam.looping,
            is_file: cam.uri.is_file(),
            input_w: iw,
            input_h: ih,
            decoder: decoders[i].clone(),
            recorder: evidence.as_ref().and_then(|e| e.recorder(cam.id.get_ref().0.as_str())),
        };
        let (hub, stats, stop) = (Arc::clone(&hub), Arc::clone(&stats[i]), Arc::clone(&stop));
        source_threads.push(spawn(&format!("source-{}", spec.id), move || source_loop(&spec, &hub, &stats, &stop))?);
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let link = Arc::new(LinkStats::default());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let result = rt.block_on(async {
        let publisher = {
            let cfg = cfg.clone();
            let link = Arc::clone(&link);
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move { mqtt::run(&cfg, outbox, out_rx, link, shutdown_rx, Duration::from_secs(10)).await })
        };
        let stats_task = tokio::spawn(stats_loop(
            cfg.clone(),
            stats.clone(),
            Arc::clone(&link),
            Arc::clone(&outbox),
            outbox_start,
            out_tx.clone(),
        ));
        drop(out_tx);
        // Cameras, detector, outbox and the broker connection task are set up (the broker itself
        // may still be away: the outbox holds events until it is back).
        notify(&[sd_notify::NotifyState::Ready]);
        let watchdog = sd_notify::watchdog_enabled().map(|period| tokio::spawn(watchdog_loop(period, Arc::clone(&detector_beat))));

        // Wait for every camera's analytics to finish (end of all streams) or for a signal.
        let evidence_done = evidence.clone();
        let all_done = tokio::task::spawn_blocking(move || {
            for t in analytics_threads {
                let _ = t.join();
            }
            // Held `end` events get their clips (once the rings are finished) and are stored.
            if let Some(e) = evidence_done {
                e.close();
            }
        });
        tokio::pin!(all_done);
        tokio::select! {
            _ = &mut all_done => tracing::info!("all streams ended"),
            sig = shutdown_signal() => {
                tracing::info!("{sig}: shutting down");
                stop.store(true, Ordering::Relaxed);
                hub.close();
                let _ = all_done.await;
            }
        }
        notify(&[sd_notify::NotifyState::Stopping]);
        if let Some(w) = watchdog {
            w.abort();
        }
        stop.store(true, Ordering::Relaxed);
        hub.close();
        let _ = shutdown_tx.send(true);
        stats_task.abort();
        let _ = stats_task.await;
        let left = publisher.await.map_err(|e| anyhow!("publisher task failed: {e}"))??;
        if left > 0 {
            tracing::warn!(left, path = %outbox.path().display(), "events not delivered before exit: they stay in the outbox and are sent after the next start");
        }
        anyhow::Ok(())
    });
    for t in source_threads {
        let _ = t.join();
    }
    let _ = detector_thread.join();
    // One line per camera: what an operator (or a benchmark) wants to know after a run.
    let secs = run_started.elapsed().as_secs_f64();
    for (cam, s) in cfg.cameras.iter().zip(&stats) {
        let c = s.snapshot();
        let inf_ms =
            if c.frames_processed == 0 { 0.0 } else { c.inference_us as f64 / c.frames_processed as f64 / 1000.0 };
        tracing::info!(
            camera = %cam.id.get_ref().0,
            frames_in = c.frames_in,
            frames_processed = c.frames_processed,
            frames_dropped = c.frames_dropped,
            seconds = format!("{secs:.1}"),
            fps = format!("{:.2}", c.frames_processed as f64 / secs.max(1e-9)),
            inference_ms = format!("{inf_ms:.1}"),
            "run summary"
        );
    }
    result
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
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

fn analytics_loop(
    mut analytics: CameraAnalytics,
    rx: std_mpsc::Receiver<Detected>,
    outbox: &Outbox,
    evidence: Option<&crate::evidence::worker::Evidence>,
) {
    let mut events = Vec::new();
    // The channel closes when the detector stops (shutdown): end open tracks then as well.
    while let Ok(msg) = rx.recv() {
        match msg {
            Detected::Frame { time_s, wall, detections, snap } => {
                analytics.on_frame(time_s, wall, &detections, &mut events);
                // Evidence stores the events itself: with snapshots, and `end` once its clip is cut.
                if let Some(ev) = evidence {
                    ev.process(outbox, &mut events, snap.as_ref().map(|s| (s, detections.as_slice())));
                }
            }
            Detected::EndOfStream => break,
        }
        store(outbox, &mut events);
    }
    analytics.finish(&mut events);
    if let Some(ev) = evidence {
        ev.process(outbox, &mut events, None);
    }
    store(outbox, &mut events);
    tracing::info!(camera = %analytics.camera(), "analytics finished");
}

fn source_loop(spec: &SourceSpec, hub: &Arc<Hub<Frame>>, stats: &Arc<CameraStats>, stop: &AtomicBool) {
    let mut backoff = Duration::from_secs(1);
    // One clock for the camera's whole life, so times keep increasing across restarts and the
    // tracker's lost tracks expire on time.
    let clock = Arc::new(Mutex::new(StreamClock::default()));
    let uri = redact_uri(&spec.uri);
    loop {
        let started = std::time::Instant::now();
        match source::run(spec, hub, stats, &clock, stop) {
            Ok(Ended::EndOfStream) if spec.is_file => {
                tracing::info!(camera = %spec.id, "end of stream");
                hub.end_of_stream(spec.index);
                return;
            }
            Ok(Ended::EndOfStream) => {
                tracing::warn!(camera = %spec.id, uri = %uri, retry_in = ?backoff, "live stream ended; reconnecting");
                stats.restarted();
            }
            Ok(Ended::Stopped) => return,
            Err(e) => {
                tracing::error!(camera = %spec.id, uri = %uri, retry_in = ?backoff, "camera failed: {e:#}");
                stats.restarted();
            }
        }
        // A source that ran a good while before failing starts again from a short backoff.
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        // Sleep in short steps so shutdown is not delayed by a long backoff.
        let until = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        clock.lock().unwrap_or_else(|p| p.into_inner()).resume();
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
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
    out: UnboundedSender<Outgoing>,
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
            },
            outbox: OutboxReport {
                len: outbox.len(),
                max_events: outbox.max_events(),
                dropped: outbox.dropped(),
                moved_aside: start.moved_aside.as_ref().map(|p| p.display().to_string()),
            },
            cameras: rates.report(&cams),
            evidence: crate::evidence::report(),
        };
        let payload = serde_json::to_string(&payload).unwrap_or_default();
        let msg = Outgoing { subtopic: "stats".into(), payload: payload.into_bytes(), qos: 0, retain: false };
        if out.send(msg).is_err() {
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

/// Ping systemd's watchdog at half its period, but only while the detector makes progress: a
/// wedged detector stops the pings and systemd restarts the process. The pings come from the
/// tokio runtime, so a wedged runtime (publisher, stats) stops them too.
async fn watchdog_loop(period: Duration, detector_beat: Arc<std::sync::atomic::AtomicU64>) {
    let mut tick = tokio::time::interval(period / 2);
    let mut last = detector_beat.load(Ordering::Relaxed);
    tracing::info!(period = ?period, "systemd watchdog enabled");
    loop {
        tick.tick().await;
        let now = detector_beat.load(Ordering::Relaxed);
        if now != last {
            notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!("the detector made no progress for {:?}: not pinging the watchdog", period / 2);
        }
        last = now;
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "interrupt"
        }
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
