//! Home Assistant MQTT discovery (`[mqtt.discovery]`, off by default): the box announces itself
//! and its cameras with Home Assistant's device-based discovery, so a dashboard that reads
//! discovery shows them without a line of its own configuration.
//!
//! One retained message, `<prefix>/device/<node_id>/config`, names the device (`dev`), the
//! software (`o`) and every component (`cmps`), each reading a topic the box already publishes:
//! - the box: connectivity (its `status`), outbox length and dropped events (`stats`);
//! - each camera: its state (`<camera>/status`), fps and inference time (`stats`), its newest
//!   event snapshot as an `image` when snapshots are published;
//! - each line and direction: the crossings of the latest counts interval (`<camera>/counts`);
//! - each rule: an `event` entity fired by its events (`start`, `update`, `end`).
//!
//! Every component but connectivity is unavailable while the box is `offline`. The config is
//! sent on every connection and again when Home Assistant says it started (`<prefix>/status` =
//! `online`); a component that leaves the config on reload is sent once as its platform alone,
//! which is how device-based discovery removes it. What the box announced is remembered in
//! `<data_dir>/discovery.json` ([`Memory`]), so a camera or rule taken out of the config while
//! the daemon was stopped is removed at the next start too. [`Announce`] and [`Announcer`] are
//! pure; `mqtt::run` sends what they make and keeps the memory with [`load`] and [`save`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::schema::TopicPrefix;

/// `[mqtt.discovery]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    pub enabled: bool,
    /// Home Assistant's discovery prefix (its MQTT integration's setting).
    pub prefix: TopicPrefix,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self { enabled: false, prefix: TopicPrefix("homeassistant".into()) }
    }
}

