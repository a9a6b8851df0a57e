//! Config reload (SIGHUP): what a new config changes compared with the running one. The daemon
//! reads and checks the new file first and keeps the running config when it is refused; when
//! it is accepted, the cameras are stopped (open objects end, into the outbox) and the new set
//! started; the outbox stays, and so does the broker connection unless `[mqtt]` changed.

use crate::config::Config;

/// The parts of the daemon a reload has to rebuild, beyond the cameras (always restarted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Broker settings, topic root (site, device) or `[extract]`: reconnect with the new settings.
    pub mqtt_changed: bool,
    /// `[model]`: load the new model.
    pub model_changed: bool,
    /// `data_dir` or `[outbox]`: only at the next start (the outbox in use holds events).
    pub outbox_changed: bool,
}

pub fn plan(old: &Config, new: &Config) -> Plan {
    Plan {
        mqtt_changed: old.mqtt != new.mqtt
            || old.topic_root() != new.topic_root()
            || old.client_id() != new.client_id()
            || old.extract != new.extract,
        model_changed: old.model != new.model,
        outbox_changed: old.outbox_path() != new.outbox_path() || old.outbox.max_events != new.outbox.max_events,
    }
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
