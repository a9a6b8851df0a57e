//! `anttd run --record-detections` then `anttd replay` on the recording: the replay must
//! publish the same events and `counts` messages the live daemon did (ids and times aside).

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{Broker, Msg, Subscriber, anttd, run_to_end, write_config};

const ROOT: &str = "antt/test-site/test-box";

/// The fields that must agree between live and replay: everything but ids and times.
fn essence(e: &serde_json::Value) -> String {
    let f = |k: &str| e.get(k).map(|v| v.to_string()).unwrap_or_default();
    ["kind", "type", "camera", "track_id", "label", "line", "direction"].map(f).join(" ")
}

/// The same for a `counts` message: intervals are stream time, so their lengths agree too.
fn counts_essence(c: &serde_json::Value) -> String {
    let f = |k: &str| c.get(k).map(|v| v.to_string()).unwrap_or_default();
    ["kind", "camera", "interval_s", "counts"].map(f).join(" ")
}

/// `anttd run -c cfg --record-detections rec` to the end of its file camera.
fn record(cfg: &std::path::Path, rec: &std::path::Path) {
    let mut c = anttd();
    c.arg("run").arg("-c").arg(cfg).arg("--record-detections").arg(rec);
    let (status, log) = run_to_end(c, Duration::from_secs(600));
    assert!(status.success(), "anttd run failed: {log}");
}

/// One live run of vtest.avi recorded, and its replay: the events and `counts` each published.
struct Compared {
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    recording: String,
    live: Vec<String>,
    live_counts: Vec<String>,
    replayed: Vec<String>,
    replayed_counts: Vec<String>,
}

/// Run camera `road` on vtest.avi with `extra` keys, recording its detections, then replay them.
fn live_and_replayed(extra: &str) -> Compared {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut camera = common::vtest_camera("road", extra);
    if extra.contains("detect_fps") {
        // `extra` sets its own rate in place of the camera's 5.
        camera = camera.replacen("detect_fps = 5\n", "", 1);
    }
    let cfg = write_config(dir.path(), broker.port, &camera);
    let rec = dir.path().join("detections.jsonl");

    record(&cfg, &rec);
    let msgs = sub.wait_for(Duration::from_secs(10), "status offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });
    let live: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).map(Msg::json).collect();
    assert!(live.iter().filter(|e| e["kind"] == "line_cross").count() >= 3, "too few crossings to compare");
    let live_counts: Vec<serde_json::Value> =
        msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/counts")).map(Msg::json).collect();
    assert!(!live_counts.is_empty(), "no counts published");

    let out =
        anttd().arg("replay").arg("-c").arg(&cfg).arg(&rec).stderr(Stdio::piped()).output().expect("anttd replay runs");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    let replayed: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Events and counts, each in the order published (their topics are not ordered together).
    let (replayed_counts, replayed): (Vec<_>, Vec<_>) = replayed.iter().partition(|m| m["kind"] == "counts");
    Compared {
        recording: std::fs::read_to_string(&rec).expect("recording"),
        dir,
        cfg,
        live: live.iter().map(essence).collect(),
        live_counts: live_counts.iter().map(counts_essence).collect(),
        replayed: replayed.into_iter().map(essence).collect(),
        replayed_counts: replayed_counts.into_iter().map(counts_essence).collect(),
    }
}

