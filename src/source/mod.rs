//! Camera sources: one GStreamer pipeline per camera, decoding to RGB frames already scaled to
//! fit the model input, handed to the detector through the [`hub::Hub`].
//!
//! The pipeline is a decode template from pipelines/ followed by anttd's own tail:
//! `videorate` (the camera's detect rate, so frames that will not be detected are never
//! converted; its carry rate when boxes are carried between detections, see [`Carrying`])
//! → `videoscale` to the letterbox size → `videoconvert` to RGB → `appsink`. Scaling first works
//! on the decoder's YUV (1.5 bytes a pixel) and converts fewer pixels: 0.5 ms less CPU a frame on
//! vtest.avi than converting first (docs/performance.md). The letterbox size depends on the
//! stream's resolution, so it is set from the first caps event, before negotiation.

pub mod decoders;
pub mod hub;
pub mod still;
pub mod supervise;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::detect::Picture;
use crate::detect::letterbox::Letterbox;
use crate::health::CameraStats;
use crate::track::carry::Gray;
use hub::{Hub, PutOutcome};

/// One decoded frame, scaled to fit the model input, or at the camera's own size for motion
/// regions ([`SourceSpec::full_size`]).
pub struct Frame {
    /// The frame's number in the camera's life (across loops and restarts), as [`Decoded::seq`].
    pub seq: u64,
    /// Stream time in seconds (monotonic for one camera, also across file loops).
    pub time_s: f64,
    /// Wall-clock time of the frame: when the stream started plus its stream time.
    pub wall: SystemTime,
    /// When the frame left the appsink, for frame-to-event latency.
    pub arrived: Instant,
    pub letterbox: Letterbox,
    /// The size of the pixels in `data`: the letterbox's fit size, or its source size.
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: gst::MappedBuffer<gst::buffer::Readable>,
}

impl Frame {
    pub fn rgb(&self) -> &[u8] {
        self.data.as_slice()
    }

    pub fn picture(&self) -> Picture<'_> {
        Picture { rgb: self.rgb(), stride: self.stride, width: self.width, height: self.height }
    }
}

/// What a camera source needs to know.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub index: usize,
    pub id: String,
    /// A URI for uridecodebin.
    pub uri: String,
    pub detect_fps: u32,
    /// Pace file playback at the stream's rate (true) or as fast as the detector takes frames.
    pub realtime: bool,
    pub looping: bool,
    pub is_file: bool,
    /// The model's input sizes: frames are scaled for the one that suits the picture
    /// ([`Letterbox::choose`]).
    pub inputs: Vec<(u32, u32)>,
    /// The decode template chosen for this camera.
    pub decoder: decoders::DecoderTemplate,
    /// Records the encoded stream (the evidence ring, when evidence is enabled).
    pub recorder: Option<Arc<dyn StreamTap>>,
    /// Niceness added to the pipeline's streaming threads (0: the process's own priority).
    pub nice: i32,
    /// Deliver frames at the camera's own size rather than scaled to the letterbox: motion
    /// regions crop them at full resolution (the whole picture is then scaled in Rust).
    pub full_size: bool,
    /// Decode more frames than are detected, for carrying boxes onto them.
    pub carry: Option<Carrying>,
}

/// A camera whose boxes are carried between detections (`track::follow`): its pipeline
/// decodes `fps` frames a second, the detector gets `detect_fps` of them through the hub, and
/// every one's grey picture goes, in stream order, to the `lane`.
#[derive(Debug, Clone)]
pub struct Carrying {
    pub fps: u32,
    pub lane: Arc<dyn Lane>,
}

/// A decoded frame's grey picture, for carrying boxes onto it.
#[derive(Debug)]
pub struct Decoded {
    /// As [`Frame::seq`]: a frame that also went to the detector has the same number.
    pub seq: u64,
    pub time_s: f64,
    pub wall: SystemTime,
    /// The camera's own size (the detections' pixels).
    pub size: (u32, u32),
    /// The picture (`None` when its buffer was short).
    pub gray: Option<Gray>,
    /// Picture pixels per detection pixel, across and down.
    pub scale: (f32, f32),
    /// Whether the frame also went to the detector.
    pub detect: bool,
}