/// What the box announces: built from the config (`crate::config::Config::announce`).
#[derive(Debug, Clone, PartialEq)]
pub struct Announce {
    /// The discovery prefix.
    pub prefix: String,
    /// `<prefix>/<site>/<device>`: the box's own topics.
    pub root: String,
    /// `anttd_<site>_<device>`: the device's id in Home Assistant.
    pub node_id: String,
    /// `<site>/<device>`: the device's name.
    pub name: String,
    pub cameras: Vec<CameraAnnounce>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CameraAnnounce {
    pub id: String,
    /// Each counting line: its name and its two directions.
    pub lines: Vec<(String, [String; 2])>,
    /// Each rule: its name and kind.
    pub rules: Vec<(String, &'static str)>,
    /// Whether `<camera>/snapshot` is published.
    pub snapshot: bool,
}

const AVAILABLE: &str = "online";
const UNAVAILABLE: &str = "offline";

impl Announce {
    /// Where the device's config goes (retained).
    pub fn topic(&self) -> String {
        format!("{}/device/{}/config", self.prefix, self.node_id)
    }

    /// Where Home Assistant says it (re)started: `online` asks for the configs again.
    pub fn birth_topic(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// The device config, with each of `removed` (component id → platform) that is not a
    /// component now sent as its platform alone, which removes it.
    pub fn payload(&self, removed: &BTreeMap<String, String>) -> Vec<u8> {
        let mut cmps = self.components();
        for (id, platform) in removed {
            cmps.entry(id.clone()).or_insert_with(|| json!({ "p": platform }));
        }
        let version = env!("CARGO_PKG_VERSION");
        let doc = json!({
            "dev": {
                "ids": [self.node_id],
                "name": format!("anttd {}", self.name),
                "mf": "anttd",
                "mdl": "edge video analytics box",
                "sw": version,
            },
            "o": { "name": "anttd", "sw": version },
            "qos": 1,
            "cmps": cmps,
        });
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// How many components there are when no two ids collide (a camera `a_b` and camera `a`'s
    /// line `b` could: `crate::config` refuses such a config).
    pub fn component_count(&self) -> usize {
        3 + self.cameras.iter().map(|c| 3 + usize::from(c.snapshot) + 2 * c.lines.len() + c.rules.len()).sum::<usize>()
    }

    /// Every component by its id (unique in the device: letters, digits, `_` and `-`).
    pub fn components(&self) -> BTreeMap<String, Value> {
        let root = &self.root;
        let stats = format!("{root}/stats");
        let mut out = BTreeMap::new();
        let mut add = |id: String, mut c: Value| {
            c["uniq_id"] = json!(format!("{}_{id}", self.node_id));
            if c["p"] != "binary_sensor" {
                c["avty_t"] = json!(format!("{root}/status"));
                c["pl_avail"] = json!(AVAILABLE);
                c["pl_not_avail"] = json!(UNAVAILABLE);
            }
            out.insert(id, c);
        };
        add(
            "connectivity".into(),
            json!({ "p": "binary_sensor", "name": "Connectivity", "dev_cla": "connectivity",
                    "stat_t": format!("{root}/status"), "pl_on": AVAILABLE, "pl_off": UNAVAILABLE }),
        );
        add(
            "outbox".into(),
            json!({ "p": "sensor", "name": "Outbox", "stat_t": stats, "unit_of_meas": "events",
                    "stat_cla": "measurement", "val_tpl": "{{ value_json.outbox.len }}" }),
        );
        add(
            "dropped".into(),
            json!({ "p": "sensor", "name": "Dropped events", "stat_t": stats, "stat_cla": "total_increasing",
                    "val_tpl": "{{ value_json.outbox.dropped }}" }),
        );
        for cam in &self.cameras {
            let c = &cam.id;
            let from_stats = |field: &str| {
                format!("{{% for c in value_json.cameras if c.camera == '{c}' %}}{{{{ c.{field} }}}}{{% endfor %}}")
            };
            add(
                format!("{c}_status"),
                json!({ "p": "sensor", "name": format!("{c} status"), "stat_t": format!("{root}/{c}/status"),
                        "val_tpl": "{{ value_json.state }}", "json_attr_t": format!("{root}/{c}/status") }),
            );
            add(
                format!("{c}_fps"),
                json!({ "p": "sensor", "name": format!("{c} fps"), "stat_t": stats, "unit_of_meas": "fps",
                        "stat_cla": "measurement", "val_tpl": from_stats("fps") }),
            );
            add(
                format!("{c}_inference"),
                json!({ "p": "sensor", "name": format!("{c} inference"), "stat_t": stats, "unit_of_meas": "ms",
                        "dev_cla": "duration", "stat_cla": "measurement", "val_tpl": from_stats("inference_ms") }),
            );
            if cam.snapshot {
                add(
                    format!("{c}_snapshot"),
                    json!({ "p": "image", "name": format!("{c} snapshot"),
                            "image_topic": format!("{root}/{c}/snapshot"), "content_type": "image/jpeg" }),
                );
            }
            for (line, dirs) in &cam.lines {
                for d in dirs {
                    let tpl = format!(
                        "{{{{ value_json.counts | selectattr('line', 'eq', '{line}') | selectattr('direction', 'eq', '{d}') | map(attribute='count') | sum }}}}"
                    );
                    add(
                        format!("{c}_{line}_{}", slug(d)),
                        json!({ "p": "sensor", "name": format!("{c} {line} {d}"), "stat_t": format!("{root}/{c}/counts"),
                                "unit_of_meas": "crossings", "stat_cla": "measurement", "val_tpl": tpl }),
                    );
                }
            }
            for (rule, kind) in &cam.rules {
                // Events of other rules on the same topic render nothing and are ignored.
                let tpl = format!(
                    "{{% if value_json.rule == '{rule}' %}}{{{{ dict(value_json, event_type=value_json.type) | to_json }}}}{{% endif %}}"
                );
                add(
                    format!("{c}_rule_{rule}"),
                    json!({ "p": "event", "name": format!("{c} {rule} ({kind})"), "stat_t": format!("{root}/{c}/events"),
                            "evt_typ": ["start", "update", "end"], "val_tpl": tpl }),
                );
            }
        }
        out
    }
}

/// What a connection sends for discovery.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Subscribe(String),
    /// A retained QoS 1 message (an empty payload clears the topic).
    Publish(String, Vec<u8>),
}

/// How long a component that left, and a device topic no longer announced, are still sent as
/// removed: long enough for a Home Assistant that was off when they left to see the removal in
/// the retained config when it is back, short enough that a box whose cameras and rules change
/// over the years does not carry every one it ever had in each config.
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the box has announced, across connections, reloads and restarts.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Every component announced, with its platform: those announced now, and those that left
    /// less than [`FORGET_AFTER`] ago.
    pub components: BTreeMap<String, String>,
    /// Device config topics announced before, not now (for less than [`FORGET_AFTER`]).
    pub gone: BTreeSet<String>,
    /// The topic of the config announced last.
    pub current: Option<String>,
    /// When each component that left, and each topic in `gone`, was first sent as removed (Unix
    /// seconds). A memory kept by an earlier version has none: they count from its first
    /// update.
    pub removed_at: BTreeMap<String, u64>,
}

/// The memory kept in `path`; none yet (or unreadable: said, and the box starts afresh) is
/// empty.
pub fn load(path: &Path) -> Memory {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), "[mqtt.discovery] memory unreadable, starting afresh: {e}");
            Memory::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Memory::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), "[mqtt.discovery] memory unreadable, starting afresh: {e}");
            Memory::default()
        }
    }
}