#[test]
fn replay_reproduces_live_events() {
    let run = live_and_replayed("realtime = false");
    let (dir, cfg) = (run.dir.path(), &run.cfg);
    // The recording: a header, then one line per detected frame (vtest.avi is about 80 s).
    let lines: Vec<&str> = run.recording.lines().collect();
    assert!(lines[0].contains("\"anttd-detections\""), "{}", lines[0]);
    assert!(lines.len() > 300, "{} lines", lines.len());
    let first: serde_json::Value = serde_json::from_str(lines[1]).expect("frame json");
    assert_eq!(
        (first["camera"].as_str(), first["width"].as_u64(), first["height"].as_u64()),
        (Some("road"), Some(768), Some(576))
    );
    // A camera without `carry_fps` records detections only, as before carrying existed.
    assert!(!run.recording.contains("\"carried\"") && !run.recording.contains("\"detected\""));
    assert_eq!(run.replayed, run.live);
    assert_eq!(run.replayed_counts, run.live_counts);

    // A recording with a camera the config does not have is refused, naming the line.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{}\n", lines[0], lines[1].replace("\"camera\":\"road\"", "\"camera\":\"gate\"")))
        .expect("write");
    let out = anttd().arg("replay").arg("-c").arg(cfg).arg(&bad).output().expect("anttd replay runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("line 2: camera `gate` is not in the config"), "{err}");
}

/// The daemon carrying boxes between its detections (`carry_fps`): vtest.avi's 10 frames a
/// second, the detector on 3 of them and the carrier on all. The recording holds the carried
/// frames and boxes, and a replay of it publishes the same events and counts as the live run:
/// the frames were analysed in stream order, each detected frame's boxes with the boxes
/// carried onto it.
#[test]
fn carried_frames_are_recorded_and_replay_as_the_daemon_analysed_them() {
    let run = live_and_replayed("realtime = false\ndetect_fps = 3\ncarry_fps = 10");
    let frames: Vec<serde_json::Value> =
        run.recording.lines().skip(1).map(|l| serde_json::from_str(l).expect("frame json")).collect();
    let not_detected = frames.iter().filter(|f| f["detected"] == false).count();
    let carried_boxes: usize = frames.iter().filter_map(|f| f["carried"].as_array()).map(Vec::len).sum();
    // About 795 frames, 3 a second of them detected (239), each walker carried onto the others.
    assert!(frames.len() > 700, "{} frames", frames.len());
    assert!((520..=580).contains(&not_detected), "{not_detected} of {} frames not detected", frames.len());
    assert!(carried_boxes > 2 * not_detected, "{carried_boxes} boxes carried onto {not_detected} frames");
    // Stream times only go forward, frame after frame.
    assert!(frames.windows(2).all(|w| w[0]["time_s"].as_f64() < w[1]["time_s"].as_f64()), "frames out of order");
    assert_eq!(run.replayed, run.live);
    assert_eq!(run.replayed_counts, run.live_counts);
}

/// SSD-MobileNet-v2 on `vtest.avi` at 5 fps, recorded and replayed: how many object tracks its
/// detections make. SSD draws second boxes on walkers (their legs, two walkers in one) that
/// start new tracks. When new tracks joined the tracker's first assignment beside the
/// established ones, those took the walkers' detections and broke their tracks: 79 tracks,
/// against 51 when new tracks chose last. A new track whose box overlaps an established one's
/// now waits (`SECOND_BOX_IOU`): 61.
#[test]
fn ssd_second_boxes_do_not_break_walkers_tracks() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let camera = common::vtest_camera("road", "realtime = false");
    let cfg = write_config(dir.path(), broker.port, &camera);
    let text = std::fs::read_to_string(&cfg).expect("config");
    let ssd = common::root().join("models/ssd-mobilenet-v2.toml");
    let yolo = common::root().join("models/yolov12n.toml");
    std::fs::write(&cfg, text.replace(&yolo.display().to_string(), &ssd.display().to_string())).expect("config");
    let rec = dir.path().join("detections.jsonl");
    record(&cfg, &rec);
    let text = std::fs::read_to_string(&rec).expect("recording");
    assert!(text.lines().next().is_some_and(|l| l.contains("\"ssd-mobilenet-v2\"")), "not SSD's recording");
    let out = anttd().arg("replay").arg("-c").arg(&cfg).arg(&rec).stderr(Stdio::piped()).output().expect("replay");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    let tracks = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "object" && e["type"] == "start")
        .count();
    assert!((20..=66).contains(&tracks), "{tracks} object tracks");
}
