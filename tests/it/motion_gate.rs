//! Motion gating through `anttd bench` (the real pipeline, no broker): a still scene is detected
//! on only at the refresh interval, a moving one on every frame, a still scene that starts moving
//! is detected on from its first moving frame, and the events stay the same.

use crate::common;

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

/// A 10 fps clip of the first frame of vtest.avi held for `held` frames, then vtest.avi going on
/// from that frame for `moving` more frames (its frames 1..=moving), encoded like the original.
///
/// The frames are decoded once and pushed with their own timestamps: `concat` of an `imagefreeze`
/// branch and a decode branch lost frames in the encoder (the second segment's timestamps restart)
/// and hung with `identity single-segment=true` on Debian's GStreamer 1.22. One keyframe only: with
/// the encoder's default of one every 12 frames, the second keyframe of the held picture came out
/// different enough (rate control settling) for the gate to see motion at 1.2 s.
fn held_then_moving_clip(dir: &Path, held: usize, moving: usize) -> PathBuf {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;
    gst::init().expect("GStreamer");
    let wait = |p: &gst::Element, what: &str| {
        let msg = p
            .bus()
            .expect("bus")
            .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
            .unwrap_or_else(|| panic!("{what}: no end of stream within 60 s"));
        assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{what} failed: {msg:?}");
    };

    // Decode vtest.avi's first `moving + 1` frames.
    let decode = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 \
         ! appsink name=sink sync=false max-buffers=8",
        asset("media/vtest.avi").display()
    ))
    .expect("decode pipeline");
    let sink: gst_app::AppSink = named(&decode, "sink");
    decode.set_state(gst::State::Playing).expect("play vtest.avi");
    let mut caps = None;
    let frames: Vec<gst::Buffer> = (0..=moving)
        .map(|i| {
            let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(30)).unwrap_or_else(|| panic!("frame {i}"));
            caps.get_or_insert_with(|| sample.caps().expect("caps").to_owned());
            sample.buffer_owned().expect("buffer")
        })
        .collect();
    decode.set_state(gst::State::Null).expect("stop decoding");

    // Encode frame 0 `held` times, then frames 1..=moving, 100 ms apart.
    let out = dir.join("held_then_moving.avi");
    let encode = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! avenc_mpeg4 bitrate=800000 gop-size=300 ! avimux \
         ! filesink location=\"{}\"",
        out.display()
    ))
    .expect("encode pipeline");
    let src: gst_app::AppSrc = named(&encode, "src");
    let mut caps = caps.expect("caps");
    caps.make_mut().set("framerate", gst::Fraction::new(10, 1));
    src.set_caps(Some(&caps));
    encode.set_state(gst::State::Playing).expect("play encoder");
    let order = std::iter::repeat_n(0, held).chain(1..=moving);
    for (n, i) in order.enumerate() {
        let mut b = frames[i].copy();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_mseconds(100 * n as u64));
            b.set_dts(gst::ClockTime::NONE);
            b.set_duration(gst::ClockTime::from_mseconds(100));
        }
        src.push_buffer(b).expect("push frame");
    }
    src.end_of_stream().expect("end of stream");
    wait(&encode, "encoding the held-then-moving clip");
    encode.set_state(gst::State::Null).expect("stop encoding");
    out
}

