//! Cutting a clip out of the ring without re-encoding: the segments that overlap the wanted
//! range are read one after another (`filesrc ! qtdemux ! appsink`), and their encoded frames,
//! from the last keyframe at or before the start to the last frame at or before the end, are
//! written into one new MP4 (`appsrc ! mp4mux ! filesink`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ring::{self, Segment};
use crate::event::rfc3339;

/// A finished clip, as named in the event's `end` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipInfo {
    /// Path relative to the data directory.
    pub file: String,
    pub duration_s: f64,
    pub bytes: u64,
    pub sha256: String,
    /// Wall-clock time of its first frame and of the end of its last one (RFC 3339).
    pub start: String,
    pub end: String,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
    /// The event lasted longer than a clip may ([`MAX_CLIP_S`]): the clip is its first part.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
}

/// The longest clip an event gets, from its pre-roll on: an event can last hours (a stopped
/// vehicle, a crowd), and a clip of all of it would take the ring's whole quota.
pub const MAX_CLIP_S: i64 = 600;

/// What the frames of a clip do, before any GStreamer: where it starts, given each frame's time
/// and whether it is a keyframe. Returns the index of the first frame to write (the last
/// keyframe at or before `from`, else the first keyframe), and one past the last one (the last
/// frame at or before `to`). Pure, so that the keyframe rule is unit tested.
pub fn select(frames: &[(i64, bool)], from: i64, to: i64) -> Option<(usize, usize)> {
    let first_key = frames.iter().position(|f| f.1)?;
    let start = frames.iter().enumerate().filter(|(_, f)| f.1 && f.0 <= from).map(|(i, _)| i).next_back();
    let start = start.unwrap_or(first_key);
    let end = frames.iter().rposition(|f| f.0 <= to).map_or(start, |i| i + 1).max(start + 1);
    (start < frames.len()).then_some((start, end.min(frames.len())))
}

/// One encoded frame read from a segment, on the wall clock (ns since `origin`).
struct Frame {
    buf: gst::Buffer,
    pts: i64,
    dts: i64,
    key: bool,
}

/// Read every frame of one segment. `offset_ns` places the segment's start on the clip's timeline.
fn read_segment(path: &Path, offset_ns: i64) -> Result<(gst::Caps, Vec<Frame>)> {
    let pipeline = gst::parse::launch("filesrc name=f ! qtdemux ! appsink name=sink sync=false")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let f = pipeline.by_name("f").ok_or_else(|| anyhow!("no filesrc"))?;
    f.set_property("location", path.to_string_lossy().to_string());
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("no appsink"))?;
    pipeline.set_state(gst::State::Playing).map_err(|_| anyhow!("cannot read {}", path.display()))?;
    let mut caps = None;
    let mut frames = Vec::new();
    let result = loop {
        match sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            Some(s) => {
                if caps.is_none() {
                    caps = s.caps_owned();
                }
                let Some(buf) = s.buffer_owned() else { continue };
                let Some(pts) = buf.pts().or(buf.dts()) else { continue };
                let dts = buf.dts().unwrap_or(pts);
                frames.push(Frame {
                    pts: offset_ns + pts.nseconds() as i64,
                    dts: offset_ns + dts.nseconds() as i64,
                    key: !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    buf,
                });
            }
            None => {
                break if sink.is_eos() { Ok(()) } else { Err(anyhow!("{} did not play to its end", path.display())) };
            }
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    Ok((caps.ok_or_else(|| anyhow!("{} has no video", path.display()))?, frames))
}

