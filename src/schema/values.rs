//! The validated value types of the configuration: each refuses, while it is read, what it
//! cannot hold, so the error names the file, the key and the line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::geometry::{self, Point};

macro_rules! validated {
    ($(#[$m:meta])* $name:ident($inner:ty) from $raw:literal, |$v:ident| $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(try_from = $raw)]
        pub struct $name(pub $inner);
        impl TryFrom<$inner> for $name {
            type Error = String;
            fn try_from($v: $inner) -> Result<Self, String> {
                $check.map(|()| Self($v))
            }
        }
    };
}

validated!(
    /// An id used as a topic level: 1–64 of `A-Z a-z 0-9 _ -`.
    Id(String) from "String", |v| {
        if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            Err(format!("`{v}` is not a valid id: use 1 to 64 letters, digits, `_` or `-` (it becomes an MQTT topic level)"))
        } else { Ok(()) }
    }
);
validated!(NonEmpty(String) from "String", |v| {
    if v.trim().is_empty() { Err("must not be empty".to_string()) } else { Ok(()) }
});
validated!(Port(u16) from "u16", |v| if v == 0 { Err("port 0 is not a port: use 1 to 65535".to_string()) } else { Ok(()) });
validated!(KeepAlive(u64) from "u64", |v| {
    if (5..=3600).contains(&v) { Ok(()) } else { Err(format!("keep-alive {v} s is out of range: use 5 to 3600 seconds")) }
});
validated!(Interval(u64) from "u64", |v| {
    if (1..=86_400).contains(&v) { Ok(()) } else { Err(format!("{v} s is out of range: use 1 to 86400 seconds")) }
});
validated!(Threads(usize) from "usize", |v| {
    if (1..=256).contains(&v) { Ok(()) } else { Err(format!("{v} threads is out of range: use 1 to 256")) }
});
validated!(
    /// Detections per second for one camera (GStreamer's videorate takes whole frames per second).
    DetectFps(u32) from "u32", |v| {
        if (1..=60).contains(&v) { Ok(()) } else { Err(format!("detect_fps {v} is out of range: use 1 to 60 frames per second")) }
    }
);
validated!(
    /// Decoded frames per second onto which boxes are carried between detections.
    CarryFps(u32) from "u32", |v| {
        if (1..=60).contains(&v) { Ok(()) } else { Err(format!("carry_fps {v} is out of range: use 1 to 60 frames per second")) }
    }
);
validated!(TopicPrefix(String) from "String", |v| {
    if v.is_empty() || v.starts_with('/') || v.ends_with('/') || v.contains("//") || v.contains(['+', '#', '\0']) {
        Err(format!("`{v}` is not a valid topic prefix: no wildcards (+ #), no empty levels, no leading or trailing `/`"))
    } else { Ok(()) }
});

validated!(
    /// The outbox's bound, in events.
    MaxEvents(u64) from "u64", |v| {
        if (10..=10_000_000).contains(&v) { Ok(()) } else { Err(format!("max_events {v} is out of range: use 10 to 10000000 events")) }
    }
);

impl Default for MaxEvents {
    fn default() -> Self {
        Self(100_000)
    }
}

validated!(
    /// A duration in seconds: 0 to one day.
    Seconds(f64) from "f64", |v| {
        if v.is_finite() && (0.0..=86_400.0).contains(&v) { Ok(()) } else { Err(format!("{v} s is out of range: use 0 to 86400 seconds")) }
    }
);
validated!(Count(u32) from "u32", |v| {
    if (1..=10_000).contains(&v) { Ok(()) } else { Err(format!("{v} is out of range: use 1 to 10000")) }
});
validated!(
    /// A positive distance (metres or pixels, by the key's name).
    Distance(f64) from "f64", |v| {
        if v.is_finite() && v > 0.0 && v <= 100_000.0 { Ok(()) } else { Err(format!("{v} is out of range: use a distance above 0")) }
    }
);

