//! The daemon: wires sources, the shared detector, per-camera analytics and the publisher.
//!
//! Threads: one per camera source (GStreamer streaming threads feed its slot in the hub), one
//! detector serving the cameras in fair turns, one analytics thread per camera (tracker, rules,
//! events), and a small tokio runtime for MQTT, stats and signals.
//!
//! By job: [`check`] (and what `run` shares with it), [`cameras`] (the running camera set and
//! its threads), [`reload`] (SIGHUP), [`stats`] (the `stats` message), [`systemd`] (notify and
//! watchdog); here, `run` with its signals, the outbox and the publisher.

mod check;
mod reload;
mod stats;
mod systemd;

pub use check::{check, choose_decoders, load_detector};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc::{Sender, channel, unbounded_channel};

use crate::config::Config;
use crate::health::status::StatusBoard;
use crate::pipeline::{CameraSet, Links, NoProbe};
use crate::publish::Outgoing;
use crate::publish::commands;
use crate::publish::mqtt::{self, LinkStats};
use crate::publish::outbox::{self, Outbox, OutboxError};
use crate::replay::DetectionRecorder;
use crate::source::{self};
use check::PLAINTEXT_CREDENTIALS;
use reload::{apply_reload, prepare_reload};
use stats::stats_loop;
use systemd::{notify, watchdog_loop};

/// What became of the outbox file at start: normally nothing; a corrupt one is moved aside.
#[derive(Debug, Clone, Default)]
pub(super) struct OutboxStart {
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
            let rec = DetectionRecorder::new(
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
    let shared = Links {
        outbox: Arc::clone(&outbox),
        evidence: crate::evidence::worker::Evidence::start(
            cfg.evidence_setup(),
            Arc::new(detector.labels.clone()),
            Arc::clone(&outbox),
        )?,
        board: Arc::new(StatusBoard::new(&camera_ids)),
        detector_beat: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        source_nice: None,
    };
    // Closed when every analytics thread of the current camera set has finished.
    let (done_tx, mut done_rx) = unbounded_channel::<()>();
    let mut cameras = CameraSet::start(&cfg, detector, recorder, &decoders, &shared, &done_tx, Box::new(NoProbe))?;
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
        // What the box announces to Home Assistant, kept current across reloads.
        let snapshots = |c: &str| shared.evidence.as_ref().is_some_and(|e| e.publishes_snapshots_of(c));
        let (announce, announce_rx) = tokio::sync::watch::channel(cfg.announce(snapshots));
        // Kept where the daemon started: `data_dir` changes take effect at the next start.
        let memory = cfg.data_dir().join("discovery.json");
        let mut publisher = Publisher::start(&cfg, &shared, &link, box_key.as_ref(), announce_rx, &memory);
        // The running config and the last reload refused, for `stats`.
        let config_report = Arc::new(std::sync::Mutex::new(stats::ConfigReport::new()));
        let report = |f: &dyn Fn(&mut stats::ConfigReport)| match config_report.lock() {
            Ok(mut c) => f(&mut c),
            Err(p) => f(&mut p.into_inner()),
        };
        // The stats task of a config and its camera set: started again after each reload.
        let sources = stats::Sources {
            link: Arc::clone(&link),
            outbox: Arc::clone(&outbox),
            start: outbox_start.clone(),
            evidence: shared.evidence.clone(),
            config: Arc::clone(&config_report),
        };
        let spawn_stats = |cfg: &Config, cameras: &CameraSet, out: Sender<Outgoing>| {
            tokio::spawn(stats_loop(cfg.clone(), cameras.stats.clone(), sources.clone(), out))
        };
        let mut stats_task = spawn_stats(&cfg, &cameras, publisher.out.clone());
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
                        Err(e) => {
                            tracing::error!("config reload refused, keeping the running config: {e:#}");
                            report(&|c| c.refused(stats::refusal_text(&e)));
                        }
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
                                // The new connection removes from Home Assistant what the old one
                                // announced and this config does not (a renamed box clears its old
                                // device): the old one left what it announced in `memory`.
                                announce.send_replace(d.announce(snapshots));
                                publisher = Publisher::start(&d, &shared, &link, box_key.as_ref(), announce.subscribe(), &memory);
                            } else {
                                let next = d.announce(snapshots);
                                announce.send_if_modified(|a| {
                                    let changed = *a != next;
                                    *a = next;
                                    changed
                                });
                            }
                            stats_task.abort();
                            stats_task = spawn_stats(&d, &cameras, publisher.out.clone());
                            cfg = d;
                            report(&|c| c.applied());
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
        let inf_ms = if c.inferences == 0 { 0.0 } else { c.inference_us as f64 / c.inferences as f64 / 1000.0 };
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
        shared: &Links,
        link: &Arc<LinkStats>,
        box_key: Option<&Arc<ed25519_dalek::SigningKey>>,
        announce: tokio::sync::watch::Receiver<Option<crate::publish::discovery::Announce>>,
        memory: &std::path::Path,
    ) -> Self {
        // Only QoS 0 messages (stats) go through this channel; events go through the outbox.
        let (out, out_rx) = channel::<Outgoing>(16);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let broker = cfg.broker();
        if let Err(e) = &broker {
            // Checked at load: a TLS file changed since.
            tracing::error!("[mqtt]: {e}; nothing can be published and extraction requests cannot be served");
        }
        let commands = match (&shared.evidence, box_key, &broker) {
            (Some(ev), Some(key), Ok(broker)) => {
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
                    broker.clone(),
                    command,
                    requests_tx,
                    replies_rx,
                    Arc::clone(&link.commands),
                    shutdown_rx.clone(),
                )))
            }
            _ => None,
        };
        let (link, outbox, cams) = (Arc::clone(link), Arc::clone(&shared.outbox), shared.board.subscribe());
        let states = mqtt::States {
            cams,
            snapshots: shared.evidence.as_ref().and_then(|e| e.snapshot_feed()),
            announce,
            memory: memory.to_path_buf(),
        };
        // The config was checked at load; an error here is a TLS file changed since.
        let task = tokio::spawn(async move {
            mqtt::run(&broker?, outbox, out_rx, states, link, shutdown_rx, Duration::from_secs(10)).await
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
