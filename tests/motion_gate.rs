//! Motion gating through `anttd bench` (the real pipeline, no broker): a still scene is detected
//! on only at the refresh interval, a moving one on every frame, and the events stay the same.

mod common;

use std::path::{Path, PathBuf};

use common::{anttd, asset, root};

/// A config like the example's: `uri` as the only camera, every frame detected, as fast as possible.
fn config(dir: &Path, uri: &Path) -> PathBuf {
    let example = std::fs::read_to_string(root().join("examples/anttd.toml")).expect("example config");
    let base = root();
    let text = example
        .replace("../", &format!("{}/", base.display()))
        .replace("realtime = true", "realtime = false")
        .replace("detect_fps = 5", "detect_fps = 10")
        .replace(&format!("{}/media/vtest.avi", base.display()), &uri.display().to_string());
    let path = dir.join("anttd.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A 60 s clip at 10 fps of one frame of vtest.avi held still, encoded like the original (MPEG-4 in AVI).
fn still_clip(dir: &Path) -> PathBuf {
    use gstreamer::prelude::*;
    gstreamer::init().expect("GStreamer");
    let out = dir.join("still.avi");
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! imagefreeze num-buffers=600 \
         ! video/x-raw,framerate=10/1 ! avenc_mpeg4 bitrate=800000 ! avimux ! filesink location=\"{}\"",
        asset("media/vtest.avi").display(),
        out.display()
    );
    let p = gstreamer::parse::launch(&desc).expect("pipeline");
    p.set_state(gstreamer::State::Playing).expect("play");
    let bus = p.bus().expect("bus");
    let msg = bus
        .timed_pop_filtered(gstreamer::ClockTime::NONE, &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error])
        .expect("message");
    assert!(matches!(msg.view(), gstreamer::MessageView::Eos(_)), "encoding the still clip failed: {msg:?}");
    p.set_state(gstreamer::State::Null).expect("stop");
    out
}

/// (frames, inferences, events) from the bench's `processed:` line, and the events file's lines.
fn bench(cfg: &Path, args: &[&str], events: &Path) -> (u64, u64, u64, Vec<serde_json::Value>) {
    let out = anttd()
        .args(["bench", "-c"])
        .arg(cfg)
        .args(["--raw-runs", "1", "--events"])
        .arg(events)
        .args(args)
        .output()
        .expect("run anttd bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "anttd bench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with("processed:")).unwrap_or_else(|| panic!("no summary: {stdout}"));
    // processed: N frames (M inferences, E events) in ...
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .map(|s| s.parse().expect("number"))
        .collect();
    let evs = std::fs::read_to_string(events)
        .expect("events file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect();
    (nums[0], nums[1], nums[2], evs)
}

/// What must match between two runs: everything but ids and wall-clock times.
fn essence(events: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                for k in ["id", "event_id", "ts", "first_seen", "last_seen"] {
                    o.remove(k);
                }
            }
            e.to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn still_scene_is_detected_only_at_the_refresh_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = still_clip(dir.path());
    let cfg = config(dir.path(), &clip);
    let (frames, inferences, _, _) = bench(&cfg, &["--gate", "true"], &dir.path().join("gated.jsonl"));
    assert_eq!(frames, 600, "every frame of the 60 s clip reaches the tracker");
    // Default refresh_s = 2: one detection on the first frame, then one every 2 s of stream time.
    assert!((28..=32).contains(&inferences), "{inferences} inferences on a 60 s still scene");
    // The same scene without gating: every frame is detected.
    let (frames, inferences, _, _) =
        bench(&cfg, &["--gate", "false", "--frames", "40"], &dir.path().join("ungated.jsonl"));
    assert_eq!((frames, inferences), (40, 40));
}

#[test]
fn moving_scene_is_detected_on_every_frame_with_the_same_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), &asset("media/vtest.avi"));
    let (f1, i1, e1, gated) = bench(&cfg, &["--gate", "true", "--frames", "120"], &dir.path().join("a.jsonl"));
    let (f2, i2, e2, plain) = bench(&cfg, &["--gate", "false", "--frames", "120"], &dir.path().join("b.jsonl"));
    assert_eq!((f1, f2, i2), (120, 120, 120));
    assert!(e1 > 0 && e1 == e2, "events gated {e1}, ungated {e2}");
    // People walk through the whole clip: hardly a frame is still enough to skip.
    assert!(i1 >= 114, "only {i1} of 120 frames detected with gating");
    assert_eq!(essence(&gated), essence(&plain));
}
