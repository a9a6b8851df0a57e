//! The daemon's configuration: one TOML file, every key documented in docs/config.md.
//!
//! Values are checked while they are read (each field type refuses what it cannot hold), so a
//! mistake is reported with the file, the key and the line; checks across fields follow in
//! [`Config::validate`], located through the spans kept for the fields they involve.

mod load;
mod values;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use load::{ConfigError, line_col, parse_toml, read_toml};
pub use values::*;

use crate::rules::collision::CollisionConfig;
use crate::rules::crowd::CrowdConfig;
use crate::rules::homography::Homography;
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