validated!(
    /// A speed in km/h above 0.
    Speed(f64) from "f64", |v| {
        if v.is_finite() && v > 0.0 && v <= 500.0 { Ok(()) } else { Err(format!("{v} km/h is out of range: use above 0 to 500")) }
    }
);
validated!(
    /// A speed margin in km/h, 0 or more.
    SpeedMargin(f64) from "f64", |v| {
        if v.is_finite() && (0.0..=500.0).contains(&v) { Ok(()) } else { Err(format!("{v} km/h is out of range: use 0 to 500")) }
    }
);
validated!(
    /// An angle in degrees, 1 to 90.
    Angle(f64) from "f64", |v| {
        if v.is_finite() && (1.0..=90.0).contains(&v) { Ok(()) } else { Err(format!("{v}° is out of range: use 1 to 90 degrees")) }
    }
);

/// A direction `[dx, dy]`: two finite numbers, not both 0.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "Vec<f64>")]
pub struct Vector(pub [f64; 2]);

impl TryFrom<Vec<f64>> for Vector {
    type Error = String;
    fn try_from(v: Vec<f64>) -> Result<Self, String> {
        match v.as_slice() {
            [x, y] if x.is_finite() && y.is_finite() && x.hypot(*y) > 0.0 => Ok(Self([*x, *y])),
            _ => Err("a direction is [dx, dy]: two finite numbers, not both 0".into()),
        }
    }
}

/// A zone's corners: at least three, in source pixels, enclosing an area, edges not crossing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Vec<f64>>")]
pub struct Polygon(pub Vec<Point>);

impl TryFrom<Vec<Vec<f64>>> for Polygon {
    type Error = String;
    fn try_from(p: Vec<Vec<f64>>) -> Result<Self, String> {
        let pts = PointList::try_from(p)?.0;
        if pts.len() < 3 {
            return Err(format!("a polygon needs at least 3 points, not {}", pts.len()));
        }
        if pts.iter().flatten().any(|c| *c < 0.0 || *c > 100_000.0) {
            return Err("polygon points must be pixel coordinates (0 or more) in the source image".into());
        }
        let poly: Vec<Point> = pts.iter().map(|p| (p[0] as f32, p[1] as f32)).collect();
        if geometry::self_intersects(&poly) {
            return Err("the polygon's edges cross: list its corners in order around it".into());
        }
        if geometry::polygon_area(&pts) < 1.0 {
            return Err("the polygon encloses no area: its points are on one line".into());
        }
        Ok(Self(poly))
    }
}

/// A list of `[x, y]` points with finite coordinates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Vec<f64>>")]
pub struct PointList(pub Vec<[f64; 2]>);

