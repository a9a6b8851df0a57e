//! Recorded detections (`anttd run --record-detections FILE`) and replaying them through the
//! tracker and rules (`anttd replay`).
//!
//! The file is JSON Lines. The first line is a header with the model's labels and groups, so a
//! replay needs no model; every other line is one detected frame of one camera:
//!
//! ```json
//! {"format":"anttd-detections","version":1,"model":"yolov12n","labels":["person",…],"groups":{"person":["person"],…}}
//! {"camera":"road","time_s":0.2,"wall_ms":1795873230123,"width":768,"height":576,"detections":[{"label":"person","class_id":0,"score":0.91,"box":[10.5,20.25,50.0,120.0]}]}
//! ```
//!
//! Scores and boxes are written at full `f32` precision (unlike `anttd detect`, which rounds),
//! so a replay reproduces the live tracker exactly. Frames without detections are recorded too:
//! the tracker needs the time to pass to end lost tracks.
//!
//! Where boxes are carried from frame to frame between detections ([`crate::track::carry`]), a
//! frame holds a `carried` list, each box naming the box of the camera's frame before it was
//! carried from (that frame's detections, then its carried boxes), and a frame the detector did
//! not run on says so (the daemon writes these for a camera with `carry_fps`, and so does the
//! simulator):
//! `"detections":[],"detected":false,"carried":[{"from":0,"box":[12.5,20.0,52.0,121.0]}]`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::manifest::{Groups, LabelMap};
use crate::detect::{BBox, Detection};
use crate::event::{CountsMessage, Event};

pub const FORMAT: &str = "anttd-detections";
pub const VERSION: u32 = 1;

/// The first line of a recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub model: String,
    /// Label names by class id.
    pub labels: Vec<String>,
    pub groups: Groups,
}

/// One detection as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedDetection {
    pub label: String,
    pub class_id: u32,
    pub score: f32,
    /// x1, y1, x2, y2 in source pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// One detected frame as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameRecord {
    pub camera: String,
    /// Stream time, seconds.
    pub time_s: f64,
    /// Wall-clock time of the frame, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Source image size in pixels.
    pub width: u32,
    pub height: u32,
    pub detections: Vec<RecordedDetection>,
    /// Whether the detector ran on the frame (written only when it did not: then `detections`
    /// is empty, and the frame holds only carried boxes).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub detected: bool,
    /// The boxes carried onto the frame from the camera's frame before ([`crate::track::carry`]),
    /// when the carrier ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Vec<CarriedBox>>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// One box carried onto a frame from the frame before.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriedBox {
    /// The index of the box of the camera's frame before that it was carried from: among that
    /// frame's `detections`, then its `carried` boxes.
    pub from: usize,
    /// x1, y1, x2, y2 in source pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl FrameRecord {
    pub fn new(
        camera: &str,
        time_s: f64,
        wall: SystemTime,
        size: (u32, u32),
        dets: &[Detection],
        labels: &LabelMap,
    ) -> Self {
        let detections = dets
            .iter()
            .map(|d| RecordedDetection {
                label: labels.name(d.class_id).to_string(),
                class_id: d.class_id,
                score: d.score,
                bbox: d.bbox.into(),
            })
            .collect();
        Self { detections, ..Self::empty(camera, time_s, wall, size) }
    }

    /// A detected frame of `camera` without detections.
    fn empty(camera: &str, time_s: f64, wall: SystemTime, size: (u32, u32)) -> Self {
        Self {
            camera: camera.to_string(),
            time_s,
            wall_ms: wall_ms(wall),
            width: size.0,
            height: size.1,
            detections: Vec::new(),
            detected: true,
            carried: None,
        }
    }

    /// The boxes carried onto the frame, each with the index of its box of the frame before.
    pub fn with_carried(mut self, boxes: &[(usize, BBox)]) -> Self {
        self.carried = Some(boxes.iter().map(|&(from, b)| CarriedBox { from, bbox: b.into() }).collect());
        self
    }

    /// Its boxes: the detections, then the carried boxes (what the next frame's carried boxes
    /// name).
    pub fn boxes(&self) -> usize {
        self.detections.len() + self.carried.as_ref().map_or(0, Vec::len)
    }

    /// A frame the detector did not run on, with the boxes carried onto it: each with the index
    /// of its box of the frame before.
    pub fn carried(camera: &str, time_s: f64, wall: SystemTime, size: (u32, u32), boxes: &[(usize, BBox)]) -> Self {
        Self { detected: false, ..Self::empty(camera, time_s, wall, size) }.with_carried(boxes)
    }

    pub fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.wall_ms)
    }
}