/// Keeps `memory` in `path`, its folder made if missing, written aside and renamed over it
/// ([`crate::durable::rename`]), so a crash or a power cut leaves the old one or the new one.
pub fn save(path: &Path, memory: &Memory) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(memory)?)?;
    crate::durable::rename(&tmp, path)
}

/// What the box announces on each connection: components that left are sent as their platform
/// alone in every config after (idempotent, so a removal lost with a connection is made by the
/// next one), and so is an empty config on each device topic it announced before and no longer
/// does (a renamed box, a new prefix, discovery turned off).
#[derive(Debug, Default)]
pub struct Announcer {
    memory: Memory,
    /// Home Assistant's status topic, subscribed on this connection.
    subscribed: Option<String>,
}

impl Announcer {
    /// `memory`: what the box announced before (an earlier connection, run or reload), so that
    /// what left is removed.
    pub fn new(memory: Memory) -> Self {
        Self { memory, subscribed: None }
    }

    /// What the box has announced, to keep for the next start.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Remember `a`, whose components are `current`.
    fn note(&mut self, a: &Announce, current: &BTreeMap<String, Value>) {
        let m = &mut self.memory;
        for (id, c) in current {
            m.components.insert(id.clone(), c["p"].as_str().unwrap_or_default().to_string());
        }
        let topic = a.topic();
        m.gone.remove(&topic);
        m.removed_at.remove(&topic);
        if let Some(t) = m.current.replace(topic).filter(|t| *t != a.topic()) {
            m.gone.insert(t);
        }
    }

    /// Date what was removed at `at` for the first time, and forget what was removed
    /// [`FORGET_AFTER`] before it; what is announced now is never removed.
    fn expire(&mut self, current: &BTreeMap<String, Value>, at: SystemTime) {
        let now = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let m = &mut self.memory;
        let removed: Vec<String> =
            m.components.keys().filter(|id| !current.contains_key(*id)).chain(m.gone.iter()).cloned().collect();
        m.removed_at.retain(|k, _| removed.contains(k));
        for k in removed {
            let since = *m.removed_at.entry(k.clone()).or_insert(now);
            if now.saturating_sub(since) >= FORGET_AFTER.as_secs() {
                m.removed_at.remove(&k);
                m.components.remove(&k);
                m.gone.remove(&k);
            }
        }
    }

    /// A new connection: it has no subscription yet (clean session).
    pub fn connected(&mut self) {
        self.subscribed = None;
    }

    /// What to send for `now` (None: discovery off), on a new connection or a reload.
    pub fn update(&mut self, now: Option<&Announce>) -> Vec<Step> {
        self.update_at(now, SystemTime::now())
    }

