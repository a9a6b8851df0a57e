//! Evidence with the real parts: an H.264 copy of vtest.avi (made here with x264enc, because
//! vtest.avi's DivX 3 cannot go into MP4 without re-encoding) → the daemon's ring of MP4
//! segments → a clip per event, checked with GStreamer's own discoverer; retention under quota.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Broker, Msg, Subscriber, anttd, asset, run_to_end, write_config};

const ROOT: &str = "antt/test-site/test-box";
/// x264enc key-int-max=20 at 10 fps: a keyframe every 2 s at most.
const KEYINT_S: f64 = 2.0;

/// vtest.avi re-encoded to H.264 in MP4 (a keyframe every 2 s), as a camera would send it.
fn h264_vtest(dir: &Path) -> PathBuf {
    let out = dir.join("vtest-h264.mp4");
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .arg("filesrc")
        .arg(format!("location={}", asset("media/vtest.avi").display()))
        .args(["!", "decodebin", "!", "videoconvert", "!", "x264enc", "speed-preset=ultrafast", "key-int-max=20"])
        .args(["threads=1", "!", "h264parse", "!", "mp4mux", "!"])
        .arg("filesink")
        .arg(format!("location={}", out.display()))
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools)");
    assert!(status.success(), "cannot make the H.264 test clip");
    out
}

/// (container, video codec, duration in s) as gst-discoverer-1.0 reports them.
fn discover(path: &Path) -> (String, String, f64) {
    let out = Command::new("gst-discoverer-1.0").arg(path).output().expect("gst-discoverer-1.0 (plugins-base-apps)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "discoverer failed on {}: {text}", path.display());
    let field = |key: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string())).unwrap_or_default()
    };
    let dur = field("Duration:");
    // h:mm:ss.nnnnnnnnn
    let parts: Vec<f64> = dur.split(':').map(|p| p.parse().unwrap_or(f64::NAN)).collect();
    let secs = parts.iter().fold(0.0, |acc, p| acc * 60.0 + p);
    (field("container #0:"), field("video #1:"), secs)
}

fn ms(ts: &str) -> i64 {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// The messages the daemon published, its log, and the broker (still up, with what is retained).
fn run_daemon(dir: &Path, evidence: &str) -> (Vec<Msg>, String, Broker) {
    let video = h264_vtest(dir);
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let camera = format!(
        "[evidence]\n{evidence}\n\n[[cameras]]\nid = \"road\"\nuri = \"{}\"\ndetect_fps = 5\nrealtime = false\nlabels = [\"person\"]\n",
        video.display()
    );
    let cfg = write_config(dir, broker.port, &camera);
    let (status, log) = run_to_end(
        {
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&cfg);
            c
        },
        Duration::from_secs(900),
    );
    assert!(status.success(), "anttd run failed: {log}");
    assert!(!log.contains("panicked"), "{log}");
    let msgs = sub.wait_for(Duration::from_secs(20), "status offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });
    (msgs, log, broker)
}

fn events(msgs: &[Msg]) -> Vec<serde_json::Value> {
    msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).map(Msg::json).collect()
}