/// Cut `[from_ms, to_ms]` (wall clock) out of `segments` (files in `ring_dir`) into `out`.
/// `data_dir` is what `file` in the result is relative to.
///
/// Streams: one segment's frames are in memory at a time (plus the group of pictures the clip
/// starts with), and the writer takes them with back-pressure, so a long cut needs no more
/// memory than a short one. The file is synced, renamed into place and its folder synced before
/// this returns: an event naming it never survives a power cut that the clip does not.
pub fn cut(
    segments: &[Segment],
    ring_dir: &Path,
    from_ms: i64,
    to_ms: i64,
    out: &Path,
    data_dir: &Path,
) -> Result<ClipInfo> {
    if segments.is_empty() {
        bail!("the ring has nothing between these times");
    }
    let origin_ms = segments[0].start_ms;
    let ns = |ms: i64| (ms - origin_ms) * 1_000_000;
    let (from, to) = (ns(from_ms), ns(to_ms));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = out.with_extension("mp4.part");
    let mut caps: Option<gst::Caps> = None;
    let mut cutter = Cutter::new(from, to);
    let mut writer: Option<Mp4Writer> = None;
    let write = |writer: &mut Option<Mp4Writer>, caps: &gst::Caps, frames: Vec<Frame>| -> Result<()> {
        for f in frames {
            match writer {
                Some(w) => w.push(f),
                None => *writer = Some(Mp4Writer::start(caps, f, &tmp)?),
            }
        }
        Ok(())
    };
    'segments: for seg in segments {
        let (c, frames) = read_segment(&ring_dir.join(&seg.file), ns(seg.start_ms))
            .with_context(|| format!("reading ring segment {}", seg.file))?;
        match &caps {
            None => caps = Some(c),
            // A stream whose format changed cannot go on in the same MP4: the clip ends there.
            Some(first) if first.structure(0).map(|s| s.name()) != c.structure(0).map(|s| s.name()) => break,
            Some(_) => {}
        }
        let Some(caps) = &caps else { break };
        for f in frames {
            let (pts, key) = (f.pts, f.key);
            let (now, done) = cutter.offer(f, pts, key);
            write(&mut writer, caps, now)?;
            if done {
                break 'segments;
            }
        }
    }
    if let Some(caps) = &caps {
        write(&mut writer, caps, cutter.finish())?;
    }
    let writer = writer.ok_or_else(|| anyhow!("no keyframe in the ring's range"))?;
    let written = writer.finish().and_then(|t| crate::durable::rename(&tmp, out).map(|()| t));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let (first, last) = written?;
    let (bytes, sha256) = hash_file(out)?;
    Ok(ClipInfo {
        file: out.strip_prefix(data_dir).unwrap_or(out).to_string_lossy().to_string(),
        duration_s: ((last - first) as f64 / 1e9 * 100.0).round() / 100.0,
        bytes,
        sha256,
        start: rfc3339(ring::from_ms(origin_ms + first / 1_000_000)),
        end: rfc3339(ring::from_ms(origin_ms + last / 1_000_000)),
        start_ms: origin_ms + first / 1_000_000,
        end_ms: origin_ms + last / 1_000_000,
        capped: false,
    })
}

/// [`select`]'s rule, streamed: frames are offered in decode order, and held only from the last
/// keyframe while the start is not reached yet. With B-frames the end may come one reordered
/// frame earlier than [`select`]'s (both are whole, decodable clips).
struct Cutter<T> {
    from: i64,
    to: i64,
    started: bool,
    pending: Vec<T>,
}

impl<T> Cutter<T> {
    fn new(from: i64, to: i64) -> Self {
        Self { from, to, started: false, pending: Vec::new() }
    }

    /// Offer the next frame: the frames to write now, and whether the clip is complete.
    fn offer(&mut self, f: T, pts: i64, key: bool) -> (Vec<T>, bool) {
        if self.started {
            return if pts > self.to { (Vec::new(), true) } else { (vec![f], false) };
        }
        if pts > self.to && !self.pending.is_empty() {
            self.started = true;
            return (std::mem::take(&mut self.pending), true);
        }
        if key && (pts <= self.from || self.pending.is_empty()) {
            self.pending.clear();
        } else if self.pending.is_empty() {
            return (Vec::new(), false); // a delta frame before any keyframe: undecodable
        }
        self.pending.push(f);
        if pts > self.from {
            self.started = true;
            return (std::mem::take(&mut self.pending), false);
        }
        (Vec::new(), false)
    }

    /// The input ended: what is held (the ring ended before `from`).
    fn finish(&mut self) -> Vec<T> {
        std::mem::take(&mut self.pending)
    }
}

/// `appsrc ! mp4mux ! filesink`, fed with back-pressure.
struct Mp4Writer {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    out: PathBuf,
    base: i64,
    last_dts: i64,
    first_pts: i64,
    end_pts: i64,
}

/// What the writer may hold before `push` waits for it.
const WRITER_QUEUE_BYTES: u64 = 8 << 20;

impl Mp4Writer {
    /// Start writing `out` with the clip's first frame, a keyframe: its decode time is the
    /// file's zero (decode times only grow from there; presentation times are never earlier).
    fn start(caps: &gst::Caps, first: Frame, out: &Path) -> Result<Self> {
        let base = first.dts.min(first.pts);
        let pipeline = gst::Pipeline::new();
        let src = gst_app::AppSrc::builder()
            .caps(caps)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(WRITER_QUEUE_BYTES)
            .build();
        let mux =
            gst::ElementFactory::make("mp4mux").build().context("mp4mux is missing (gstreamer1.0-plugins-good)")?;
        let sink = gst::ElementFactory::make("filesink")
            .property("location", out.to_string_lossy().to_string())
            .build()
            .context("filesink is missing")?;
        pipeline.add_many([src.upcast_ref(), &mux, &sink])?;
        // Linked to a video pad by name: left to itself, an appsrc is linked before it has caps.
        let vpad = mux.request_pad_simple("video_%u").ok_or_else(|| anyhow!("mp4mux gave no video pad"))?;
        src.static_pad("src").ok_or_else(|| anyhow!("appsrc has no pad"))?.link(&vpad)?;
        mux.link(&sink)?;
        pipeline.set_state(gst::State::Playing).map_err(|_| anyhow!("cannot write {}", out.display()))?;
        let mut w =
            Self { pipeline, src, out: out.to_path_buf(), base, last_dts: -1, first_pts: i64::MAX, end_pts: i64::MIN };
        w.push(first);
        Ok(w)
    }

