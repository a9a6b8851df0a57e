//! Home Assistant discovery on a real broker: the box's device config (retained) names every
//! component, each reading a topic the box really publishes; it comes again when Home Assistant
//! says it started, a rule removed by a reload (or while the box was stopped) is sent as its
//! platform alone, a renamed box replaces its old device, and turning discovery off removes the
//! device.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Broker, Daemon, Msg, Subscriber, anttd, publish, write_config};

const ROOT: &str = "antt/test-site/test-box";
const CONFIG_TOPIC: &str = "homeassistant/device/anttd_test-site_test-box/config";

fn configs(msgs: &[Msg]) -> Vec<serde_json::Value> {
    msgs.iter().filter(|m| m.topic == CONFIG_TOPIC && !m.payload.is_empty()).map(Msg::json).collect()
}

fn camera(rules: &str) -> String {
    common::vtest_camera("road", "realtime = true\nloop = true")
        + "\n[[cameras.zones]]\nname = \"all\"\npolygon = [[0, 0], [768, 0], [768, 576], [0, 576]]\n"
        + rules
        + "\n[mqtt.discovery]\nenabled = true\n"
}

const RULES: &str = "[[cameras.rules]]\nkind = \"crowd\"\nname = \"gathering\"\nzone = \"all\"\nmin_persons = 8\nfor_s = 5\nend_after_s = 5\n\
                     [[cameras.rules]]\nkind = \"loitering\"\nname = \"lingering\"\nzone = \"all\"\nfor_s = 60\n";

#[test]
fn the_box_announces_itself_again_on_home_assistant_s_birth_and_removes_what_a_reload_dropped() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "#");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), broker.port, &camera(RULES));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let long = Duration::from_secs(60);
    let msgs = sub.wait_for(long, "the device config and stats", |m| {
        !configs(m).is_empty() && m.iter().any(|m| m.topic == format!("{ROOT}/stats"))
    });
    // Retained: a dashboard that subscribes later gets it at once.
    let late = Subscriber::connect(broker.port, CONFIG_TOPIC);
    let kept = late.wait_for(long, "the retained config", |m| !m.is_empty());
    assert!(kept[0].retain, "the device config is retained");
    let doc = configs(&msgs).remove(0);
    assert_eq!(doc["dev"]["ids"][0], "anttd_test-site_test-box");
    assert_eq!(doc["o"]["name"], "anttd");
    let cmps = doc["cmps"].as_object().expect("cmps");
    for id in [
        "connectivity",
        "outbox",
        "dropped",
        "road_status",
        "road_fps",
        "road_inference",
        "road_lamp-post_westbound",
        "road_lamp-post_eastbound",
        "road_rule_gathering",
        "road_rule_lingering",
    ] {
        assert!(cmps.contains_key(id), "{id} in {cmps:?}");
    }
    assert!(!cmps.contains_key("road_snapshot"), "no image without published snapshots");
    // Every state topic is one the box publishes (counts and events only come with traffic).
    let published: Vec<&str> = msgs.iter().map(|m| m.topic.as_str()).collect();
    for (id, c) in cmps {
        let topic = c["stat_t"].as_str().expect("stat_t");
        if topic.ends_with("/counts") || topic.ends_with("/events") {
            assert!(topic == format!("{ROOT}/road/counts") || topic == format!("{ROOT}/road/events"), "{id}");
        } else {
            assert!(published.contains(&topic), "{id}: nothing published on {topic}");
        }
    }
    assert_eq!(cmps["road_rule_gathering"]["p"], "event");

    // Home Assistant starts: the config comes again.
    let before = configs(&sub.all()).len();
    publish(broker.port, "homeassistant/status", &[b"online".to_vec()], false);
    sub.wait_for(long, "the config again after the birth message", |m| configs(m).len() > before);

    // A reload drops the loitering rule: its component is sent as its platform alone.
    let text = std::fs::read_to_string(&cfg).expect("config");
    let without = text.replace(&RULES[RULES.find("[[cameras.rules]]\nkind = \"loitering\"").expect("rule")..], "");
    assert_ne!(text, without);
    std::fs::write(&cfg, without).expect("write");
    let ok = Command::new("kill").arg("-HUP").arg(daemon.child.id().to_string()).status().expect("kill");
    assert!(ok.success());
    let msgs = sub.wait_for(long, "the config without the loitering rule", |m| {
        configs(m).iter().any(|d| d["cmps"]["road_rule_lingering"] == serde_json::json!({ "p": "event" }))
    });
    let last = configs(&msgs).pop().expect("config");
    assert_eq!(last["cmps"]["road_rule_gathering"]["p"], "event");
    assert!(last["cmps"]["road_rule_gathering"]["stat_t"].is_string());

    // A reload that renames the box: the old device leaves, the new one comes.
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, text.replace("device = \"test-box\"", "device = \"box-2\"")).expect("write");
    let ok = Command::new("kill").arg("-HUP").arg(daemon.child.id().to_string()).status().expect("kill");
    assert!(ok.success());
    let renamed = "homeassistant/device/anttd_test-site_box-2/config";
    sub.wait_for(long, "the old device removed and the new one announced", |m| {
        m.iter().any(|m| m.topic == CONFIG_TOPIC && m.payload.is_empty())
            && m.iter().any(|m| m.topic == renamed && !m.payload.is_empty())
    });
    let cleared = Subscriber::connect(broker.port, CONFIG_TOPIC);
    std::thread::sleep(Duration::from_secs(1));
    assert!(cleared.all().is_empty(), "nothing retained for the old device");

    // Discovery turned off by a reload: the device leaves (an empty retained config).
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, text.replace("enabled = true", "enabled = false")).expect("write");
    let ok = Command::new("kill").arg("-HUP").arg(daemon.child.id().to_string()).status().expect("kill");
    assert!(ok.success());
    sub.wait_for(long, "an empty config", |m| m.iter().any(|m| m.topic == renamed && m.payload.is_empty()));

    assert!(daemon.terminate(Duration::from_secs(30)).success(), "{}", daemon.log());
}

#[test]
fn a_rule_taken_out_while_the_box_was_stopped_is_removed_at_the_next_start() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, CONFIG_TOPIC);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), broker.port, &camera(RULES));
    let start = || {
        Daemon::start({
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&cfg);
            c
        })
    };
    let long = Duration::from_secs(60);
    let mut daemon = start();
    sub.wait_for(long, "the device config", |m| {
        configs(m).iter().any(|d| d["cmps"]["road_rule_lingering"]["stat_t"].is_string())
    });
    assert!(daemon.terminate(Duration::from_secs(30)).success(), "{}", daemon.log());

    let text = std::fs::read_to_string(&cfg).expect("config");
    let without = text.replace(&RULES[RULES.find("[[cameras.rules]]\nkind = \"loitering\"").expect("rule")..], "");
    assert_ne!(text, without);
    std::fs::write(&cfg, without).expect("write");
    let mut daemon = start();
    let msgs = sub.wait_for(long, "the config without the loitering rule", |m| {
        configs(m).iter().any(|d| d["cmps"]["road_rule_lingering"] == serde_json::json!({ "p": "event" }))
    });
    assert!(configs(&msgs).pop().expect("config")["cmps"]["road_rule_gathering"]["stat_t"].is_string());
    assert!(daemon.terminate(Duration::from_secs(30)).success(), "{}", daemon.log());
}