/// Where a carrying camera's decoded frames go besides the detector (the camera's analytics,
/// which orders them with the detector's results). A trait, so the source does not depend on
/// what carries.
pub trait Lane: Send + Sync + std::fmt::Debug {
    /// A decoded frame, in stream order, before it goes to the detector if it does.
    fn decoded(&self, frame: Decoded);
    /// Frame `seq`, handed to the detector, was replaced by a newer one before the detector
    /// took it: it will not be detected.
    fn undetected(&self, seq: u64);
}

/// Which decoded frames a carrying camera's detector gets: `detect_fps` a second on average,
/// the first frame at or after each due time (within half a decoded frame: stream times are not
/// exact multiples), as `videorate` gives the detector alone.
#[derive(Debug, Clone)]
struct DetectEvery {
    period: f64,
    slack: f64,
    due: Option<f64>,
}

impl DetectEvery {
    fn new(detect_fps: u32, decoded_fps: u32) -> Self {
        Self { period: 1.0 / f64::from(detect_fps.max(1)), slack: 0.5 / f64::from(decoded_fps.max(1)), due: None }
    }

    fn take(&mut self, t: f64) -> bool {
        let due = *self.due.get_or_insert(t);
        if t < due - self.slack {
            return false;
        }
        // After a gap in the stream, due times start again from this frame rather than catch up.
        let from = if t - due > self.period { t } else { due };
        self.due = Some(from + self.period);
        true
    }
}

/// Something that records a camera's encoded stream beside the decoder (the evidence ring,
/// `evidence::recorder::RingRecorder`), attached to each pipeline the source builds. A trait,
/// so the source does not depend on what records.
pub trait StreamTap: Send + Sync + std::fmt::Debug {
    /// Tap `pipeline`, whose frames' times come from `clock`.
    fn attach(self: Arc<Self>, pipeline: &gst::Pipeline, clock: &Arc<Mutex<StreamClock>>);
}

/// Niceness of the streaming threads of a file played as fast as the detector takes frames.
/// Nothing can be lost there by decoding late (the file waits), so decoding and scaling yield
/// the cores to inference, which is what sets the pace. Live sources (and files played in real
/// time) keep the process's priority: a decoder that falls behind a camera loses packets.
pub const OFFLINE_NICE: i32 = 10;

/// The niceness a camera's streaming threads get: [`OFFLINE_NICE`] for a file played as fast as
/// the detector takes frames, 0 otherwise.
pub fn default_nice(is_file: bool, realtime: bool) -> i32 {
    if is_live(is_file, realtime) { 0 } else { OFFLINE_NICE }
}

/// Whether a source is handled as live (a camera, or a file played at its own pace: frames
/// the detector cannot take in time are dropped) rather than as a file played as fast as the
/// detector takes frames (nothing dropped).
pub fn is_live(is_file: bool, realtime: bool) -> bool {
    !is_file || realtime
}

/// Initialise GStreamer once, with a clear error if it cannot start.
pub fn init() -> Result<()> {
    gst::init().context("GStreamer did not initialise (is libgstreamer1.0 installed?)")
}

/// The decode part of a template with `{uri}` filled in.
pub fn decode_description(template: &str, uri: &str) -> String {
    template.trim().replace("{uri}", &uri.replace('"', "%22"))
}

/// The whole pipeline description for one camera.
pub fn pipeline_description(spec: &SourceSpec) -> String {
    let convert = spec.decoder.convert.trim();
    format!(
        "{} ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! videorate drop-only=true max-rate={}{} \
         ! videoscale name=anttd_scale add-borders=false ! videoconvert \
         ! capsfilter name=anttd_fit caps=video/x-raw,format=RGB ! appsink name=anttd_sink",
        decode_description(&spec.decoder.decode, &spec.uri),
        spec.carry.as_ref().map_or(spec.detect_fps, |c| c.fps.max(spec.detect_fps)),
        if convert.is_empty() { String::new() } else { format!(" ! {convert}") },
    )
}

/// How a camera's stream ended.
#[derive(Debug)]
pub enum Ended {
    /// End of a file (and not looping).
    EndOfStream,
    /// Shutdown was requested.
    Stopped,
}

