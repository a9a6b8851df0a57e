//! Config reload (SIGHUP): what a new config changes compared with the running one. The daemon
//! reads and checks the new file first and keeps the running config when it is refused; when
//! it is accepted, the cameras are stopped (open objects end, into the outbox) and the new set
//! started; the outbox stays, and so does the broker connection unless `[mqtt]` changed.

use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedSender;

use super::check::{choose_decoders, load_detector};
use crate::config::Config;
use crate::detect::Detector;
use crate::pipeline::{CameraSet, Links, NoProbe};
use crate::source::decoders::DecoderTemplate;

/// The parts of the daemon a reload has to rebuild, beyond the cameras (always restarted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Broker settings, topic root (site, device) or `[extract]`: reconnect with the new settings.
    pub mqtt_changed: bool,
    /// `[model]`: load the new model.
    pub model_changed: bool,
    /// `data_dir` or `[outbox]`: only at the next start (the outbox in use holds events).
    pub outbox_changed: bool,
}

pub(super) fn plan(old: &Config, new: &Config) -> Plan {
    Plan {
        // Discovery changes go to the running connection, which removes what left.
        mqtt_changed: without_discovery(&old.mqtt) != without_discovery(&new.mqtt)
            || old.topic_root() != new.topic_root()
            || old.client_id() != new.client_id()
            || old.extract != new.extract,
        model_changed: old.model != new.model,
        outbox_changed: old.outbox_path() != new.outbox_path() || old.outbox.max_events != new.outbox.max_events,
    }
}

fn without_discovery(m: &crate::config::MqttConfig) -> crate::config::MqttConfig {
    crate::config::MqttConfig { discovery: Default::default(), ..m.clone() }
}

/// A reloaded config, checked as far as `anttd check` would, ready to replace the running one.
pub(super) struct NextConfig {
    cfg: Config,
    decoders: Vec<DecoderTemplate>,
    /// The new model, when `[model]` changed.
    detector: Option<Detector>,
}

/// Read and check the config file again; nothing running is touched.
pub(super) fn prepare_reload(current: &Config, labels: &[String]) -> Result<NextConfig> {
    let cfg = Config::load(&current.path)?;
    let plan = plan(current, &cfg);
    let detector = if plan.model_changed {
        Some(load_detector(&cfg)?)
    } else {
        cfg.check_labels(labels)?;
        None
    };
    let decoders = choose_decoders(&cfg)?;
    for cam in &cfg.cameras {
        if let Some(p) = cam.uri.file_path(&cfg.base_dir()) {
            std::fs::File::open(&p)
                .with_context(|| format!("camera {}: cannot read video file {}", cam.id.get_ref().0, p.display()))?;
        }
    }
    if plan.outbox_changed {
        tracing::warn!("data_dir and [outbox] changes take effect at the next start; the outbox stays where it is");
    }
    Ok(NextConfig { cfg, decoders, detector })
}

/// Stop the running cameras (their open objects end, into the outbox) and start the new set.
pub(super) fn apply_reload(
    running: CameraSet,
    next: NextConfig,
    shared: &Links,
    done: &UnboundedSender<()>,
) -> Result<(CameraSet, Config)> {
    let (detector, recorder) = running.stop()?;
    let (detector, recorder) = match next.detector {
        Some(new) => {
            if let Some((_, path)) = &recorder {
                tracing::warn!(file = %path.display(), "recording detections stopped: the model changed");
            }
            (new, None)
        }
        None => (detector, recorder),
    };
    let ids: Vec<String> = next.cfg.cameras.iter().map(|c| c.id.get_ref().0.clone()).collect();
    shared.board.reset(&ids);
    let set = CameraSet::start(&next.cfg, detector, recorder, &next.decoders, shared, done, Box::new(NoProbe))?;
    Ok((set, next.cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra_top: &str, mqtt: &str, cameras: &str) -> Config {
        let text = format!(
            "site = \"s\"\ndevice = \"d\"\n{extra_top}\n[mqtt]\n{mqtt}\n[model]\nmanifest = \"m.toml\"\n{cameras}"
        );
        Config::from_str(std::path::Path::new("/etc/anttd/anttd.toml"), &text).expect("config")
    }

    const CAM: &str = "[[cameras]]\nid = \"a\"\nuri = \"rtsp://h/1\"\n";

    #[test]
    fn cameras_alone_keep_the_connection_and_the_model() {
        let old = cfg("", "port = 1883", CAM);
        let new = cfg("", "port = 1883", &format!("{CAM}[[cameras]]\nid = \"b\"\nuri = \"rtsp://h/2\"\n"));
        assert_eq!(plan(&old, &new), Plan { mqtt_changed: false, model_changed: false, outbox_changed: false });
    }

    #[test]
    fn discovery_alone_keeps_the_connection() {
        let old = cfg("", "port = 1883", CAM);
        let new = cfg("", "port = 1883\n[mqtt.discovery]\nenabled = true", CAM);
        assert!(new.announce(|_| false).is_some() && old.announce(|_| false).is_none());
        assert!(!plan(&old, &new).mqtt_changed);
    }

    #[test]
    fn broker_topic_root_model_and_outbox_changes_are_seen() {
        let old = cfg("", "port = 1883", CAM);
        assert!(plan(&old, &cfg("", "port = 1884", CAM)).mqtt_changed);
        assert!(plan(&old, &cfg("", "port = 1883\ntopic_prefix = \"x\"", CAM)).mqtt_changed);
        let other_device = Config::from_str(
            std::path::Path::new("/etc/anttd/anttd.toml"),
            &format!("site = \"s\"\ndevice = \"e\"\n[mqtt]\nport = 1883\n[model]\nmanifest = \"m.toml\"\n{CAM}"),
        )
        .expect("config");
        assert!(plan(&old, &other_device).mqtt_changed, "the topic root changed");
        let mut threads = cfg("", "port = 1883", CAM);
        threads.model.threads = Some(crate::config::Threads(2));
        assert!(plan(&old, &threads).model_changed);
        assert!(plan(&old, &cfg("data_dir = \"/srv\"", "port = 1883", CAM)).outbox_changed);
    }
}
