//! The issue's rule scenarios, each as a detection recording written by the test to show the
//! situation, run through `anttd replay` (the real binary: config loading, tracker, rules,
//! events as printed).
//!
//! The camera looks down on a straight road along the picture's x axis, calibrated at 5 px a
//! metre (1280 px = 256 m), recorded at 10 detections a second.

use crate::common;

use std::fmt::Write as _;
use std::path::Path;

use common::anttd;
use serde_json::Value;

const PX_PER_M: f64 = 5.0;
const FPS: f64 = 10.0;

const HEADER: &str = r#"{"format":"anttd-detections","version":1,"model":"test","labels":["person","bicycle","car","motorcycle"],"groups":{"person":["person"],"vehicle":["car"],"motorcycle":["motorcycle"]}}"#;

fn config(rules: &str) -> String {
    common::fixture("road-5px-per-m.toml", &[("rules", rules)])
}

/// (label, class id, box width and height in px) of what the tests record.
const PERSON: (&str, u32, f64, f64) = ("person", 0, 20.0, 60.0);
const CAR: (&str, u32, f64, f64) = ("car", 2, 24.0, 20.0);
const MOTO: (&str, u32, f64, f64) = ("motorcycle", 3, 40.0, 40.0);

/// An object: its kind and its ground position (metres) at time t, None when not detected.
type Object<'a> = ((&'a str, u32, f64, f64), &'a dyn Fn(f64) -> Option<(f64, f64)>);

/// Record `secs` seconds of the objects as the daemon would, replay them with `rules`, and
/// return the printed events.
fn replay(rules: &str, objects: &[Object], secs: f64) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rec = format!("{HEADER}\n");
    for i in 0..(secs * FPS) as u32 {
        let t = f64::from(i) / FPS;
        let dets: Vec<String> = objects
            .iter()
            .filter_map(|((label, class, w, h), pos)| {
                let (x, y) = pos(t)?;
                let (x, y) = (x * PX_PER_M, y * PX_PER_M);
                Some(format!(
                    r#"{{"label":"{label}","class_id":{class},"score":0.9,"box":[{},{},{},{}]}}"#,
                    x - w / 2.0,
                    y - h,
                    x + w / 2.0,
                    y
                ))
            })
            .collect();
        let wall = 1_795_873_200_000 + (t * 1000.0) as u64;
        writeln!(
            rec,
            r#"{{"camera":"road","time_s":{t},"wall_ms":{wall},"width":1280,"height":720,"detections":[{}]}}"#,
            dets.join(",")
        )
        .expect("write");
    }
    let (cfg, file) = (dir.path().join("anttd.toml"), dir.path().join("rec.jsonl"));
    std::fs::write(&cfg, config(rules)).expect("config");
    std::fs::write(&file, rec).expect("recording");
    run_replay(&cfg, &file)
}