/// Run one camera until its stream ends or `stop` is set; errors are returned to the caller, who
/// decides about restarting. Frames go to `hub`; counters to `stats`.
pub fn run(
    spec: &SourceSpec,
    hub: &Arc<Hub<Frame>>,
    stats: &Arc<CameraStats>,
    clock: &Arc<Mutex<StreamClock>>,
    stop: &AtomicBool,
) -> Result<Ended> {
    let desc = pipeline_description(spec);
    tracing::debug!(camera = %spec.id, pipeline = %desc, "starting source");
    let pipeline = gst::parse::launch(&desc)
        .with_context(|| format!("camera {}: cannot build pipeline `{desc}`", spec.id))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("camera {}: pipeline description is not a pipeline", spec.id))?;
    let _guard = StopOnDrop(pipeline.clone());
    if let Some(rec) = &spec.recorder {
        Arc::clone(rec).attach(&pipeline, clock);
    }

    let scale = pipeline.by_name("anttd_scale").ok_or_else(|| anyhow!("pipeline lacks anttd_scale"))?;
    let fit = pipeline.by_name("anttd_fit").ok_or_else(|| anyhow!("pipeline lacks anttd_fit"))?;
    let sink = pipeline
        .by_name("anttd_sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("pipeline lacks the appsink"))?;

    // Set the letterbox size from the decoded stream's caps, before the scaler negotiates.
    let letterbox: Arc<Mutex<Option<Letterbox>>> = Arc::new(Mutex::new(None));
    {
        let lb_slot = Arc::clone(&letterbox);
        let inputs = spec.inputs.clone();
        let full_size = spec.full_size;
        let id = spec.id.clone();
        let pad = scale.static_pad("sink").ok_or_else(|| anyhow!("videoscale has no sink pad"))?;
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Ok(vi) = gst_video::VideoInfo::from_caps(c.caps())
            {
                let lb = Letterbox::choose(vi.width(), vi.height(), &inputs);
                let (w, h) = if full_size { (lb.src_w, lb.src_h) } else { (lb.fit_w, lb.fit_h) };
                let caps = gst::Caps::builder("video/x-raw")
                    .field("format", "RGB")
                    .field("width", w as i32)
                    .field("height", h as i32)
                    .build();
                fit.set_property("caps", &caps);
                tracing::info!(camera = %id, width = vi.width(), height = vi.height(), fps = ?vi.fps(), input = %format!("{}x{}", lb.dst_w, lb.dst_h), "stream format");
                *lb_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(lb);
            }
            gst::PadProbeReturn::Ok
        });
    }

    let live_like = is_live(spec.is_file, spec.realtime);
    sink.set_sync(spec.is_file && spec.realtime);
    sink.set_max_buffers(1);
    sink.set_drop(live_like);
    {
        let hub = Arc::clone(hub);
        let stats = Arc::clone(stats);
        let letterbox = Arc::clone(&letterbox);
        let clock = Arc::clone(clock);
        let cam = spec.index;
        let wait = !live_like;
        let full_size = spec.full_size;
        let carry = spec.carry.clone();
        let mut detect_every = DetectEvery::new(spec.detect_fps, carry.as_ref().map_or(spec.detect_fps, |c| c.fps));
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Some(lb) = *letterbox.lock().unwrap_or_else(|p| p.into_inner()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let (width, height) = if full_size { (lb.src_w, lb.src_h) } else { (lb.fit_w, lb.fit_h) };
                    if (info.width(), info.height()) != (width, height) {
                        // A frame from before a resolution change: skip it rather than misplace boxes.
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let pts_ns = buffer.pts().map(|t| t.nseconds());
                    let (time_s, wall, seq) = clock.lock().unwrap_or_else(|p| p.into_inner()).stamp(pts_ns);
                    let stride = info.stride()[0].max(0) as usize;
                    let Ok(data) = buffer.into_mapped_buffer_readable() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let detect = carry.is_none() || detect_every.take(time_s);
                    if let Some(c) = &carry {
                        let picture = Picture { rgb: data.as_slice(), stride, width, height };
                        c.lane.decoded(Decoded {
                            seq,
                            time_s,
                            wall,
                            size: (lb.src_w, lb.src_h),
                            gray: Gray::from_rgb(&picture),
                            scale: (width as f32 / lb.src_w.max(1) as f32, height as f32 / lb.src_h.max(1) as f32),
                            detect,
                        });
                    }
                    if !detect {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    stats.frame_in();
                    let arrived = Instant::now();
                    match hub.put(
                        cam,
                        Frame { seq, time_s, wall, arrived, letterbox: lb, width, height, stride, data },
                        wait,
                    ) {
                        PutOutcome::Queued => {}
                        PutOutcome::Replaced(old) => {
                            stats.frame_dropped();
                            if let Some(c) = &carry {
                                c.lane.undetected(old.seq);
                            }
                        }
                        PutOutcome::Closed => return Err(gst::FlowError::Flushing),
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    set_thread_priority(&pipeline, spec.nice);
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        first_error(&pipeline).unwrap_or_else(|| anyhow!("camera {}: pipeline refused to start", spec.id))
    })?;
    let bus = pipeline.bus().ok_or_else(|| anyhow!("pipeline has no bus"))?;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Ended::Stopped);
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Eos, gst::MessageType::Error, gst::MessageType::Warning],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                if spec.looping && spec.is_file {
                    clock.lock().unwrap_or_else(|p| p.into_inner()).next_loop();
                    pipeline
                        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                        .with_context(|| format!("camera {}: cannot seek back to the start to loop", spec.id))?;
                    continue;
                }
                return Ok(Ended::EndOfStream);
            }
            gst::MessageView::Error(e) => bail!("{}", describe_error(e)),
            gst::MessageView::Warning(w) => {
                tracing::warn!(camera = %spec.id, source = ?w.src().map(|s| s.path_string()), "{}", w.error());
            }
            _ => {}
        }
    }
}

