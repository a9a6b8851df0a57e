//! The outbox with the real things: mosquitto stopped mid-run, and the daemon killed with
//! SIGKILL while the broker is away. What the daemon stored is read from the outbox file itself
//! (`common::outbox_events`: an event is there from the moment it is on disk until the broker
//! acknowledged it); what arrived, from a subscriber with a persistent session on a broker that
//! keeps it across its restart, so that nothing the daemon delivers can be missed by the test
//! itself.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{Broker, Daemon, Msg, Subscriber, anttd, free_port, outbox_events, wait_until, write_config};

const ROOT: &str = "antt/test-site/test-box";

fn camera(id: &str) -> String {
    common::vtest_camera(id, "realtime = true")
}

/// Event messages received, first delivery of each id only (redelivery is allowed), in order.
fn received(msgs: &[Msg]) -> Vec<serde_json::Value> {
    let mut seen = HashSet::new();
    msgs.iter()
        .filter(|m| m.topic.starts_with(ROOT) && m.topic.ends_with("/events"))
        .map(Msg::json)
        .filter(|e| seen.insert(e["id"].as_str().expect("id").to_string()))
        .collect()
}

/// Every id in `want` arrived, and per camera in the order the daemon stored them.
#[track_caller]
fn assert_delivered_in_order(want: &[(String, String)], got: &[serde_json::Value]) {
    let got_ids: HashSet<&str> = got.iter().map(|e| e["id"].as_str().expect("id")).collect();
    let missing: Vec<&(String, String)> = want.iter().filter(|(_, id)| !got_ids.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "{} of {} stored events never arrived: {missing:?}", missing.len(), want.len());
    let want_ids: HashSet<&str> = want.iter().map(|(_, id)| id.as_str()).collect();
    let mut per_cam: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in got.iter().filter(|e| want_ids.contains(e["id"].as_str().expect("id"))) {
        per_cam.entry(e["camera"].as_str().expect("camera")).or_default().push(e["id"].as_str().expect("id"));
    }
    let mut want_cam: HashMap<&str, Vec<&str>> = HashMap::new();
    for (c, id) in want {
        want_cam.entry(c.as_str()).or_default().push(id.as_str());
    }
    assert_eq!(per_cam, want_cam, "per camera, events arrive in the order they were stored");
}

#[test]
fn broker_outage_loses_nothing_and_keeps_order() {
    let port = free_port();
    let store = tempfile::tempdir().expect("dir");
    let broker = Broker::start_persistent(port, store.path());
    let sub = Subscriber::connect_persistent(port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), port, &format!("{}\n{}", camera("road"), camera("yard")));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });

    // Some events delivered, then the broker goes away.
    sub.wait_for(Duration::from_secs(120), "first events", |m| received(m).len() >= 3);
    broker.stop();
    // Away for at least 10 s, and until the daemon has stored events it could not send: those
    // the outbox holds just before the broker comes back.
    let away = Instant::now();
    let mut want = Vec::new();
    wait_until(Duration::from_secs(60), "events stored while the broker is away", || {
        want = outbox_events(dir.path());
        away.elapsed() > Duration::from_secs(10) && want.len() >= 3
    });
    let broker = Broker::start_persistent(port, store.path());

    // The video ends (80 s at its own pace); everything is delivered before the daemon exits.
    wait_until(Duration::from_secs(180), "anttd to finish", || daemon.child.try_wait().ok().flatten().is_some());
    let status = daemon.child.wait().expect("status");
    let log = daemon.log();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(!log.contains("panicked") && !log.contains("event lost"), "{log}");
    assert_eq!(outbox_events(dir.path()), vec![], "every stored event was acknowledged before the exit");
    let msgs = sub.wait_for(Duration::from_secs(20), "offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });
    let got = received(&msgs);
    assert_delivered_in_order(&want, &got);

    // The event stream has no holes: every object that started ended, and the other way round.
    for cam in ["road", "yard"] {
        let of = |phase: &str| -> HashSet<String> {
            got.iter()
                .filter(|e| e["camera"] == cam && e["kind"] == "object" && e["type"] == phase)
                .map(|e| e["event_id"].as_str().expect("event_id").to_string())
                .collect()
        };
        assert_eq!(of("start"), of("end"), "camera {cam}: starts and ends pair up");
        // And an object's end never arrives before its start.
        let mut open = HashSet::new();
        for e in got.iter().filter(|e| e["camera"] == cam && e["kind"] == "object") {
            let id = e["event_id"].as_str().expect("event_id");
            match e["type"].as_str() {
                Some("start") => assert!(open.insert(id), "started twice: {e}"),
                Some("end") => assert!(open.remove(id), "ended before it started: {e}"),
                _ => {}
            }
        }
    }

    // Stats report the outbox.
    let stats: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).collect();
    let last = stats.last().expect("stats");
    assert_eq!(last["outbox"]["dropped"], 0, "{last}");
    assert_eq!(last["outbox"]["max_events"], 100_000, "{last}");
    assert!(last["outbox"]["len"].is_u64() && last["mqtt"]["connected"].is_boolean(), "{last}");
    assert!(last["mqtt"]["connects"].as_u64().expect("connects") >= 2, "{last}");

    // Each connection publishes every camera's latest state again (it did not change: only the
    // reconnect can have sent it twice); the end of the file and the shutdown are the last.
    for cam in ["road", "yard"] {
        let states: Vec<serde_json::Value> =
            msgs.iter().filter(|m| m.topic == format!("{ROOT}/{cam}/status")).map(Msg::json).collect();
        let online = states.iter().filter(|s| s["state"] == "online").count();
        assert!(online >= 2, "camera {cam}: online once per connection: {states:?}");
        let last = states.last().expect("status");
        assert_eq!(
            (last["state"].as_str(), last["reason"].as_str()),
            (Some("offline"), Some("end of stream")),
            "{cam}"
        );
    }
    drop(broker);
}

