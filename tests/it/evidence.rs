//! Evidence with the real parts: an H.264 copy of vtest.avi (made here with x264enc, because
//! vtest.avi's DivX 3 cannot go into MP4 without re-encoding) → the daemon's ring of MP4
//! segments → a clip per event, checked with GStreamer's own discoverer; retention under quota.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Broker, Msg, Subscriber, anttd, asset, publish, publish_as, run_to_end, write_config};

const ROOT: &str = "antt/test-site/test-box";
/// x264enc key-int-max=20 at 10 fps: a keyframe every 2 s at most.
const KEYINT_S: f64 = 2.0;

/// vtest.avi re-encoded to H.264 in MP4 (a keyframe every 2 s), as a camera would send it.
pub fn h264_vtest(dir: &Path) -> PathBuf {
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

    // Stats say how full the evidence store is (retention's report).
    let stats = msgs.iter().rev().find(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).expect("stats");
    let report = &stats["evidence"];
    assert_eq!(report["ring_max_bytes"], 1000u64 << 20, "{stats}");
    assert!(report["ring_segments"].as_u64().is_some_and(|n| n > 0), "{stats}");

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

fn rfc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// A request body as `anttd fetch` signs it.
fn request(id: &str, for_box: &str, from_ms: i64, to_ms: i64, issued_ms: i64) -> String {
    serde_json::json!({
        "request_id": id, "box": for_box, "camera": "road",
        "from": rfc(from_ms), "to": rfc(to_ms), "issued_at": rfc(issued_ms),
    })
    .to_string()
}

/// `anttd keygen` / `anttd pubkey`: the public key printed.
pub fn key_cli(cmd: &str, file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_anttd")).arg(cmd).arg(file).output().expect("anttd");
    assert!(out.status.success(), "anttd {cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The station's broker as docs/deploy.md sets it up: deploy/mosquitto/anttd.acl for this site,
/// logins for the box under test, another box, and the station.
pub const BOX_LOGIN: (&str, &str) = ("test-box", "box-secret");
const OTHER_BOX: (&str, &str) = ("other-box", "other-secret");
pub const STATION: (&str, &str) = ("station", "station-secret");

pub fn station_broker() -> Broker {
    let acl = std::fs::read_to_string(common::root().join("deploy/mosquitto/anttd.acl")).expect("shipped ACL");
    assert!(acl.contains("antt/ward-7/"), "the shipped ACL's example site changed");
    Broker::start_with_acl(&acl.replace("antt/ward-7/", "antt/test-site/"), &[BOX_LOGIN, OTHER_BOX, STATION])
}

#[test]
fn only_signed_fresh_requests_get_footage_and_fetch_checks_the_box_signature() {
    use anttd::evidence::signed;
    let dir = tempfile::tempdir().expect("temp dir");
    let video = h264_vtest(dir.path());
    let broker = station_broker();
    let login_port = broker.tls_port.expect("login listener");
    let sub = Subscriber::connect(broker.port, "antt/#");
    let station_key = dir.path().join("station.key");
    let station_pub = key_cli("keygen", &station_key);
    let station = signed::read_key(&station_key).expect("station key");
    let camera = format!(
        "[evidence]\nenabled = true\nsegment_s = 2\nmin_free_mb = 1\n\n[extract]\nstation_keys = [\"{station_pub}\"]\n\n[[cameras]]\nid = \"road\"\nuri = \"{}\"\ndetect_fps = 5\nlabels = [\"person\"]\n",
        video.display()
    );
    let cfg = write_config(dir.path(), login_port, &camera);
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text.replacen(
        "stats_interval_s = 2\n",
        &format!("stats_interval_s = 2\nusername = \"{}\"\npassword = \"{}\"\n", BOX_LOGIN.0, BOX_LOGIN.1),
        1,
    );
    std::fs::write(&cfg, text).expect("config");
    let cmd_topic = format!("{ROOT}/cmd/extract");
    // A retained request, even a signed one, is ignored: it would arrive again on every
    // (re)connection. Retained before the box connects, it reaches the box flagged retained.
    let t = now_ms() + 5_000;
    let retained = signed::seal(&station, signed::REQUEST, &request("kept", ROOT, t - 60_000, t - 50_000, t));
    publish_as(login_port, Some(STATION), &cmd_topic, &[retained], true);
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
    // The box made its key at start, private to it.
    let box_key_file = data.join("box.key");
    let box_pub = key_cli("pubkey", &box_key_file);
    let box_key = signed::parse_public(&box_pub).expect("box public key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&box_key_file).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let segs = segments();
    let (seg_from, seg_to) = (segs[0]["start_ms"].as_i64().expect("ms"), segs[1]["end_ms"].as_i64().expect("ms"));
    let result_topic = format!("{ROOT}/cmd/extract/result");
    // Every reply must carry the box's signature; the body as the box sent it.
    let replies = |msgs: &[Msg]| -> Vec<serde_json::Value> {
        msgs.iter()
            .filter(|m| m.topic == result_topic)
            .map(|m| {
                let body = signed::open(&m.payload, signed::REPLY, &[box_key]).expect("a reply signed by the box");
                serde_json::from_str(&body).expect("reply JSON")
            })
            .collect()
    };
    let reply_to = |msgs: &[Msg], id: &str| -> Vec<serde_json::Value> {
        replies(msgs).into_iter().filter(|r| r["request_id"] == id).collect()
    };

    let now = now_ms();
    // Garbage, unsigned, wrongly signed, stale, future, for another box: each refused by name.
    let intruder = anttd::evidence::signed::create_key(&dir.path().join("intruder.key")).expect("key");
    let req = |id: &str, for_box: &str, issued: i64| request(id, for_box, seg_from, seg_to, issued);
    let bad: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
        ((0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), None, "unsigned"),
        (b"{not json".to_vec(), None, "unsigned"),
        (req("plain", ROOT, now).into_bytes(), Some("plain"), "unsigned"),
        (signed::seal(&intruder, signed::REQUEST, &req("forged", ROOT, now)), Some("forged"), "bad signature"),
        (signed::seal(&station, signed::REQUEST, &req("stale", ROOT, now - 3_600_000)), Some("stale"), "stale"),
        (signed::seal(&station, signed::REQUEST, &req("future", ROOT, now + 3_600_000)), Some("future"), "ahead"),
        (
            signed::seal(&station, signed::REQUEST, &req("elsewhere", "antt/test-site/other-box", now)),
            Some("elsewhere"),
            "another box",
        ),
    ];
    // A good request sent twice: served once, then refused as a replay.
    let good = signed::seal(&station, signed::REQUEST, &req("good-1", ROOT, now));
    let mut payloads: Vec<Vec<u8>> = bad.iter().map(|(p, _, _)| p.clone()).collect();
    payloads.push(good.clone());
    payloads.push(good);
    // Another box cannot send this box a request (even a signed one it recorded), nor publish
    // as this box; the box itself cannot send itself one either.
    let recorded = signed::seal(&station, signed::REQUEST, &req("via-other-box", ROOT, now));
    publish_as(login_port, Some(OTHER_BOX), &cmd_topic, std::slice::from_ref(&recorded), false);
    publish_as(login_port, Some(BOX_LOGIN), &cmd_topic, &[recorded], false);
    publish_as(login_port, Some(OTHER_BOX), &format!("{ROOT}/road/events"), &[b"{\"forged\":true}".to_vec()], false);
    publish_as(login_port, Some(STATION), &cmd_topic, &payloads, false);
    let msgs = sub.wait_for(Duration::from_secs(60), "a reply per request", |m| {
        m.iter().filter(|m| m.topic == result_topic).count() >= bad.len() + 2
    });
    let all = replies(&msgs);
    let refused: Vec<&serde_json::Value> = all.iter().filter(|r| r["ok"] == false).collect();
    for (_, id, why) in &bad {
        let hit = refused
            .iter()
            .any(|r| r["error"].as_str().is_some_and(|e| e.contains(why)) && id.is_none_or(|id| r["request_id"] == id));
        assert!(hit, "no refusal `{why}` for {id:?}: {all:?}");
    }
    let good_replies = reply_to(&msgs, "good-1");
    // (The refusal goes out at once; the served copy's reply once its clip is cut.)
    assert_eq!(good_replies.len(), 2, "{good_replies:?}");
    assert_eq!(good_replies.iter().filter(|r| r["ok"] == true).count(), 1, "{good_replies:?}");
    assert!(
        good_replies.iter().any(|r| r["error"].as_str().is_some_and(|e| e.contains("replayed"))),
        "{good_replies:?}"
    );
    // No video went out for any refused request, nor for the retained one.
    for m in msgs.iter().filter(|m| m.topic.contains("/cmd/extract/data/")) {
        assert!(m.topic.contains("/good-1/"), "chunk for a refused request: {}", m.topic);
    }
    assert!(reply_to(&msgs, "kept").is_empty(), "a retained request was served");
    // What reached the broker's subscribers on the box's command topic came from the station
    // alone (the retained request and the batch), and nothing forged as the box's event.
    let on_cmd = msgs.iter().filter(|m| m.topic == cmd_topic).count();
    assert_eq!(on_cmd, payloads.len() + 1, "the ACL let another box or the box itself send a request");
    let forged = |m: &&Msg| m.topic == format!("{ROOT}/road/events") && m.payload.starts_with(b"{\"forged\"");
    assert!(!msgs.iter().any(|m| forged(&m)), "another box published as this one");
    assert!(reply_to(&msgs, "via-other-box").is_empty());
    let stats = sub.wait_for(Duration::from_secs(30), "stats counting the retained request", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/stats") && m.json()["mqtt"]["commands"]["ignored_retained"] == 1)
    });
    assert!(!stats.is_empty());
    assert!(daemon.child.try_wait().expect("wait").is_none(), "the daemon died: {}", daemon.log());

    // `anttd fetch` with the station's key: from inside the first segment to the end of the third.
    let from = segs[0]["start_ms"].as_i64().expect("ms") + 500;
    let to = segs[2]["end_ms"].as_i64().expect("ms");
    let password_file = dir.path().join("station.password");
    std::fs::write(&password_file, format!("{}\n", STATION.1)).expect("password file");
    let fetch = |box_pub: &str, out: &Path, timeout_s: &str| {
        Command::new(env!("CARGO_BIN_EXE_anttd"))
            .args(["fetch", "--host", "127.0.0.1", "--port", &login_port.to_string(), "--root", ROOT])
            .args(["--camera", "road", "--username", STATION.0, "--password-file"])
            .arg(&password_file)
            .args(["--from", &rfc(from), "--to", &rfc(to), "--timeout-s", timeout_s, "--box-key", box_pub, "--key"])
            .arg(&station_key)
            .arg("-o")
            .arg(out)
            .output()
            .expect("anttd fetch")
    };
    // Checked against the wrong box key, the box's genuine reply is not taken.
    let wrong = fetch(&station_pub, &dir.path().join("wrong.mp4"), "10");
    assert!(!wrong.status.success(), "a reply not signed by the given box key was accepted");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("not signed by the box"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(!dir.path().join("wrong.mp4").exists());

    let out = dir.path().join("fetched.mp4");
    let fetched = fetch(&box_pub, &out, "120");
    assert!(fetched.status.success(), "fetch failed: {}\n{}", String::from_utf8_lossy(&fetched.stderr), daemon.log());
    let extracts: Vec<PathBuf> = std::fs::read_dir(data.join("evidence/road/events/extracts"))
        .expect("extracts")
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.ends_with("good-1.mp4") && p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(extracts.len(), 2, "the wrong-key fetch and the good one were both cut: {extracts:?}");
    let on_disk: Vec<Vec<u8>> = extracts.iter().map(|p| std::fs::read(p).expect("extract")).collect();
    assert!(on_disk.contains(&std::fs::read(&out).expect("fetched")), "byte-identical to what the box cut");
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

#[test]
fn a_command_flood_and_a_slow_uplink_never_stop_the_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = h264_vtest(dir.path());
    let broker = Broker::start();
    // The box's uplink: 50 kB/s each way, shared by its connections.
    let uplink = common::Throttle::start(broker.port, 50_000);
    let sub = Subscriber::connect(broker.port, "antt/#");
    let station_key = dir.path().join("station.key");
    let station_pub = key_cli("keygen", &station_key);
    let camera = format!(
        "[evidence]\nenabled = true\nsegment_s = 2\nmin_free_mb = 1\n\n[extract]\nstation_keys = [\"{station_pub}\"]\n\n[[cameras]]\nid = \"road\"\nuri = \"{}\"\ndetect_fps = 5\nloop = true\nlabels = [\"person\"]\n",
        video.display()
    );
    let cfg = write_config(dir.path(), uplink.port, &camera);
    // Retained junk, there before the box connects: it would arrive again on every reconnect.
    let topic = format!("{ROOT}/cmd/extract");
    publish(broker.port, &topic, &[b"retained junk".to_vec(), vec![b'y'; 300_000]], true);
    let mut daemon = common::Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let stats = |msgs: &[Msg]| -> Vec<serde_json::Value> {
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/stats")).map(Msg::json).collect()
    };
    let data = dir.path().join("data");
    common::wait_until(Duration::from_secs(120), "the box's key and a ring", || {
        data.join("box.key").exists() && std::fs::read_dir(data.join("evidence/road/ring")).is_ok_and(|d| d.count() > 4)
    });
    sub.wait_for(Duration::from_secs(60), "the command connection", |m| {
        stats(m).iter().any(|s| s["mqtt"]["commands"]["connected"] == true)
    });
    let rss_before = common::rss_kb(daemon.child.id());

    // A flood on cmd/extract: random and malformed payloads, oversized packets.
    let mut flood: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| match i % 4 {
            0 => (0..(i % 700)).map(|j| (j.wrapping_mul(2_654_435_761) ^ i) as u8).collect(),
            1 => format!(r#"{{"body":"{{\"request_id\":\"f{i}\"}}","sig":"{}"}}"#, "A".repeat(86)).into_bytes(),
            2 => format!(r#"{{"request_id":"f{i}","camera":"road","from":"x"}}"#).into_bytes(),
            _ => vec![b'{'; (i as usize) % 5000],
        })
        .collect();
    flood.extend((0..5).map(|_| vec![b'x'; 200_000]));
    publish(broker.port, &topic, &flood, false);
    assert!(daemon.child.try_wait().expect("wait").is_none(), "the daemon died in the flood: {}", daemon.log());

    // Then a station fetches 6 s of video (about 1.5 MB: half a minute at 50 kB/s) while the
    // camera keeps raising events.
    let segs: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(data.join("evidence/road/ring/index.json")).expect("index"),
    )
    .expect("json")["segments"]
        .as_array()
        .cloned()
        .expect("segments");
    let to = segs[segs.len() - 1]["end_ms"].as_i64().expect("ms");
    let from = to - 6_000;
    let box_pub = key_cli("pubkey", &data.join("box.key"));
    let events_before = sub.all().iter().filter(|m| m.topic == format!("{ROOT}/road/events")).count();
    let out = dir.path().join("slow.mp4");
    let fetched = Command::new(env!("CARGO_BIN_EXE_anttd"))
        .args(["fetch", "--host", "127.0.0.1", "--port", &broker.port.to_string(), "--root", ROOT, "--camera", "road"])
        .args(["--from", &rfc(from), "--to", &rfc(to), "--timeout-s", "240", "--box-key", &box_pub, "--key"])
        .arg(&station_key)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("anttd fetch");
    assert!(fetched.status.success(), "fetch failed: {}\n{}", String::from_utf8_lossy(&fetched.stderr), daemon.log());
    let size = std::fs::metadata(&out).expect("fetched").len();
    assert!(size > 200_000, "{size} bytes");
    let events_during = sub.all().iter().filter(|m| m.topic == format!("{ROOT}/road/events")).count() - events_before;
    assert!(events_during > 0, "no event reached the station while the extract was sent");

    // The events' connection was never cut: one connection from start to end.
    let last = sub.wait_for(Duration::from_secs(30), "fresh stats", |m| stats(m).len() > 3);
    let s = stats(&last).pop().expect("stats");
    assert_eq!(s["mqtt"]["connects"], 1, "the events connection dropped: {s}");
    let commands = &s["mqtt"]["commands"];
    assert_eq!(commands["ignored_retained"], 1, "{s}");
    assert!(commands["ignored_oversize"].as_u64().is_some_and(|n| n >= 5), "{s}");
    assert_eq!(commands["connected"], true, "{s}");
    let rss_after = common::rss_kb(daemon.child.id());
    assert!(rss_after < rss_before + 100_000, "memory grew from {rss_before} kB to {rss_after} kB");

    // Every event is delivered before the daemon exits: the outbox ends empty.
    let status = daemon.terminate(Duration::from_secs(60));
    assert!(status.success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"));
    let outbox = rusqlite::Connection::open(data.join("outbox.sqlite")).expect("outbox");
    let left: i64 = outbox.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0)).expect("count");
    assert_eq!(left, 0, "events left undelivered");
}
