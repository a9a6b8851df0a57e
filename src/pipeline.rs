//! The cameras of one configuration, running: a source thread per camera feeding the hub, the
//! detector serving the cameras in fair turns, and an analytics thread per camera (tracker,
//! rules, events into the outbox, evidence).
//!
//! This is the one pipeline: `anttd run` runs it (and starts it again on a reload), and
//! `anttd bench` runs it too, watching it through a [`Probe`]: stage timings, inference counts,
//! pauses for raw inference runs and a frame limit, without a say over what flows through it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
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
use crate::source::{Carrying, Decoded, Frame, Lane, SourceSpec, supervise};
use crate::track::follow::Follower;

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
    /// The tracker and rules ran on a detected frame and raised `events` (before they are stored).
    fn analysed(&mut self, _analytics: &CameraAnalytics, _events: &[Event]) {}
    /// Boxes were carried onto a decoded frame the detector did not run on (`carry_fps`), the
    /// carrier taking `carrier`; the tracker and rules ran on it and raised `events`.
    fn carried(&mut self, _analytics: &CameraAnalytics, _carrier: Duration, _events: &[Event]) {}
    /// The frame's events were stored in `took`; the frame had arrived from the decoder at `arrived`.
    fn stored(&mut self, _took: Duration, _arrived: Instant) {}
    /// The stream ended: the events that closed what was open.
    fn finished(&mut self, _events: &[Event]) {}
}

/// The probe that watches nothing.
pub struct NoProbe;
impl Probe for NoProbe {}
impl CameraProbe for NoProbe {}

/// What reaches a camera's analytics thread: the detector's results and, from a camera whose
/// boxes are carried between detections, its decoded frames.
enum Detected {
    /// What the detector found on frame `seq` ([`Frame::seq`]).
    Frame(u64, Found),
    /// A carrying camera's decoded frame ([`Lane::decoded`]).
    Decoded(Decoded),
    /// Frame `seq` went to the detector but will not come back detected: replaced by a newer
    /// one before the detector took it, or its detection failed.
    Undetected(u64),
    EndOfStream,
}

/// A carrying camera's decoded frames, on their way to its analytics thread. From a live
/// source at most [`MAX_DECODED_WAITING`] wait there (the thread is behind, or waits for a slow
/// detector): past it frames that will not be detected are let go, and boxes are carried
/// across the gap. A file played as fast as the detector takes frames loses none (its source
/// waits for the detector every few frames, as without carrying).
#[derive(Debug)]
struct CameraLane {
    tx: std_mpsc::Sender<Detected>,
    waiting: Arc<AtomicU64>,
    stats: Arc<CameraStats>,
    live: bool,
}

/// Decoded frames of a live camera that may wait for its analytics thread: 2 s at 15 a second,
/// 230 kB each for a grey 640x360 picture, 2 MB for a 1080p camera's full size with motion regions
/// on (its far, small road users are what regions are for, and at 640 px the carrier loses them).
const MAX_DECODED_WAITING: u64 = 30;

impl Lane for CameraLane {
    fn decoded(&self, frame: Decoded) {
        if self.live && !frame.detect && self.waiting.load(Ordering::Relaxed) >= MAX_DECODED_WAITING {
            self.stats.carry_dropped();
            return;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Detected::Decoded(frame));
    }

    fn undetected(&self, seq: u64) {
        let _ = self.tx.send(Detected::Undetected(seq));
    }
}

/// What the detector found on a frame.
struct Found {
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
}

/// Puts a carrying camera's decoded frames and the detector's results in stream order: a
/// decoded frame that went to the detector waits for its result, or for word that none comes.
struct InOrder<R> {
    decoded: VecDeque<Decoded>,
    results: VecDeque<(u64, R)>,
    undetected: Vec<u64>,
}

impl<R> Default for InOrder<R> {
    fn default() -> Self {
        Self { decoded: VecDeque::new(), results: VecDeque::new(), undetected: Vec::new() }
    }
}

/// A decoded frame whose turn it is.
enum Turn<R> {
    /// Not detected: boxes are carried onto it alone.
    Carried(Decoded),
    Detected(Decoded, R),
}

impl<R> InOrder<R> {
    fn decoded(&mut self, d: Decoded) {
        self.decoded.push_back(d);
    }

    fn result(&mut self, seq: u64, r: R) {
        self.results.push_back((seq, r));
    }

    fn undetected(&mut self, seq: u64) {
        self.undetected.push(seq);
    }

