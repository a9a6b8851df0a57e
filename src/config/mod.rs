//! The daemon's configuration: one TOML file, every key documented in docs/config.md.
//!
//! Values are checked while they are read (each field type refuses what it cannot hold), so a
//! mistake is reported with the file, the key and the line; checks across fields follow in
//! [`Config::validate`], located through the spans kept for the fields they involve.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub mod feasibility;
mod validate;

pub use crate::schema::*;

use crate::evidence::overlay::{Ground, Scene, SceneLine, SceneZone};
use crate::evidence::worker::EvidenceSetup;
use crate::geometry::homography::Homography;
use crate::publish::discovery::{Announce, CameraAnnounce, DiscoveryConfig};
use crate::publish::mqtt::Broker;
use crate::rules::collision::CollisionConfig;
use crate::rules::crowd::CrowdConfig;
use crate::rules::line_cross::LineConfig;
use crate::rules::loitering::LoiteringConfig;
use crate::rules::racing::RacingConfig;
use crate::rules::speeding::SpeedingConfig;
use crate::rules::stopped_vehicle::StoppedVehicleConfig;
use crate::rules::wrong_way::WrongWayConfig;
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
    /// `[mqtt.discovery]`: announce the box to Home Assistant (src/publish/discovery.rs).
    pub discovery: DiscoveryConfig,
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
            discovery: DiscoveryConfig::default(),
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
    /// Carry the detected boxes onto this many decoded frames a second, the detector running on
    /// `detect_fps` of them (`track::follow`); above `detect_fps`. Unset: detections only.
    #[serde(default)]
    pub carry_fps: Option<Spanned<CarryFps>>,
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

    /// What the installer's picture and the snapshots draw of this camera's set-up.
    pub fn scene(&self) -> Scene {
        Scene {
            zones: self
                .zones
                .iter()
                .map(|z| SceneZone { name: z.name.get_ref().0.clone(), polygon: z.polygon.0.clone() })
                .collect(),
            lines: self
                .lines
                .iter()
                .map(|l| SceneLine {
                    name: l.name.get_ref().0.clone(),
                    points: l.points.0,
                    directions: l.directions.0.clone(),
                })
                .collect(),
            ground: self.homography().map(|homography| Ground { homography, extent: self.ground_extent() }),
        }
    }

    /// The ground area to grid: the calibration points' bounding box, widened by 5 m.
    fn ground_extent(&self) -> [f64; 4] {
        let Some(c) = &self.calibration else { return [0.0; 4] };
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in &c.ground.get_ref().0 {
            (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
        }
        [x0.floor() - 5.0, y0.floor() - 5.0, x1.ceil() + 5.0, y1.ceil() + 5.0]
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

/// The rules, each registered once: its variant, its config struct (in its own file under
/// `src/rules`, with the rule) and its `kind` in the TOML. A config struct has `name` and `zone`
/// and says whether it measures in metres (`needs_calibration`).
macro_rules! rules {
    ($($variant:ident($cfg:ty) = $kind:literal,)*) => {
        /// One rule of a camera: `kind` picks the rule and the keys it takes.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "kind")]
        pub enum RuleConfig {
            $(#[serde(rename = $kind)] $variant($cfg),)*
        }

        impl RuleConfig {
            pub fn name(&self) -> &Id {
                match self {
                    $(Self::$variant(r) => &r.name,)*
                }
            }

            pub fn zone(&self) -> &Id {
                match self {
                    $(Self::$variant(r) => &r.zone,)*
                }
            }

            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }

            /// Whether the rule measures in metres and so needs `[cameras.calibration]`.
            pub fn needs_calibration(&self) -> bool {
                match self {
                    $(Self::$variant(r) => r.needs_calibration(),)*
                }
            }
        }
    };
}

rules! {
    Crowd(CrowdConfig) = "crowd",
    Loitering(LoiteringConfig) = "loitering",
    StoppedVehicle(StoppedVehicleConfig) = "stopped_vehicle",
    Speeding(SpeedingConfig) = "speeding",
    Racing(RacingConfig) = "racing",
    CollisionSuspect(CollisionConfig) = "collision_suspect",
    WrongWay(WrongWayConfig) = "wrong_way",
}

fn sixty_interval() -> Interval {
    Interval(60)
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

    /// What the evidence of every camera is made from.
    pub fn evidence_setup(&self) -> EvidenceSetup {
        EvidenceSetup {
            evidence: self.evidence.clone(),
            extract: self.extract.clone(),
            data_dir: self.data_dir(),
            cameras: self.cameras.iter().map(|c| (c.id.get_ref().0.clone(), c.scene())).collect(),
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

    /// The broker and how to reach it: `[mqtt]` with its defaults filled and its TLS files read.
    pub fn broker(&self) -> Result<Broker, ConfigError> {
        let m = &self.mqtt;
        Ok(Broker {
            host: m.host.0.clone(),
            port: m.port.0,
            client_id: self.client_id(),
            keep_alive: std::time::Duration::from_secs(m.keep_alive_s.0),
            credentials: m.username.clone().map(|u| (u, m.password.clone().unwrap_or_default())),
            tls: self.tls_client_config()?,
            root: self.topic_root(),
        })
    }

    /// What the box announces to Home Assistant; None unless `[mqtt.discovery] enabled`.
    /// `snapshots`: whether a camera's newest snapshot is published (the running evidence
    /// decides, not the config: it is set up once, at start).
    pub fn announce(&self, snapshots: impl Fn(&str) -> bool) -> Option<Announce> {
        let d = &self.mqtt.discovery;
        d.enabled.then(|| Announce {
            prefix: d.prefix.0.clone(),
            root: self.topic_root(),
            node_id: crate::publish::discovery::node_id(&self.site.0, &self.device.0),
            name: format!("{}/{}", self.site.0, self.device.0),
            cameras: self
                .cameras
                .iter()
                .map(|c| CameraAnnounce {
                    id: c.id.get_ref().0.clone(),
                    lines: c.lines.iter().map(|l| (l.name.get_ref().0.clone(), l.directions.0.clone())).collect(),
                    rules: c.rules.iter().map(|r| (r.get_ref().name().0.clone(), r.get_ref().kind())).collect(),
                    snapshot: snapshots(&c.id.get_ref().0),
                })
                .collect(),
        })
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
}

#[cfg(test)]
mod tests;
