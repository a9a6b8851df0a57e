//! The real daemon on vtest.avi (GStreamer → YOLOv12n → tracker → rules → outbox → mosquitto)
//! with a line and a zone chosen for this test, against what a person sees in the video.
//!
//! What was seen (frames taken every half second with gst-launch-1.0 and looked at; times
//! from the start of the video; "west" is leftwards on screen):
//!
//! Line `west-path`: x = 250 from y = 180 to y = 320, across the road between the left-hand
//! traffic cones, drawn downwards, so `westbound` (its directions[0]) is walking leftwards.
//! - 17.8 s: the person in the light-blue jacket with a white hood walks west across it.
//! - 19.8 s: the man in the navy striped jumper walks west.
//! - 24.4 s: the man in the black jacket walks west.
//! - 30.6 s: a man in a dark jacket walks west, and at 30.8 s another, coming from the far left,
//!   walks east; the first turns round and walks east again at 32.8 s.
//! - 52.0 s: the woman in the red top walks west; 65.6 s: she comes back east.
//! - 59.2 s: a man in a dark jacket walks west; he comes back east at 67.6 s, passing at the
//!   line a man walking west (67.2 s).
//! - 70.8 s: the man in the pale-blue jacket walks west.
//! - 76.4 s: the blonde woman in the long black coat, who had crossed the grass below the line,
//!   walks up onto the road and east across it.
//! - 78.4 s: the man who came in at the right edge at 69 s walks west across it.
//! - Not a crossing: two people walking along the grass at 53–62 s pass below the line's lower
//!   end; the man in the red and navy jacket reaches the line's lower end at about 75.5 s and
//!   turns back down the slope (ambiguous: on the end of the segment).
//!
//! So 9 westbound and 5 eastbound crossings, all by persons.
//!
//! Zone `square`: the road in front of the lamp post. From the start, a group of four to six
//! people stands and walks about by the lamp post; by 14 s only three are left in it. Around
//! 70–75 s five people are in it at once (people walking both ways), three or fewer after 76 s.
//! With `crowd` at 4 persons for 3 s (ending after 3 s below), that is two crowds: one in the
//! first 20 s, one after 65 s.
//!
//! Tolerance: each direction's count within one of what was seen (a detection missed in the
//! crowd by the lamp post can merge or split a track); the crowds exactly.

use crate::common;

use common::{Broker, Msg, Subscriber, asset, write_config};
use serde_json::Value;

const ROOT: &str = "antt/test-site/test-box";

/// The camera of this test: vtest.avi with the line `west-path` and the crowd rule on `square`
/// (the station's test uses it too).
pub fn camera() -> String {
    format!(
        r#"[[cameras]]
id = "road"
uri = "{video}"
detect_fps = 5
realtime = false
labels = ["person", "car", "truck"]
counts_interval_s = 20

[[cameras.lines]]
name = "west-path"
points = [[250, 180], [250, 320]]
directions = ["westbound", "eastbound"]

[[cameras.zones]]
name = "square"
polygon = [[300, 190], [620, 150], [650, 300], [330, 310]]

[[cameras.rules]]
kind = "crowd"
name = "group"
zone = "square"
min_persons = 4
for_s = 3
end_after_s = 3
cooldown_s = 30
"#,
        video = asset("media/vtest.avi").display()
    )
}

/// Seconds of the day of an event's `ts` (`2026-11-28T14:54:49.523Z`; the video lasts 80 s).
fn secs(e: &Value) -> f64 {
    let ts = e["ts"].as_str().expect("ts");
    let num = |r: std::ops::Range<usize>| ts.get(r).and_then(|s| s.parse::<f64>().ok()).expect("ts digits");
    num(11..13) * 3600.0 + num(14..16) * 60.0 + num(17..23)
}

#[test]
fn vtest_line_counts_and_crowds_match_the_video() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = write_config(dir.path(), broker.port, &camera());
    let (msgs, _) = common::run_box_to_end(&cfg, &sub, ROOT);
    let evs: Vec<Value> = msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).map(Msg::json).collect();

    // Line crossings, against what was seen.
    let crossings: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "line_cross").collect();
    let count = |dir: &str| crossings.iter().filter(|e| e["direction"] == dir).count() as i64;
    let summary: Vec<String> =
        crossings.iter().map(|e| format!("{} {} {}", e["ts"], e["direction"], e["track_id"])).collect();
    assert!((count("westbound") - 9).abs() <= 1, "{summary:#?}");
    assert!((count("eastbound") - 5).abs() <= 1, "{summary:#?}");
    assert!(crossings.iter().all(|e| e["label"] == "person" && e["line"] == "west-path"));

    // Crowds: two, each a start and an end of one event, the first early, the second late.
    let crowd: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "crowd").collect();
    let starts: Vec<&Value> = crowd.iter().copied().filter(|e| e["type"] == "start").collect();
    let ends: Vec<&Value> = crowd.iter().copied().filter(|e| e["type"] == "end").collect();
    assert_eq!((starts.len(), ends.len()), (2, 2), "{crowd:#?}");
    for (s, e) in starts.iter().zip(&ends) {
        assert_eq!(s["event_id"], e["event_id"]);
        assert!(s["count"].as_u64().is_some_and(|c| c >= 4), "{s}");
    }
    // Times from the first event (an object confirmed in the first second of the video).
    let t0 = evs.iter().map(secs).fold(f64::INFINITY, f64::min);
    let at = |e: &Value| secs(e) - t0;
    assert!(at(starts[0]) < 12.0 && at(ends[0]) < 20.0, "{crowd:#?}");
    assert!(at(starts[1]) > 65.0, "{crowd:#?}");

    // `<camera>/counts` every 20 s of video: the same crossings, through the outbox.
    let counts: Vec<Value> = msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/counts")).map(Msg::json).collect();
    assert!((4..=5).contains(&counts.len()), "{counts:#?}");
    assert!(counts.iter().take(counts.len() - 1).all(|c| c["interval_s"] == 20.0), "{counts:#?}");
    let summed = |dir: &str| -> i64 {
        counts
            .iter()
            .flat_map(|c| c["counts"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["direction"] == dir && r["line"] == "west-path" && r["label"] == "person")
            .map(|r| r["count"].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!((summed("westbound"), summed("eastbound")), (count("westbound"), count("eastbound")), "{counts:#?}");
}