    /// The next frame whose turn it is, if it can be told yet.
    fn next(&mut self) -> Option<Turn<R>> {
        let seq = {
            let front = self.decoded.front()?;
            if !front.detect {
                return self.decoded.pop_front().map(Turn::Carried);
            }
            front.seq
        };
        // A result for a frame already passed (it cannot be placed) is let go.
        while self.results.front().is_some_and(|r| r.0 < seq) {
            self.results.pop_front();
        }
        if self.results.front().is_some_and(|r| r.0 == seq) {
            let (d, (_, r)) = (self.decoded.pop_front()?, self.results.pop_front()?);
            return Some(Turn::Detected(d, r));
        }
        // Word that it will not be detected, or a later frame's result (results come in order).
        let gone = self.undetected.iter().position(|&u| u == seq);
        if gone.is_some() || !self.results.is_empty() {
            if let Some(k) = gone {
                self.undetected.swap_remove(k);
            }
            self.undetected.retain(|&u| u > seq);
            return self.decoded.pop_front().map(Turn::Carried);
        }
        None
    }

    /// The stream ended: what still waits, each as if not detected (its result can no longer
    /// come), and results whose frame never came.
    fn drain(&mut self) -> (Vec<Turn<R>>, Vec<R>) {
        let mut turns = Vec::new();
        while let Some(t) = self.next() {
            turns.push(t);
        }
        turns.extend(self.decoded.drain(..).map(Turn::Carried));
        (turns, self.results.drain(..).map(|r| r.1).collect())
    }
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
    detector: JoinHandle<Detector>,
    /// Where every camera's analytics thread records the frames it analysed
    /// (`--record-detections`), handed back by [`CameraSet::stop`].
    recorder: Arc<Mutex<RecorderSlot>>,
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
        recorder: RecorderSlot,
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
        let recorder = Arc::new(Mutex::new(recorder));
        let mut lanes: Vec<Option<Carrying>> = Vec::with_capacity(n);

