//! The ring recorder: the camera's encoded stream, tapped where it enters the decoder (so every
//! decode template, software or hardware, keeps working unchanged) and written without
//! re-encoding into MP4 segments by `splitmuxsink`, which cuts them on keyframes.
//!
//! The recorder has its own small pipeline (`appsrc ! [h264parse|h265parse] ! splitmuxsink`),
//! fed from a pad probe on the decoder's sink pad. It outlives source restarts: a camera that
//! reconnects goes on filling the same ring. Its buffers are stamped on the camera's stream
//! clock (plus [`BASE`]), so splitmuxsink's running times are stream times and the index can
//! place each segment on the wall clock exactly like the events.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::ring::{Ring, Segment, ms};
use crate::source::StreamClock;

/// Added to every timestamp, so that decode times before a stream's first presentation time
/// (B-frames) never go below zero.
pub const BASE: u64 = 3_600 * 1_000_000_000;

/// Why a stream cannot be recorded, if it cannot: mp4mux must take it as it is (H.264 and
/// H.265 only by media type: the recorder's parser converts their stream format).
pub fn unsupported(caps: &gst::CapsRef) -> Option<String> {
    let name = caps.structure(0).map(|s| s.name().to_string())?;
    let parsed = matches!(name.as_str(), "video/x-h264" | "video/x-h265");
    let takes = gst::ElementFactory::find("mp4mux").is_some_and(|f| {
        f.static_pad_templates().iter().any(|t| {
            let tc = t.caps();
            t.name_template().starts_with("video")
                && if parsed { tc.iter().any(|s| s.name() == name.as_str()) } else { tc.can_intersect(caps) }
        })
    });
    (!takes).then(|| caps.to_string())
}

struct Output {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    dead: Arc<AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Output {
    fn start(caps: &gst::Caps, ring: &Arc<Ring>, segment_s: u32, clock: &Arc<Mutex<StreamClock>>) -> Result<Self> {
        let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let pipeline = gst::Pipeline::with_name(&format!("record-{}", ring.camera));
        let src = gst_app::AppSrc::builder()
            .name("src")
            .caps(caps)
            .format(gst::Format::Time)
            .is_live(false)
            // Never hold up the camera's decoding: at most 16 MB waits for the disk, newer
            // buffers are dropped beyond that (and the ring has a hole rather than the detector).
            .max_bytes(16 << 20)
            .block(false)
            .leaky_type(gst_app::AppLeakyType::Upstream)
            .build();
        let mux = gst::ElementFactory::make("splitmuxsink")
            .property("max-size-time", u64::from(segment_s) * 1_000_000_000)
            .property("muxer-factory", "mp4mux")
            .property(
                "location",
                ring.dir.join(format!("{}-%05d.mp4", ms(std::time::SystemTime::now()))).to_string_lossy().to_string(),
            )
            .build()
            .context("splitmuxsink is missing (gstreamer1.0-plugins-good)")?;
        let parser = match name.as_str() {
            "video/x-h264" => Some("h264parse"),
            "video/x-h265" => Some("h265parse"),
            _ => None,
        }
        .map(|p| gst::ElementFactory::make(p).build().with_context(|| format!("{p} is missing")))
        .transpose()?;
        pipeline.add(&src)?;
        pipeline.add(&mux)?;
        match &parser {
            Some(p) => {
                pipeline.add(p)?;
                gst::Element::link_many([src.upcast_ref(), p, &mux])?;
            }
            None => src.link(&mux)?,
        }
        let bus = pipeline.bus().ok_or_else(|| anyhow!("recorder pipeline has no bus"))?;
        pipeline.set_state(gst::State::Playing).map_err(|_| anyhow!("the recorder pipeline refused to start"))?;
        let dead = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = std::sync::mpsc::channel();
        {
            let (ring, clock, dead) = (Arc::clone(ring), Arc::clone(clock), Arc::clone(&dead));
            std::thread::Builder::new()
                .name(format!("record-{}", ring.camera))
                .spawn(move || {
                    watch_bus(&bus, &ring, &clock);
                    dead.store(true, Ordering::Relaxed);
                    let _ = done_tx.send(());
                })
                .context("cannot start the recorder's thread")?;
        }
        Ok(Self { pipeline, src, dead, done })
    }