    fn push(&mut self, f: Frame) {
        // Keep decode times strictly increasing where segments meet (times are rounded to ms).
        let dts = (f.dts - self.base).max(self.last_dts + 1);
        self.last_dts = dts;
        self.first_pts = self.first_pts.min(f.pts);
        self.end_pts = self.end_pts.max(f.pts + f.buf.duration().map_or(0, |d| d.nseconds() as i64));
        let mut b = f.buf;
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds((f.pts - self.base).max(0) as u64));
            b.set_dts(gst::ClockTime::from_nseconds(dts as u64));
        }
        // Blocks while the writer is behind; fails once its pipeline failed (`finish` says why).
        let _ = self.src.push_buffer(b);
    }

    /// End the file; the clip's first and end presentation times (ns on the cut's timeline).
    fn finish(&self) -> Result<(i64, i64)> {
        let _ = self.src.end_of_stream();
        let bus = self.pipeline.bus().ok_or_else(|| anyhow!("no bus"))?;
        let res = match bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        {
            Some(m) => match m.view() {
                gst::MessageView::Error(e) => Err(anyhow!("writing {}: {}", self.out.display(), e.error())),
                _ => Ok((self.first_pts, self.end_pts)),
            },
            None => Err(anyhow!("writing {} did not finish", self.out.display())),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        res
    }
}

impl Drop for Mp4Writer {
    /// A cut that failed half-way (an unreadable segment) stops its pipeline too.
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Size and SHA-256 (lower-case hex) of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, hex(&h.finalize())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where an event's clip goes.
pub fn event_clip_path(events_dir: &Path, event_id: &str) -> PathBuf {
    events_dir.join(format!("{event_id}.mp4"))
}

/// Give up waiting for the ring after this long past the wanted end (a camera that stopped).
pub const COVER_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_the_keyframe_before_and_ends_at_the_last_frame_in_range() {
        // Keyframes at 0, 20, 40; a frame every 10.
        let f: Vec<(i64, bool)> = (0..6).map(|i| (i * 10, i % 2 == 0)).collect();
        assert_eq!(select(&f, 25, 35), Some((2, 4)), "from 25: keyframe at 20; to 35: up to the frame at 30");
        assert_eq!(select(&f, 20, 20), Some((2, 3)));
        assert_eq!(select(&f, -100, 5), Some((0, 1)), "before the ring: from its first keyframe");
        assert_eq!(select(&f, 45, 1000), Some((4, 6)));
        assert_eq!(select(&[(0, false), (10, true)], 0, 100), Some((1, 2)), "never from a delta frame");
        assert_eq!(select(&[(0, false)], 0, 10), None);
    }

    proptest::proptest! {
        /// Streamed, the cut takes the same frames as [`select`] (times in order, as without
        /// B-frames).
        #[test]
        fn the_streamed_cut_takes_what_select_takes(
            gaps in proptest::collection::vec((1i64..40, proptest::bool::weighted(0.2)), 0..60),
            from in -50i64..1500,
            len in 0i64..800,
        ) {
            let mut t = 0;
            let frames: Vec<(i64, bool)> = gaps.iter().map(|&(g, k)| { t += g; (t, k) }).collect();
            let to = from + len;
            let mut c = Cutter::new(from, to);
            let mut taken = Vec::new();
            for (i, &(pts, key)) in frames.iter().enumerate() {
                let (now, done) = c.offer(i, pts, key);
                taken.extend(now);
                if done {
                    break;
                }
            }
            taken.extend(c.finish());
            let want: Vec<usize> = select(&frames, from, to).map(|(a, b)| (a..b).collect()).unwrap_or_default();
            proptest::prop_assert_eq!(taken, want);
        }
    }

    #[test]
    fn hashes_files() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("a");
        std::fs::write(&p, b"abc").expect("write");
        let (n, h) = hash_file(&p).expect("hash");
        assert_eq!(n, 3);
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