#[test]
fn events_stored_before_sigkill_arrive_after_restart() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), port, &camera("road"));
    let run = || {
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        Daemon::start(c)
    };

    // No broker: events pile up in the outbox; then the process is killed without warning.
    let mut first = run();
    wait_until(Duration::from_secs(120), "events stored", || outbox_events(dir.path()).len() >= 5);
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    // What the killed process left on disk.
    let want = outbox_events(dir.path());
    assert!(want.len() >= 5, "{want:?}");

    // The broker is back; the restarted daemon sends what the first one stored, same ids.
    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(port, "antt/#");
    let mut second = run();
    let want_ids: HashSet<&str> = want.iter().map(|(_, id)| id.as_str()).collect();
    let msgs = sub.wait_for(Duration::from_secs(60), "the stored events", |m| {
        let got: HashSet<String> = received(m).iter().map(|e| e["id"].as_str().expect("id").to_string()).collect();
        want_ids.iter().all(|id| got.contains(*id))
    });
    let got = received(&msgs);
    assert_delivered_in_order(&want, &got);
    // They are sent first: before anything the second run produced.
    let first_new = got.iter().position(|e| !want_ids.contains(e["id"].as_str().expect("id")));
    if let Some(i) = first_new {
        assert!(i >= want.len(), "an event of the second run overtook the backlog: {got:?}");
    }
    let status = second.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status}; log:\n{}", second.log());
    drop(broker);
}

#[test]
fn corrupt_outbox_is_moved_aside_and_the_daemon_goes_on() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), broker.port, &camera("road"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(data.join("outbox.sqlite"), vec![0x5a; 8192]).expect("garbage");
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let aside = || {
        std::fs::read_dir(&data)
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("outbox.sqlite.corrupt-"))
            .count()
    };
    wait_until(Duration::from_secs(60), "the corrupt outbox moved aside", || aside() > 0);
    assert_eq!(aside(), 1, "the corrupt file is kept aside");
    // The operator's log names the file. The file may be seen moved before the log's reader
    // has the line (a fresh-clone CI once read an empty log here).
    daemon.wait_log(Duration::from_secs(10), &data.join("outbox.sqlite").display().to_string());
    // New events are still delivered, and stats say what happened.
    let msgs = sub.wait_for(Duration::from_secs(120), "an event and stats", |m| {
        !received(m).is_empty() && m.iter().any(|m| m.topic == format!("{ROOT}/stats"))
    });
    let stats = msgs.iter().find(|m| m.topic == format!("{ROOT}/stats")).expect("stats").json();
    assert!(stats["outbox"]["moved_aside"].as_str().is_some_and(|p| p.contains(".corrupt-")), "{stats}");
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status}; log:\n{}", daemon.log());
}

#[test]
fn unusable_data_dir_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), free_port(), &camera("road"));
    // `data` is a file, so the outbox's folder cannot be made.
    std::fs::write(dir.path().join("data"), b"not a folder").expect("file");
    let out = anttd().arg("run").arg("-c").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&dir.path().join("data").join("outbox.sqlite").display().to_string()), "{stderr}");
}

/// Events sent but never acknowledged (the broker hangs, then dies) must not have left the
/// outbox: after a kill -9 and a restart they are sent again. A publisher that removed rows when
/// sending, not on PUBACK, fails here.
#[test]
fn events_sent_but_not_acknowledged_are_sent_again() {
    let port = free_port();
    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), port, &camera("road"));
    let run = || {
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        Daemon::start(c)
    };
    let mut first = run();
    sub.wait_for(Duration::from_secs(120), "a first event", |m| !received(m).is_empty());
    drop(sub);
    broker.pause();
    // The hung broker acknowledges nothing: what the daemon sends it stays in the outbox.
    let before = outbox_events(dir.path());
    wait_until(Duration::from_secs(120), "events sent to the hung broker", || {
        outbox_events(dir.path()).iter().filter(|e| !before.contains(e)).count() >= 3
    });
    std::thread::sleep(Duration::from_secs(1));
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let want = outbox_events(dir.path());
    assert!(!first.log().contains("MQTT connection lost"), "the link stayed up: the events were sent, not queued");
    drop(broker); // the hung broker dies with whatever it had received

    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(port, "antt/#");
    let mut second = run();
    let want_ids: HashSet<&str> = want.iter().map(|(_, id)| id.as_str()).collect();
    let msgs = sub.wait_for(Duration::from_secs(60), "the unacknowledged events", |m| {
        let got: HashSet<String> = received(m).iter().map(|e| e["id"].as_str().expect("id").to_string()).collect();
        want_ids.iter().all(|id| got.contains(*id))
    });
    assert_delivered_in_order(&want, &received(&msgs));
    let status = second.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status}; log:\n{}", second.log());
    drop(broker);
}