        // Analytics, one thread per camera.
        let mut det_txs = Vec::with_capacity(n);
        let mut analytics_threads = Vec::with_capacity(n);
        // Detection buffers travel to the analytics threads and come back empty (no per-frame allocation).
        let (spare_tx, spare_rx) = std_mpsc::channel::<Vec<Detection>>();
        for (i, cam) in cfg.cameras.iter().enumerate() {
            let (tx, rx) = std_mpsc::channel::<Detected>();
            let waiting = Arc::new(AtomicU64::new(0));
            lanes.push(cam.carry_fps.as_ref().map(|fps| Carrying {
                fps: fps.get_ref().0,
                lane: Arc::new(CameraLane {
                    tx: tx.clone(),
                    waiting: Arc::clone(&waiting),
                    stats: Arc::clone(&stats[i]),
                    live: crate::source::is_live(cam.uri.is_file(), cam.realtime),
                }),
            }));
            det_txs.push(tx);
            let work = CameraWork {
                analytics: CameraAnalytics::new(cam, &cfg.tracker, Arc::clone(&labels)),
                carrying: cam.carry_fps.is_some(),
                follower: Follower::new(),
                order: InOrder::default(),
                waiting,
                events: Vec::new(),
                outbox: Arc::clone(&shared.outbox),
                spare: spare_tx.clone(),
                evidence: shared.evidence.clone(),
                stats: Arc::clone(&stats[i]),
                probe: probe.camera(i),
                recorder: Arc::clone(&recorder),
                labels: Arc::clone(&labels),
            };
            let done = done.clone();
            analytics_threads.push(spawn(&format!("analytics-{}", cam.id.get_ref().0), move || {
                work.run(rx);
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
                            let _ = det_txs[cam].send(Detected::Undetected(f.seq));
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
                    let detections = std::mem::replace(&mut dets, spare_rx.try_recv().unwrap_or_default());
                    let (seq, time_s, wall, arrived) = (f.seq, f.time_s, f.wall, f.arrived);
                    let picture = (f.letterbox.src_w, f.letterbox.src_h);
                    // Detections always go (the tracker needs every one); the picture (~1 MB)
                    // only while few wait, so a slow camera cannot pile pictures up in memory.
                    let keep = stats[cam].queued(MAX_PICTURES_WAITING) && snapshots;
                    let frame = keep.then_some(f);
                    let _ = det_txs[cam]
                        .send(Detected::Frame(seq, Found { time_s, wall, arrived, picture, detections, frame }));
                    match probe.detected(&mut detector, cam, ran) {
                        Ok(true) => {}
                        Ok(false) => {
                            stop.store(true, Ordering::Relaxed);
                            hub.close();
                        }
                        Err(e) => tracing::error!("probe: {e:#}"),
                    }
                }
                // Stopped: every analytics thread ends its camera's open tracks now, also one
                // whose channel a carrying source's lane still holds open.
                for tx in &det_txs {
                    let _ = tx.send(Detected::EndOfStream);
                }
                detector
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
            spec.carry = lanes[i].take();
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
            recorder,
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
        let detector = self.detector.join().map_err(|_| anyhow!("the detector thread panicked"))?;
        let recorder = std::mem::take(&mut *self.recorder.lock().unwrap_or_else(|p| p.into_inner()));
        Ok((detector, recorder))
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
        carry: None,
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

/// One camera's analytics thread: the tracker and rules on every frame it is given, in stream
/// order, its events into the outbox (through evidence when on), and the frames recorded.
struct CameraWork {
    analytics: CameraAnalytics,
    /// Whether boxes are carried onto the frames between detections (`carry_fps`), by `follower`.
    carrying: bool,
    follower: Follower,
    order: InOrder<Found>,
    /// Decoded frames sent by the camera's lane and not yet analysed ([`CameraLane`]).
    waiting: Arc<AtomicU64>,
    events: Vec<Event>,
    outbox: Arc<Outbox>,
    spare: std_mpsc::Sender<Vec<Detection>>,
    evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    stats: Arc<CameraStats>,
    probe: Box<dyn CameraProbe>,
    recorder: Arc<Mutex<RecorderSlot>>,
    labels: Arc<crate::detect::manifest::LabelMap>,
}

impl CameraWork {
    fn run(mut self, rx: std_mpsc::Receiver<Detected>) {
        // The channel closes when the detector stops (shutdown): end open tracks then as well.
        while let Ok(msg) = rx.recv() {
            match msg {
                Detected::Frame(seq, found) => {
                    if !self.carrying {
                        self.detected(None, found);
                    } else {
                        self.order.result(seq, found);
                    }
                }
                Detected::Decoded(d) => self.order.decoded(d),
                Detected::Undetected(seq) if self.carrying => self.order.undetected(seq),
                Detected::Undetected(_) => {}
                Detected::EndOfStream => break,
            }
            while let Some(turn) = self.order.next() {
                self.take_turn(turn);
            }
        }
        let (turns, orphans) = self.order.drain();
        for turn in turns {
            self.take_turn(turn);
        }
        for found in orphans {
            self.detected(None, found);
        }
        let events = &mut self.events;
        self.analytics.finish(events);
        self.probe.finished(events);
        if let Some(ev) = &self.evidence {
            ev.process(&self.outbox, self.analytics.camera(), events, &[], SystemTime::now(), || None);
        }
        store(&self.outbox, events);
        store_counts(&self.outbox, self.analytics.take_counts());
        tracing::info!(camera = %self.analytics.camera(), "analytics finished");
    }

    fn take_turn(&mut self, turn: Turn<Found>) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match turn {
            Turn::Detected(d, found) => self.detected(Some(d), found),
            Turn::Carried(d) => self.carried(d),
        }
    }

    /// A detected frame (`decoded`: its picture, when boxes are carried onto it).
    fn detected(&mut self, decoded: Option<Decoded>, found: Found) {
        let Found { time_s, wall, arrived, picture, mut detections, frame } = found;
        let carried = match &decoded {
            Some(d) => carry_onto(&mut self.follower, &self.analytics, &self.stats, d, Some(&detections)).0,
            None => &[],
        };
        let events = &mut self.events;
        self.analytics.on_frame_carried(time_s, wall, picture, &detections, carried, events);
        self.probe.analysed(&self.analytics, events);
        record(&self.recorder, || {
            let frame = FrameRecord::new(self.analytics.camera(), time_s, wall, picture, &detections, &self.labels);
            if self.carrying { frame.with_carried(carried) } else { frame }
        });
        // Evidence stores the events itself: with snapshots, and `end` once its clip is cut.
        // It decides which event gets a snapshot; only then is the frame copied.
        if let Some(ev) = &self.evidence {
            ev.process(&self.outbox, self.analytics.camera(), events, &detections, wall, || {
                frame.as_ref().and_then(|f| crate::evidence::snapshot::SnapFrame::new(f.picture(), &f.letterbox))
            });
        }
        detections.clear();
        let _ = self.spare.send(detections);
        self.stats.dequeued();
        self.store(Some(arrived));
    }

    /// A decoded frame the detector did not run on: the boxes of the frame before, carried onto it.
    fn carried(&mut self, d: Decoded) {
        let (boxes, took) = carry_onto(&mut self.follower, &self.analytics, &self.stats, &d, None);
        let events = &mut self.events;
        self.analytics.on_carried(d.time_s, d.wall, boxes, events);
        self.probe.carried(&self.analytics, took, events);
        record(&self.recorder, || FrameRecord::carried(self.analytics.camera(), d.time_s, d.wall, d.size, boxes));
        // No picture is kept of a carried frame: an event starting on one is owed its snapshot,
        // which evidence draws on the camera's next detected frame's picture.
        if let Some(ev) = &self.evidence {
            ev.process(&self.outbox, self.analytics.camera(), events, &[], d.wall, || None);
        }
        self.store(None);
    }

    /// Store the frame's events and closed counts; `arrived`: when a detected frame left the
    /// decoder (the probe's latency).
    fn store(&mut self, arrived: Option<Instant>) {
        let t = Instant::now();
        store(&self.outbox, &mut self.events);
        store_counts(&self.outbox, self.analytics.take_counts());
        if let Some(arrived) = arrived {
            self.probe.stored(t.elapsed(), arrived);
        }
    }
}

/// The boxes of the frame before carried onto decoded frame `d` (`detections`: the detector's,
/// when it ran on it), and the time the carrier took, counted in `stats`.
fn carry_onto<'f>(
    follower: &'f mut Follower,
    analytics: &CameraAnalytics,
    stats: &CameraStats,
    d: &Decoded,
    detections: Option<&[Detection]>,
) -> (&'f [(usize, crate::detect::BBox)], Duration) {
    let t = Instant::now();
    let pyramid = d.gray.as_ref().and_then(crate::track::carry::Gray::pyramid);
    let boxes = analytics.carry_onto(follower, d.time_s, pyramid, d.scale, detections);
    let took = t.elapsed();
    stats.carrier_ran(took.as_micros() as u64, detections.is_none());
    (boxes, took)
}

/// Record a frame when detections are recorded. A full disk should not stop the cameras: say
/// so once, and stop recording.
fn record(recorder: &Mutex<RecorderSlot>, frame: impl FnOnce() -> FrameRecord) {
    let mut slot = recorder.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((rec, path)) = slot.as_mut()
        && let Err(e) = rec.frame(&frame())
    {
        tracing::error!(file = %path.display(), "recording detections stopped: {e}");
        *slot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(seq: u64, detect: bool) -> Decoded {
        Decoded {
            seq,
            time_s: seq as f64 / 15.0,
            wall: SystemTime::UNIX_EPOCH,
            size: (64, 48),
            gray: None,
            scale: (1.0, 1.0),
            detect,
        }
    }

    /// The turns taken so far: frame number, and whether detected (with its result).
    fn turns(order: &mut InOrder<&'static str>) -> Vec<(u64, Option<&'static str>)> {
        std::iter::from_fn(|| order.next())
            .map(|t| match t {
                Turn::Carried(d) => (d.seq, None),
                Turn::Detected(d, r) => (d.seq, Some(r)),
            })
            .collect()
    }

    #[test]
    fn a_detected_frame_waits_for_its_result_and_holds_the_frames_after_it() {
        let mut o = InOrder::default();
        o.decoded(decoded(1, true));
        o.decoded(decoded(2, false));
        assert_eq!(turns(&mut o), vec![]);
        o.decoded(decoded(3, false));
        o.result(1, "one");
        assert_eq!(turns(&mut o), vec![(1, Some("one")), (2, None), (3, None)]);
    }

    #[test]
    fn a_frame_that_will_not_be_detected_is_carried_onto() {
        let mut o = InOrder::default();
        for k in 1..=4 {
            o.decoded(decoded(k, k % 2 == 1));
        }
        // Frame 1 was replaced in the hub: word of it, or a later result, lets it go on.
        o.undetected(1);
        assert_eq!(turns(&mut o), vec![(1, None), (2, None)]);
        o.decoded(decoded(5, true));
        o.result(5, "five");
        assert_eq!(turns(&mut o), vec![(3, None), (4, None), (5, Some("five"))]);
        assert!(o.undetected.is_empty());
    }

    #[test]
    fn at_the_end_what_waits_is_carried_onto_and_no_result_is_lost() {
        let mut o = InOrder::default();
        o.decoded(decoded(1, true));
        o.decoded(decoded(2, false));
        o.result(7, "seven");
        let (done, orphans) = o.drain();
        let seqs: Vec<(u64, bool)> = done
            .iter()
            .map(|t| match t {
                Turn::Carried(d) => (d.seq, false),
                Turn::Detected(d, _) => (d.seq, true),
            })
            .collect();
        assert_eq!(seqs, vec![(1, false), (2, false)]);
        assert_eq!(orphans, vec!["seven"]);
    }
}