/// Milliseconds since the Unix epoch (0 before it).
fn wall_ms(wall: SystemTime) -> u64 {
    wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Writes a recording of detections (JSON Lines), one flushed line at a time so a killed
/// process loses at most the line it was writing.
pub struct DetectionRecorder<W: Write> {
    out: W,
}

impl<W: Write> DetectionRecorder<W> {
    pub fn new(mut out: W, model: &str, labels: &LabelMap, groups: &Groups) -> std::io::Result<Self> {
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            model: model.into(),
            labels: labels.labels.clone(),
            groups: groups.clone(),
        };
        write_line(&mut out, &header)?;
        Ok(Self { out })
    }

    pub fn frame(&mut self, frame: &FrameRecord) -> std::io::Result<()> {
        write_line(&mut self.out, frame)
    }
}

fn write_line<W: Write, T: Serialize>(out: &mut W, v: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A line that cannot be replayed; `line` is 1-based.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

fn at(line: usize, message: impl Into<String>) -> ReplayError {
    ReplayError::Line { line, message: message.into() }
}

/// Parse the header line.
pub fn parse_header(line_no: usize, text: &str) -> Result<Header, ReplayError> {
    let h: Header = serde_json::from_str(text).map_err(|e| at(line_no, format!("not a recording header: {e}")))?;
    if h.format != FORMAT || h.version != VERSION {
        return Err(at(
            line_no,
            format!("format `{}` version {} is not {FORMAT} version {VERSION}", h.format, h.version),
        ));
    }
    Ok(h)
}

/// The latest stream time a recording may hold: ten years.
pub const MAX_TIME_S: f64 = 10.0 * 365.25 * 86_400.0;
/// 9999-12-31T23:59:59.999Z, the latest time an event can carry.
pub const MAX_WALL_MS: u64 = 253_402_300_799_999;

/// Parse one frame line against the header's labels.
pub fn parse_frame(line_no: usize, text: &str, labels: &LabelMap) -> Result<FrameRecord, ReplayError> {
    let f: FrameRecord = serde_json::from_str(text).map_err(|e| at(line_no, format!("not a frame record: {e}")))?;
    if !f.time_s.is_finite() {
        return Err(at(line_no, "time_s is not a finite number"));
    }
    if !(0.0..=MAX_TIME_S).contains(&f.time_s) {
        return Err(at(line_no, format!("time_s {} is outside 0 to {MAX_TIME_S} seconds", f.time_s)));
    }
    if f.wall_ms > MAX_WALL_MS {
        return Err(at(line_no, format!("wall_ms {} is after the year 9999", f.wall_ms)));
    }
    for d in &f.detections {
        if labels.name(d.class_id) != d.label {
            return Err(at(
                line_no,
                format!("class_id {} is `{}` in the header, not `{}`", d.class_id, labels.name(d.class_id), d.label),
            ));
        }
        if d.bbox.iter().any(|c| !c.is_finite()) || !d.score.is_finite() {
            return Err(at(line_no, "a detection has a non-finite score or box"));
        }
    }
    if !f.detected && !f.detections.is_empty() {
        return Err(at(line_no, "a frame with `\"detected\": false` has detections"));
    }
    if f.carried.iter().flatten().any(|c| c.bbox.iter().any(|v| !v.is_finite())) {
        return Err(at(line_no, "a carried box is not finite"));
    }
    Ok(f)
}

/// What a replay went through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub frames: u64,
    pub events: u64,
    /// `<camera>/counts` messages.
    pub counts: u64,
}

/// One message a replay produces: what the daemon would publish on `<camera>/events` or
/// `<camera>/counts` (the payload's `kind` tells them apart: `counts` for the latter).
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    Event(&'a Event),
    Counts(&'a CountsMessage),
}

impl Output<'_> {
    /// The payload as the daemon would publish it.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Output::Event(e) => e.to_json(),
            Output::Counts(c) => c.to_json(),
        }
    }
}

/// Replay `input` and write every message to `out` as one JSON line (`anttd replay`).
pub fn print(cfg: &Config, input: impl BufRead, out: &mut impl Write) -> Result<ReplaySummary, ReplayError> {
    run(cfg, input, |m| {
        out.write_all(&m.to_json())?;
        out.write_all(b"\n")
    })
}

/// Run every recorded frame through its camera's analytics (built from `cfg`) and hand each
/// event and `counts` message to `on_output`, in the order the daemon would publish them per
/// camera (a frame's events, then the counts of the intervals it closed). At the end of the
/// input every camera's open tracks are ended and its last interval is counted, as at the end of
/// a stream.
pub fn run(
    cfg: &Config,
    input: impl BufRead,
    on_output: impl FnMut(Output) -> std::io::Result<()>,
) -> Result<ReplaySummary, ReplayError> {
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (header_line, header) = loop {
        match lines.next() {
            None => return Err(at(1, "the file is empty: no recording header")),
            Some((n, l)) => {
                let l = l?;
                if !l.trim().is_empty() {
                    break (n, parse_header(n, &l)?);
                }
            }
        }
    };
    run_frames(cfg, header_line, header, lines.map(|(n, l)| Ok((n, l?))), on_output)
}