#[test]
fn every_event_end_names_a_clip_from_pre_roll_to_post_roll() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (msgs, log, broker) = run_daemon(
        dir.path(),
        "enabled = true\nsegment_s = 4\npre_roll_s = 3\npost_roll_s = 2\nring_max_mb = 1000\nmin_free_mb = 1\npublish_snapshots = true",
    );
    let data = dir.path().join("data");
    let evs = events(&msgs);
    let ends: Vec<&serde_json::Value> = evs.iter().filter(|e| e["type"] == "end").collect();
    assert!(ends.len() >= 5, "too few events: {}\n{log}", ends.len());

    // The ring: contiguous keyframe-aligned segments, each a valid MP4, indexed on both clocks.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("evidence/road/ring/index.json")).expect("ring index"))
            .expect("index JSON");
    let segs = index["segments"].as_array().expect("segments");
    assert!(segs.len() >= 15, "80 s in 4 s segments: {}", segs.len());
    for w in segs.windows(2) {
        assert!((w[1]["start_s"].as_f64().expect("s") - w[0]["end_s"].as_f64().expect("s")).abs() < 0.01, "{w:?}");
        assert!(w[0]["end_ms"].as_i64() <= w[1]["start_ms"].as_i64());
    }
    let ring_start = segs[0]["start_ms"].as_i64().expect("ms");
    let ring_end = segs.last().and_then(|s| s["end_ms"].as_i64()).expect("ms");
    let (container, codec, dur) = discover(&data.join("evidence/road/ring").join(segs[1]["file"].as_str().expect("f")));
    assert!(container.contains("Quicktime") && codec.contains("H.264"), "{container} / {codec}");
    // Segments are cut on the first keyframe after 4 s.
    assert!((4.0 - 0.05..=4.0 + KEYINT_S + 0.05).contains(&dur), "segment of {dur} s");

    let starts: std::collections::HashMap<&str, &serde_json::Value> =
        evs.iter().filter(|e| e["type"] == "start").map(|e| (e["event_id"].as_str().expect("event_id"), e)).collect();
    let mut checked = 0;
    for end in &ends {
        let clip = &end["clip"];
        assert!(clip.is_object(), "an end without a clip: {end}");
        let file = data.join(clip["file"].as_str().expect("file"));
        assert!(file.starts_with(&data) && file.is_file(), "{}", file.display());
        assert_eq!(std::fs::metadata(&file).expect("meta").len(), clip["bytes"].as_u64().expect("bytes"));
        assert_eq!(sha256(&file), clip["sha256"].as_str().expect("sha"));
        let (container, codec, dur) = discover(&file);
        assert!(container.contains("Quicktime") && codec.contains("H.264"), "{container} / {codec}");
        assert!((dur - clip["duration_s"].as_f64().expect("duration")).abs() < 0.15, "{dur} vs {clip}");

        // Coverage: from (start - pre-roll) to (end + post-roll), starting on the keyframe at or
        // before it, so at most one keyframe interval early.
        let start = starts.get(end["event_id"].as_str().expect("id")).expect("a start for every end");
        let want_from = (ms(start["ts"].as_str().expect("ts")) - 3_000).max(ring_start);
        let want_to = (ms(end["ts"].as_str().expect("ts")) + 2_000).min(ring_end);
        let (got_from, got_to) = (ms(clip["start"].as_str().expect("start")), ms(clip["end"].as_str().expect("end")));
        assert!(got_from <= want_from + 10, "clip starts late: {got_from} > {want_from}: {end}");
        assert!(want_from - got_from <= (KEYINT_S * 1000.0) as i64 + 10, "more than a keyframe interval early: {end}");
        assert!(got_to >= want_to - 150, "clip ends early: {got_to} < {want_to}: {end}");
        assert!(got_to - want_to <= 300, "clip runs past its post-roll: {end}");
        assert!(((got_to - got_from) as f64 / 1000.0 - dur).abs() < 0.2);
        checked += 1;
    }
    assert_eq!(checked, ends.len());

    // Snapshots: every start names a JPEG with the event's box drawn (red) where the event says.
    for start in starts.values() {
        let file = data.join(start["snapshot"].as_str().unwrap_or_else(|| panic!("no snapshot: {start}")));
        let img = image::open(&file).unwrap_or_else(|e| panic!("{} is not a picture: {e}", file.display())).to_rgb8();
        assert_eq!(img.dimensions(), (768, 576), "at the source's size, so that boxes match");
        let b: Vec<f64> = start["box"].as_array().expect("box").iter().map(|v| v.as_f64().expect("n")).collect();
        let red = |x: f64, y: f64| {
            let p = img.get_pixel((x.round() as u32).min(767), (y.round() as u32).min(575));
            p[0] > 170 && p[1] < 110 && p[2] < 110
        };
        // Sample the box's left and right edges (JPEG blurs single pixels, the frame is 3 px wide).
        let (mut hits, mut n) = (0, 0);
        for i in 1..10 {
            let y = b[1] + (b[3] - b[1]) * i as f64 / 10.0;
            for x in [b[0], b[2]] {
                n += 1;
                hits += usize::from(red(x, y));
            }
        }
        assert!(hits * 10 >= n * 8, "{hits}/{n} samples of the box edge are red in {}: {start}", file.display());
        // ... and not everywhere: the middle of the box is the picture.
        assert!(!red((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0) || !red((b[0] + b[2]) / 2.0, b[1] + 5.0));
    }

    // The newest snapshot, retained: a dashboard connecting after the run gets the picture the
    // last `start` names, byte for byte, and which event it is.
    let last_start = evs.iter().rev().find(|e| e["type"] == "start").expect("a start");
    let file = data.join(last_start["snapshot"].as_str().expect("snapshot"));
    let on_disk = std::fs::read(&file).expect("the snapshot file");
    let late = Subscriber::connect(broker.port, &format!("{ROOT}/road/snapshot/#"));
    let got = late.wait_for(Duration::from_secs(10), "the retained snapshot and its info", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/road/snapshot"))
            && m.iter().any(|m| m.topic == format!("{ROOT}/road/snapshot/info"))
    });
    let pic = got.iter().find(|m| m.topic == format!("{ROOT}/road/snapshot")).expect("picture");
    assert!(pic.retain, "retained");
    assert!(
        pic.payload == on_disk,
        "{} bytes published, {} on disk in {}",
        pic.payload.len(),
        on_disk.len(),
        file.display()
    );
    let img = image::load_from_memory_with_format(&pic.payload, image::ImageFormat::Jpeg).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (768, 576));
    let info = got.iter().find(|m| m.topic == format!("{ROOT}/road/snapshot/info")).expect("info").json();
    assert_eq!(info["event_id"], last_start["event_id"], "{info}");
    assert_eq!(info["file"], last_start["snapshot"], "{info}");
    assert_eq!(info["bytes"].as_u64(), Some(on_disk.len() as u64), "{info}");
    // Live, each picture came after its event's `start`, and never more pictures than starts.
    let pos = |pred: &dyn Fn(&Msg) -> bool| msgs.iter().position(pred);
    let infos: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/snapshot/info")).map(Msg::json).collect();
    assert!(!infos.is_empty() && infos.len() <= starts.len(), "{} pictures for {} starts", infos.len(), starts.len());
    for i in &infos {
        let start = pos(&|m| {
            m.topic == format!("{ROOT}/road/events")
                && m.json()["event_id"] == i["event_id"]
                && m.json()["type"] == "start"
        })
        .expect("its start");
        let pic = pos(&|m| m.topic == format!("{ROOT}/road/snapshot/info") && m.json()["event_id"] == i["event_id"]);
        assert!(pic.is_some_and(|p| p > start), "picture before its event: {i}");
    }

    // Stats say how full the store is.
    let stats: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).collect();
    let ev = stats.iter().rev().find_map(|s| s.get("evidence")).expect("stats carry `evidence`");
    assert!(ev["ring_bytes"].as_u64().expect("ring_bytes") > 0, "{ev}");
    assert!(ev["disk_free_bytes"].as_u64().expect("free") > 0, "{ev}");
}

