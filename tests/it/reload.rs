//! SIGHUP reloads the config: a broken file is refused (the daemon keeps running and publishing
//! with the old one, and logs why with file, line and key); a changed camera list takes effect,
//! the open objects of a removed camera end, and the broker connection is kept.

use crate::common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{Broker, Daemon, Msg, Subscriber, anttd, write_config};

const ROOT: &str = "antt/test-site/test-box";

/// A live-like camera whose boxes are carried between detections (`carry_fps`): a reload stops
/// it cleanly, its tracks ended, as any camera.
fn camera(id: &str) -> String {
    common::vtest_camera(id, "realtime = true\nloop = true\ncarry_fps = 10")
}

fn hup(daemon: &Daemon) {
    let ok = Command::new("kill").arg("-HUP").arg(daemon.child.id().to_string()).status().expect("kill");
    assert!(ok.success());
}

fn states(msgs: &[Msg], cam: &str) -> Vec<serde_json::Value> {
    msgs.iter().filter(|m| m.topic == format!("{ROOT}/{cam}/status")).map(Msg::json).collect()
}

fn stats(msgs: &[Msg]) -> Vec<serde_json::Value> {
    msgs.iter().filter(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).collect()
}

fn object_events(msgs: &[Msg], cam: &str, phase: &str) -> HashSet<String> {
    msgs.iter()
        .filter(|m| m.topic == format!("{ROOT}/{cam}/events"))
        .map(Msg::json)
        .filter(|e| e["kind"] == "object" && e["type"] == phase)
        .map(|e| e["event_id"].as_str().expect("event_id").to_string())
        .collect()
}

#[test]
fn sighup_refuses_a_broken_config_and_applies_a_changed_camera_list() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), broker.port, &camera("road"));
    let good = std::fs::read_to_string(&cfg).expect("config");
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let long = Duration::from_secs(120);
    sub.wait_for(long, "road events", |m| !object_events(m, "road", "start").is_empty());

    // A broken file: refused, named, and the daemon goes on with the old config.
    std::fs::write(&cfg, good.replace("detect_fps = 5", "detect_fps = 0")).expect("write");
    hup(&daemon);
    // `stats` says so, naming the file, line and key, to whoever edited it from afar.
    let msgs =
        sub.wait_for(long, "the refusal in stats", |m| stats(m).iter().any(|s| s["config"]["refused"].is_object()));
    let refused = stats(&msgs).into_iter().find(|s| s["config"]["refused"].is_object()).expect("stats");
    let error = refused["config"]["refused"]["error"].as_str().expect("error").to_string();
    assert!(error.contains("anttd.toml:") && error.contains("key `cameras[0].detect_fps`"), "{error}");
    assert_eq!(refused["config"]["reloads"], 0, "{refused}");
    let mark = sub.all().len();
    let msgs = sub.wait_for(long, "road still detecting", |m| {
        let s = stats(&m[mark.min(m.len())..]);
        s.len() >= 2
            && s[s.len() - 1]["cameras"][0]["frames_processed"].as_u64()
                > s[0]["cameras"][0]["frames_processed"].as_u64()
    });
    assert!(daemon.child.try_wait().expect("wait").is_none(), "still running");
    let last = stats(&msgs).pop().expect("stats");
    assert_eq!(last["cameras"][0]["camera"], "road");
    // 10 frames a second decoded, 5 detected: at least about as many carried onto as detected
    // (more where the shared detector could not take a frame in time).
    let road = &last["cameras"][0];
    let (carried, processed) = (road["frames_carried"].as_u64(), road["frames_processed"].as_u64());
    assert!(carried.zip(processed).is_some_and(|(c, p)| p > 0 && c + 10 >= p), "{road}");

    // Another camera instead of `road`: it takes effect, on the same connection.
    std::fs::write(&cfg, good.replace("id = \"road\"", "id = \"yard\"")).expect("write");
    hup(&daemon);
    let msgs = sub.wait_for(long, "yard detecting", |m| {
        states(m, "yard").iter().any(|s| s["state"] == "online") && !object_events(m, "yard", "start").is_empty()
    });
    let road = states(&msgs, "road");
    let last = road.last().expect("road status");
    assert_eq!((last["state"].as_str(), last["reason"].as_str()), (Some("offline"), Some("removed from the config")));
    // Every road object that started has ended: the cameras were stopped cleanly.
    assert_eq!(object_events(&msgs, "road", "start"), object_events(&msgs, "road", "end"));
    let msgs = sub.wait_for(long, "stats of the new camera set", |m| {
        stats(m).last().is_some_and(|s| s["cameras"][0]["camera"] == "yard")
    });
    let s = stats(&msgs).pop().expect("stats");
    assert_eq!(s["cameras"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!((&s["config"]["reloads"], &s["config"]["refused"]), (&1.into(), &serde_json::Value::Null), "{s}");
    assert_eq!(s["mqtt"]["connects"], 1, "[mqtt] unchanged: the connection is kept: {s}");

    // A changed [mqtt]: the connection is made again with the new settings.
    let yard = good.replace("id = \"road\"", "id = \"yard\"");
    std::fs::write(&cfg, yard.replace("stats_interval_s = 2", "stats_interval_s = 1")).expect("write");
    let mark = sub.all().len();
    hup(&daemon);
    let msgs = sub.wait_for(long, "a second connection", |m| {
        stats(&m[mark.min(m.len())..]).last().is_some_and(|s| s["mqtt"]["connects"] == 2)
    });
    let box_status: Vec<String> =
        msgs[mark..].iter().filter(|m| m.topic == format!("{ROOT}/status")).map(Msg::text).collect();
    assert_eq!(box_status, ["offline", "online"], "the old connection closed cleanly, the new one said online");

    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}