/// The body of [`run`] after the header: every frame through its camera's analytics. Frames come
/// as (line number, JSON text) so a simulator feeding frames it made itself (`sim`) runs exactly
/// the code path of a replayed file, checks included.
pub fn run_frames(
    cfg: &Config,
    header_line: usize,
    header: Header,
    frames: impl Iterator<Item = Result<(usize, String), ReplayError>>,
    mut on_output: impl FnMut(Output) -> std::io::Result<()>,
) -> Result<ReplaySummary, ReplayError> {
    // No model is loaded: the cameras' labels are checked against the recording's instead.
    cfg.check_labels(&header.labels).map_err(|e| at(header_line, e.to_string()))?;
    let labels = Arc::new(LabelMap::new(header.labels, &header.groups).map_err(|e| at(header_line, e))?);
    let mut cams: Vec<CameraAnalytics> =
        cfg.cameras.iter().map(|c| CameraAnalytics::new(c, &cfg.tracker, Arc::clone(&labels))).collect();
    let index: HashMap<String, usize> = cams.iter().enumerate().map(|(i, c)| (c.camera().to_string(), i)).collect();
    let mut last_time: Vec<Option<f64>> = vec![None; cams.len()];
    // Per camera, how many boxes its frame before had (what carried boxes name).
    let mut boxes_before: Vec<Option<usize>> = vec![None; cams.len()];
    let (mut summary, mut events, mut scratch) = (ReplaySummary::default(), Vec::new(), FrameScratch::default());
    for item in frames {
        let (n, l) = item?;
        if l.trim().is_empty() {
            continue;
        }
        let f = parse_frame(n, &l, &labels)?;
        let Some(&ci) = index.get(&f.camera) else {
            return Err(at(n, format!("camera `{}` is not in the config", f.camera)));
        };
        // The tracker assumes time runs forward; a shuffled file would give nonsense.
        if last_time[ci].is_some_and(|t| f.time_s < t) {
            return Err(at(n, format!("camera `{}`: time_s {} goes backwards", f.camera, f.time_s)));
        }
        last_time[ci] = Some(f.time_s);
        if let Some(boxes) = &f.carried {
            let had = match boxes_before[ci] {
                Some(had) => had,
                None if boxes.is_empty() => 0,
                None => return Err(at(n, format!("camera `{}`: boxes carried onto its first frame", f.camera))),
            };
            if let Some(c) = boxes.iter().find(|c| c.from >= had) {
                return Err(at(n, format!("a box is carried from box {} of a frame that had {had}", c.from)));
            }
        }
        boxes_before[ci] = Some(f.boxes());
        play_frame(&mut cams[ci], &f, &mut scratch, &mut events);
        summary.frames += 1;
        emit(&mut cams[ci], &mut events, &mut summary, &mut on_output)?;
    }
    for cam in &mut cams {
        cam.finish(&mut events);
        emit(cam, &mut events, &mut summary, &mut on_output)?;
    }
    Ok(summary)
}

/// Buffers [`play_frame`] reuses from frame to frame.
#[derive(Debug, Default)]
pub struct FrameScratch {
    dets: Vec<Detection>,
    carried: Vec<(usize, BBox)>,
}

/// One recorded frame through its camera's analytics, its events appended to `out`: a detected
/// frame, with the boxes carried onto it if any, or a frame the detector did not run on. Returns
/// the detections given (`None` on a frame the detector did not run on). The carried boxes'
/// indices are not checked here: [`run_frames`] checks them, and the simulator makes them.
pub fn play_frame<'s>(
    cam: &mut CameraAnalytics,
    f: &FrameRecord,
    scratch: &'s mut FrameScratch,
    out: &mut Vec<Event>,
) -> Option<&'s [Detection]> {
    scratch.carried.clear();
    scratch.carried.extend(f.carried.iter().flatten().map(|c| (c.from, BBox::from(c.bbox))));
    if !f.detected {
        cam.on_carried(f.time_s, f.wall(), &scratch.carried, out);
        return None;
    }
    scratch.dets.clear();
    scratch.dets.extend(f.detections.iter().map(|d| Detection {
        class_id: d.class_id,
        score: d.score,
        bbox: BBox::from(d.bbox),
    }));
    cam.on_frame_carried(f.time_s, f.wall(), (f.width, f.height), &scratch.dets, &scratch.carried, out);
    Some(&scratch.dets)
}

