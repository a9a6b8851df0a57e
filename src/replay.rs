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

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::manifest::{Groups, LabelMap};
use crate::detect::{BBox, Detection};
use crate::event::Event;

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
        let wall_ms = wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Self {
            camera: camera.to_string(),
            time_s,
            wall_ms,
            width: size.0,
            height: size.1,
            detections: dets
                .iter()
                .map(|d| RecordedDetection {
                    label: labels.name(d.class_id).to_string(),
                    class_id: d.class_id,
                    score: d.score,
                    bbox: d.bbox.into(),
                })
                .collect(),
        }
    }

    pub fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.wall_ms)
    }
}

/// Writes a recording, one flushed line at a time so a killed process loses at most the line
/// it was writing.
pub struct Recorder<W: Write> {
    out: W,
}

impl<W: Write> Recorder<W> {
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

/// Parse one frame line against the header's labels.
pub fn parse_frame(line_no: usize, text: &str, labels: &LabelMap) -> Result<FrameRecord, ReplayError> {
    let f: FrameRecord = serde_json::from_str(text).map_err(|e| at(line_no, format!("not a frame record: {e}")))?;
    if !f.time_s.is_finite() {
        return Err(at(line_no, "time_s is not a finite number"));
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
    Ok(f)
}

/// What a replay went through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub frames: u64,
    pub events: u64,
}

/// Run every recorded frame through its camera's analytics (built from `cfg`) and hand each
/// event to `on_event`, in the order the daemon would publish them per camera. At the end of the
/// input every camera's open tracks are ended, as at the end of a stream.
pub fn run(
    cfg: &Config,
    input: impl BufRead,
    mut on_event: impl FnMut(&Event) -> std::io::Result<()>,
) -> Result<Summary, ReplayError> {
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header = loop {
        match lines.next() {
            None => return Err(at(1, "the file is empty: no recording header")),
            Some((n, l)) => {
                let l = l?;
                if !l.trim().is_empty() {
                    break parse_header(n, &l)?;
                }
            }
        }
    };
    let labels = Arc::new(LabelMap::new(header.labels, &header.groups).map_err(|e| at(1, e))?);
    let mut cams: Vec<CameraAnalytics> =
        cfg.cameras.iter().map(|c| CameraAnalytics::new(c, &cfg.tracker, Arc::clone(&labels))).collect();
    let index: HashMap<String, usize> = cams.iter().enumerate().map(|(i, c)| (c.camera().to_string(), i)).collect();
    let mut last_time: Vec<Option<f64>> = vec![None; cams.len()];
    let (mut summary, mut events, mut dets) = (Summary::default(), Vec::new(), Vec::new());
    for (n, l) in lines {
        let l = l?;
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
        dets.clear();
        dets.extend(f.detections.iter().map(|d| Detection {
            class_id: d.class_id,
            score: d.score,
            bbox: BBox::from(d.bbox),
        }));
        cams[ci].on_frame(f.time_s, f.wall(), &dets, &mut events);
        summary.frames += 1;
        for e in events.drain(..) {
            summary.events += 1;
            on_event(&e)?;
        }
    }
    for cam in &mut cams {
        cam.finish(&mut events);
        for e in events.drain(..) {
            summary.events += 1;
            on_event(&e)?;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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
        let mut rec = Recorder::new(&mut out, "test", &labels(), &groups()).expect("header");
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
        run(&config(), input, |e| {
            got.push(e.clone());
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
    fn unknown_camera_names_the_line() {
        let mut input = recording();
        input.extend_from_slice(br#"{"camera":"cam9","time_s":9.0,"wall_ms":0,"width":1,"height":1,"detections":[]}"#);
        match replay(&input) {
            Err(ReplayError::Line { line: 23, message }) => assert!(message.contains("`cam9`"), "{message}"),
            other => panic!("{other:?}"),
        }
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

    #[test]
    fn time_going_backwards_is_refused() {
        let mut input = recording();
        input.extend_from_slice(br#"{"camera":"cam1","time_s":0.5,"wall_ms":0,"width":1,"height":1,"detections":[]}"#);
        assert!(matches!(replay(&input), Err(ReplayError::Line { line: 23, .. })));
    }
}
