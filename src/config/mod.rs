//! The daemon's configuration: one TOML file, every key documented in docs/config.md.
//!
//! Values are checked while they are read (each field type refuses what it cannot hold), so a
//! mistake is reported with the file, the key and the line; checks across fields follow in
//! [`Config::validate`], located through the spans kept for the fields they involve.

mod load;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use load::{ConfigError, line_col, parse_toml, read_toml};

use crate::track::TrackerConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site (commune, ward) id: the second level of every topic.
    pub site: Id,
    /// This box's id: the third level of every topic.
    pub device: Id,
    /// Where the daemon keeps its state (the outbox); relative to the config file's folder.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    pub model: ModelConfig,
    #[serde(default, deserialize_with = "checked_tracker")]
    pub tracker: TrackerConfig,
    pub cameras: Vec<CameraConfig>,
    /// The file this was read from; relative paths in it are relative to its folder.
    #[serde(skip)]
    pub path: PathBuf,
    /// Its text, to locate mistakes found after parsing (labels unknown to the model).
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    pub host: NonEmpty,
    pub port: Port,
    /// Defaults to `anttd-<site>-<device>`.
    pub client_id: Option<NonEmpty>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub topic_prefix: TopicPrefix,
    pub keep_alive_s: KeepAlive,
    /// How often `stats` is published, in seconds.
    pub stats_interval_s: Interval,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: NonEmpty("127.0.0.1".into()),
            port: Port(1883),
            client_id: None,
            username: None,
            password: None,
            topic_prefix: TopicPrefix("antt".into()),
            keep_alive_s: KeepAlive(30),
            stats_interval_s: Interval(10),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/anttd")
}

/// `[outbox]`: events kept on disk until the broker acknowledges them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Default `<data_dir>/outbox.sqlite`; relative to the config file's folder.
    pub path: Option<PathBuf>,
    /// The most events kept; past it the oldest are dropped (and counted).
    pub max_events: MaxEvents,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Path of the model manifest (models/*.toml), relative to the config file.
    pub manifest: PathBuf,
    /// ONNX Runtime library; else `ORT_DYLIB_PATH`, else the set-up script's path.
    #[serde(default)]
    pub runtime: Option<PathBuf>,
    /// Intra-op threads for inference; default: every core.
    #[serde(default)]
    pub threads: Option<Threads>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub id: Spanned<Id>,
    pub uri: SourceUri,
    #[serde(default)]
    pub detect_fps: DetectFps,
    /// Labels to track and report; empty means every person, vehicle and motorcycle label of the model.
    #[serde(default)]
    pub labels: Vec<Spanned<String>>,
    /// File sources: play at the stream's own pace (as a camera would), or as fast as possible.
    #[serde(default = "yes")]
    pub realtime: bool,
    /// File sources: start again at the end instead of finishing.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Decode template from pipelines/ (`software`, `raspberrypi`, `rockchip`, `jetson`,
    /// `intel`), or `auto` to pick the first whose GStreamer elements exist.
    #[serde(default = "auto_decoder")]
    pub decoder: Spanned<Id>,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
}

fn yes() -> bool {
    true
}

fn auto_decoder() -> Spanned<Id> {
    Spanned::new(0..0, Id("auto".into()))
}

/// `[tracker]`, with the ranges serde cannot check refused while reading, so the error is
/// located like any other (wherever and however the table is written).
fn checked_tracker<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TrackerConfig, D::Error> {
    let t = TrackerConfig::deserialize(d)?;
    t.validate().map_err(serde::de::Error::custom)?;
    Ok(t)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: Spanned<Id>,
    /// Two points in source pixels; crossing from the left of p1→p2 to its right is `directions[0]`.
    pub points: LinePoints,
    #[serde(default)]
    pub directions: Directions,
}

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

impl Config {
    /// Read, parse and check a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(path, format!("cannot read: {e}")))?;
        Self::from_str(path, &text)
    }

    /// Parse and check config text (tests, and `load`).
    pub fn from_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut cfg: Config = parse_toml(path, text)?;
        cfg.path = path.to_path_buf();
        cfg.text = text.to_string();
        cfg.validate(text)?;
        Ok(cfg)
    }

    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// `data_dir`, resolved against the config file's folder.
    pub fn data_dir(&self) -> PathBuf {
        self.base_dir().join(&self.data_dir)
    }

    /// The outbox file: `outbox.path` (relative to the config file's folder), else `<data_dir>/outbox.sqlite`.
    pub fn outbox_path(&self) -> PathBuf {
        match &self.outbox.path {
            Some(p) => self.base_dir().join(p),
            None => self.data_dir().join("outbox.sqlite"),
        }
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.base_dir().join(&self.model.manifest)
    }

    pub fn client_id(&self) -> String {
        match &self.mqtt.client_id {
            Some(id) => id.0.clone(),
            None => format!("anttd-{}-{}", self.site.0, self.device.0),
        }
    }

    /// `<prefix>/<site>/<device>`: the root of every topic this box publishes.
    pub fn topic_root(&self) -> String {
        format!("{}/{}/{}", self.mqtt.topic_prefix.0, self.site.0, self.device.0)
    }

    /// Check each camera's `labels` against the model's label list.
    pub fn check_labels(&self, known: &[String]) -> Result<(), ConfigError> {
        for (i, cam) in self.cameras.iter().enumerate() {
            for (j, label) in cam.labels.iter().enumerate() {
                if !known.iter().any(|k| k == label.get_ref()) {
                    return Err(ConfigError::at(
                        &self.path,
                        &self.text,
                        label.span(),
                        format!("cameras[{i}].labels[{j}]"),
                        format!(
                            "camera `{}`: the model has no label `{}` (it knows {})",
                            cam.id.get_ref().0,
                            label.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let file = &self.path;
        if self.mqtt.password.is_some() && self.mqtt.username.is_none() {
            return Err(ConfigError {
                key: Some("mqtt.password".into()),
                ..ConfigError::new(file, "a password without a username is never sent: set mqtt.username too")
            });
        }
        if self.cameras.is_empty() {
            return Err(ConfigError::new(file, "no cameras: add at least one [[cameras]] table"));
        }
        for (i, cam) in self.cameras.iter().enumerate() {
            if let Some(prev) = self.cameras[..i].iter().find(|c| c.id.get_ref() == cam.id.get_ref()) {
                let (line, _) = line_col(text, prev.id.span().start);
                return Err(ConfigError::at(
                    file,
                    text,
                    cam.id.span(),
                    format!("cameras[{i}].id"),
                    format!("camera id `{}` is already used on line {line}", cam.id.get_ref().0),
                ));
            }
            for (j, line) in cam.lines.iter().enumerate() {
                if cam.lines[..j].iter().any(|l| l.name.get_ref() == line.name.get_ref()) {
                    return Err(ConfigError::at(
                        file,
                        text,
                        line.name.span(),
                        format!("cameras[{i}].lines[{j}].name"),
                        format!("camera `{}` has two lines named `{}`", cam.id.get_ref().0, line.name.get_ref().0),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