fn run_replay(cfg: &Path, file: &Path) -> Vec<Value> {
    let out = anttd().arg("replay").arg("-c").arg(cfg).arg(file).output().expect("anttd replay runs");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn types(events: &[&Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("?").to_string()).collect()
}

/// Seconds into the recording of an event's `ts` (the recording starts at 13:40:00.000 UTC).
fn secs(e: &Value) -> f64 {
    let ts = e["ts"].as_str().expect("ts");
    let m: f64 = ts[14..16].parse().expect("minutes");
    let s: f64 = ts[17..23].parse().expect("seconds");
    (m - 40.0) * 60.0 + s
}

const RACING: &str = r#"[[cameras.rules]]
kind = "racing"
name = "street-race"
zone = "road"
min_group = 3
max_gap_m = 15
min_speed_kmh = 60
for_s = 3
end_after_s = 3
update_interval_s = 2
cooldown_s = 60
"#;

#[test]
fn three_motorcycles_weaving_at_80_kmh_race_once() {
    // Three riders 6 m apart along the road in two lanes, each weaving ±1.5 m across it with
    // its own period, at 80 km/h from x = 10 m: they ride out of the picture (256 m) at
    // about 11 s.
    let v = 80.0 / 3.6;
    let rider = |k: f64, period: f64| {
        move |t: f64| {
            Some((10.0 + 6.0 * k + v * t, 60.0 + 5.0 * (k % 2.0) + 1.5 * (std::f64::consts::TAU * t / period).sin()))
                .filter(|p| p.0 < 256.0)
        }
    };
    let (a, b, c) = (rider(0.0, 1.6), rider(1.0, 1.9), rider(2.0, 1.7));
    let events = replay(RACING, &[(MOTO, &a), (MOTO, &b), (MOTO, &c)], 16.0);
    let racing = of_kind(&events, "racing");
    let t = types(&racing);
    assert_eq!(t.iter().filter(|t| *t == "start").count(), 1, "{racing:#?}");
    assert_eq!(t.iter().filter(|t| *t == "end").count(), 1, "{racing:#?}");
    assert!(t.iter().filter(|t| *t == "update").count() >= 2, "{racing:#?}");
    assert_eq!((t.first().map(String::as_str), t.last().map(String::as_str)), (Some("start"), Some("end")));
    assert!(racing.iter().all(|e| e["event_id"] == racing[0]["event_id"]), "one event: {racing:#?}");
    let start = racing[0];
    // Confirmed at the third frame, a speed after half a second, then 3 s.
    assert!(secs(start) > 3.0 && secs(start) < 4.5, "{start}");
    assert_eq!(
        (start["group_size"].as_u64(), start["rule"].as_str(), start["zone"].as_str()),
        (Some(3), Some("street-race"), Some("road"))
    );
    let ids: Vec<u64> = start["track_ids"].as_array().expect("ids").iter().filter_map(Value::as_u64).collect();
    assert_eq!(ids.len(), 3, "{start}");
    for e in &racing {
        let (max, mean) = (e["max_kmh"].as_f64().expect("max"), e["mean_kmh"].as_f64().expect("mean"));
        assert!((max - 80.0).abs() < 5.0 && (mean - 80.0).abs() < 5.0 && mean <= max, "{e}");
    }
    // The weaving shows once two reversals have passed.
    assert!(racing.iter().any(|e| e["weaving"] == true), "{racing:#?}");
    // They leave the picture at about 11 s; the end 3 s later (their tracks linger 1.5 s).
    let end = racing.last().expect("end");
    assert!(secs(end) > 13.0 && secs(end) < 16.0, "{end}");
}

#[test]
fn two_motorcycles_side_by_side_at_30_kmh_do_not_race() {
    let v = 30.0 / 3.6;
    let (a, b) = (move |t: f64| Some((10.0 + v * t, 60.0)), move |t: f64| Some((10.0 + v * t, 64.0)));
    let events = replay(RACING, &[(MOTO, &a), (MOTO, &b)], 20.0);
    assert!(of_kind(&events, "racing").is_empty(), "{events:#?}");
    // The two were tracked the whole time, so the rule did see them.
    assert_eq!(of_kind(&events, "object").len(), 4, "{events:#?}");
}

#[test]
fn a_car_braking_into_a_standing_one_is_one_collision_suspect() {
    let rules = "[[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"crash\"\nzone = \"road\"\n";
    // A car at 50 km/h brakes at 8 m/s² from 1.9 s, too late: it runs into one standing at
    // x = 60 m (box 57.6..62.4 m) at about 24 km/h at 3.0 s, and stands at 3.6 s with its box
    // 2.8 m into the other's.
    let v = 50.0 / 3.6;
    let moving = move |t: f64| {
        let dt = (t - 1.9).clamp(0.0, v / 8.0);
        Some((19.6 + v * t.min(1.9) + v * dt - 4.0 * dt * dt, 60.0))
    };
    let standing = |_t: f64| Some((60.0, 60.0));
    // A third car passes in the next lane at 50 km/h without braking, its box meeting both
    // standing cars' boxes (2.5 px of overlap on screen).
    let passing = move |t: f64| Some((5.0 + v * t, 63.5));
    let events = replay(rules, &[(CAR, &moving), (CAR, &standing), (CAR, &passing)], 12.0);
    let col = of_kind(&events, "collision_suspect");
    assert_eq!(types(&col), vec!["start", "end"], "{col:#?}");
    let start = col[0];
    assert!(secs(start) > 3.0 && secs(start) < 6.0, "{start}");
    assert_eq!(start["labels"], serde_json::json!(["car", "car"]));
    let speeds: Vec<f64> =
        start["speeds_before_kmh"].as_array().expect("speeds").iter().filter_map(Value::as_f64).collect();
    let ids: Vec<u64> = start["track_ids"].as_array().expect("ids").iter().filter_map(Value::as_u64).collect();
    // The moving car's track and the standing one's, with their speeds before they met.
    let object_ids = |x_lo: f64, x_hi: f64| -> Vec<u64> {
        of_kind(&events, "object")
            .iter()
            .filter(|e| e["type"] == "start")
            .filter(|e| e["box"][0].as_f64().is_some_and(|x| x >= x_lo * PX_PER_M && x <= x_hi * PX_PER_M))
            .filter(|e| e["box"][3].as_f64().is_some_and(|y| (y - 300.0).abs() < 1.0))
            .filter_map(|e| e["track_id"].as_u64())
            .collect()
    };
    let (moving_id, standing_id) = (object_ids(0.0, 40.0), object_ids(55.0, 65.0));
    assert_eq!((moving_id.len(), standing_id.len()), (1, 1), "{events:#?}");
    let by_id = |id: u64| ids.iter().position(|&i| i == id).map(|k| speeds[k]).expect("in the event");
    assert!((by_id(moving_id[0]) - 50.0).abs() < 3.0, "{start}");
    assert!(by_id(standing_id[0]) < 3.0, "{start}");
}

#[test]
fn a_fast_car_is_speeding_once_a_slow_one_not() {
    let rules =
        "[[cameras.rules]]\nkind = \"speeding\"\nname = \"limit-50\"\nzone = \"road\"\nlimit_kmh = 50\nfor_s = 2\n";
    // 75 km/h and 40 km/h in two lanes for 10 s (the fast one leaves the picture at 12 s).
    let (fast, slow) =
        (move |t: f64| Some((10.0 + 75.0 / 3.6 * t, 60.0)), move |t: f64| Some((10.0 + 40.0 / 3.6 * t, 66.0)));
    let events = replay(rules, &[(CAR, &fast), (CAR, &slow)], 10.0);
    let sp = of_kind(&events, "speeding");
    assert_eq!(types(&sp), vec!["start", "end"], "{sp:#?}");
    assert!(sp.iter().all(|e| e["track_id"] == sp[0]["track_id"] && e["limit_kmh"] == 50.0));
    assert!(secs(sp[0]) > 2.0 && secs(sp[0]) < 4.0, "{}", sp[0]);
    for e in &sp {
        let (max, mean, now) =
            (e["max_kmh"].as_f64().unwrap(), e["mean_kmh"].as_f64().unwrap(), e["speed_kmh"].as_f64().unwrap());
        assert!((max - 75.0).abs() < 3.0 && (mean - 75.0).abs() < 3.0 && (now - 75.0).abs() < 3.0, "{e}");
    }
}

#[test]
fn a_car_against_the_traffic_is_wrong_way_once() {
    let rules = "[[cameras.rules]]\nkind = \"wrong_way\"\nname = \"one-way\"\nzone = \"road\"\nline = \"gate\"\n\
                 line_direction = \"west\"\nmin_distance_m = 5\n";
    // The gate is drawn from (640, 0) down to (640, 720). Seen from p1 towards p2 (down the
    // screen) its left is +x, so `west` (directions[0], its left to its right) is moving -x:
    // the allowed way.
    let v = 40.0 / 3.6;
    let with_traffic = move |t: f64| Some((240.0 - v * t, 60.0));
    let against = move |t: f64| Some((20.0 + v * t, 66.0));
    // A parked car with its box jittering ±0.6 m.
    let parked = |t: f64| Some((150.0 + if ((t * 10.0).round() as i64) % 2 == 0 { 0.6 } else { -0.6 }, 54.0));
    let events = replay(rules, &[(CAR, &with_traffic), (CAR, &against), (CAR, &parked)], 12.0);
    let ww = of_kind(&events, "wrong_way");
    assert_eq!(types(&ww), vec!["start", "end"], "{ww:#?}");
    assert!(ww[0]["angle_deg"].as_f64().expect("angle") > 170.0, "{}", ww[0]);
    assert!(ww[0]["moved"].as_f64().expect("moved") >= 5.0, "{}", ww[0]);
    assert!(secs(ww[0]) < 2.0, "{}", ww[0]);
    // It is the car going +x: the track whose first box is at x = 20 m.
    let id = of_kind(&events, "object")
        .iter()
        .find(|e| e["type"] == "start" && e["box"][0].as_f64().is_some_and(|x| x < 30.0 * PX_PER_M))
        .and_then(|e| e["track_id"].as_u64());
    assert_eq!(ww[0]["track_id"].as_u64(), id);
}

#[test]
fn a_person_stepping_back_and_forth_across_a_line_counts_real_crossings() {
    // Walking up to the gate (x = 128 m) from 120 m, standing on it swaying ±0.9 m (within
    // the 1.2 m hysteresis margin: a tenth of the 60 px box) for 10 s, then across to 136 m,
    // back to 120 m, and across again to 136 m: three crossings.
    let person = |t: f64| {
        let x = if t < 4.0 {
            120.0 + 2.0 * t
        } else if t < 14.0 {
            128.0 + 0.9 * ((t - 4.0) * 7.0).sin()
        } else if t < 18.0 {
            128.0 + 2.0 * (t - 14.0)
        } else if t < 26.0 {
            136.0 - 2.0 * (t - 18.0)
        } else {
            (120.0 + 2.0 * (t - 26.0)).min(136.0)
        };
        Some((x, 60.0))
    };
    let events = replay("", &[(PERSON, &person)], 36.0);
    let lc = of_kind(&events, "line_cross");
    let dirs: Vec<&str> = lc.iter().filter_map(|e| e["direction"].as_str()).collect();
    // Moving +x goes from the gate's right to its left: `east` (directions[1]).
    assert_eq!(dirs, vec!["east", "west", "east"], "{lc:#?}");
}
