//! The evidence worker: holds each `end` event until the ring has its post-roll, cuts the
//! event's clip, and only then stores the `end` (with `clip`) in the outbox; retention runs on a
//! thread of its own.
//!
//! Why the `end` waits: the station is alerted by the `start` (never delayed); the `end` is the
//! event's record, and one message naming its clip is simpler to consume than a second one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use super::EvidenceConfig;
use super::clip::{self, ClipInfo};
use super::extract::ExtractConfig;
use super::overlay::Scene;
use super::recorder::RingRecorder;
use super::retention::{EvidenceReport, Extracts, Retention};
use super::ring::{self, Ring};
use super::snapshot::{self, SnapFrame};
use crate::detect::Detection;
use crate::detect::manifest::LabelMap;
use crate::event::{Event, Phase};
use crate::publish::outbox::{Outbox, Record};
use crate::publish::snapshots::{LatestSnapshot, SnapshotBoard, SnapshotFeed};

struct Job {
    event: Event,
    snapshot: Option<String>,
    start_ms: i64,
    end_ms: i64,
}

/// What the evidence of all cameras is made from (`crate::config::Config::evidence_setup`).
#[derive(Debug, Clone)]
pub struct EvidenceSetup {
    pub evidence: EvidenceConfig,
    pub extract: ExtractConfig,
    /// The daemon's data directory: rings, event evidence and extracts live under it.
    pub data_dir: PathBuf,
    /// Each camera's id and what its snapshots draw of its set-up.
    pub cameras: Vec<(String, Scene)>,
}

/// The evidence of all cameras: rings, the worker and its report.
pub struct Evidence {
    cfg: EvidenceConfig,
    data_dir: PathBuf,
    rings: HashMap<String, Arc<Ring>>,
    tx: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Retention's thread, and what stops it (dropped).
    retention: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    /// The latest retention report (how full the ring and event evidence are), for `stats`.
    report: Arc<Mutex<Option<EvidenceReport>>>,
    /// Start times (wall ms) of open events.
    starts: Mutex<HashMap<String, i64>>,
    /// Starts whose frame came without its picture (the camera's analytics were behind), by
    /// event id: they get a snapshot of the next picture within [`OWED_MAX_MS`].
    owed: Mutex<HashMap<String, Event>>,
    /// Whether [`OWED_MAX`] was reached (said once).
    owed_full: std::sync::atomic::AtomicBool,
    /// What each camera's snapshots draw of its set-up.
    scenes: HashMap<String, Scene>,
    labels: Arc<LabelMap>,
    font: Option<ab_glyph::FontVec>,
    /// Each camera's newest snapshot, for `<camera>/snapshot`; None unless `publish_snapshots`.
    snapshots: Option<SnapshotBoard>,
}

/// How long after its start an event still gets a snapshot from a later picture, when its own
/// frame came without one: later, the picture would not show what happened.
pub const OWED_MAX_MS: i64 = 2_000;

/// Starts owed a snapshot at once, at most (a camera whose pictures stay away that long is
/// stuck, and its owed starts are forgotten).
const OWED_MAX: usize = 256;

pub use crate::event::ts_ms;

/// An event with its evidence, as published.
#[derive(Serialize)]
struct WithEvidence<'a> {
    #[serde(flatten)]
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clip: Option<&'a ClipInfo>,
}

pub fn record(e: &Event, snapshot: Option<&str>, clip: Option<&ClipInfo>) -> Record {
    Record {
        id: e.id.clone(),
        camera: e.camera.clone(),
        subtopic: format!("{}/events", e.camera),
        // Serialising plain strings and numbers cannot fail.
        payload: serde_json::to_vec(&WithEvidence { event: e, snapshot, clip }).unwrap_or_default(),
        qos: 1,
        retain: false,
    }
}