fn describe_error(e: &gst::message::Error) -> String {
    let src = e.src().map(|s| s.name().to_string()).unwrap_or_else(|| "pipeline".into());
    match e.debug() {
        Some(d) => format!("{src}: {} ({})", e.error(), d.lines().last().unwrap_or_default()),
        None => format!("{src}: {}", e.error()),
    }
}

/// Give every streaming thread of `pipeline` the process's niceness plus `nice`, as it starts.
/// The value is set absolutely (not added), because GStreamer reuses pooled threads across
/// pipelines and across restarts of a task (a seek to loop a file).
fn set_thread_priority(pipeline: &gst::Pipeline, nice: i32) {
    let Some(bus) = pipeline.bus() else { return };
    // SAFETY: getpriority only reads the scheduling priority of the process's main thread.
    let base = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t) };
    let target = (base + nice).clamp(-20, 19);
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::StreamStatus(st) = msg.view()
            && st.get().0 == gst::StreamStatusType::Enter
        {
            // The Enter message is posted from the new streaming thread itself.
            // SAFETY: gettid and setpriority act on the calling thread only.
            let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, target) };
            if r != 0 {
                tracing::debug!(
                    "cannot set a streaming thread's niceness to {target}: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        gst::BusSyncReply::Pass
    });
}

/// The first error already posted on the bus (after a failed state change).
fn first_error(pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(anyhow!("{}", describe_error(e)));
        }
    }
    None
}

struct StopOnDrop(gst::Pipeline);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Turns buffer timestamps into stream seconds and wall-clock times, for one camera's whole life
/// (across file loops and source restarts, so its times only ever increase).
#[derive(Debug, Default)]
pub struct StreamClock {
    /// Wall-clock time of stream time zero.
    anchor: Option<SystemTime>,
    /// Stream seconds carried over from earlier loops of a file.
    loop_offset: f64,
    last: f64,
    fallback_start: Option<Instant>,
    /// When the last frame was stamped, to carry real time across a restart.
    last_at: Option<Instant>,
    /// Frames stamped so far.
    frames: u64,
}

impl StreamClock {
    /// A frame's stream time, wall-clock time and number.
    fn stamp(&mut self, pts_ns: Option<u64>) -> (f64, SystemTime, u64) {
        let t = match pts_ns {
            Some(ns) => self.loop_offset + ns as f64 / 1e9,
            // No timestamp: use arrival time.
            None => self.fallback_start.get_or_insert_with(Instant::now).elapsed().as_secs_f64() + self.loop_offset,
        };
        // Never go backwards (the tracker and rules rely on it).
        let t = t.max(self.last);
        self.last = t;
        self.last_at = Some(Instant::now());
        let anchor = *self.anchor.get_or_insert_with(|| SystemTime::now() - Duration::from_secs_f64(t));
        self.frames += 1;
        (t, anchor + Duration::from_secs_f64(t), self.frames)
    }

    /// Stream time of a buffer timestamp, without stamping a frame (for the ring recorder).
    pub fn stream_time(&self, pts_ns: u64) -> f64 {
        self.loop_offset + pts_ns as f64 / 1e9
    }

    /// Wall-clock time of a stream time (anchoring the clock if no frame has yet).
    pub fn wall_at(&mut self, t: f64) -> SystemTime {
        let anchor = *self.anchor.get_or_insert_with(|| SystemTime::now() - Duration::from_secs_f64(t.max(0.0)));
        anchor + Duration::from_secs_f64(t.max(0.0))
    }

