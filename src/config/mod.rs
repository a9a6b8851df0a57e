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

use crate::rules::geometry::{self, Point};
use crate::rules::homography::Homography;
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
    /// `[evidence]`: ring recording, event clips, retention (src/evidence).
    #[serde(default)]
    pub evidence: crate::evidence::EvidenceConfig,
    /// `[extract]`: footage on signed request (src/evidence/extract.rs).
    #[serde(default)]
    pub extract: crate::evidence::extract::ExtractConfig,
    /// The file this was read from; relative paths in it are relative to its folder.
    #[serde(skip)]
    pub path: PathBuf,
    /// Its text, to locate mistakes found after parsing (labels unknown to the model).
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    pub host: NonEmpty,
    pub port: Port,
    /// Defaults to `anttd-<site>-<device>`.
    pub client_id: Option<NonEmpty>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A file holding the password (relative to the config's folder), so that the config itself
    /// holds no secret; read when the config is; e.g. a systemd credential.
    pub password_file: Option<Spanned<PathBuf>>,
    pub topic_prefix: TopicPrefix,
    pub keep_alive_s: KeepAlive,
    /// How often `stats` is published, in seconds.
    pub stats_interval_s: Interval,
    /// `[mqtt.tls]`: connect with TLS.
    pub tls: Option<TlsConfig>,
}

/// `[mqtt.tls]`: paths relative to the config file's folder.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate(s), PEM, that the broker's certificate must chain to.
    pub ca_file: Spanned<PathBuf>,
    /// Client certificate chain (PEM) and its private key, for brokers that require one.
    #[serde(default)]
    pub client_cert: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub client_key: Option<Spanned<PathBuf>>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: NonEmpty("127.0.0.1".into()),
            port: Port(1883),
            client_id: None,
            username: None,
            password: None,
            password_file: None,
            topic_prefix: TopicPrefix("antt".into()),
            keep_alive_s: KeepAlive(30),
            stats_interval_s: Interval(10),
            tls: None,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/anttd")
}

/// `[outbox]`: events kept on disk until the broker acknowledges them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Default `<data_dir>/outbox.sqlite`; relative to the config file's folder.
    pub path: Option<PathBuf>,
    /// The most events kept; past it the oldest are dropped (and counted).
    pub max_events: MaxEvents,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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
    /// Let ONNX Runtime's worker threads spin-wait between runs; default off (see docs/performance.md).
    #[serde(default)]
    pub spin: bool,
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
    /// Seconds between two `<camera>/counts` messages (line crossings per interval); only for
    /// cameras with lines.
    #[serde(default = "sixty_interval")]
    pub counts_interval_s: Interval,
    /// Named areas in source pixels; an object is in a zone when its bottom-centre is.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Image ↔ ground point pairs: rules that measure in metres need it.
    #[serde(default)]
    pub calibration: Option<CalibrationConfig>,
    #[serde(default)]
    pub rules: Vec<Spanned<RuleConfig>>,
    /// `[cameras.motion]`: skip the detector on frames where nothing moved.
    #[serde(default)]
    pub motion: crate::detect::gate::MotionConfig,
    /// No frame for this long: the source is torn down and restarted (status `error`).
    #[serde(default)]
    pub stall_timeout_s: StallTimeout,
}

impl CameraConfig {
    /// The ground homography, when the camera is calibrated (checked at load).
    pub fn homography(&self) -> Option<Homography> {
        let c = self.calibration.as_ref()?;
        Homography::from_pairs(&c.image.get_ref().0, &c.ground.get_ref().0).ok()
    }