/// (frames, inferences, events) from the bench's `processed:` line, and the events file's lines.
fn bench(cfg: &Path, args: &[&str], events: &Path) -> (u64, u64, u64, Vec<serde_json::Value>) {
    let out = anttd()
        .args(["bench", "-c"])
        .arg(cfg)
        // No raw-rate runs between stretches (`--raw-every 0`): the tests count frames,
        // inferences and events, not the rate, and 25 raw inferences every 30 frames took most
        // of their time.
        .args(["--raw-runs", "1", "--raw-every", "0", "--events"])
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
/// The element called `name` in a launched pipeline, as type `T`.
fn named<T: gstreamer::prelude::IsA<gstreamer::Element>>(pipeline: &gstreamer::Element, name: &str) -> T {
    use gstreamer::prelude::*;
    pipeline
        .downcast_ref::<gstreamer::Bin>()
        .and_then(|b| b.by_name(name))
        .and_then(|e| e.downcast::<T>().ok())
        .unwrap_or_else(|| panic!("no element `{name}` of the expected type"))
}

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

#[test]
fn still_scene_that_starts_moving_is_detected_from_its_first_moving_frame() {
    // Held 4.5 s: refreshes at 0, 2 and 4 s, and motion starts 0.5 s after the last of them, so
    // only motion can make the first moving frame (number HELD) be detected on.
    const HELD: u64 = 45;
    const MOVING: u64 = 120;
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = held_then_moving_clip(dir.path(), HELD as usize, MOVING as usize);
    let cfg = config(dir.path(), &clip);
    let run = |gate: bool, frames: u64| {
        let file = dir.path().join(format!("gate-{gate}-{frames}.jsonl"));
        bench(&cfg, &["--gate", if gate { "true" } else { "false" }, "--frames", &frames.to_string()], &file)
    };

    // The held part: detected on only at the refresh interval (the clip's timestamps are exact
    // tenths, so 0, 2.0 and 4.0 s), and the people standing in it are still tracked.
    let (frames, held_inferences, _, held_events) = run(true, HELD);
    assert_eq!((frames, held_inferences), (HELD, 3), "frames, inferences in the {HELD} held frames");
    assert!(held_events.iter().any(|e| e["kind"] == "object"), "no tracked object in the held part");

    // The first moving frame is detected on at once, not at the next refresh 1.5 s later.
    let (frames, inferences, _, _) = run(true, HELD + 1);
    assert_eq!((frames, inferences), (HELD + 1, held_inferences + 1), "the first moving frame was not detected on");

    // From then on people walk through every frame, and tracking resumes as without gating:
    // the same events (new people, their line crossings), though the held part was detected on
    // 3 times instead of 45.
    let (frames, gated_inferences, gated_count, gated) = run(true, HELD + MOVING);
    let (_, plain_inferences, plain_count, plain) = run(false, HELD + MOVING);
    assert_eq!((frames, plain_inferences), (HELD + MOVING, HELD + MOVING));
    assert!(
        gated_inferences >= held_inferences + MOVING - 4,
        "only {gated_inferences} inferences, {held_inferences} of them in the held part, for {MOVING} moving frames"
    );
    let starts = |evs: &[serde_json::Value]| -> Vec<u64> {
        evs.iter()
            .filter(|e| e["kind"] == "object" && e["type"] == "start")
            .filter_map(|e| e["track_id"].as_u64())
            .collect()
    };
    let held_tracks = starts(&held_events);
    let new_tracks = starts(&gated).into_iter().filter(|t| !held_tracks.contains(t)).count();
    let crossings = gated.iter().filter(|e| e["kind"] == "line_cross").count();
    assert!(new_tracks > 0 && crossings > 0, "{new_tracks} new tracks, {crossings} crossings once the scene moves");
    assert_eq!(gated_count, plain_count, "events gated {gated_count}, ungated {plain_count}");
    // The held frames decode a little differently from one another (MPEG-4 P-frames), so the
    // ungated run's best score of a track that stood there may be a hair higher; the rest is equal.
    let scores = |evs: &[serde_json::Value]| -> Vec<f64> {
        let mut v: Vec<(String, f64)> = evs
            .iter()
            .map(|e| (format!("{}{}{}", e["kind"], e["track_id"], e["type"]), e["best_score"].as_f64().unwrap_or(0.0)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, s)| s).collect()
    };
    for (g, p) in scores(&gated).into_iter().zip(scores(&plain)) {
        assert!((g - p).abs() <= 0.01, "best score gated {g}, ungated {p}");
    }
    // Likewise a box that a track had while standing there may differ by a pixel or two (the
    // tracker confirms it on a different held frame with and without gating). Everything else
    // (kinds, labels, track ids, phases, lines, directions) must be equal.
    let keyed = |evs: &[serde_json::Value]| -> Vec<(String, Vec<f64>)> {
        let mut v: Vec<(String, Vec<f64>)> = evs
            .iter()
            .map(|e| {
                let bbox: Vec<f64> =
                    e["box"].as_array().map(|b| b.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
                let mut e = e.clone();
                if let Some(o) = e.as_object_mut() {
                    o.remove("best_score");
                    o.remove("box");
                }
                (essence(&[e]).concat(), bbox)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (g, p) = (keyed(&gated), keyed(&plain));
    assert_eq!(g.iter().map(|e| &e.0).collect::<Vec<_>>(), p.iter().map(|e| &e.0).collect::<Vec<_>>());
    for ((key, gb), (_, pb)) in g.iter().zip(&p) {
        assert_eq!(gb.len(), pb.len(), "{key}: box {gb:?} against {pb:?}");
        assert!(gb.iter().zip(pb).all(|(a, b)| (a - b).abs() <= 3.0), "{key}: box gated {gb:?}, ungated {pb:?}");
    }
}