    /// [`Announcer::update`] at the time `at`.
    pub fn update_at(&mut self, now: Option<&Announce>, at: SystemTime) -> Vec<Step> {
        let mut steps = Vec::new();
        match now {
            Some(a) => {
                let current = a.components();
                self.note(a, &current);
                self.expire(&current, at);
                let birth = a.birth_topic();
                if self.subscribed.as_ref() != Some(&birth) {
                    steps.push(Step::Subscribe(birth.clone()));
                    self.subscribed = Some(birth);
                }
                let removed: BTreeMap<String, String> = self
                    .memory
                    .components
                    .iter()
                    .filter(|(id, _)| !current.contains_key(*id))
                    .map(|(i, p)| (i.clone(), p.clone()))
                    .collect();
                steps.push(Step::Publish(a.topic(), a.payload(&removed)));
            }
            None => {
                if let Some(t) = self.memory.current.take() {
                    self.memory.gone.insert(t);
                }
                self.expire(&BTreeMap::new(), at);
            }
        }
        steps.splice(0..0, self.memory.gone.iter().map(|t| Step::Publish(t.clone(), Vec::new())));
        steps
    }

    /// A message on a subscribed topic: Home Assistant's `online` asks for the config again.
    pub fn birth(&self, topic: &str, payload: &[u8], now: Option<&Announce>) -> Option<Step> {
        let a = now?;
        (self.subscribed.as_deref() == Some(topic) && topic == a.birth_topic() && payload == b"online")
            .then(|| Step::Publish(a.topic(), a.payload(&BTreeMap::new())))
    }
}

/// The device's id: ids in the config are already letters, digits, `_` and `-`.
pub fn node_id(site: &str, device: &str) -> String {
    slug(&format!("anttd_{site}_{device}"))
}