#[test]
fn quota_removes_the_oldest_segments_and_event_evidence_keeps_its_own_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Segments of ~4 s are ~1 MB here: a 3 MB ring keeps a few; clips get 15 MB.
    let (msgs, log, _broker) = run_daemon(
        dir.path(),
        "enabled = true\nsegment_s = 4\npre_roll_s = 1\npost_roll_s = 1\nring_max_mb = 3\nevents_max_mb = 15\nmin_free_mb = 1",
    );
    let data = dir.path().join("data");
    let ring = data.join("evidence/road/ring");
    let seg_bytes: u64 = std::fs::read_dir(&ring)
        .expect("ring")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".mp4"))
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    assert!(seg_bytes > 0 && seg_bytes <= 3 << 20, "ring holds {seg_bytes} bytes for a 3 MB quota");
    assert!(log.contains("removing the oldest ring segments"), "{log}");

    let clips: Vec<(String, u64)> = std::fs::read_dir(data.join("evidence/road/events"))
        .expect("events")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().to_string(), e.metadata().expect("meta").len()))
        .collect();
    let clip_bytes: u64 = clips.iter().map(|c| c.1).sum();
    assert!(clip_bytes > seg_bytes, "event evidence outlives the ring: {clip_bytes} vs {seg_bytes}");
    assert!(clip_bytes <= 15 << 20, "event evidence over its own quota: {clip_bytes}");

    // The clips named by events and removed by retention are the oldest ones.
    let named: Vec<String> = events(&msgs)
        .iter()
        .filter_map(|e| e["clip"]["file"].as_str().map(|f| f.rsplit('/').next().unwrap_or_default().to_string()))
        .collect();
    assert!(named.len() > clips.len(), "some clips were removed ({} named, {} kept)", named.len(), clips.len());
    let kept: Vec<bool> = named.iter().map(|n| clips.iter().any(|c| &c.0 == n)).collect();
    let first_kept = kept.iter().position(|k| *k).expect("some clip kept");
    assert!(kept[first_kept..].iter().filter(|k| !**k).count() <= 1, "not oldest first: {kept:?}");
    // `publish_snapshots` is off by default: no pictures over the uplink.
    assert!(!msgs.iter().any(|m| m.topic.contains("/snapshot")), "a snapshot was published");
}

#[test]
fn a_stream_mp4_cannot_carry_is_said_once_and_detection_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let camera =
        format!("[evidence]\nenabled = true\nmin_free_mb = 1\n\n{}", common::vtest_camera("road", "realtime = false"));
    let cfg = write_config(dir.path(), broker.port, &camera);
    let (status, log) = run_to_end(
        {
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&cfg);
            c
        },
        Duration::from_secs(900),
    );
    assert!(status.success(), "anttd run failed: {log}");
    assert_eq!(log.matches("cannot be kept in MP4 without re-encoding").count(), 1, "{log}");
    let msgs = sub.wait_for(Duration::from_secs(20), "status offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });
    let evs = events(&msgs);
    let ends: Vec<&serde_json::Value> = evs.iter().filter(|e| e["type"] == "end").collect();
    assert!(ends.len() >= 10, "detection went on: {} ends", ends.len());
    assert!(ends.iter().all(|e| e.get("clip").is_none()), "no clip without a ring");
    assert!(ends.iter().all(|e| e["snapshot"].is_string()), "snapshots still");
}