impl Evidence {
    /// Open every camera's ring and start the worker; None when `[evidence]` is disabled.
    pub fn start(setup: EvidenceSetup, labels: Arc<LabelMap>, outbox: Arc<Outbox>) -> Result<Option<Arc<Self>>> {
        let cfg = &setup.evidence;
        if !cfg.enabled {
            return Ok(None);
        }
        let data_dir = &setup.data_dir;
        let cameras: Vec<String> = setup.cameras.iter().map(|(id, _)| id.clone()).collect();
        let mut rings = HashMap::new();
        for cam in &cameras {
            let r = Ring::open(&super::ring_dir(data_dir, cam), cam)?;
            let ev = super::events_dir(data_dir, cam);
            std::fs::create_dir_all(&ev).with_context(|| format!("camera {cam}: cannot create {}", ev.display()))?;
            rings.insert(cam.clone(), Arc::new(r));
        }
        let (tx, rx) = channel();
        let report = Arc::new(Mutex::new(None));
        let events_dirs: Vec<PathBuf> = cameras.iter().map(|c| super::events_dir(data_dir, c)).collect();
        let extract_dirs: Vec<PathBuf> = cameras.iter().map(|c| super::extract::extract_dir(data_dir, c)).collect();
        let ring_dirs = cameras.iter().map(|c| super::ring_dir(data_dir, c));
        let all: Vec<PathBuf> = events_dirs.iter().chain(&extract_dirs).cloned().chain(ring_dirs).collect();
        super::retention::remove_leftovers(&all);
        let x = &setup.extract;
        let retention = Retention::new(
            cfg,
            data_dir,
            cameras.iter().filter_map(|c| rings.get(c).cloned()).collect(),
            events_dirs,
            Extracts { dirs: extract_dirs, max_bytes: x.max_mb << 20, max_age_ms: i64::from(x.max_age_h) * 3_600_000 },
        );
        let (retention_stop, stop_rx) = channel::<()>();
        let retention_thread = {
            let report = Arc::clone(&report);
            std::thread::Builder::new()
                .name("retention".into())
                .spawn(move || retain(retention, &stop_rx, &report))
                .context("cannot start the retention thread")?
        };
        let thread = {
            let (cfg, data_dir, rings) = (cfg.clone(), data_dir.to_path_buf(), rings.clone());
            std::thread::Builder::new()
                .name("evidence".into())
                .spawn(move || worker(&cfg, &data_dir, &rings, &outbox, rx))
                .context("cannot start the evidence thread")?
        };
        Ok(Some(Arc::new(Self {
            cfg: cfg.clone(),
            data_dir: data_dir.to_path_buf(),
            rings,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            retention: Mutex::new(Some((retention_stop, retention_thread))),
            report,
            starts: Mutex::new(HashMap::new()),
            owed: Mutex::new(HashMap::new()),
            owed_full: std::sync::atomic::AtomicBool::new(false),
            scenes: setup.cameras.into_iter().collect(),
            labels,
            font: super::draw::load_font(),
            snapshots: cfg
                .publish_snapshots
                .then(|| SnapshotBoard::new(Duration::from_secs(u64::from(cfg.snapshot_min_interval_s)))),
        })))
    }

    /// Answer extraction requests (`cmd/extract`) from `requests` on threads of their own, judged
    /// by `gate` (its cameras are set here: those with a ring); replies, signed with `key`, and
    /// chunks go out through `out`.
    pub fn serve_extracts(
        &self,
        requests: tokio::sync::mpsc::Receiver<Vec<u8>>,
        out: tokio::sync::mpsc::Sender<crate::publish::Outgoing>,
        mut gate: super::extract::Gate,
        key: Arc<ed25519_dalek::SigningKey>,
        outbox: Arc<Outbox>,
    ) {
        let rings: Vec<Arc<Ring>> = self.rings.values().cloned().collect();
        gate.cameras = rings.iter().map(|r| r.camera.clone()).collect();
        let service = super::extract::Service { gate, key, rings, data_dir: self.data_dir.clone(), outbox };
        let spawned = std::thread::Builder::new()
            .name("extract".into())
            .spawn(move || super::extract::serve(requests, out, service));
        if let Err(e) = spawned {
            tracing::error!("cannot start the extraction thread: {e}");
        }
    }

    /// A recorder for the camera's ring.
    pub fn recorder(&self, camera: &str) -> Option<Arc<RingRecorder>> {
        self.rings.get(camera).map(|r| Arc::new(RingRecorder::new(Arc::clone(r), self.cfg.segment_s)))
    }