/// What Home Assistant accepts in an id: letters, digits, `_` and `-` (what config ids are
/// made of; kept so that an id can never break a topic).
fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce(rules: Vec<(String, &'static str)>) -> Announce {
        Announce {
            prefix: "homeassistant".into(),
            root: "antt/ward-7/box-1".into(),
            node_id: node_id("ward-7", "box-1"),
            name: "ward-7/box-1".into(),
            cameras: vec![CameraAnnounce {
                id: "road".into(),
                lines: vec![("gate".into(), ["in".into(), "out".into()])],
                rules,
                snapshot: true,
            }],
        }
    }

    fn doc(a: &Announce) -> Value {
        serde_json::from_slice(&a.payload(&BTreeMap::new())).expect("json")
    }

    fn published(steps: &[Step]) -> Vec<(String, Value)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Publish(t, p) if p.is_empty() => Some((t.clone(), Value::Null)),
                Step::Publish(t, p) => Some((t.clone(), serde_json::from_slice(p).expect("json"))),
                Step::Subscribe(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_device_config_has_what_device_discovery_requires() {
        let a = announce(vec![("race".into(), "racing")]);
        assert_eq!(a.components().len(), a.component_count());
        assert_eq!(a.topic(), "homeassistant/device/anttd_ward-7_box-1/config");
        assert_eq!(a.birth_topic(), "homeassistant/status");
        let d = doc(&a);
        assert_eq!(d["dev"]["ids"], json!(["anttd_ward-7_box-1"]));
        assert!(d["dev"]["name"].is_string() && d["o"]["name"] == "anttd");
        let cmps = d["cmps"].as_object().expect("cmps");
        let ids: Vec<&str> = cmps.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "connectivity",
                "dropped",
                "outbox",
                "road_fps",
                "road_gate_in",
                "road_gate_out",
                "road_inference",
                "road_rule_race",
                "road_snapshot",
                "road_status"
            ]
        );
        let mut uniq = std::collections::BTreeSet::new();
        for (id, c) in cmps {
            // Every component names its platform and a unique id; all but the image read a state topic.
            assert!(c["p"].is_string(), "{id}");
            assert!(uniq.insert(c["uniq_id"].as_str().expect("uniq_id").to_string()), "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{id}");
            let topic = c.get("stat_t").or(c.get("image_topic")).and_then(Value::as_str).expect("topic");
            assert!(topic.starts_with("antt/ward-7/box-1/"), "{id}: {topic}");
        }
        assert_eq!(cmps["connectivity"]["dev_cla"], "connectivity");
        assert!(cmps["connectivity"].get("avty_t").is_none(), "connectivity shows offline, not unavailable");
        assert_eq!(cmps["road_status"]["avty_t"], "antt/ward-7/box-1/status");
        assert_eq!(cmps["road_rule_race"]["p"], "event");
        assert_eq!(cmps["road_rule_race"]["evt_typ"], json!(["start", "update", "end"]));
        assert_eq!(cmps["road_snapshot"]["image_topic"], "antt/ward-7/box-1/road/snapshot");
        assert_eq!(cmps["road_gate_out"]["stat_t"], "antt/ward-7/box-1/road/counts");
    }

    #[test]
    fn a_component_that_left_is_sent_as_its_platform_alone_until_it_comes_back() {
        let both = announce(vec![("race".into(), "racing"), ("fast".into(), "speeding")]);
        let one = announce(vec![("race".into(), "racing")]);
        let mut a = Announcer::new(Memory::default());
        a.connected();
        let steps = a.update(Some(&both));
        assert_eq!(steps[0], Step::Subscribe("homeassistant/status".into()));
        assert!(published(&steps)[0].1["cmps"]["road_rule_fast"]["stat_t"].is_string());
        // A reload drops `fast`: its platform alone, no second subscription.
        let steps = a.update(Some(&one));
        assert_eq!(steps.len(), 1);
        let d = &published(&steps)[0].1;
        assert_eq!(d["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        assert_eq!(d["cmps"]["road_rule_race"]["p"], "event");
        // A new connection subscribes again and still removes it (the removal may have been lost).
        a.connected();
        let steps = a.update(Some(&one));
        assert!(matches!(steps[0], Step::Subscribe(_)));
        assert_eq!(published(&steps)[0].1["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        // It comes back: announced in full.
        let steps = a.update(Some(&both));
        assert!(published(&steps)[0].1["cmps"]["road_rule_fast"]["stat_t"].is_string());
        // Home Assistant's birth: the config again; anything else: nothing.
        assert!(a.birth("homeassistant/status", b"online", Some(&both)).is_some());
        assert!(a.birth("homeassistant/status", b"offline", Some(&both)).is_none());
        assert!(a.birth("other", b"online", Some(&both)).is_none());
    }

    #[test]
    fn what_left_is_sent_as_removed_for_thirty_days_then_forgotten() {
        let both = announce(vec![("race".into(), "racing"), ("fast".into(), "speeding")]);
        let one = announce(vec![("race".into(), "racing")]);
        let renamed = Announce { node_id: node_id("ward-7", "box-2"), ..one.clone() };
        let day = Duration::from_secs(24 * 3600);
        let t0 = SystemTime::UNIX_EPOCH + 20_000 * day;
        let mut a = Announcer::new(Memory::default());
        a.update_at(Some(&both), t0);
        // `fast` leaves at t0 + 1 day, the device is renamed at t0 + 2 days.
        a.update_at(Some(&one), t0 + day);
        let p = published(&a.update_at(Some(&renamed), t0 + 2 * day));
        assert_eq!(p[0], (one.topic(), Value::Null));
        assert_eq!(p[1].1["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        // Still sent 29 days after each left, on every connection (a removal may be lost).
        a.connected();
        let p = published(&a.update_at(Some(&renamed), t0 + 30 * day));
        assert_eq!(p[0], (one.topic(), Value::Null));
        assert_eq!(p[1].1["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        // 30 days after `fast` left: no longer sent, and forgotten.
        let p = published(&a.update_at(Some(&renamed), t0 + 31 * day));
        assert_eq!(p.len(), 2, "the old device is still cleared: it left a day later");
        assert!(p[1].1["cmps"].get("road_rule_fast").is_none(), "{}", p[1].1);
        assert!(!a.memory().components.contains_key("road_rule_fast"));
        // 30 days after the rename: the old device is forgotten too.
        let p = published(&a.update_at(Some(&renamed), t0 + 32 * day));
        assert_eq!(p.len(), 1);
        assert!(a.memory().gone.is_empty() && a.memory().removed_at.is_empty(), "{:?}", a.memory());
        // Back again: announced in full, as anything new is.
        let p = published(
            &a.update_at(Some(&announce(vec![("race".into(), "racing"), ("fast".into(), "speeding")])), t0 + 33 * day),
        );
        assert!(p.last().expect("config").1["cmps"]["road_rule_fast"]["stat_t"].is_string());
    }

    #[test]
    fn a_memory_kept_before_removals_were_dated_is_read_and_dated_from_now() {
        let old =
            r#"{"components":{"road_rule_fast":"event"},"gone":["homeassistant/device/x/config"],"current":null}"#;
        let m: Memory = serde_json::from_str(old).expect("old memory");
        assert!(m.removed_at.is_empty());
        let mut a = Announcer::new(m);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let p = published(&a.update_at(Some(&announce(vec![])), at));
        assert_eq!(p[0], ("homeassistant/device/x/config".into(), Value::Null));
        assert_eq!(p[1].1["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        assert_eq!(a.memory().removed_at.values().copied().collect::<Vec<_>>(), [1_800_000_000, 1_800_000_000]);
    }

    #[test]
    fn a_renamed_box_or_discovery_turned_off_clears_the_old_device() {
        let old = announce(vec![]);
        let renamed = Announce { node_id: node_id("ward-7", "box-2"), ..old.clone() };
        let mut before = Announcer::new(Memory::default());
        before.update(Some(&old));
        let mut a = Announcer::new(before.memory().clone());
        a.connected();
        let p = published(&a.update(Some(&renamed)));
        assert_eq!(p[0], (old.topic(), Value::Null), "the old device is cleared first");
        assert_eq!(p[1].0, renamed.topic());
        // Off: the device now announced is cleared too, on every later connection.
        let p = published(&a.update(None));
        assert!(p.contains(&(renamed.topic(), Value::Null)) && p.contains(&(old.topic(), Value::Null)));
        a.connected();
        assert_eq!(published(&a.update(None)).len(), 2);
        // Back under the first name: that device is announced, the other cleared.
        let p = published(&a.update(Some(&old)));
        assert_eq!(
            p.iter().filter(|(_, v)| v.is_null()).map(|(t, _)| t.clone()).collect::<Vec<_>>(),
            [renamed.topic()]
        );
        assert_eq!(p.last().map(|(t, _)| t.clone()), Some(old.topic()));
    }

    #[test]
    fn what_left_the_config_while_the_box_was_stopped_is_removed_at_the_next_start() {
        let dir = tempfile::tempdir().expect("dir");
        // A data_dir not made yet (the outbox kept elsewhere, evidence off).
        let path = dir.path().join("data").join("discovery.json");
        assert_eq!(load(&path), Memory::default(), "none yet: nothing announced");
        let both = announce(vec![("race".into(), "racing"), ("fast".into(), "speeding")]);
        let mut a = Announcer::new(load(&path));
        a.connected();
        a.update(Some(&both));
        save(&path, a.memory()).expect("save");
        // Stopped; `fast` taken out of the config; started again.
        let one = announce(vec![("race".into(), "racing")]);
        let mut a = Announcer::new(load(&path));
        a.connected();
        let d = &published(&a.update(Some(&one)))[0].1;
        assert_eq!(d["cmps"]["road_rule_fast"], json!({ "p": "event" }));
        // A memory that cannot be read is said and started afresh, not a failure.
        std::fs::write(&path, b"{ not json").expect("write");
        assert_eq!(load(&path), Memory::default());
    }
}
