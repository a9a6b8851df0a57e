//! The `stats` message: link, outbox, cameras and evidence, every `stats_interval_s`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::Sender;

use super::OutboxStart;
use crate::config::Config;
use crate::event::rfc3339;
use crate::health::{CameraStats, RateTracker};
use crate::publish::Outgoing;
use crate::publish::commands;
use crate::publish::mqtt::LinkStats;
use crate::publish::outbox::Outbox;
use crate::schema::ConfigError;

/// The `stats` message.
#[derive(serde::Serialize)]
struct StatsPayload {
    ts: String,
    uptime_s: u64,
    mqtt: MqttReport,
    outbox: OutboxReport,
    cameras: Vec<crate::health::CameraReport>,
    config: ConfigReport,
    /// How full the evidence store is (src/evidence/retention.rs); absent when evidence is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<crate::evidence::retention::EvidenceReport>,
}

#[derive(serde::Serialize)]
struct MqttReport {
    connected: bool,
    connects: u64,
    /// Connection attempts that did not reach the broker.
    connect_failures: u64,
    /// QoS 1 messages sent but not yet acknowledged by the broker.
    unacked: u64,
    /// Failures that cost a connection, and acknowledgements the outbox could not store yet.
    errors: u64,
    /// The command connection (extraction requests).
    commands: commands::CommandReport,
}

#[derive(serde::Serialize)]
struct OutboxReport {
    /// Events waiting for the broker's acknowledgement.
    len: u64,
    max_events: u64,
    /// Events dropped (oldest first) because the outbox was full, over the file's life.
    dropped: u64,
    /// Where a corrupt outbox found at start was moved; null normally.
    moved_aside: Option<String>,
}

/// The running config, and the last reload refused since it was loaded: a technician who
/// edited the file from afar sees in `stats` whether the change took.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct ConfigReport {
    /// When the running config was loaded (the start, or the last reload applied).
    pub loaded: String,
    /// Reloads applied since the start.
    pub reloads: u64,
    /// The last reload refused since then, with why (file, line and key); null when none.
    pub refused: Option<Refused>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct Refused {
    pub ts: String,
    pub error: String,
}

/// What `stats` may say of a refused reload: the error as logged, but for a key that holds a
/// secret (`mqtt.password`) only where it is: serde's messages quote the value they refused, and
/// `stats` goes to everyone on the broker.
pub(super) fn refusal_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ConfigError>() {
        Some(c) if c.key.as_deref().is_some_and(|k| k.contains("password")) => {
            ConfigError { message: "the value is not shown".into(), ..c.clone() }.to_string()
        }
        _ => format!("{e:#}"),
    }
}

impl ConfigReport {
    pub fn new() -> Self {
        Self { loaded: rfc3339(SystemTime::now()), reloads: 0, refused: None }
    }

    pub fn applied(&mut self) {
        *self = Self { reloads: self.reloads + 1, ..Self::new() };
    }

    pub fn refused(&mut self, error: String) {
        self.refused = Some(Refused { ts: rfc3339(SystemTime::now()), error });
    }
}

/// What the `stats` message reports on, for the daemon's whole life (the cameras' counters
/// are those of the running config: see [`stats_loop`]).
#[derive(Clone)]
pub(super) struct Sources {
    pub link: Arc<LinkStats>,
    pub outbox: Arc<Outbox>,
    pub start: OutboxStart,
    pub evidence: Option<Arc<crate::evidence::worker::Evidence>>,
    /// The running config and the last reload refused.
    pub config: Arc<std::sync::Mutex<ConfigReport>>,
}

/// Publish `stats` every `stats_interval_s` of `cfg` through `out`, with `stats` the counters
/// of `cfg`'s cameras; started again for each config a reload applies.
pub(super) async fn stats_loop(cfg: Config, stats: Vec<Arc<CameraStats>>, src: Sources, out: Sender<Outgoing>) {
    let Sources { link, outbox, start, evidence, config } = src;
    let ids: Vec<String> = cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    let mut rates = RateTracker::new(ids.len());
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.mqtt.stats_interval_s.0));
    tick.tick().await;
    loop {
        tick.tick().await;
        let cams: Vec<(String, &CameraStats)> = ids.iter().cloned().zip(stats.iter().map(|s| s.as_ref())).collect();
        let payload = StatsPayload {
            ts: rfc3339(SystemTime::now()),
            uptime_s: started.elapsed().as_secs(),
            mqtt: MqttReport {
                connected: link.connected.load(Ordering::Relaxed),
                connects: link.connects.load(Ordering::Relaxed),
                connect_failures: link.connect_failures.load(Ordering::Relaxed),
                unacked: link.sent_qos1.load(Ordering::Relaxed).saturating_sub(link.acked.load(Ordering::Relaxed)),
                errors: link.errors.load(Ordering::Relaxed),
                commands: link.commands.report(),
            },
            outbox: OutboxReport {
                len: outbox.len(),
                max_events: outbox.max_events(),
                dropped: outbox.dropped(),
                moved_aside: start.moved_aside.as_ref().map(|p| p.display().to_string()),
            },
            cameras: rates.report(&cams),
            config: config.lock().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone()),
            evidence: evidence.as_ref().and_then(|e| e.report()),
        };
        let payload = serde_json::to_string(&payload).unwrap_or_default();
        let msg = Outgoing { subtopic: "stats".into(), payload: payload.into_bytes(), qos: 0, retain: false };
        // QoS 0: when the publisher is behind, this one is dropped (the next is fresher anyway).
        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = out.try_send(msg) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reload_is_reported_until_one_is_applied() {
        let mut c = ConfigReport::new();
        assert_eq!((c.reloads, c.refused.is_none()), (0, true));
        c.refused("anttd.toml:7: key `cameras[0].detect_fps`: must be 1 to 60".into());
        let r = c.refused.clone().expect("refused");
        assert!(r.error.contains("anttd.toml:7"));
        c.applied();
        assert_eq!((c.reloads, &c.refused), (1, &None));
        let v = serde_json::to_value(&c).expect("json");
        assert!(v["loaded"].is_string() && v["refused"].is_null(), "{v}");
    }

    #[test]
    fn a_refused_password_is_reported_by_its_place_not_its_value() {
        let path = std::path::Path::new("/etc/anttd/anttd.toml");
        let text = "site = \"s\"\ndevice = \"d\"\n[mqtt]\nhost = \"h\"\nusername = \"box\"\npassword = 12345\n";
        let e = anyhow::Error::from(Config::from_str(path, text).expect_err("refused"));
        assert!(format!("{e:#}").contains("12345"), "serde quotes the value: {e:#}");
        let shown = refusal_text(&e);
        assert!(shown.contains("anttd.toml:6") && shown.contains("key `mqtt.password`"), "{shown}");
        assert!(!shown.contains("12345"), "{shown}");
        // Other keys keep their message.
        let e = anyhow::Error::from(
            Config::from_str(path, &text.replace("12345", "\"x\"\nport = \"p\"")).expect_err("refused"),
        );
        assert_eq!(refusal_text(&e), format!("{e:#}"));
    }
}