    /// The latest retention report, None before retention's first pass.
    pub fn report(&self) -> Option<EvidenceReport> {
        self.report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Each camera's newest snapshot, for the MQTT task; None unless `publish_snapshots`.
    /// Whether `camera`'s newest snapshot is published (snapshots on, and the camera had a ring
    /// from the start).
    pub fn publishes_snapshots_of(&self, camera: &str) -> bool {
        self.snapshots.is_some() && self.scenes.contains_key(camera)
    }

    pub fn snapshot_feed(&self) -> Option<SnapshotFeed> {
        self.snapshots.as_ref().map(SnapshotBoard::feed)
    }

    /// `e`'s snapshot, just written to disk as `jpeg` (the file the event names, `rel`), is its
    /// camera's newest: offer it for publishing.
    fn offer_snapshot(&self, e: &Event, jpeg: Vec<u8>, rel: String) {
        if let Some(board) = &self.snapshots {
            board.set(
                &e.camera,
                LatestSnapshot { event_id: e.event_id.clone(), ts: e.ts.clone(), file: rel, jpeg: Arc::new(jpeg) },
            );
        }
    }

    /// Store `events` of `camera`: a `start` with its snapshot drawn on the frame (at wall time
    /// `wall`) that `frame` builds, with `dets` drawn on it; an `end` that will get a clip is
    /// handed to the worker, which stores it once the clip is cut.
    ///
    /// `frame` is called at most once, and only when an event gets a snapshot: copying the
    /// frame out of its buffer costs on every detected frame otherwise. When it has no picture
    /// (dropped while the camera's analytics were behind), a `start` is stored at once without
    /// one, and its snapshot is drawn on the camera's next picture within [`OWED_MAX_MS`]; its
    /// `end` names it.
    pub fn process(
        &self,
        outbox: &Outbox,
        camera: &str,
        events: &mut Vec<Event>,
        dets: &[Detection],
        wall: SystemTime,
        frame: impl FnOnce() -> Option<SnapFrame>,
    ) {
        let frame = std::cell::LazyCell::new(frame);
        let now_ms = ring::ms(wall);
        // Locks are taken only around their own maps, never while a picture is drawn, encoded
        // and synced: one camera's snapshot never holds up another camera's analytics.
        let starts = || self.starts.lock().unwrap_or_else(|p| p.into_inner());
        let owed = || self.owed.lock().unwrap_or_else(|p| p.into_inner());
        let mut new_snaps = Vec::new();
        // What the camera owes from before goes first: its starts are older than this frame's.
        self.pay_owed(camera, now_ms, dets, &frame, &mut new_snaps);
        for e in events.drain(..) {
            let at = ts_ms(&e.ts).unwrap_or(now_ms);
            let snap_path = snapshot::path(&super::events_dir(&self.data_dir, &e.camera), &e.event_id);
            let mut snap = None;
            // Only a `start` gets a snapshot: the frame is built here, on the first one.
            if wants_snapshot(&e) && self.scenes.contains_key(&e.camera) {
                match &*frame {
                    Some(f) => snap = self.snapshot(f, &e, dets, None, &snap_path, &mut new_snaps),
                    None => {
                        let mut owed = owed();
                        if owed.len() < OWED_MAX {
                            owed.insert(e.event_id.clone(), e.clone());
                        } else if !self.owed_full.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            tracing::warn!(camera = %e.camera, "{OWED_MAX} snapshots owed: more starts go without one");
                        }
                    }
                }
            } else {
                // An end that comes before a picture did: nothing would name a later snapshot.
                if e.phase == Phase::End {
                    owed().remove(&e.event_id);
                }
                if snap_path.is_file() {
                    snap = Some(self.rel(&snap_path));
                }
            }
            match e.phase {
                // Moments (line crossings) have no end: nothing to remember.
                Phase::Start if e.kind() != "line_cross" => {
                    starts().insert(e.event_id.clone(), at);
                }
                Phase::End => {
                    let start_ms = starts().remove(&e.event_id).unwrap_or(at);
                    let recording = self.rings.get(&e.camera).is_some_and(|r| r.is_recording());
                    let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
                    if recording && let Some(tx) = tx.as_ref() {
                        let job = Job { event: e, snapshot: snap, start_ms, end_ms: at };
                        if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
                            push(outbox, &job.event, job.snapshot.as_deref(), None);
                        }
                        continue;
                    }
                }
                _ => {}
            }
            push(outbox, &e, snap.as_deref(), None);
        }
        // Only once their starts are in the outbox: a picture never goes out before its event.
        for (e, jpeg, rel) in new_snaps {
            self.offer_snapshot(&e, jpeg, rel);
        }
    }

    /// Draws the snapshots `camera` owes on this picture, if there is one; forgets every
    /// camera's that are owed for longer than [`OWED_MAX_MS`] (a camera removed by a reload
    /// never pays its own).
    fn pay_owed(
        &self,
        camera: &str,
        now_ms: i64,
        dets: &[Detection],
        frame: &std::cell::LazyCell<Option<SnapFrame>, impl FnOnce() -> Option<SnapFrame>>,
        new_snaps: &mut Vec<(Event, Vec<u8>, String)>,
    ) {
        let due: Vec<Event> = {
            let mut owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
            if owed.is_empty() {
                return;
            }
            let late = |e: &Event| now_ms - ts_ms(&e.ts).unwrap_or(now_ms);
            owed.retain(|_, e| late(e) <= OWED_MAX_MS);
            if !owed.values().any(|e| e.camera == camera) || frame.is_none() {
                return;
            }
            let ids: Vec<String> = owed.iter().filter(|(_, e)| e.camera == camera).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| owed.remove(id)).collect()
        };
        if let Some(f) = &**frame {
            for e in due {
                let late = now_ms - ts_ms(&e.ts).unwrap_or(now_ms);
                let path = snapshot::path(&super::events_dir(&self.data_dir, &e.camera), &e.event_id);
                self.snapshot(f, &e, dets, Some(late), &path, new_snaps);
            }
        }
    }

    /// Draws and writes `e`'s snapshot on `f` (`late_ms` after the event, if not its own
    /// frame) to `path`; returns the name the event gives it.
    fn snapshot(
        &self,
        f: &SnapFrame,
        e: &Event,
        dets: &[Detection],
        late_ms: Option<i64>,
        path: &Path,
        new_snaps: &mut Vec<(Event, Vec<u8>, String)>,
    ) -> Option<String> {
        let scene = self.scenes.get(&e.camera)?;
        let img = snapshot::render(f, e, scene, dets, &self.labels, self.font.as_ref(), late_ms);
        match snapshot::write_jpeg(&img, path) {
            Ok(jpeg) => {
                if self.snapshots.is_some() {
                    new_snaps.push((e.clone(), jpeg, self.rel(path)));
                }
                Some(self.rel(path))
            }
            Err(err) => {
                tracing::warn!(camera = %e.camera, event_id = %e.event_id, "no snapshot: {err:#}");
                None
            }
        }
    }

    /// A path under the data directory as events name it.
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.data_dir).unwrap_or(p).to_string_lossy().to_string()
    }

    /// No more events: let the worker cut what it holds (waiting for the rings to finish) and stop.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        // Last: a final pass once every clip is cut.
        if let Some((stop, t)) = self.retention.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(stop);
            let _ = t.join();
        }
    }
}