    /// End the last segment properly (its `moov` is written at EOS) and stop.
    fn finish(self, camera: &str) {
        if !self.dead.load(Ordering::Relaxed) {
            let _ = self.src.end_of_stream();
            if self.done.recv_timeout(Duration::from_secs(10)).is_err() {
                tracing::warn!(camera, "the recorder did not finish its last segment within 10 s");
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Follow the recorder's bus: every closed fragment becomes a ring segment. Returns at EOS or
/// on an error (logged: recording stops, detection goes on).
fn watch_bus(bus: &gst::Bus, ring: &Ring, clock: &Mutex<StreamClock>) {
    let mut opened: HashMap<String, u64> = HashMap::new();
    let stream_s = |rt: u64| rt.saturating_sub(BASE) as f64 / 1e9;
    loop {
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(1),
            &[gst::MessageType::Element, gst::MessageType::Eos, gst::MessageType::Error],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return,
            gst::MessageView::Error(e) => {
                tracing::error!(camera = %ring.camera, "recording stopped: {} ({:?})", e.error(), e.debug());
                return;
            }
            gst::MessageView::Element(el) => {
                let Some(s) = el.structure() else { continue };
                let (Ok(location), Ok(rt)) = (s.get::<String>("location"), s.get::<u64>("running-time")) else {
                    continue;
                };
                match s.name().as_str() {
                    "splitmuxsink-fragment-opened" => {
                        opened.insert(location, rt);
                    }
                    "splitmuxsink-fragment-closed" => {
                        let start_rt = opened.remove(&location).unwrap_or(rt);
                        let path = Path::new(&location);
                        let file = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
                        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                        let (start_s, end_s) = (stream_s(start_rt), stream_s(rt));
                        let (start_w, end_w) = {
                            let mut c = clock.lock().unwrap_or_else(|p| p.into_inner());
                            (c.wall_at(start_s), c.wall_at(end_s))
                        };
                        let seg = Segment { file, start_s, end_s, start_ms: ms(start_w), end_ms: ms(end_w), bytes };
                        tracing::debug!(camera = %ring.camera, file = %seg.file, start_s, end_s, bytes, "ring segment");
                        ring.add(seg);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct RecorderState {
    out: Option<Output>,
    caps: Option<gst::Caps>,
    /// The media type refused last (logged once per type).
    refused: Option<String>,
    last: Option<u64>,
    waiting_key: bool,
}

/// One camera's recorder of its encoded stream into the ring; lives as long as the camera's
/// source thread (dropping it finishes the last segment).
pub struct RingRecorder {
    pub ring: Arc<Ring>,
    segment_s: u32,
    /// The camera's stream clock, known once a pipeline is attached.
    clock: Mutex<Option<Arc<Mutex<StreamClock>>>>,
    st: Mutex<RecorderState>,
}

impl crate::source::StreamTap for RingRecorder {
    fn attach(self: Arc<Self>, pipeline: &gst::Pipeline, clock: &Arc<Mutex<StreamClock>>) {
        RingRecorder::attach(&self, pipeline, clock);
    }
}

impl std::fmt::Debug for RingRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingRecorder").field("camera", &self.ring.camera).finish()
    }
}

impl RingRecorder {
    pub fn new(ring: Arc<Ring>, segment_s: u32) -> Self {
        ring.restart();
        Self {
            ring,
            segment_s,
            clock: Mutex::new(None),
            st: Mutex::new(RecorderState { waiting_key: true, ..RecorderState::default() }),
        }
    }

    fn clock(&self) -> Option<Arc<Mutex<StreamClock>>> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tap a camera pipeline: whatever video decoder it plugs, its input is recorded.
    pub fn attach(self: &Arc<Self>, pipeline: &gst::Pipeline, clock: &Arc<Mutex<StreamClock>>) {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(clock));
        let me = Arc::downgrade(self);
        pipeline.connect_deep_element_added(move |_, _, element| {
            let Some(factory) = element.factory() else { return };
            let klass = factory.metadata(gst::ELEMENT_METADATA_KLASS).unwrap_or_default();
            if !(klass.contains("Decoder") && klass.contains("Video")) {
                return;
            }
            let Some(pad) = element.static_pad("sink") else { return };
            let me = me.clone();
            pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                let Some(rec) = me.upgrade() else { return gst::PadProbeReturn::Remove };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => rec.push(b),
                    Some(gst::PadProbeData::Event(ev)) => {
                        if let gst::EventView::Caps(c) = ev.view() {
                            rec.set_caps(c.caps());
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            });
        });
    }

    fn set_caps(&self, caps: &gst::CapsRef) {
        let mut st = self.lock();
        if st.caps.as_ref().is_some_and(|c| c.as_ref() == caps) {
            return;
        }
        // A new format: the current segments end here (mp4mux cannot change codec mid-file).
        if let Some(out) = st.out.take() {
            out.finish(&self.ring.camera);
        }
        st.caps = Some(caps.to_owned());
        st.waiting_key = true;
        if let Some(name) = unsupported(caps) {
            if st.refused.as_deref() != Some(name.as_str()) {
                // One line per camera and format: the caps say exactly what came.
                tracing::warn!(camera = %self.ring.camera, format = %name, "this stream cannot be kept in MP4 without re-encoding: no ring and no clips for it (detection goes on)");
                st.refused = Some(name);
            }
            self.ring.set_recording(false);
            return;
        }
        let Some(clock) = self.clock() else { return };
        match Output::start(&caps.to_owned(), &self.ring, self.segment_s, &clock) {
            Ok(out) => {
                self.ring.set_recording(true);
                tracing::info!(camera = %self.ring.camera, dir = %self.ring.dir.display(), format = %caps, "recording the ring");
                st.out = Some(out);
            }
            Err(e) => tracing::error!(camera = %self.ring.camera, "cannot record the ring: {e:#}"),
        }
    }

    fn push(&self, buf: &gst::BufferRef) {
        let mut st = self.lock();
        let Some(src) = st.out.as_ref().filter(|o| !o.dead.load(Ordering::Relaxed)).map(|o| o.src.clone()) else {
            return;
        };
        let Some(pts) = buf.pts().or(buf.dts()) else { return };
        let Some(clock) = self.clock() else { return };
        let t = clock.lock().unwrap_or_else(|p| p.into_inner()).stream_time(pts.nseconds());
        let rec_pts = BASE + (t * 1e9) as u64;
        let shift = rec_pts as i128 - pts.nseconds() as i128;
        let rec_dts = buf.dts().map(|d| (d.nseconds() as i128 + shift).max(0) as u64);
        let order = rec_dts.unwrap_or(rec_pts);
        let key = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if st.last.is_some_and(|l| order <= l) {
            // Time went back (a file looped): go on from the next keyframe after what we have.
            st.waiting_key = true;
            return;
        }
        if st.waiting_key && !key {
            return;
        }
        st.waiting_key = false;
        st.last = Some(order);
        let mut b = buf.to_owned();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(rec_pts));
            b.set_dts(rec_dts.map(gst::ClockTime::from_nseconds));
        }
        drop(st);
        let _ = src.push_buffer(b);
    }

    /// Finish the last segment; the ring gets no more.
    pub fn finish(&self) {
        let out = self.lock().out.take();
        if let Some(out) = out {
            out.finish(&self.ring.camera);
        }
        self.ring.finish();
    }
}

impl Drop for RingRecorder {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp4_takes_h264_in_any_stream_format_but_not_divx3() {
        crate::source::init().expect("gstreamer");
        let caps = |s: &str| s.parse::<gst::Caps>().expect("caps");
        assert_eq!(unsupported(&caps("video/x-h264,stream-format=byte-stream,alignment=au")), None);
        assert_eq!(unsupported(&caps("video/x-h265,stream-format=hvc1,alignment=au")), None);
        let divx3 = unsupported(&caps("video/x-divx,divxversion=3,width=768,height=576"));
        assert!(divx3.is_some_and(|d| d.contains("divxversion=(int)3")));
        assert_eq!(unsupported(&caps("video/x-divx,divxversion=5,width=768,height=576")), None);
    }
}
