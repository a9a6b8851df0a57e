//! End to end with the real parts: vtest.avi → GStreamer → YOLOv12n → tracker → line rule →
//! mosquitto (started here on a free loopback port) → a real subscriber.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{Broker, Daemon, Msg, Subscriber, anttd, run_to_end, write_config};

const ROOT: &str = "antt/test-site/test-box";

fn events(msgs: &[Msg]) -> Vec<serde_json::Value> {
    msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).map(Msg::json).collect()
}

fn camera(extra: &str) -> String {
    common::vtest_camera("road", extra)
}

#[test]
fn vtest_to_mqtt_events() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = write_config(dir.path(), broker.port, &camera("realtime = false"));

    let (status, log) = run_to_end(
        {
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&cfg);
            c
        },
        Duration::from_secs(600),
    );
    assert!(status.success(), "anttd run failed: {log}");
    assert!(!log.contains("panicked"), "{log}");

    let msgs = sub.wait_for(Duration::from_secs(10), "status offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });

    // Status: online first, offline last.
    let status: Vec<String> = msgs.iter().filter(|m| m.topic == format!("{ROOT}/status")).map(Msg::text).collect();
    assert_eq!(status.first().map(String::as_str), Some("online"), "{status:?}");
    assert_eq!(status.last().map(String::as_str), Some("offline"), "{status:?}");

    let evs = events(&msgs);
    for m in msgs.iter().filter(|m| m.topic.ends_with("/events")) {
        assert!(m.payload.len() < 1024, "event over 1 KB: {}", m.text());
    }
    let ids: HashSet<&str> = evs.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), evs.len(), "every message id is unique");

    // Objects: person tracks with distinct ids, each start closed by an end of the same event.
    let starts: Vec<&serde_json::Value> =
        evs.iter().filter(|e| e["kind"] == "object" && e["type"] == "start").collect();
    let ends: Vec<&serde_json::Value> = evs.iter().filter(|e| e["kind"] == "object" && e["type"] == "end").collect();
    let person_tracks: HashSet<u64> =
        starts.iter().filter(|e| e["label"] == "person").map(|e| e["track_id"].as_u64().expect("track id")).collect();
    // vtest.avi shows about twenty people over its 80 s; allow for split tracks, demand many.
    assert!(person_tracks.len() >= 10, "only {} person tracks", person_tracks.len());
    assert_eq!(
        starts.len(),
        person_tracks.len() + starts.iter().filter(|e| e["label"] != "person").count(),
        "track ids repeat"
    );
    let end_by_event: HashMap<&str, &serde_json::Value> =
        ends.iter().map(|e| (e["event_id"].as_str().expect("event_id"), *e)).collect();
    assert_eq!(ends.len(), starts.len(), "every started object ends (at the latest at end of stream)");
    for s in &starts {
        assert_eq!(s["id"], s["event_id"], "a start's id is its event id");
        let e = end_by_event.get(s["event_id"].as_str().expect("event_id")).unwrap_or_else(|| panic!("no end for {s}"));
        assert_eq!(e["track_id"], s["track_id"]);
        assert_eq!(e["first_seen"], s["first_seen"]);
        assert!(e["last_seen"].as_str() >= s["last_seen"].as_str(), "{s} then {e}");
        assert!(e["best_score"].as_f64().expect("score") >= 0.5, "confirmed tracks have a strong detection");
        assert_eq!(s["camera"], "road");
        assert!(s["ts"].as_str().expect("ts").ends_with('Z'));
    }

    // Line crossings by tracked persons, in both directions along the road.
    let crossings: Vec<&serde_json::Value> = evs.iter().filter(|e| e["kind"] == "line_cross").collect();
    assert!(crossings.len() >= 5, "only {} crossings", crossings.len());
    let dirs: HashSet<&str> = crossings.iter().map(|e| e["direction"].as_str().expect("direction")).collect();
    assert_eq!(dirs, HashSet::from(["eastbound", "westbound"]), "people walk both ways");
    for c in &crossings {
        assert_eq!(c["line"], "lamp-post");
        assert_eq!(c["type"], "start");
        assert!(starts.iter().any(|s| s["track_id"] == c["track_id"]), "crossing by an unknown track: {c}");
    }
    // A track crossing the line counts once per real crossing: no track crosses the same way
    // twice in a row.
    let mut last_dir: HashMap<u64, &str> = HashMap::new();
    for c in &crossings {
        let (t, d) = (c["track_id"].as_u64().expect("id"), c["direction"].as_str().expect("dir"));
        assert_ne!(last_dir.insert(t, d), Some(d), "track {t} counted twice in the same direction");
    }

    // Stats, with the camera's counters.
    let stats: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).collect();
    assert!(!stats.is_empty(), "no stats");
    let last = &stats.last().expect("stats")["cameras"][0];
    assert_eq!(last["camera"], "road");
    assert!(last["frames_processed"].as_u64().expect("n") > 0);
    assert_eq!(last["frames_dropped"], 0, "files played as fast as possible drop nothing");

    // A late subscriber sees the retained status: offline.
    let late = Subscriber::connect(broker.port, &format!("{ROOT}/status"));
    let got = late.wait_for(Duration::from_secs(5), "retained status", |m| !m.is_empty());
    assert!(got[0].retain && got[0].payload == b"offline", "{got:?}");
}

#[test]
fn sigterm_ends_open_tracks_and_says_offline() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("temp dir");
    // Real time: the video would take 80 s; we stop it once objects are being tracked.
    let cfg = write_config(dir.path(), broker.port, &camera("realtime = true"));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    sub.wait_for(Duration::from_secs(120), "a first object", |m| {
        events(m).iter().any(|e| e["kind"] == "object" && e["type"] == "start")
    });
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}; log:\n{}", daemon.log());
    let msgs = sub.wait_for(Duration::from_secs(10), "offline", |m| m.iter().any(|m| m.payload == b"offline"));
    let evs = events(&msgs);
    let started: HashSet<&str> = evs
        .iter()
        .filter(|e| e["kind"] == "object" && e["type"] == "start")
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    let ended: HashSet<&str> = evs
        .iter()
        .filter(|e| e["kind"] == "object" && e["type"] == "end")
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert!(!started.is_empty());
    assert_eq!(started, ended, "every open track was ended on shutdown");
}