    /// A file starts again from its beginning: continue one nominal frame after the last one.
    fn next_loop(&mut self) {
        self.loop_offset = self.last + 0.1;
        self.fallback_start = None;
    }

    /// The source was restarted (timestamps start again from zero): continue from the last
    /// frame's time plus the real time that passed since it.
    pub fn resume(&mut self) {
        let gap = self.last_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.loop_offset = self.last + gap.max(0.1);
        self.fallback_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_only_moves_forward_across_loops_and_restarts() {
        let mut c = StreamClock::default();
        let (t0, w0, n0) = c.stamp(Some(0));
        let (t1, w1, n1) = c.stamp(Some(2_000_000_000));
        assert_eq!((n0, n1), (1, 2));
        assert_eq!((t0, t1), (0.0, 2.0));
        assert_eq!(w1.duration_since(w0).expect("later"), Duration::from_secs(2));
        c.next_loop();
        let (t2, ..) = c.stamp(Some(0));
        assert!((t2 - 2.1).abs() < 1e-9, "{t2}");
        c.resume();
        let (t3, _, n3) = c.stamp(Some(0));
        // Frames keep their numbers across loops and restarts.
        assert_eq!(n3, 4);
        assert!(t3 >= t2 + 0.1, "{t3} after {t2}");
        // A timestamp going backwards within a run never moves time back.
        let (t4, ..) = c.stamp(Some(0));
        assert!(t4 >= t3);
    }

    #[test]
    fn decode_template_fills_uri() {
        let d = decode_description(" uridecodebin uri=\"{uri}\"\n", "file:///a\"b.avi");
        assert_eq!(d, "uridecodebin uri=\"file:///a%22b.avi\"");
    }

    #[test]
    fn pipeline_has_the_conversion_step_only_when_needed() {
        let mut spec = SourceSpec {
            index: 0,
            id: "c".into(),
            uri: "rtsp://cam/1".into(),
            detect_fps: 5,
            realtime: true,
            looping: false,
            is_file: false,
            inputs: vec![(640, 640)],
            decoder: decoders::builtin().pop().expect("software"),
            recorder: None,
            nice: 0,
            full_size: false,
            carry: None,
        };
        let sw = pipeline_description(&spec);
        assert!(sw.starts_with("uridecodebin uri=\"rtsp://cam/1\""), "{sw}");
        assert!(sw.contains("max-rate=5 ! videoscale name=anttd_scale"), "{sw}");
        spec.decoder = decoders::builtin().into_iter().find(|t| t.name == "jetson").expect("jetson");
        let jet = pipeline_description(&spec);
        assert!(jet.contains("max-rate=5 ! nvvidconv ! video/x-raw,format=RGBA ! videoscale"), "{jet}");
        // Carrying decodes at the carry rate; the detector still gets detect_fps of them.
        #[derive(Debug)]
        struct Nowhere;
        impl Lane for Nowhere {
            fn decoded(&self, _: Decoded) {}
            fn undetected(&self, _: u64) {}
        }
        spec.carry = Some(Carrying { fps: 15, lane: Arc::new(Nowhere) });
        assert!(pipeline_description(&spec).contains("max-rate=15 ! nvvidconv"));
    }

    #[test]
    fn a_carrying_camera_detects_every_detect_period_of_its_decoded_frames() {
        // 15 decoded a second, 5 detected: every third, whatever the times' rounding.
        let mut every = DetectEvery::new(5, 15);
        let picked: Vec<usize> =
            (0..15).filter(|&k| every.take(k as f64 / 15.0 + if k % 2 == 0 { 1e-4 } else { -1e-4 })).collect();
        assert_eq!(picked, vec![0, 3, 6, 9, 12]);
        // A stream decoding fewer frames than asked (10 a second at 3 detected): the first
        // frame at or after each third of a second, so 3 a second and not one every 0.3 s.
        let mut every = DetectEvery::new(3, 15);
        // (Times a little after each frame's nominal time, so none sits on a boundary.)
        let picked: Vec<usize> = (0..20).filter(|&k| every.take(k as f64 / 10.0 + 1e-6)).collect();
        assert_eq!(picked, vec![0, 3, 7, 10, 13, 17]);
        // After a gap of 2 s, from the first frame after it.
        assert!(every.take(4.0) && !every.take(4.1) && every.take(4.35));
    }
}