fn publish(port: u16, topic: &str, payloads: &[Vec<u8>]) {
    let mut o = rumqttc::MqttOptions::new(format!("test-pub-{port}"), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = rumqttc::Client::new(o, 100);
    for p in payloads {
        client.publish(topic, rumqttc::QoS::AtLeastOnce, false, p.clone()).expect("publish");
    }
    let mut acked = 0;
    for ev in conn.iter() {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = ev {
            acked += 1;
            if acked == payloads.len() {
                break;
            }
        }
    }
    let _ = client.disconnect();
}

#[test]
fn fetch_over_mqtt_gets_the_clip_byte_for_byte_and_garbage_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = h264_vtest(dir.path());
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let camera = format!(
        "[evidence]\nenabled = true\nsegment_s = 2\nmin_free_mb = 1\n\n[[cameras]]\nid = \"road\"\nuri = \"{}\"\ndetect_fps = 5\nlabels = [\"person\"]\n",
        video.display()
    );
    let cfg = write_config(dir.path(), broker.port, &camera);
    let mut daemon = common::Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let data = dir.path().join("data");
    let index = data.join("evidence/road/ring/index.json");
    let segments = || -> Vec<serde_json::Value> {
        std::fs::read(&index)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["segments"].as_array().cloned())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while segments().len() < 4 {
        assert!(std::time::Instant::now() < deadline, "no ring: {}", daemon.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    // Garbage first: every request gets an error reply, and the daemon goes on.
    let topic = format!("{ROOT}/cmd/extract");
    let garbage: Vec<Vec<u8>> = vec![
        (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
        b"{not json".to_vec(),
        br#"{"request_id":"g1","camera":"../../../etc","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#
            .to_vec(),
        br#"{"request_id":"g2","camera":"road","from":"2026-11-28T10:00:10Z","to":"2026-11-28T10:00:00Z"}"#.to_vec(),
        br#"{"request_id":"g3","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-29T10:00:00Z"}"#.to_vec(),
        br#"{"request_id":"/tmp/x","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#
            .to_vec(),
    ];
    publish(broker.port, &topic, &garbage);
    let msgs = sub.wait_for(Duration::from_secs(30), "an error reply per bad request", |m| {
        m.iter().filter(|m| m.topic == format!("{ROOT}/cmd/extract/result")).count() >= garbage.len()
    });
    for r in msgs.iter().filter(|m| m.topic == format!("{ROOT}/cmd/extract/result")) {
        let v = r.json();
        assert_eq!(v["ok"], false, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    assert!(daemon.child.try_wait().expect("wait").is_none(), "the daemon died: {}", daemon.log());

    // A real request: from inside the first segment to the end of the third.
    let segs = segments();
    let from = segs[0]["start_ms"].as_i64().expect("ms") + 500;
    let to = segs[2]["end_ms"].as_i64().expect("ms");
    let rfc = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .expect("time")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let out = dir.path().join("fetched.mp4");
    let fetched = Command::new(env!("CARGO_BIN_EXE_anttd"))
        .args(["fetch", "--host", "127.0.0.1", "--port", &broker.port.to_string(), "--root", ROOT, "--camera", "road"])
        .args(["--from", &rfc(from), "--to", &rfc(to), "--timeout-s", "120", "-o"])
        .arg(&out)
        .output()
        .expect("anttd fetch");
    assert!(fetched.status.success(), "fetch failed: {}\n{}", String::from_utf8_lossy(&fetched.stderr), daemon.log());
    let extracts: Vec<PathBuf> = std::fs::read_dir(data.join("evidence/road/events/extracts"))
        .expect("extracts")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(extracts.len(), 1, "{extracts:?}");
    assert_eq!(std::fs::read(&out).expect("fetched"), std::fs::read(&extracts[0]).expect("on disk"), "byte-identical");
    let (container, codec, dur) = discover(&out);
    assert!(container.contains("Quicktime") && codec.contains("H.264"), "{container} / {codec}");
    let want = (to - from) as f64 / 1000.0;
    assert!(dur >= want - 0.2 && dur <= want + KEYINT_S + 0.2, "{dur} s for {want} s asked");

    // Still alive and publishing, and it shuts down cleanly.
    assert!(daemon.child.try_wait().expect("wait").is_none(), "the daemon died: {}", daemon.log());
    let status = daemon.terminate(Duration::from_secs(60));
    assert!(status.success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"));
    let all = sub.all();
    assert!(all.iter().any(|m| m.topic == format!("{ROOT}/road/events")), "events were published");
}