/// Whether `e` gets a snapshot of the frame it happened on.
fn wants_snapshot(e: &Event) -> bool {
    e.phase == Phase::Start
}

fn worker(
    cfg: &EvidenceConfig,
    data_dir: &Path,
    rings: &HashMap<String, Arc<Ring>>,
    outbox: &Outbox,
    rx: Receiver<Job>,
) {
    for job in rx {
        handle(cfg, data_dir, rings, outbox, job);
    }
}

/// Apply retention every 2 s until `stop` is dropped, then once more (every clip is cut then).
fn retain(mut retention: Retention, stop: &Receiver<()>, report: &Mutex<Option<EvidenceReport>>) {
    let mut pass = || {
        let r = retention.run(ring::ms(SystemTime::now()));
        *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    loop {
        pass();
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(Duration::from_secs(2)) {
            break;
        }
    }
    pass();
}

fn handle(cfg: &EvidenceConfig, data_dir: &Path, rings: &HashMap<String, Arc<Ring>>, outbox: &Outbox, job: Job) {
    let e = &job.event;
    let clip = rings.get(&e.camera).and_then(|ring| {
        let from = job.start_ms - i64::from(cfg.pre_roll_s) * 1000;
        let whole = job.end_ms + i64::from(cfg.post_roll_s) * 1000;
        let to = whole.min(from + clip::MAX_CLIP_S * 1000);
        let wait = clip::COVER_TIMEOUT + Duration::from_secs(u64::from(cfg.segment_s + cfg.post_roll_s));
        if !ring.wait_cover(to, wait) {
            tracing::warn!(camera = %e.camera, event_id = %e.event_id, "the ring did not reach the clip's end in time: cutting what there is");
        }
        let segs = ring::covering(&ring.segments(), from, to);
        let out = clip::event_clip_path(&super::events_dir(data_dir, &e.camera), &e.event_id);
        match clip::cut(&segs, &ring.dir, from, to, &out, data_dir) {
            Ok(mut c) => {
                c.capped = to < whole;
                tracing::info!(camera = %e.camera, event_id = %e.event_id, file = %c.file, duration_s = c.duration_s, bytes = c.bytes, "event clip");
                Some(c)
            }
            Err(err) => {
                tracing::warn!(camera = %e.camera, event_id = %e.event_id, "no clip for this event: {err:#}");
                None
            }
        }
    });
    push(outbox, e, job.snapshot.as_deref(), clip.as_ref());
}

fn push(outbox: &Outbox, e: &Event, snapshot: Option<&str>, clip: Option<&ClipInfo>) {
    match outbox.push(&record(e, snapshot, clip)) {
        // The tests read this line as the daemon's own record of what it produced.
        Ok(_) => tracing::debug!(camera = %e.camera, id = %e.id, "event stored"),
        Err(err) => tracing::error!(camera = %e.camera, id = %e.id, "event lost: cannot store it in the outbox: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::config::Config;
    use crate::detect::letterbox::Letterbox;
    use crate::detect::manifest::Groups;
    use crate::event::Body;

    fn event(phase: Phase, event_id: &str, body: Body) -> Event {
        Event {
            id: crate::event::new_id(),
            event_id: event_id.into(),
            phase,
            camera: "cam1".into(),
            ts: "2026-11-28T12:00:00.000Z".into(),
            body,
        }
    }

    /// The events' time (2026-11-28T12:00:00Z) plus `ms`.
    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_867_200_000 + ms)
    }

    fn object(phase: Phase, event_id: &str) -> Event {
        let bbox = [10.0, 10.0, 50.0, 90.0];
        let seen = "2026-11-28T12:00:00.000Z".to_string();
        event(
            phase,
            event_id,
            Body::Object {
                label: "person".into(),
                track_id: 1,
                first_seen: seen.clone(),
                last_seen: seen,
                best_score: 0.9,
                bbox,
            },
        )
    }

    /// Evidence on for one camera under `dir`, and an outbox there.
    fn evidence(dir: &Path) -> (Arc<Evidence>, Arc<Outbox>) {
        let text = format!(
            "site = \"s\"\ndevice = \"d\"\ndata_dir = \"{}\"\n[model]\nmanifest = \"m.toml\"\n[evidence]\nenabled = true\n\
             [[cameras]]\nid = \"cam1\"\nuri = \"rtsp://h/s\"\n",
            dir.display()
        );
        let cfg = Config::from_str(&dir.join("anttd.toml"), &text).expect("config");
        let groups = Groups { person: vec!["person".into()], vehicle: vec![], motorcycle: vec![] };
        let labels = Arc::new(LabelMap::new(vec!["person".into()], &groups).expect("labels"));
        let outbox = Arc::new(Outbox::open(&dir.join("outbox.sqlite"), 100).expect("outbox"));
        let ev = Evidence::start(cfg.evidence_setup(), labels, Arc::clone(&outbox)).expect("start").expect("enabled");
        (ev, outbox)
    }

    fn snap_frame() -> SnapFrame {
        let lb = Letterbox::new(128, 96, 64, 64);
        SnapFrame { image: Arc::new(image::RgbImage::new(lb.fit_w, lb.fit_h)), letterbox: lb }
    }

    /// (event_id, type, snapshot) of every stored record.
    fn stored(outbox: &Outbox) -> Vec<(String, String, Option<String>)> {
        let batch = outbox.next_batch(0, 100).expect("outbox");
        batch
            .iter()
            .map(|s| {
                let v: serde_json::Value = serde_json::from_slice(&s.record.payload).expect("json");
                let f = |k: &str| v[k].as_str().map(String::from);
                (f("event_id").unwrap_or_default(), f("type").unwrap_or_default(), f("snapshot"))
            })
            .collect()
    }

    #[test]
    fn the_frame_is_built_once_and_only_for_a_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ev, outbox) = evidence(dir.path());
        let built = Cell::new(0);
        let frame = || {
            built.set(built.get() + 1);
            Some(snap_frame())
        };

        // No start: the frame is never built (the ring does not record, so the end is stored now).
        let mut events = vec![object(Phase::End, "e0")];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), frame);
        assert_eq!(built.get(), 0);
        assert!(events.is_empty());

        // Two starts on one frame: built once, both drawn on it.
        let crossing =
            Body::LineCross { line: "gate".into(), direction: "in".into(), label: "person".into(), track_id: 1 };
        let mut events = vec![object(Phase::Start, "e1"), event(Phase::Start, "e2", crossing)];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), frame);
        assert_eq!(built.get(), 1);

        // A start without a frame to draw on is stored without a snapshot.
        let mut events = vec![object(Phase::Start, "e3")];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), || None);
        ev.close();

        let got = stored(&outbox);
        let snap = |id: &str| Some(format!("evidence/cam1/events/{id}.jpg"));
        assert_eq!(
            got,
            vec![
                ("e0".into(), "end".into(), None),
                ("e1".into(), "start".into(), snap("e1")),
                ("e2".into(), "start".into(), snap("e2")),
                ("e3".into(), "start".into(), None),
            ]
        );
        for id in ["e1", "e2"] {
            let jpg = super::super::events_dir(dir.path(), "cam1").join(format!("{id}.jpg"));
            let img = image::open(&jpg).expect("snapshot is a JPEG");
            // Scaled back to the source's size.
            assert_eq!((img.width(), img.height()), (128, 96));
        }
    }

    #[test]
    fn a_start_whose_picture_was_dropped_gets_the_next_one_and_its_end_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ev, outbox) = evidence(dir.path());
        // Both starts come on a frame without its picture: stored at once, without a snapshot.
        let mut events = vec![object(Phase::Start, "soon"), object(Phase::Start, "other")];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), || None);
        // The next frame without events but with a picture, 400 ms later: both are drawn on it.
        ev.process(&outbox, "cam1", &mut Vec::new(), &[], at(400), || Some(snap_frame()));
        let mut events = vec![object(Phase::End, "soon")];
        ev.process(&outbox, "cam1", &mut events, &[], at(600), || None);
        ev.close();

        let got = stored(&outbox);
        let snap = Some("evidence/cam1/events/soon.jpg".to_string());
        assert_eq!(
            got,
            vec![
                ("soon".into(), "start".into(), None),
                ("other".into(), "start".into(), None),
                ("soon".into(), "end".into(), snap),
            ]
        );
        for id in ["soon", "other"] {
            let jpg = super::super::events_dir(dir.path(), "cam1").join(format!("{id}.jpg"));
            assert!(image::open(&jpg).is_ok(), "{id}: the late snapshot is a JPEG");
        }
        assert!(ev.owed.lock().map(|o| o.is_empty()).unwrap_or(false), "nothing owed any more");
    }

    #[test]
    fn a_picture_too_late_pays_no_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ev, outbox) = evidence(dir.path());
        let mut events = vec![object(Phase::Start, "e1")];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), || None);
        let late = OWED_MAX_MS as u64 + 100;
        ev.process(&outbox, "cam1", &mut Vec::new(), &[], at(late), || Some(snap_frame()));
        let mut events = vec![object(Phase::End, "e1")];
        ev.process(&outbox, "cam1", &mut events, &[], at(late + 100), || Some(snap_frame()));
        ev.close();
        let got = stored(&outbox);
        assert_eq!(got, vec![("e1".into(), "start".into(), None), ("e1".into(), "end".into(), None)]);
        assert!(!super::super::events_dir(dir.path(), "cam1").join("e1.jpg").exists());
    }

    #[test]
    fn an_end_before_any_picture_forgets_the_owed_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ev, outbox) = evidence(dir.path());
        let mut events = vec![object(Phase::Start, "e1")];
        ev.process(&outbox, "cam1", &mut events, &[], at(0), || None);
        let mut events = vec![object(Phase::End, "e1")];
        ev.process(&outbox, "cam1", &mut events, &[], at(200), || None);
        // A picture after the end: nothing would name a snapshot drawn now.
        ev.process(&outbox, "cam1", &mut Vec::new(), &[], at(400), || Some(snap_frame()));
        ev.close();
        assert_eq!(stored(&outbox), vec![("e1".into(), "start".into(), None), ("e1".into(), "end".into(), None)]);
        assert!(!super::super::events_dir(dir.path(), "cam1").join("e1.jpg").exists());
    }
}