    pub fn zone(&self, name: &Id) -> Option<&ZoneConfig> {
        self.zones.iter().find(|z| z.name.get_ref() == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: Spanned<Id>,
    /// Corners in source pixels, in order around the zone.
    pub polygon: Polygon,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationConfig {
    /// Points in source pixels…
    pub image: Spanned<PointList>,
    /// … and where each is on the ground, in metres (any fixed origin and axes).
    pub ground: Spanned<PointList>,
}

/// One rule of a camera: `kind` picks the rule and the keys it takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleConfig {
    Crowd(CrowdConfig),
    Loitering(LoiteringConfig),
    StoppedVehicle(StoppedVehicleConfig),
    Speeding(SpeedingConfig),
    Racing(RacingConfig),
    CollisionSuspect(CollisionConfig),
    WrongWay(WrongWayConfig),
}

impl RuleConfig {
    pub fn name(&self) -> &Id {
        match self {
            Self::Crowd(r) => &r.name,
            Self::Loitering(r) => &r.name,
            Self::StoppedVehicle(r) => &r.name,
            Self::Speeding(r) => &r.name,
            Self::Racing(r) => &r.name,
            Self::CollisionSuspect(r) => &r.name,
            Self::WrongWay(r) => &r.name,
        }
    }

    pub fn zone(&self) -> &Id {
        match self {
            Self::Crowd(r) => &r.zone,
            Self::Loitering(r) => &r.zone,
            Self::StoppedVehicle(r) => &r.zone,
            Self::Speeding(r) => &r.zone,
            Self::Racing(r) => &r.zone,
            Self::CollisionSuspect(r) => &r.zone,
            Self::WrongWay(r) => &r.zone,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Crowd(_) => "crowd",
            Self::Loitering(_) => "loitering",
            Self::StoppedVehicle(_) => "stopped_vehicle",
            Self::Speeding(_) => "speeding",
            Self::Racing(_) => "racing",
            Self::CollisionSuspect(_) => "collision_suspect",
            Self::WrongWay(_) => "wrong_way",
        }
    }

    /// Whether the rule measures in metres and so needs `[cameras.calibration]`.
    pub fn needs_calibration(&self) -> bool {
        match self {
            Self::Speeding(_) | Self::Racing(_) | Self::CollisionSuspect(_) => true,
            Self::StoppedVehicle(r) => r.max_move_m.is_some(),
            Self::WrongWay(r) => r.min_distance_m.is_some(),
            Self::Crowd(_) | Self::Loitering(_) => false,
        }
    }
}

/// `crowd`: at least `min_persons` persons in the zone for `for_s` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrowdConfig {
    pub name: Id,
    pub zone: Id,
    pub min_persons: Count,
    pub for_s: Seconds,
    /// The count must stay below `min_persons` this long for the crowd to end.
    pub end_after_s: Seconds,
    /// At most one `update` per this many seconds.
    #[serde(default = "five_s")]
    pub update_interval_s: Seconds,
    /// After an end, no new start for this long.
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `loitering`: a person in the zone for longer than `for_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoiteringConfig {
    pub name: Id,
    pub zone: Id,
    pub for_s: Seconds,
    /// Out of the zone this long ends it (so a step across the edge does not).
    #[serde(default = "two_s")]
    pub leave_after_s: Seconds,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `stopped_vehicle`: a vehicle in the zone that has not moved for `for_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoppedVehicleConfig {
    pub name: Id,
    pub zone: Id,
    pub for_s: Seconds,
    /// Most the ground point may move, in metres (needs `[cameras.calibration]`)…
    #[serde(default)]
    pub max_move_m: Option<Distance>,
    /// … or in source pixels. Exactly one of the two.
    #[serde(default)]
    pub max_move_px: Option<Distance>,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `speeding`: a vehicle or motorcycle in the zone above `limit_kmh` for `for_s` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedingConfig {
    pub name: Id,
    pub zone: Id,
    pub limit_kmh: Speed,
    /// Above the limit this long to start, on top of the speed's own fit (a speed is already
    /// 0.6–1 s of detections): 0 decides on the first reading, which a car at 100 km/h in a
    /// 40 m view at 3–5 fps needs.
    #[serde(default = "zero_s")]
    pub for_s: Seconds,
    /// Once started, it ends only below `limit_kmh - hysteresis_kmh`…
    #[serde(default = "five_kmh")]
    pub hysteresis_kmh: SpeedMargin,
    /// … held this long (or when the track leaves the zone or ends).
    #[serde(default = "two_s")]
    pub end_after_s: Seconds,
    /// After an end, no new start for the same track for this long.
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `racing`: motorcycles riding fast together, or one weaving fast.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RacingConfig {
    pub name: Id,
    pub zone: Id,
    /// K: motorcycles in a group.
    #[serde(default = "three")]
    pub min_group: Count,
    /// D: a motorcycle within this many metres of another of the group is in it.
    #[serde(default = "fifteen_m")]
    pub max_gap_m: Distance,
    /// V: every member (or the weaver) at least this fast.
    pub min_speed_kmh: Speed,
    /// T: the situation lasts this long to start (on top of the speeds' own fit of 0.6–1 s);
    /// a group seen above the speed for the whole time it is measurable in the zone starts when
    /// it leaves, even if that was shorter.
    #[serde(default = "half_s")]
    pub for_s: Seconds,
    /// Once started, members count down to `min_speed_kmh - hysteresis_kmh`.
    #[serde(default = "ten_kmh")]
    pub hysteresis_kmh: SpeedMargin,
    /// Weaving: swings across the road of at least twice this, metres…
    #[serde(default = "weave_amplitude")]
    pub weave_amplitude_m: Distance,
    /// … reversing at least this many times…
    #[serde(default = "two")]
    pub weave_min_swings: Count,
    /// … within this window, seconds (judged on as much of it as the rider was seen: a rider
    /// at 80 km/h is in a pole camera's view for about 2 s).
    #[serde(default = "weave_window")]
    pub weave_window_s: Seconds,
    /// The group broken up or slowed down this long ends it.
    #[serde(default = "three_s")]
    pub end_after_s: Seconds,
    /// An `update` every this many seconds while it lasts.
    #[serde(default = "five_s")]
    pub update_interval_s: Seconds,
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `collision_suspect`: two road users whose boxes meet while one brakes hard, then stop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollisionConfig {
    pub name: Id,
    pub zone: Id,
    /// At least one of the two was this fast just before they met…
    #[serde(default = "fifteen_kmh")]
    pub min_speed_kmh: Speed,
    /// … and slowed down at least this hard, m/s².
    #[serde(default = "four_mps2")]
    pub min_decel_mps2: Distance,
    /// Then both are at or below this speed (or one has vanished)…
    #[serde(default = "five_kmh_speed")]
    pub stop_kmh: Speed,
    /// … within this many seconds of meeting.
    #[serde(default = "five_s")]
    pub within_s: Seconds,
    /// After an event, neither track takes part in another for this long.
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

/// `wrong_way`: a road user moving against the zone's allowed direction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrongWayConfig {
    pub name: Id,
    pub zone: Id,
    /// The allowed direction of travel as a vector in source pixels (`[0, 1]`: down the
    /// picture)…
    #[serde(default)]
    pub direction: Option<Vector>,
    /// … or as the crossing direction of a line of the camera: `line` and one of its
    /// `directions`.
    #[serde(default)]
    pub line: Option<Id>,
    #[serde(default)]
    pub line_direction: Option<Id>,
    /// Moving within this many degrees of straight against the allowed direction counts.
    #[serde(default = "sixty_deg")]
    pub tolerance_deg: Angle,
    /// The net movement over `window_s` must be at least this far: metres (calibrated)…
    #[serde(default)]
    pub min_distance_m: Option<Distance>,
    /// … or source pixels. Exactly one of the two.
    #[serde(default)]
    pub min_distance_px: Option<Distance>,
    #[serde(default = "three_s")]
    pub window_s: Seconds,
    /// Not wrong-way this long (stopped, turned, left the zone) ends it.
    #[serde(default = "two_s")]
    pub end_after_s: Seconds,
    #[serde(default = "sixty_s")]
    pub cooldown_s: Seconds,
}

fn two() -> Count {
    Count(2)
}
fn three() -> Count {
    Count(3)
}
fn fifteen_m() -> Distance {
    Distance(15.0)
}
fn weave_amplitude() -> Distance {
    Distance(0.5)
}
fn four_mps2() -> Distance {
    Distance(4.0)
}
fn zero_s() -> Seconds {
    Seconds(0.0)
}
fn half_s() -> Seconds {
    Seconds(0.5)
}
fn weave_window() -> Seconds {
    Seconds(2.0)
}
fn three_s() -> Seconds {
    Seconds(3.0)
}
fn five_kmh() -> SpeedMargin {
    SpeedMargin(5.0)
}
fn ten_kmh() -> SpeedMargin {
    SpeedMargin(10.0)
}
fn fifteen_kmh() -> Speed {
    Speed(15.0)
}
fn five_kmh_speed() -> Speed {
    Speed(5.0)
}
fn sixty_deg() -> Angle {
    Angle(60.0)
}

fn sixty_interval() -> Interval {
    Interval(60)
}

fn two_s() -> Seconds {
    Seconds(2.0)
}
fn five_s() -> Seconds {
    Seconds(5.0)
}
fn sixty_s() -> Seconds {
    Seconds(60.0)
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
        cfg.read_password_file()?;
        Ok(cfg)
    }

    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// `[mqtt] password_file` read into `password` (the one password there is).
    fn read_password_file(&mut self) -> Result<(), ConfigError> {
        let Some(f) = self.mqtt.password_file.clone() else { return Ok(()) };
        if self.mqtt.password.is_some() {
            return Err(self.at(f.span(), "mqtt.password_file", "set password or password_file, not both"));
        }
        if self.mqtt.username.is_none() {
            return Err(self.at(
                f.span(),
                "mqtt.password_file",
                "a password without a username is never sent: set mqtt.username too",
            ));
        }
        let path = self.base_dir().join(f.get_ref());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.at(f.span(), "mqtt.password_file", format!("cannot read {}: {e}", path.display())))?;
        let password = text.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(self.at(f.span(), "mqtt.password_file", format!("{} is empty", path.display())));
        }
        self.mqtt.password = Some(password.to_string());
        Ok(())
    }

    /// A password would cross the network in clear: set, no TLS, and a broker not on this machine.
    pub fn plaintext_credentials(&self) -> bool {
        let host = self.mqtt.host.0.as_str();
        let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        self.mqtt.password.is_some() && self.mqtt.tls.is_none() && !local
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

    /// The TLS settings for the broker, files read and checked; None without `[mqtt.tls]`.
    pub fn tls_client_config(&self) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, ConfigError> {
        let Some(t) = &self.mqtt.tls else { return Ok(None) };
        let base = self.base_dir();
        let (cert, key) = match (&t.client_cert, &t.client_key) {
            (Some(c), Some(k)) => (Some(c), Some(k)),
            (None, None) => (None, None),
            (Some(c), None) => {
                return Err(self.at(
                    c.span(),
                    "mqtt.tls.client_cert",
                    "client_cert needs client_key (its private key) too",
                ));
            }
            (None, Some(k)) => {
                return Err(self.at(k.span(), "mqtt.tls.client_key", "client_key needs client_cert too"));
            }
        };
        let (cert_path, key_path) = (cert.map(|c| base.join(c.get_ref())), key.map(|k| base.join(k.get_ref())));
        let client = cert_path.as_deref().zip(key_path.as_deref());
        crate::publish::tls::client_config(&base.join(t.ca_file.get_ref()), client).map(Some).map_err(|e| {
            let span = match e.key {
                "client_cert" => cert.map(|c| c.span()),
                "client_key" => key.map(|k| k.span()),
                _ => None,
            }
            .unwrap_or(t.ca_file.span());
            self.at(span, format!("mqtt.tls.{}", e.key), e.to_string())
        })
    }

    fn at(&self, span: std::ops::Range<usize>, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.path, &self.text, span, key, message)
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
            let msg = "a password without a username is never sent: set mqtt.username too";
            // Where `password =` is written in [mqtt], when it is (not in an inline table).
            return Err(match text.find("[mqtt]").map(|at| key_span(text, at..at + 6, "password")) {
                Some(span) if span.len() == "password".len() => ConfigError::at(file, text, span, "mqtt.password", msg),
                _ => ConfigError { key: Some("mqtt.password".into()), ..ConfigError::new(file, msg) },
            });
        }
        self.tls_client_config()?;
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
            self.validate_zones_and_rules(i, cam, text)?;
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

impl Config {
    fn validate_zones_and_rules(&self, i: usize, cam: &CameraConfig, text: &str) -> Result<(), ConfigError> {
        let (file, id) = (&self.path, &cam.id.get_ref().0);
        for (j, zone) in cam.zones.iter().enumerate() {
            if cam.zones[..j].iter().any(|z| z.name.get_ref() == zone.name.get_ref()) {
                return Err(ConfigError::at(
                    file,
                    text,
                    zone.name.span(),
                    format!("cameras[{i}].zones[{j}].name"),
                    format!("camera `{id}` has two zones named `{}`", zone.name.get_ref().0),
                ));
            }
        }
        if let Some(c) = &cam.calibration
            && let Err(e) = Homography::from_pairs(&c.image.get_ref().0, &c.ground.get_ref().0)
        {
            return Err(ConfigError::at(
                file,
                text,
                c.image.span(),
                format!("cameras[{i}].calibration"),
                format!("camera `{id}`: bad ground calibration: {e}"),
            ));
        }
        for (j, rule) in cam.rules.iter().enumerate() {
            let (r, span) = (rule.get_ref(), rule.span());
            let name = &r.name().0;
            // Rules are read through serde's buffering (internally tagged), which loses the
            // places of their keys: find the key's line inside the rule's table instead.
            let at_key = |key: &str, message: String| {
                ConfigError::at(
                    file,
                    text,
                    key_span(text, span.clone(), key),
                    format!("cameras[{i}].rules[{j}].{key}"),
                    message,
                )
            };
            if cam.rules[..j].iter().any(|o| o.get_ref().name() == r.name()) {
                return Err(at_key("name", format!("camera `{id}` has two rules named `{name}`")));
            }
            if cam.zone(r.zone()).is_none() {
                let known: Vec<&str> = cam.zones.iter().map(|z| z.name.get_ref().0.as_str()).collect();
                return Err(at_key(
                    "zone",
                    format!(
                        "rule `{name}` of camera `{id}` names zone `{}`, which the camera does not have (it has: {})",
                        r.zone().0,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                ));
            }
            if let RuleConfig::StoppedVehicle(sv) = r {
                match (&sv.max_move_m, &sv.max_move_px) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(at_key(
                            "max_move_m",
                            format!("rule `{name}` of camera `{id}`: set exactly one of max_move_m and max_move_px"),
                        ));
                    }
                    _ => {}
                }
            }
            if let RuleConfig::WrongWay(w) = r {
                if w.min_distance_m.is_some() == w.min_distance_px.is_some() {
                    return Err(at_key(
                        "min_distance_m",
                        format!(
                            "rule `{name}` of camera `{id}`: set exactly one of min_distance_m and min_distance_px"
                        ),
                    ));
                }
                match (&w.direction, &w.line, &w.line_direction) {
                    (Some(_), None, None) => {}
                    (None, Some(line), Some(dir)) => {
                        let Some(l) = cam.lines.iter().find(|l| l.name.get_ref() == line) else {
                            let known: Vec<&str> = cam.lines.iter().map(|l| l.name.get_ref().0.as_str()).collect();
                            return Err(at_key(
                                "line",
                                format!(
                                    "rule `{name}` of camera `{id}` names line `{}`, which the camera does not have (it has: {})",
                                    line.0,
                                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                                ),
                            ));
                        };
                        if !l.directions.0.contains(&dir.0) {
                            return Err(at_key(
                                "line_direction",
                                format!(
                                    "rule `{name}` of camera `{id}`: line `{}` has directions `{}` and `{}`, not `{}`",
                                    line.0, l.directions.0[0], l.directions.0[1], dir.0
                                ),
                            ));
                        }
                    }
                    _ => {
                        return Err(at_key(
                            "direction",
                            format!(
                                "rule `{name}` of camera `{id}`: give the allowed direction either as direction = [dx, dy] or as line and line_direction"
                            ),
                        ));
                    }
                }
            }
            if r.needs_calibration() && cam.calibration.is_none() {
                let key = match r {
                    RuleConfig::StoppedVehicle(_) => "max_move_m",
                    RuleConfig::WrongWay(_) => "min_distance_m",
                    _ => "kind",
                };
                let hint = match r {
                    RuleConfig::StoppedVehicle(_) => ": add one, or use max_move_px",
                    RuleConfig::WrongWay(_) => ": add one, or use min_distance_px",
                    _ => ": add one (see docs/rules.md, Ground calibration)",
                };
                return Err(at_key(
                    key,
                    format!(
                        "rule `{name}` of camera `{id}` measures in metres ({} rule), but the camera has no [cameras.calibration]{hint}",
                        r.kind()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The place of `key = …` in the table that starts at `table` in `text`: a table's span may
/// cover only its `[[header]]`, so look from there to the next header. The table itself if the
/// key is not written on a line of its own (inline tables).
fn key_span(text: &str, table: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
    let Some(body) = text.get(table.start..) else { return table };
    let mut offset = table.start;
    for (n, line) in body.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if n > 0 && trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let at = offset + (line.len() - trimmed.len());
            return at..at + key.len();
        }
        offset += line.len();
    }
    table
}

#[cfg(test)]
mod tests;
