//! The bench's probes of the daemon's pipeline ([`crate::pipeline::Probe`]).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::interleave::Interleave;
use crate::analytics::CameraAnalytics;
use crate::detect::Detector;
use crate::detect::gate::Ran;
use crate::health::timing::{Stage, StageTimes};
use crate::pipeline::{CameraProbe, Probe};

/// What the bench's probe of the detector thread collects (see [`BenchProbe`]).
pub(super) struct DetectorDone {
    pub(super) times: StageTimes,
    pub(super) inferences: Vec<u64>,
    /// Of the inferences, those on a mosaic of what moved (motion regions).
    pub(super) mosaics: u64,
    pub(super) interleave: Interleave,
    /// Frames through the detector, all cameras together, against `--frames`.
    pub(super) processed: u64,
    pub(super) frames_limit: Option<u64>,
    /// When the detector last finished a frame (the wait for the next one starts).
    pub(super) t_wait: Instant,
    /// The first detection error: the measurement is then refused.
    pub(super) error: Option<String>,
}

/// What one camera's analytics probe collects.
#[derive(Default)]
pub(super) struct AnalyticsDone {
    pub(super) times: StageTimes,
    pub(super) latency: StageTimes,
    pub(super) frames: u64,
    pub(super) events: u64,
}

type EventsFile = Arc<Mutex<std::io::BufWriter<std::fs::File>>>;

/// The bench's view of the daemon's pipeline ([`crate::pipeline::Probe`]): stage timings,
/// inferences per camera, the frame limit and the pauses for raw runs.
pub(super) struct BenchProbe {
    pub(super) state: Arc<Mutex<DetectorDone>>,
    pub(super) cameras: Arc<Mutex<Vec<Option<AnalyticsDone>>>>,
    pub(super) capacity: usize,
    pub(super) events_out: Option<EventsFile>,
}

impl BenchProbe {
    fn state(&self) -> std::sync::MutexGuard<'_, DetectorDone> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Probe for BenchProbe {
    fn received(&mut self, _cam: usize) {
        let mut st = self.state();
        let t = st.t_wait;
        st.times.lap(Stage::Wait, t);
    }

    fn detected(&mut self, detector: &mut Detector, cam: usize, ran: Ran) -> Result<bool> {
        let mut st = self.state();
        if ran.inferred() {
            let t = detector.last_timings;
            st.times.record_ms(Stage::Preprocess, t.preprocess_ms);
            st.times.record_ms(Stage::Inference, t.inference_ms);
            st.times.record_ms(Stage::Postprocess, t.postprocess_ms);
            st.inferences[cam] += ran.inferences();
            st.mosaics += ran.mosaics();
        }
        st.processed += 1;
        if st.frames_limit.is_some_and(|l| st.processed >= l) {
            return Ok(false);
        }
        if st.interleave.frame_done(ran.inferences()) {
            // The file waits meanwhile (its appsink blocks): a pause, not a loss.
            st.interleave.pause(detector)?;
        }
        st.t_wait = Instant::now();
        Ok(true)
    }

    fn failed(&mut self, cam: usize, error: &anyhow::Error) {
        self.state().error.get_or_insert_with(|| format!("camera {cam}: {error:#}"));
    }

    fn camera(&self, index: usize) -> Box<dyn CameraProbe> {
        Box::new(CameraBench {
            index,
            slot: Arc::clone(&self.cameras),
            events_out: self.events_out.clone(),
            done: AnalyticsDone {
                times: StageTimes::with_capacity(self.capacity),
                latency: StageTimes::with_capacity(self.capacity),
                frames: 0,
                events: 0,
            },
            pending: 0,
        })
    }
}

/// One camera's analytics thread, watched: tracking and rules times, the outbox write
/// ("publish"), the latency from the decoder to the stored events.
struct CameraBench {
    index: usize,
    slot: Arc<Mutex<Vec<Option<AnalyticsDone>>>>,
    events_out: Option<EventsFile>,
    done: AnalyticsDone,
    /// Events of the frame being stored.
    pending: usize,
}

impl CameraBench {
    fn write_events(&self, events: &[crate::event::Event]) {
        if let Some(w) = &self.events_out {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                let _ = w.write_all(&e.to_json()).and_then(|_| w.write_all(b"\n"));
            }
        }
    }
}

impl CameraProbe for CameraBench {
    fn analysed(&mut self, analytics: &CameraAnalytics, events: &[crate::event::Event]) {
        self.done.times.record(Stage::Tracking, analytics.last_timings.0);
        self.done.times.record(Stage::Rules, analytics.last_timings.1);
        self.done.frames += 1;
        self.done.events += events.len() as u64;
        self.pending = events.len();
        self.write_events(events);
    }

    fn carried(&mut self, _analytics: &CameraAnalytics, carrier: Duration, events: &[crate::event::Event]) {
        self.done.times.record(Stage::Carry, carrier);
        self.done.events += events.len() as u64;
        self.write_events(events);
    }

    fn stored(&mut self, took: Duration, arrived: Instant) {
        if std::mem::take(&mut self.pending) > 0 {
            self.done.times.record(Stage::Publish, took);
        }
        self.done.latency.lap(Stage::Latency, arrived);
    }

    fn finished(&mut self, events: &[crate::event::Event]) {
        self.done.events += events.len() as u64;
        self.write_events(events);
        if let Some(w) = &self.events_out {
            let _ = w.lock().unwrap_or_else(|p| p.into_inner()).flush();
        }
        let done = std::mem::take(&mut self.done);
        if let Some(s) = self.slot.lock().unwrap_or_else(|p| p.into_inner()).get_mut(self.index) {
            *s = Some(done);
        }
    }
}