impl TryFrom<Vec<Vec<f64>>> for PointList {
    type Error = String;
    fn try_from(p: Vec<Vec<f64>>) -> Result<Self, String> {
        p.iter()
            .enumerate()
            .map(|(i, q)| match q.as_slice() {
                [x, y] if x.is_finite() && y.is_finite() => Ok([*x, *y]),
                _ => Err(format!("point {} is not [x, y] with two finite numbers", i + 1)),
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

validated!(
    /// Seconds without a frame before a camera source counts as stalled.
    StallTimeout(u64) from "u64", |v| {
        if (2..=3600).contains(&v) { Ok(()) } else { Err(format!("stall_timeout_s {v} is out of range: use 2 to 3600 seconds")) }
    }
);

impl Default for StallTimeout {
    fn default() -> Self {
        Self(10)
    }
}

impl Default for DetectFps {
    fn default() -> Self {
        Self(5)
    }
}

/// Where a camera's video comes from: `rtsp://`, `rtsps://`, `file:///abs/path`, or a plain path
/// (relative to the config file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct SourceUri(pub String);

impl TryFrom<String> for SourceUri {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        if v.trim().is_empty() {
            return Err("uri must not be empty".into());
        }
        if let Some((scheme, rest)) = v.split_once("://") {
            match scheme {
                "rtsp" | "rtsps" | "rtspt" => {
                    if rest.is_empty() {
                        return Err(format!("`{v}` names no host"));
                    }
                }
                "file" => {
                    if !rest.starts_with('/') {
                        return Err(format!(
                            "`{v}`: a file:// uri needs an absolute path (file:///...); write a plain path for one relative to the config file"
                        ));
                    }
                }
                other => {
                    return Err(format!(
                        "`{other}://` sources are not supported: use rtsp://, rtsps://, file:// or a file path"
                    ));
                }
            }
        }
        Ok(Self(v))
    }
}

impl SourceUri {
    pub fn is_file(&self) -> bool {
        !self.0.contains("://") || self.0.starts_with("file://")
    }

    /// The local path of a file source, resolved against `base` (the config file's folder).
    pub fn file_path(&self, base: &Path) -> Option<PathBuf> {
        if let Some(p) = self.0.strip_prefix("file://") {
            Some(PathBuf::from(percent_decode(p)))
        } else if !self.0.contains("://") {
            Some(base.join(&self.0))
        } else {
            None
        }
    }

    /// A URI GStreamer's uridecodebin accepts.
    pub fn to_gst_uri(&self, base: &Path) -> String {
        match self.file_path(base) {
            Some(p) if !self.0.starts_with("file://") => {
                let abs = std::path::absolute(&p).unwrap_or(p);
                format!("file://{}", percent_encode_path(&abs.to_string_lossy()))
            }
            _ => self.0.clone(),
        }
    }
}

fn percent_encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = ((b[i + 1] as char).to_digit(16), (b[i + 2] as char).to_digit(16))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Two distinct points with finite, non-negative coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Vec<f64>>")]
pub struct LinePoints(pub [[f32; 2]; 2]);

// Read as vectors: a fixed-size array would silently drop extra points or coordinates.
impl TryFrom<Vec<Vec<f64>>> for LinePoints {
    type Error = String;
    fn try_from(p: Vec<Vec<f64>>) -> Result<Self, String> {
        match p.as_slice() {
            [a, b] if a.len() == 2 && b.len() == 2 => Self::try_from([[a[0], a[1]], [b[0], b[1]]]),
            _ => Err("a line takes exactly two points [[x1, y1], [x2, y2]]".into()),
        }
    }
}

impl TryFrom<[[f64; 2]; 2]> for LinePoints {
    type Error = String;
    fn try_from(p: [[f64; 2]; 2]) -> Result<Self, String> {
        if p.iter().flatten().any(|c| !c.is_finite() || *c < 0.0 || *c > 100_000.0) {
            return Err("line points must be pixel coordinates (0 or more) in the source image".into());
        }
        if (p[0][0] - p[1][0]).abs() < 1.0 && (p[0][1] - p[1][1]).abs() < 1.0 {
            return Err("the line's two points are the same: it needs two distinct points".into());
        }
        Ok(Self([[p[0][0] as f32, p[0][1] as f32], [p[1][0] as f32, p[1][1] as f32]]))
    }
}

/// Names of the two crossing directions of a line: [left-to-right of p1→p2, right-to-left].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Directions(pub [String; 2]);

impl Default for Directions {
    fn default() -> Self {
        Self(["forward".into(), "backward".into()])
    }
}

impl TryFrom<Vec<String>> for Directions {
    type Error = String;
    fn try_from(d: Vec<String>) -> Result<Self, String> {
        let d: [String; 2] =
            d.try_into().map_err(|d: Vec<String>| format!("a line has exactly two directions, not {}", d.len()))?;
        Self::try_from(d)
    }
}

impl TryFrom<[String; 2]> for Directions {
    type Error = String;
    fn try_from(d: [String; 2]) -> Result<Self, String> {
        for n in &d {
            Id::try_from(n.clone())?;
        }
        if d[0] == d[1] {
            return Err(format!("the two directions need different names, both are `{}`", d[0]));
        }
        Ok(Self(d))
    }
}