/// Hand on `events`, then the camera's closed counts, as the daemon stores them after a frame.
fn emit(
    cam: &mut CameraAnalytics,
    events: &mut Vec<Event>,
    summary: &mut ReplaySummary,
    on_output: &mut impl FnMut(Output) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for e in events.drain(..) {
        summary.events += 1;
        on_output(Output::Event(&e))?;
    }
    for c in cam.take_counts() {
        summary.counts += 1;
        on_output(Output::Counts(&c))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any line, and any edit of a real recording, gives frames or an error naming the
        /// line, never a panic.
        #[test]
        fn any_recording_never_panics(line in "[ -~]{0,120}", at in 0.0f64..1.0, cut in 0usize..30, insert in "[ -~\n]{0,30}") {
            let mut input = recording();
            input.extend_from_slice(line.as_bytes());
            let _ = replay(&input);
            let text = String::from_utf8(recording()).expect("utf8");
            let chars: Vec<char> = text.chars().collect();
            let i = (at * chars.len() as f64) as usize;
            let k = (i + cut).min(chars.len());
            let edited: String = chars[..i].iter().copied().chain(insert.chars()).chain(chars[k..].iter().copied()).collect();
            let _ = replay(edited.as_bytes());
        }

        #[test]
        fn any_numbers_in_a_frame_never_panic(t in any::<f64>(), wall in any::<u64>(), w in any::<u32>(), h in any::<u32>(), b in proptest::array::uniform4(any::<f32>()), score in any::<f32>()) {
            let mut input = recording();
            let frame = serde_json::json!({
                "camera": "cam1", "time_s": t, "wall_ms": wall, "width": w, "height": h,
                "detections": [{"label": "person", "class_id": 0, "score": score, "box": b}],
            });
            input.extend_from_slice(frame.to_string().as_bytes());
            let _ = replay(&input);
        }
    }

    fn groups() -> Groups {
        Groups { person: vec!["person".into()], vehicle: vec!["car".into()], motorcycle: vec![] }
    }

    fn labels() -> LabelMap {
        LabelMap::new(vec!["person".into(), "bicycle".into(), "car".into()], &groups()).expect("labels")
    }

    fn config() -> Config {
        let text = r#"site = "s"
device = "d"
[model]
manifest = "m.toml"
[[cameras]]
id = "cam1"
uri = "rtsp://h/s"
[[cameras.lines]]
name = "gate"
points = [[200, 400], [200, 200]]
"#;
        Config::from_str(Path::new("/x/anttd.toml"), text).expect("config")
    }

    /// A recording of one person walking across the line in 20 frames.
    fn recording() -> Vec<u8> {
        let mut out = Vec::new();
        let mut rec = DetectionRecorder::new(&mut out, "test", &labels(), &groups()).expect("header");
        for i in 0..=20 {
            let x = 100.0 + 10.0 * i as f32;
            let d = Detection { class_id: 0, score: 0.9, bbox: BBox::new(x - 20.0, 200.0, x + 20.0, 300.0) };
            let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + 100 * i);
            let f = FrameRecord::new("cam1", i as f64 * 0.1, wall, (640, 480), &[d], &labels());
            rec.frame(&f).expect("frame");
        }
        out
    }

    fn replay(input: &[u8]) -> Result<Vec<Event>, ReplayError> {
        let mut got = Vec::new();
        run(&config(), input, |m| {
            if let Output::Event(e) = m {
                got.push(e.clone());
            }
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn records_round_trip_exactly() {
        let d = Detection { class_id: 2, score: 0.123_456_79, bbox: BBox::new(1.0 / 3.0, 2.5, 100.1, 200.7) };
        let f = FrameRecord::new("cam1", 12.345_678_9, SystemTime::UNIX_EPOCH, (1920, 1080), &[d], &labels());
        let text = serde_json::to_string(&f).expect("json");
        let back = parse_frame(2, &text, &labels()).expect("parse");
        assert_eq!(back, f);
        assert_eq!(back.detections[0].bbox, <[f32; 4]>::from(d.bbox));
        assert_eq!(back.detections[0].label, "car");
    }

    #[test]
    fn replays_a_walk_across_a_line() {
        let got = replay(&recording()).expect("replay");
        let kinds: Vec<(&str, crate::event::Phase)> = got.iter().map(|e| (e.kind(), e.phase)).collect();
        use crate::event::Phase::*;
        assert_eq!(kinds, vec![("object", Start), ("line_cross", Start), ("object", End)]);
        // Event times come from the recorded wall clock: confirmed at the third hit (min_hits 3).
        assert_eq!(got[0].ts, "1970-01-01T00:16:40.200Z");
    }

    #[test]
    fn carried_frames_replay_and_name_their_box() {
        // The walk with every other frame carried instead of detected: the same events, the
        // crossing made on a carried frame or a detected one.
        let mut rec = recording().split(|&c| c == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>();
        for (i, line) in rec.iter_mut().enumerate().skip(1).filter(|(i, l)| i % 2 == 0 && !l.is_empty()) {
            let f = parse_frame(
                i + 1,
                std::str::from_utf8(line).expect("utf8"),
                &LabelMap::new(labels().labels, &groups()).expect("labels"),
            )
            .expect("frame");
            let b = BBox::from(f.detections[0].bbox);
            let c = FrameRecord::carried("cam1", f.time_s, f.wall(), (640, 480), &[(0, b)]);
            *line = serde_json::to_vec(&c).expect("json");
        }
        let input = rec.join(&b'\n');
        let got = replay(&input).expect("replay");
        let kinds: Vec<&str> = got.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds, vec!["object", "line_cross", "object"]);
        // A box carried from a box its frame before did not have, or onto a camera's first
        // frame, and detections on a frame the detector did not run on, are refused with their
        // line.
        let bad = |line: &str, first: bool| {
            let mut input = if first {
                recording()[..recording().iter().position(|&c| c == b'\n').expect("header") + 1].to_vec()
            } else {
                recording()
            };
            input.extend_from_slice(line.as_bytes());
            replay(&input)
        };
        let carried = r#"{"camera":"cam1","time_s":9.0,"wall_ms":0,"width":640,"height":480,"detections":[],"carried":[{"from":1,"box":[1,2,3,4]}]}"#;
        match bad(carried, false) {
            Err(ReplayError::Line { line: 23, message }) => {
                assert!(message.contains("box 1 of a frame that had 1"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        match bad(carried, true) {
            Err(ReplayError::Line { line: 2, message }) => {
                assert!(message.contains("onto its first frame"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let both = r#"{"camera":"cam1","time_s":9.0,"wall_ms":0,"width":640,"height":480,"detections":[{"label":"person","class_id":0,"score":0.9,"box":[1,2,3,4]}],"detected":false}"#;
        match bad(both, false) {
            Err(ReplayError::Line { line: 23, message }) => {
                assert!(message.contains("`\"detected\": false` has detections"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_camera_names_the_line() {
        let mut input = recording();
        input.extend_from_slice(br#"{"camera":"cam9","time_s":9.0,"wall_ms":0,"width":1,"height":1,"detections":[]}"#);
        match replay(&input) {
            Err(ReplayError::Line { line: 23, message }) => assert!(message.contains("`cam9`"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absurd_times_are_refused_by_line_not_a_panic() {
        for (line, want) in [
            (
                r#"{"camera":"cam1","time_s":99.0,"wall_ms":18446744073709551615,"width":1,"height":1,"detections":[]}"#,
                "wall_ms",
            ),
            (r#"{"camera":"cam1","time_s":1e300,"wall_ms":0,"width":1,"height":1,"detections":[]}"#, "time_s"),
            (r#"{"camera":"cam1","time_s":-5.0,"wall_ms":0,"width":1,"height":1,"detections":[]}"#, "time_s"),
        ] {
            let mut input = recording();
            input.extend_from_slice(line.as_bytes());
            match replay(&input) {
                Err(ReplayError::Line { line: 23, message }) => assert!(message.contains(want), "{message}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        // At the limits, events still get a time (the epoch, past year 9999), never a panic.
        assert_eq!(
            crate::event::rfc3339(
                SystemTime::UNIX_EPOCH + Duration::from_millis(MAX_WALL_MS) + Duration::from_secs(MAX_TIME_S as u64)
            ),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let mut input = recording();
        input.extend_from_slice(b"{\"camera\":\"cam1\",\"time_s\":\n");
        match replay(&input) {
            Err(ReplayError::Line { line: 23, message }) => {
                assert!(message.contains("not a frame record"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // A label that does not match the header's class id.
        let text = String::from_utf8(recording()).expect("utf8").replacen(
            "\"person\",\"class_id\"",
            "\"car\",\"class_id\"",
            1,
        );
        match replay(text.as_bytes()) {
            Err(ReplayError::Line { line: 2, message }) => assert!(message.contains("not `car`"), "{message}"),
            other => panic!("{other:?}"),
        }
        // No header.
        let text = String::from_utf8(recording()).expect("utf8");
        let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
        match replay(body.as_bytes()) {
            Err(ReplayError::Line { line: 1, message }) => assert!(message.contains("header"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(replay(b""), Err(ReplayError::Line { line: 1, .. })));
    }

    /// A camera with a zone and zone rules (default tracker: confirmed at the third hit).
    fn zone_config(rules: &str) -> Config {
        let text = format!(
            "site = \"s\"\ndevice = \"d\"\n[model]\nmanifest = \"m.toml\"\n[[cameras]]\nid = \"cam1\"\nuri = \"rtsp://h/s\"\n\
             [[cameras.zones]]\nname = \"square\"\npolygon = [[0, 0], [600, 0], [600, 600], [0, 600]]\n{rules}"
        );
        Config::from_str(Path::new("/x/anttd.toml"), &text).expect("config")
    }

    /// A recording of `frames` (time, detections) at 5 fps, written as the daemon would.
    fn record(frames: impl Iterator<Item = (f64, Vec<Detection>)>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rec = DetectionRecorder::new(&mut out, "test", &labels(), &groups()).expect("header");
        for (t, dets) in frames {
            let wall = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_000.0 + t);
            rec.frame(&FrameRecord::new("cam1", t, wall, (1280, 720), &dets, &labels())).expect("frame");
        }
        out
    }

    fn replay_with(cfg: &Config, input: &[u8]) -> Vec<Event> {
        let mut got = Vec::new();
        run(cfg, input, |m| {
            if let Output::Event(e) = m {
                got.push(e.clone());
            }
            Ok(())
        })
        .expect("replay");
        got
    }

    fn body(class_id: u32, x: f32, y: f32) -> Detection {
        Detection { class_id, score: 0.9, bbox: BBox::new(x - 20.0, y - 100.0, x + 20.0, y) }
    }

    #[test]
    fn twelve_persons_gathering_make_one_crowd() {
        // Calibrated at 5 cm a pixel: the 600 px square zone is 30 m × 30 m, 900 m².
        let cfg = zone_config(
            "[cameras.calibration]\nimage = [[0, 0], [600, 0], [600, 600], [0, 600]]\n\
             ground = [[0, 0], [30, 0], [30, 30], [0, 30]]\n\
             [[cameras.rules]]\nkind = \"crowd\"\nname = \"gathering\"\nzone = \"square\"\n\
             min_persons = 10\nfor_s = 5\nend_after_s = 5\ncooldown_s = 30\n",
        );
        // Eight persons arrive one a second and stay; four more hover across the zone's right
        // edge (x = 600), each in and out at its own pace, so the count in the zone
        // wanders between 8 and 12 around the threshold of 10 for 30 s. Then everyone leaves
        // and 15 s of empty frames follow.
        let frames = (0..225).map(|i| {
            let t = f64::from(i) * 0.2;
            let mut dets = Vec::new();
            if t < 30.0 {
                for k in 0..8 {
                    if t >= f64::from(k) {
                        dets.push(body(0, 60.0 + 60.0 * k as f32, 300.0));
                    }
                }
                for (period, y) in [(2.2, 100.0), (2.9, 200.0), (3.7, 400.0), (4.6, 500.0)] {
                    let x = 600.0 + 25.0 * (std::f64::consts::TAU * t / period).sin();
                    dets.push(body(0, x as f32, y));
                }
            }
            (t, dets)
        });
        let evs = replay_with(&cfg, &record(frames));
        let crowd: Vec<&Event> = evs.iter().filter(|e| e.kind() == "crowd").collect();
        let starts = crowd.iter().filter(|e| e.phase == crate::event::Phase::Start).count();
        let ends = crowd.iter().filter(|e| e.phase == crate::event::Phase::End).count();
        let summary: Vec<String> = crowd.iter().map(|e| format!("{} {:?} {:?}", e.ts, e.phase, e.body)).collect();
        assert_eq!((starts, ends), (1, 1), "{summary:#?}");
        // One event: every message shares the start's event id, the end comes last.
        assert!(crowd.iter().all(|e| e.event_id == crowd[0].event_id), "{summary:#?}");
        assert_eq!(crowd.last().map(|e| e.phase), Some(crate::event::Phase::End));
        // The count did change: updates were sent, at most one per 5 s after the start and each
        // other (event times are whole 200 ms frames from 1000 s; the end is not held back).
        let secs: Vec<f64> = crowd
            .iter()
            .filter(|e| e.phase != crate::event::Phase::End)
            .map(|e| {
                let hms = &e.ts[11..23];
                let (m, s) = (&hms[3..5], &hms[6..]);
                m.parse::<f64>().unwrap_or(0.0) * 60.0 + s.parse::<f64>().unwrap_or(0.0)
            })
            .collect();
        assert!(secs.len() >= 3, "{summary:#?}");
        assert!(secs.windows(2).all(|w| w[1] - w[0] >= 4.99), "{summary:#?}");
        // Density over the zone's ground area.
        for e in &crowd {
            match &e.body {
                crate::event::Body::Crowd { count, persons_per_m2: Some(d), .. } => {
                    let want = (f64::from(*count) / 900.0 * 1000.0).round() / 1000.0;
                    assert!((d - want).abs() < 1e-9, "{d} for {count}");
                }
                other => panic!("no density: {other:?}"),
            }
        }
    }

    #[test]
    fn a_parked_car_makes_one_stopped_vehicle_event() {
        let cfg = zone_config(
            "[[cameras.rules]]\nkind = \"stopped_vehicle\"\nname = \"parked\"\nzone = \"square\"\n\
             for_s = 10\nmax_move_px = 8\n",
        );
        // A car parked for 60 s with ±3 px box jitter, while another drives through the zone.
        let frames = (0..300).map(|i| {
            let t = f64::from(i) * 0.2;
            let j = [3.0, -2.0, 0.0, -3.0, 2.0, 1.0, -1.0][i as usize % 7];
            let parked =
                Detection { class_id: 2, score: 0.9, bbox: BBox::new(200.0 + j, 340.0 - j, 320.0 - j, 400.0 + j) };
            let mut dets = vec![parked];
            if (50..150).contains(&i) {
                let x = 700.0 - 8.0 * (i - 50) as f32;
                dets.push(Detection { class_id: 2, score: 0.9, bbox: BBox::new(x - 60.0, 500.0, x + 60.0, 560.0) });
            }
            (t, dets)
        });
        let evs = replay_with(&cfg, &record(frames));
        let sv: Vec<&Event> = evs.iter().filter(|e| e.kind() == "stopped_vehicle").collect();
        let summary: Vec<String> = sv.iter().map(|e| format!("{:?} {:?}", e.phase, e.body)).collect();
        use crate::event::Phase::*;
        assert_eq!(sv.iter().map(|e| e.phase).collect::<Vec<_>>(), vec![Start, End], "{summary:#?}");
        match &sv[0].body {
            crate::event::Body::StoppedVehicle { track_id, label, stopped_s, .. } => {
                assert_eq!((*track_id, label.as_str()), (1, "car"));
                assert!(*stopped_s >= 10.0, "{stopped_s}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_person_standing_in_the_zone_makes_one_loitering_event() {
        let cfg =
            zone_config("[[cameras.rules]]\nkind = \"loitering\"\nname = \"stay\"\nzone = \"square\"\nfor_s = 20\n");
        // A person stands 48 s in the zone, walks out (leaving it at 56 s) and stays out; another
        // walks through.
        let frames = (0..300).map(|i| {
            let t = f64::from(i) * 0.2;
            let x = 120.0 + 12.0 * (i.clamp(240, 290) - 240) as f32;
            let mut dets =
                vec![Detection { class_id: 0, score: 0.9, bbox: BBox::new(x - 20.0, 200.0, x + 20.0, 300.0) }];
            if (50..100).contains(&i) {
                let y = 10.0 * (i - 50) as f32;
                dets.push(Detection { class_id: 0, score: 0.9, bbox: BBox::new(400.0, y, 440.0, y + 100.0) });
            }
            (t, dets)
        });
        let evs = replay_with(&cfg, &record(frames));
        let lo: Vec<&Event> = evs.iter().filter(|e| e.kind() == "loitering").collect();
        let summary: Vec<String> = lo.iter().map(|e| format!("{:?} {:?}", e.phase, e.body)).collect();
        use crate::event::Phase::*;
        assert_eq!(lo.iter().map(|e| e.phase).collect::<Vec<_>>(), vec![Start, End], "{summary:#?}");
        assert_eq!(lo[0].event_id, lo[1].event_id, "{summary:#?}");
        let dwell: Vec<(u64, &str, f64)> = lo
            .iter()
            .map(|e| match &e.body {
                crate::event::Body::Loitering { track_id, label, dwell_s, rule, zone } => {
                    assert_eq!((rule.as_str(), zone.as_str()), ("stay", "square"));
                    (*track_id, label.as_str(), *dwell_s)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(dwell.iter().all(|d| (d.0, d.1) == (1, "person")), "{summary:#?}");
        assert!((20.0..20.5).contains(&dwell[0].2) && (55.0..56.0).contains(&dwell[1].2), "{summary:#?}");
    }

    #[test]
    fn camera_labels_are_checked_against_the_header() {
        let text = r#"site = "s"
device = "d"
[model]
manifest = "m.toml"
[[cameras]]
id = "cam1"
uri = "rtsp://h/s"
labels = ["person", "bus"]
"#;
        let cfg = Config::from_str(Path::new("/x/anttd.toml"), text).expect("config");
        let mut n = 0;
        match run(&cfg, &recording()[..], |_| {
            n += 1;
            Ok(())
        }) {
            Err(ReplayError::Line { line: 1, message }) => assert!(message.contains("no label `bus`"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(n, 0);
    }

    /// One camera with the line of `recording()` and counts every second.
    fn counts_config() -> Config {
        let text = r#"site = "s"
device = "d"
[model]
manifest = "m.toml"
[[cameras]]
id = "cam1"
uri = "rtsp://h/s"
counts_interval_s = 1
[[cameras.lines]]
name = "gate"
points = [[200, 400], [200, 200]]
directions = ["in", "out"]
"#;
        Config::from_str(Path::new("/x/anttd.toml"), text).expect("config")
    }

    #[test]
    fn counts_sum_the_crossings_per_interval() {
        // The walk of `recording()` crosses the gate at about 1 s; intervals of 1 s.
        let cfg = counts_config();
        let labels = Arc::new(labels());
        let mut cam = CameraAnalytics::new(&cfg.cameras[0], &cfg.tracker, labels);
        let (mut events, mut counts) = (Vec::new(), Vec::new());
        for i in 0..=25u32 {
            let x = 100.0 + 10.0 * i.min(20) as f32;
            let d = Detection { class_id: 0, score: 0.9, bbox: BBox::new(x - 20.0, 200.0, x + 20.0, 300.0) };
            let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + 100 * u64::from(i));
            cam.on_frame(f64::from(i) * 0.1, wall, (640, 480), &[d], &mut events);
            counts.extend(cam.take_counts());
        }
        cam.finish(&mut events);
        counts.extend(cam.take_counts());
        let crossings = events.iter().filter(|e| e.kind() == "line_cross").count();
        assert_eq!(crossings, 1);
        // [0, 1), [1, 2) and the open [2, 2.5] at the end; the crossing in exactly one.
        let spans: Vec<(String, String, f64)> =
            counts.iter().map(|c| (c.from.clone(), c.to.clone(), c.interval_s)).collect();
        assert_eq!(
            spans,
            vec![
                ("1970-01-01T00:16:40.000Z".into(), "1970-01-01T00:16:41.000Z".into(), 1.0),
                ("1970-01-01T00:16:41.000Z".into(), "1970-01-01T00:16:42.000Z".into(), 1.0),
                ("1970-01-01T00:16:42.000Z".into(), "1970-01-01T00:16:42.500Z".into(), 0.5),
            ]
        );
        let rows: Vec<&crate::event::CountRow> = counts.iter().flat_map(|c| &c.counts).collect();
        assert_eq!(rows.len(), 1, "{counts:?}");
        assert_eq!(
            (rows[0].line.as_str(), rows[0].label.as_str(), rows[0].direction.as_str(), rows[0].count),
            ("gate", "person", "in", 1)
        );
        let v: serde_json::Value = serde_json::from_slice(&counts[0].to_json()).expect("json");
        assert_eq!((v["kind"].as_str(), v["camera"].as_str()), (Some("counts"), Some("cam1")));
        // Through the outbox to its own topic, QoS 1.
        let rec = crate::publish::counts_record(&counts[1]);
        assert_eq!((rec.subtopic.as_str(), rec.qos, rec.retain), ("cam1/counts", 1, false));
    }

    #[test]
    fn replay_prints_counts_like_events() {
        // The walk of `recording()` crosses the gate at about 1 s; intervals of 1 s.
        let cfg = counts_config();
        let mut out = Vec::new();
        let summary = print(&cfg, &recording()[..], &mut out).expect("replay");
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap_or("?")).collect();
        // Frames at 0..=2.0 s: [0, 1) closed by the frame at 1.0 s, the crossing at 1.1 s,
        // [1, 2) closed by the frame at 2.0 s, which is also the last, so the open [2, 2] and
        // the end of the track come at the end of the input: events first, as after a frame.
        assert_eq!(kinds, vec!["object", "counts", "line_cross", "counts", "object", "counts"], "{lines:#?}");
        assert_eq!((summary.frames, summary.events, summary.counts), (21, 3, 3));
        let counts: Vec<&serde_json::Value> = lines.iter().filter(|v| v["kind"] == "counts").collect();
        assert!(counts.iter().all(|c| c["camera"] == "cam1" && c["id"].is_string()), "{counts:#?}");
        assert_eq!(counts[0]["from"], "1970-01-01T00:16:40.000Z");
        assert_eq!(counts[0]["to"], "1970-01-01T00:16:41.000Z");
        assert_eq!(counts[0]["interval_s"], 1.0);
        // The crossing, at about 1 s, in the second interval only.
        assert_eq!(counts[0]["counts"], serde_json::json!([]));
        assert_eq!(
            counts[1]["counts"],
            serde_json::json!([{"line": "gate", "label": "person", "direction": "in", "count": 1}])
        );
        assert_eq!(counts[2]["counts"], serde_json::json!([]));
    }

    #[test]
    fn time_going_backwards_is_refused() {
        let mut input = recording();
        input.extend_from_slice(br#"{"camera":"cam1","time_s":0.5,"wall_ms":0,"width":1,"height":1,"detections":[]}"#);
        assert!(matches!(replay(&input), Err(ReplayError::Line { line: 23, .. })));
    }
}
